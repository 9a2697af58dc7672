"""Numba kernels of genetic discovery: a register machine that runs a compiled rule over whole arrays, and
the per-fold simulation that scores its target positions with the engine's own bar step.

A rule is compiled (``_compile.py``) into rows ``(op, dst, a, b)`` plus a float immediate per row: every row
applies ONE whole-array operation (an indicator, an arithmetic or comparison, a boolean combinator) reading
registers ``a`` and ``b`` and writing register ``dst``. Rows run in order inside one ``@njit`` call, so a rule
costs one pass over the bars per distinct node and never a Python loop per bar.

Value conventions (the reference interpreter in the tests follows them operation by operation):

* series are float64; a value that is not finite is NaN ("undefined"), e.g. during an indicator's warm-up or
  after a division by zero;
* booleans are 0.0 / 1.0 and never NaN; a comparison involving NaN is false;
* ``sma/highest/lowest(x, n)[t]`` are NaN unless the n values ``x[t-n+1..t]`` are all defined;
* ``ema`` and ``rsi`` restart after an undefined input: they are seeded again with the simple mean of the
  next n values (n changes for RSI), exactly as ``quantray.engine.ema`` / ``rsi`` seed on a clean series;
* ``cross_above(a, b)[t] = a[t] > b[t] and a[t-1] <= b[t-1]`` (Pine ``ta.crossover``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from quantray.engine._indicators import rsi_value
from quantray.engine._sim import N_METRICS, _buy, _close_trade, _sell, finish_metrics, mark_close, sim_bar

OP_OPEN = 0
OP_HIGH = 1
OP_LOW = 2
OP_CLOSE = 3
OP_VOLUME = 4
OP_SMA = 5
OP_EMA = 6
OP_RSI = 7
OP_ADD = 8
OP_SUB = 9
OP_MUL = 10
OP_DIV = 11
OP_GT = 12
OP_LT = 13
OP_CROSS_ABOVE = 14
OP_CROSS_BELOW = 15
OP_ABOVE = 16
OP_BELOW = 17
OP_AND = 18
OP_OR = 19
OP_NOT = 20
OP_HIGHEST = 21
OP_LOWEST = 22
OP_LAG = 23
N_OPS = 24


@njit(cache=True, inline="always")
def _fin(x):
    return x if math.isfinite(x) else np.nan


@njit(cache=True)
def k_sma(x, n, out):
    """Mean of the last n values; NaN unless all n are defined. A running sum that adds the change
    ``x[t] - x[t-n]`` (one addition on the loop-carried chain; the engine's ``sma`` does the same operations);
    undefined values are counted, not added (:func:`_sma_step`). While the window is all defined, an inner
    loop does just that addition and tests only the incoming value (the same operations, so the same
    values)."""
    m = x.shape[0]
    s = 0.0
    bad = 0
    t = 0
    while t < m:
        if bad == 0 and t >= n:
            while t < m:
                xt = x[t]
                if not math.isfinite(xt):
                    break
                s += xt - x[t - n]
                out[t] = _fin(s / n)
                t += 1
            if t >= m:
                break
        s, bad, out[t] = _sma_step(x[t], x[t - n] if t >= n else 0.0, t, n, s, bad)
        t += 1


@njit(cache=True)
def k_seeded(x, n, alpha, out):
    """SMA-seeded exponential average that restarts after an undefined input (ema: alpha = 2/(n+1)); each step
    is ``alpha * x + (1 - alpha) * prev``, TradingView's ``ta.ema``/``ta.rma`` (and the engine's) operations."""
    m = x.shape[0]
    beta = 1.0 - alpha
    cnt = 0
    s = 0.0
    val = 0.0
    for t in range(m):
        xt = x[t]
        if not math.isfinite(xt):
            cnt = 0
            s = 0.0
            out[t] = np.nan
            continue
        if cnt < n:
            s += xt
            cnt += 1
            if cnt == n:
                val = s / n
                out[t] = _fin(val)
            else:
                out[t] = np.nan
        else:
            val = alpha * xt + beta * val
            out[t] = _fin(val)


@njit(cache=True)
def k_rsi(x, n, out):
    """Wilder RSI seeded with the mean of the first n changes; restarts after an undefined input. The averages
    step as ``ta.rma`` does (``a * x + (1 - a) * prev``), the value is the engine's ``rsi_value``."""
    m = x.shape[0]
    cnt = -1  # -1: no previous value yet; else number of changes seen since the (re)start
    prev = 0.0
    g = 0.0
    lo = 0.0
    a = 1.0 / n
    b = 1.0 - a
    for t in range(m):
        xt = x[t]
        if not math.isfinite(xt):
            cnt = -1
            out[t] = np.nan
            continue
        if cnt == -1:
            cnt = 0
            g = 0.0
            lo = 0.0
            prev = xt
            out[t] = np.nan
            continue
        ch = xt - prev
        prev = xt
        if cnt < n:
            if ch > 0.0:
                g += ch
            else:
                lo -= ch
            cnt += 1
            if cnt < n:
                out[t] = np.nan
                continue
            g /= n
            lo /= n
        else:
            up = ch if ch > 0.0 else 0.0
            dn = -ch if ch < 0.0 else 0.0
            g = a * up + b * g
            lo = a * dn + b * lo
        out[t] = _fin(rsi_value(g, lo))


