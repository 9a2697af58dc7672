"""Sweep a strategy's grid over a universe on Ray and write the results table.

Run locally (embedded Ray) or on a cluster::

    python -m jobs.sweep --config jobs/configs/sample.yaml
    ray job submit --working-dir . -- python -m jobs.sweep --config jobs/configs/sample.yaml --out s3://bucket/x
"""

from __future__ import annotations

import argparse
import sys

from jobs._common import load_yaml, run_main
from quantray._sweep_config import SweepConfig, run_sweep_config
from quantray.cli._main import _print_table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="jobs.sweep", description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="YAML file (see jobs/configs/sample.yaml)")
    ap.add_argument("--data", help="override `data` (path or URL of bars, or 'sample')")
    ap.add_argument("--out", help="override `out` (local path or s3:// URL)")
    ap.add_argument("--resume", action="store_true", help="continue a previous run of the same job")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output")
    ap.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else an embedded local cluster)")
    args = ap.parse_args(argv)
    raw = load_yaml(args.config)
    if isinstance(raw, dict):
        for key in ("data", "out", "address"):
            val = getattr(args, key)
            if val is not None and key == "address":
                raw.setdefault("ray", {})["address"] = val
            elif val is not None:
                raw[key] = val
        if args.resume:
            raw["resume"], raw["overwrite"] = True, False
        if args.overwrite:
            raw["overwrite"], raw["resume"] = True, False
    cfg = SweepConfig.from_dict(raw, where=args.config)
    res = run_sweep_config(cfg)
    if res.table.empty:
        print("no results", file=sys.stderr)
        return 1
    from quantray.strategies import get_strategy

    spec = get_strategy(cfg.strategy)
    metric = cfg.rank.metric
    ranked = res.table.sort_values(
        [metric, "total_return", "symbol"],
        ascending=[metric == "max_drawdown", False, True],
        na_position="last",
    )
    _print_table(
        ranked,
        spec.param_names,
        top=cfg.rank.top,
        title=(
            f"{spec.name} sweep: {res.n_symbols} symbols x {res.n_param_sets} parameter sets = {len(res.table)} "
            f"backtests in {res.chunks_run} chunks ({res.chunks_skipped} resumed) in {res.elapsed_s:.1f}s; "
            f"ranked by {metric}"
        ),
    )
    if res.out:
        print(f"results: {res.out}")
    for f in res.failures:
        print(f"FAILED chunk {f.chunk_id} ({f.label}): {f.error}", file=sys.stderr)
    return 1 if res.failures else 0


if __name__ == "__main__":
    run_main(main)
