"""Market state of a shard of symbols: order books to N levels, last trade, 1 s / 1 min bars, VWAP, spread.

Pure Python, no Ray: :class:`MarketState` is what the ``MarketStateActor`` holds, and what the single-process
baseline and the tests use directly. Records are applied in ``seq`` order; a record whose ``seq`` is not above
the last applied one is skipped, so replaying an overlapping range after a restart changes nothing.

Example:
    >>> from quantray.live._records import Trade
    >>> ms = MarketState()
    >>> out = ms.apply([Trade(1, "X", 0, 0, 10.0, 1.0, 1), Trade(2, "X", 61_000_000_000, 0, 11.0, 1.0, 2)])
    >>> [(b.interval_s, b.close) for b in out.bars]
    [(1, 10.0), (60, 10.0)]
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from quantray.errors import ConfigError
from quantray.live._bars import BarBuilder
from quantray.live._book import BookError, OrderBook
from quantray.live._records import (
    BAR_FIELDS,
    Bar,
    BookUpdate,
    Event,
    Quote,
    Record,
    Trade,
    bars_to_columns,
    table_to_records,
)

__all__ = ["MarketState", "MarketStateConfig", "StateOutput"]

log = logging.getLogger("quantray.live.state")

BOOK_TOP_COLUMNS = ["ts", "symbol", "update_id", "bid", "bid_size", "ask", "ask_size"]


@dataclass(frozen=True, kw_only=True)
class MarketStateConfig:
    """Options of a market-state shard.

    Attributes:
        depth_levels: levels per side kept in snapshots for Serve (the book itself keeps every level).
        bar_intervals: bar lengths in seconds built from trades.
        large_move_bps: a closed bar whose close moved this many basis points from its open is an event.
        large_move_interval: the bar interval (seconds) watched for large moves.
        spread_bps: a spread wider than this (basis points of the mid) is a spread blow-out event.
        stale_s: seconds without any record for a symbol before a stale-feed event.
    """

    depth_levels: int = 20
    bar_intervals: tuple[int, ...] = (1, 60)
    large_move_bps: float = 50.0
    large_move_interval: int = 60
    spread_bps: float = 20.0
    stale_s: float = 30.0

    def __post_init__(self) -> None:
        if self.depth_levels < 1:
            raise ConfigError(f"`depth_levels` must be >= 1, got {self.depth_levels}")
        if not self.bar_intervals or any(int(i) < 1 for i in self.bar_intervals):
            raise ConfigError(f"`bar_intervals` must be positive seconds, got {self.bar_intervals}")
        object.__setattr__(self, "bar_intervals", tuple(int(i) for i in self.bar_intervals))
        for name in ("large_move_bps", "spread_bps", "stale_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"`{name}` must be > 0, got {getattr(self, name)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketStateConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"market state: unknown key(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        d = dict(d)
        if "bar_intervals" in d:
            d["bar_intervals"] = tuple(d["bar_intervals"])
        return cls(**d)


@dataclass
class StateOutput:
    """What applying a batch produced: closed bars (numbered), events, symbols whose book needs a resync."""

    bars: list[Bar] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    resync: list[str] = field(default_factory=list)


class _Sym:
    __slots__ = (
        "bars",
        "book",
        "book_valid",
        "builders",
        "last_price",
        "last_qty",
        "last_recv",
        "last_trade_ts",
        "pv",
        "quote",
        "recent_quotes",
        "spread_alert",
        "stale_alert",
        "vol",
    )

    def __init__(self, symbol: str, intervals: tuple[int, ...]) -> None:
        self.book = OrderBook()
        self.book_valid = False
        self.builders = {i: BarBuilder(symbol, i) for i in intervals}
        self.last_price = math.nan
        self.last_qty = 0.0
        self.last_trade_ts = 0
        self.last_recv = 0
        self.pv = 0.0
        self.vol = 0.0
        self.quote: tuple[int, float, float, float, float] | None = None
        self.recent_quotes: dict[int, tuple[float, float, float, float]] = {}
        self.spread_alert = False
        self.stale_alert = False
        self.bars: dict[int, list[Bar]] = {i: [] for i in intervals}


class MarketState:
    """Books, trades and bars for the symbols routed to this shard (created on first sight)."""

    def __init__(self, config: MarketStateConfig | None = None) -> None:
        self.config = config or MarketStateConfig()
        self.syms: dict[str, _Sym] = {}
        self.last_seq = 0
        self.bar_seq = 0
        self.book_top: list[tuple[int, str, int, float, float, float, float]] = []
        self.counters = {
            "records": 0,
            "skipped_seq": 0,
            "crossed": 0,
            "bad_book": 0,
            "aligned_checks": 0,
            "aligned_mismatch": 0,
            "late_trades": 0,
            "updates_while_unsynced": 0,
        }

    def _sym(self, symbol: str) -> _Sym:
        s = self.syms.get(symbol)
        if s is None:
            s = self.syms[symbol] = _Sym(symbol, self.config.bar_intervals)
        return s

    # ------------------------------------------------------------------ applying records
    def apply(self, records: list[Record] | pa.Table) -> StateOutput:
        """Apply records in order (records with ``seq <= last_seq`` are skipped); a columnar batch
        (:func:`~quantray.live._records.records_to_table`) is accepted too."""
        out = StateOutput()
        if isinstance(records, pa.Table):
            records = table_to_records(records)
        for r in records:
            if r.seq <= self.last_seq:
                self.counters["skipped_seq"] += 1
                continue
            self.last_seq = r.seq
            self.counters["records"] += 1
            if isinstance(r, Trade):
                self._trade(r, out)
            elif isinstance(r, BookUpdate):
                self._book(r, out)
            elif isinstance(r, Quote):
                self._quote(r, out)
            elif isinstance(r, Bar):
                self._emit_bar(r, out)
        return out

    def _emit_bar(self, bar: Bar, out: StateOutput) -> None:
        self.bar_seq += 1
        bar.seq = self.bar_seq
        s = self._sym(bar.symbol)
        s.bars.setdefault(bar.interval_s, []).append(bar)
        out.bars.append(bar)
        cfg = self.config
        if bar.interval_s == cfg.large_move_interval and bar.open > 0:
            move = (bar.close / bar.open - 1.0) * 1e4
            if abs(move) >= cfg.large_move_bps:
                out.events.append(
                    Event(
                        bar.ts_ns,
                        "large_move",
                        bar.symbol,
                        {
                            "bps": round(move, 2),
                            "interval_s": bar.interval_s,
                            "open": bar.open,
                            "close": bar.close,
                        },
                        "state",
                        bar.seq,
                    )
                )

    def _trade(self, t: Trade, out: StateOutput) -> None:
        s = self._sym(t.symbol)
        s.last_price, s.last_qty, s.last_trade_ts, s.last_recv = t.price, t.qty, t.ts_ns, t.recv_ns
        s.pv += t.price * t.qty
        s.vol += t.qty
        s.stale_alert = False
        for b in s.builders.values():
            late = b.late
            bar = b.on_trade(t.ts_ns, t.price, t.qty, t.recv_ns)
            if b.late != late:
                self.counters["late_trades"] += 1
            if bar is not None:
                self._emit_bar(bar, out)

    def _book(self, u: BookUpdate, out: StateOutput) -> None:
        s = self._sym(u.symbol)
        s.last_recv = u.recv_ns
        try:
            if u.snapshot:
                s.book.reset(u.bids, u.asks, last_update_id=u.last_id)
                s.book_valid = True
            elif not s.book_valid:
                self.counters["updates_while_unsynced"] += 1
                return
            else:
                s.book.apply(u.bids, u.asks, last_update_id=u.last_id)
        except BookError as exc:
            s.book_valid = False
            key = "crossed" if "crossed" in str(exc) else "bad_book"
            self.counters[key] += 1
            log.warning(
                "book %s invalid after update %d-%d: %s; update: bids=%s asks=%s",
                u.symbol,
                u.first_id,
                u.last_id,
                exc,
                u.bids[:5],
                u.asks[:5],
            )
            out.events.append(
                Event(
                    u.ts_ns,
                    "book_invalid",
                    u.symbol,
                    {"reason": str(exc), "update_id": u.last_id},
                    "state",
                    u.seq,
                )
            )
            out.resync.append(u.symbol)
            return
        bid, bq, ask, aq = s.book.top()
        self.book_top.append((u.ts_ns, u.symbol, u.last_id, bid, bq, ask, aq))
        q = s.recent_quotes.pop(u.last_id, None)
        if q is not None:
            self._check_aligned(s, u.symbol, q, out, u)
        self._spread(s, u.symbol, bid, ask, u, out)

    def _quote(self, q: Quote, out: StateOutput) -> None:
        s = self._sym(q.symbol)
        s.last_recv = q.recv_ns
        s.quote = (q.update_id, q.bid, q.bid_size, q.ask, q.ask_size)
        if s.book_valid and q.update_id == s.book.last_update_id:
            self._check_aligned(s, q.symbol, (q.bid, q.bid_size, q.ask, q.ask_size), out, q)
        elif not s.book_valid or q.update_id > s.book.last_update_id:
            s.recent_quotes[q.update_id] = (q.bid, q.bid_size, q.ask, q.ask_size)
            if len(s.recent_quotes) > 4096:
                for k in sorted(s.recent_quotes)[:2048]:
                    del s.recent_quotes[k]

    def _check_aligned(
        self, s: _Sym, symbol: str, q: tuple[float, float, float, float], out: StateOutput, r: Record
    ) -> None:
        if not s.book_valid:
            return
        self.counters["aligned_checks"] += 1
        top = s.book.top()
        if top != q:
            self.counters["aligned_mismatch"] += 1
            log.warning(
                "book %s top %s differs from the exchange's best bid/ask %s at update id %d",
                symbol,
                top,
                q,
                s.book.last_update_id,
            )
            out.events.append(
                Event(
                    r.ts_ns,
                    "book_mismatch",
                    symbol,
                    {"book": list(top), "exchange": list(q), "update_id": s.book.last_update_id},
                    "state",
                    r.seq,
                )
            )
            s.book_valid = False
            out.resync.append(symbol)

    def _spread(self, s: _Sym, symbol: str, bid: float, ask: float, r: Record, out: StateOutput) -> None:
        mid = 0.5 * (bid + ask)
        if not mid > 0:
            return
        bps = (ask - bid) / mid * 1e4
        wide = bps > self.config.spread_bps
        if wide and not s.spread_alert:
            out.events.append(
                Event(
                    r.ts_ns,
                    "spread_blowout",
                    symbol,
                    {"spread_bps": round(bps, 3), "bid": bid, "ask": ask},
                    "state",
                    r.seq,
                )
            )
        s.spread_alert = wide

    def flush(self) -> StateOutput:
        """End of stream: close every open bar."""
        out = StateOutput()
        for s in self.syms.values():
            for b in s.builders.values():
                bar = b.flush()
                if bar is not None:
                    self._emit_bar(bar, out)
        return out

    def check_stale(self, now_ns: int) -> list[Event]:
        """Stale-feed events for symbols silent for more than ``stale_s`` (once per silence)."""
        out = []
        limit = int(self.config.stale_s * 1e9)
        for name, s in self.syms.items():
            if s.last_recv and now_ns - s.last_recv > limit and not s.stale_alert:
                s.stale_alert = True
                out.append(
                    Event(now_ns, "stale_feed", name, {"silent_s": (now_ns - s.last_recv) / 1e9}, "state")
                )
        return out

    # ------------------------------------------------------------------ views
    def bars(self, interval_s: int, since_seq: int = 0) -> list[Bar]:
        rows = [b for s in self.syms.values() for b in s.bars.get(interval_s, []) if b.seq > since_seq]
        return sorted(rows, key=lambda b: b.seq)

    def bars_since(self, since_seq: int) -> list[Bar]:
        rows = [b for s in self.syms.values() for lst in s.bars.values() for b in lst if b.seq > since_seq]
        return sorted(rows, key=lambda b: b.seq)

    def top(self) -> list[dict[str, Any]]:
        out = []
        for name, s in sorted(self.syms.items()):
            if not s.book_valid:
                continue
            bid, bq, ask, aq = s.book.top()
            out.append(
                {
                    "symbol": name,
                    "ts": self._last_top_ts(),
                    "update_id": s.book.last_update_id,
                    "bid": bid,
                    "bid_size": bq,
                    "ask": ask,
                    "ask_size": aq,
                }
            )
        return out

    def summary(self) -> dict[str, Any]:
        """Per symbol: last trade, session VWAP, spread, book depth and top levels."""
        out: dict[str, Any] = {}
        for name, s in self.syms.items():
            bids, asks = s.book.levels(self.config.depth_levels) if s.book_valid else ([], [])
            bid, _, ask, _ = s.book.top()
            out[name] = {
                "last_price": s.last_price,
                "last_qty": s.last_qty,
                "last_trade_ts": s.last_trade_ts,
                "vwap": s.pv / s.vol if s.vol > 0 else math.nan,
                "volume": s.vol,
                "spread": ask - bid if s.book_valid else math.nan,
                "book_valid": s.book_valid,
                "update_id": s.book.last_update_id,
                "bids": bids,
                "asks": asks,
            }
        return out

    # ------------------------------------------------------------------ checkpoints
    def to_tables(self) -> dict[str, pa.Table]:
        """Arrow tables holding the whole state (books level by level, bars, book tops, the rest as JSON)."""
        bars = [b for s in self.syms.values() for lst in s.bars.values() for b in lst]
        meta = {
            "last_seq": self.last_seq,
            "bar_seq": self.bar_seq,
            "counters": self.counters,
            "syms": {
                name: {
                    "valid": s.book_valid,
                    "luid": s.book.last_update_id,
                    "lp": s.last_price,
                    "lq": s.last_qty,
                    "lts": s.last_trade_ts,
                    "lr": s.last_recv,
                    "pv": s.pv,
                    "vol": s.vol,
                    "quote": s.quote,
                    "spread_alert": s.spread_alert,
                    "builders": {str(i): b.state() for i, b in s.builders.items()},
                }
                for name, s in self.syms.items()
            },
        }
        return {
            "book": self._book_table(),
            "recent_quotes": self._recent_quotes_table(),
            "bars": bars_table(bars),
            "book_top": self._book_top_table(),
            "meta": pa.table({"json": [json.dumps(meta)]}),
        }

    @classmethod
    def from_tables(cls, tables: dict[str, pa.Table], config: MarketStateConfig | None = None) -> MarketState:
        ms = cls(config)
        meta = json.loads(tables["meta"].column("json")[0].as_py())
        ms.last_seq, ms.bar_seq = meta["last_seq"], meta["bar_seq"]
        ms.counters.update(meta["counters"])
        for name, d in meta["syms"].items():
            s = ms._sym(name)
            s.book_valid, s.last_price, s.last_qty, s.last_trade_ts = d["valid"], d["lp"], d["lq"], d["lts"]
            s.last_recv, s.pv, s.vol, s.spread_alert = d["lr"], d["pv"], d["vol"], d["spread_alert"]
            s.quote = tuple(d["quote"]) if d["quote"] else None
            if "rq" in d:  # checkpoints written before the quotes moved to their own table
                s.recent_quotes = {int(r[0]): (r[1], r[2], r[3], r[4]) for r in d["rq"]}
            for i, st in d["builders"].items():
                s.builders[int(i)].restore(st)
        book = tables["book"].to_pydict()
        levels: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        for sym, side, p, q in zip(book["symbol"], book["side"], book["price"], book["size"], strict=True):
            lv = levels.setdefault(sym, ([], []))
            (lv[0] if side == "b" else lv[1]).append((p, q))
        for name, d in meta["syms"].items():
            bids, asks = levels.get(name, ([], []))
            s = ms.syms[name]
            s.book.bids = dict(bids)
            s.book.asks = dict(asks)
            s.book._bid_px = sorted(s.book.bids)
            s.book._ask_px = sorted(s.book.asks)
            s.book.last_update_id = d["luid"]
        for b in table_to_bars(tables["bars"]):
            ms._sym(b.symbol).bars.setdefault(b.interval_s, []).append(b)
        for s in ms.syms.values():
            for lst in s.bars.values():
                lst.sort(key=lambda b: b.seq)
        if "recent_quotes" in tables:
            q = tables["recent_quotes"].to_pydict()
            for sym, uid, b, bq, a, aq in zip(*(q[c] for c in _RQ_SCHEMA.names), strict=True):
                ms._sym(sym).recent_quotes[uid] = (b, bq, a, aq)
        ms._set_book_top_table(tables["book_top"])
        return ms

    def _recent_quotes_table(self) -> pa.Table:
        rows = [(n, k, *v) for n, s in self.syms.items() for k, v in s.recent_quotes.items()]
        cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in _RQ_SCHEMA.names]
        return pa.table(dict(zip(_RQ_SCHEMA.names, cols, strict=True)), schema=_RQ_SCHEMA)

    def _book_table(self) -> pa.Table:
        book: dict[str, list[Any]] = {"symbol": [], "side": [], "price": [], "size": []}
        for name, s in self.syms.items():
            for side, levels in (("b", s.book.bids), ("a", s.book.asks)):
                for p, q in levels.items():
                    book["symbol"].append(name)
                    book["side"].append(side)
                    book["price"].append(p)
                    book["size"].append(q)
        return pa.table(book, schema=_BOOK_SCHEMA)

    def _book_top_table(self) -> pa.Table:
        top: list[Any] = (
            list(zip(*self.book_top, strict=True)) if self.book_top else [[] for _ in BOOK_TOP_COLUMNS]
        )
        return pa.table(
            {c: list(v) for c, v in zip(BOOK_TOP_COLUMNS, top, strict=True)}, schema=_BOOK_TOP_SCHEMA
        )

    def _set_book_top_table(self, table: pa.Table) -> None:
        t = table.to_pydict()
        self.book_top = list(zip(*(t[c] for c in BOOK_TOP_COLUMNS), strict=True))

    def _last_top_ts(self) -> int:
        return self.book_top[-1][0] if self.book_top else 0


_BOOK_SCHEMA = pa.schema(
    [("symbol", pa.string()), ("side", pa.string()), ("price", pa.float64()), ("size", pa.float64())]
)
_RQ_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("update_id", pa.int64()),
        ("bid", pa.float64()),
        ("bid_size", pa.float64()),
        ("ask", pa.float64()),
        ("ask_size", pa.float64()),
    ]
)
_BOOK_TOP_SCHEMA = pa.schema([pa.field("ts", pa.int64()), *_RQ_SCHEMA])


def bars_table(bars: list[Bar]) -> pa.Table:
    """Bars as an Arrow table (all fields of :class:`Bar`)."""
    cols = dict(zip(BAR_FIELDS, bars_to_columns(bars), strict=True))
    types = [pa.int64(), pa.string(), pa.int64(), pa.int64()] + [pa.float64()] * 6 + [pa.int64(), pa.int64()]
    return pa.table(cols, schema=pa.schema(list(zip(BAR_FIELDS, types, strict=True))))


def table_to_bars(t: pa.Table) -> list[Bar]:
    d = t.to_pydict()
    return [Bar(*(d[f][i] for f in BAR_FIELDS)) for i in range(t.num_rows)]