#: Bars per block of the doubling rolling extreme (its two scratch rows stay in the L1/L2 cache).
_EXT_BLOCK = 4096


@njit(cache=True)
def k_extreme(x, n, sign, out):
    """Rolling max (sign=1) or min (sign=-1) of the last n values; NaN unless all n are defined. Among equal
    values the latest bar's is returned (as a monotonic deque would), so signed zeros come out as they went in.

    A series whose undefined values are all leading (an indicator's warm-up; raw prices) takes the doubling
    path (:func:`_extreme_doubling`, vectorised passes); any other series the blocked van Herk scan
    (:func:`_extreme_vh`). Both give the same values bit for bit. The doubling path checks each block's
    inputs while they are in cache and gives up at the first undefined one (no separate pass over the series:
    from memory, that pass cost as much as a quarter of the whole kernel).
    """
    f0 = 0
    while f0 < x.shape[0] and not math.isfinite(x[f0]):
        f0 += 1
    if not _extreme_doubling(x, n, sign > 0.0, f0, out):
        _extreme_vh(x, n, sign, out)


@njit(cache=True)
def _count_undefined(x, i0, i1):
    """Number of non-finite values in ``x[i0:i1]`` (branch-free, unsigned indices: it vectorises)."""
    cnt = 0
    for i in range(np.uint64(i0), np.uint64(i1)):
        cnt += int(not math.isfinite(x[i]))
    return cnt


@njit(cache=True)
def _later_extreme(src, so, dst, do, k, i0, i1, mx):
    """``dst[do+i]`` = the max (``mx``) or min of ``src[so+i-k]`` and ``src[so+i]``, the later one on a tie, for
    i in [i0, i1), i0 >= k. Unsigned indices: numba adds no negative-index test, so the loop vectorises."""
    u = np.uint64(so)
    v = np.uint64(do)
    kk = np.uint64(k)
    if mx:
        for i in range(np.uint64(i0), np.uint64(i1)):
            a = src[u + i - kk]
            b = src[u + i]
            dst[v + i] = a if a > b else b
    else:
        for i in range(np.uint64(i0), np.uint64(i1)):
            a = src[u + i - kk]
            b = src[u + i]
            dst[v + i] = a if a < b else b


@njit(cache=True)
def _extreme_doubling(x, n, mx, f0, out):
    """Rolling extreme of ``x`` whose values from ``f0`` on are all finite, block by block: with p the largest
    power of two <= n, the extreme of the 2k bars ending at i is that of the k ending at i-k and the k ending
    at i (log2 p passes), and a window of n bars is covered by the two p-bar windows ending at i-(n-p) and i.
    Every combination keeps the later value on a tie, so the latest bar's value among equal ones wins, as in
    the van Herk scan. Each block of ``_EXT_BLOCK`` outputs recomputes the n-1 bars before it. Returns False,
    leaving ``out`` partly written, as soon as a block's inputs hold an undefined value."""
    m = x.shape[0]
    p = 1
    while 2 * p <= n:
        p *= 2
    h = n - 1
    d = n - p
    a = np.empty(_EXT_BLOCK + h)
    b = np.empty(_EXT_BLOCK + h)
    for t in range(min(m, f0 + h)):
        out[t] = np.nan
    b0 = f0 + h
    while b0 < m:
        b1 = min(m, b0 + _EXT_BLOCK)
        s0 = b0 - h  # the block's first input bar
        ln = b1 - s0
        if _count_undefined(x, s0, b1):
            return False
        if p == 1:
            _later_extreme(x, s0, out, s0, d, h, ln, mx)
        else:
            _later_extreme(x, s0, a, 0, 1, 1, ln, mx)  # a[i]: the 2 bars ending at s0 + i
            k = 2
            in_a = True
            while k < p:  # 2k bars ending at i, valid from i = 2k - 1
                if in_a:
                    _later_extreme(a, 0, b, 0, k, 2 * k - 1, ln, mx)
                else:
                    _later_extreme(b, 0, a, 0, k, 2 * k - 1, ln, mx)
                in_a = not in_a
                k *= 2
            _later_extreme(a if in_a else b, 0, out, s0, d, h, ln, mx)
        b0 = b1
    return True


