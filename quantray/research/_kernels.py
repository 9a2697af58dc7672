"""Numba kernels of quantray.research: counter-based random numbers, bootstrap indices, path statistics,
synthetic OHLC paths, windowed strategy simulations, the GARCH(1,1) likelihood and regime features.

Everything here is a pure kernel (arrays and scalars in, arrays or scalars out), no pandas, no I/O.

Random numbers are *counter based*: path ``p`` of a Monte Carlo run with seed ``s`` draws from its own
SplitMix64 stream whose state is derived from ``(s, p)`` only (:func:`path_state`). A path therefore gets the
same numbers whichever batch, thread or Ray worker evaluates it, so results do not depend on how the paths
are split into batches. SplitMix64 (Steele, Lea & Flood 2014) passes BigCrush and is the seeding generator of
``xoshiro``; uniforms take the top 53 bits, normals use Box–Muller.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from quantray.engine._metrics import (
    cagr_kernel,
    drawdown_kernel,
    impact_inputs,
    returns_from_equity,
    sharpe_kernel,
    total_return_kernel,
    volatility_kernel,
)
from quantray.engine._sim import N_METRICS, simulate_records
from quantray.strategies._kernels import derive, fused_run, signal_array

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53

#: Columns written by :func:`path_stats`.
N_PATH_STATS = 6

# Synthetic price-path modes of :func:`synth_ohlc`.
MODE_BOOTSTRAP = 0
MODE_GBM = 1
MODE_GARCH = 2


# ------------------------------------------------------------------------------------------ random numbers
@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def path_state(seed, path):
    """Initial SplitMix64 state of path ``path`` under ``seed`` (both non-negative integers)."""
    s = _mix(np.uint64(seed) + _GOLDEN)
    return _mix(s ^ (np.uint64(path) * _GOLDEN + _M2))


@njit(cache=True, inline="always")
def next_u64(state):
    """SplitMix64 step: (new state, 64 random bits)."""
    state = state + _GOLDEN
    return state, _mix(state)


@njit(cache=True, inline="always")
def next_uniform(state):
    """(new state, uniform in [0, 1)) from the top 53 bits."""
    state, x = next_u64(state)
    return state, float(x >> np.uint64(11)) * _INV53


@njit(cache=True, inline="always")
def next_index(state, n):
    """(new state, uniform integer in [0, n))."""
    state, u = next_uniform(state)
    i = int(u * n)
    if i >= n:
        i = n - 1
    return state, i


@njit(cache=True, inline="always")
def next_normal(state):
    """(new state, standard normal) by Box–Muller (cosine branch; two uniforms per draw)."""
    state, u1 = next_uniform(state)
    state, u2 = next_uniform(state)
    return state, math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def uniforms(seed, path, n):
    """``n`` uniforms of path ``path`` under ``seed`` (exposed for reference tests)."""
    state = path_state(seed, path)
    out = np.empty(n)
    for i in range(n):
        state, out[i] = next_uniform(state)
    return out


@njit(cache=True, inline="always")
def fill_indices(state, n_src, out, mean_block):
    """Stationary-bootstrap indices into ``n_src`` items (Politis & Romano 1994) written to ``out``.

    A block starts at a uniform random position and continues (circularly) with probability
    ``1 - 1/mean_block`` per step, so block lengths are geometric with mean ``mean_block``; ``mean_block <= 1``
    is the i.i.d. bootstrap. Returns the new state.
    """
    p = 1.0 / mean_block if mean_block > 1.0 else 1.0
    n_out = out.shape[0]
    if n_out == 0:
        return state
    state, i = next_index(state, n_src)
    out[0] = i
    for t in range(1, n_out):
        state, u = next_uniform(state)
        if u < p:
            state, i = next_index(state, n_src)
        else:
            i += 1
            if i >= n_src:
                i = 0
        out[t] = i
    return state


@njit(cache=True)
def bootstrap_indices(n_src, n_out, mean_block, seed, path):
    """Indices of one bootstrap path (see :func:`fill_indices`)."""
    out = np.empty(n_out, dtype=np.int64)
    fill_indices(path_state(seed, path), n_src, out, mean_block)
    return out


@njit(cache=True, parallel=True)
def bootstrap_index_matrix(n_src, n_out, mean_block, seed, paths):
    """Indices of many bootstrap paths: row j holds path ``paths[j]``."""
    out = np.empty((paths.shape[0], n_out), dtype=np.int64)
    for j in prange(paths.shape[0]):
        fill_indices(path_state(seed, paths[j]), n_src, out[j], mean_block)
    return out


@njit(cache=True, inline="always")
def _shuffle(state, a):
    """In-place Fisher–Yates shuffle; returns the new state."""
    for i in range(a.shape[0] - 1, 0, -1):
        state, j = next_index(state, i + 1)
        tmp = a[i]
        a[i] = a[j]
        a[j] = tmp
    return state


# ------------------------------------------------------------------------------------------ path statistics
@njit(cache=True)
def path_stats(r, init_cash, ann, out):
    """Write ``final_equity, total_return, cagr, sharpe, max_drawdown, volatility`` of simple returns ``r``."""
    tr = total_return_kernel(r)
    out[0] = init_cash * (1.0 + tr)
    out[1] = tr
    out[2] = cagr_kernel(r, ann)
    out[3] = sharpe_kernel(r, ann, 0.0)
    out[4] = drawdown_kernel(r)[0]
    out[5] = volatility_kernel(r, ann)


@njit(cache=True, parallel=True)
def bootstrap_returns_batch(r, paths, seed, horizon, mean_block, init_cash, ann):
    """Path statistics of block-bootstrapped return paths (one row per entry of ``paths``)."""
    k = paths.shape[0]
    out = np.empty((k, N_PATH_STATS))
    for j in prange(k):
        idx = np.empty(horizon, dtype=np.int64)
        fill_indices(path_state(seed, paths[j]), r.shape[0], idx, mean_block)
        path_stats(r[idx], init_cash, ann, out[j])
    return out


@njit(cache=True, parallel=True)
def shuffle_returns_batch(r, paths, seed, init_cash, ann):
    """Path statistics of random permutations of ``r`` (same final equity, different path)."""
    k = paths.shape[0]
    out = np.empty((k, N_PATH_STATS))
    for j in prange(k):
        a = r.copy()
        _shuffle(path_state(seed, paths[j]), a)
        path_stats(a, init_cash, ann, out[j])
    return out


@njit(cache=True, parallel=True)
def gbm_returns_batch(mu, sigma, paths, seed, horizon, init_cash, ann):
    """Path statistics of GBM paths: log returns i.i.d. N(mu, sigma²) per bar, simple r = exp(x) − 1."""
    k = paths.shape[0]
    out = np.empty((k, N_PATH_STATS))
    for j in prange(k):
        state = path_state(seed, paths[j])
        r = np.empty(horizon)
        for t in range(horizon):
            state, z = next_normal(state)
            r[t] = math.expm1(mu + sigma * z)
        path_stats(r, init_cash, ann, out[j])
    return out


@njit(cache=True, inline="always")
def _garch_step(state, mu, omega, alpha, beta, h):
    state, z = next_normal(state)
    eps = math.sqrt(h) * z
    return state, mu + eps, omega + alpha * eps * eps + beta * h


@njit(cache=True, parallel=True)
def garch_returns_batch(mu, omega, alpha, beta, h0, paths, seed, horizon, init_cash, ann):
    """Path statistics of GARCH(1,1) paths of log returns x = mu + sqrt(h)·z, r = exp(x) − 1, from h = h0."""
    k = paths.shape[0]
    out = np.empty((k, N_PATH_STATS))
    for j in prange(k):
        state = path_state(seed, paths[j])
        r = np.empty(horizon)
        h = h0
        for t in range(horizon):
            state, x, h = _garch_step(state, mu, omega, alpha, beta, h)
            r[t] = math.expm1(x)
        path_stats(r, init_cash, ann, out[j])
    return out


# ------------------------------------------------------------------------------------------ GARCH(1,1) fit
@njit(cache=True)
def garch_variance(x, mu, omega, alpha, beta, backcast):
    """Conditional variances h_t = ω + α e²_{t−1} + β h_{t−1}, with e_{−1}² = h_{−1} = ``backcast``."""
    n = x.shape[0]
    h = np.empty(n)
    e2 = backcast
    hp = backcast
    for t in range(n):
        h[t] = omega + alpha * e2 + beta * hp
        e = x[t] - mu
        e2 = e * e
        hp = h[t]
    return h


@njit(cache=True)
def garch_nll(x, mu, omega, alpha, beta, backcast):
    """Gaussian negative log-likelihood of a constant-mean GARCH(1,1)."""
    h = garch_variance(x, mu, omega, alpha, beta, backcast)
    s = 0.0
    for t in range(x.shape[0]):
        if not h[t] > 0.0:
            return 1e300
        e = x[t] - mu
        s += math.log(h[t]) + e * e / h[t]
    return 0.5 * (x.shape[0] * math.log(2.0 * math.pi) + s)


# ------------------------------------------------------------------------------------------ synthetic OHLC
@njit(cache=True)
def synth_ohlc(state, mode, logret, oc, hc, lc, vol, bar0, model, horizon, mean_block):
    """One synthetic OHLCV path of ``horizon`` bars; returns (state, o, h, l, c, v).

    Bar 0 is ``bar0`` = (o, h, l, c, v) of the real first bar. For t ≥ 1 the close moves by a log return
    and the bar takes the intrabar shape (open/close, high/close, low/close ratios and volume) of a source
    bar, so every synthetic bar is a valid OHLC bar:

    * ``MODE_BOOTSTRAP``: source bars drawn by the stationary bootstrap (``mean_block <= 1``: i.i.d.); the
      log return is the source bar's own close-to-close return;
    * ``MODE_GBM``: log return ~ N(model[0], model[1]²), shape from an i.i.d. source bar;
    * ``MODE_GARCH``: log return from GARCH(1,1) with (mu, omega, alpha, beta) = model[0:4], h₀ = model[4];
      shape from an i.i.d. source bar.
    """
    n_src = logret.shape[0]
    o = np.empty(horizon)
    h = np.empty(horizon)
    lo = np.empty(horizon)
    c = np.empty(horizon)
    v = np.empty(horizon)
    o[0] = bar0[0]
    h[0] = bar0[1]
    lo[0] = bar0[2]
    c[0] = bar0[3]
    v[0] = bar0[4]
    idx = np.empty(horizon - 1, dtype=np.int64)
    state = fill_indices(state, n_src, idx, mean_block if mode == MODE_BOOTSTRAP else 1.0)
    hv = model[4]
    for t in range(1, horizon):
        j = idx[t - 1]
        if mode == MODE_BOOTSTRAP:
            x = logret[j]
        elif mode == MODE_GBM:
            state, z = next_normal(state)
            x = model[0] + model[1] * z
        else:
            state, x, hv = _garch_step(state, model[0], model[1], model[2], model[3], hv)
        ct = c[t - 1] * math.exp(x)
        c[t] = ct
        o[t] = ct * oc[j]
        h[t] = ct * hc[j]
        lo[t] = ct * lc[j]
        v[t] = vol[j]
    return state, o, h, lo, c, v


@njit(cache=True)
def synth_path(seed, path, mode, logret, oc, hc, lc, vol, bar0, model, horizon, mean_block):
    """The synthetic OHLCV path number ``path`` under ``seed`` (for user strategies simulated in Python)."""
    _, o, h, lo, c, v = synth_ohlc(
        path_state(seed, path), mode, logret, oc, hc, lc, vol, bar0, model, horizon, mean_block
    )
    return o, h, lo, c, v


@njit(cache=True, parallel=True)
def rebacktest_batch(
    sid,
    prm,
    mode,
    logret,
    oc,
    hc,
    lc,
    vol,
    bar0,
    model,
    paths,
    seed,
    horizon,
    mean_block,
    next_open,
    fees,
    slippage,
    fixed_fee,
    impact_k,
    impact_window,
    participation,
    init_cash,
    ann,
    rf,
    bars_per_day,
):
    """Metrics (len(paths), N_METRICS) of built-in strategy ``sid`` re-run on synthetic price paths.

    Each path is generated by :func:`synth_ohlc` from its own counter-based stream and simulated by the same
    fused signal + execution kernel as a sweep.
    """
    k = paths.shape[0]
    out = np.empty((k, N_METRICS))
    i0, i1, i2, f0, f1, f2 = derive(sid, prm[0], prm[1], prm[2])
    for j in prange(k):
        _, o, h, lo, c, v = synth_ohlc(
            path_state(seed, paths[j]), mode, logret, oc, hc, lc, vol, bar0, model, horizon, mean_block
        )
        if impact_k > 0.0:
            sig, adv = impact_inputs(c, v, impact_window, bars_per_day)
        else:
            sig = np.zeros(horizon)
            adv = np.zeros(horizon)
        fused_run(
            sid,
            o,
            h,
            lo,
            c,
            v,
            sig,
            adv,
            i0,
            i1,
            i2,
            f0,
            f1,
            f2,
            next_open,
            fees,
            slippage,
            fixed_fee,
            impact_k,
            participation,
            init_cash,
            ann,
            rf,
            out[j],
        )
    return out


# ------------------------------------------------------------------------------------------ windowed sims
@njit(cache=True, parallel=True)
def window_sims(
    sid,
    o,
    h,
    lo,
    c,
    v,
    sig,
    adv,
    params,
    start,
    end,
    next_open,
    fees,
    slippage,
    fixed_fee,
    impact_k,
    participation,
    init_cash,
    ann,
    rf,
):
    """Simulate bars [start, end) of every parameter set with signals warmed up on bars [0, end).

    The signal of built-in ``sid`` is computed over bars 0..end−1 (so indicators carry their history into
    the window), then the window is simulated from ``init_cash`` in cash. Returns ``(metrics, equity)`` of
    shapes (m, N_METRICS) and (m, end − start).
    """
    m = params.shape[0]
    n = end - start
    metrics = np.empty((m, N_METRICS))
    equity = np.empty((m, n))
    for j in prange(m):
        i0, i1, i2, f0, f1, f2 = derive(sid, params[j, 0], params[j, 1], params[j, 2])
        tgt = signal_array(sid, o[:end], h[:end], lo[:end], c[:end], v[:end], i0, i1, i2, f0, f1, f2)
        fills = np.empty((2 * n, 4))
        simulate_records(
            o[start:end],
            c[start:end],
            v[start:end],
            tgt[start:end],
            sig[start:end],
            adv[start:end],
            next_open,
            fees,
            slippage,
            fixed_fee,
            impact_k,
            participation,
            init_cash,
            ann,
            rf,
            metrics[j],
            equity[j],
            fills,
        )
    return metrics, equity


@njit(cache=True)
def equity_returns(equity, init_cash):
    """Per-bar simple returns of each row of an (m, n) equity matrix, as an (n, m) matrix."""
    m, n = equity.shape
    out = np.empty((n, m))
    for j in range(m):
        r = returns_from_equity(equity[j], init_cash)
        for t in range(n):
            out[t, j] = r[t]
    return out


# ------------------------------------------------------------------------------------------ bootstrap means
@njit(cache=True, parallel=True)
def bootstrap_column_means(d, seed, n_boot, mean_block):
    """Column means of ``n_boot`` stationary-bootstrap resamples of the rows of ``d`` (T, N): (n_boot, N).

    Replicate b uses the index stream :func:`bootstrap_indices` (T, T, mean_block, seed, b).
    """
    T, N = d.shape
    out = np.zeros((n_boot, N))
    for b in prange(n_boot):
        idx = np.empty(T, dtype=np.int64)
        fill_indices(path_state(seed, b), T, idx, mean_block)
        acc = np.zeros(N)
        for t in range(T):
            row = idx[t]
            for k in range(N):
                acc[k] += d[row, k]
        for k in range(N):
            out[b, k] = acc[k] / T
    return out


# ------------------------------------------------------------------------------------------ regime features
@njit(cache=True)
def trailing_volatility(c, window):
    """Std (ddof=1) of the last ``window`` log returns up to bar t (NaN for t < window)."""
    n = c.shape[0]
    out = np.full(n, np.nan)
    for t in range(window, n):
        s = 0.0
        s2 = 0.0
        for k in range(t - window + 1, t + 1):
            x = math.log(c[k] / c[k - 1])
            s += x
            s2 += x * x
        mu = s / window
        var = (s2 - window * mu * mu) / (window - 1)
        out[t] = math.sqrt(var) if var > 0.0 else 0.0
    return out


@njit(cache=True)
def trailing_trend(c, window, use_slope):
    """Trend over the last ``window`` bars up to t: log(c_t / c_{t−window}), or with ``use_slope`` the OLS
    slope of log price on bar number over bars t−window..t times ``window`` (the same unit). NaN for t < window.
    """
    n = c.shape[0]
    out = np.full(n, np.nan)
    for t in range(window, n):
        if not use_slope:
            out[t] = math.log(c[t] / c[t - window])
            continue
        m = window + 1
        xm = window / 2.0
        ym = 0.0
        for k in range(m):
            ym += math.log(c[t - window + k])
        ym /= m
        sxy = 0.0
        sxx = 0.0
        for k in range(m):
            dx = k - xm
            sxy += dx * (math.log(c[t - window + k]) - ym)
            sxx += dx * dx
        out[t] = sxy / sxx * window
    return out
