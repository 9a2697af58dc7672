"""Canonical live records: trades, quotes, order-book updates, bars, signals and market events.

Every record carries ``seq``, the position in its producer's output stream (the feed for market records, the
market-state shard for bars, the signal actor for signals). Consumers apply records in ``seq`` order and drop
the ones they have already applied, which makes replays after a restart idempotent.

Records travel between actors as Arrow tables (:func:`records_to_table`, :func:`table_to_records`), which is
also the write-ahead-log format of the feed.

Example:
    >>> t = Trade(seq=1, symbol="binance:BTCUSDT", ts_ns=0, recv_ns=0, price=1.0, qty=2.0, trade_id=7)
    >>> table_to_records(records_to_table([t]))[0] == t
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = [
    "Bar",
    "BarColumns",
    "BookUpdate",
    "Event",
    "Quote",
    "Record",
    "Signal",
    "SignalColumns",
    "Trade",
    "bars_to_columns",
    "columns_to_bars",
    "columns_to_signals",
    "records_to_table",
    "signals_to_columns",
    "table_to_records",
]


@dataclass(slots=True)
class Trade:
    """One trade print. ``ts_ns`` is the exchange trade time (UTC ns), ``recv_ns`` the local receipt time."""

    seq: int
    symbol: str
    ts_ns: int
    recv_ns: int
    price: float
    qty: float
    trade_id: int
    buyer_maker: bool = False


@dataclass(slots=True)
class Quote:
    """Best bid/ask as published by the exchange (Binance ``bookTicker``, Alpaca quotes)."""

    seq: int
    symbol: str
    ts_ns: int
    recv_ns: int
    update_id: int
    bid: float
    bid_size: float
    ask: float
    ask_size: float


@dataclass(slots=True)
class BookUpdate:
    """A validated order-book change (``snapshot=False``: levels to set, size 0 deletes) or a full snapshot.

    ``first_id``/``last_id`` are the exchange update ids covered (``U``/``u`` on Binance); a snapshot has
    ``first_id == last_id == lastUpdateId``. Levels are ``(price, size)`` pairs.
    """

    seq: int
    symbol: str
    ts_ns: int
    recv_ns: int
    first_id: int
    last_id: int
    bids: list[tuple[float, float]] = field(default_factory=list)
    asks: list[tuple[float, float]] = field(default_factory=list)
    snapshot: bool = False


@dataclass(slots=True)
class Bar:
    """An OHLCV bar of ``interval_s`` seconds starting at ``ts_ns`` (UTC ns), built from trades.

    ``seq`` numbers the closed bars of one market-state shard; ``recv_ns`` is the receipt time of the trade
    that closed the bar (used for receipt → signal latency).
    """

    seq: int
    symbol: str
    interval_s: int
    ts_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    trades: int
    recv_ns: int = 0


@dataclass(slots=True)
class Signal:
    """A strategy's target position (-1, 0, +1) decided on the close of bar ``bar_ts_ns``."""

    seq: int
    symbol: str
    strategy: str
    params: dict[str, Any]
    position: int
    bar_ts_ns: int
    price: float
    recv_ns: int = 0
    interval_s: int = 60


@dataclass(slots=True)
class Event:
    """A market event (large_move, spread_blowout, stale_feed, gap, resync, bad_message, drawdown_breach...)."""

    ts_ns: int
    kind: str
    symbol: str
    detail: dict[str, Any]
    source: str = ""
    seq: int = 0


Record = Trade | Quote | BookUpdate | Bar

_KIND_TRADE, _KIND_QUOTE, _KIND_BOOK, _KIND_BAR = 0, 1, 2, 3

_SCHEMA = pa.schema(
    [
        ("kind", pa.int8()),
        ("seq", pa.int64()),
        ("symbol", pa.string()),
        ("ts_ns", pa.int64()),
        ("recv_ns", pa.int64()),
        ("id0", pa.int64()),
        ("id1", pa.int64()),
        ("f0", pa.float64()),
        ("f1", pa.float64()),
        ("f2", pa.float64()),
        ("f3", pa.float64()),
        ("f4", pa.float64()),
        ("flag", pa.bool_()),
        ("bids", pa.list_(pa.float64())),
        ("asks", pa.list_(pa.float64())),
    ]
)


def _flat(levels: list[tuple[float, float]]) -> list[float]:
    out: list[float] = []
    for p, q in levels:
        out.append(p)
        out.append(q)
    return out