@njit(cache=True)
def _extreme_vh(x, n, sign, out):
    """:func:`k_extreme` for any series (undefined values anywhere).

    Van Herk / Gil-Werman: the series is cut into blocks of n bars; a window ending at bar t is the running
    extreme of t's block up to t, combined with the suffix extreme of the previous block from the window's
    start. Three branch-free comparisons per bar for any window, O(n) scratch. Values are compared as
    ``sign * x`` (exact: a change of sign), so a minimum is a maximum and the running comparisons carry no
    multiplication. Among equal values the latest bar's is returned (as a monotonic deque would), so signed
    zeros come out as they went in.
    """
    m = x.shape[0]
    prev = np.empty(n)
    cur = np.empty(n)
    last_bad = -1
    for s0 in range(0, m, n):
        e0 = min(m, s0 + n)
        g = sign * x[e0 - 1]
        cur[e0 - 1 - s0] = g
        for i in range(e0 - 2, s0 - 1, -1):
            xi = sign * x[i]
            g = xi if xi > g else g
            cur[i - s0] = g
        p = sign * x[s0]
        for t in range(s0, e0):
            xt = sign * x[t]
            if not math.isfinite(xt):
                last_bad = t
            r = t - s0
            p = xt if xt >= p else p
            if t - last_bad < n:
                out[t] = np.nan
            elif r == n - 1:
                out[t] = sign * p
            else:
                q = prev[r + 1]
                out[t] = sign * (p if p >= q else q)
        prev, cur = cur, prev


@njit(cache=True)
def run_program(code, imm, n_regs, root, o, h, l, c, v):
    """Run a compiled rule; returns the root register (float64 per bar)."""
    regs = np.empty((n_regs, c.shape[0]))
    execute(code, imm, regs, o, h, l, c, v)
    return regs[root].copy()


@njit(cache=True)
def execute(code, imm, regs, o, h, l, c, v):
    """Run a compiled rule's rows on a caller-owned register file ``regs`` (>= n_regs rows of len(c))."""
    m = c.shape[0]
    for i in range(code.shape[0]):
        op = code[i, 0]
        d = regs[code[i, 1]]
        ia = code[i, 2]
        ib = code[i, 3]
        if op == OP_OPEN:
            for t in range(m):
                d[t] = o[t]
        elif op == OP_HIGH:
            for t in range(m):
                d[t] = h[t]
        elif op == OP_LOW:
            for t in range(m):
                d[t] = l[t]
        elif op == OP_CLOSE:
            for t in range(m):
                d[t] = c[t]
        elif op == OP_VOLUME:
            for t in range(m):
                d[t] = v[t]
        elif op == OP_SMA:
            k_sma(regs[ia], int(imm[i]), d)
        elif op == OP_EMA:
            n = int(imm[i])
            k_seeded(regs[ia], n, 2.0 / (n + 1.0), d)
        elif op == OP_RSI:
            k_rsi(regs[ia], int(imm[i]), d)
        elif op == OP_HIGHEST:
            k_extreme(regs[ia], int(imm[i]), 1.0, d)
        elif op == OP_LOWEST:
            k_extreme(regs[ia], int(imm[i]), -1.0, d)
        elif op == OP_LAG:
            n = int(imm[i])
            a = regs[ia]
            for t in range(m):
                d[t] = a[t - n] if t >= n else np.nan
        elif op == OP_ADD or op == OP_SUB or op == OP_MUL or op == OP_DIV:
            a = regs[ia]
            b = regs[ib]
            for t in range(m):
                x = a[t]
                y = b[t]
                if op == OP_ADD:
                    r = x + y
                elif op == OP_SUB:
                    r = x - y
                elif op == OP_MUL:
                    r = x * y
                else:
                    r = x / y if y != 0.0 else np.nan
                d[t] = _fin(r)
        elif op == OP_GT:
            a = regs[ia]
            b = regs[ib]
            for t in range(m):
                d[t] = 1.0 if a[t] > b[t] else 0.0
        elif op == OP_LT:
            a = regs[ia]
            b = regs[ib]
            for t in range(m):
                d[t] = 1.0 if a[t] < b[t] else 0.0
        elif op == OP_CROSS_ABOVE:
            a = regs[ia]
            b = regs[ib]
            d[0] = 0.0
            for t in range(1, m):
                d[t] = 1.0 if (a[t] > b[t] and a[t - 1] <= b[t - 1]) else 0.0
        elif op == OP_CROSS_BELOW:
            a = regs[ia]
            b = regs[ib]
            d[0] = 0.0
            for t in range(1, m):
                d[t] = 1.0 if (a[t] < b[t] and a[t - 1] >= b[t - 1]) else 0.0
        elif op == OP_ABOVE:
            a = regs[ia]
            lv = imm[i]
            for t in range(m):
                d[t] = 1.0 if a[t] > lv else 0.0
        elif op == OP_BELOW:
            a = regs[ia]
            lv = imm[i]
            for t in range(m):
                d[t] = 1.0 if a[t] < lv else 0.0
        elif op == OP_AND:
            a = regs[ia]
            b = regs[ib]
            for t in range(m):
                d[t] = 1.0 if (a[t] != 0.0 and b[t] != 0.0) else 0.0
        elif op == OP_OR:
            a = regs[ia]
            b = regs[ib]
            for t in range(m):
                d[t] = 1.0 if (a[t] != 0.0 or b[t] != 0.0) else 0.0
        elif op == OP_NOT:
            a = regs[ia]
            for t in range(m):
                d[t] = 0.0 if a[t] != 0.0 else 1.0


@njit(cache=True)
def target_from_rule(val):
    """Long (1) on bars where the rule holds, flat (0) elsewhere."""
    m = val.shape[0]
    out = np.zeros(m, dtype=np.int8)
    for t in range(m):
        if val[t] != 0.0 and math.isfinite(val[t]):
            out[t] = 1
    return out


