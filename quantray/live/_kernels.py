"""Numba kernel of live signals: one incremental step of a built-in strategy on the newest bar.

It calls the very step functions the backtest's ``signal_array`` and fused kernels use
(:mod:`quantray.strategies._kernels`), on the bar history, so a live signal equals the backtest's on the same
bars by construction (and a test checks it).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from quantray.strategies import _kernels as sk

__all__ = ["step_bar"]


@njit(cache=True, error_model="numpy")
def step_bar(sid, t, h, l, c, i0, i1, i2, f0, f1, f2, st):
    """Advance strategy ``sid`` to bar ``t`` (arrays hold bars 0..t); state slots ``st`` (float64[6]) in place."""
    if sid == sk.SID_DONCHIAN_BREAKOUT:
        s0, s1, s2, s3, s4 = sk._step_donchian(t, h, l, c, i0, i1, st[0], st[1], st[2], st[3], st[4])
        st[0], st[1], st[2], st[3], st[4] = s0, s1, s2, s3, s4
        return np.int8(s4)
    ct = c[t]
    cp = c[t - 1] if t >= 1 else ct
    x1 = c[t - i0] if t >= i0 else 0.0
    x2 = c[t - i1] if t >= i1 else 0.0
    s0, s1, s2, s3, s4, s5, tgt = sk.step(
        sid, t, ct, cp, x1, x2, i0, i1, i2, f0, f1, f2, st[0], st[1], st[2], st[3], st[4], st[5]
    )
    st[0], st[1], st[2], st[3], st[4], st[5] = s0, s1, s2, s3, s4, s5
    return np.int8(tgt)


# ====================================================================== fast path: Binance message parser
# Byte-level parser of Binance websocket messages (combined-stream wrapper or raw payload; trade, aggTrade,
# bookTicker, depthUpdate) with the steady-state sequencing of ``BinanceSession``. The kernel handles a message
# only when it is sure ``BinanceSession.on_message`` would produce exactly the same record and counters; it
# stops at the first message it cannot handle (malformed, escapes, whitespace, unknown keys that steer the
# dispatch, unsynced symbols, gaps, held trades, bad values...) and returns its index, so the caller runs that
# message through the Python reference path and resumes after it.

_POW10 = np.array([10.0**k for k in range(23)], dtype=np.float64)  # exact: 10**k < 2**53 * 2**k for k <= 22
_TWO53 = 1 << 53

# state columns of a symbol (shared with BinanceSession through load/store in quantray.live._fast)
ST_SYNCED, ST_FIRST, ST_LAST_U, ST_LAST_TRADE, ST_LAST_AGG, ST_LAST_QUOTE, ST_HELD, ST_N = range(8)
# counters the kernel maintains (names in quantray.live._fast.FEED_COUNTERS)
C_MESSAGES, C_TRADES, C_QUOTES, C_BOOK, C_DUP, C_STALE, C_N = range(7)
# key ids
_K_e, _K_E, _K_T, _K_s, _K_t, _K_p, _K_q, _K_m, _K_u, _K_U, _K_pu, _K_b, _K_a, _K_B, _K_A, _NK = range(16)
# value types
_V_NONE, _V_STR, _V_INT, _V_NUM, _V_TRUE, _V_FALSE, _V_NULL, _V_LEVELS = range(8)
_MS = 1_000_000


@njit(cache=True)
def parse_decimal(buf, s, e):
    """``float(buf[s:e])`` for ``digits[.digits]`` strings whose value is exactly m / 10**k with m < 2**53 and
    k <= 22 (one correctly rounded IEEE division of two exact numbers equals Python's correctly rounded
    ``float``); returns (ok, value). Anything else (signs, exponents, spaces, too many digits) is not ok."""
    m = 0
    k = 0
    dot = False
    ndig = 0
    # trailing zeros after the dot do not change the value; drop them so that more strings qualify
    e0 = e
    if e > s:
        has_dot = False
        for i in range(s, e):
            if buf[i] == 46:
                has_dot = True
                break
        if has_dot:
            while e > s and buf[e - 1] == 48:
                e -= 1
    for i in range(s, e):
        c = buf[i]
        if c == 46:
            if dot:
                return False, 0.0
            dot = True
            continue
        if c < 48 or c > 57:
            return False, 0.0
        if m >= _TWO53:
            return False, 0.0
        m = m * 10 + (c - 48)
        ndig += 1
        if dot:
            k += 1
    if ndig == 0:
        # "." or "" is not a number; ".0" (stripped to ".") is zero
        return e0 > e, 0.0
    if m >= _TWO53 or k > 22:
        return False, 0.0
    return True, m / _POW10[k]


@njit(cache=True)
def _skip_str(buf, i, end):
    """``i`` at an opening quote: index after the closing quote, or -1 (escapes, control or non-ASCII bytes)."""
    i += 1
    while i < end:
        c = buf[i]
        if c == 34:
            return i + 1
        if c == 92 or c < 32 or c >= 128:
            return -1
        i += 1
    return -1


@njit(cache=True)
def _skip_num(buf, i, end):
    """A JSON number at ``i``: (index after it, 1 if it is a plain non-negative integer of <= 18 digits) or
    (-1, 0) when it is not valid JSON."""
    start = i
    plain = 1
    if i < end and buf[i] == 45:
        plain = 0
        i += 1
    if i >= end:
        return -1, 0
    if buf[i] == 48:
        i += 1
        if i < end and 48 <= buf[i] <= 57:
            return -1, 0
    elif 49 <= buf[i] <= 57:
        while i < end and 48 <= buf[i] <= 57:
            i += 1
    else:
        return -1, 0
    if i < end and buf[i] == 46:
        plain = 0
        i += 1
        if i >= end or not (48 <= buf[i] <= 57):
            return -1, 0
        while i < end and 48 <= buf[i] <= 57:
            i += 1
    if i < end and (buf[i] == 101 or buf[i] == 69):
        plain = 0
        i += 1
        if i < end and (buf[i] == 43 or buf[i] == 45):
            i += 1
        if i >= end or not (48 <= buf[i] <= 57):
            return -1, 0
        while i < end and 48 <= buf[i] <= 57:
            i += 1
    if plain and i - start > 18:
        plain = 0
    return i, plain


@njit(cache=True)
def _int_at(buf, s, e):
    v = 0
    for i in range(s, e):
        v = v * 10 + (buf[i] - 48)
    return v


@njit(cache=True)
def _lit(buf, i, end, word):
    n = len(word)
    if i + n > end:
        return False
    for j in range(n):  # noqa: SIM110 (numba: no generators)
        if buf[i + j] != word[j]:
            return False
    return True


@njit(cache=True)
def _eq(buf, s, e, word):
    if e - s != len(word):
        return False
    for j in range(e - s):  # noqa: SIM110 (numba: no generators)
        if buf[s + j] != word[j]:
            return False
    return True


_W_TRUE = np.frombuffer(b"true", dtype=np.uint8)
_W_FALSE = np.frombuffer(b"false", dtype=np.uint8)
_W_NULL = np.frombuffer(b"null", dtype=np.uint8)
_W_STREAM = np.frombuffer(b"stream", dtype=np.uint8)
_W_DATA = np.frombuffer(b"data", dtype=np.uint8)
_W_TRADE = np.frombuffer(b"trade", dtype=np.uint8)
_W_AGG = np.frombuffer(b"aggTrade", dtype=np.uint8)
_W_DEPTH = np.frombuffer(b"depthUpdate", dtype=np.uint8)
_W_TICKER = np.frombuffer(b"bookTicker", dtype=np.uint8)
_W_RESULT = np.frombuffer(b"result", dtype=np.uint8)
_W_ERROR = np.frombuffer(b"error", dtype=np.uint8)
_W_CODE = np.frombuffer(b"code", dtype=np.uint8)
_W_MSG = np.frombuffer(b"msg", dtype=np.uint8)
_W_ID = np.frombuffer(b"id", dtype=np.uint8)


@njit(cache=True)
def _key_id(buf, s, e):
    """Key id, -1 for an ignored key, -2 for a key that steers ``BinanceSession``'s dispatch (acks, errors)."""
    n = e - s
    if n == 1:
        c = buf[s]
        if c == 101:
            return _K_e
        if c == 69:
            return _K_E
        if c == 84:
            return _K_T
        if c == 115:
            return _K_s
        if c == 116:
            return _K_t
        if c == 112:
            return _K_p
        if c == 113:
            return _K_q
        if c == 109:
            return _K_m
        if c == 117:
            return _K_u
        if c == 85:
            return _K_U
        if c == 98:
            return _K_b
        if c == 97:
            return _K_a
        if c == 66:
            return _K_B
        if c == 65:
            return _K_A
        return -1
    if n == 2 and buf[s] == 112 and buf[s + 1] == 117:
        return _K_pu
    if (
        _eq(buf, s, e, _W_RESULT)
        or _eq(buf, s, e, _W_ERROR)
        or _eq(buf, s, e, _W_CODE)
        or _eq(buf, s, e, _W_MSG)
        or _eq(buf, s, e, _W_ID)
        or _eq(buf, s, e, _W_STREAM)
        or _eq(buf, s, e, _W_DATA)
    ):
        return -2
    return -1


