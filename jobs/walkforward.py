"""Walk-forward optimisation of a strategy on a universe, windows fanned out on Ray.

python -m jobs.walkforward --config jobs/configs/walkforward_sample.yaml
ray job submit --working-dir . -- python -m jobs.walkforward --config jobs/configs/walkforward_sample.yaml
"""

from __future__ import annotations

import argparse

from jobs._common import load_yaml, reject_unknown, resolve_data, run_main, write_parquet
from quantray._sweep_config import RayConfig, parse_grid_value
from quantray.dist import connect, ray_mapper
from quantray.engine import ExecutionConfig
from quantray.errors import ConfigError

KEYS = [
    "data",
    "symbols",
    "strategy",
    "grid",
    "params",
    "train_bars",
    "test_bars",
    "anchored",
    "metric",
    "min_trades",
    "execution",
    "out",
    "ray",
]


def main(argv: list[str] | None = None) -> int:
    from quantray.research import walk_forward

    ap = argparse.ArgumentParser(prog="jobs.walkforward", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", help="override `out`: a directory for windows.parquet and summary.parquet")
    args = ap.parse_args(argv)
    raw = reject_unknown(load_yaml(args.config), KEYS, args.config)
    for key in ("data", "strategy", "grid", "train_bars", "test_bars"):
        if key not in raw:
            raise ConfigError(f"{args.config}: missing required key `{key}`")
    grid = {
        str(k): parse_grid_value(str(k), v)
        for k, v in reject_unknown(raw["grid"], list(raw["grid"]), "grid").items()
    }
    ray_cfg = RayConfig(
        **reject_unknown(raw.get("ray") or {}, ["address", "num_cpus", "object_store_memory_mb"], "ray")
    )
    connect(ray_cfg.address, num_cpus=ray_cfg.num_cpus, object_store_memory_mb=ray_cfg.object_store_memory_mb)
    res = walk_forward(
        resolve_data(raw["data"]),
        raw["strategy"],
        grid,
        train_bars=raw["train_bars"],
        test_bars=raw["test_bars"],
        anchored=bool(raw.get("anchored", False)),
        metric=raw.get("metric", "sharpe"),
        min_trades=int(raw.get("min_trades", 0)),
        params=raw.get("params") or None,
        symbols=raw.get("symbols"),
        config=ExecutionConfig.from_dict(raw.get("execution") or {}),
        mapper=ray_mapper(desc="walk-forward windows"),
    )
    cols = [
        "symbol",
        "n_windows",
        "oos_sharpe",
        "oos_cagr",
        "oos_max_drawdown",
        "is_cagr",
        "wfe",
        "modal_fraction",
    ]
    print(
        f"walk-forward {res.strategy.name}: train {res.train_bars} / test {res.test_bars} bars, "
        f"{'anchored' if res.anchored else 'rolling'}, selected by in-sample {res.metric}"
    )
    summary = res.summary.reset_index()  # indexed by symbol: the column every row is read by
    print(
        summary[[c for c in cols if c in summary.columns]].to_string(
            index=False, float_format="{:.3f}".format
        )
    )
    out = args.out or raw.get("out")
    if out:
        write_parquet(res.windows, f"{out}/windows.parquet")
        write_parquet(
            summary.astype({"modal_params": str}) if "modal_params" in summary else summary,
            f"{out}/summary.parquet",
        )
        print(f"results: {out}/windows.parquet, {out}/summary.parquet")
    return 0


if __name__ == "__main__":
    run_main(main)