@njit(cache=True, error_model="numpy")
def fold_metrics(target, o, c, v, bounds, next_open, fees, slippage, fixed_fee, init_cash, ann, out):
    """Engine metrics of ``target`` on each fold ``[bounds[k,0], bounds[k,1])``, each starting flat in cash.

    The very bar step of the engine (``sim_bar``) is used, without market impact or participation cap.
    ``out`` has shape (n_folds, N_METRICS).
    """
    cfg = (next_open, fees, slippage, fixed_fee, 0.0, 0.0, 0.0)
    for k in range(bounds.shape[0]):
        s = bounds[k, 0]
        e = bounds[k, 1]
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
        for t in range(s, e):
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
                t - s,
                float(target[t]),
                o[t],
                c[t],
                v[t],
                0.0,
                0.0,
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
            out[k],
            e - s,
            init_cash,
            ann,
            0.0,
            cash,
            pos,
            c[e - 1],
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


@njit(cache=True, error_model="numpy")
def batch_fold_metrics(
    codes,
    imms,
    offsets,
    n_regs,
    roots,
    o,
    h,
    l,
    c,
    v,
    bounds,
    next_open,
    fees,
    slippage,
    fixed_fee,
    init_cash,
    ann,
):
    """Metrics (m, n_folds, N_METRICS) of m compiled rules on one symbol, one after the other on ONE register
    file allocated for the whole batch (no page faults per rule; parallelism comes from batches in Ray tasks).

    Rule j's rows are ``codes[offsets[j]:offsets[j+1]]``.
    """
    m = roots.shape[0]
    n = c.shape[0]
    out = np.empty((m, bounds.shape[0], N_METRICS))
    regs = np.empty((max(1, n_regs.max()), n))
    tgt = np.empty(n, dtype=np.int8)
    for j in range(m):
        a = offsets[j]
        b = offsets[j + 1]
        execute(codes[a:b], imms[a:b], regs, o, h, l, c, v)
        val = regs[roots[j]]
        for t in range(n):
            tgt[t] = 1 if (val[t] != 0.0 and math.isfinite(val[t])) else 0
        fold_metrics(tgt, o, c, v, bounds, next_open, fees, slippage, fixed_fee, init_cash, ann, out[j])
    return out


@njit(cache=True)
def stationary_indices(starts, new_block, out):
    """Stationary-bootstrap indices (Politis & Romano): row b, bar t continues the previous block
    (``out[b, t-1] + 1`` wrapping around) unless ``new_block[b, t]`` starts a new one at ``starts[b, t]``."""
    nb, n = starts.shape
    for b in range(nb):
        out[b, 0] = starts[b, 0]
        for t in range(1, n):
            if new_block[b, t]:
                out[b, t] = starts[b, t]
            else:
                nxt = out[b, t - 1] + 1
                out[b, t] = nxt if nxt < n else 0


@njit(cache=True)
def sharpe_rows(x, idx):
    """Per-period Sharpe (mean / std, ddof 1) of ``x[idx[b]]`` for every bootstrap row b (NaN if flat)."""
    nb, n = idx.shape
    out = np.empty(nb)
    for b in range(nb):
        s = 0.0
        s2 = 0.0
        for t in range(n):
            v = x[idx[b, t]]
            s += v
            s2 += v * v
        mu = s / n
        var = (s2 - n * mu * mu) / (n - 1)
        out[b] = mu / math.sqrt(var) if var > 0.0 else np.nan
    return out


@njit(cache=True)
def all_finite(x):
    """True when every value of ``x`` is finite."""
    for t in range(x.shape[0]):  # noqa: SIM110 - numba has no all() over a generator
        if not math.isfinite(x[t]):
            return False
    return True


@njit(cache=True, inline="always", error_model="numpy")
def _long_run(c, t0, n_run, cash, pos, eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2):
    """Mark a held long position to market over bars ``[t0, t0 + n_run)`` exactly as ``sim_bar`` does on a bar
    without a fill (rf = 0): equity, return, the three return sums, peak and drawdown, in bar order (so every
    sum is the bar-by-bar one). The drawdown clocks count in integers (exact: the engine's float counters
    hold integers) and the drawdown threshold ``peak * (1 - max_dd)`` is recomputed only when one of its
    inputs changes."""
    dd = int(dd_bars)
    mdd = int(max_dd_bars)
    thr = peak * (1.0 - max_dd)
    for t in range(t0, t0 + n_run):
        eq = cash + pos * c[t]
        r = eq / eq_prev - 1.0
        eq_prev = eq
        sum_r += r
        sum_r2 += r * r
        dn = min(r - 0.0, 0.0)
        sum_dn2 += dn * dn
        if eq >= peak:
            peak = eq
            dd = 0
            thr = peak * (1.0 - max_dd)
        else:
            dd += 1
            mdd = max(mdd, dd)
            if eq < thr:
                max_dd = 1.0 - eq / peak
                thr = peak * (1.0 - max_dd)
    return eq_prev, peak, max_dd, float(dd), float(mdd), sum_r, sum_r2, sum_dn2