@njit(cache=True)
def _levels(buf, i, end, out, o0, cap):
    """``[["p","q"],...]`` at ``i`` into ``out[o0:]`` as p, q pairs; (index after, pairs) or (-1, 0)."""
    if buf[i] != 91:
        return -1, 0
    i += 1
    n = 0
    if i < end and buf[i] == 93:
        return i + 1, 0
    while True:
        if i >= end or buf[i] != 91:
            return -1, 0
        i += 1
        for half in range(2):
            if i >= end or buf[i] != 34:
                return -1, 0
            j = _skip_str(buf, i, end)
            if j < 0:
                return -1, 0
            ok, v = parse_decimal(buf, i + 1, j - 1)
            if not ok:
                return -1, 0
            if o0 + 2 * n + half >= cap:
                return -1, 0
            out[o0 + 2 * n + half] = v
            i = j
            if half == 0:
                if i >= end or buf[i] != 44:
                    return -1, 0
                i += 1
        if i >= end or buf[i] != 93:
            return -1, 0
        i += 1
        n += 1
        if i >= end:
            return -1, 0
        if buf[i] == 93:
            return i + 1, n
        if buf[i] != 44:
            return -1, 0
        i += 1


@njit(cache=True)
def _scan_obj(buf, i, end, vt, vs, ve, bv, nbv, bcap, av, nav, acap, nl):
    """Scan a flat JSON object at ``i`` (keys of interest into vt/vs/ve, depth levels into bv/av tentatively);
    returns the index after it or -1 (not handled by the fast path)."""
    for k in range(_NK):
        vt[k] = _V_NONE
    if i >= end or buf[i] != 123:
        return -1
    i += 1
    if i < end and buf[i] == 125:
        return i + 1
    while True:
        if i >= end or buf[i] != 34:
            return -1
        j = _skip_str(buf, i, end)
        if j < 0:
            return -1
        kid = _key_id(buf, i + 1, j - 1)
        if kid == -2:
            return -1
        i = j
        if i >= end or buf[i] != 58:
            return -1
        i += 1
        if i >= end:
            return -1
        if kid >= 0 and vt[kid] != _V_NONE:
            return -1  # a repeated key (json keeps the last one): let Python decide
        c = buf[i]
        t = _V_NONE
        s0 = i
        if c == 34:
            j = _skip_str(buf, i, end)
            if j < 0:
                return -1
            t = _V_STR
            s0 = i + 1
            e0 = j - 1
        elif c == 45 or (48 <= c <= 57):
            j, plain = _skip_num(buf, i, end)
            if j < 0:
                return -1
            t = _V_INT if plain else _V_NUM
            e0 = j
        elif c == 116 and _lit(buf, i, end, _W_TRUE):
            j = i + 4
            t = _V_TRUE
            e0 = j
        elif c == 102 and _lit(buf, i, end, _W_FALSE):
            j = i + 5
            t = _V_FALSE
            e0 = j
        elif c == 110 and _lit(buf, i, end, _W_NULL):
            j = i + 4
            t = _V_NULL
            e0 = j
        elif c == 91 and (kid == _K_b or kid == _K_a):
            if kid == _K_b:
                j, n = _levels(buf, i, end, bv, nbv, bcap)
                nl[0] = n
            else:
                j, n = _levels(buf, i, end, av, nav, acap)
                nl[1] = n
            if j < 0:
                return -1
            t = _V_LEVELS
            e0 = j
        else:
            return -1
        if kid >= 0:
            vt[kid] = t
            vs[kid] = s0
            ve[kid] = e0
        i = j
        if i >= end:
            return -1
        if buf[i] == 125:
            return i + 1
        if buf[i] != 44:
            return -1
        i += 1


