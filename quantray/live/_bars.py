"""Time bars (OHLCV, VWAP, trade count) built incrementally from trades.

A bar covers ``[start, start + interval)`` in exchange trade time (UTC); it closes when the first trade of a
later interval arrives (or on :meth:`BarBuilder.flush`). Intervals without trades produce no bar, exactly as
``trades.groupby(ts.floor(interval))`` does offline.

Example:
    >>> b = BarBuilder("X", 60)
    >>> b.on_trade(0, 10.0, 1.0) is None
    True
    >>> bar = b.on_trade(61_000_000_000, 11.0, 1.0)
    >>> (bar.open, bar.close, bar.trades)
    (10.0, 10.0, 1)
"""

from __future__ import annotations

from typing import Any

from quantray.live._records import Bar

__all__ = ["BarBuilder"]


class BarBuilder:
    """One symbol, one interval. ``late`` counts trades older than the open bar (folded into it)."""

    __slots__ = (
        "_c",
        "_h",
        "_l",
        "_n",
        "_o",
        "_pv",
        "_recv",
        "_start",
        "_v",
        "interval_ns",
        "interval_s",
        "late",
        "symbol",
    )

    def __init__(self, symbol: str, interval_s: int) -> None:
        self.symbol = symbol
        self.interval_s = interval_s
        self.interval_ns = interval_s * 1_000_000_000
        self._start = -1
        self._o = self._h = self._l = self._c = 0.0
        self._v = self._pv = 0.0
        self._n = 0
        self._recv = 0
        self.late = 0

    def on_trade(self, ts_ns: int, price: float, qty: float, recv_ns: int = 0) -> Bar | None:
        """Add a trade; returns the bar it closed, if any."""
        start = ts_ns - ts_ns % self.interval_ns
        closed = None
        if start != self._start:
            if self._start >= 0 and start < self._start:
                self.late += 1
                start = self._start
            else:
                closed = self._close(recv_ns)
                self._start = start
                self._o = self._h = self._l = price
                self._v = self._pv = 0.0
                self._n = 0
        if price > self._h:
            self._h = price
        if price < self._l:
            self._l = price
        self._c = price
        self._v += qty
        self._pv += price * qty
        self._n += 1
        self._recv = recv_ns
        return closed

    def _close(self, recv_ns: int) -> Bar | None:
        if self._start < 0 or self._n == 0:
            return None
        vwap = self._pv / self._v if self._v > 0 else self._c
        return Bar(
            0,
            self.symbol,
            self.interval_s,
            self._start,
            self._o,
            self._h,
            self._l,
            self._c,
            self._v,
            vwap,
            self._n,
            recv_ns,
        )

    def flush(self) -> Bar | None:
        """Close the open bar (end of stream)."""
        bar = self._close(self._recv)
        self._start = -1
        self._n = 0
        return bar

    def state(self) -> dict[str, Any]:
        return {
            "start": self._start,
            "o": self._o,
            "h": self._h,
            "l": self._l,
            "c": self._c,
            "v": self._v,
            "pv": self._pv,
            "n": self._n,
            "recv": self._recv,
            "late": self.late,
        }

    def restore(self, s: dict[str, Any]) -> None:
        self._start, self._o, self._h, self._l, self._c = s["start"], s["o"], s["h"], s["l"], s["c"]
        self._v, self._pv, self._n, self._recv, self.late = s["v"], s["pv"], s["n"], s["recv"], s["late"]