@njit(cache=True, inline="always", error_model="numpy")
def _quiet_flat(cash, n_run, peak, max_dd, dd_bars, max_dd_bars):
    """Mark ``n_run`` flat bars whose equity is the cash and equals the last marked equity, as ``mark_close``
    would bar by bar, in one step: no return is booked; the drawdown clock advances by ``n_run`` (exact integer
    arithmetic) and the drawdown test, whose inputs do not change, runs once. Returns ``peak, max_dd, dd_bars,
    max_dd_bars``."""
    if cash >= peak:
        return cash, max_dd, 0.0, max_dd_bars
    dd_bars += float(n_run)
    if dd_bars > max_dd_bars:
        max_dd_bars = dd_bars
    if cash < peak * (1.0 - max_dd):
        max_dd = 1.0 - cash / peak
    return peak, max_dd, dd_bars, max_dd_bars


_ONES = np.uint64(0x0101010101010101)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def _run_end(target, w, j, jend, v):
    """First index in ``[j, jend)`` where ``target`` (0/1 bytes; ``w``: its whole 8-byte words) is not ``v``,
    else ``jend``; eight bars per comparison, the first differing byte found by counting trailing zeros."""
    if j >= jend:
        return jend
    pat = _ONES if v else np.uint64(0)
    wi = j >> 3
    nw = w.shape[0]
    if wi < nw:
        x = (w[wi] ^ pat) & (_ALL << np.uint64((j & 7) << 3))  # bytes before j do not count
        while x == np.uint64(0):
            wi += 1
            if wi >= nw or (wi << 3) >= jend:
                break
            x = w[wi] ^ pat
        if x != np.uint64(0) and wi < nw:
            j2 = (wi << 3) + (int(trailing_zeros(x)) >> 3)  # type: ignore[call-arg]  # a numba intrinsic
            return j2 if j2 < jend else jend
        j = wi << 3
    while j < jend and target[j] == v:  # the bytes after the last whole word
        j += 1
    return j if j < jend else jend


@njit(cache=True, error_model="numpy")
def lean_fold_metrics(
    target, o, c, bounds, finite, next_open, fees, slippage, fixed_fee, init_cash, ann, out
):
    """:func:`fold_metrics` for a long/flat ``target`` (0 or 1, int8), specialised for the GA: same results
    bit for bit, with work per run of bars rather than per bar where nothing can happen.

    The bars of a fold are cut into runs whose order to fill has one side v (with ``next_open`` the order
    filled at bar t is the target of bar t-1; the fold starts flat with no order); run ends are found eight
    bars at a time (:func:`_run_end`). The first bar of a run whose side differs from the position fills the
    all-in entry or the full exit with ``sim_bar``'s own operations (no participation cap or impact here) and
    marks to market (``mark_close``, the end of ``sim_bar``). Every other bar of the run is "quiet": a run of
    L flat bars is one step (the equity is the cash: ``cash + 0.0 * close == cash`` for finite closes, equal to the last marked
    equity, so no return is booked; the drawdown clock advances by L bars, exact integer arithmetic; the
    drawdown test, whose inputs do not change, runs once), a run of long bars is marked to market in one
    tight loop (:func:`_long_run`). Anything else (a fill the fast path does not cover: cash below the fixed
    fee, fees above the proceeds, an order still worked; or a fold whose closes are not all finite,
    ``finite`` False: see :func:`all_finite`) runs the engine's ``sim_bar`` bar by bar until the position
    holds the run's side again. ``out`` has shape (n_folds, N_METRICS).

    A fold with finite closes whose orders all fill whole (the usual case) takes :func:`_fold_two_pass` (the
    fills first, then the marks, the same operations); any other fold, :func:`_fold_runs` (the above in one
    pass, for any fill).
    """
    n = target.shape[0]
    w = target[: n - (n & 7)].view(np.uint64)
    rs = np.empty(_RUNS + 1, dtype=np.int64)
    rc = np.empty(_RUNS)
    rp = np.empty(_RUNS)
    for k in range(bounds.shape[0]):
        s = bounds[k, 0]
        e = bounds[k, 1]
        if finite and _fold_two_pass(
            target, w, o, c, s, e, next_open, fees, slippage, fixed_fee, init_cash, ann, out[k], rs, rc, rp
        ):
            continue
        _fold_runs(
            target, w, o, c, s, e, finite, next_open, fees, slippage, fixed_fee, init_cash, ann, out[k]
        )


#: Runs recorded per batch by :func:`_fold_two_pass` (its three scratch rows stay in the L1/L2 cache).
_RUNS = 2048


