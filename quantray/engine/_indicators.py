"""Numba indicator kernels: float64 arrays in, float64 arrays out (NaN during the warm-up).

Conventions follow TradingView's Pine ``ta.*`` functions so that exported Pine Script reproduces the backtest:

* ``sma(x, n)``: mean of the last n values including t; NaN for t < n - 1.
* ``ema(x, n)``: alpha = 2 / (n + 1), seeded with the SMA of the first n values (``ta.ema``).
* ``rma(x, n)``: Wilder's moving average, alpha = 1 / n, seeded with the SMA of the first n values (``ta.rma``).
* ``rsi(close, n)``: Wilder RSI over close-to-close changes; the first value is at t = n. Computed as
  100·g/(g + l) from the average gain g and loss l (:func:`rsi_value`: Pine's 100 − 100/(1 + g/l) with one
  division instead of two); as ``ta.rsi``, 100 when l = 0, including when g = 0 too (a flat stretch), and 0 when
  only g = 0.
* ``atr(high, low, close, n)``: RMA of the true range; TR[0] = high[0] - low[0].
* ``rolling_std(x, n)``: population standard deviation (ddof=0), as ``ta.stdev`` and Bollinger bands use.
* ``bollinger(x, n, k)``: (middle = SMA, upper = SMA + k·std, lower = SMA − k·std).
* ``macd(x, fast, slow, signal)``: (macd = EMA_fast − EMA_slow, signal = EMA of macd, hist = macd − signal).
* ``rolling_zscore(x, n)``: (x − SMA) / std (population), NaN where std is 0.
* ``donchian(high, low, n)``: (upper = highest high of the last n bars incl. t, lower = lowest low, middle).

Running sums add the change ``x[t] − x[t−n]``; exponential averages step as ``alpha·x + (1 − alpha)·prev``, the
operations of Pine's ``ta.ema``/``ta.rma``. The GA's compiled kernels (``quantray.search._kernels``) do the same
operations, and so do the built-in strategies' ema/rsi steps: their values equal the engine's bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sma_kernel(x, n):
    m = x.shape[0]
    out = np.full(m, np.nan)
    s = 0.0
    for t in range(m):
        if t >= n:
            s += x[t] - x[t - n]  # one addition on the loop-carried chain
        else:
            s += x[t]
        if t >= n - 1:
            out[t] = s / n
    return out


@njit(cache=True)
def _seeded_ma(x, n, alpha, start):
    """Moving average with smoothing ``alpha`` seeded by the SMA of x[start : start + n]."""
    m = x.shape[0]
    out = np.full(m, np.nan)
    if start + n > m:
        return out
    s = 0.0
    for t in range(start, start + n):
        s += x[t]
    val = s / n
    out[start + n - 1] = val
    beta = 1.0 - alpha
    for t in range(start + n, m):
        val = alpha * x[t] + beta * val  # ta.ema / ta.rma: alpha * src + (1 - alpha) * prev
        out[t] = val
    return out


@njit(cache=True)
def ema_kernel(x, n):
    return _seeded_ma(x, n, 2.0 / (n + 1.0), 0)


@njit(cache=True)
def rma_kernel(x, n):
    return _seeded_ma(x, n, 1.0 / n, 0)


@njit(cache=True, inline="always")
def rsi_value(g, lo):
    """RSI from the average gain and loss (both >= 0): 100·g/(g + lo), one division; 100 when lo is 0, whatever g
    (``ta.rsi``: ``down == 0 ? 100 : up == 0 ? 0 : 100 - 100 / (1 + up / down)``; 100·0/lo is already 0)."""
    return 100.0 if lo == 0.0 else 100.0 * (g / (g + lo))


@njit(cache=True)
def rsi_kernel(c, n):
    m = c.shape[0]
    out = np.full(m, np.nan)
    if m <= n:
        return out
    g = 0.0
    lo = 0.0
    for t in range(1, n + 1):
        ch = c[t] - c[t - 1]
        if ch > 0.0:
            g += ch
        else:
            lo -= ch
    g /= n
    lo /= n
    a = 1.0 / n
    b = 1.0 - a
    for t in range(n, m):
        if t > n:
            ch = c[t] - c[t - 1]
            up = ch if ch > 0.0 else 0.0
            dn = -ch if ch < 0.0 else 0.0
            g = a * up + b * g  # ta.rma steps
            lo = a * dn + b * lo
        out[t] = rsi_value(g, lo)
    return out


@njit(cache=True)
def true_range_kernel(h, l, c):
    m = c.shape[0]
    tr = np.empty(m)
    for t in range(m):
        if t == 0:
            tr[t] = h[t] - l[t]
        else:
            tr[t] = max(h[t] - l[t], abs(h[t] - c[t - 1]), abs(l[t] - c[t - 1]))
    return tr


@njit(cache=True)
def atr_kernel(h, l, c, n):
    return rma_kernel(true_range_kernel(h, l, c), n)


@njit(cache=True)
def rolling_std_kernel(x, n):
    m = x.shape[0]
    out = np.full(m, np.nan)
    for t in range(n - 1, m):
        s = 0.0
        for k in range(t - n + 1, t + 1):
            s += x[k]
        mu = s / n
        v = 0.0
        for k in range(t - n + 1, t + 1):
            d = x[k] - mu
            v += d * d
        out[t] = np.sqrt(v / n)
    return out


@njit(cache=True)
def rolling_max_kernel(x, n):
    m = x.shape[0]
    out = np.full(m, np.nan)
    for t in range(n - 1, m):
        mx = x[t - n + 1]
        for k in range(t - n + 2, t + 1):
            if x[k] > mx:
                mx = x[k]
        out[t] = mx
    return out


@njit(cache=True)
def rolling_min_kernel(x, n):
    m = x.shape[0]
    out = np.full(m, np.nan)
    for t in range(n - 1, m):
        mn = x[t - n + 1]
        for k in range(t - n + 2, t + 1):
            if x[k] < mn:
                mn = x[k]
        out[t] = mn
    return out


@njit(cache=True)
def macd_kernel(x, fast, slow, signal):
    line = ema_kernel(x, fast) - ema_kernel(x, slow)
    sig = _seeded_ma(line, signal, 2.0 / (signal + 1.0), slow - 1)
    return line, sig, line - sig