def _pairs(flat: list[float] | None) -> list[tuple[float, float]]:
    if not flat:
        return []
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def records_to_table(records: list[Record]) -> pa.Table:
    """Columnar form of market records (the feed's WAL and the inter-actor batch format)."""
    cols: dict[str, list[Any]] = {name: [] for name in _SCHEMA.names}
    for r in records:
        row: tuple[Any, ...]
        if isinstance(r, Trade):
            row = (
                _KIND_TRADE,
                r.seq,
                r.symbol,
                r.ts_ns,
                r.recv_ns,
                r.trade_id,
                0,
                r.price,
                r.qty,
                0.0,
                0.0,
                0.0,
                r.buyer_maker,
                None,
                None,
            )
        elif isinstance(r, Quote):
            row = (
                _KIND_QUOTE,
                r.seq,
                r.symbol,
                r.ts_ns,
                r.recv_ns,
                r.update_id,
                0,
                r.bid,
                r.bid_size,
                r.ask,
                r.ask_size,
                0.0,
                False,
                None,
                None,
            )
        elif isinstance(r, BookUpdate):
            row = (
                _KIND_BOOK,
                r.seq,
                r.symbol,
                r.ts_ns,
                r.recv_ns,
                r.first_id,
                r.last_id,
                0.0,
                0.0,
                0.0,
                0.0,
                0.0,
                r.snapshot,
                _flat(r.bids),
                _flat(r.asks),
            )
        else:
            row = (
                _KIND_BAR,
                r.seq,
                r.symbol,
                r.ts_ns,
                r.recv_ns,
                r.interval_s,
                r.trades,
                r.open,
                r.high,
                r.low,
                r.close,
                r.volume,
                False,
                [r.vwap],
                None,
            )
        for name, value in zip(_SCHEMA.names, row, strict=True):
            cols[name].append(value)
    return pa.table(cols, schema=_SCHEMA)


def table_to_records(table: pa.Table) -> list[Record]:
    """Inverse of :func:`records_to_table`."""
    d = table.to_pydict()
    out: list[Record] = []
    for i in range(table.num_rows):
        k = d["kind"][i]
        if k == _KIND_TRADE:
            out.append(
                Trade(
                    d["seq"][i],
                    d["symbol"][i],
                    d["ts_ns"][i],
                    d["recv_ns"][i],
                    d["f0"][i],
                    d["f1"][i],
                    d["id0"][i],
                    d["flag"][i],
                )
            )
        elif k == _KIND_QUOTE:
            out.append(
                Quote(
                    d["seq"][i],
                    d["symbol"][i],
                    d["ts_ns"][i],
                    d["recv_ns"][i],
                    d["id0"][i],
                    d["f0"][i],
                    d["f1"][i],
                    d["f2"][i],
                    d["f3"][i],
                )
            )
        elif k == _KIND_BOOK:
            out.append(
                BookUpdate(
                    d["seq"][i],
                    d["symbol"][i],
                    d["ts_ns"][i],
                    d["recv_ns"][i],
                    d["id0"][i],
                    d["id1"][i],
                    _pairs(d["bids"][i]),
                    _pairs(d["asks"][i]),
                    d["flag"][i],
                )
            )
        else:
            out.append(
                Bar(
                    d["seq"][i],
                    d["symbol"][i],
                    d["id0"][i],
                    d["ts_ns"][i],
                    d["f0"][i],
                    d["f1"][i],
                    d["f2"][i],
                    d["f3"][i],
                    d["f4"][i],
                    d["bids"][i][0],
                    d["id1"][i],
                    d["recv_ns"][i],
                )
            )
    return out


SignalColumns = tuple[
    list[int],
    list[str],
    list[str],
    list[dict[str, Any]],
    list[int],
    list[int],
    list[float],
    list[int],
    list[int],
]


def signals_to_columns(sigs: list[Signal]) -> SignalColumns:
    """Signals as one list per field: how the signal actor pushes them (a list of plain values pickles and
    unpickles several times faster than a list of dataclass objects under Ray's serializer).

    Example:
        >>> s = Signal(1, "binance:BTCUSDT", "sma_cross", {"fast": 5}, 1, 0, 1.5, 7, 1)
        >>> columns_to_signals(signals_to_columns([s])) == [s]
        True
    """
    return (
        [s.seq for s in sigs],
        [s.symbol for s in sigs],
        [s.strategy for s in sigs],
        [s.params for s in sigs],
        [s.position for s in sigs],
        [s.bar_ts_ns for s in sigs],
        [s.price for s in sigs],
        [s.recv_ns for s in sigs],
        [s.interval_s for s in sigs],
    )


def columns_to_signals(cols: SignalColumns) -> list[Signal]:
    """Inverse of :func:`signals_to_columns`."""
    return [Signal(*row) for row in zip(*cols, strict=True)]


BarColumns = tuple[list[Any], ...]
BAR_FIELDS = (
    "seq",
    "symbol",
    "interval_s",
    "ts_ns",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
    "recv_ns",
)


def bars_to_columns(bars: list[Bar]) -> BarColumns:
    """Bars as one list per field (how shards push closed bars to the signal actor; see :func:`signals_to_columns`).

    Example:
        >>> b = Bar(1, "binance:BTCUSDT", 1, 0, 1.0, 2.0, 0.5, 1.5, 3.0, 1.2, 4, 9)
        >>> columns_to_bars(bars_to_columns([b])) == [b]
        True
    """
    return tuple([getattr(b, f) for b in bars] for f in BAR_FIELDS)


def columns_to_bars(cols: BarColumns) -> list[Bar]:
    """Inverse of :func:`bars_to_columns`."""
    return [Bar(*row) for row in zip(*cols, strict=True)]