@njit(cache=True, error_model="numpy")
def _fold_two_pass(
    target, w, o, c, s, e, next_open, fees, slippage, fixed_fee, init_cash, ann, out_k, rs, rc, rp
):
    """One fold of :func:`lean_fold_metrics` in two passes over batches of runs, when every order fills whole:
    each long run opens with an all-in entry and each flat run after one closes it in full. Returns False,
    writing nothing, as soon as that does not hold (an entry the cash cannot pay, an exit whose fees exceed
    the proceeds, a position left open by the exit's rounding): the caller then runs :func:`_fold_runs`.

    Pass 1 walks the runs (ends found eight bars at a time) and fills each run's first bar with ``sim_bar``'s
    operations (``_buy``/``_sell``), recording the run's start, cash and position, and counts the trades.
    Pass 2 marks every bar to market in bar order with the one-pass kernel's pieces: a long run, its entry bar
    included (the same cash and position), with :func:`_long_run`; a flat run's first bar (the exit) with
    ``mark_close``, its quiet rest with :func:`_quiet_flat`.
    Taking the fills' division chains off the path of the marks' branches makes it ~10 % faster than one pass
    over the W5 targets (measured); the values are the same bit for bit."""
    cash = init_cash
    pos = 0.0
    n_trades = 0.0
    n_closed = 0.0
    n_wins = 0.0
    gp = 0.0
    gl = 0.0
    tflow = 0.0
    eq_prev = init_cash
    peak = init_cash
    max_dd = 0.0
    dd_bars = 0.0
    max_dd_bars = 0.0
    sum_r = 0.0
    sum_r2 = 0.0
    sum_dn2 = 0.0
    expo = 0.0
    n_upd = 0.0
    t = s
    while t < e:
        # pass 1: up to _RUNS runs of same-side orders and the fill at each one's first bar
        nr = 0
        while t < e and nr < _RUNS:
            if next_open:
                v = 0 if t == s else int(target[t - 1])
                b = _run_end(target, w, t, e - 1, v) + 1
            else:
                v = int(target[t])
                b = _run_end(target, w, t + 1, e, v)
            price = o[t] if next_open else c[t]
            if v == 1:  # runs alternate sides, so the position is flat here
                cash2, pos2, qb, _ap, _fee = _buy(cash, pos, np.inf, price, slippage, 0.0, fees, fixed_fee)
                if not (qb > 0.0 and qb != np.inf):
                    return False
                n_trades += 1.0
                tflow = cash2 - cash
                cash = cash2
                pos = pos2
            elif pos > 0.0:
                qty = pos
                cash2, pos2, qs, _ap, _fee = _sell(cash, pos, qty, price, slippage, 0.0, fees, fixed_fee)
                if qs == 0.0 or not (abs(pos2) <= 1e-12 * qty):
                    return False
                tflow += cash2 - cash
                cash = cash2
                pos = 0.0
                n_closed, n_wins, gp, gl = _close_trade(tflow, n_closed, n_wins, gp, gl)
                tflow = 0.0
            rs[nr] = t
            rc[nr] = cash
            rp[nr] = pos
            nr += 1
            t = b
        rs[nr] = t
        # pass 2: mark those runs' bars to market, in bar order
        for i in range(nr):
            a = rs[i]
            n_run = rs[i + 1] - a
            if rp[i] != 0.0:  # a long run, its entry bar included (the same cash and position)
                eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2 = _long_run(
                    c, a, n_run, rc[i], rp[i], eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2,
                    sum_dn2,
                )  # fmt: skip
                n_upd += float(n_run)
                expo += float(n_run)
            else:  # a flat run: its exit bar books its return, the quiet rest books none
                eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2, expo, n_upd = mark_close(
                    c[a], 0.0, rc[i], 0.0, eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2,
                    expo, n_upd,
                )  # fmt: skip
                if n_run > 1:
                    peak, max_dd, dd_bars, max_dd_bars = _quiet_flat(
                        rc[i], n_run - 1, peak, max_dd, dd_bars, max_dd_bars
                    )
    finish_metrics(out_k, e - s, init_cash, ann, 0.0, cash, pos, c[e - 1], eq_prev, max_dd, max_dd_bars, sum_r,
                   sum_r2, sum_dn2, expo, n_trades, n_closed, n_wins, gp, gl, tflow, n_upd)  # fmt: skip
    return True


