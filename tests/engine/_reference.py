"""Slow, obviously-correct pure-Python references for the engine tests (written from DESIGN.md §3, not from
the kernels): indicators, the all-in long/short simulator and the metrics of an equity curve.

Nothing here imports quantray: a bug in the library cannot leak into the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# ----------------------------------------------------------------------------------------------- indicators


def ref_sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    for t in range(n - 1, len(x)):
        out[t] = math.fsum(x[t - n + 1 : t + 1]) / n
    return out


def ref_seeded_ma(x: np.ndarray, n: int, alpha: float, start: int = 0) -> np.ndarray:
    """Pine-style moving average: NaN until start+n-1, seeded with the SMA of x[start:start+n]."""
    out = np.full(len(x), np.nan)
    if start + n > len(x):
        return out
    val = math.fsum(x[start : start + n]) / n
    out[start + n - 1] = val
    for t in range(start + n, len(x)):
        val = alpha * x[t] + (1.0 - alpha) * val
        out[t] = val
    return out


def ref_ema(x: np.ndarray, n: int) -> np.ndarray:
    return ref_seeded_ma(x, n, 2.0 / (n + 1))


def ref_rma(x: np.ndarray, n: int) -> np.ndarray:
    return ref_seeded_ma(x, n, 1.0 / n)


def ref_rsi(c: np.ndarray, n: int) -> np.ndarray:
    """Wilder's RSI: average gain/loss seeded with the mean of the first n changes, then RMA; TradingView's
    ``ta.rsi`` value: 100 when the average loss is 0 (whatever the gain), 0 when only the gain is 0."""
    out = np.full(len(c), np.nan)
    if len(c) <= n:
        return out
    ch = np.diff(c)
    gains = [max(d, 0.0) for d in ch]
    losses = [max(-d, 0.0) for d in ch]
    ag = sum(gains[:n]) / n
    al = sum(losses[:n]) / n
    for t in range(n, len(c)):
        if t > n:
            ag = (ag * (n - 1) + gains[t - 1]) / n
            al = (al * (n - 1) + losses[t - 1]) / n
        if al == 0.0:
            out[t] = 100.0
        elif ag == 0.0:
            out[t] = 0.0
        else:
            out[t] = 100.0 - 100.0 / (1.0 + ag / al)
    return out


def ref_true_range(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
    tr = np.empty(len(c))
    tr[0] = h[0] - lo[0]
    for t in range(1, len(c)):
        tr[t] = max(h[t] - lo[t], abs(h[t] - c[t - 1]), abs(lo[t] - c[t - 1]))
    return tr


def ref_atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    return ref_rma(ref_true_range(h, lo, c), n)


def ref_macd(x: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    line = ref_ema(x, fast) - ref_ema(x, slow)
    sig = ref_seeded_ma(line, signal, 2.0 / (signal + 1), start=slow - 1)
    return line, sig, line - sig


# ----------------------------------------------------------------------------------------------- simulator


@dataclass
class RefTrade:
    entry_bar: int
    direction: int
    size: float
    entry_price: float
    fees: float
    exit_bar: int = -1
    exit_price: float = float("nan")
    pnl: float = float("nan")


@dataclass
class RefResult:
    equity: np.ndarray
    trades: list[RefTrade] = field(default_factory=list)

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1])

    @property
    def closed(self) -> list[RefTrade]:
        return [t for t in self.trades if t.exit_bar >= 0]


def ref_simulate(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    *,
    execution: str = "next_open",
    fees: float = 0.0,
    slippage: float = 0.0,
    fixed_fee: float = 0.0,
    init_cash: float = 100_000.0,
) -> RefResult:
    """All-in simulator from DESIGN.md §3.

    * ``close``: the target decided on bar t's close is filled at close[t]; ``next_open``: at open[t+1]
      (the last bar's target is never filled).
    * a position that disagrees with the target is closed first (sell at price·(1−slippage), buy back a short at
      price·(1+slippage)), paying ``fees`` × traded value + ``fixed_fee``;
    * a long entry spends all cash: size = (cash − fixed_fee)/(1 + fees)/(price·(1 + slippage));
    * a short entry sells the size that the same budget would buy at price·(1 − slippage) and keeps the proceeds;
    * equity is marked at every close: cash + position × close.
    """
    n = len(close)
    cash = float(init_cash)
    pos = 0.0
    trades: list[RefTrade] = []
    equity = np.empty(n)
    for t in range(n):
        if execution == "close":
            want, price = int(target[t]), float(close[t])
        else:
            want, price = (int(target[t - 1]) if t > 0 else 0), float(open_[t])
        cur = (pos > 0) - (pos < 0)
        if want != cur:
            if cur != 0:  # close the whole position
                tr = trades[-1]
                if cur > 0:
                    px = price * (1 - slippage)
                    value = pos * px
                    fee = value * fees + fixed_fee
                    cash += value - fee
                else:
                    px = price * (1 + slippage)
                    value = -pos * px
                    fee = value * fees + fixed_fee
                    cash -= value + fee
                tr.exit_bar, tr.exit_price = t, px
                tr.fees += fee
                tr.pnl = tr.direction * tr.size * (px - tr.entry_price) - tr.fees
                pos = 0.0
            if want != 0:
                budget = (cash - fixed_fee) / (1 + fees)
                if budget > 0:
                    if want > 0:
                        px = price * (1 + slippage)
                        size = budget / px
                        fee = cash - budget
                        cash = 0.0
                        pos = size
                    else:
                        px = price * (1 - slippage)
                        size = budget / px
                        value = size * px
                        fee = value * fees + fixed_fee
                        cash += value - fee
                        pos = -size
                    trades.append(RefTrade(entry_bar=t, direction=want, size=size, entry_price=px, fees=fee))
        equity[t] = cash + pos * close[t]
    if trades and trades[-1].exit_bar < 0:  # mark the open trade at the last close, no exit fee
        tr = trades[-1]
        tr.exit_price = float(close[-1])
        tr.pnl = tr.direction * tr.size * (tr.exit_price - tr.entry_price) - tr.fees
    return RefResult(equity=equity, trades=trades)


# ------------------------------------------------------------------------------------------------- metrics


def ref_returns(equity: np.ndarray, init_cash: float) -> np.ndarray:
    prev = np.concatenate([[init_cash], equity[:-1]])
    return equity / prev - 1.0


def ref_metrics(equity: np.ndarray, init_cash: float, ppy: float) -> dict[str, float]:
    """Metrics of an equity curve with plain two-pass numpy (empyrical definitions)."""
    r = ref_returns(equity, init_cash)
    n = len(r)
    growth = equity[-1] / init_cash
    cagr = growth ** (ppy / n) - 1 if growth > 0 else -1.0
    sd = r.std(ddof=1)
    mean = r.mean()
    down = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    values = np.concatenate([[init_cash], equity])
    peaks = np.maximum.accumulate(values)
    mdd = float(np.max(1 - values / peaks))
    run = longest = 0
    for below in values[1:] < peaks[1:]:
        run = run + 1 if below else 0
        longest = max(longest, run)
    return {
        "total_return": growth - 1,
        "cagr": cagr,
        "volatility": sd * math.sqrt(ppy),
        "sharpe": mean / sd * math.sqrt(ppy) if sd > 0 else float("nan"),
        "sortino": mean * ppy / (down * math.sqrt(ppy)) if down > 0 else float("nan"),
        "max_drawdown": mdd,
        "calmar": cagr / mdd if mdd > 0 else float("nan"),
        "max_drawdown_duration": float(longest),
    }
