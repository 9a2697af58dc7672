"""Ray Tune searches: the space comes from the StrategySpec (bad spaces are refused), the objective is the
per-fold out-of-sample metric, the Pareto front is the non-dominated set, and an experiment whose driver is
interrupted (Ctrl-C, or SIGKILL of its whole process group) resumes with Tuner.restore from a local directory or
s3:// (a moto server on loopback) and finishes every trial exactly once."""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import ray.cloudpickle as cloudpickle

from quantray.data import sample_path
from quantray.errors import ConfigError, ParameterError, StrategyError
from quantray.search import SearchConfig, pareto_front, search_space, tune
from quantray.search._tune import (
    TrialData,
    _split_folds,
    decode,
    experiment_store,
    fold_scores,
    repair_experiment_state,
)
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


def test_a_symbol_that_does_not_trade_in_a_fold_scores_a_flat_sharpe_of_zero() -> None:
    """rsi_reversion(50, 29.78, 53.62) enters on 2 of 20 sample stocks over 4 folds. Each fold's score averages
    every symbol, an idle one as Sharpe 0 (independent recomputation per symbol with trial_simulations); it used
    to average only the symbols that traded, so this near-idle configuration scored 0.90 and won the README's
    Pareto search with a drawdown of 0.001."""
    from quantray.engine import METRIC_NAMES, ExecutionConfig
    from quantray.research import trial_simulations
    from quantray.research._common import load_symbols

    sd = load_symbols(sample_path(), None)
    ex = ExecutionConfig()
    folds = {s: _split_folds(a[4].size, 4, 0.2)[0] for s, a in sd.arrays.items()}
    data = TrialData(get_strategy("rsi_reversion"), dict(sd.arrays), folds, {}, {}, ex, sd.periods_per_year,
                     sd.bars_per_day, (("sharpe", "max"),), 0.0)  # fmt: skip
    p = {"window": 50, "lower": 29.78, "upper": 53.62}
    i_sh, i_n = METRIC_NAMES.index("sharpe"), METRIC_NAMES.index("num_trades")
    scores, traded = [], 0
    for i in range(4):
        per_symbol = []
        for sym, a in sd.arrays.items():
            s, e = folds[sym][i]
            _, met = trial_simulations(tuple(x[:e] for x in a), "rsi_reversion", [p], config=ex, start=int(s),
                                       periods_per_year=sd.periods_per_year)  # fmt: skip
            n = int(met[0, i_n])
            traded += n > 0
            per_symbol.append(float(met[0, i_sh]) if n > 0 else 0.0)
        want = float(np.mean(per_symbol))
        got = fold_scores(data, p, i)
        assert got["sharpe"] == pytest.approx(want, rel=1e-12, abs=1e-15)
        scores.append(got["sharpe"])
    assert 1 <= traded <= 3  # the case this guards: most symbols idle
    assert np.mean(scores) < 0.2  # nanmean over the traders gave 0.90


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
    # a resume must ask for the search it continues: other settings are refused, nothing is written
    before = (tmp_path / "grid" / "trials.csv").read_bytes()
    with pytest.raises(ConfigError, match=r"folds: stored 2, asked 3"):
        tune(sample_path(), dataclasses.replace(cfg, folds=3), symbols=["MSFT"], resume=True)
    with pytest.raises(ConfigError, match=r"symbols: stored \['MSFT'\], asked \['AAPL'\]"):
        tune(sample_path(), cfg, symbols=["AAPL"], resume=True)
    with pytest.raises(ConfigError, match="strategy: stored 'sma_cross', asked 'ema_cross'"):
        tune(sample_path(), dataclasses.replace(cfg, strategy="ema_cross"), symbols=["MSFT"], resume=True)
    with pytest.raises(ConfigError, match="exclude each other"):
        tune(sample_path(), cfg, symbols=["MSFT"], resume=True, overwrite=True)
    assert (tmp_path / "grid" / "trials.csv").read_bytes() == before
    same = tune(sample_path(), cfg, symbols=["MSFT"], resume=True)  # the same settings resume
    assert same.restored and len(same.trials) == 6
    # per trial: JSON and CSV logs, no TensorBoard event files unless asked for
    trial_dirs = [d for d in (tmp_path / "grid").iterdir() if d.is_dir()]
    assert len(trial_dirs) == 6
    for d in trial_dirs:
        assert (d / "result.json").stat().st_size > 0 and (d / "progress.csv").stat().st_size > 0
        assert not list(d.glob("events.out.tfevents*"))
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ  # scoped to the run
    tb = dataclasses.replace(cfg, space={"fast": (5, 10, 5), "slow": (50, 50, 50)}, name="grid-tb",
                             tensorboard=True)  # fmt: skip
    tune(sample_path(), tb, symbols=["MSFT"])
    tb_dirs = [d for d in (tmp_path / "grid-tb").iterdir() if d.is_dir()]
    assert len(tb_dirs) == 2 and all(list(d.glob("events.out.tfevents*")) for d in tb_dirs)
    with pytest.raises(ConfigError, match="tensorboard"):
        dataclasses.replace(cfg, tensorboard="yes")


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
        "ray: {num_cpus: 1, object_store_memory_mb: 100}\n"
        f"register: partial\nregistry: {tmp_path / 'reg.db'}\n",
        encoding="utf-8",
    )
    import ray

    # the driver attaches to the running test cluster (as under `ray job submit`); Ctrl+C stops only the driver
    env = dict(os.environ, RAY_AUTH_MODE="disabled", TUNE_GLOBAL_CHECKPOINT_S="0")
    env["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.tune", "--config", str(cfg_file), "--json"],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
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
            out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of its embedded Ray, if any
    before = _complete(exp, 3)
    assert interrupted, "the job finished before it could be interrupted"
    # a stopped search says so, exits 130 and registers nothing (it used to exit 0 and register its partial best,
    # and the name then blocked registering the finished search)
    summary = json.loads(out)
    assert proc.returncode == 130 and summary["interrupted"] is True and summary["registered"] is None
    assert summary["expected_trials"] == 10 and summary["trials"] < 10
    assert not (tmp_path / "reg.db").exists()
    cfg = SearchConfig.from_dict(
        {"strategy": "sma_cross", "space": {"fast": "5:50:5", "slow": "50:200:10"}, "scheduler": "asha",
         "num_samples": 10, "max_concurrent": 1, "folds": 3, "seed": 3, "storage_path": str(tmp_path), "name": "exp"}
    )  # fmt: skip
    res = tune(sample_path(), cfg, symbols=["AAPL", "MSFT"], resume=True)
    assert res.restored and not res.interrupted and res.expected_trials == 10
    t = res.trials
    assert len(t) == 10 and t["trial_id"].is_unique  # every trial once: none lost, none run twice
    assert set(t["folds"]) <= {1, 2, 3}  # ASHA stops only at its rungs (max_t = 3 folds)
    for tid, sharpe in before.items():  # trials finished before the kill are kept, not re-run
        assert t.loc[t["trial_id"] == tid, "sharpe"].iloc[0] == pytest.approx(sharpe, rel=1e-12)
    assert res.best is not None and set(res.best) == {"fast", "slow"} and "dsr" in res.holdout
    # the library refuses to register a stopped search's best, writing nothing
    from quantray.search import register_tuned

    partial = dataclasses.replace(res, interrupted=True, expected_trials=12)
    with pytest.raises(ConfigError, match="interrupted after 10 of 12 trials"):
        register_tuned(partial, cfg, "partial", str(tmp_path / "reg.db"))
    assert not (tmp_path / "reg.db").exists()
    assert register_tuned(res, cfg, "partial", str(tmp_path / "reg.db"))  # the finished search registers


