"""Indicator kernels against slow, obviously-correct references (pandas rolling, pure-Python Pine-style loops),
on real AAPL closes and on hypothesis-generated price paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quantray.data import Panel, load_sample, read_bars
from quantray.engine import (
    atr,
    bollinger,
    donchian,
    ema,
    macd,
    rma,
    rolling_std,
    rolling_zscore,
    rsi,
    sma,
)
from quantray.errors import ParameterError

from ._reference import ref_atr, ref_ema, ref_macd, ref_rma, ref_rsi, ref_sma, ref_true_range

WINDOWS = [1, 2, 3, 5, 14, 20, 50, 200]


@pytest.fixture(scope="module")
def aapl(sp500_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    bars = read_bars(sp500_path, symbols=["AAPL"], on_bad="repair")
    _, o, h, lo, c, _ = Panel.from_bars(bars).arrays("AAPL")
    assert c.size == 1259
    return o, h, lo, c


def _same_nan(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg="warm-up (NaN) positions differ")


# ------------------------------------------------------------------------------------------ on real data


@pytest.mark.parametrize("n", WINDOWS)
def test_sma_matches_pandas_rolling_mean(aapl, n: int) -> None:
    c = aapl[3]
    expected = pd.Series(c).rolling(n).mean().to_numpy()
    got = sma(c, n)
    _same_nan(got, expected)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    np.testing.assert_allclose(got, ref_sma(c, n), rtol=1e-10)


@pytest.mark.parametrize("n", WINDOWS)
def test_ema_and_rma_are_seeded_with_the_sma(aapl, n: int) -> None:
    c = aapl[3]
    for fn, ref in ((ema, ref_ema), (rma, ref_rma)):
        got, expected = fn(c, n), ref(c, n)
        _same_nan(got, expected)
        assert np.isnan(got[: n - 1]).all() and got[n - 1] == pytest.approx(c[:n].mean(), rel=1e-12)
        np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_ema_is_not_pandas_ewm_adjust_true(aapl) -> None:
    """Guard against the common mistake: pandas' default ewm (adjust=True) is a different average."""
    c = aapl[3]
    got = ema(c, 20)
    wrong = pd.Series(c).ewm(span=20, adjust=True).mean().to_numpy()
    assert np.nanmax(np.abs(got[19:40] - wrong[19:40])) > 1e-3
    # after the seed has decayed both are the same recursion
    np.testing.assert_allclose(got[600:], wrong[600:], rtol=1e-8)


@pytest.mark.parametrize("n", [2, 5, 14, 30])
def test_rsi_matches_wilder_reference(aapl, n: int) -> None:
    c = aapl[3]
    got, expected = rsi(c, n), ref_rsi(c, n)
    _same_nan(got, expected)
    assert np.isnan(got[:n]).all() and np.isfinite(got[n:]).all()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)
    assert ((got[n:] >= 0) & (got[n:] <= 100)).all()


@pytest.mark.parametrize("n", [1, 5, 14, 50])
def test_atr_matches_reference(aapl, n: int) -> None:
    _, h, lo, c = aapl
    got, expected = atr(h, lo, c, n), ref_atr(h, lo, c, n)
    _same_nan(got, expected)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # TR with previous close, computed with pandas
    prev = pd.Series(c).shift(1)
    tr = pd.concat([pd.Series(h - lo), (pd.Series(h) - prev).abs(), (pd.Series(lo) - prev).abs()], axis=1)
    tr_pd = tr.max(axis=1).to_numpy().copy()
    tr_pd[0] = h[0] - lo[0]
    np.testing.assert_allclose(ref_true_range(h, lo, c), tr_pd, rtol=1e-15)
    if n == 1:
        np.testing.assert_allclose(got, tr_pd, rtol=1e-12)


