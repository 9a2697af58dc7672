"""Hypothesis properties of the simulator on random positive price paths and random target series."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quantray.engine import ExecutionConfig, simulate

from ._reference import ref_simulate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def markets(draw, long_only: bool = True, min_size: int = 2, max_size: int = 120):
    """(open, close, target): a positive random walk with gaps between close and the next open."""
    n = draw(st.integers(min_size, max_size))
    rets = draw(arrays(np.float64, n, elements=st.floats(-0.3, 0.3)))
    gaps = draw(arrays(np.float64, n, elements=st.floats(-0.05, 0.05)))
    close = draw(st.floats(1.0, 1000.0)) * np.exp(np.cumsum(rets))
    open_ = close * np.exp(gaps)
    values = [0, 1] if long_only else [-1, 0, 1]
    target = draw(arrays(np.int8, n, elements=st.sampled_from(values)))
    return open_, close, target


def _sim(o, c, t, **kw):
    v = np.full(c.size, 1e9)
    return simulate(o, np.maximum(o, c), np.minimum(o, c), c, v, t, config=ExecutionConfig(**kw))


costs = st.tuples(st.sampled_from([0.0, 0.0005, 0.01]), st.sampled_from([0.0, 0.001, 0.02]))


@SETTINGS
@given(m=markets(), cost=costs, execution=st.sampled_from(["close", "next_open"]))
def test_equity_never_negative_without_shorts(m, cost, execution) -> None:
    o, c, t = m
    r = _sim(o, c, t, execution=execution, fees=cost[0], slippage=cost[1])
    assert (r.equity >= 0).all() and r.metrics["final_equity"] >= 0
    assert 0.0 <= r.metrics["max_drawdown"] <= 1.0
    assert 0.0 <= r.metrics["exposure"] <= 1.0


@SETTINGS
@given(m=markets())
def test_frictionless_close_mode_compounds_the_trade_price_ratios(m) -> None:
    o, c, t = m
    r = _sim(o, c, t, execution="close", init_cash=10_000.0)
    growth = 1.0
    for row in r.trades:
        entry = int(row[0])
        exit_ = int(row[1]) if row[1] >= 0 else c.size - 1
        growth *= c[exit_] / c[entry]
    assert r.metrics["final_equity"] == pytest.approx(10_000.0 * growth, rel=1e-11)
    # and the trades are exactly the runs of +1 in the target
    runs = np.flatnonzero(np.diff(np.concatenate([[0], t.astype(int)])) == 1)
    np.testing.assert_array_equal(r.trades[:, 0].astype(int), runs)
    assert r.metrics["num_trades"] == runs.size


@SETTINGS
@given(m=markets(), cost=costs, execution=st.sampled_from(["close", "next_open"]))
def test_costs_only_ever_lower_final_equity(m, cost, execution) -> None:
    o, c, t = m
    free = _sim(o, c, t, execution=execution)
    paid = _sim(o, c, t, execution=execution, fees=cost[0], slippage=cost[1])
    more = _sim(o, c, t, execution=execution, fees=cost[0] + 0.001, slippage=cost[1] + 0.001)
    f, p, q = (x.metrics["final_equity"] for x in (free, paid, more))
    assert p <= f * (1 + 1e-12)
    assert q <= p * (1 + 1e-12)
    if free.fills.shape[0] and (cost[0] or cost[1]):
        assert p < f
    # same signals, same trades
    assert free.metrics["num_trades"] == paid.metrics["num_trades"] == more.metrics["num_trades"]


@SETTINGS
@given(m=markets(), slip=st.sampled_from([0.0, 0.01]), data=st.data())
def test_next_open_never_uses_the_signal_bars_close(m, slip, data) -> None:
    o, c, t = m
    r = _sim(o, c, t, execution="next_open", slippage=slip)
    for bar, qty, price, _ in r.fills:
        b = int(bar)
        assert b >= 1, "a next_open fill on bar 0 cannot come from a signal"
        expected = o[b] * (1 + slip) if qty > 0 else o[b] * (1 - slip)
        assert price == pytest.approx(expected, rel=1e-14)
        assert t[b - 1] != (t[b - 2] if b >= 2 else 0)  # the fill follows a change of target on bar b-1
    # perturbing the close of every signal bar leaves the fill prices unchanged
    sig_bars = (r.fills[:, 0].astype(int) - 1) if r.fills.size else np.array([], dtype=int)
    c2 = c.copy()
    factor = data.draw(st.floats(0.5, 2.0))
    c2[sig_bars] *= factor
    r2 = _sim(o, c2, t, execution="next_open", slippage=slip)
    np.testing.assert_array_equal(r2.fills[:, :3], r.fills[:, :3])


@SETTINGS
@given(m=markets(long_only=False), cost=costs, execution=st.sampled_from(["close", "next_open"]))
def test_simulate_equals_reference_with_shorts(m, cost, execution) -> None:
    o, c, t = m
    r = _sim(o, c, t, execution=execution, fees=cost[0], slippage=cost[1], init_cash=1000.0)
    ref = ref_simulate(o, c, t, execution=execution, fees=cost[0], slippage=cost[1], init_cash=1000.0)
    assume(
        all(eq > 0 for eq in ref.equity)
    )  # after a wipe-out the two may legitimately differ in bookkeeping
    np.testing.assert_allclose(r.equity, ref.equity, rtol=1e-9, atol=1e-9)
    assert r.metrics["num_trades"] == len(ref.trades)
    np.testing.assert_array_equal(
        r.trades[:, :3],
        [[x.entry_bar, x.exit_bar, x.direction] for x in ref.trades] if ref.trades else np.empty((0, 3)),
    )


@SETTINGS
@given(
    m=markets(), cost=costs, execution=st.sampled_from(["close", "next_open"]), scale=st.floats(0.01, 100.0)
)
def test_results_scale_with_initial_cash(m, cost, execution, scale) -> None:
    """Without a fixed fee the simulation is homogeneous in cash: returns do not depend on init_cash."""
    o, c, t = m
    a = _sim(o, c, t, execution=execution, fees=cost[0], slippage=cost[1], init_cash=1000.0)
    b = _sim(o, c, t, execution=execution, fees=cost[0], slippage=cost[1], init_cash=1000.0 * scale)
    np.testing.assert_allclose(b.equity, a.equity * scale, rtol=1e-11)
    np.testing.assert_allclose(b.returns, a.returns, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(m=markets(min_size=3), execution=st.sampled_from(["close", "next_open"]))
def test_trade_pnl_adds_up_to_the_equity_change(m, execution) -> None:
    o, c, t = m
    r = _sim(o, c, t, execution=execution, fees=0.002, slippage=0.001, init_cash=5000.0)
    assert r.trades[:, 7].sum() == pytest.approx(r.metrics["final_equity"] - 5000.0, rel=1e-9, abs=1e-7)
    closed = r.trades[r.trades[:, 1] >= 0]
    if closed.size:
        wins = (closed[:, 7] > 0).mean()
        assert r.metrics["win_rate"] == pytest.approx(wins)
    else:
        assert math.isnan(r.metrics["win_rate"])


@SETTINGS
@given(
    m=markets(min_size=5, max_size=60),
    part=st.sampled_from([0.05, 0.2, 1.0]),
    vol=st.floats(10.0, 5000.0),
    execution=st.sampled_from(["close", "next_open"]),
)
def test_participation_cap_is_never_exceeded(m, part, vol, execution) -> None:
    o, c, t = m
    v = np.full(c.size, vol)
    cfg = ExecutionConfig(execution=execution, participation=part, init_cash=100_000.0)
    r = simulate(o, np.maximum(o, c), np.minimum(o, c), c, v, t, config=cfg)
    for b in np.unique(r.fills[:, 0]).astype(int):
        assert np.abs(r.fills[r.fills[:, 0] == b, 1]).sum() <= part * v[b] * (1 + 1e-12)
    assert (r.equity >= 0).all()
