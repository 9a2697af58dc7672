"""``quantray.backtest``: the results table schema, grids, ``ranked`` and ``detail`` on the bundled sample (no
shared data needed)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quantray
from quantray.data import SAMPLE_SYMBOLS, Panel, load_sample, sample_path
from quantray.engine import ExecutionConfig, simulate
from quantray.errors import ConfigError, DataError, ParameterError, StrategyError
from quantray.strategies import get_strategy


def _load_reference():
    """The slow reference simulator of tests/engine (loaded by path: ``tests`` is not a package)."""
    name = "_quantray_tests_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).resolve().parent / "engine" / "_reference.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ref_simulate = _load_reference().ref_simulate

METRICS = [
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "num_trades",
    "win_rate",
    "profit_factor",
    "exposure",
    "final_equity",
]


@pytest.fixture(scope="module")
def panel() -> Panel:
    return Panel.from_bars(load_sample())


@pytest.fixture(scope="module")
def grid_result() -> quantray.BacktestResult:
    return quantray.backtest(
        sample_path(), "sma_cross", grid={"fast": [5, 10, 20, 50], "slow": [20, 50, 100]}, fees=0.001
    )


def test_table_columns_are_exactly_the_design_schema(grid_result) -> None:
    assert list(grid_result.table.columns) == ["symbol", "fast", "slow", *METRICS]
    t = grid_result.table
    assert t["fast"].dtype == np.int64 and t["slow"].dtype == np.int64
    assert t["num_trades"].dtype == np.int64
    assert all(t[m].dtype == np.float64 for m in METRICS if m != "num_trades")
    assert grid_result.periods_per_year == 252.0 and grid_result.config.execution == "next_open"
    rsi = quantray.backtest(sample_path(), "rsi_reversion", symbols=["KO"])
    assert list(rsi.table.columns) == ["symbol", "window", "lower", "upper", *METRICS]
    assert rsi.table["lower"].dtype == np.float64
    bh = quantray.backtest(sample_path(), "buy_and_hold", symbols=["KO"])
    assert list(bh.table.columns) == ["symbol", *METRICS]


def test_grid_gives_every_valid_combination_for_every_symbol(grid_result) -> None:
    valid = {(f, s) for f in (5, 10, 20, 50) for s in (20, 50, 100) if f < s}
    t = grid_result.table
    assert len(t) == len(valid) * len(SAMPLE_SYMBOLS) == 9 * 20
    assert set(t["symbol"]) == set(SAMPLE_SYMBOLS)
    for _, g in t.groupby("symbol"):
        assert set(zip(g["fast"], g["slow"], strict=True)) == valid
    assert not t.duplicated(["symbol", "fast", "slow"]).any()
    np.testing.assert_allclose(t["total_return"], t["final_equity"] / 100_000 - 1, rtol=1e-12, atol=1e-15)
    assert ((t["exposure"] >= 0) & (t["exposure"] <= 1)).all() and (t["max_drawdown"] >= 0).all()


def test_table_rows_equal_an_independent_simulation(grid_result, panel: Panel) -> None:
    t = grid_result.table
    for sym, fast, slow in [("AAPL", 10, 50), ("GE", 5, 20), ("REGN", 20, 100)]:
        row = t[(t.symbol == sym) & (t.fast == fast) & (t.slow == slow)].iloc[0]
        _, o, h, lo, c, v = panel.arrays(sym)
        target = get_strategy("sma_cross").signal(o, h, lo, c, v, {"fast": fast, "slow": slow})
        ref = ref_simulate(o, c, target, execution="next_open", fees=0.001)
        assert row.final_equity == pytest.approx(ref.final_equity, rel=1e-10)
        assert row.num_trades == len(ref.trades)
        sim = simulate(o, h, lo, c, v, target, config=ExecutionConfig(fees=0.001))
        for m in METRICS:
            assert row[m] == pytest.approx(sim.metrics[m], rel=1e-9, nan_ok=True), m


def test_detail_is_consistent_with_the_table_row(grid_result) -> None:
    t = grid_result.table
    for sym, fast, slow in [("AAPL", 10, 50), ("XOM", 5, 100), ("T", 20, 50)]:
        row = t[(t.symbol == sym) & (t.fast == fast) & (t.slow == slow)].iloc[0]
        d = grid_result.detail(sym, {"fast": fast, "slow": slow})
        assert d.symbol == sym and d.params == {"fast": fast, "slow": slow}
        assert isinstance(d.equity, pd.Series) and str(d.equity.index.tz) == "UTC"
        assert len(d.equity) == 1259 and d.equity.index.is_monotonic_increasing
        assert d.equity.iloc[-1] == pytest.approx(row.final_equity, rel=1e-12)
        assert len(d.trades) == row.num_trades
        assert list(d.trades.columns) == [
            "entry_time",
            "exit_time",
            "direction",
            "size",
            "entry_price",
            "exit_price",
            "fees",
            "pnl",
        ]
        closed = d.trades.dropna(subset=["exit_time"])
        assert (closed["exit_time"] > closed["entry_time"]).all()
        assert d.trades["entry_time"].isin(d.equity.index).all()
        assert d.trades["pnl"].sum() == pytest.approx(row.final_equity - 100_000, rel=1e-9, abs=1e-6)
        if len(closed):
            assert row.win_rate == pytest.approx((closed["pnl"] > 0).mean())
        # trades alternate: each entry after the previous exit
        entries, exits = d.trades["entry_time"].to_numpy(), d.trades["exit_time"].to_numpy()
        assert (entries[1:] > exits[:-1]).all()


def test_ranked(grid_result) -> None:
    r = grid_result.ranked()
    s = r["sharpe"].to_numpy()
    finite = s[~np.isnan(s)]
    assert (np.diff(finite) <= 0).all() and np.isnan(s[len(finite) :]).all()
    dd = grid_result.ranked("max_drawdown")["max_drawdown"].to_numpy()
    assert (np.diff(dd) >= 0).all()  # smaller drawdown is better
    assert len(r) == len(grid_result.table)
    with pytest.raises(ParameterError, match="unknown metric"):
        grid_result.ranked("sharp")


def test_params_fix_what_the_grid_does_not_vary() -> None:
    res = quantray.backtest(
        sample_path(), "macd", params={"signal": 5}, grid={"fast": [6, 12]}, symbols=["KO", "PG"]
    )
    assert set(res.table["signal"]) == {5} and set(res.table["slow"]) == {26}
    assert len(res.table) == 4


def test_data_as_path_frame_and_panel_agree(panel: Panel) -> None:
    kw = dict(params={"fast": 10, "slow": 30}, symbols=["AMZN", "DIS"], execution="close")
    a = quantray.backtest(sample_path(), "ema_cross", **kw).table
    b = quantray.backtest(load_sample(), "ema_cross", **kw).table
    c = quantray.backtest(panel, "ema_cross", **kw).table
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert list(a["symbol"]) == ["AMZN", "DIS"]


def test_config_and_costs_reach_the_engine() -> None:
    base = quantray.backtest(sample_path(), "sma_cross", symbols=["AAPL"], execution="close").table.iloc[0]
    paid = quantray.backtest(
        sample_path(), "sma_cross", symbols=["AAPL"], execution="close", fees=0.01, slippage=0.01
    ).table.iloc[0]
    assert paid.final_equity < base.final_equity and paid.num_trades == base.num_trades
    cfg = ExecutionConfig(execution="close", fees=0.01, slippage=0.01, init_cash=1e6)
    via_cfg = quantray.backtest(sample_path(), "sma_cross", symbols=["AAPL"], config=cfg).table.iloc[0]
    assert via_cfg.final_equity == pytest.approx(paid.final_equity * 10, rel=1e-12)
    nxt = quantray.backtest(sample_path(), "sma_cross", symbols=["AAPL"]).table.iloc[0]
    assert nxt.final_equity != base.final_equity


def test_risk_free_lowers_sharpe_only() -> None:
    a = quantray.backtest(sample_path(), "buy_and_hold", symbols=["MSFT"]).table.iloc[0]
    b = quantray.backtest(sample_path(), "buy_and_hold", symbols=["MSFT"], risk_free=0.03).table.iloc[0]
    assert b.sharpe < a.sharpe and b.final_equity == a.final_equity and b.cagr == a.cagr


def test_progress_is_reported_per_symbol() -> None:
    calls: list[tuple[int, int]] = []
    quantray.backtest(
        sample_path(), "buy_and_hold", symbols=["AAPL", "KO", "T"], progress=lambda d, t: calls.append((d, t))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_user_errors() -> None:
    with pytest.raises(StrategyError, match="did you mean 'sma_cross'"):
        quantray.backtest(sample_path(), "sma_cros")
    with pytest.raises(ParameterError, match="slow > fast"):
        quantray.backtest(sample_path(), "sma_cross", params={"fast": 60, "slow": 50})
    with pytest.raises(ParameterError, match="no valid parameter set"):
        quantray.backtest(sample_path(), "sma_cross", grid={"fast": [60, 70], "slow": [20]})
    with pytest.raises(ConfigError, match="execution"):
        quantray.backtest(sample_path(), "sma_cross", execution="open")
    with pytest.raises(ConfigError, match="fees"):
        quantray.backtest(sample_path(), "sma_cross", fees=-1)
    with pytest.raises(DataError):
        quantray.backtest(sample_path(), "sma_cross", symbols=["NOPE"])
    with pytest.raises(DataError):
        quantray.backtest(42, "sma_cross")  # type: ignore[arg-type]
    with pytest.raises(DataError):
        quantray.backtest("/nonexistent/bars.parquet", "sma_cross")


def test_nan_metrics_for_a_strategy_that_never_trades() -> None:
    res = quantray.backtest(
        sample_path(), "rsi_reversion", params={"window": 14, "lower": 1, "upper": 99}, symbols=["KO"]
    )
    row = res.table.iloc[0]
    assert row.num_trades == 0 and row.final_equity == 100_000 and row.total_return == 0
    assert math.isnan(row.sharpe) and math.isnan(row.win_rate) and row.exposure == 0
    d = res.detail("KO", {"window": 14, "lower": 1, "upper": 99})
    assert len(d.trades) == 0 and list(d.trades.columns)[:2] == ["entry_time", "exit_time"]
    assert (d.equity == 100_000).all()