@pytest.mark.parametrize(("n", "k"), [(2, 1.0), (20, 2.0), (50, 2.5)])
def test_bollinger_matches_pandas_population_std(aapl, n: int, k: float) -> None:
    c = aapl[3]
    s = pd.Series(c).rolling(n)
    mid_pd, sd_pd = s.mean().to_numpy(), s.std(ddof=0).to_numpy()
    mid, up, lo = bollinger(c, n, k)
    _same_nan(mid, mid_pd)
    np.testing.assert_allclose(mid, mid_pd, rtol=1e-10)
    np.testing.assert_allclose(up, mid_pd + k * sd_pd, rtol=1e-10)
    np.testing.assert_allclose(lo, mid_pd - k * sd_pd, rtol=1e-10)
    np.testing.assert_allclose(rolling_std(c, n), sd_pd, rtol=1e-8, atol=1e-10)
    # NOT the sample std (ddof=1): the difference is a factor sqrt(n/(n-1))
    sample = pd.Series(c).rolling(n).std(ddof=1).to_numpy()
    assert not np.allclose(rolling_std(c, n)[n:], sample[n:], rtol=1e-6)


@pytest.mark.parametrize("n", [5, 20, 60])
def test_rolling_zscore_matches_pandas(aapl, n: int) -> None:
    c = aapl[3]
    s = pd.Series(c).rolling(n)
    expected = ((pd.Series(c) - s.mean()) / s.std(ddof=0)).to_numpy()
    got = rolling_zscore(c, n)
    _same_nan(got, expected)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9)


def test_rolling_zscore_is_nan_where_std_is_zero() -> None:
    x = np.array([1.0, 2.0, 5.0, 5.0, 5.0, 6.0])
    z = rolling_zscore(x, 3)
    assert np.isnan(z[:2]).all() and np.isnan(z[4])
    assert z[2] == pytest.approx((5 - 8 / 3) / np.std([1, 2, 5]))
    assert z[5] == pytest.approx((6 - 16 / 3) / np.std([5, 5, 6]))


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (3, 10, 4), (1, 2, 1)])
def test_macd_matches_reference(aapl, fast: int, slow: int, signal: int) -> None:
    c = aapl[3]
    line, sig, hist = macd(c, fast, slow, signal)
    r_line, r_sig, r_hist = ref_macd(c, fast, slow, signal)
    _same_nan(line, r_line)
    _same_nan(sig, r_sig)
    assert np.isnan(sig[: slow + signal - 2]).all() and np.isfinite(sig[slow + signal - 2])
    np.testing.assert_allclose(line, r_line, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(sig, r_sig, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(hist, r_hist, rtol=1e-7, atol=1e-10)


def test_macd_rejects_fast_not_below_slow() -> None:
    with pytest.raises(ParameterError, match="fast < slow"):
        macd(np.arange(1.0, 50.0), 26, 12, 9)


@pytest.mark.parametrize("n", [1, 2, 10, 20, 55])
def test_donchian_matches_pandas_rolling_max_min(aapl, n: int) -> None:
    _, h, lo, _ = aapl
    up, dn, mid = donchian(h, lo, n)
    up_pd = pd.Series(h).rolling(n).max().to_numpy()
    dn_pd = pd.Series(lo).rolling(n).min().to_numpy()
    _same_nan(up, up_pd)
    np.testing.assert_array_equal(up, up_pd)
    np.testing.assert_array_equal(dn, dn_pd)
    np.testing.assert_allclose(mid, (up_pd + dn_pd) / 2, rtol=1e-15)


def test_short_input_is_all_warm_up() -> None:
    x = np.array([1.0, 2.0, 3.0])
    for got in (sma(x, 5), ema(x, 5), rma(x, 5), rsi(x, 5), rolling_std(x, 5)):
        assert got.shape == (3,) and np.isnan(got).all()


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_window_must_be_a_positive_integer(bad) -> None:
    with pytest.raises(ParameterError, match="`n`"):
        sma(np.arange(10.0), bad)


# ------------------------------------------------------------------------------------ hypothesis inputs


@st.composite
def price_paths(draw, min_size: int = 1, max_size: int = 300) -> np.ndarray:
    """A positive random-walk price path (log returns within ±20 % a bar)."""
    n = draw(st.integers(min_size, max_size))
    rets = draw(arrays(np.float64, n, elements=st.floats(-0.2, 0.2, allow_nan=False)))
    start = draw(st.floats(0.5, 5000.0))
    return start * np.exp(np.cumsum(rets))


HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYP
@given(x=price_paths(), n=st.integers(1, 40))
def test_moving_averages_hypothesis(x: np.ndarray, n: int) -> None:
    scale = np.abs(x).max()
    for got, expected in (
        (sma(x, n), pd.Series(x).rolling(n).mean().to_numpy()),
        (ema(x, n), ref_ema(x, n)),
        (rma(x, n), ref_rma(x, n)),
    ):
        _same_nan(got, expected)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * scale)


@HYP
@given(x=price_paths(min_size=2), n=st.integers(1, 30))
def test_rsi_hypothesis(x: np.ndarray, n: int) -> None:
    got, expected = rsi(x, n), ref_rsi(x, n)
    _same_nan(got, expected)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-8)


