"""Numba kernels of the built-in strategies: incremental signal steps, array signal kernels, fused batch runs.

Each built-in strategy is written ONCE, as an incremental step
``step(t, o, h, l, c, v, i0, i1, i2, f0, f1, f2, s0..s5) -> (s0..s5, target)`` that reads bars up to t only
(no look-ahead) and carries its state in six float slots. From that single definition come:

* the array signal kernel ``signal_array(sid, ...)`` -> int8 target per bar (DESIGN.md's ``signal_kernel``,
  used by live signals, Pine parity tests and the vectorbt cross-check);
* the fused batch kernel ``batch_run(sid, ...)`` that, for many parameter sets in parallel (``prange``), computes
  signals, fills, costs, equity and metrics in ONE pass over the bars, never materialising bars x parameter-set
  arrays.

Parameters reach the bar loop as plain scalars (``i0..i2`` integers, ``f0..f2`` floats derived by ``derive``),
which lets LLVM keep them in registers; the strategy id ``sid`` is loop-invariant, so the dispatch branch is
free.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from quantray.engine._indicators import rsi_value
from quantray.engine._sim import N_METRICS, finish_metrics, sim_bar

# Strategy ids of the built-ins (the order is part of the kernel ABI, append only).
SID_BUY_AND_HOLD = 0
SID_SMA_CROSS = 1
SID_EMA_CROSS = 2
SID_RSI_REVERSION = 3
SID_BOLLINGER_REVERSION = 4
SID_DONCHIAN_BREAKOUT = 5
SID_MACD = 6
SID_MOMENTUM = 7


# Every incremental step below takes SCALARS: the bar loop reads the few array elements a step needs
# (``gather``) and passes values. Passing arrays into inlined functions made numba emit an atomic reference
# count increment and decrement per array per bar, which cost more than the whole strategy and simulator.


@njit(cache=True, inline="always", error_model="numpy")
def _roll(s, x_t, x_old, t, w):
    """Running sum of the last w values: add x[t], drop x[t-w] (``x_old``) once t >= w.

    A running sum's rounding error grows like a random walk (~sqrt(n) ulps), i.e. ~1e-14 relative after 10^6
    bars; an exact periodic re-summation was measured to cost 4x in the fused loop, so none is done.
    """
    s += x_t
    if t >= w:
        s -= x_old
    return s


@njit(cache=True, inline="always", error_model="numpy")
def _ema_update(x_t, t, w, alpha, s):
    """EMA seeded with the SMA of the first w values (TradingView's ``ta.ema``); NaN-free warm-up sum before.
    Each step is Pine's ``alpha * src + (1 - alpha) * prev``, the operations of the engine's ``ema``."""
    if t < w - 1:
        return s + x_t
    if t == w - 1:
        return (s + x_t) / w
    return alpha * x_t + (1.0 - alpha) * s


#: Differences smaller than this fraction of the price level are ties: running sums round differently from
#: an exact mean, and a tie must not flip a signal on rounding noise.
TIE_RTOL = 1e-12


@njit(cache=True, inline="always", error_model="numpy")
def _tie(d, scale):
    """``d``, or exactly 0.0 when it is within rounding noise of the price level ``scale``."""
    return 0.0 if abs(d) <= TIE_RTOL * abs(scale) else d


@njit(cache=True, inline="always", error_model="numpy")
def _cross(d, prev, tgt):
    """+1 on a cross above (d > 0 and prev <= 0), 0 on a cross below (d < 0 and prev >= 0)."""
    if d > 0.0 and prev <= 0.0:
        return 1.0
    if d < 0.0 and prev >= 0.0:
        return 0.0
    return tgt


@njit(cache=True, inline="always", error_model="numpy")
def _step_sma_cross(t, ct, c_fast, c_slow, fast, slow, inv_fast, inv_slow, s0, s1, s2, s3):
    fs = _roll(s0, ct, c_fast, t, fast)
    ss = _roll(s1, ct, c_slow, t, slow)
    prev = s2
    tgt = s3
    if t >= slow - 1:
        d = _tie(fs * inv_fast - ss * inv_slow, ss * inv_slow)
        if t >= slow:
            tgt = _cross(d, prev, tgt)
        prev = d
    return fs, ss, prev, tgt


@njit(cache=True, inline="always", error_model="numpy")
def _step_ema_cross(t, ct, fast, slow, af, aslow, s0, s1, s2, s3):
    ef = _ema_update(ct, t, fast, af, s0)
    es = _ema_update(ct, t, slow, aslow, s1)
    prev = s2
    tgt = s3
    if t >= slow - 1:
        d = _tie(ef - es, es)
        if t >= slow:
            tgt = _cross(d, prev, tgt)
        prev = d
    return ef, es, prev, tgt


@njit(cache=True, inline="always", error_model="numpy")
def _rsi_update(ct, cp, t, w, alpha, g, lo):
    """Wilder RSI state (avg gain, avg loss), seeded with the simple mean of the first w changes, then stepped
    as ``ta.rma`` (``alpha * x + (1 - alpha) * prev``, the engine's operations)."""
    if t == 0:
        return 0.0, 0.0
    ch = ct - cp
    up = ch if ch > 0.0 else 0.0
    dn = -ch if ch < 0.0 else 0.0
    if t < w:
        return g + up, lo + dn
    if t == w:
        return (g + up) / w, (lo + dn) / w
    return alpha * up + (1.0 - alpha) * g, alpha * dn + (1.0 - alpha) * lo


@njit(cache=True, inline="always", error_model="numpy")
def _step_rsi_reversion(t, ct, cp, w, alpha, lower, upper, s0, s1, s2):
    g, lo = _rsi_update(ct, cp, t, w, alpha, s0, s1)
    tgt = s2
    if t >= w:
        r = rsi_value(g, lo)
        if r < lower:
            tgt = 1.0
        elif r > upper:
            tgt = 0.0
    return g, lo, tgt


@njit(cache=True, inline="always", error_model="numpy")
def _step_bollinger(t, ct, c_old, w, k, s0, s1, s2):
    sm = _roll(s0, ct, c_old, t, w)
    sq = _roll(s1, ct * ct, c_old * c_old, t, w)
    tgt = s2
    if t >= w - 1:
        mid = sm / w
        var = sq / w - mid * mid
        eps = TIE_RTOL * abs(mid)
        sd = np.sqrt(var) if var > eps * eps else 0.0
        if ct < mid - k * sd - eps:
            tgt = 1.0
        elif ct > mid + eps:
            tgt = 0.0
    return sm, sq, tgt


@njit(cache=True, error_model="numpy")
def _step_donchian(t, h, l, c, w, we, s0, s1, s2, s3, s4):
    """Breakout above the highest high of the previous w bars; exit below the lowest low of the previous we.

    Not inlined and called behind a loop-invariant branch: it needs the arrays for its occasional rescan.
    """
    mx, mxi, mn, mni, tgt = s0, s1, s2, s3, s4
    if t >= w and c[t] > mx:
        tgt = 1.0
    elif t >= we and c[t] < mn:
        tgt = 0.0
    # include bar t, then drop what leaves the windows ending at t (rescan only when the extreme leaves)
    if t == 0 or h[t] >= mx:
        mx = h[t]
        mxi = float(t)
    elif mxi <= t - w:
        mx = h[t - w + 1]
        mxi = float(t - w + 1)
        for j in range(t - w + 2, t + 1):
            if h[j] >= mx:
                mx = h[j]
                mxi = float(j)
    if t == 0 or l[t] <= mn:
        mn = l[t]
        mni = float(t)
    elif mni <= t - we:
        mn = l[t - we + 1]
        mni = float(t - we + 1)
        for j in range(t - we + 2, t + 1):
            if l[j] <= mn:
                mn = l[j]
                mni = float(j)
    return mx, mxi, mn, mni, tgt


@njit(cache=True, inline="always", error_model="numpy")
def _step_macd(t, ct, fast, slow, sig, af, aslow, asig, s0, s1, s2, s3, s4):
    ef = _ema_update(ct, t, fast, af, s0)
    es = _ema_update(ct, t, slow, aslow, s1)
    esig = s2
    prev = s3
    tgt = s4
    if t >= slow - 1:
        m = ef - es
        u = t - (slow - 1)  # index of m in the macd series
        if u < sig - 1:
            esig = esig + m
        elif u == sig - 1:
            esig = (esig + m) / sig
        else:
            esig = esig + asig * (m - esig)
        if u >= sig - 1:
            d = _tie(m - esig, es)
            if u >= sig:
                tgt = _cross(d, prev, tgt)
            prev = d
    return ef, es, esig, prev, tgt


@njit(cache=True, inline="always", error_model="numpy")
def _step_momentum(t, ct, c_lb, lb, allow_short, thr, s0):
    tgt = s0
    if t >= lb:
        m = ct / c_lb - 1.0
        if m > thr:
            tgt = 1.0
        elif allow_short != 0 and m < -thr:
            tgt = -1.0
        else:
            tgt = 0.0
    return tgt


@njit(cache=True, inline="always", error_model="numpy")
def step(sid, t, ct, cp, x1, x2, i0, i1, i2, f0, f1, f2, s0, s1, s2, s3, s4, s5):
    """Dispatch one incremental signal step of a scalar strategy; returns (s0..s5, target).

    ``ct = c[t]``, ``cp = c[t-1]``, ``x1 = c[t-i0]``, ``x2 = c[t-i1]`` (0 where the index is negative) are read
    by the bar loop. Donchian needs whole windows and is stepped by :func:`_step_donchian` directly.
    """
    tgt = 0.0
    if sid == SID_SMA_CROSS:
        s0, s1, s2, s3 = _step_sma_cross(t, ct, x1, x2, i0, i1, f0, f1, s0, s1, s2, s3)
        tgt = s3
    elif sid == SID_EMA_CROSS:
        s0, s1, s2, s3 = _step_ema_cross(t, ct, i0, i1, f0, f1, s0, s1, s2, s3)
        tgt = s3
    elif sid == SID_RSI_REVERSION:
        s0, s1, s2 = _step_rsi_reversion(t, ct, cp, i0, f0, f1, f2, s0, s1, s2)
        tgt = s2
    elif sid == SID_BOLLINGER_REVERSION:
        s0, s1, s2 = _step_bollinger(t, ct, x1, i0, f0, s0, s1, s2)
        tgt = s2
    elif sid == SID_MACD:
        s0, s1, s2, s3, s4 = _step_macd(t, ct, i0, i1, i2, f0, f1, f2, s0, s1, s2, s3, s4)
        tgt = s4
    elif sid == SID_MOMENTUM:
        s0 = _step_momentum(t, ct, x1, i0, i1, f0, s0)
        tgt = s0
    else:  # buy and hold
        tgt = 1.0
    return s0, s1, s2, s3, s4, s5, tgt


@njit(cache=True, error_model="numpy")
def init_state(sid):
    """Initial state slots of strategy ``sid`` (NaN marks a 'previous value' that does not exist yet)."""
    if sid == SID_SMA_CROSS or sid == SID_EMA_CROSS:
        return 0.0, 0.0, np.nan, 0.0, 0.0, 0.0
    if sid == SID_MACD:
        return 0.0, 0.0, 0.0, np.nan, 0.0, 0.0
    return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0


@njit(cache=True, error_model="numpy")
def derive(sid, p0, p1, p2):
    """Map a row of user parameters to the kernel scalars (i0, i1, i2, f0, f1, f2)."""
    i0 = 0
    i1 = 0
    i2 = 0
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    if sid == SID_SMA_CROSS:
        i0 = int(p0)
        i1 = int(p1)
        f0 = 1.0 / i0
        f1 = 1.0 / i1
    elif sid == SID_EMA_CROSS:
        i0 = int(p0)
        i1 = int(p1)
        f0 = 2.0 / (i0 + 1.0)
        f1 = 2.0 / (i1 + 1.0)
    elif sid == SID_RSI_REVERSION:
        i0 = int(p0)
        f0 = 1.0 / i0
        f1 = p1
        f2 = p2
    elif sid == SID_BOLLINGER_REVERSION:
        i0 = int(p0)
        f0 = p1
    elif sid == SID_DONCHIAN_BREAKOUT:
        i0 = int(p0)
        i1 = int(p1)
    elif sid == SID_MACD:
        i0 = int(p0)
        i1 = int(p1)
        i2 = int(p2)
        f0 = 2.0 / (i0 + 1.0)
        f1 = 2.0 / (i1 + 1.0)
        f2 = 2.0 / (i2 + 1.0)
    elif sid == SID_MOMENTUM:
        i0 = int(p0)
        f0 = p1
        i1 = int(p2)
    return i0, i1, i2, f0, f1, f2


@njit(cache=True, error_model="numpy")
def signal_array(sid, o, h, l, c, v, i0, i1, i2, f0, f1, f2):
    """Target position per bar (int8: -1, 0, +1) of built-in ``sid``; same arithmetic as the fused kernel."""
    n = c.shape[0]
    out = np.zeros(n, dtype=np.int8)
    s0, s1, s2, s3, s4, s5 = init_state(sid)
    for t in range(n):
        if sid == SID_DONCHIAN_BREAKOUT:
            s0, s1, s2, s3, s4 = _step_donchian(t, h, l, c, i0, i1, s0, s1, s2, s3, s4)
            tgt = s4
        else:
            ct = c[t]
            cp = c[t - 1] if t >= 1 else ct
            x1 = c[t - i0] if t >= i0 else 0.0
            x2 = c[t - i1] if t >= i1 else 0.0
            s0, s1, s2, s3, s4, s5, tgt = step(
                sid, t, ct, cp, x1, x2, i0, i1, i2, f0, f1, f2, s0, s1, s2, s3, s4, s5
            )
        out[t] = np.int8(tgt)
    return out


@njit(cache=True, error_model="numpy")
def fused_run(
    sid,
    o,
    h,
    l,
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
    out,
):
    """One parameter set: signals, fills, costs, equity and metrics in a single pass over the bars."""
    n = c.shape[0]
    s0, s1, s2, s3, s4, s5 = init_state(sid)
    cash = init_cash
    pos = 0.0
    pend = 0.0
    work = 0.0
    eq_prev = init_cash
    peak = init_cash
    max_dd = 0.0
    dd_bars = 0.0
    max_dd_bars = 0.0
    sum_r = 0.0
    sum_r2 = 0.0
    sum_dn2 = 0.0
    expo = 0.0
    n_trades = 0.0
    n_closed = 0.0
    n_wins = 0.0
    gp = 0.0
    gl = 0.0
    tflow = 0.0
    n_upd = 0.0
    cfg = (next_open, fees, slippage, fixed_fee, impact_k, participation, rf)
    for t in range(n):
        if sid == SID_DONCHIAN_BREAKOUT:
            s0, s1, s2, s3, s4 = _step_donchian(t, h, l, c, i0, i1, s0, s1, s2, s3, s4)
            tgt = s4
        else:
            ct = c[t]
            cp = c[t - 1] if t >= 1 else ct
            x1 = c[t - i0] if t >= i0 else 0.0
            x2 = c[t - i1] if t >= i1 else 0.0
            s0, s1, s2, s3, s4, s5, tgt = step(
                sid, t, ct, cp, x1, x2, i0, i1, i2, f0, f1, f2, s0, s1, s2, s3, s4, s5
            )
        (
            cash,
            pos,
            pend,
            work,
            eq_prev,
            peak,
            max_dd,
            dd_bars,
            max_dd_bars,
            sum_r,
            sum_r2,
            sum_dn2,
            expo,
            n_trades,
            n_closed,
            n_wins,
            gp,
            gl,
            tflow,
            n_upd,
            _nf,
            _q1,
            _p1,
            _f1,
            _q2,
            _p2,
            _f2,
        ) = sim_bar(
            t,
            tgt,
            o[t],
            c[t],
            v[t],
            sig[t],
            adv[t],
            cfg,
            cash,
            pos,
            pend,
            work,
            eq_prev,
            peak,
            max_dd,
            dd_bars,
            max_dd_bars,
            sum_r,
            sum_r2,
            sum_dn2,
            expo,
            n_trades,
            n_closed,
            n_wins,
            gp,
            gl,
            tflow,
            n_upd,
        )
    finish_metrics(
        out,
        n,
        init_cash,
        ann,
        rf,
        cash,
        pos,
        c[n - 1],
        eq_prev,
        max_dd,
        max_dd_bars,
        sum_r,
        sum_r2,
        sum_dn2,
        expo,
        n_trades,
        n_closed,
        n_wins,
        gp,
        gl,
        tflow,
        n_upd,
    )


@njit(cache=True, parallel=True, error_model="numpy")
def batch_run(
    sid,
    o,
    h,
    l,
    c,
    v,
    sig,
    adv,
    params,
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
    """Evaluate every row of ``params`` (m x 3 floats) against one symbol in parallel; returns (m, N_METRICS)."""
    m = params.shape[0]
    out = np.empty((m, N_METRICS))
    for j in prange(m):
        i0, i1, i2, f0, f1, f2 = derive(sid, params[j, 0], params[j, 1], params[j, 2])
        fused_run(
            sid,
            o,
            h,
            l,
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
