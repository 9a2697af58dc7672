"""Regime labels against pandas/numpy references; per-regime metrics partition the history exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantray.data import Panel
from quantray.engine import ExecutionConfig, simulate, total_return
from quantray.errors import ParameterError
from quantray.research import (
    TREND_REGIMES,
    VOLATILITY_REGIMES,
    regime_analysis,
    regime_metrics,
    trend_regimes,
    volatility_regimes,
)
from quantray.strategies import get_strategy


def test_volatility_terciles_match_pandas(sp500_panel: Panel) -> None:
    c = sp500_panel.arrays("JPM")[4]
    lab = volatility_regimes(c, window=21)
    vol = pd.Series(np.log(c)).diff().rolling(21).std().to_numpy()  # ddof=1, ends at t
    ok = ~np.isnan(vol)
    lo, hi = np.quantile(vol[ok], [1 / 3, 2 / 3])
    ref = np.where(vol <= lo, 0, np.where(vol <= hi, 1, 2))
    assert (lab[~ok] == -1).all() and ok.sum() == c.size - 21
    np.testing.assert_array_equal(lab[ok], ref[ok])
    counts = np.bincount(lab[ok])
    assert counts.min() >= counts.max() - 2  # terciles


@pytest.mark.parametrize("method", ["return", "slope"])
def test_trend_labels_match_a_reference(sp500_panel: Panel, method: str) -> None:
    c = sp500_panel.arrays("XOM")[4]
    lab = trend_regimes(c, window=63, threshold=0.05, method=method)  # type: ignore[arg-type]
    lc = np.log(c)
    for t in (62, 63, 64, 500, 1258):
        if t < 63:
            assert lab[t] == -1
            continue
        if method == "return":
            trend = lc[t] - lc[t - 63]
        else:
            trend = np.polyfit(np.arange(64), lc[t - 63 : t + 1], 1)[0] * 63
        assert lab[t] == (2 if trend > 0.05 else 0 if trend < -0.05 else 1)
    assert set(np.unique(lab)) == {-1, 0, 1, 2}


def test_regime_metrics_partition_the_returns(aapl_returns: np.ndarray) -> None:
    r = aapl_returns
    lab = volatility_regimes(np.r_[1.0, np.cumprod(1 + r)][1:], window=10)
    tab = regime_metrics(r, lab, periods_per_year=252, lag=1, benchmark=r * 0.5)
    shifted = np.r_[-1, lab[:-1]]
    assert list(tab.index) == list(VOLATILITY_REGIMES)
    assert tab.bars.sum() == (shifted >= 0).sum()
    assert tab.fraction.sum() == pytest.approx(1.0)
    # compounding the regimes' returns gives the labelled bars' total growth
    assert np.prod(1 + tab.total_return) == pytest.approx(1 + total_return(r[shifted >= 0]), rel=1e-10)
    hi = r[shifted == 2]
    assert tab.loc["high_vol", "ann_return"] == pytest.approx(hi.mean() * 252)
    assert tab.loc["high_vol", "volatility"] == pytest.approx(hi.std(ddof=1) * np.sqrt(252))
    assert tab.loc["high_vol", "bench_ann_return"] == pytest.approx(hi.mean() * 126)
    # realised volatility is higher in the high-volatility regime, on the next bar too
    assert (
        tab.loc["low_vol", "volatility"]
        < tab.loc["mid_vol", "volatility"]
        < tab.loc["high_vol", "volatility"]
    )
    with pytest.raises(ParameterError, match="equal length"):
        regime_metrics(r, lab[:-1])


def test_regime_analysis_on_real_data(sp500_panel: Panel) -> None:
    cfg = ExecutionConfig(fees=0.0005)
    tab = regime_analysis(
        sp500_panel, "sma_cross", {"fast": 20, "slow": 100}, kind="trend", symbols=["AAPL", "JNJ"], config=cfg
    )
    assert list(tab.index.get_level_values("symbol").unique()) == ["AAPL", "JNJ"]
    spec = get_strategy("sma_cross")
    for sym in ("AAPL", "JNJ"):
        part = tab.loc[sym]
        assert list(part.index) == list(TREND_REGIMES)
        _, o, h, lo, c, v = sp500_panel.arrays(sym)
        lab = trend_regimes(c, window=63, threshold=0.05)
        labelled = np.r_[-1, lab[:-1]] >= 0
        sim = simulate(o, h, lo, c, v, spec.signal(o, h, lo, c, v, {"fast": 20, "slow": 100}), config=cfg)
        growth = np.prod(1 + sim.returns[labelled])
        assert np.prod(1 + part.total_return.fillna(0)) == pytest.approx(growth, rel=1e-10)
        bench = np.r_[0.0, c[1:] / c[:-1] - 1][labelled]
        assert np.prod(1 + part.bench_total_return.fillna(0)) == pytest.approx(np.prod(1 + bench), rel=1e-10)
    with pytest.raises(ParameterError, match="`kind`"):
        regime_analysis(sp500_panel, "sma_cross", kind="moon", symbols=["AAPL"])  # type: ignore[arg-type]
