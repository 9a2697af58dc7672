"""Tune a strategy's parameters on Ray Tune (Optuna TPE / random / grid, ASHA, multi-objective Pareto front).

python -m jobs.tune --config jobs/configs/tune_sample.yaml
python -m jobs.tune --config jobs/configs/tune_sample.yaml --resume      # continue after an interruption
ray job submit --working-dir . -- python -m jobs.tune --config jobs/configs/tune_sample.yaml --storage s3://b/x
AWS_ENDPOINT_URL=http://127.0.0.1:9000 python -m jobs.tune --config ... --storage s3://bucket/tune   # MinIO etc.

Optional top-level keys ``register: NAME`` (add the best configuration to the lifecycle registry as a candidate
with its holdout statistics: DSR, PBO, trades, Sharpe) and ``registry: URL`` (default: $QUANTRAY_HOME's SQLite).
"""

from __future__ import annotations

import argparse
import json

from jobs._common import (
    in_config,
    load_yaml,
    reject_unknown,
    resolve_data,
    run_main,
    section,
    symbols_of,
    to_json,
)
from quantray._sweep_config import RayConfig
from quantray.dist import connect
from quantray.errors import ConfigError

KEYS = ["data", "symbols", "ray", "tune", "register", "registry"]


def main(argv: list[str] | None = None) -> int:
    from quantray.search import SearchConfig, check_registrable, register_tuned, tune

    ap = argparse.ArgumentParser(prog="jobs.tune", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", required=True, help="YAML file (see jobs/configs/tune_sample.yaml)")
    ap.add_argument("--data", help="override `data`")
    ap.add_argument("--storage", help="override `tune.storage_path` (local directory or s3:// URL)")
    ap.add_argument(
        "--storage-options",
        help='JSON s3fs-style options for s3:// storage, e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\' '
        "(default: the AWS environment, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)",
    )
    ap.add_argument("--resume", action="store_true", help="continue the stored experiment (Tuner.restore)")
    ap.add_argument("--overwrite", action="store_true", help="start afresh over an existing experiment")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    raw = reject_unknown(load_yaml(args.config), KEYS, args.config)
    for key in ("data", "tune"):
        if key not in raw and not (key == "data" and args.data):
            raise ConfigError(f"{args.config}: missing required key `{key}`")
    tcfg = section(raw, "tune", args.config)
    if args.storage:
        tcfg["storage_path"] = args.storage
    if args.storage_options:
        try:
            tcfg["storage_options"] = json.loads(args.storage_options)
        except ValueError as exc:
            raise ConfigError(f"--storage-options must be a JSON object: {exc}") from None
    with in_config(args.config, "tune"):
        cfg = SearchConfig.from_dict(tcfg)
    symbols = symbols_of(raw, args.config)
    name, registry = raw.get("register"), raw.get("registry")
    for key, v in (("register", name), ("registry", registry)):
        if v is not None and not isinstance(v, str):
            raise ConfigError(f"{args.config}: `{key}` must be a string, got {v!r}")
    if name is not None:  # checked before the run: a name that cannot be registered must not cost a search
        check_registrable(cfg, name, registry)
    with in_config(args.config, "ray"):
        ray_cfg = RayConfig(
            **reject_unknown(
                raw.get("ray") or {}, ["address", "num_cpus", "object_store_memory_mb"], f"{args.config}: ray"
            )
        )
    connect(ray_cfg.address, num_cpus=ray_cfg.num_cpus, object_store_memory_mb=ray_cfg.object_store_memory_mb)
    res = tune(
        resolve_data(args.data or raw["data"]),
        cfg,
        symbols=symbols,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    registered = (
        name
        if name is not None and not res.interrupted and register_tuned(res, cfg, name, registry)
        else None
    )
    summary = {
        "experiment": res.path,
        "restored": res.restored,
        "interrupted": res.interrupted,
        "expected_trials": res.expected_trials,
        "trials": len(res.trials),
        "best": res.best,
        "best_score": res.best_score,
        "holdout": res.holdout,
        "pareto": len(res.pareto),
        "registered": registered,
        "elapsed_s": round(res.elapsed_s, 2),
    }
    if args.json:
        print(to_json(summary))
    else:
        sched = f", {cfg.scheduler}" if cfg.scheduler != "none" else ""
        print(
            f"tune {cfg.strategy} ({cfg.searcher}{sched}): {len(res.trials)} trials in {res.elapsed_s:.1f}s -> "
            f"{res.path}"
        )
        print(f"best {res.best} score {res.best_score}; holdout {res.holdout}")
        if res.interrupted:
            print(
                f"INTERRUPTED: {len(res.trials)} of {res.expected_trials} trials finished; nothing registered; "
                "run the job again with --resume to finish it"
            )
        elif name is not None:
            print(
                f"registered: {registered or 'none (no valid trial)'}"
                + (f" in {registry}" if registry else "")
            )
    return 130 if res.interrupted else 0


if __name__ == "__main__":
    run_main(main)