# ------------------------------------------------------------------------------ SIGKILL, s3:// and state repair
BUCKET = "qr-tune"
SPACE = {"fast": "5:50:5", "slow": "50:200:10"}
SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM", "JNJ", "GE"]
SAMPLES, FOLDS = 30, 3  # enough trials that a kill after >= 3 finished lands well before the last


@pytest.fixture(scope="module")
def moto_s3():
    """A real S3 API (moto server) on a free loopback port with one bucket; yields its AWS environment."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                 aws_secret_access_key="testing", region_name="us-east-1").create_bucket(Bucket=BUCKET)  # fmt: skip
    try:
        yield env
    finally:
        server.stop()


def _s3_keys(env: dict[str, str], prefix: str) -> dict[str, int]:
    import boto3

    c = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                     aws_secret_access_key="testing", region_name="us-east-1")  # fmt: skip
    out: dict[str, int] = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def _statuses(store, name: str, suffix: str = "") -> dict[str, tuple[str, float | None]]:  # type: ignore[no-untyped-def]
    """trial id -> (status, sharpe of its last result) from the newest experiment-state snapshot (``.prev``:
    the one before it)."""
    exp = store.path(name)
    try:
        names = store.listdir(exp)
    except OSError:
        return {}
    out: dict[str, tuple[str, float | None]] = {}
    for f in sorted(n for n in names if n.startswith("experiment_state-") and n.endswith(".json"))[-1:]:
        try:
            state = json.loads(store.read_bytes(f"{exp}/{f}{suffix}"))
        except (ValueError, OSError):
            return {}
        for trial_json, meta in state["trial_data"]:
            t, m = json.loads(trial_json), json.loads(meta)
            out[t["trial_id"]] = (t["status"], (m.get("last_result") or {}).get("sharpe"))
    return out


def _run_and_kill(
    tmp_path: Path, storage: str, env_extra: dict[str, str], store, name: str, suffix: str = ""
):  # type: ignore[no-untyped-def]
    """jobs.tune in its own process group (with its own embedded Ray unless ``RAY_ADDRESS`` is given), SIGKILLed
    as a whole once >= 3 trials are
    recorded as finished (in the newest snapshot, or with ``suffix=".prev"`` in the one before it); returns
    the newest snapshot's statuses."""
    cfg_file = tmp_path / f"{name}.yaml"
    cfg_file.write_text(
        f"data: sample\nsymbols: {json.dumps(SYMBOLS)}\n"
        f"tune:\n  strategy: sma_cross\n  space: {json.dumps(SPACE)}\n  searcher: optuna\n  scheduler: none\n"
        f"  num_samples: {SAMPLES}\n  max_concurrent: 1\n  folds: {FOLDS}\n  seed: 5\n  snapshot_s: 0.2\n"
        f"  name: {name}\nray: {{num_cpus: 1, object_store_memory_mb: 100}}\n",
        encoding="utf-8",
    )
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    for k in ("RAY_ADDRESS", "TUNE_GLOBAL_CHECKPOINT_S"):
        env.pop(k, None)
    env.update(env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.tune", "--config", str(cfg_file), "--storage", storage],
        cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    t0 = time.monotonic()
    state: dict[str, tuple[str, float | None]] = {}
    try:
        while time.monotonic() - t0 < 120 and proc.poll() is None:
            state = _statuses(store, name)
            if len(_finished(_statuses(store, name, suffix) if suffix else state)) >= 3:
                break
            time.sleep(0.05)
        alive = proc.poll() is None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its embedded Ray, without warning
        proc.wait()
    assert alive, "the job finished before it could be killed"
    return state


def _finished(state: dict[str, tuple[str, float | None]]) -> dict[str, float | None]:
    return {tid: sh for tid, (st, sh) in state.items() if st == "TERMINATED"}


def _resume_and_check(store, name: str, storage: str, finished: dict[str, float | None], **opts):  # type: ignore[no-untyped-def]
    """Resume; exactly SAMPLES trials with unique ids, all complete, and those the restored snapshot recorded
    as finished kept with their scores."""
    assert 3 <= len(finished) < SAMPLES
    cfg = SearchConfig.from_dict({"strategy": "sma_cross", "space": SPACE, "scheduler": "none",
                                  "num_samples": SAMPLES, "max_concurrent": 1, "folds": FOLDS, "seed": 5,
                                  "storage_path": storage, "name": name, **opts})  # fmt: skip
    res = tune(sample_path(), cfg, symbols=SYMBOLS, resume=True)
    assert res.restored and res.path == f"{storage}/{name}"
    t = res.trials
    assert len(t) == SAMPLES and t["trial_id"].is_unique
    assert t.loc[t["valid"], "folds"].eq(FOLDS).all()  # every fold of a valid set was scored
    assert t.loc[~t["valid"], "folds"].eq(1).all()  # an invalid set (fast >= slow) reports once
    for tid, sharpe in finished.items():
        assert t.loc[t["trial_id"] == tid, "sharpe"].iloc[0] == pytest.approx(sharpe, rel=1e-12)
    return res


def test_sigkill_mid_run_resumes_from_local_storage_even_over_a_truncated_state_file(ray_local, tmp_path):  # type: ignore[no-untyped-def]
    storage = str(tmp_path / "exps")
    store = experiment_store(storage)
    import ray

    # a driver attached to a running cluster (as under `ray job submit`) is killed; the cluster lives on
    address = ray.get_runtime_context().gcs_address
    before = _run_and_kill(tmp_path, storage, {"RAY_ADDRESS": address}, store, "kill", suffix=".prev")
    exp = Path(storage) / "kill"
    # writes are atomic: whatever instant the kill hit, every state file Tune restores from is complete
    for f in exp.glob("experiment_state-*.json*"):
        assert "trial_data" in json.loads(f.read_text(encoding="utf-8"))
    for f in [*exp.glob("search_gen_state-*.json*"), *exp.glob("searcher-state-*.pkl*")]:
        assert isinstance(cloudpickle.loads(f.read_bytes()), dict)
    assert len(_finished(before)) >= 3
    # a truncated snapshot (what a non-atomic writer killed mid-write leaves) falls back to the previous one
    newest = max(exp.glob("experiment_state-*.json"))
    prev = Path(f"{newest}.prev")
    assert prev.is_file()
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    restored = {}
    for tj, meta in json.loads(prev.read_text(encoding="utf-8"))["trial_data"]:
        t = json.loads(tj)
        restored[t["trial_id"]] = (t["status"], (json.loads(meta).get("last_result") or {}).get("sharpe"))
    _resume_and_check(store, "kill", storage, _finished(restored))
    assert (exp / "trials.csv").is_file()


def test_sigkill_mid_run_on_s3_resumes_from_the_bucket(ray_local, moto_s3, tmp_path):  # type: ignore[no-untyped-def]
    storage = f"s3://{BUCKET}/exps"
    options = {"key": "testing", "secret": "testing", "endpoint_url": moto_s3["AWS_ENDPOINT_URL"]}
    store = experiment_store(storage, options)
    before = _run_and_kill(tmp_path, storage, moto_s3, store, "s3kill")  # the job finds S3 through AWS_* env
    keys = _s3_keys(moto_s3, "exps/s3kill/")
    assert any(k.startswith("exps/s3kill/experiment_state-") for k in keys)
    assert any(k.endswith("/result.json") for k in keys)  # trial logs land in the bucket too
    assert not list(tmp_path.glob("**/s3kill"))  # nothing of the experiment was written locally instead
    # resumed in this process through explicit storage options (its Ray workers have no AWS_* environment)
    assert len(_finished(before)) >= 3
    res = _resume_and_check(store, "s3kill", storage, _finished(before), storage_options=options)
    import pandas as pd

    table = pd.read_csv(io.BytesIO(store.read_bytes(f"{BUCKET}/exps/s3kill/trials.csv")))
    assert table["trial_id"].tolist() == res.trials["trial_id"].tolist()
    # every trial run after the resume logged to the bucket (a trial finished just before the kill may have
    # its result only in the experiment state, whose upload won the race against its log files)
    results = [k for k in _s3_keys(moto_s3, "exps/s3kill/") if k.endswith("/result.json")]
    assert len(results) >= SAMPLES - len(_finished(before))


def test_corrupt_state_without_a_valid_snapshot_is_refused_and_search_state_is_reconciled(tmp_path):  # type: ignore[no-untyped-def]
    store = experiment_store(str(tmp_path))
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text(
        '{"trial_data": [["{\\"trial', encoding="utf-8"
    )
    with pytest.raises(
        ConfigError, match=r"experiment_state-2026-01-01_00-00-00.json cannot be read .*--overwrite"
    ):
        repair_experiment_state(store, "exp")
    # trial and search state a snapshot apart: the limiter waits for a finished trial (a) and for one the
    # experiment never recorded (z); Optuna never asked for d (to run again) and already told e; the counter
    # says 6 trials were created
    trials = [("a", "TERMINATED"), ("b", "RUNNING"), ("c", "PENDING"), ("d", "PENDING"), ("e", "RUNNING")]
    state = {"trial_data": [[json.dumps({"trial_id": t, "status": st}), "{}"] for t, st in trials],
             "runner_data": {}, "stats": {}}  # fmt: skip
    (exp / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state), encoding="utf-8")
    gen = {"counter": 6, "total_samples": 10, "finished": False,
           "name:ConcurrencyLimiter": {"live_trials": {"a", "b", "z"}, "num_unfinished_live_trials": 3}}  # fmt: skip
    (exp / "search_gen_state-2026-01-01_00-00-00.json").write_bytes(cloudpickle.dumps(gen))
    (exp / "searcher-state-2026-01-01_00-00-00.pkl").write_bytes(
        cloudpickle.dumps(
            {"_ot_trials": {"a": 1, "b": 2, "c": 3, "e": 5, "z": 4}, "_completed_trials": {"a", "e"}}
        )
    )
    done = repair_experiment_state(store, "exp")
    assert done == {"fallbacks": [], "dropped": ["d", "e"], "live_trials": ["b", "c"], "counter": 3}
    fixed = cloudpickle.loads((exp / "search_gen_state-2026-01-01_00-00-00.json").read_bytes())
    assert fixed["name:ConcurrencyLimiter"] == {"live_trials": {"b", "c"}, "num_unfinished_live_trials": 2}
    assert fixed["counter"] == 3 and fixed["total_samples"] == 10
    kept = json.loads((exp / "experiment_state-2026-01-01_00-00-00.json").read_text(encoding="utf-8"))
    assert [json.loads(t)["trial_id"] for t, _ in kept["trial_data"]] == ["a", "b", "c"]
    assert repair_experiment_state(store, "exp") == {**done, "dropped": []}  # idempotent
    state = kept
    # a second file written through the store replaces atomically and keeps the replaced snapshot
    store.write_bytes(f"{store.path('exp')}/experiment_state-2026-01-01_00-00-00.json", b"{}")
    assert json.loads((exp / "experiment_state-2026-01-01_00-00-00.json.prev").read_text()) == state
    with pytest.raises(ConfigError, match="unknown storage option"):
        SearchConfig(strategy="sma_cross", storage_path="s3://b/x", storage_options={"endpoint": "x"})
    with pytest.raises(ConfigError, match="s3:// storage only"):
        SearchConfig(strategy="sma_cross", storage_path=str(tmp_path), storage_options={"key": "k"})


