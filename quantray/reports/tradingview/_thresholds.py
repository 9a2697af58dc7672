"""Symbol-specific alert thresholds derived from a backtest's bars and trades (pure numpy).

The derivation (documented in docs/tradingview.md):

* ``large_move_pct``: the 99th percentile of the absolute close-to-close bar return over the backtest bars —
  a bar moving more than this happened on only 1 % of the symbol's bars.
* closed-trade returns ``R_j = direction_j · (exit_j / entry_j − 1)`` (before fees).
* ``stop_loss_pct``: ``−quantile(R, 0.10)`` — the loss only the worst 10 % of the symbol's trades exceeded — when
  there are at least ``MIN_TRADES`` closed trades and that quantile is a loss; otherwise (too few trades to
  estimate a tail) ``2 · σ · √H``: two standard deviations of the bar return ``σ`` scaled to the median trade
  length ``H`` in bars, clipped to ``[1, MAX_HOLD_BARS]`` (1 when there are no closed trades), so that a few very
  long trades do not give a stop no alert would ever reach.
* ``take_profit_pct``: ``quantile(R, 0.90)`` — the gain only the best 10 % of trades exceeded — under the same
  condition; otherwise ``3 · σ · √H``.

Levels are fractions of the entry price: a long position's stop is ``entry · (1 − stop_loss_pct)``, its target
``entry · (1 + take_profit_pct)``; mirrored for a short.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MIN_TRADES = 5
"""Closed trades needed to take stop/target levels from the trade distribution rather than from volatility."""

MAX_HOLD_BARS = 21.0
"""Cap on the holding horizon of the volatility fallback (a month of daily bars)."""

STOP_QUANTILE = 0.10
TARGET_QUANTILE = 0.90
LARGE_MOVE_QUANTILE = 0.99
STOP_SIGMAS = 2.0
TARGET_SIGMAS = 3.0


@dataclass(frozen=True, kw_only=True)
class AlertThresholds:
    """Alert thresholds of one symbol (fractions of price) and the statistics they came from.

    Attributes:
        stop_loss_pct: adverse move from the entry price that triggers the stop alert.
        take_profit_pct: favourable move from the entry price that triggers the target alert.
        large_move_pct: absolute one-bar close-to-close move that triggers the large-move alert.
        source: ``"trades"`` (stop/target from the trade-return quantiles) or ``"volatility"`` (σ·√H fallback).
        n_bars, n_closed_trades: sample sizes.
        bar_volatility: standard deviation of the bar return (ddof=1).
        median_hold_bars: median closed-trade length in bars.
        win_rate: fraction of closed trades with R > 0 (NaN without trades).
    """

    stop_loss_pct: float
    take_profit_pct: float
    large_move_pct: float
    source: str
    n_bars: int
    n_closed_trades: int
    bar_volatility: float
    median_hold_bars: float
    win_rate: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as None)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def _sig(x: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits (readable Pine literals; the test reads them back from the file)."""
    if x == 0.0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def derive_thresholds(
    close: NDArray[np.float64],
    trade_direction: NDArray[np.float64],
    trade_entry: NDArray[np.float64],
    trade_exit: NDArray[np.float64],
    trade_hold_bars: NDArray[np.float64],
) -> AlertThresholds:
    """Thresholds from bar closes and CLOSED trades (direction ±1, entry/exit prices, bars held).

    Example:
        >>> import numpy as np
        >>> c = np.array([100.0, 101, 99, 102, 103, 101, 104])
        >>> t = derive_thresholds(c, np.array([]), np.array([]), np.array([]), np.array([]))
        >>> t.source, t.n_closed_trades
        ('volatility', 0)
    """
    c = np.asarray(close, dtype=np.float64)
    c = c[np.isfinite(c)]
    bar_ret = c[1:] / c[:-1] - 1.0 if c.size >= 2 else np.empty(0)
    sigma = float(np.std(bar_ret, ddof=1)) if bar_ret.size >= 2 else math.nan
    large = float(np.quantile(np.abs(bar_ret), LARGE_MOVE_QUANTILE)) if bar_ret.size else math.nan
    d = np.asarray(trade_direction, dtype=np.float64)
    r = d * (np.asarray(trade_exit, dtype=np.float64) / np.asarray(trade_entry, dtype=np.float64) - 1.0)
    r = r[np.isfinite(r)]
    hold = np.asarray(trade_hold_bars, dtype=np.float64)
    median_hold = float(np.median(hold)) if hold.size else math.nan
    h = min(max(1.0, median_hold), MAX_HOLD_BARS) if math.isfinite(median_hold) else 1.0
    q_lo = float(np.quantile(r, STOP_QUANTILE)) if r.size else math.nan
    q_hi = float(np.quantile(r, TARGET_QUANTILE)) if r.size else math.nan
    if r.size >= MIN_TRADES and q_lo < 0.0 and q_hi > 0.0:
        stop, target, source = -q_lo, q_hi, "trades"
    else:
        stop, target, source = (
            STOP_SIGMAS * sigma * math.sqrt(h),
            TARGET_SIGMAS * sigma * math.sqrt(h),
            "volatility",
        )
    return AlertThresholds(
        stop_loss_pct=_sig(stop),
        take_profit_pct=_sig(target),
        large_move_pct=_sig(large),
        source=source,
        n_bars=int(c.size),
        n_closed_trades=int(r.size),
        bar_volatility=sigma,
        median_hold_bars=median_hold,
        win_rate=float(np.mean(r > 0.0)) if r.size else math.nan,
    )
