"""Ray Tune searches: the space comes from the StrategySpec (bad spaces are refused), the objective is the
per-fold out-of-sample metric, the Pareto front is the non-dominated set, and an experiment whose driver is
interrupted resumes with Tuner.restore and finishes every trial exactly once."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from quantray.data import sample_path
from quantray.errors import ConfigError, ParameterError, StrategyError
from quantray.search import SearchConfig, pareto_front, search_space, tune
from quantray.search._tune import TrialData, _split_folds, decode, fold_scores
from quantray.strategies import get_strategy

REPO = Path(__file__).resolve().parents[2]


def test_space_from_the_spec_and_bad_spaces_are_refused() -> None:
    spec = get_strategy("sma_cross")
    sp = search_space(spec, {"fast": (5, 20, 5)})
    assert sp["fast"].grid() == [5, 10, 15, 20] and sp["slow"] is spec.params["slow"]
    assert decode({"fast__i": 2, "slow__i": 3}, sp, {}) == {"fast": 15, "slow": 2 + 3 * 10}
    with pytest.raises(StrategyError, match="valid strategies"):
        SearchConfig(strategy="sma_crosss")
    for space, msg in [
        ({"fastt": (1, 2)}, "unknown parameter"),
        ({"fast": (20, 5)}, "low <= high"),
        ({"fast": (0, 5)}, "leaves the strategy's space"),
        ({"fast": (5,)}, "must be \\(low, high\\)"),
        ({"fast": (5.5, 9)}, "integer space"),
        ({"fast": (5, 9, 0)}, "step must be > 0"),
    ]:
        with pytest.raises(ParameterError, match=msg):
            SearchConfig(strategy="sma_cross", space=space)
    with pytest.raises(ConfigError, match="unknown metric"):
        SearchConfig(strategy="sma_cross", metric="alpha")
    with pytest.raises(ConfigError, match="unknown tune key"):
        SearchConfig.from_dict({"strategy": "sma_cross", "trials": 3})


def test_grid_multi_objective_pareto_front_and_out_of_sample_scores(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = SearchConfig(
        strategy="sma_cross", space={"fast": (5, 15, 5), "slow": (50, 100, 50)}, searcher="grid",
        objectives=(("sharpe", "max"), ("max_drawdown", "min")), scheduler="none", folds=2, holdout=0.2,
        storage_path=str(tmp_path), name="grid",
    )  # fmt: skip
    res = tune(sample_path(), cfg, symbols=["MSFT"])
    assert len(res.trials) == 6 and res.trials["folds"].eq(2).all()
    assert sorted(zip(res.trials["fast"], res.trials["slow"], strict=True)) == [
        (f, s) for f in (5, 10, 15) for s in (50, 100)
    ]
    # each trial's objective is the mean over folds of the fold's out-of-sample metric (independent recompute)
    from quantray.research._common import load_symbols

    sd = load_symbols(sample_path(), ["MSFT"])
    a = sd.arrays["MSFT"]
    folds, _ = _split_folds(a[4].size, 2, 0.2)
    data = TrialData(get_strategy("sma_cross"), {"MSFT": a}, {"MSFT": folds}, {}, {}, cfg.execution,
                     sd.periods_per_year, sd.bars_per_day, cfg.objectives, 0.0)  # fmt: skip
    for _, row in res.trials.iterrows():
        p = {"fast": int(row["fast"]), "slow": int(row["slow"])}
        want = np.mean([fold_scores(data, p, i)["sharpe"] for i in range(2)])
        assert row["sharpe"] == pytest.approx(want, rel=1e-12)
    # the front: no trial dominates a front member; every other trial is dominated by one
    front = res.pareto
    vals = res.trials[["sharpe", "max_drawdown"]].to_numpy()
    for _, f in front.iterrows():
        assert not np.any((vals[:, 0] >= f["sharpe"]) & (vals[:, 1] <= f["max_drawdown"])
                          & ((vals[:, 0] > f["sharpe"]) | (vals[:, 1] < f["max_drawdown"])))  # fmt: skip
    assert len(pareto_front(front, cfg.objectives)) == len(front)
    assert (tmp_path / "grid" / "pareto.csv").is_file()
    with pytest.raises(ConfigError, match="exists"):
        tune(sample_path(), cfg, symbols=["MSFT"])  # never silently mixed with an old run


def _complete(path: Path, folds: int) -> dict[str, float]:
    out = {}
    for f in glob.glob(str(path / "*" / "result.json")):
        rows = [json.loads(x) for x in Path(f).read_text(encoding="utf-8").splitlines() if x.strip()]
        last = [r for r in rows if r.get("done_folds") == folds]
        if last:
            out[last[-1]["trial_id"]] = last[-1]["sharpe"]
    return out


def test_tpe_with_asha_resumes_after_the_driver_is_interrupted(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg_file = tmp_path / "tune.yaml"
    cfg_file.write_text(
        "data: sample\nsymbols: [AAPL, MSFT]\n"
        "tune:\n  strategy: sma_cross\n  space: {fast: '5:50:5', slow: '50:200:10'}\n  searcher: optuna\n"
        "  scheduler: asha\n  num_samples: 10\n  max_concurrent: 1\n  folds: 3\n  seed: 3\n"
        f"  storage_path: {tmp_path}\n  name: exp\n"
        "ray: {num_cpus: 1, object_store_memory_mb: 100}\n",
        encoding="utf-8",
    )
    env = dict(os.environ, RAY_AUTH_MODE="disabled", TUNE_GLOBAL_CHECKPOINT_S="0")
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.tune", "--config", str(cfg_file)],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    exp = tmp_path / "exp"
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 120 and proc.poll() is None:
            if len(_complete(exp, 3)) >= 2 or len(list(exp.glob("*/result.json"))) >= 3:
                break
            time.sleep(0.1)
        interrupted = proc.poll() is None
        if interrupted:
            os.kill(
                proc.pid, signal.SIGINT
            )  # Ctrl+C on the driver mid-experiment: Tune saves its state and exits
            proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of its embedded Ray, if any
    before = _complete(exp, 3)
    assert interrupted, "the job finished before it could be interrupted"
    cfg = SearchConfig.from_dict(
        {"strategy": "sma_cross", "space": {"fast": "5:50:5", "slow": "50:200:10"}, "scheduler": "asha",
         "num_samples": 10, "max_concurrent": 1, "folds": 3, "seed": 3, "storage_path": str(tmp_path), "name": "exp"}
    )  # fmt: skip
    res = tune(sample_path(), cfg, symbols=["AAPL", "MSFT"], resume=True)
    assert res.restored
    t = res.trials
    assert len(t) == 10 and t["trial_id"].is_unique  # every trial once: none lost, none run twice
    assert set(t["folds"]) <= {1, 2, 3}  # ASHA stops only at its rungs (max_t = 3 folds)
    for tid, sharpe in before.items():  # trials finished before the kill are kept, not re-run
        assert t.loc[t["trial_id"] == tid, "sharpe"].iloc[0] == pytest.approx(sharpe, rel=1e-12)
    assert res.best is not None and set(res.best) == {"fast", "slow"} and "dsr" in res.holdout