@njit(cache=True)
def binance_batch(
    buf,
    starts,
    ends,
    recv,
    i0,
    usdm,
    sym_buf,
    sym_off,
    st,
    seqa,
    counters,
    o_kind,
    o_seq,
    o_sym,
    o_ts,
    o_recv,
    o_id0,
    o_id1,
    o_f,
    o_flag,
    o_boff,
    o_aoff,
    bv,
    av,
):
    """Parse and sequence messages ``i0..`` into record rows; returns (rows, levels bid, levels ask, stop index).

    ``st`` (int64[symbols, ST_N]) is the sequencing state of each symbol, ``seqa[0]`` the last assigned
    sequence number and ``counters`` (int64[C_N]) the counters the kernel owns; all are updated in place.
    """
    n = len(starts)
    vt = np.zeros(_NK, dtype=np.int64)
    vs = np.zeros(_NK, dtype=np.int64)
    ve = np.zeros(_NK, dtype=np.int64)
    nl = np.zeros(2, dtype=np.int64)
    rows = 0
    nbv = 0
    nav = 0
    bcap = len(bv)
    acap = len(av)
    nsym = len(sym_off) - 1
    o_boff[0] = 0
    o_aoff[0] = 0
    seq = seqa[0]
    for m in range(i0, n):
        s = starts[m]
        end = ends[m]
        nl[0] = 0
        nl[1] = 0
        # the wrapper {"stream":"...","data":{...}} or a raw payload
        if end - s > 11 and buf[s] == 123 and buf[s + 1] == 34 and _eq(buf, s + 2, s + 8, _W_STREAM):
            if buf[s + 8] != 34 or buf[s + 9] != 58 or buf[s + 10] != 34:
                break
            j = _skip_str(buf, s + 10, end)
            if j < 0 or j + 8 > end or buf[j] != 44 or buf[j + 1] != 34:
                break
            if not _eq(buf, j + 2, j + 6, _W_DATA) or buf[j + 6] != 34 or buf[j + 7] != 58:
                break
            j = _scan_obj(buf, j + 8, end, vt, vs, ve, bv, nbv, bcap, av, nav, acap, nl)
            if j < 0 or j + 1 != end or buf[j] != 125:
                break
        else:
            j = _scan_obj(buf, s, end, vt, vs, ve, bv, nbv, bcap, av, nav, acap, nl)
            if j != end:
                break
        # symbol
        if vt[_K_s] != _V_STR:
            break
        sym = -1
        for k in range(nsym):
            if _eq(buf, vs[_K_s], ve[_K_s], sym_buf[sym_off[k] : sym_off[k + 1]]):
                sym = k
                break
        if sym < 0:
            break
        # event type
        et = -1
        if vt[_K_e] == _V_STR:
            a, b = vs[_K_e], ve[_K_e]
            if _eq(buf, a, b, _W_TRADE):
                et = 0
            elif _eq(buf, a, b, _W_AGG):
                et = 1
            elif _eq(buf, a, b, _W_DEPTH):
                et = 2
            elif _eq(buf, a, b, _W_TICKER):
                et = 3
        elif (
            vt[_K_e] == _V_NONE
            and vt[_K_u] != _V_NONE
            and vt[_K_b] != _V_NONE
            and vt[_K_a] != _V_NONE
            and vt[_K_B] != _V_NONE
        ):
            et = 3
        if et < 0:
            break
        if et <= 1:
            kid = _K_a if et == 1 else _K_t
            if vt[kid] != _V_INT or vt[_K_p] != _V_STR or vt[_K_q] != _V_STR:
                break
            tid = _int_at(buf, vs[kid], ve[kid])
            ok, price = parse_decimal(buf, vs[_K_p], ve[_K_p])
            if not ok:
                break
            ok, qty = parse_decimal(buf, vs[_K_q], ve[_K_q])
            if not ok or not price > 0.0:
                break
            last = st[sym, ST_LAST_AGG] if et == 1 else st[sym, ST_LAST_TRADE]
            if tid <= last:
                counters[C_MESSAGES] += 1
                counters[C_DUP] += 1
                continue
            if st[sym, ST_HELD] != 0 or (et == 0 and last >= 0 and tid > last + 1):
                break
            if vt[_K_T] != _V_INT:
                break
            mt = vt[_K_m]
            if mt != _V_NONE and mt != _V_TRUE and mt != _V_FALSE:
                break
            if et == 1:
                st[sym, ST_LAST_AGG] = tid
            else:
                st[sym, ST_LAST_TRADE] = tid
            seq += 1
            o_kind[rows] = 0
            o_ts[rows] = _int_at(buf, vs[_K_T], ve[_K_T]) * _MS
            o_id0[rows] = tid
            o_id1[rows] = 0
            o_f[rows, 0] = price
            o_f[rows, 1] = qty
            o_f[rows, 2] = 0.0
            o_f[rows, 3] = 0.0
            o_flag[rows] = mt == _V_TRUE
            counters[C_TRADES] += 1
        elif et == 3:
            if vt[_K_u] != _V_INT:
                break
            u = _int_at(buf, vs[_K_u], ve[_K_u])
            if u <= st[sym, ST_LAST_QUOTE]:
                counters[C_MESSAGES] += 1
                counters[C_DUP] += 1
                continue
            if vt[_K_b] != _V_STR or vt[_K_B] != _V_STR or vt[_K_a] != _V_STR or vt[_K_A] != _V_STR:
                break
            ok1, bid = parse_decimal(buf, vs[_K_b], ve[_K_b])
            ok2, bq = parse_decimal(buf, vs[_K_B], ve[_K_B])
            ok3, ask = parse_decimal(buf, vs[_K_a], ve[_K_a])
            ok4, aq = parse_decimal(buf, vs[_K_A], ve[_K_A])
            if not (ok1 and ok2 and ok3 and ok4):
                break
            if vt[_K_T] == _V_NONE:
                ts = recv[m]
            elif vt[_K_T] == _V_INT:
                ts = _int_at(buf, vs[_K_T], ve[_K_T]) * _MS
            else:
                break
            st[sym, ST_LAST_QUOTE] = u
            seq += 1
            o_kind[rows] = 1
            o_ts[rows] = ts
            o_id0[rows] = u
            o_id1[rows] = 0
            o_f[rows, 0] = bid
            o_f[rows, 1] = bq
            o_f[rows, 2] = ask
            o_f[rows, 3] = aq
            o_flag[rows] = False
            counters[C_QUOTES] += 1
        else:
            if vt[_K_U] != _V_INT or vt[_K_u] != _V_INT:
                break
            first = _int_at(buf, vs[_K_U], ve[_K_U])
            lastu = _int_at(buf, vs[_K_u], ve[_K_u])
            if st[sym, ST_SYNCED] == 0:
                break
            lu = st[sym, ST_LAST_U]
            if lastu <= lu:
                counters[C_MESSAGES] += 1
                counters[C_STALE] += 1
                continue
            if st[sym, ST_FIRST] != 0:
                if usdm:
                    okc = first <= lu <= lastu
                else:
                    okc = first <= lu + 1 <= lastu
            elif usdm and vt[_K_pu] != _V_NONE:
                if vt[_K_pu] != _V_INT:
                    break
                okc = _int_at(buf, vs[_K_pu], ve[_K_pu]) == lu
            else:
                okc = first == lu + 1
            if not okc:
                break
            if vt[_K_b] != _V_LEVELS or vt[_K_a] != _V_LEVELS:
                break
            bad = False
            for k in range(nl[0]):
                if not bv[nbv + 2 * k] > 0.0:
                    bad = True
            for k in range(nl[1]):
                if not av[nav + 2 * k] > 0.0:
                    bad = True
            if bad:
                break
            if vt[_K_E] == _V_NONE:
                ts = 0
            elif vt[_K_E] == _V_INT:
                ts = _int_at(buf, vs[_K_E], ve[_K_E]) * _MS
            else:
                break
            if ts == 0:
                ts = recv[m]
            st[sym, ST_LAST_U] = lastu
            st[sym, ST_FIRST] = 0
            seq += 1
            o_kind[rows] = 2
            o_ts[rows] = ts
            o_id0[rows] = first
            o_id1[rows] = lastu
            o_f[rows, 0] = 0.0
            o_f[rows, 1] = 0.0
            o_f[rows, 2] = 0.0
            o_f[rows, 3] = 0.0
            o_flag[rows] = False
            nbv += 2 * nl[0]
            nav += 2 * nl[1]
            counters[C_BOOK] += 1
        counters[C_MESSAGES] += 1
        o_seq[rows] = seq
        o_sym[rows] = sym
        o_recv[rows] = recv[m]
        o_boff[rows + 1] = nbv
        o_aoff[rows + 1] = nav
        rows += 1
    else:
        m = n
    seqa[0] = seq
    return rows, nbv, nav, m