@HYP
@given(x=price_paths(min_size=3), n=st.integers(2, 30), data=st.data())
def test_high_low_indicators_hypothesis(x: np.ndarray, n: int, data) -> None:
    m = x.size
    up = data.draw(arrays(np.float64, m, elements=st.floats(0.0, 0.1)))
    dn = data.draw(arrays(np.float64, m, elements=st.floats(0.0, 0.1)))
    h, lo = x * (1 + up), x * (1 - dn)
    np.testing.assert_allclose(atr(h, lo, x, n), ref_atr(h, lo, x, n), rtol=1e-9, atol=1e-12 * x.max())
    u, d, _ = donchian(h, lo, n)
    np.testing.assert_array_equal(u, pd.Series(h).rolling(n).max().to_numpy())
    np.testing.assert_array_equal(d, pd.Series(lo).rolling(n).min().to_numpy())
    sd = rolling_std(x, n)
    sd_np = np.full(m, np.nan)
    for t in range(n - 1, m):
        sd_np[t] = np.std(x[t - n + 1 : t + 1])
    np.testing.assert_allclose(sd, sd_np, rtol=1e-9, atol=1e-12 * x.max())


@HYP
@given(x=price_paths(min_size=2), fast=st.integers(1, 15), gap=st.integers(1, 15), signal=st.integers(1, 12))
def test_macd_hypothesis(x: np.ndarray, fast: int, gap: int, signal: int) -> None:
    slow = fast + gap
    for got, expected in zip(macd(x, fast, slow, signal), ref_macd(x, fast, slow, signal), strict=True):
        _same_nan(got, expected)
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10 * x.max())


# ------------------------------------------------------ RSI when the average loss is 0 (TradingView's ta.rsi)


