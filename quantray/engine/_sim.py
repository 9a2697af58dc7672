"""Numba simulation core: target position -> fills -> cash/position -> equity -> online metrics.

Everything here is a pure kernel (arrays and scalars in, scalars or arrays out), no pandas, no I/O.

The bar step :func:`sim_bar` is written once and inlined (``inline="always"``) into every fused strategy kernel
and into the record-keeping :func:`simulate_records` kernel, so a batch sweep and a single detailed backtest run
the very same arithmetic. Its state travels as plain scalars (not arrays, not nested tuples): numba/LLVM keeps
them in registers, which is what makes the fused sweep fast.

Execution conventions (DESIGN.md §3):

* a target position (-1, 0, +1) decided on bar t's close is filled at bar t's close (``next_open=False``, the
  convention of vectorbt's ``Portfolio.from_signals``) or at bar t+1's open (``next_open=True``);
* buys pay ``price * (1 + slippage + impact)``, sells receive ``price * (1 - slippage - impact)``;
* fees: ``fees`` x traded value + ``fixed_fee`` per order;
* all-in sizing: a long entry spends all cash, ``size = (cash - fixed_fee) / (1 + fees) / adj_price``
  (vectorbt's ``size=np.inf``); a short entry sells the same size that the cash would buy;
* square-root impact ``impact_k * sigma_daily[t] * sqrt(q / adv[t])`` as a price fraction, evaluated at the
  order size before impact (slightly conservative);
* participation cap: at most ``participation * volume[t]`` units per bar; the rest of the order is worked on the
  following bars while the target is unchanged.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Layout of one metrics row written by ``finish_metrics`` (kept in sync with METRIC_NAMES in _config.py).
N_METRICS = 15


@njit(cache=True, inline="always", error_model="numpy")
def _buy(cash, pos, qty_wanted, price, slippage, imp, fees, fixed_fee):
    """Buy ``qty_wanted`` units (np.inf = all cash). Returns (cash, pos, qty, adj_price, fee)."""
    adj = price * (1.0 + slippage + imp)
    if qty_wanted == np.inf:
        max_req = (cash - fixed_fee) / (1.0 + fees)
        if max_req <= 0.0:
            return cash, pos, 0.0, adj, 0.0
        qty = max_req / adj
        fee = cash - max_req
        return 0.0, pos + qty, qty, adj, fee
    req = qty_wanted * adj
    fee = req * fees + fixed_fee
    total = req + fee
    if total > cash and pos >= 0.0:
        # not enough cash for a long add: buy what the cash allows
        max_req = (cash - fixed_fee) / (1.0 + fees)
        if max_req <= 0.0:
            return cash, pos, 0.0, adj, 0.0
        qty = max_req / adj
        fee = cash - max_req
        return 0.0, pos + qty, qty, adj, fee
    return cash - total, pos + qty_wanted, qty_wanted, adj, fee


@njit(cache=True, inline="always", error_model="numpy")
def _sell(cash, pos, qty, price, slippage, imp, fees, fixed_fee):
    """Sell ``qty`` units. Returns (cash, pos, qty, adj_price, fee)."""
    adj = price * (1.0 - slippage - imp)
    acq = qty * adj
    fee = acq * fees + fixed_fee
    if acq - fee < 0.0:  # the fees would exceed the proceeds: rejected, as vectorbt does (CantCoverFees)
        return cash, pos, 0.0, adj, 0.0
    return cash + acq - fee, pos - qty, qty, adj, fee


@njit(cache=True, inline="always", error_model="numpy")
def _impact(qty, k, sig, adv):
    if k <= 0.0 or adv <= 0.0 or not (sig > 0.0):
        return 0.0
    return k * sig * math.sqrt(qty / adv)


@njit(cache=True, inline="always", error_model="numpy")
def _close_trade(tflow, n_closed, n_wins, gp, gl):
    """Book a closed trade whose cash flows sum to ``tflow``. Selects, not a branch (a win is a coin flip for
    the branch predictor); adding 0.0 leaves a sum unchanged."""
    win = tflow > 0.0
    n_closed += 1.0
    n_wins += 1.0 if win else 0.0
    gp += tflow if win else 0.0
    gl -= 0.0 if win else tflow
    return n_closed, n_wins, gp, gl


@njit(cache=True, inline="always", error_model="numpy")
def mark_close(
    ct, rf, cash, pos, eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2, expo, n_upd
):
    """Mark to market at the close ``ct`` and update the online metrics (the end of :func:`sim_bar`; also used
    by the GA's fold kernel after its inline fills). Returns ``eq_prev, peak, max_dd, dd_bars, max_dd_bars,
    sum_r, sum_r2, sum_dn2, expo, n_upd``."""
    eq = cash + pos * ct
    if pos != 0.0 or eq != eq_prev:
        r = eq / eq_prev - 1.0
        sum_r += r
        sum_r2 += r * r
        dn = min(r - rf, 0.0)  # branch-free: the sign of a return is a coin flip for the branch predictor
        sum_dn2 += dn * dn
        n_upd += 1.0
        eq_prev = eq
    if pos != 0.0:
        expo += 1.0
    if eq >= peak:
        peak = eq
        dd_bars = 0.0
    else:
        dd_bars += 1.0
        if dd_bars > max_dd_bars:
            max_dd_bars = dd_bars
        if eq < peak * (1.0 - max_dd):  # a deeper drawdown: only then pay for the division
            max_dd = 1.0 - eq / peak
    return eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2, expo, n_upd


@njit(cache=True, inline="always", error_model="numpy")
def sim_bar(
    t,
    tgt,
    o_t,
    c_t,
    v_t,
    sig_t,
    adv_t,
    cfg,
    # --- state (returned updated, same order) ---
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
):
    """Advance the simulation by one bar.

    ``tgt`` is the target decided on this bar's close. With ``next_open`` the order placed on the previous
    bar (``pend``) is filled at this bar's open first. ``work`` is 1.0 while an order is still being worked
    (participation cap). ``cfg`` is ``(next_open, fees, slippage, fixed_fee, impact_k, participation, rf)`` (rf per bar)
    (a tuple keeps the call under CPython's 30-argument limit for inlinable calls). Returns the updated state followed by the fills of this bar:
    ``nfill, q1, p1, f1, q2, p2, f2`` with signed quantities (buy > 0).
    """
    next_open, fees, slippage, fixed_fee, impact_k, participation, rf = cfg
    if next_open:
        fill_tgt = pend
        price = o_t
        pend = tgt
    else:
        fill_tgt = tgt
        price = c_t

    nfill = 0
    q1 = 0.0
    p1 = 0.0
    f1 = 0.0
    q2 = 0.0
    p2 = 0.0
    f2 = 0.0
    cur = 0.0
    if pos > 0.0:
        cur = 1.0
    elif pos < 0.0:
        cur = -1.0

    if fill_tgt != cur or work != 0.0:
        cap = np.inf
        if participation > 0.0:
            cap = participation * v_t
        # 1) reduce/close an existing position that disagrees with the target
        if cur != 0.0 and fill_tgt != cur:
            qty = abs(pos)
            if qty > cap:
                qty = cap
            if qty > 0.0:
                imp = _impact(qty, impact_k, sig_t, adv_t)
                if cur > 0.0:
                    cash2, pos2, q, ap, fee = _sell(cash, pos, qty, price, slippage, imp, fees, fixed_fee)
                    q = -q
                else:
                    cash2, pos2, q, ap, fee = _buy(cash, pos, qty, price, slippage, imp, fees, fixed_fee)
                work = 1.0  # still closing unless the position is gone below
                if q != 0.0:
                    tflow += cash2 - cash
                    cash = cash2
                    pos = pos2
                    nfill = 1
                    q1 = q
                    p1 = ap
                    f1 = fee
                    if abs(pos) <= 1e-12 * qty:
                        pos = 0.0
                        n_closed, n_wins, gp, gl = _close_trade(tflow, n_closed, n_wins, gp, gl)
                        tflow = 0.0
                        work = 0.0
            cap -= qty
        # 2) open (or keep building) a position in the target direction. ``work`` carries the order between
        #    bars under a participation cap: 1.0 for a long (it keeps spending the remaining cash), the
        #    remaining quantity for a short (its size is fixed when the order is placed).
        if fill_tgt != 0.0 and (pos == 0.0 or work != 0.0) and cap > 0.0:
            same_side = (pos == 0.0) or (pos > 0.0) == (fill_tgt > 0.0)
            if same_side:
                adj0 = price * (1.0 + slippage) if fill_tgt > 0.0 else price * (1.0 - slippage)
                avail = (cash - fixed_fee) / (1.0 + fees)
                if fill_tgt < 0.0 and pos < 0.0:
                    want = work  # the rest of a short order placed earlier
                else:
                    want = avail / adj0 if avail > 0.0 else 0.0
                capped = want > cap
                qty = cap if capped else want
                q = 0.0
                if qty > 0.0:
                    opening = pos == 0.0
                    imp = _impact(qty, impact_k, sig_t, adv_t)
                    if fill_tgt > 0.0:
                        if capped or imp > 0.0:
                            cash2, pos2, q, ap, fee = _buy(
                                cash, pos, qty, price, slippage, imp, fees, fixed_fee
                            )
                        else:
                            cash2, pos2, q, ap, fee = _buy(
                                cash, pos, np.inf, price, slippage, imp, fees, fixed_fee
                            )
                    else:
                        cash2, pos2, q, ap, fee = _sell(cash, pos, qty, price, slippage, imp, fees, fixed_fee)
                        q = -q
                    if q != 0.0:
                        if opening:  # a trade is counted when its first fill happens, not when it is wanted
                            n_trades += 1.0
                            tflow = 0.0
                        tflow += cash2 - cash
                        cash = cash2
                        pos = pos2
                        if nfill == 0:
                            nfill = 1
                            q1 = q
                            p1 = ap
                            f1 = fee
                        else:
                            nfill = 2
                            q2 = q
                            p2 = ap
                            f2 = fee
                if not capped or (q == 0.0 and pos == 0.0):
                    work = 0.0
                elif fill_tgt > 0.0:
                    work = 1.0
                else:
                    work = want - qty
        elif fill_tgt == 0.0 and pos == 0.0:
            work = 0.0

    # --- mark to market at the close and update online metrics ---
    eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2, expo, n_upd = mark_close(
        c_t, rf, cash, pos, eq_prev, peak, max_dd, dd_bars, max_dd_bars, sum_r, sum_r2, sum_dn2, expo, n_upd
    )
    return (
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
        nfill,
        q1,
        p1,
        f1,
        q2,
        p2,
        f2,
    )


@njit(cache=True, error_model="numpy")
def finish_metrics(
    out,
    n,
    init_cash,
    ann,
    rf,
    cash,
    pos,
    last_close,
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
):
    """Write the metrics row (order of ``METRIC_NAMES``) from the online accumulators.

    Returns are simple per-bar returns of the equity curve with ``init_cash`` before the first bar, so there
    are ``n`` of them. ``rf`` is the risk-free rate per bar.
    """
    final_eq = cash + pos * last_close
    total_return = final_eq / init_cash - 1.0
    if n >= 1:
        growth = final_eq / init_cash
        if growth > 0.0:
            cagr = growth ** (ann / n) - 1.0
        else:
            cagr = -1.0
    else:
        cagr = np.nan
    vol = np.nan
    sharpe = np.nan
    sortino = np.nan
    if n >= 2:
        mean = sum_r / n
        var = (sum_r2 - n * mean * mean) / (n - 1)
        if var < 0.0:
            var = 0.0
        sd = math.sqrt(var)
        vol = sd * math.sqrt(ann)
        if sd > 1e-14 * max(abs(mean), 1e-300) and sd > 0.0:
            # risk-free adjusts the mean only (a constant shift leaves the deviation unchanged)
            sharpe = (mean - rf) / sd * math.sqrt(ann)
        # bars skipped by the loop (flat, unchanged equity) have r = 0: their downside is min(0 - rf, 0)^2
        m0 = min(-rf, 0.0)
        dn = math.sqrt((sum_dn2 + (n - n_upd) * m0 * m0) / n)
        if dn > 0.0:
            sortino = (mean - rf) * ann / (dn * math.sqrt(ann))
        else:
            sortino = np.inf if mean - rf > 0.0 else np.nan
    calmar = cagr / max_dd if max_dd > 0.0 else np.nan
    win_rate = n_wins / n_closed if n_closed > 0.0 else np.nan
    if n_closed > 0.0:
        profit_factor = gp / gl if gl > 0.0 else (np.inf if gp > 0.0 else np.nan)
        expectancy = (gp - gl) / n_closed
    else:
        profit_factor = np.nan
        expectancy = np.nan
    out[0] = total_return
    out[1] = cagr
    out[2] = sharpe
    out[3] = sortino
    out[4] = calmar
    out[5] = max_dd
    out[6] = vol
    out[7] = n_trades
    out[8] = win_rate
    out[9] = profit_factor
    out[10] = expo / n if n > 0 else np.nan
    out[11] = final_eq
    out[12] = max_dd_bars
    out[13] = expectancy
    out[14] = n_closed


@njit(cache=True, error_model="numpy")
def simulate_records(
    o,
    c,
    v,
    target,
    sig,
    adv,
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
    equity,
    fills,
):
    """Simulate a precomputed target-position array, recording the equity curve and every fill.

    ``equity`` (length n) receives the close-marked equity; ``fills`` (shape (2n, 4)) receives rows
    ``(bar, signed qty, price, fee)``. Returns the number of fill rows written. ``out`` gets the metrics row.
    """
    n = c.shape[0]
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
    k = 0
    cfg = (next_open, fees, slippage, fixed_fee, impact_k, participation, rf)
    for t in range(n):
        tg = float(target[t])
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
            nfill,
            q1,
            p1,
            f1,
            q2,
            p2,
            f2,
        ) = sim_bar(
            t,
            tg,
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
        equity[t] = cash + pos * c[t]
        if nfill >= 1:
            fills[k, 0] = t
            fills[k, 1] = q1
            fills[k, 2] = p1
            fills[k, 3] = f1
            k += 1
        if nfill == 2:
            fills[k, 0] = t
            fills[k, 1] = q2
            fills[k, 2] = p2
            fills[k, 3] = f2
            k += 1
    finish_metrics(
        out,
        n,
        init_cash,
        ann,
        rf,
        cash,
        pos,
        c[n - 1] if n > 0 else 0.0,
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
    return k
