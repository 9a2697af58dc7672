"""A price-level order book with sorted price ladders and validation (negative sizes, crossed books).

Example:
    >>> b = OrderBook()
    >>> b.reset([(10.0, 1.0), (9.0, 2.0)], [(11.0, 3.0)], last_update_id=5)
    >>> b.apply([(10.0, 0.0)], [(10.5, 1.0)], last_update_id=6)
    >>> b.top()
    (9.0, 2.0, 10.5, 1.0)
"""

from __future__ import annotations

import bisect
import math

__all__ = ["BookError", "OrderBook"]


class BookError(Exception):
    """An update that would make the book wrong (negative or non-finite size/price, crossed book)."""


class OrderBook:
    """Bids and asks as price → size maps plus ascending price lists (best bid last, best ask first)."""

    __slots__ = ("_ask_px", "_bid_px", "asks", "bids", "last_update_id")

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self._bid_px: list[float] = []
        self._ask_px: list[float] = []
        self.last_update_id = 0

    def reset(
        self, bids: list[tuple[float, float]], asks: list[tuple[float, float]], *, last_update_id: int
    ) -> None:
        """Replace the whole book with a snapshot (zero sizes are ignored)."""
        _check_levels(bids, asks)
        self.bids = {p: q for p, q in bids if q > 0.0}
        self.asks = {p: q for p, q in asks if q > 0.0}
        self._bid_px = sorted(self.bids)
        self._ask_px = sorted(self.asks)
        self.last_update_id = last_update_id
        self._check_crossed()

    def apply(
        self, bids: list[tuple[float, float]], asks: list[tuple[float, float]], *, last_update_id: int
    ) -> None:
        """Set levels (size 0 removes a level); raises :class:`BookError` on a bad level or a crossed result.

        Levels are validated before anything changes, so a rejected update leaves the book untouched apart
        from a crossed result (the caller then resyncs).
        """
        _check_levels(bids, asks)
        _set(self.bids, self._bid_px, bids)
        _set(self.asks, self._ask_px, asks)
        self.last_update_id = last_update_id
        self._check_crossed()

    def _check_crossed(self) -> None:
        if self._bid_px and self._ask_px and self._bid_px[-1] >= self._ask_px[0]:
            raise BookError(f"crossed book: best bid {self._bid_px[-1]} >= best ask {self._ask_px[0]}")

    def top(self) -> tuple[float, float, float, float]:
        """(bid, bid_size, ask, ask_size); NaN for an empty side."""
        nan = math.nan
        bid = self._bid_px[-1] if self._bid_px else nan
        ask = self._ask_px[0] if self._ask_px else nan
        return bid, self.bids.get(bid, nan), ask, self.asks.get(ask, nan)

    def levels(self, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Best ``n`` levels per side: bids descending, asks ascending."""
        bids = [(p, self.bids[p]) for p in reversed(self._bid_px[-n:])] if n > 0 else []
        asks = [(p, self.asks[p]) for p in self._ask_px[:n]]
        return bids, asks

    def depth(self) -> tuple[int, int]:
        return len(self._bid_px), len(self._ask_px)


def _check_levels(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> None:
    for side, levels in (("bid", bids), ("ask", asks)):
        for p, q in levels:
            if not (q >= 0.0 and math.isfinite(q)):
                raise BookError(f"{side} level {p}: size {q} is negative or not finite")
            if not (p > 0.0 and math.isfinite(p)):
                raise BookError(f"{side} level price {p} is not a positive finite number")


def _set(side: dict[float, float], prices: list[float], levels: list[tuple[float, float]]) -> None:
    for p, q in levels:
        if q == 0.0:
            if side.pop(p, None) is not None:
                i = bisect.bisect_left(prices, p)
                del prices[i]
        else:
            if p not in side:
                bisect.insort(prices, p)
            side[p] = q