def _tv_rsi(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TradingView's ``ta.rsi`` written out in pure Python: ``up``/``down`` are Wilder's RMA (``ta.rma``: seeded
    with the SMA of the first n changes, then ``alpha·x + (1 − alpha)·prev``, alpha = 1/n) of the positive and
    negative close-to-close changes; the value is ``down == 0 ? 100 : up == 0 ? 0 : 100 − 100/(1 + up/down)``.
    Returns (rsi, up, down), NaN before t = n."""
    m = len(x)
    out, ups, downs = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    changes = [float(x[t]) - float(x[t - 1]) for t in range(1, m)]
    alpha = 1.0 / n
    up = down = 0.0
    for t in range(n, m):
        if t == n:
            up = sum(max(d, 0.0) for d in changes[:n]) / n
            down = sum(max(-d, 0.0) for d in changes[:n]) / n
        else:
            d = changes[t - 1]
            up = alpha * max(d, 0.0) + (1.0 - alpha) * up
            down = alpha * max(-d, 0.0) + (1.0 - alpha) * down
        out[t] = 100.0 if down == 0 else 0.0 if up == 0 else 100.0 - 100.0 / (1.0 + up / down)
        ups[t], downs[t] = up, down
    return out, ups, downs


@pytest.fixture(scope="module")
def sample_panel() -> Panel:
    return Panel.from_bars(load_sample())


def test_rsi_is_100_where_the_average_loss_is_0_as_tradingview(sample_panel: Panel) -> None:
    """On the bundled sample: highest(high, 200) only rises or stays flat for long stretches (average loss 0,
    and both averages 0 after a flat seed: the reviewer's case, 612 bars for n = 2), lowest(low, 200) only
    falls or stays flat (average gain 0), and a close series that starts with a flat stretch of its first price
    seeds both averages at 0. The engine's rsi is TradingView's there (100 when the loss is 0, gain 0 or not;
    0 when only the gain is 0) and equals the pure-Python ``ta.rsi`` to 1e-12 everywhere it is defined."""
    both_zero: dict[int, int] = {2: 0, 14: 0}
    loss_zero = gain_zero = 0
    for sym in sample_panel.symbols:
        _, _, h, lo, c, _ = sample_panel.arrays(sym)
        highest = pd.Series(h).rolling(200).max().to_numpy()[199:]
        lowest = pd.Series(lo).rolling(200).min().to_numpy()[199:]
        flat_start = np.concatenate([np.full(30, c[0]), c])
        for x in (highest, lowest, flat_start, c):
            assert np.isfinite(x).all()
            for n in (2, 14):
                got = rsi(x, n)
                expected, up, down = _tv_rsi(x, n)
                _same_nan(got, expected)
                np.testing.assert_allclose(got, expected, rtol=0.0, atol=1e-12)
                defined = ~np.isnan(expected)
                no_loss = defined & (down == 0.0)
                only_no_gain = defined & (up == 0.0) & (down > 0.0)
                assert (got[no_loss] == 100.0).all()
                assert (got[only_no_gain] == 0.0).all()
                loss_zero += int(no_loss.sum())
                gain_zero += int(only_no_gain.sum())
                if x is highest:
                    both_zero[n] += int((no_loss & (up == 0.0)).sum())
        # the flat start: both averages are 0 from the seed until the first change
        r = rsi(flat_start, 14)
        assert (r[14:30] == 100.0).all()
    assert both_zero[2] == 612 and both_zero[14] > 0  # was 50 before: 612 of 25,180 bars for rsi(highest, 2)
    assert loss_zero > 0 and gain_zero > 0


def _pd_rma(s: pd.Series, n: int) -> pd.Series:
    """``ta.rma`` with pandas: the mean of the first n defined values, then ``ewm(alpha=1/n, adjust=False)``."""
    v = s.dropna()
    seeded = pd.concat([pd.Series([v.iloc[:n].mean()], index=[v.index[n - 1]]), v.iloc[n:]])
    return seeded.ewm(alpha=1.0 / n, adjust=False).mean().reindex(s.index)


def test_reviewers_rule_signal_matches_pandas_with_the_tradingview_convention(sample_panel: Panel) -> None:
    """``below(rsi(highest(high,200),2),80)`` as exported to Pine (``ta.rsi(ta.highest(high, 200), 2) < 80``):
    quantray's signal on every sample symbol equals a pandas evaluation with TradingView's RSI, including the
    bars where highest() has been flat since the RSI's seed (RSI 100: flat, not long)."""
    from quantray.search import rule_spec

    spec = rule_spec("below(rsi(highest(high,200),2),80)")
    flat_bars = 0
    for sym in sample_panel.symbols:
        _, o, h, lo, c, v = sample_panel.arrays(sym)
        d = pd.Series(h).rolling(200).max().diff()
        up, down = _pd_rma(d.clip(lower=0.0), 2), _pd_rma((-d).clip(lower=0.0), 2)
        r = np.where(down == 0.0, 100.0, np.where(up == 0.0, 0.0, 100.0 - 100.0 / (1.0 + up / down)))
        r[(up.isna() | down.isna()).to_numpy()] = np.nan
        expected = (r < 80.0).astype(np.int8)  # NaN compares false: flat during the warm-up
        np.testing.assert_array_equal(spec.signal(o, h, lo, c, v), expected, err_msg=sym)
        flat_bars += int(((up == 0.0) & (down == 0.0)).sum())
    assert flat_bars == 612
