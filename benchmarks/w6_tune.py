"""W6: 200 Optuna TPE trials on Ray Tune vs plain Optuna, same objective: Tune's overhead per trial.

The objective: sma_cross on the bundled sample (MSFT, 1,259 daily bars), fast in 5..50 step 5, slow in 50..250
step 10, scored as the mean Sharpe over 2 out-of-sample folds (``quantray.search._tune.fold_scores``, a few ms).
Both sides use ``TPESampler(seed=0, multivariate=True)`` over the same step-index space.

* plain Optuna: ``study.optimize`` in this process, one trial at a time.
* Tune: :func:`quantray.search.tune` (OptunaSearch behind a ConcurrencyLimiter, ``reuse_actors=True``, no
  scheduler, JSON/CSV result logging on, TensorBoard event files off as in quantray's default, local storage)
  on an embedded local Ray with 2 CPUs; measured both with 1 and 2 concurrent trials.

Where the rest goes (py-spy on the driver): Tune's controller loop, OptunaSearch's ask/tell, the trial registry
lookups in Ray's GCS and the JSON/CSV writers. TensorBoard's event writer (a queue and a thread per trial) cost
another ~10 ms per trial before quantray made it opt-in (``tensorboard=True`` / ``--tensorboard``).

overhead per trial = (Tune wall time - plain Optuna wall time) / trials. Target <= 50 ms (a known Tune +
Optuna issue reports 41 s vs 9 s for 100 trivial trials, i.e. 320 ms per trial).

    python -m benchmarks.w6_tune                 # 200 trials (~1-3 min)
    python -m benchmarks.w6_tune --trials 50     # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.w6_tune", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import optuna

    from quantray.data import sample_path
    from quantray.dist import connect
    from quantray.research._common import load_symbols
    from quantray.search import SearchConfig, search_space, tune
    from quantray.search._tune import TrialData, _split_folds, decode, fold_scores
    from quantray.strategies import get_strategy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = get_strategy("sma_cross")
    space_override = {"fast": (5, 50, 5), "slow": (50, 250, 10)}
    space = search_space(spec, space_override)
    sd = load_symbols(str(sample_path()), ["MSFT"])
    a = sd.arrays["MSFT"]
    folds, _ = _split_folds(a[4].size, 2, 0.2)
    cfg0 = SearchConfig(strategy="sma_cross", space=space_override, folds=2, holdout=0.2, scheduler="none")
    data = TrialData(spec, {"MSFT": a}, {"MSFT": folds}, space, {}, cfg0.execution, sd.periods_per_year,
                     sd.bars_per_day, (("sharpe", "max"),), 0.0)  # fmt: skip

    def objective(trial: optuna.Trial) -> float:
        conf = {f"{k}__i": trial.suggest_int(f"{k}__i", 0, int((sp.high - sp.low) // (sp.step or 1)))
                for k, sp in space.items()}  # fmt: skip
        try:
            p = spec.validate_params(decode(conf, space, {}))
        except Exception:
            return -10.0
        return sum(fold_scores(data, p, i)["sharpe"] for i in range(2)) / 2

    fold_scores(data, spec.defaults(), 0)  # warm-up (numba)
    t0 = time.perf_counter()
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0, multivariate=True))  # fmt: skip
    study.optimize(objective, n_trials=args.trials)
    t_optuna = time.perf_counter() - t0
    t_eval = 0.0
    for tr in study.trials[:20]:
        t1 = time.perf_counter()
        objective(optuna.trial.FixedTrial(tr.params))
        t_eval += time.perf_counter() - t1
    per_eval = t_eval / 20

    connect(num_cpus=args.cpus, object_store_memory_mb=300)
    out: dict[str, object] = {"workload": "W6", "trials": args.trials, "optuna_seconds": t_optuna,
                              "objective_ms": per_eval * 1e3}  # fmt: skip
    rows = []
    storage = tempfile.mkdtemp(prefix="qr-w6-")
    # warm-up run (starts Ray's worker pool, loads the kernels in a worker)
    tune(str(sample_path()), SearchConfig(strategy="sma_cross", space=space_override, folds=2, holdout=0.2,
                                          scheduler="none", num_samples=4, storage_path=storage, name="warm"),
         symbols=["MSFT"], overwrite=True)  # fmt: skip
    for conc in (1, 2):
        cfg = SearchConfig(strategy="sma_cross", space=space_override, folds=2, holdout=0.2, scheduler="none",
                           num_samples=args.trials, max_concurrent=conc, seed=0, storage_path=storage,
                           name=f"w6-c{conc}")  # fmt: skip
        t1 = time.perf_counter()
        res = tune(str(sample_path()), cfg, symbols=["MSFT"], overwrite=True)
        t_tune = time.perf_counter() - t1
        over = (t_tune - t_optuna) / args.trials
        rows.append((conc, t_tune, over, float(res.best_score or float("nan")), len(res.trials)))
        out[f"tune_c{conc}_seconds"] = t_tune
        out[f"overhead_ms_per_trial_c{conc}"] = over * 1e3
        out[f"tune_c{conc}_best"] = res.best_score
    best_optuna = study.best_value
    print(f"W6: {args.trials} TPE trials, sma_cross on MSFT (objective {per_eval * 1e3:.1f} ms/trial), "
          f"{args.cpus} CPUs")  # fmt: skip
    print(f"{'':34s} {'wall s':>8s} {'ms/trial':>9s} {'overhead ms/trial':>18s} {'best':>8s}")
    print(f"{'plain Optuna (sequential)':34s} {t_optuna:8.2f} {t_optuna / args.trials * 1e3:9.1f} {'-':>18s} "
          f"{best_optuna:8.4f}")  # fmt: skip
    for conc, t_tune, over, best, n in rows:
        print(f"{f'Tune + OptunaSearch, {conc} concurrent':34s} {t_tune:8.2f} {t_tune / n * 1e3:9.1f} "
              f"{over * 1e3:18.1f} {best:8.4f}")  # fmt: skip
    print("target: overhead <= 50 ms per trial")
    out.update(best_optuna=best_optuna, machine=platform.platform(), cpu_count=os.cpu_count())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "w6_tune.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"results: {RESULTS / 'w6_tune.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
