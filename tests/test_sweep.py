"""quantray.sweep / jobs.sweep on a real local Ray: equal to the in-process backtest, resumable without
duplicate or missing rows (also after killing the driver), failures isolated and named, configs validated
before any task starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import quantray
import quantray.data
from quantray._sweep import plan_chunks
from quantray._sweep_config import SweepConfig
from quantray.data import sample_path
from quantray.errors import ConfigError, ParameterError
from quantray.strategies import ParamSpace, StrategySpec

REPO = Path(__file__).resolve().parents[1]
GRID = {"fast": list(range(5, 55, 5)), "slow": list(range(60, 1005, 5))}  # 1,890 sets: ~8 chunks
KEY = ["symbol", "fast", "slow"]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _sorted(quantray.backtest(sample_path(), "sma_cross", grid=GRID, fees=0.001).table)


def test_plan_chunks_covers_every_pair_once() -> None:
    bars = {"A": 10_000, "B": 50, "C": 2_000_000, "D": 70}
    plan = plan_chunks(bars, 300, chunk_seconds=0.05)
    seen = [(s.symbol, i) for ch in plan for s in ch for i in range(s.start, s.stop)]
    assert sorted(seen) == sorted((sym, i) for sym in bars for i in range(300))
    assert len(plan) > 2  # C alone is far more than one chunk of work
    with pytest.raises(ConfigError, match="chunk_seconds"):
        plan_chunks(bars, 10, chunk_seconds=0.001)


@pytest.mark.usefixtures("ray_local")
def test_sweep_equals_in_process_backtest_and_resume_recomputes_only_missing(
    tmp_path: Path, reference: pd.DataFrame
) -> None:
    out = tmp_path / "sweep"
    cfg = quantray.engine.ExecutionConfig(fees=0.001)
    first = quantray.sweep(
        sample_path(), "sma_cross", grid=GRID, config=cfg, out=str(out), chunk_seconds=0.05
    )
    assert first.n_chunks >= 3 and first.chunks_run == first.n_chunks and not first.failures
    pd.testing.assert_frame_equal(_sorted(first.table), reference)
    on_disk = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(on_disk, first.table)
    # lose two checkpoints (a crash before they were written), then resume
    parts = sorted((out / "chunks").glob("part-*.parquet"))
    for p in parts[1:3]:
        p.unlink()
    again = quantray.sweep(
        sample_path(), "sma_cross", grid=GRID, config=cfg, out=str(out), chunk_seconds=0.05, resume=True
    )
    assert again.chunks_run == 2 and again.chunks_skipped == first.n_chunks - 2
    pd.testing.assert_frame_equal(again.table, first.table)  # same rows, same order, no duplicates
    assert not again.table.duplicated(KEY).any()
    # a different job cannot be resumed into the same output, and nothing there is touched
    before = sorted(p.name for p in (out / "chunks").iterdir())
    with pytest.raises(ConfigError, match="different job"):
        quantray.sweep(
            sample_path(), "sma_cross", grid={"fast": [5], "slow": [60]}, out=str(out), resume=True
        )
    assert sorted(p.name for p in (out / "chunks").iterdir()) == before


def _make_exploding_kernel():  # built in a function so cloudpickle ships it by value to the Ray workers
    def explode_for_amzn(o, h, l, c, v, n):  # a user strategy whose kernel fails on one symbol only
        if c[0] > 200.0:  # AMZN is the only sample ticker above $200 on 2013-02-08
            raise ValueError("cannot trade this one")
        return (c > o).astype(np.int8)

    return explode_for_amzn


@pytest.mark.usefixtures("ray_local")
def test_failing_symbol_is_named_and_the_others_finish(tmp_path: Path) -> None:
    spec = StrategySpec(
        name="explodes",
        params={"n": ParamSpace.int(1, 400, default=1)},
        signal_kernel=_make_exploding_kernel(),
    )
    res = quantray.sweep(
        sample_path(), spec, grid={"n": list(range(1, 351))}, out=str(tmp_path / "x"), chunk_seconds=0.05
    )
    assert res.failures, "the AMZN chunk must fail"
    assert any("symbol=AMZN" in f.error and "cannot trade this one" in f.error for f in res.failures)
    # exactly the symbols of the failed chunk(s) are missing: the other chunks finished and were kept
    panel = quantray.data.Panel.from_bars(quantray.data.read_bars(sample_path(), on_bad="repair"))
    bars = {sym: panel.arrays(sym)[4].size for sym in panel.symbols}
    plan = plan_chunks(bars, 350, chunk_seconds=0.05)
    failed = {sl.symbol for f in res.failures for sl in plan[f.chunk_id]}
    assert "AMZN" in failed and len(plan) > len(res.failures)
    assert set(res.table["symbol"]) == set(panel.symbols) - failed
    assert res.out is None  # no final results.parquet while a chunk is missing


def _write_config(path: Path, **over: object) -> Path:
    cfg = {
        "data": "sample",
        "strategy": "sma_cross",
        "grid": {"fast": "5:50:5", "slow": "60:1000:5"},
        "execution": {"fees": 0.001},
        "chunk_seconds": 0.05,
        "ray": {"num_cpus": 2},
    }
    cfg.update(over)
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_errors_name_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['gird'\]; valid keys: \[.*'grid'"):
        SweepConfig.from_dict({"data": "sample", "strategy": "sma_cross", "gird": {}})
    with pytest.raises(ConfigError, match=r"execution: unknown execution key\(s\) \['fee'\]"):
        SweepConfig.from_dict({"data": "sample", "strategy": "sma_cross", "execution": {"fee": 0.1}})
    with pytest.raises(ConfigError, match="--grid fast: STOP must be >= START"):
        SweepConfig.from_dict({"data": "sample", "strategy": "sma_cross", "grid": {"fast": "9:1:1"}})
    with pytest.raises(ConfigError, match="symbols: the universe is empty"):
        SweepConfig.from_dict({"data": "sample", "strategy": "sma_cross", "symbols": []})
    with pytest.raises(ConfigError, match=r"ray: unknown key\(s\) \['cpus'\]"):
        SweepConfig.from_dict({"data": "sample", "strategy": "sma_cross", "ray": {"cpus": 2}})
    with pytest.raises(ParameterError, match="slow > fast"):
        quantray.sweep(sample_path(), "sma_cross", grid={"fast": [60]}, params={"slow": 50})


def _run_job(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "jobs.sweep", *args], cwd=REPO, env=env, capture_output=True, text=True, **kw
    )


def test_job_rejects_bad_config_before_any_task(tmp_path: Path) -> None:
    bad = _write_config(tmp_path / "bad.yaml", strategy="sma_crosss")
    r = _run_job(["--config", str(bad), "--out", str(tmp_path / "o")], timeout=120)
    assert r.returncode == 2
    assert "unknown strategy 'sma_crosss'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
    unwritable = _write_config(tmp_path / "u.yaml", data="/nonexistent/bars.parquet")
    r = _run_job(["--config", str(unwritable)], timeout=120)
    assert r.returncode == 2 and "/nonexistent/bars.parquet" in r.stderr


def test_killed_driver_resumes_to_the_identical_table(tmp_path: Path, reference: pd.DataFrame) -> None:
    cfg = _write_config(tmp_path / "job.yaml")
    out = tmp_path / "out"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.sweep", "--config", str(cfg), "--out", str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the driver and the Ray it started
    )
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and len(list((out / "chunks").glob("part-*.parquet"))) < 1:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # kill the driver's whole group by id, mid-sweep
        proc.wait(timeout=60)
    done_before = len(list((out / "chunks").glob("part-*.parquet")))
    assert done_before >= 1 and not (out / "results.parquet").exists()
    r = _run_job(["--config", str(cfg), "--out", str(out), "--resume"], timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    final = pd.read_parquet(out / "results.parquet")
    assert not final.duplicated(KEY).any()
    pd.testing.assert_frame_equal(_sorted(final), reference)


def _make_kernel_that_kills_its_worker_once(marker: str):
    def close_above_open_dies_once(o, h, l, c, v, n):
        import os as _os

        if not _os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(_os.getpid()))
            _os._exit(1)  # the Ray worker process dies in the middle of the sweep
        return ((c > o) & (np.arange(c.size) % n == 0)).astype(np.int8)

    return close_above_open_dies_once


@pytest.mark.usefixtures("ray_local")
def test_killed_worker_mid_sweep_leaves_the_complete_identical_table(tmp_path: Path) -> None:
    marker = tmp_path / "worker-died"
    spec = StrategySpec(
        name="dies_once",
        params={"n": ParamSpace.int(1, 400, default=1)},
        signal_kernel=_make_kernel_that_kills_its_worker_once(str(marker)),
    )
    grid = {"n": list(range(1, 61))}
    res = quantray.sweep(sample_path(), spec, grid=grid, out=str(tmp_path / "s"), chunk_seconds=0.05)
    assert marker.exists() and int(marker.read_text()) != os.getpid(), "a worker (not the driver) died"
    assert not res.failures and res.out is not None
    ref = quantray.backtest(sample_path(), spec, grid=grid).table  # the marker exists: nothing dies now
    pd.testing.assert_frame_equal(
        res.table.sort_values(["symbol", "n"]).reset_index(drop=True),
        ref.sort_values(["symbol", "n"]).reset_index(drop=True),
    )