# ====================================================================== fast path: market state
# Order books as sorted arrays per symbol and side (bids ascending, asks as negated prices ascending: the best
# level is the last element of each, so top-of-book changes touch the end of the array), bars, last trade,
# exchange quotes awaiting their aligned book update. Same semantics as MarketState / OrderBook / BarBuilder
# (the reference); the kernel emits closed bars and events as rows that Python turns into objects.

# counters (names in quantray.live._fast.STATE_COUNTERS, the order of MarketState.counters)
SC_RECORDS, SC_SKIPPED, SC_CROSSED, SC_BAD, SC_CHECKS, SC_MISMATCH, SC_LATE, SC_UNSYNCED, SC_N = range(9)
# output row kinds
OUT_BAR, OUT_BAD_LEVEL, OUT_CROSSED, OUT_MISMATCH, OUT_SPREAD = 1, 2, 3, 4, 5
# stop reasons
STOP_DONE, STOP_RECORD, STOP_CAPACITY, STOP_OUTPUT = 0, 1, 2, 3
# per-symbol float slots / int slots
SF_LAST_PRICE, SF_LAST_QTY, SF_PV, SF_VOL, SF_Q_BID, SF_Q_BQ, SF_Q_ASK, SF_Q_AQ, SF_N = range(9)
SI_VALID, SI_LUID, SI_LAST_TS, SI_LAST_RECV, SI_SPREAD_ALERT, SI_STALE_ALERT, SI_HAS_QUOTE, SI_Q_UID, SI_N = (
    range(9)
)
# bar builder slots
BF_O, BF_H, BF_L, BF_C, BF_V, BF_PV, BF_N = range(7)
BI_START, BI_N, BI_RECV, BI_LATE, BI_NI = range(5)
RQ_CAP = 4100


