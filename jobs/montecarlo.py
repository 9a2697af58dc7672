"""Monte Carlo re-backtests of a strategy on resampled or model price paths, path batches fanned out on Ray.

python -m jobs.montecarlo --config jobs/configs/montecarlo_sample.yaml
"""

from __future__ import annotations

import argparse

from jobs._common import load_yaml, reject_unknown, resolve_data, run_main, write_parquet
from quantray._sweep_config import RayConfig
from quantray.dist import connect, ray_mapper
from quantray.engine import ExecutionConfig
from quantray.errors import ConfigError

KEYS = [
    "data",
    "symbol",
    "strategy",
    "params",
    "method",
    "paths",
    "seed",
    "batch",
    "mean_block",
    "horizon",
    "ruin",
    "level",
    "execution",
    "out",
    "ray",
]


def main(argv: list[str] | None = None) -> int:
    from quantray.research import rebacktest

    ap = argparse.ArgumentParser(prog="jobs.montecarlo", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", help="override `out`: a Parquet file of the per-path metrics")
    args = ap.parse_args(argv)
    raw = reject_unknown(load_yaml(args.config), KEYS, args.config)
    for key in ("data", "symbol", "strategy"):
        if key not in raw:
            raise ConfigError(f"{args.config}: missing required key `{key}`")
    ray_cfg = RayConfig(
        **reject_unknown(raw.get("ray") or {}, ["address", "num_cpus", "object_store_memory_mb"], "ray")
    )
    connect(ray_cfg.address, num_cpus=ray_cfg.num_cpus, object_store_memory_mb=ray_cfg.object_store_memory_mb)
    mc = rebacktest(
        resolve_data(raw["data"]),
        raw["strategy"],
        raw.get("params") or None,
        symbol=raw["symbol"],
        method=raw.get("method", "stationary"),
        n_paths=int(raw.get("paths", 1000)),
        seed=int(raw.get("seed", 0)),
        batch=int(raw.get("batch", 128)),
        mean_block=float(raw.get("mean_block", 20.0)),
        horizon=raw.get("horizon"),
        config=ExecutionConfig.from_dict(raw.get("execution") or {}),
        mapper=ray_mapper(desc="monte carlo path batches"),
    )
    level = float(raw.get("level", 0.95))
    ruin = float(raw.get("ruin", 0.3))
    print(
        f"monte carlo {mc.params.get('strategy')} on {mc.params.get('symbol')}: {mc.n_paths} paths ({mc.method}), seed {mc.seed}"
    )
    print(mc.summary(level).to_string(float_format="{:.4f}".format))
    print(f"risk of ruin P(max drawdown >= {ruin:.0%}) = {mc.risk_of_ruin(ruin):.3f}")
    out = args.out or raw.get("out")
    if out:
        write_parquet(mc.samples, out)
        print(f"per-path metrics: {out}")
    return 0


if __name__ == "__main__":
    run_main(main)
