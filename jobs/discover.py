"""Genetic discovery of trading rules (DEAP, evaluation fanned out on Ray), validated on a holdout with DSR/PBO;
survivors are registered in the lifecycle registry and written as Pine Script v6.

python -m jobs.discover --config jobs/configs/discover_sample.yaml
ray job submit --working-dir . -- python -m jobs.discover --config jobs/configs/discover_sample.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jobs._common import (
    in_config,
    load_yaml,
    reject_unknown,
    resolve_data,
    run_main,
    section,
    symbols_of,
    to_json,
    write_parquet,
)
from quantray._sweep_config import RayConfig
from quantray.dist import connect
from quantray.errors import ConfigError

KEYS = ["data", "symbols", "discover", "registry", "out", "ray"]


def main(argv: list[str] | None = None) -> int:
    from quantray.search import DiscoverConfig, discover, validation_view
    from quantray.search._lifecycle import check_registry

    ap = argparse.ArgumentParser(prog="jobs.discover", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", required=True, help="YAML file (see jobs/configs/discover_sample.yaml)")
    ap.add_argument("--data", help="override `data`")
    ap.add_argument("--seed", type=int, help="override `discover.seed`")
    ap.add_argument(
        "--out", help="override `out`: directory for hall_of_fame/validation Parquet and Pine files"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    raw = reject_unknown(load_yaml(args.config), KEYS, args.config)
    if "data" not in raw and not args.data:
        raise ConfigError(f"{args.config}: missing required key `data`")
    dcfg = section(raw, "discover", args.config)
    if args.seed is not None:
        dcfg["seed"] = args.seed
    with in_config(args.config, "discover"):
        cfg = DiscoverConfig.from_dict(dcfg)
    symbols = symbols_of(raw, args.config)
    with in_config(args.config, "ray"):
        ray_cfg = RayConfig(
            **reject_unknown(
                raw.get("ray") or {}, ["address", "num_cpus", "object_store_memory_mb"], f"{args.config}: ray"
            )
        )
    if cfg.backend == "ray":
        connect(
            ray_cfg.address, num_cpus=ray_cfg.num_cpus, object_store_memory_mb=ray_cfg.object_store_memory_mb
        )
    where = raw.get("registry")  # absent: the default registry; "none": do not register
    if where is not None and not isinstance(where, str):
        raise ConfigError(f"{args.config}: `registry` must be a URL, a path or 'none', got {where!r}")
    # checked now, creating nothing: the registry file is only created when a survivor is registered
    reg = None if where == "none" else check_registry(where)
    res = discover(
        resolve_data(args.data or raw["data"]), symbols=symbols, config=cfg, registry=reg, progress=True
    )
    out = args.out or raw.get("out")
    if out:
        write_parquet(res.hall_of_fame, f"{out}/hall_of_fame.parquet")
        write_parquet(res.validation, f"{out}/validation.parquet")
        write_parquet(res.evaluated, f"{out}/evaluated.parquet")  # every rule scored: the search's trials
        if "://" not in out:
            for name, text in res.pine.items():
                Path(out, f"{name}.pine").write_text(text, encoding="utf-8")
    summary = {
        "seed": res.seed,
        "n_evaluated": res.n_evaluated,
        "tasks": res.tasks,
        "elapsed_s": round(res.elapsed_s, 2),
        "survivors": [s.name for s in res.survivors],
        "registered": res.registered,
        "best": res.hall_of_fame.iloc[0]["rule"] if len(res.hall_of_fame) else None,
    }
    if args.json:
        print(to_json(summary))
    else:
        print(validation_view(res.validation))
        print(to_json(summary))
    return 0


if __name__ == "__main__":
    run_main(main)