# ------------------------------------------------------------------------------ tune -> registry -> gates
def test_a_tuned_candidate_carries_the_gate_statistics_and_walks_the_lifecycle(ray_local, tmp_path, capsys):  # type: ignore[no-untyped-def]
    """`tune --register` records the statistics the validation gates read (oos trades, DSR, PBO of the search's
    choice), each equal to an independent recomputation, so a tuned candidate can be promoted through the gates
    (before, it lacked pbo and oos_trades and no gate setting could ever validate it)."""
    from quantray.cli._main import main
    from quantray.cli._search import _holdout_line
    from quantray.data import Panel, load_sample
    from quantray.engine import METRIC_NAMES, ExecutionConfig, sharpe_ratio
    from quantray.research import probability_of_backtest_overfitting, trial_returns, trial_simulations
    from quantray.search import Gates, Registry

    reg = f"sqlite:///{tmp_path / 'r.db'}"
    base = ["--registry", reg, "--json"]
    argv = [
        "tune", "--data", "sample", "--symbol", "AAPL", "--symbol", "MSFT", "--strategy", "sma_cross",
        "--space", "fast=5:20:5", "--space", "slow=50:150:50", "--searcher", "grid", "--scheduler", "none",
        "--folds", "2", "--holdout", "0.25", "--storage", str(tmp_path / "exp"), "--fees", "0.002",
        "--register", "tuned", *base,
    ]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["registered"] == "tuned" and doc["n_trials"] == 12
    h = doc["holdout"]  # the text output's line reads the same figures, rounded
    line = _holdout_line(h)
    assert f"holdout {h['bars']} bars: sharpe {h['sharpe']:.2f}, total return {h['total_return']:.1%}" in line
    assert (
        f"DSR {h['dsr']:.2f} over 12 distinct configurations (Sharpe variance over the 12 that ran every fold), "
        f"PBO {h['pbo']:.2f} over the same" in line
    )
    with Registry(reg) as r:
        rec = r.get("tuned")
    m = rec.metrics
    assert rec.state == "candidate" and rec.source == "tune" and rec.params == doc["best"]
    assert m["symbols"] == ["AAPL", "MSFT"] and m["n_trials"] == 12 and m["execution"]["fees"] == 0.002
    assert m["pbo_metric"] == "sharpe"
    ex = ExecutionConfig(**m["execution"])

    panel = Panel.from_bars(load_sample())
    arrays = {s: panel.arrays(s) for s in ("AAPL", "MSFT")}
    n = {s: a[4].size for s, a in arrays.items()}
    hs = {s: round(n[s] * 0.75) for s in arrays}
    ppy = 252.0
    # holdout: each symbol from its own holdout start, returns averaged, trades summed
    rets, trades = [], 0
    for s, a in arrays.items():
        r_s, met = trial_simulations(
            a, "sma_cross", [rec.params], config=ex, start=hs[s], periods_per_year=ppy
        )
        rets.append(r_s[:, 0])
        trades += int(met[0, METRIC_NAMES.index("num_trades")])
    length = min(x.size for x in rets)
    r = np.mean([x[-length:] for x in rets], axis=0)
    assert m["holdout_bars"] == length and m["oos_trades"] == trades > 0
    assert m["oos_sharpe"] == pytest.approx(sharpe_ratio(r, ppy), rel=1e-12)
    assert m["oos_mean_return"] == pytest.approx(r.mean() * ppy, rel=1e-12)
    # PBO of the choice among the valid configurations (fast < slow: all 12), on the search segment: simulated
    # here on the bars cut at the holdout start (signals are causal, so the same returns)
    sets = [{"fast": f, "slow": sl} for f in (5, 10, 15, 20) for sl in (50, 100, 150)]
    assert m["n_configs"] == len(sets)
    mats = [
        trial_returns(tuple(x[: hs[s]] for x in a), "sma_cross", sets, config=ex) for s, a in arrays.items()
    ]
    slen = min(x.shape[0] for x in mats)
    R = np.mean([x[-slen:] for x in mats], axis=0)
    S = min(16, max(2, (R.shape[0] // 4) // 2 * 2))
    want = probability_of_backtest_overfitting(R, n_partitions=S, periods_per_year=ppy).pbo
    assert m["pbo"] == pytest.approx(want, abs=1e-12) and 0.0 <= m["pbo"] <= 1.0
    assert 0.0 <= m["dsr"] <= 1.0

    # the default gates judge it on those numbers; gates it passes validate it, then it goes live
    reasons = Gates().check(m)
    assert not any("missing" in x for x in reasons)
    rc = main(["strategies", "promote", "tuned", *base])
    cap = capsys.readouterr()
    if reasons:
        assert rc == 2 and all(x.split("=")[0] in cap.err for x in reasons)
    loose = ["--min-dsr", "0", "--max-pbo", "1", "--min-oos-trades", "1", "--min-oos-sharpe", "-100"]
    if reasons:
        assert main(["strategies", "promote", "tuned", *loose, *base]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "validated"
    assert main(["strategies", "promote", "tuned", *base]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "live"

    # by name, in another verb, the candidate runs its tuned parameters (not the strategy's defaults)
    assert main(["backtest", "--data", "sample", "--symbol", "AAPL", "--strategy", "tuned", *base]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["params"] == rec.params
    # the monitor judges it under the costs it was validated with (0.2 % fees), not the flags' default
    assert main(["strategies", "monitor", "tuned", "--data", "sample", "--dry-run", *base]) == 0
    rep = json.loads(capsys.readouterr().out)
    full = [trial_simulations(a, "sma_cross", [rec.params], config=ex, periods_per_year=ppy)[0][:, 0]
            for a in arrays.values()]  # fmt: skip
    assert rep["realised_sharpe"] == pytest.approx(sharpe_ratio(np.mean(full, axis=0), ppy), rel=1e-9)

    # no holdout, nothing to validate on: refused before the search runs
    rc = main([*argv[: argv.index("--holdout")], "--holdout", "0", "--storage", str(tmp_path / "x"),
               "--register", "other", *base])  # fmt: skip
    assert rc == 2 and "register 'other' needs a holdout" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # a failed search never creates the registry it would have written to
    fresh = tmp_path / "fresh.db"
    rc = main([*argv[: argv.index("--folds")], "--folds", "1000", "--register", "x", "--registry",
               f"sqlite:///{fresh}"])  # fmt: skip
    assert rc == 2 and "too few for 1000 folds" in capsys.readouterr().err and not fresh.exists()


def test_a_search_without_a_valid_trial_has_no_best_and_registers_nothing(ray_local, tmp_path, capsys):  # type: ignore[no-untyped-def]
    """A space where every configuration breaks fast < slow is refused before anything runs (it ran every trial
    invalid, rc 0); a search whose every trial trades too little (--min-trades) ends with its trials written,
    no best, and --register writes nothing (it used to crash after the search, or register an invalid one)."""
    from quantray.cli._main import main
    from quantray.search import Registry

    reg = f"sqlite:///{tmp_path / 'r.db'}"
    base = ["tune", "--data", "sample", "--symbol", "AAPL", "--strategy", "sma_cross", "--searcher", "grid",
            "--scheduler", "none", "--storage", str(tmp_path), "--register", "nope", "--registry", reg]  # fmt: skip
    rc = main([*base, "--space", "fast=60:100:20", "--space", "slow=50:60:10", "--name", "bad"])
    err = capsys.readouterr().err
    assert (
        rc == 2 and "no point of the search space satisfies strategy 'sma_cross''s constraints (6 grid" in err
    )
    assert not (tmp_path / "bad").exists() and not (tmp_path / "r.db").exists()
    rc = main(
        [
            *base,
            "--space",
            "fast=5:10:5",
            "--space",
            "slow=50:100:50",
            "--min-trades",
            "1000",
            "--name",
            "few",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "no valid trial" in out and "registered: none" in out
    trials = (tmp_path / "few" / "trials.csv").read_text().splitlines()
    assert len(trials) == 1 + 4  # header + every configuration, each marked invalid
    assert all(line.split(",")[-2] == "False" for line in trials[1:])
    with Registry(reg) as r:
        assert "nope" not in r


def test_the_holdout_of_symbols_with_other_dates_is_their_shared_dates(ray_local, tmp_path):  # type: ignore[no-untyped-def]
    """Symbols of different lengths: the holdout averages the dates they share (it used to average by position,
    one stock's 2016 with another's 2018, and count trades on bars the returns did not cover); symbols whose
    holdouts share no date are refused naming each one's span."""
    import pandas as pd

    from quantray.data import load_sample
    from quantray.engine import METRIC_NAMES, sharpe_ratio
    from quantray.research import trial_simulations

    bars = load_sample()
    bars = bars[bars["symbol"].isin(["AAPL", "MSFT", "JPM"])]
    ts_all = np.sort(bars["ts"].unique())
    short = bars[(bars["symbol"] == "AAPL") | (bars["ts"] >= ts_all[-600])]  # MSFT, JPM: the last 600 bars
    cfg = SearchConfig(strategy="sma_cross", space={"fast": (5, 20, 5), "slow": (50, 100, 50)}, searcher="grid",
                       scheduler="none", folds=2, holdout=0.25, storage_path=str(tmp_path), name="ragged")  # fmt: skip
    res = tune(short, cfg, symbols=["AAPL", "MSFT"])
    h = res.holdout
    from quantray.data import Panel

    panel = Panel.from_bars(short)
    cols, trades = {}, 0
    for s in ("AAPL", "MSFT"):
        a = panel.arrays(s)
        n = a[4].size
        hs = round(n * 0.75)
        start = max(hs, n - (600 - round(600 * 0.75)))  # the later of the two holdout starts, by date
        r, met = trial_simulations(a, "sma_cross", [res.best], periods_per_year=252.0, start=start)
        cols[s] = pd.Series(r[:, 0], index=a[0][start:])
        trades += int(met[0, METRIC_NAMES.index("num_trades")])
    joined = pd.DataFrame(cols).dropna()
    assert h["bars"] == len(joined) == 150 and h["num_trades"] == trades
    assert h["sharpe"] == pytest.approx(sharpe_ratio(joined.mean(axis=1).to_numpy(), 252.0), rel=1e-12)

    # MSFT lacks 7 days inside the holdout: AAPL's returns on them compound into its next shared day
    gone = ts_all[[1150, 1151, 1152, 1200, 1230, 1231, 1250]]
    gappy = bars[(bars["symbol"] == "AAPL") | ~bars["ts"].isin(gone)]
    res = tune(gappy, dataclasses.replace(cfg, name="gappy"), symbols=["AAPL", "MSFT"])
    gp = Panel.from_bars(gappy)
    eqs, trades = {}, 0
    for s in ("AAPL", "MSFT"):
        a = gp.arrays(s)
        n = a[4].size
        start = max(round(n * 0.75), int(np.searchsorted(a[0], gp.arrays("AAPL")[0][round(1259 * 0.75)])))
        r, met = trial_simulations(a, "sma_cross", [res.best], periods_per_year=252.0, start=start)
        eqs[s] = pd.Series(np.cumprod(1.0 + r[:, 0]), index=a[0][start:])
        trades += int(met[0, METRIC_NAMES.index("num_trades")])
    eq = pd.DataFrame(eqs).dropna()  # equity on the shared days: its ratios compound across the gaps
    want = (eq / eq.shift(1).fillna(1.0) - 1.0).mean(axis=1).to_numpy()
    assert res.holdout["bars"] == len(eq) == 315 - 7 and res.holdout["num_trades"] == trades
    assert res.holdout["sharpe"] == pytest.approx(sharpe_ratio(want, 252.0), rel=1e-12)

    early = bars[(bars["symbol"] == "AAPL") | (bars["ts"] <= ts_all[899])]  # MSFT: the first 900 bars
    with pytest.raises(ParameterError, match=r"tune holdout: the symbols share 0 bar\(s\).*AAPL .*MSFT "):
        tune(early, dataclasses.replace(cfg, name="disjoint"), symbols=["AAPL", "MSFT"])
    assert not (tmp_path / "disjoint").exists()  # refused before the search
    # holdouts that overlap but search segments that do not (MSFT only from bar 1000): refused before the search
    late = bars[(bars["symbol"] == "AAPL") | (bars["ts"] >= ts_all[1000])]
    with pytest.raises(ParameterError, match=r"tune search: the symbols share 0 bar\(s\)"):
        tune(late, dataclasses.replace(cfg, name="late"), symbols=["AAPL", "MSFT"])
    assert not (tmp_path / "late").exists()


def test_a_float_range_with_a_step_is_searched_on_its_steps(ray_local, tmp_path):  # type: ignore[no-untyped-def]
    """`k=1:3:0.5` is honoured by the random and TPE searchers (it was searched continuously, the step ignored);
    a float range without a step stays continuous."""
    from quantray.search._tune import tune_param_space

    spec = get_strategy("bollinger_reversion")
    space = search_space(spec, {"k": (1.0, 3.0, 0.5)}, {"window": 20})
    ps = tune_param_space(space, "optuna", ["k"])
    assert set(ps) == {"k__i"} and (ps["k__i"].lower, ps["k__i"].upper) == (0, 5)  # randint: 5 exclusive
    assert [decode({"k__i": i}, space, {"window": 20})["k"] for i in range(5)] == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert set(tune_param_space(space, "optuna", [])) == {"k"}  # no step given: continuous

    grid = {1.0, 1.5, 2.0, 2.5, 3.0}
    for searcher, rng, on_grid in (
        ("random", "1:3:0.5", True),
        ("optuna", "1:3:0.5", True),
        ("random", "1:3", False),
    ):
        cfg = SearchConfig.from_dict(
            {"strategy": "bollinger_reversion", "space": {"k": rng}, "fixed": {"window": 20}, "searcher": searcher,
             "scheduler": "none", "num_samples": 8, "max_concurrent": 2, "folds": 2, "seed": 1,
             "storage_path": str(tmp_path), "name": f"{searcher}-{len(rng)}", "min_trades": 0}
        )  # fmt: skip
        res = tune(sample_path(), cfg, symbols=["MSFT"])
        ks = set(res.trials["k"].astype(float))
        assert len(res.trials) == 8 and ks
        assert (ks <= grid) is on_grid, (searcher, rng, sorted(ks))


def test_the_pbo_matrix_is_bounded_in_memory_and_equal_to_a_direct_build() -> None:
    """The search-segment trial matrix of a tuned candidate's PBO: simulated a chunk of configurations at a time
    and, above the memory budget, compounded k bars a row; equal to building it whole from cut bars."""
    from quantray.data import Panel, load_sample
    from quantray.engine import ExecutionConfig
    from quantray.research import trial_returns
    from quantray.search._tune import search_matrix

    panel = Panel.from_bars(load_sample())
    arrays = {s: panel.arrays(s) for s in ("AAPL", "MSFT")}
    hstart = {"AAPL": 1000, "MSFT": 900}
    sets = [{"fast": f, "slow": 60} for f in (5, 10, 15, 20, 25)]
    spec = get_strategy("sma_cross")
    ex = ExecutionConfig(fees=0.001)
    whole, k1 = search_matrix(spec, arrays, sets, hstart, ex, 252.0)
    small, k = search_matrix(spec, arrays, sets, hstart, ex, 252.0, budget=16_000)  # one config a chunk
    assert k1 == 1 and whole.shape == (900, 5) and k == 3 and small.shape == (300, 5)
    direct = []
    for s, a in arrays.items():  # both symbols have the same dates: the shared ones are the first 900
        r = trial_returns(tuple(x[: hstart[s]] for x in a), spec, sets, config=ex)  # signals are causal
        direct.append(r[:900])
    want = np.mean(direct, axis=0)
    np.testing.assert_allclose(whole, want, rtol=0, atol=1e-15)
    want3 = np.mean([np.prod(1.0 + d.reshape(300, 3, 5), axis=1) - 1.0 for d in direct], axis=0)
    np.testing.assert_allclose(small, want3, rtol=0, atol=1e-15)


def test_the_tune_job_registers_its_best_as_a_candidate(ray_local, tmp_path, capsys):  # type: ignore[no-untyped-def]
    """`register:`/`registry:` in a jobs.tune config (what `ray job submit` runs) add the best configuration to
    the lifecycle registry with the same statistics as `quantray tune --register`."""
    from jobs import tune as tune_job
    from quantray.search import Registry

    reg = f"sqlite:///{tmp_path / 'r.db'}"
    cfg = tmp_path / "t.yaml"
    cfg.write_text(
        "data: sample\nsymbols: [AAPL, MSFT]\n"
        "tune:\n  strategy: sma_cross\n  space: {fast: '5:20:5', slow: '50:150:50'}\n  searcher: grid\n"
        f"  scheduler: none\n  folds: 2\n  holdout: 0.25\n  storage_path: {tmp_path}\n  name: job\n"
        f"register: job_best\nregistry: '{reg}'\n",
        encoding="utf-8",
    )
    assert tune_job.main(["--config", str(cfg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["registered"] == "job_best"
    with Registry(reg) as r:
        rec = r.get("job_best")
    assert rec.source == "tune" and rec.state == "candidate" and rec.params == out["best"]
    h = out["holdout"]
    assert rec.metrics["oos_sharpe"] == h["sharpe"] and rec.metrics["pbo"] == h["pbo"]
    assert rec.metrics["oos_trades"] == h["num_trades"] and rec.metrics["symbols"] == ["AAPL", "MSFT"]
    # a second run may not take the name again: refused before the search, nothing written
    with pytest.raises(ConfigError, match="already in the registry"):
        tune_job.main(["--config", str(cfg), "--overwrite"])


def test_the_holdout_dsr_counts_distinct_configurations_and_compares_full_fold_sharpes() -> None:
    """DSR's N is the distinct valid configurations (a configuration proposed twice is one trial) and its Sharpe
    variance is over those that ran every fold: a 1-fold running mean left by ASHA is a noisier estimate and
    inflated the variance (the DSR was over every trial row, repeats and partial folds included)."""
    import pandas as pd

    from quantray.engine import ExecutionConfig
    from quantray.research import deflated_sharpe_ratio, trial_simulations
    from quantray.research._common import load_symbols
    from quantray.search._tune import _holdout

    spec = get_strategy("sma_cross")
    cfg = SearchConfig(
        strategy="sma_cross", folds=3, holdout=0.25, space={"fast": (5, 20, 5), "slow": (50, 100, 50)}
    )
    space = search_space(spec, cfg.space, cfg.fixed)
    sd = load_symbols(sample_path(), ["MSFT"])
    n = sd.arrays["MSFT"][4].size
    hstart = {"MSFT": round(n * 0.75)}
    rows = [  # (fast, slow, folds, sharpe): two repeats and two configurations ASHA stopped after 1 fold
        (5, 50, 3, 0.40), (5, 50, 3, 0.40), (10, 50, 3, 0.10), (15, 100, 3, 0.55), (20, 100, 1, -2.0),
        (10, 100, 1, 3.0), (20, 50, 3, 0.25), (20, 50, 3, 0.25),
    ]  # fmt: skip
    trials = pd.DataFrame(
        [{"trial_id": f"t{i}", "fast": f, "slow": sl, "sharpe": sr, "folds": k, "valid": True}
         for i, (f, sl, k, sr) in enumerate(rows)]
    )  # fmt: skip
    best = {"fast": 15, "slow": 100}
    h = _holdout(spec, best, sd, hstart, cfg, trials, space)
    r, _ = trial_simulations(sd.arrays["MSFT"], "sma_cross", [best], config=ExecutionConfig(), start=hstart["MSFT"],
                             periods_per_year=sd.periods_per_year)  # fmt: skip
    full = [0.40, 0.10, 0.55, 0.25]  # the distinct configurations that ran all 3 folds
    want = deflated_sharpe_ratio(r[:, 0], n_trials=6, sr_variance=float(np.var(full, ddof=1)),
                                 periods_per_year=sd.periods_per_year)  # fmt: skip
    assert h["n_trials"] == h["n_configs"] == 6 and h["n_full"] == 4 and h["trials_run"] == 8
    assert h["dsr"] == pytest.approx(want, rel=1e-12)
    every_row = deflated_sharpe_ratio(r[:, 0], n_trials=8, sr_variance=float(np.var(trials["sharpe"], ddof=1)),
                                      periods_per_year=sd.periods_per_year)  # fmt: skip
    assert abs(h["dsr"] - every_row) > 1e-3  # the old count would be caught


def test_asha_does_not_stop_a_trial_as_invalid_before_its_last_fold(ray_local, tmp_path):  # type: ignore[no-untyped-def]
    """A slow configuration with no entry in its first fold yet reported -10 (invalid) there, and ASHA stopped it
    at its first rung: judged on one fold of a four-fold rule, and left out of the DSR's count and PBO. Trading
    enough is judged on all the folds now; before the last, the running mean is reported."""
    cfg = SearchConfig(strategy="sma_cross", space={"fast": (5, 50, 5), "slow": (50, 200, 10)}, searcher="random",
                       num_samples=16, folds=4, holdout=0.2, seed=7, scheduler="asha", max_concurrent=1,
                       storage_path=str(tmp_path))  # fmt: skip
    res = tune(sample_path(), cfg, symbols=["AAPL", "MSFT"])
    t = res.trials
    runnable = t["fast"] < t["slow"]
    early = t[runnable & (t["folds"] < 4)]
    assert len(early) and early["valid"].all()  # stopped by ASHA on a score, never for "no trade yet"
    assert (t.loc[runnable & ~t["valid"], "folds"] == 4).all()  # invalid only when judged on every fold
    assert res.holdout["n_trials"] == len({(f, s) for f, s in zip(t.loc[runnable & t["valid"], "fast"],
                                                                  t.loc[runnable & t["valid"], "slow"], strict=True)})  # fmt: skip
