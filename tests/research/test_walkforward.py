"""Walk-forward optimisation: window arithmetic, each window against the engine's public simulator, no look-ahead,
stitching, efficiency and parameter-stability figures on real data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from quantray.data import Panel
from quantray.engine import ExecutionConfig, cagr, simulate
from quantray.engine._config import METRIC_NAMES
from quantray.errors import ParameterError
from quantray.research import evaluate_window, walk_forward, walk_forward_windows
from quantray.strategies import StrategySpec, get_strategy

SHARPE = METRIC_NAMES.index("sharpe")


def test_rolling_and_anchored_windows() -> None:
    w = walk_forward_windows(1000, train_bars=300, test_bars=200)
    assert [(x.train_start, x.train_end, x.test_start, x.test_end) for x in w] == [
        (0, 300, 300, 500),
        (200, 500, 500, 700),
        (400, 700, 700, 900),
        (600, 900, 900, 1000),
    ]
    a = walk_forward_windows(1000, train_bars=300, test_bars=200, anchored=True)
    assert [x.train_start for x in a] == [0, 0, 0, 0] and [x.train_end for x in a] == [300, 500, 700, 900]
    # a 1-bar tail is dropped, a 2-bar one kept; the test windows tile the bars after the first training set
    assert walk_forward_windows(301 + 200, train_bars=300, test_bars=200)[-1].test_end == 500
    assert walk_forward_windows(302 + 200, train_bars=300, test_bars=200)[-1].test_end == 502
    with pytest.raises(ParameterError, match="train_bars \\+ 2 <= n_bars"):
        walk_forward_windows(100, train_bars=99, test_bars=10)
    with pytest.raises(ParameterError, match="`test_bars`"):
        walk_forward_windows(100, train_bars=50, test_bars=1)


def _reference_window(
    spec: StrategySpec, arrays: tuple, sets: list[dict[str, Any]], w: Any, cfg: ExecutionConfig
) -> tuple[int, np.ndarray, np.ndarray]:
    _, o, h, lo, c, v = arrays
    s, e = w.train_start, w.train_end
    is_sharpe = [
        simulate(
            o[s:e],
            h[s:e],
            lo[s:e],
            c[s:e],
            v[s:e],
            spec.signal(o[s:e], h[s:e], lo[s:e], c[s:e], v[s:e], p),
            config=cfg,
        ).metrics["sharpe"]
        for p in sets
    ]
    best = int(np.nanargmax(is_sharpe))
    ts, te = w.test_start, w.test_end
    tgt = spec.signal(
        o[:te], h[:te], lo[:te], c[:te], v[:te], sets[best]
    )  # history up to the window's end only
    sim = simulate(o[ts:te], h[ts:te], lo[ts:te], c[ts:te], v[ts:te], tgt[ts:], config=cfg)
    return best, np.array(is_sharpe), sim.returns


def test_each_window_matches_signal_plus_simulate_on_real_data(sp500_panel: Panel, sma_sets: list) -> None:
    spec = get_strategy("sma_cross")
    cfg = ExecutionConfig(fees=0.001, slippage=0.0005)
    arrays = sp500_panel.arrays("MSFT")
    for w in walk_forward_windows(arrays[4].size, train_bars=504, test_bars=189)[:3]:
        out = evaluate_window(spec, arrays, sma_sets, w, config=cfg, periods_per_year=252.0, bars_per_day=1.0)
        best, is_sharpe, oos = _reference_window(spec, arrays, sma_sets, w, cfg)
        assert out.best == best
        np.testing.assert_allclose(out.is_metrics[:, SHARPE], is_sharpe, rtol=1e-9)
        np.testing.assert_allclose(out.oos_returns, oos, rtol=0, atol=1e-12)
        assert out.oos_metrics[SHARPE] == pytest.approx(np.mean(oos) / np.std(oos, ddof=1) * math.sqrt(252))


def test_out_of_sample_never_sees_later_bars(sp500_panel: Panel, sma_sets: list) -> None:
    spec = get_strategy("sma_cross")
    cfg = ExecutionConfig()
    ts, o, h, lo, c, v = sp500_panel.arrays("JPM")
    w = walk_forward_windows(c.size, train_bars=400, test_bars=250)[1]
    base = evaluate_window(
        spec, (ts, o, h, lo, c, v), sma_sets, w, config=cfg, periods_per_year=252.0, bars_per_day=1.0
    )
    f = np.ones(c.size)
    f[w.test_end :] = np.random.default_rng(0).uniform(0.5, 2.0, c.size - w.test_end)  # scramble the future
    shaken = (ts, o * f, h * f, lo * f, c * f, v)
    again = evaluate_window(spec, shaken, sma_sets, w, config=cfg, periods_per_year=252.0, bars_per_day=1.0)
    assert again.best == base.best
    np.testing.assert_array_equal(again.oos_returns, base.oos_returns)
    np.testing.assert_array_equal(again.is_metrics, base.is_metrics)


def test_walk_forward_stitching_efficiency_and_stability(sp500_panel: Panel) -> None:
    grid = {"fast": [5, 10, 20, 40], "slow": [50, 100, 200]}
    res = walk_forward(
        sp500_panel, "sma_cross", grid, train_bars=504, test_bars=126, symbols=["AAPL", "JPM", "XOM"]
    )
    assert list(res.summary.index) == ["AAPL", "JPM", "XOM"]
    for sym in res.summary.index:
        win = res.windows[res.windows.symbol == sym]
        n_bars = sp500_panel.arrays(sym)[4].size
        assert len(win) == len(walk_forward_windows(n_bars, train_bars=504, test_bars=126)) == 6
        r = res.returns[sym].dropna().to_numpy()
        assert r.size == win.oos_bars.sum() == n_bars - 504
        eq = res.equity[sym].dropna().to_numpy()
        np.testing.assert_allclose(eq, 100_000 * np.cumprod(1 + r), rtol=1e-12)
        # the stitched curve compounds the windows: its total return is the product of theirs
        assert eq[-1] / 100_000 == pytest.approx(np.prod(1 + win.oos_total_return.to_numpy()), rel=1e-10)
        row = res.summary.loc[sym]
        is_cagr = win.is_cagr.mean()
        expect_wfe = cagr(r, 252) / is_cagr if is_cagr > 0 else float("nan")
        assert row.wfe == pytest.approx(expect_wfe, nan_ok=True)
        chosen = list(zip(win.fast, win.slow, strict=True))
        assert row.modal_fraction == pytest.approx(max(chosen.count(x) for x in set(chosen)) / len(chosen))
        assert row.cv_fast == pytest.approx(np.std(win.fast) / np.mean(win.fast))
        assert row.cv_slow == pytest.approx(np.std(win.slow) / np.mean(win.slow))
        assert (win.test_start.to_numpy()[1:] > win.test_end.to_numpy()[:-1]).all()
    assert isinstance(res.equity.index, pd.DatetimeIndex)


def test_mapper_and_anchoring(sp500_panel: Panel) -> None:
    grid = {"fast": [10, 20], "slow": [50, 100]}
    kw: dict[str, Any] = {"train_bars": 600, "test_bars": 200, "symbols": ["JNJ"], "anchored": True}
    base = walk_forward(sp500_panel, "sma_cross", grid, **kw)

    def reversed_mapper(fn: Any, items: Any) -> list[Any]:  # evaluates out of order, like a cluster would
        items = list(items)
        return list(reversed([fn(x) for x in reversed(items)]))

    other = walk_forward(sp500_panel, "sma_cross", grid, mapper=reversed_mapper, **kw)
    pd.testing.assert_frame_equal(base.windows, other.windows)
    pd.testing.assert_frame_equal(base.equity, other.equity)
    assert (base.windows.train_start == base.windows.train_start.iloc[0]).all()  # anchored at the first bar


def test_user_strategy_takes_the_python_path_with_the_same_result(sp500_panel: Panel, sma_sets: list) -> None:
    sma = get_strategy("sma_cross")
    user = StrategySpec(
        name="sma_cross_user", params=sma.params, signal_kernel=sma.signal_kernel, constraints=sma.constraints
    )
    arrays = sp500_panel.arrays("AAPL")
    w = walk_forward_windows(arrays[4].size, train_bars=500, test_bars=250)[0]
    kw: dict[str, Any] = {
        "config": ExecutionConfig(fees=0.001),
        "periods_per_year": 252.0,
        "bars_per_day": 1.0,
    }
    a = evaluate_window(sma, arrays, sma_sets, w, **kw)
    b = evaluate_window(user, arrays, sma_sets, w, **kw)
    assert a.best == b.best
    np.testing.assert_allclose(a.oos_returns, b.oos_returns, rtol=0, atol=1e-12)


def test_selection_by_drawdown_prefers_the_smallest(sp500_panel: Panel, sma_sets: list) -> None:
    spec = get_strategy("sma_cross")
    arrays = sp500_panel.arrays("XOM")
    w = walk_forward_windows(arrays[4].size, train_bars=500, test_bars=250)[0]
    out = evaluate_window(
        spec,
        arrays,
        sma_sets,
        w,
        config=ExecutionConfig(),
        periods_per_year=252.0,
        bars_per_day=1.0,
        metric="max_drawdown",
    )
    mdd = out.is_metrics[:, METRIC_NAMES.index("max_drawdown")]
    assert out.best == int(np.argmin(mdd))
    with pytest.raises(ParameterError, match="unknown metric"):
        walk_forward(sp500_panel, spec, {"fast": [5]}, train_bars=500, test_bars=250, metric="alpha")
