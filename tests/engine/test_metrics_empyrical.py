"""Metric functions and the simulator's in-kernel (online) metrics against empyrical-reloaded, on real returns:
AAPL daily (252/year) and BTC hourly (8760/year)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantray._backtest import run_symbol
from quantray.data import Panel, read_bars
from quantray.engine import (
    METRIC_NAMES,
    ExecutionConfig,
    cagr,
    calmar_ratio,
    cvar_historical,
    max_drawdown,
    max_drawdown_duration,
    returns_from_equity,
    sharpe_ratio,
    simulate,
    sortino_ratio,
    total_return,
    trade_stats,
    var_historical,
    volatility,
)
from quantray.errors import ParameterError
from quantray.strategies import get_strategy

empyrical = pytest.importorskip("empyrical")

RTOL = 1e-9


@pytest.fixture(scope="module")
def aapl(sp500_path: Path) -> tuple[np.ndarray, ...]:
    return Panel.from_bars(read_bars(sp500_path, symbols=["AAPL"], on_bad="repair")).arrays("AAPL")


@pytest.fixture(scope="module")
def btc(crypto_path: Path) -> tuple[np.ndarray, ...]:
    bars = read_bars(crypto_path, symbols=["BTCUSDT"], on_bad="repair")
    return Panel.from_bars(bars).arrays("BTCUSDT")


def _returns(arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    c = arrays[4]
    return c[1:] / c[:-1] - 1.0


def _check_all(r: np.ndarray, ann: float) -> None:
    rf = 0.02 / ann
    assert sharpe_ratio(r, ann) == pytest.approx(empyrical.sharpe_ratio(r, annualization=ann), rel=RTOL)
    assert sharpe_ratio(r, ann, rf) == pytest.approx(
        empyrical.sharpe_ratio(r, risk_free=rf, annualization=ann), rel=RTOL
    )
    assert sortino_ratio(r, ann) == pytest.approx(empyrical.sortino_ratio(r, annualization=ann), rel=RTOL)
    assert sortino_ratio(r, ann, rf) == pytest.approx(
        empyrical.sortino_ratio(r, required_return=rf, annualization=ann), rel=RTOL
    )
    assert cagr(r, ann) == pytest.approx(empyrical.annual_return(r, annualization=ann), rel=RTOL)
    assert volatility(r, ann) == pytest.approx(empyrical.annual_volatility(r, annualization=ann), rel=RTOL)
    emp_mdd = empyrical.max_drawdown(r)
    assert emp_mdd < 0
    assert max_drawdown(r) == pytest.approx(-emp_mdd, rel=RTOL)
    assert calmar_ratio(r, ann) == pytest.approx(empyrical.calmar_ratio(r, annualization=ann), rel=RTOL)
    for level in (0.01, 0.05, 0.1):
        assert var_historical(r, level) == pytest.approx(empyrical.value_at_risk(r, cutoff=level), rel=RTOL)
        assert cvar_historical(r, level) == pytest.approx(
            empyrical.conditional_value_at_risk(r, cutoff=level), rel=RTOL
        )
    assert total_return(r) == pytest.approx(empyrical.cum_returns_final(r), rel=RTOL)


def test_aapl_daily_metrics_equal_empyrical(aapl) -> None:
    r = _returns(aapl)
    assert r.size == 1258
    _check_all(r, 252.0)
    # sanity of magnitudes (AAPL 2013-2018): positive Sharpe, ~25 % annual vol
    assert 0.3 < sharpe_ratio(r, 252) < 1.5 and 0.15 < volatility(r, 252) < 0.35


def test_btc_hourly_metrics_equal_empyrical(btc) -> None:
    r = _returns(btc)
    assert r.size > 26_000
    _check_all(r, 8760.0)
    assert 0.3 < volatility(r, 8760) < 1.0  # BTC annualised vol is tens of percent, not hundreds


def test_max_drawdown_duration_by_reference(aapl) -> None:
    r = _returns(aapl)
    v = np.cumprod(1 + r)
    peak, run, longest = 1.0, 0, 0
    for x in v:
        if x >= peak:
            peak, run = x, 0
        else:
            run += 1
            longest = max(longest, run)
    assert max_drawdown_duration(r) == longest > 50


def test_metric_edge_cases_follow_empyrical() -> None:
    up = np.array([0.01, 0.02, 0.005])
    assert sortino_ratio(up, 252) == math.inf == empyrical.sortino_ratio(up)
    assert math.isnan(calmar_ratio(up, 252)) and math.isnan(empyrical.calmar_ratio(up))
    assert max_drawdown(up) == 0.0
    flat = np.zeros(5)
    assert math.isnan(sharpe_ratio(flat, 252))
    wiped = np.array([0.1, -1.0, 0.0])
    assert cagr(wiped, 252) == -1.0
    assert max_drawdown(wiped) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="level"):
        var_historical(up, 1.5)


def test_trade_stats() -> None:
    s = trade_stats([10.0, -5.0, 0.0, 20.0])
    assert s["win_rate"] == 0.5  # a zero-pnl trade is not a win
    assert s["profit_factor"] == pytest.approx(30 / 5)
    assert s["expectancy"] == pytest.approx(25 / 4)
    assert trade_stats([1.0])["profit_factor"] == math.inf
    assert math.isnan(trade_stats([])["win_rate"])


def test_returns_from_equity() -> None:
    np.testing.assert_allclose(returns_from_equity([110.0, 99.0], 100.0), [0.1, -0.1], rtol=1e-14)


# ------------------------------------------------------------------------------- in-kernel online metrics


def _emp_row(r: np.ndarray, ann: float, rf: float = 0.0) -> dict[str, float]:
    return {
        "total_return": empyrical.cum_returns_final(r),
        "cagr": empyrical.annual_return(r, annualization=ann),
        "sharpe": empyrical.sharpe_ratio(r, risk_free=rf, annualization=ann),
        "sortino": empyrical.sortino_ratio(r, required_return=rf, annualization=ann),
        "max_drawdown": -empyrical.max_drawdown(r),
        "calmar": empyrical.calmar_ratio(r, annualization=ann),
        "volatility": empyrical.annual_volatility(r, annualization=ann),
        "var_95": empyrical.value_at_risk(r, 0.05),
        "cvar_95": empyrical.conditional_value_at_risk(r, 0.05),
    }


CASES = [
    ("sma_cross", {"fast": 10, "slow": 50}),
    ("rsi_reversion", {}),
    ("momentum", {"lookback": 24, "threshold": 0.0, "allow_short": 1}),
    ("buy_and_hold", {}),
]


@pytest.mark.parametrize("execution", ["close", "next_open"])
@pytest.mark.parametrize(("name", "params"), CASES)
@pytest.mark.parametrize("market", ["aapl", "btc"])
def test_online_metrics_equal_empyrical_on_the_equity_curve(
    request, market: str, name: str, params: dict, execution: str
) -> None:
    arrays = request.getfixturevalue(market)
    ann = 252.0 if market == "aapl" else 8760.0
    _, o, h, lo, c, v = arrays
    spec = get_strategy(name)
    cfg = ExecutionConfig(execution=execution, fees=0.001, slippage=0.0005)  # type: ignore[arg-type]
    sim = simulate(o, h, lo, c, v, spec.signal(o, h, lo, c, v, params), config=cfg, periods_per_year=ann)
    r = sim.returns
    assert r.size == c.size
    np.testing.assert_allclose(
        r,
        np.diff(np.concatenate([[cfg.init_cash], sim.equity]))
        / np.concatenate([[cfg.init_cash], sim.equity[:-1]]),
        rtol=1e-12,
        atol=1e-15,
    )
    expected = _emp_row(r, ann)
    for key, val in expected.items():
        assert sim.metrics[key] == pytest.approx(val, rel=RTOL), key
    # the fused batch kernel computes the same online metrics without recording the curve
    p = spec.validate_params(params)
    batch = run_symbol(spec, arrays, [p], cfg, ann, 1.0)[0]
    for key, val in expected.items():
        if key in METRIC_NAMES:
            assert batch[METRIC_NAMES.index(key)] == pytest.approx(val, rel=RTOL), key


def test_online_sharpe_with_risk_free_equals_empyrical(aapl) -> None:
    _, o, h, lo, c, v = aapl
    cfg = ExecutionConfig(execution="close", risk_free=0.05)
    sim = simulate(o, h, lo, c, v, np.ones(c.size, dtype=np.int8), config=cfg)
    rf = 0.05 / 252
    assert sim.metrics["sharpe"] == pytest.approx(
        empyrical.sharpe_ratio(sim.returns, risk_free=rf, annualization=252), rel=RTOL
    )
    assert (
        sim.metrics["sharpe"]
        < simulate(
            o, h, lo, c, v, np.ones(c.size, dtype=np.int8), config=ExecutionConfig(execution="close")
        ).metrics["sharpe"]
    )


def test_online_sortino_with_risk_free_equals_empyrical(aapl) -> None:
    _, o, h, lo, c, v = aapl
    cfg = ExecutionConfig(execution="close", risk_free=0.05)
    sim = simulate(o, h, lo, c, v, np.ones(c.size, dtype=np.int8), config=cfg)
    rf = 0.05 / 252
    assert sim.metrics["sortino"] == pytest.approx(sortino_ratio(sim.returns, 252, rf), rel=RTOL)
    assert sim.metrics["sortino"] == pytest.approx(
        empyrical.sortino_ratio(sim.returns, required_return=rf, annualization=252), rel=RTOL
    )