@njit(cache=True, error_model="numpy")
def _fold_runs(target, w, o, c, s, e, finite, next_open, fees, slippage, fixed_fee, init_cash, ann, out_k):
    """One fold of :func:`lean_fold_metrics` in one pass over its runs, for any fill (see there)."""
    cfg = (next_open, fees, slippage, fixed_fee, 0.0, 0.0, 0.0)
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
    t = s
    while t < e:
        # the run [t, b) of bars whose order to fill has side v
        if next_open:
            v = 0 if t == s else int(target[t - 1])
            b = _run_end(target, w, t, e - 1, v) + 1
        else:
            v = int(target[t])
            b = _run_end(target, w, t + 1, e, v)
        q = t
        if finite and work == 0.0:
            price = o[t] if next_open else c[t]
            if v == 1 and pos == 0.0:
                # sim_bar's all-in entry (no cap, no impact): _buy(qty=inf); sim_bar's own want = avail /
                # adj0 is the same number, so an entry it would not make (qty 0) is not made here either
                cash2, pos2, qb, _ap, _fee = _buy(cash, pos, np.inf, price, slippage, 0.0, fees, fixed_fee)
                if qb > 0.0 and qb != np.inf:
                    n_trades += 1.0
                    tflow = 0.0
                    tflow += cash2 - cash
                    cash = cash2
                    pos = pos2
                    q = t + 1
            elif v == 0 and pos > 0.0:
                # sim_bar's full exit: _sell(qty = |pos|), refused when the fees would exceed the proceeds
                qty = pos
                cash2, pos2, qs, _ap, _fee = _sell(cash, pos, qty, price, slippage, 0.0, fees, fixed_fee)
                if qs != 0.0:
                    tflow += cash2 - cash
                    cash = cash2
                    pos = pos2
                    if abs(pos) <= 1e-12 * qty:
                        pos = 0.0
                        n_closed, n_wins, gp, gl = _close_trade(tflow, n_closed, n_wins, gp, gl)
                        tflow = 0.0
                    else:
                        work = 1.0
                    q = t + 1
            if q > t:
                eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2, expo, n_upd = mark_close(
                    c[t], 0.0, cash, pos, eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2,
                    expo, n_upd,
                )  # fmt: skip
        # bars of the run where an order may still fill go through the engine's bar step
        while q < b and not (
            finite and work == 0.0 and ((v == 1 and pos > 0.0) or (v == 0 and pos == 0.0 and cash == eq_prev))
        ):
            if next_open:
                pend = 0.0 if q == s else float(target[q - 1])
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
                q - s,
                float(target[q]),
                o[q],
                c[q],
                0.0,
                0.0,
                0.0,
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
            q += 1
        if q < b:  # the quiet rest of the run
            n_run = b - q
            if v == 0:
                peak, max_dd, dd_bars, max_dd_bars = _quiet_flat(
                    cash, n_run, peak, max_dd, dd_bars, max_dd_bars
                )
            else:
                eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2 = _long_run(
                    c, q, n_run, cash, pos, eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2,
                    sum_dn2,
                )  # fmt: skip
                n_upd += float(n_run)  # += 1.0 per bar: exact in float64 (integers < 2**53)
                expo += float(n_run)
        t = b
    finish_metrics(
        out_k,
        e - s,
        init_cash,
        ann,
        0.0,
        cash,
        pos,
        c[e - 1],
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


# ------------------------------------------------------------------------------ two independent rows at once
# The indicators above are latency-bound: each bar waits for the previous bar's running sum/average. Two
# independent rows of the same indicator advanced in one loop overlap their dependency chains (ema ~1.9x the
# throughput; sma, one addition on its chain, is bound by its division per bar and gains little). rsi, whose two
# averages already overlap and which divides once per bar, gained nothing (measured) and is not paired. Each lane
# performs exactly the single-row kernel's operations, so values are bit-identical.


@njit(cache=True, inline="always")
def _ema_step(xt, n, alpha, cnt, s, val):
    if not math.isfinite(xt):
        return 0, 0.0, val, np.nan
    if cnt < n:
        s += xt
        cnt += 1
        if cnt == n:
            val = s / n
            return cnt, s, val, _fin(val)
        return cnt, s, val, np.nan
    val = alpha * xt + (1.0 - alpha) * val
    return cnt, s, val, _fin(val)


@njit(cache=True, inline="always")
def _sma_step(xt, xo, t, n, s, bad):
    """One bar of :func:`k_sma`'s general loop (``xo`` = x[t-n], read only when t >= n)."""
    ok = math.isfinite(xt)
    if t >= n:
        if math.isfinite(xo):
            if ok:
                s += xt - xo
            else:
                s -= xo
                bad += 1
        elif ok:
            s += xt
            bad -= 1
    elif ok:
        s += xt
    else:
        bad += 1
    return s, bad, (_fin(s / n) if (t >= n - 1 and bad == 0) else np.nan)


@njit(cache=True)
def k_sma2(x, n, out, y, m, out2):
    """:func:`k_sma` of two independent series in one loop (the inner loop while both windows are defined)."""
    s = 0.0
    bad = 0
    s2 = 0.0
    bad2 = 0
    t = 0
    nt = x.shape[0]
    while t < nt:
        if bad == 0 and bad2 == 0 and t >= n and t >= m:
            while t < nt:
                xt = x[t]
                yt = y[t]
                if not (math.isfinite(xt) and math.isfinite(yt)):
                    break
                s += xt - x[t - n]
                out[t] = _fin(s / n)
                s2 += yt - y[t - m]
                out2[t] = _fin(s2 / m)
                t += 1
            if t >= nt:
                break
        s, bad, out[t] = _sma_step(x[t], x[t - n] if t >= n else 0.0, t, n, s, bad)
        s2, bad2, out2[t] = _sma_step(y[t], y[t - m] if t >= m else 0.0, t, m, s2, bad2)
        t += 1


@njit(cache=True)
def k_seeded2(x, n, alpha, out, y, m, beta, out2):
    """:func:`k_seeded` of two independent series in one loop."""
    cnt = 0
    s = 0.0
    val = 0.0
    cnt2 = 0
    s2 = 0.0
    val2 = 0.0
    for t in range(x.shape[0]):
        cnt, s, val, r = _ema_step(x[t], n, alpha, cnt, s, val)
        cnt2, s2, val2, r2 = _ema_step(y[t], m, beta, cnt2, s2, val2)
        out[t] = r
        out2[t] = r2


#: Ops that :func:`execute_paired` can run two rows at a time.
PAIRABLE = (OP_SMA, OP_EMA)


@njit(cache=True)
def execute_paired(code, imm, pair, regs):
    """Run rows like :func:`execute` (terminals are ``regs`` rows 0-4, never rows); a row with ``pair[i]``
    set runs together with row i+1 (same indicator, independent: neither reads the other's output)."""
    o = regs[0]
    h = regs[1]
    lo = regs[2]
    c = regs[3]
    v = regs[4]
    i = 0
    m = code.shape[0]
    while i < m:
        if pair[i] and i + 1 < m:
            op = code[i, 0]
            d1 = regs[code[i, 1]]
            d2 = regs[code[i + 1, 1]]
            x1 = regs[code[i, 2]]
            x2 = regs[code[i + 1, 2]]
            n1 = int(imm[i])
            n2 = int(imm[i + 1])
            if op == OP_SMA:
                k_sma2(x1, n1, d1, x2, n2, d2)
            else:
                k_seeded2(x1, n1, 2.0 / (n1 + 1.0), d1, x2, n2, 2.0 / (n2 + 1.0), d2)
            i += 2
        else:
            execute(code[i : i + 1], imm[i : i + 1], regs, o, h, lo, c, v)
            i += 1


#: Boolean ops whose value a rule's target can be computed from directly (see :func:`target_of`).
FUSABLE = (
    OP_GT, OP_LT, OP_CROSS_ABOVE, OP_CROSS_BELOW, OP_ABOVE, OP_BELOW, OP_AND, OP_OR, OP_NOT,
)  # fmt: skip


@njit(cache=True)
def target_of(op, a, b, lv, tgt):
    """The long/flat target of a rule whose root is the boolean ``op`` on registers ``a`` (and ``b``, or the
    level ``lv``), written straight into ``tgt`` (int8) without storing the root's value: the same
    comparisons as :func:`execute`, whose 0.0/1.0 value would give the same target."""
    m = tgt.shape[0]
    if op == OP_GT:
        for t in range(m):
            tgt[t] = 1 if a[t] > b[t] else 0
    elif op == OP_LT:
        for t in range(m):
            tgt[t] = 1 if a[t] < b[t] else 0
    elif op == OP_ABOVE:
        for t in range(m):
            tgt[t] = 1 if a[t] > lv else 0
    elif op == OP_BELOW:
        for t in range(m):
            tgt[t] = 1 if a[t] < lv else 0
    elif op == OP_CROSS_ABOVE:
        tgt[0] = 0
        for t in range(1, m):
            tgt[t] = 1 if (a[t] > b[t] and a[t - 1] <= b[t - 1]) else 0
    elif op == OP_CROSS_BELOW:
        tgt[0] = 0
        for t in range(1, m):
            tgt[t] = 1 if (a[t] < b[t] and a[t - 1] >= b[t - 1]) else 0
    elif op == OP_AND:
        for t in range(m):
            tgt[t] = 1 if (a[t] != 0.0 and b[t] != 0.0) else 0
    elif op == OP_OR:
        for t in range(m):
            tgt[t] = 1 if (a[t] != 0.0 or b[t] != 0.0) else 0
    else:  # OP_NOT
        for t in range(m):
            tgt[t] = 0 if a[t] != 0.0 else 1


@njit(cache=True, error_model="numpy")
def slot_eval(
    codes,
    imms,
    pair,
    roots,
    fused,
    slots,
    bounds,
    finite,
    next_open,
    fees,
    slippage,
    fixed_fee,
    init_cash,
    ann,
):
    """Metrics (m, n_folds, N_METRICS) of m rules on one symbol: every row first (:func:`execute_paired` on the
    slot array, rows 0-4 the bars), then each rule's target, long where its value in slot ``roots[j]`` is
    non-zero and finite (or, for ``roots[j] < 0``, computed by :func:`target_of` from ``fused[j]`` = (op,
    slot a, slot b, level)), scored fold by fold with :func:`lean_fold_metrics`. ``finite``: whether every
    close (slot row 3) is finite, :func:`all_finite` (the caller's, computed once per symbol)."""
    m = roots.shape[0]
    out = np.empty((m, bounds.shape[0], N_METRICS))
    tgt = np.empty(slots.shape[1], dtype=np.int8)
    execute_paired(codes, imms, pair, slots)
    o = slots[0]
    c = slots[3]
    for j in range(m):
        if roots[j] < 0:
            fa = int(fused[j, 1])
            fb = int(fused[j, 2])
            target_of(int(fused[j, 0]), slots[fa], slots[fb], fused[j, 3], tgt)
        else:
            val = slots[roots[j]]
            for t in range(val.shape[0]):
                tgt[t] = 1 if (val[t] != 0.0 and math.isfinite(val[t])) else 0
        lean_fold_metrics(
            tgt, o, c, bounds, finite, next_open, fees, slippage, fixed_fee, init_cash, ann, out[j]
        )
    return out
