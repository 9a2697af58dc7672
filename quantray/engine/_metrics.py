"""Numba metric kernels over per-bar simple returns, and trade bookkeeping from fills.

Conventions (DESIGN.md §3, equal to empyrical where empyrical defines the metric):

* returns are simple per-bar returns; ``ann`` is the number of bars per year;
* volatility = std(r, ddof=1) · sqrt(ann);
* Sharpe = mean(r − rf) / std(r − rf, ddof=1) · sqrt(ann), NaN for fewer than 2 returns or zero dispersion;
* Sortino = mean(r − rf) · ann / (sqrt(mean(min(r − rf, 0)²)) · sqrt(ann));
* CAGR = (Π(1 + r)) ** (ann / n) − 1 (−1 once equity is wiped out);
* max drawdown = max over t of 1 − V_t / max_{s≤t} V_s with V_{-1} = 1, a POSITIVE fraction (empyrical
  reports it negative); its duration is the longest run of bars spent below a previous peak;
* Calmar = CAGR / max drawdown;
* historical VaR at level α = the α-quantile of returns (linear interpolation, ``np.percentile``), CVaR = mean
  of the ⌊(n − 1)·α⌋ + 1 smallest returns (empyrical's ``conditional_value_at_risk``). Both are returns,
  typically negative.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def returns_from_equity(equity, init_cash):
    n = equity.shape[0]
    r = np.empty(n)
    prev = init_cash
    for t in range(n):
        r[t] = equity[t] / prev - 1.0
        prev = equity[t]
    return r


@njit(cache=True)
def total_return_kernel(r):
    g = 1.0
    for t in range(r.shape[0]):
        g *= 1.0 + r[t]
    return g - 1.0


@njit(cache=True)
def cagr_kernel(r, ann):
    n = r.shape[0]
    if n < 1:
        return np.nan
    g = total_return_kernel(r) + 1.0
    if g <= 0.0:
        return -1.0
    return g ** (ann / n) - 1.0


@njit(cache=True)
def _mean_std(r):
    n = r.shape[0]
    mu = 0.0
    for t in range(n):
        mu += r[t]
    mu /= n
    v = 0.0
    for t in range(n):
        d = r[t] - mu
        v += d * d
    return mu, math.sqrt(v / (n - 1))


@njit(cache=True)
def volatility_kernel(r, ann):
    if r.shape[0] < 2:
        return np.nan
    _, sd = _mean_std(r)
    return sd * math.sqrt(ann)


@njit(cache=True)
def sharpe_kernel(r, ann, rf):
    if r.shape[0] < 2:
        return np.nan
    mu, sd = _mean_std(r)
    if sd == 0.0 or sd < 1e-14 * abs(mu):
        return np.nan
    return (mu - rf) / sd * math.sqrt(ann)


@njit(cache=True)
def sortino_kernel(r, ann, rf):
    n = r.shape[0]
    if n < 2:
        return np.nan
    mu = 0.0
    dn = 0.0
    for t in range(n):
        a = r[t] - rf
        mu += a
        if a < 0.0:
            dn += a * a
    mu /= n
    dd = math.sqrt(dn / n) * math.sqrt(ann)
    if dd == 0.0:
        return np.inf if mu > 0.0 else np.nan
    return mu * ann / dd


@njit(cache=True)
def drawdown_kernel(r):
    """(max drawdown as a positive fraction, longest underwater run in bars)."""
    v = 1.0
    peak = 1.0
    mdd = 0.0
    run = 0
    longest = 0
    for t in range(r.shape[0]):
        v *= 1.0 + r[t]
        if v >= peak:
            peak = v
            run = 0
        else:
            run += 1
            if run > longest:
                longest = run
            dd = 1.0 - v / peak
            if dd > mdd:
                mdd = dd
    return mdd, longest


@njit(cache=True)
def trades_from_fills(fills, k, last_close, n_bars):
    """Group fill rows ``(bar, signed qty, price, fee)`` into round-trip trades.

    Returns an (m, 8) array of ``entry_bar, exit_bar (-1 while open), direction, size, entry_price,
    exit_price, fees, pnl``; prices are size-weighted averages; the pnl of an open trade is marked at
    ``last_close`` (no exit fee).
    """
    out = np.empty((k, 8))
    m = 0
    pos = 0.0
    for i in range(k):
        bar = fills[i, 0]
        q = fills[i, 1]
        p = fills[i, 2]
        f = fills[i, 3]
        if pos == 0.0:
            out[m, 0] = bar
            out[m, 1] = -1.0
            out[m, 2] = 1.0 if q > 0.0 else -1.0
            out[m, 3] = 0.0
            out[m, 4] = 0.0  # entry value accumulator
            out[m, 5] = 0.0  # exit value accumulator
            out[m, 6] = 0.0
            out[m, 7] = 0.0  # exit qty accumulator
            m += 1
        j = m - 1
        d = out[j, 2]
        out[j, 6] += f
        if q * d > 0.0:  # adds to the position
            out[j, 3] += abs(q)
            out[j, 4] += abs(q) * p
        else:
            out[j, 5] += abs(q) * p
            out[j, 7] += abs(q)
        pos += q
        if abs(pos) <= 1e-12 * max(abs(q), 1e-300):
            pos = 0.0
            out[j, 1] = bar
    for j in range(m):
        size = out[j, 3]
        entry_value = out[j, 4]
        exit_value = out[j, 5]
        exit_qty = out[j, 7]
        d = out[j, 2]
        if out[j, 1] < 0.0:  # still open: mark the remainder at the last close
            exit_value += (size - exit_qty) * last_close
            exit_price = last_close if exit_qty == 0.0 else exit_value / size
        else:
            exit_price = exit_value / exit_qty if exit_qty > 0.0 else np.nan
        out[j, 4] = entry_value / size if size > 0.0 else np.nan
        out[j, 7] = d * (exit_value - entry_value) - out[j, 6]
        out[j, 5] = exit_price
    return out[:m]


@njit(cache=True)
def impact_inputs(c, v, window, bars_per_day):
    """Trailing σ_daily of simple returns and ADV (shares per day) over ``window`` bars before bar t."""
    n = c.shape[0]
    sig = np.full(n, np.nan)
    adv = np.full(n, np.nan)
    for t in range(window + 1, n):
        s = 0.0
        s2 = 0.0
        vol = 0.0
        for k in range(t - window, t):
            r = c[k] / c[k - 1] - 1.0
            s += r
            s2 += r * r
            vol += v[k]
        mu = s / window
        var = (s2 - window * mu * mu) / (window - 1)
        sig[t] = math.sqrt(max(var, 0.0)) * math.sqrt(bars_per_day)
        adv[t] = vol / window * bars_per_day
    return sig, adv


@njit(cache=True)
def var_kernel(r, alpha):
    if r.shape[0] < 1:
        return np.nan
    return np.percentile(r, 100.0 * alpha)


@njit(cache=True)
def cvar_kernel(r, alpha):
    n = r.shape[0]
    if n < 1:
        return np.nan
    k = int((n - 1) * alpha)
    # the k+1 smallest, sorted: the same values in the same order as a full sort's first k+1 (so the same mean)
    # in O(n + k log k) instead of O(n log n)
    return np.mean(np.sort(np.partition(r, k)[: k + 1]))
