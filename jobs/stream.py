"""Live market state on a Ray cluster: feeds → market state → signals → portfolio, with events and snapshots.

python -m jobs.stream --config jobs/configs/live_replay.yaml
ray job submit --working-dir . -- python -m jobs.stream --config jobs/configs/live_binance.yaml
"""

from __future__ import annotations

import argparse
import json

from jobs._common import load_yaml, reject_unknown, run_main
from quantray._sweep_config import RayConfig
from quantray.dist import connect


def main(argv: list[str] | None = None) -> int:
    from quantray.live._graph import RUN_KEYS, LiveConfig, run_from_dict

    ap = argparse.ArgumentParser(prog="jobs.stream", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", help="override `out`: a folder for bars_1m/book_top/pnl Parquet files")
    ap.add_argument(
        "--seconds",
        type=float,
        help="override `seconds`: stream that long, then stop the feeds, drain and write the outputs",
    )
    args = ap.parse_args(argv)
    keys = [*LiveConfig.__dataclass_fields__, *RUN_KEYS, "ray"]
    raw = dict(reject_unknown(load_yaml(args.config), keys, args.config))
    ray_cfg = RayConfig(
        **reject_unknown(raw.pop("ray", None) or {}, ["address", "num_cpus", "object_store_memory_mb"], "ray")
    )
    connect(ray_cfg.address, num_cpus=ray_cfg.num_cpus, object_store_memory_mb=ray_cfg.object_store_memory_mb)
    if args.out:
        raw["out"] = args.out
    print(json.dumps(run_from_dict(raw, seconds=args.seconds), default=str))
    return 0


if __name__ == "__main__":
    run_main(main)
