"""``simulate()`` against a slow pure-Python simulator written from DESIGN.md §3, on real data, plus
hand-worked examples of every cost (proportional and fixed fees, slippage, square-root impact, participation)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantray.data import Panel, read_bars
from quantray.engine import ExecutionConfig, simulate
from quantray.errors import ConfigError, ParameterError
from quantray.strategies import get_strategy

from ._reference import ref_metrics, ref_returns, ref_simulate

SYMBOLS = ["AAPL", "MSFT", "XOM", "CHK", "NFLX"]  # CHK: a stock that lost ~90 %, NFLX: a ~10x winner
CASES = [
    ("sma_cross", {"fast": 10, "slow": 50}),
    ("sma_cross", {"fast": 3, "slow": 7}),
    ("ema_cross", {"fast": 5, "slow": 30}),
    ("rsi_reversion", {"window": 7, "lower": 25, "upper": 65}),
    ("bollinger_reversion", {"window": 20, "k": 1.5}),
    ("donchian_breakout", {"window": 20, "exit_window": 10}),
    ("macd", {}),
    ("momentum", {"lookback": 20, "threshold": 0.0, "allow_short": 1}),
    ("momentum", {"lookback": 5, "threshold": 0.02, "allow_short": 1}),
    ("buy_and_hold", {}),
]
COSTS = [
    dict(fees=0.0, slippage=0.0, fixed_fee=0.0),
    dict(fees=0.001, slippage=0.0005, fixed_fee=0.0),
    dict(fees=0.005, slippage=0.001, fixed_fee=3.0),
]


@pytest.fixture(scope="module")
def panel(sp500_path: Path) -> Panel:
    return Panel.from_bars(read_bars(sp500_path, symbols=SYMBOLS, on_bad="repair"))


def _cfg(execution: str, costs: dict, init_cash: float = 100_000.0) -> ExecutionConfig:
    return ExecutionConfig(execution=execution, init_cash=init_cash, **costs)  # type: ignore[arg-type]


@pytest.mark.parametrize("execution", ["close", "next_open"])
@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_simulate_equals_reference_on_real_data(
    panel: Panel, name: str, params: dict, execution: str
) -> None:
    spec = get_strategy(name)
    checked_trades = 0
    for sym in SYMBOLS:
        _, o, h, lo, c, v = panel.arrays(sym)
        target = spec.signal(o, h, lo, c, v, params)
        for costs in COSTS:
            cfg = _cfg(execution, costs)
            got = simulate(o, h, lo, c, v, target, config=cfg)
            ref = ref_simulate(o, c, target, execution=execution, init_cash=cfg.init_cash, **costs)
            where = f"{sym} {name} {params} {execution} {costs}"
            # final equity and the whole curve
            assert got.metrics["final_equity"] == pytest.approx(ref.final_equity, rel=1e-10), where
            np.testing.assert_allclose(got.equity, ref.equity, rtol=1e-9, err_msg=where)
            np.testing.assert_allclose(
                got.returns, ref_returns(ref.equity, cfg.init_cash), rtol=1e-8, atol=1e-13
            )
            # trades: count exact, bars exact, prices/sizes/pnl to 1e-9
            assert got.metrics["num_trades"] == len(ref.trades), where
            assert got.metrics["num_closed_trades"] == len(ref.closed), where
            assert got.trades.shape == (len(ref.trades), 8), where
            for row, tr in zip(got.trades, ref.trades, strict=True):
                assert int(row[0]) == tr.entry_bar and int(row[1]) == tr.exit_bar, where
                assert int(row[2]) == tr.direction, where
                np.testing.assert_allclose(
                    row[3:], [tr.size, tr.entry_price, tr.exit_price, tr.fees, tr.pnl], rtol=1e-9, atol=1e-7
                )
            checked_trades += len(ref.trades)
            # metrics from the curve
            m = ref_metrics(ref.equity, cfg.init_cash, 252.0)
            for key, val in m.items():
                assert got.metrics[key] == pytest.approx(val, rel=1e-9, nan_ok=True), (where, key)
            pnl = np.array([t.pnl for t in ref.closed])
            if pnl.size:
                assert got.metrics["win_rate"] == pytest.approx((pnl > 0).mean(), rel=1e-12)
                gp, gl = pnl[pnl > 0].sum(), -pnl[pnl <= 0].sum()
                if gl > 0:
                    assert got.metrics["profit_factor"] == pytest.approx(gp / gl, rel=1e-8), where
                assert got.metrics["expectancy"] == pytest.approx(pnl.mean(), rel=1e-7, abs=1e-6)
            else:
                assert math.isnan(got.metrics["win_rate"])
            held = np.zeros(c.size, dtype=bool)
            for tr in ref.trades:
                held[tr.entry_bar : (tr.exit_bar if tr.exit_bar >= 0 else c.size)] = True
            assert got.metrics["exposure"] == pytest.approx(held.mean(), rel=1e-12), where
    if name != "buy_and_hold":
        assert checked_trades > 10  # the case exercised real trading, not an empty run


def test_next_open_fills_at_the_next_bars_open_by_hand() -> None:
    o = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    c = np.array([10.5, 11.5, 12.5, 13.5, 14.5])
    cfg = ExecutionConfig(execution="next_open", init_cash=1000.0, fees=0.01, slippage=0.02)
    r = simulate(o, c, o, c, np.ones(5), [1, 1, 0, 0, 1], config=cfg)
    # signal on bar 0 -> buy at open[1] = 11 * 1.02; signal to exit on bar 2 -> sell at open[3] = 13 * 0.98;
    # the last bar's signal is never filled
    size = 1000.0 / 1.01 / (11 * 1.02)
    cash = size * 13 * 0.98 * (1 - 0.01)
    np.testing.assert_allclose(r.fills[:, :3], [[1, size, 11 * 1.02], [3, -size, 13 * 0.98]], rtol=1e-13)
    np.testing.assert_allclose(r.equity, [1000, size * 11.5, size * 12.5, cash, cash], rtol=1e-13)
    assert r.metrics["num_trades"] == 1 and r.trades[0, 0] == 1 and r.trades[0, 1] == 3


def test_close_mode_reversal_long_to_short_by_hand() -> None:
    c = np.array([100.0, 110.0, 99.0, 90.0])
    cfg = ExecutionConfig(execution="close", init_cash=1000.0, fees=0.001, slippage=0.0)
    r = simulate(c, c, c, c, np.ones(4), [1, -1, -1, 0], config=cfg)
    size = 1000 / 1.001 / 100
    cash = size * 110 * 0.999  # long closed at 110
    short = cash / 1.001 / 110  # short entry sized like an all-in buy of the cash
    cash += short * 110 * 0.999  # proceeds of the short sale, minus fees
    eq1, eq2 = cash - short * 110, cash - short * 99
    cash -= short * 90 * 1.001  # buy back at 90
    np.testing.assert_allclose(r.equity, [size * 100, eq1, eq2, cash], rtol=1e-12)
    assert r.metrics["num_trades"] == 2 and r.metrics["num_closed_trades"] == 2
    np.testing.assert_array_equal(r.trades[:, :3], [[0, 1, 1], [1, 3, -1]])


def test_docstring_example_and_cash_identity() -> None:
    c = np.array([10.0, 11.0, 12.0, 11.0])
    r = simulate(c, c, c, c, np.ones(4), [1, 1, 0, 0], config=ExecutionConfig(execution="close"))
    assert r.metrics["final_equity"] == pytest.approx(120_000.0, rel=1e-14)
    assert r.metrics["total_return"] == pytest.approx(0.2, rel=1e-13)
    assert r.metrics["max_drawdown"] == 0.0 and math.isnan(r.metrics["calmar"])


# ------------------------------------------------------------------------------------------------ costs


def test_fixed_fee_by_hand() -> None:
    c = np.array([10.0, 12.0])
    cfg = ExecutionConfig(execution="close", init_cash=10_000.0, fees=0.001, fixed_fee=5.0)
    r = simulate(c, c, c, c, np.ones(2), [1, 0], config=cfg)
    budget = (10_000 - 5) / 1.001
    size = budget / 10
    proceeds = size * 12
    np.testing.assert_allclose(
        r.fills, [[0, size, 10, 10_000 - budget], [1, -size, 12, proceeds * 0.001 + 5]]
    )
    assert r.metrics["final_equity"] == pytest.approx(proceeds * 0.999 - 5, rel=1e-13)
    assert r.trades[0, 6] == pytest.approx(10_000 - budget + proceeds * 0.001 + 5, rel=1e-13)


def test_fixed_fee_lowers_equity_by_at_least_the_fees_paid() -> None:
    rng = np.random.default_rng(7)
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    tgt = (np.sin(np.arange(300) / 7) > 0).astype(np.int8)
    base = simulate(c, c, c, c, np.ones(300), tgt, config=ExecutionConfig(execution="close"))
    fixed = simulate(c, c, c, c, np.ones(300), tgt, config=ExecutionConfig(execution="close", fixed_fee=10.0))
    n_orders = fixed.fills.shape[0]
    assert n_orders == base.fills.shape[0] > 10
    np.testing.assert_array_equal(fixed.fills[:, 3], 10.0)
    assert fixed.metrics["final_equity"] < base.metrics["final_equity"] - 10.0 * n_orders * 0.5


def test_square_root_impact_by_hand() -> None:
    """impact = k · σ_daily · sqrt(q / ADV), σ and ADV over the `impact_window` bars before the fill bar."""
    c = np.array([100.0, 101.0, 99.0, 102.0, 103.0])
    v = np.array([500.0, 800.0, 1200.0, 1000.0, 900.0])
    cfg = ExecutionConfig(execution="close", init_cash=10_000.0, impact_k=0.5, impact_window=2)
    r = simulate(c, c, c, c, v, [0, 0, 0, 1, 0], config=cfg)
    # entry on bar 3: returns of bars 1, 2; ADV of volumes 1, 2
    sig3 = np.std([101 / 100 - 1, 99 / 101 - 1], ddof=1)
    q0 = 10_000 / 102  # order size before impact
    imp3 = 0.5 * sig3 * math.sqrt(q0 / ((800 + 1200) / 2))
    assert imp3 == pytest.approx(0.0032991346602, rel=1e-10)
    size = 10_000 / (102 * (1 + imp3))
    # exit on bar 4: returns of bars 2, 3; ADV of volumes 2, 3
    sig4 = np.std([99 / 101 - 1, 102 / 99 - 1], ddof=1)
    imp4 = 0.5 * sig4 * math.sqrt(size / ((1200 + 1000) / 2))
    np.testing.assert_allclose(
        r.fills, [[3, size, 102 * (1 + imp3), 0.0], [4, -size, 103 * (1 - imp4), 0.0]], rtol=1e-12
    )
    assert r.metrics["final_equity"] == pytest.approx(size * 103 * (1 - imp4), rel=1e-12)
    no_impact = simulate(
        c, c, c, c, v, [0, 0, 0, 1, 0], config=ExecutionConfig(execution="close", init_cash=1e4)
    )
    assert r.metrics["final_equity"] < no_impact.metrics["final_equity"]


def test_impact_lowers_equity_on_real_data(panel: Panel) -> None:
    _, o, h, lo, c, v = panel.arrays("AAPL")
    target = get_strategy("sma_cross").signal(o, h, lo, c, v, {"fast": 5, "slow": 20})
    finals = [
        simulate(o, h, lo, c, v, target, config=ExecutionConfig(impact_k=k, init_cash=1e9)).metrics[
            "final_equity"
        ]
        for k in (0.0, 0.1, 1.0)
    ]
    assert finals[0] > finals[1] > finals[2]
    # impact grows with the order size: a 1000x smaller account pays a much smaller fraction
    small = simulate(o, h, lo, c, v, target, config=ExecutionConfig(impact_k=1.0, init_cash=1e6))
    assert small.metrics["final_equity"] / 1e6 > finals[2] / 1e9


@pytest.mark.parametrize("execution", ["close", "next_open"])
def test_participation_cap_builds_and_unwinds_over_several_bars(execution: str) -> None:
    n = 40
    c = np.full(n, 10.0) + np.arange(n) * 0.01
    v = np.full(n, 1000.0)
    v[5:8] = 300.0
    target = np.zeros(n, dtype=np.int8)
    target[2:25] = 1
    cfg = ExecutionConfig(execution=execution, init_cash=10_000.0, participation=0.1, fees=0.001)
    r = simulate(c, c, c, c, v, target, config=cfg)
    bars = r.fills[:, 0].astype(int)
    for b in np.unique(bars):
        traded = np.abs(r.fills[bars == b, 1]).sum()
        assert traded <= 0.1 * v[b] * (1 + 1e-12), (b, traded)
    buys, sells = r.fills[r.fills[:, 1] > 0], r.fills[r.fills[:, 1] < 0]
    assert len(buys) >= 8 and len(sells) >= 8  # ~1000 units at 100 a bar each way
    first = 2 if execution == "close" else 3
    assert bars[0] == first and (np.diff(buys[:, 0]) == 1).all()  # worked on consecutive bars
    assert buys[:, 1].sum() == pytest.approx(-sells[:, 1].sum(), rel=1e-12)  # fully unwound
    assert r.metrics["num_trades"] == 1 and r.metrics["num_closed_trades"] == 1
    assert r.equity[-1] == pytest.approx(r.metrics["final_equity"])
    # all cash is eventually invested: the position value at the end of the build equals the equity
    built = int(buys[-1, 0])
    assert r.equity[built] == pytest.approx(buys[:, 1].sum() * c[built], rel=1e-12)
    # every partial fill but the last uses the whole allowance of its bar (30 units on the thin bars)
    np.testing.assert_allclose(buys[:-1, 1], 0.1 * v[buys[:-1, 0].astype(int)], rtol=1e-12)
    assert 0 < buys[-1, 1] <= 0.1 * v[int(buys[-1, 0])]


def test_participation_zero_is_all_in_on_one_bar() -> None:
    c = np.full(10, 10.0)
    v = np.full(10, 1.0)  # tiny volume is irrelevant without a cap
    r = simulate(c, c, c, c, v, [0, 1, 1, 1, 0, 0, 0, 0, 0, 0], config=ExecutionConfig(execution="close"))
    assert r.fills.shape[0] == 2 and r.fills[0, 1] == pytest.approx(10_000.0)


# ----------------------------------------------------------------------------------------- validation


def test_simulate_rejects_bad_inputs() -> None:
    c = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match="-1, 0 or \\+1"):
        simulate(c, c, c, c, c, [0, 2, 0])
    with pytest.raises(ParameterError, match="equal lengths"):
        simulate(c, c, c, c, c, [0, 1])
    with pytest.raises(ParameterError, match="empty"):
        simulate([], [], [], [], [], [])
    with pytest.raises(ConfigError, match="positive"):
        simulate(c, c, c, np.array([1.0, 0.0, 3.0]), c, [0, 1, 0])
    with pytest.raises(ConfigError, match="execution"):
        ExecutionConfig(execution="open")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fees"):
        ExecutionConfig(fees=-0.01)
    with pytest.raises(ConfigError, match="unknown execution key"):
        ExecutionConfig.from_dict({"fee": 0.001})


def test_num_trades_counts_only_filled_entries() -> None:
    c = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    cfg = ExecutionConfig(execution="close", init_cash=100.0, fixed_fee=200.0)
    r = simulate(c, c, c, c, np.ones(5), [1, 1, 1, 1, 1], config=cfg)
    assert r.fills.shape[0] == 0 and r.trades.shape[0] == 0
    assert r.metrics["num_trades"] == 0


@pytest.mark.parametrize("execution", ["close", "next_open"])
def test_participation_capped_short_stops_at_the_all_in_size(execution: str) -> None:
    n = 60
    c = np.full(n, 10.0)
    v = np.full(n, 1000.0)
    target = np.full(n, -1, dtype=np.int8)
    uncapped = simulate(c, c, c, c, v, target, config=ExecutionConfig(execution=execution, init_cash=1e4))
    capped = simulate(
        c, c, c, c, v, target, config=ExecutionConfig(execution=execution, init_cash=1e4, participation=0.1)
    )
    assert uncapped.fills[:, 1].sum() == pytest.approx(-1000.0)
    assert capped.fills[:, 1].sum() == pytest.approx(-1000.0)  # built over 10 bars, then stops
    assert capped.fills.shape[0] == 10