@njit(cache=True)
def _find(px, n, p):
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if px[mid] < p:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _set_level(px, sz, n, p, q):
    """Set level p (size 0 deletes) in ascending px[:n]; returns the new n."""
    k = _find(px, n, p)
    found = k < n and px[k] == p
    if q == 0.0:
        if found:
            for j in range(k, n - 1):
                px[j] = px[j + 1]
                sz[j] = sz[j + 1]
            return n - 1
        return n
    if found:
        sz[k] = q
        return n
    for j in range(n, k, -1):
        px[j] = px[j - 1]
        sz[j] = sz[j - 1]
    px[k] = p
    sz[k] = q
    return n + 1


@njit(cache=True)
def _reset_side(px, sz, vals, a, b, sign):
    """A snapshot side into px/sz (ascending ``sign * price``): positive sizes only, the last of repeated
    prices wins (the reference builds ``{p: q for p, q in levels if q > 0}``); returns the level count."""
    m = (b - a) // 2
    keys = np.empty(m)
    qs = np.empty(m)
    k = 0
    for j in range(m):
        q = vals[a + 2 * j + 1]
        if q > 0.0:
            keys[k] = sign * vals[a + 2 * j]
            qs[k] = q
            k += 1
    order = np.argsort(keys[:k], kind="mergesort")
    n = 0
    for j in range(k):
        p = keys[order[j]]
        if n > 0 and px[n - 1] == p:
            sz[n - 1] = qs[order[j]]
        else:
            px[n] = p
            sz[n] = qs[order[j]]
            n += 1
    return n


