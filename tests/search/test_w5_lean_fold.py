"""The GA's lean fold kernel (runs of same-side orders, entries and exits inline, flat runs in O(1), anything
unusual through the engine's ``sim_bar``) equals the engine's fold simulation bit for bit on random long/flat
targets and real prices, for both fill conventions and random costs (refused exits and unaffordable entries
included); and equals ``quantray.engine.simulate`` (final equity, trades, Sharpe) fold by fold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantray.data import Panel, load_sample
from quantray.engine import ExecutionConfig, simulate
from quantray.engine._config import METRIC_NAMES
from quantray.search._kernels import _RUNS, _fold_two_pass, all_finite, fold_metrics, lean_fold_metrics

_P = Panel.from_bars(load_sample())
PRICES = {sym: _P.arrays(sym) for sym in ("AAPL", "GE", "XOM")}
N = 600


@st.composite
def targets(draw: st.DrawFn) -> np.ndarray:
    """Long/flat targets: runs of random lengths (short flickers to long holds), or i.i.d. flips."""
    if draw(st.booleans()):
        p = draw(st.sampled_from([0.05, 0.5, 0.95]))
        seed = draw(st.integers(0, 2**32 - 1))
        return (np.random.default_rng(seed).random(N) < p).astype(np.int8)
    runs = draw(st.lists(st.integers(1, 120), min_size=1, max_size=60))
    first = draw(st.integers(0, 1))
    out = np.concatenate([np.full(r, (first + i) % 2, dtype=np.int8) for i, r in enumerate(runs)])
    return np.resize(out, N).astype(np.int8)[: draw(st.sampled_from([N, N - 3, 85, 9]))]  # whole words or not


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=targets(),
    sym=st.sampled_from(sorted(PRICES)),
    start=st.integers(0, 400),
    next_open=st.booleans(),
    fees=st.sampled_from([0.0, 0.0005, 0.01, 2.0]),  # 2.0: fees above the proceeds, the exit is refused
    slippage=st.sampled_from([0.0, 0.0002]),
    fixed_fee=st.sampled_from([0.0, 1.0, 1e6]),  # 1e6: the cash does not cover the fixed fee, no entry
    cuts=st.lists(st.integers(1, N - 1), min_size=0, max_size=4, unique=True),  # fold edges
)
def test_lean_fold_kernel_equals_the_engine_bit_for_bit(
    target: np.ndarray,
    sym: str,
    start: int,
    next_open: bool,
    fees: float,
    slippage: float,
    fixed_fee: float,
    cuts: list[int],
) -> None:
    n = target.size
    _ts, o, _h, _lo, c, v = (np.ascontiguousarray(x[start : start + n]) for x in PRICES[sym])
    edges = [0, *sorted(x for x in cuts if x < n), n]
    bounds = np.array([[a, b] for a, b in itertools.pairwise(edges)], dtype=np.int64)
    want = np.empty((len(bounds), len(METRIC_NAMES)))
    got = np.empty_like(want)
    args = (next_open, fees, slippage, fixed_fee, 100_000.0, 252.0)
    fold_metrics(target, o, c, v, bounds, *args, want)
    lean_fold_metrics(target, o, c, bounds, all_finite(c), *args, got)
    np.testing.assert_array_equal(got, want)  # every metric, NaN where the engine gives NaN


def test_lean_fold_kernel_equals_engine_simulate_and_runs_bar_by_bar_on_undefined_prices() -> None:
    _ts, o, h, lo, c, v = PRICES["AAPL"]
    rng = np.random.default_rng(5)
    target = np.repeat(rng.random(100) < 0.4, 9)[: c.size].astype(np.int8)
    target = np.resize(target, c.size).astype(np.int8)
    bounds = np.array([[0, 300], [300, 700], [700, 1000]], dtype=np.int64)
    cfg = ExecutionConfig(fees=0.0005, slippage=0.0001)
    got = np.empty((3, len(METRIC_NAMES)))
    lean_fold_metrics(target, o, c, bounds, True, True, 0.0005, 0.0001, 0.0, cfg.init_cash, 252.0, got)
    names = list(METRIC_NAMES)
    for k, (s, e) in enumerate(bounds):
        sim = simulate(o[s:e], h[s:e], lo[s:e], c[s:e], v[s:e], target[s:e], config=cfg)
        for m in ("final_equity", "num_trades", "sharpe"):
            assert got[k, names.index(m)] == pytest.approx(sim.metrics[m], rel=1e-12)
        assert sim.metrics["num_trades"] >= 5  # the folds do trade
    # an undefined close: the kernel declines the O(1) flat step and still equals the engine
    c2 = c.copy()
    c2[350] = np.nan
    assert not all_finite(c2)
    want = np.empty_like(got)
    fold_metrics(target, o, c2, v, bounds, True, 0.0005, 0.0001, 0.0, 1e5, 252.0, want)
    lean_fold_metrics(target, o, c2, bounds, False, True, 0.0005, 0.0001, 0.0, 1e5, 252.0, got)
    np.testing.assert_array_equal(got, want)


def _chained_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open and close of the bundled sample's symbols one after the other (~25,000 real daily bars)."""
    syms = _P.symbols
    o = np.concatenate([_P.arrays(s)[1] for s in syms])
    c = np.concatenate([_P.arrays(s)[4] for s in syms])
    keep = np.isfinite(o) & np.isfinite(c)
    return np.ascontiguousarray(o[keep]), np.ascontiguousarray(c[keep]), np.ones(int(keep.sum()))


@pytest.mark.parametrize("next_open", [True, False])
@pytest.mark.parametrize("fixed_fee", [0.0, 1.0])  # 1 per order drains the cash after ~2,200-3,200 trades
def test_lean_fold_kernel_equals_the_engine_over_many_batches_of_runs(
    next_open: bool, fixed_fee: float
) -> None:
    # thousands of runs per fold: the two-pass path records runs in batches (_RUNS), here several per fold; with
    # the fixed fee it gives up after several batches (an entry the cash cannot pay) and the fold runs again in
    # one pass
    o, c, v = _chained_sample()
    target = (np.random.default_rng(11).random(c.size) < 0.5).astype(np.int8)
    bounds = np.array([[0, 15_001], [15_001, c.size]], dtype=np.int64)
    assert np.count_nonzero(np.diff(target[:15_001])) > 3 * _RUNS  # the first fold spans several batches
    args = (next_open, 0.0005, 0.0001, fixed_fee, 100_000.0, 252.0)
    n = target.size
    w = target[: n - (n & 7)].view(np.uint64)
    scratch = (np.empty(_RUNS + 1, dtype=np.int64), np.empty(_RUNS), np.empty(_RUNS))
    row = np.empty(len(METRIC_NAMES))
    took_two_pass = _fold_two_pass(target, w, o, c, 0, 15_001, *args, row, *scratch)
    assert took_two_pass == (fixed_fee == 0.0)  # the fast path is taken unless an order cannot fill whole
    want = np.empty((2, len(METRIC_NAMES)))
    got = np.empty_like(want)
    fold_metrics(target, o, c, v, bounds, *args, want)
    lean_fold_metrics(target, o, c, bounds, True, *args, got)
    np.testing.assert_array_equal(got, want)
    if took_two_pass:
        np.testing.assert_array_equal(row, want[0])
    names = list(METRIC_NAMES)
    # more than two batches of runs (two runs per trade) went by before the fixed fee stopped the fast path
    assert want[0, names.index("num_trades")] > (_RUNS if fixed_fee else 3_000)