@njit(cache=True)
def _top(s, bpx, bsz, nb, apx, asz, na):
    nan = np.nan
    bid = bpx[s, nb[s] - 1] if nb[s] > 0 else nan
    bq = bsz[s, nb[s] - 1] if nb[s] > 0 else nan
    ask = -apx[s, na[s] - 1] if na[s] > 0 else nan
    aq = asz[s, na[s] - 1] if na[s] > 0 else nan
    return bid, bq, ask, aq


@njit(cache=True)
def _check_levels(vals, a, b):
    """Index (pair number) and code of the first bad level (code 1: size, 2: price) or (-1, 0)."""
    for k in range((b - a) // 2):
        p = vals[a + 2 * k]
        q = vals[a + 2 * k + 1]
        if not (q >= 0.0 and np.isfinite(q)):
            return k, 1
        if not (p > 0.0 and np.isfinite(p)):
            return k, 2
    return -1, 0


@njit(cache=True)
def _out(okind, orow, oi, of, no, kind, row):
    okind[no] = kind
    orow[no] = row
    for j in range(oi.shape[1]):
        oi[no, j] = 0
    for j in range(of.shape[1]):
        of[no, j] = 0.0
    return no + 1


@njit(cache=True)
def _aligned(s, q0, q1, q2, q3, row, si, bpx, bsz, nb, apx, asz, na, counters, okind, orow, oi, of, no):
    if si[s, SI_VALID] == 0:
        return no
    counters[SC_CHECKS] += 1
    b0, b1, b2, b3 = _top(s, bpx, bsz, nb, apx, asz, na)
    if b0 != q0 or b1 != q1 or b2 != q2 or b3 != q3:
        counters[SC_MISMATCH] += 1
        k = no
        no = _out(okind, orow, oi, of, no, OUT_MISMATCH, row)
        oi[k, 0] = s
        oi[k, 1] = si[s, SI_LUID]
        of[k, 0] = b0
        of[k, 1] = b1
        of[k, 2] = b2
        of[k, 3] = b3
        of[k, 4] = q0
        of[k, 5] = q1
        of[k, 6] = q2
        of[k, 7] = q3
        si[s, SI_VALID] = 0
    return no


@njit(cache=True)
def state_batch(
    i0,
    kind,
    seq,
    symi,
    ts,
    recv,
    id0,
    id1,
    f,
    flag,
    boff,
    bvals,
    aoff,
    avals,
    last_seq,
    counters,
    si,
    sf,
    bpx,
    bsz,
    nb,
    apx,
    asz,
    na,
    rq_id,
    rq_v,
    rq_n,
    intervals_ns,
    bi,
    bf,
    spread_bps,
    top_out,
    top_f,
    okind,
    orow,
    oi,
    of,
):
    """Apply rows ``i0..`` of a record batch; returns (stop row, stop reason, book-top rows, output rows).

    Rows whose ``seq`` is not above ``last_seq[0]`` are skipped. A bar record (kind 3) stops the kernel
    (STOP_RECORD, applied in Python); so do a book that needs more capacity (STOP_CAPACITY) and a full output
    buffer (STOP_OUTPUT): the caller grows or drains and resumes at the returned row.
    """
    n = len(kind)
    cap = bpx.shape[1]
    ocap = len(okind)
    nt = 0
    no = 0
    ni = len(intervals_ns)
    for r in range(i0, n):
        if seq[r] <= last_seq[0]:
            counters[SC_SKIPPED] += 1
            continue
        k = kind[r]
        if k == 3:
            return r, STOP_RECORD, nt, no
        if no + 2 * ni + 4 > ocap:
            return r, STOP_OUTPUT, nt, no
        s = symi[r]
        if k == 2 and (
            nb[s] + (boff[r + 1] - boff[r]) // 2 > cap or na[s] + (aoff[r + 1] - aoff[r]) // 2 > cap
        ):
            return r, STOP_CAPACITY, nt, no
        last_seq[0] = seq[r]
        counters[SC_RECORDS] += 1
        if k == 0:
            price = f[r, 0]
            qty = f[r, 1]
            t = ts[r]
            sf[s, SF_LAST_PRICE] = price
            sf[s, SF_LAST_QTY] = qty
            si[s, SI_LAST_TS] = t
            si[s, SI_LAST_RECV] = recv[r]
            sf[s, SF_PV] += price * qty
            sf[s, SF_VOL] += qty
            si[s, SI_STALE_ALERT] = 0
            for j in range(ni):
                iv = intervals_ns[j]
                start = t - t % iv
                if start != bi[s, j, BI_START]:
                    if bi[s, j, BI_START] >= 0 and start < bi[s, j, BI_START]:
                        bi[s, j, BI_LATE] += 1
                        counters[SC_LATE] += 1
                        start = bi[s, j, BI_START]
                    else:
                        if bi[s, j, BI_START] >= 0 and bi[s, j, BI_N] > 0:
                            kk = no
                            no = _out(okind, orow, oi, of, no, OUT_BAR, r)
                            oi[kk, 0] = s
                            oi[kk, 1] = j
                            oi[kk, 2] = bi[s, j, BI_START]
                            oi[kk, 3] = bi[s, j, BI_N]
                            oi[kk, 4] = recv[r]
                            v = bf[s, j, BF_V]
                            of[kk, 0] = bf[s, j, BF_O]
                            of[kk, 1] = bf[s, j, BF_H]
                            of[kk, 2] = bf[s, j, BF_L]
                            of[kk, 3] = bf[s, j, BF_C]
                            of[kk, 4] = v
                            of[kk, 5] = bf[s, j, BF_PV] / v if v > 0 else bf[s, j, BF_C]
                        bi[s, j, BI_START] = start
                        bf[s, j, BF_O] = price
                        bf[s, j, BF_H] = price
                        bf[s, j, BF_L] = price
                        bf[s, j, BF_V] = 0.0
                        bf[s, j, BF_PV] = 0.0
                        bi[s, j, BI_N] = 0
                if price > bf[s, j, BF_H]:
                    bf[s, j, BF_H] = price
                if price < bf[s, j, BF_L]:
                    bf[s, j, BF_L] = price
                bf[s, j, BF_C] = price
                bf[s, j, BF_V] += qty
                bf[s, j, BF_PV] += price * qty
                bi[s, j, BI_N] += 1
                bi[s, j, BI_RECV] = recv[r]
        elif k == 1:
            uid = id0[r]
            q0 = f[r, 0]
            q1 = f[r, 1]
            q2 = f[r, 2]
            q3 = f[r, 3]
            si[s, SI_LAST_RECV] = recv[r]
            si[s, SI_HAS_QUOTE] = 1
            si[s, SI_Q_UID] = uid
            sf[s, SF_Q_BID] = q0
            sf[s, SF_Q_BQ] = q1
            sf[s, SF_Q_ASK] = q2
            sf[s, SF_Q_AQ] = q3
            if si[s, SI_VALID] != 0 and uid == si[s, SI_LUID]:
                no = _aligned(
                    s, q0, q1, q2, q3, r, si, bpx, bsz, nb, apx, asz, na, counters, okind, orow, oi, of, no
                )
            elif si[s, SI_VALID] == 0 or uid > si[s, SI_LUID]:
                m = rq_n[s]
                kq = _find(rq_id[s], m, uid)
                if kq < m and rq_id[s, kq] == uid:
                    pass
                else:
                    for j in range(m, kq, -1):
                        rq_id[s, j] = rq_id[s, j - 1]
                        for c in range(4):
                            rq_v[s, j, c] = rq_v[s, j - 1, c]
                    rq_id[s, kq] = uid
                    m += 1
                rq_v[s, kq, 0] = q0
                rq_v[s, kq, 1] = q1
                rq_v[s, kq, 2] = q2
                rq_v[s, kq, 3] = q3
                if m > 4096:
                    for j in range(m - 2048):
                        rq_id[s, j] = rq_id[s, j + 2048]
                        for c in range(4):
                            rq_v[s, j, c] = rq_v[s, j + 2048, c]
                    m -= 2048
                rq_n[s] = m
        elif k == 2:
            si[s, SI_LAST_RECV] = recv[r]
            lid = id1[r]
            b0, b1, a0, a1 = boff[r], boff[r + 1], aoff[r], aoff[r + 1]
            snapshot = flag[r]
            if not snapshot and si[s, SI_VALID] == 0:
                counters[SC_UNSYNCED] += 1
                continue
            kb, cb = _check_levels(bvals, b0, b1)
            side = 0
            kbad, cbad = kb, cb
            if kb < 0:
                ka, ca = _check_levels(avals, a0, a1)
                side = 1
                kbad, cbad = ka, ca
            if kbad >= 0:
                si[s, SI_VALID] = 0
                counters[SC_BAD] += 1
                kk = no
                no = _out(okind, orow, oi, of, no, OUT_BAD_LEVEL, r)
                oi[kk, 0] = s
                oi[kk, 1] = side
                oi[kk, 2] = cbad
                vals = bvals if side == 0 else avals
                base = b0 if side == 0 else a0
                of[kk, 0] = vals[base + 2 * kbad]
                of[kk, 1] = vals[base + 2 * kbad + 1]
                continue
            if snapshot:
                nb[s] = _reset_side(bpx[s], bsz[s], bvals, b0, b1, 1.0)
                na[s] = _reset_side(apx[s], asz[s], avals, a0, a1, -1.0)
                si[s, SI_VALID] = 1
            else:
                for kk in range((b1 - b0) // 2):
                    nb[s] = _set_level(bpx[s], bsz[s], nb[s], bvals[b0 + 2 * kk], bvals[b0 + 2 * kk + 1])
                for kk in range((a1 - a0) // 2):
                    na[s] = _set_level(apx[s], asz[s], na[s], -avals[a0 + 2 * kk], avals[a0 + 2 * kk + 1])
            si[s, SI_LUID] = lid
            if nb[s] > 0 and na[s] > 0 and bpx[s, nb[s] - 1] >= -apx[s, na[s] - 1]:
                si[s, SI_VALID] = 0
                counters[SC_CROSSED] += 1
                kk = no
                no = _out(okind, orow, oi, of, no, OUT_CROSSED, r)
                oi[kk, 0] = s
                of[kk, 0] = bpx[s, nb[s] - 1]
                of[kk, 1] = -apx[s, na[s] - 1]
                continue
            bid, bq, ask, aq = _top(s, bpx, bsz, nb, apx, asz, na)
            top_out[nt] = r
            top_f[nt, 0] = bid
            top_f[nt, 1] = bq
            top_f[nt, 2] = ask
            top_f[nt, 3] = aq
            nt += 1
            m = rq_n[s]
            kq = _find(rq_id[s], m, lid)
            if kq < m and rq_id[s, kq] == lid:
                q0, q1, q2, q3 = rq_v[s, kq, 0], rq_v[s, kq, 1], rq_v[s, kq, 2], rq_v[s, kq, 3]
                for j in range(kq, m - 1):
                    rq_id[s, j] = rq_id[s, j + 1]
                    for c in range(4):
                        rq_v[s, j, c] = rq_v[s, j + 1, c]
                rq_n[s] = m - 1
                no = _aligned(
                    s, q0, q1, q2, q3, r, si, bpx, bsz, nb, apx, asz, na, counters, okind, orow, oi, of, no
                )
            mid = 0.5 * (bid + ask)
            if mid > 0:
                bps = (ask - bid) / mid * 1e4
                wide = bps > spread_bps
                if wide and si[s, SI_SPREAD_ALERT] == 0:
                    kk = no
                    no = _out(okind, orow, oi, of, no, OUT_SPREAD, r)
                    oi[kk, 0] = s
                    of[kk, 0] = bps
                    of[kk, 1] = bid
                    of[kk, 2] = ask
                si[s, SI_SPREAD_ALERT] = 1 if wide else 0
    return n, STOP_DONE, nt, no
