"""Binance spot and USDⓈ-M futures: message parsing and the local order book procedure, without I/O.

:class:`BinanceSession` turns raw websocket messages into canonical records. It implements Binance's documented
"how to manage a local order book correctly":

1. buffer ``depthUpdate`` events of a symbol until a REST snapshot (``/api/v3/depth`` or ``/fapi/v1/depth``)
   arrives;
2. drop buffered events with ``u <= lastUpdateId`` (spot) or ``u < lastUpdateId`` (futures);
3. the first applied event must straddle the snapshot (spot ``U <= lastUpdateId + 1 <= u``, futures
   ``U <= lastUpdateId <= u``), otherwise fetch a newer snapshot;
4. afterwards every event must continue the previous one (spot ``U == previous u + 1``, futures
   ``pu == previous u``); a break is a gap: the symbol is resynced (buffer again, new snapshot).

Trades are de-duplicated by trade id (``t``; ``a`` for ``aggTrade``) and a jump in ids is a gap that the
adapter backfills over REST (``historicalTrades``) before the trade that revealed it is released, so bars stay
exact across lost messages. ``bookTicker`` quotes are de-duplicated by update id. Malformed JSON, unknown
streams, negative sizes and out-of-sequence updates are counted in :attr:`BinanceSession.counters` and logged
with the offending message; they never raise.

Example:
    >>> s = BinanceSession(["BTCUSDT"], market="spot")
    >>> s.on_message('{"e":"trade","s":"BTCUSDT","t":1,"p":"10.5","q":"2","T":1000,"m":true}', 5)[0].price
    10.5
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from quantray.errors import ConfigError
from quantray.live._records import BookUpdate, Event, Quote, Record, Trade

__all__ = ["BinanceSession", "BinanceUrls", "binance_streams", "binance_symbol"]

log = logging.getLogger("quantray.live.binance")

Market = Literal["spot", "usdm"]
_MS = 1_000_000


def binance_symbol(market: str, symbol: str) -> str:
    """Canonical symbol: ``binance:BTCUSDT`` (spot) or ``binance-usdm:BTCUSDT`` (USDⓈ-M futures)."""
    return f"{'binance' if market == 'spot' else 'binance-usdm'}:{symbol.upper()}"


def binance_streams(symbols: Iterable[str], *, market: str, depth_speed: str | None = None) -> list[str]:
    """Stream names to subscribe: ``<sym>@trade``, ``<sym>@bookTicker``, ``<sym>@depth@<speed>``."""
    speed = depth_speed or ("100ms" if market == "spot" else "0ms")
    out = []
    for s in symbols:
        low = s.lower()
        out += [f"{low}@trade", f"{low}@bookTicker", f"{low}@depth@{speed}"]
    return out


@dataclass(frozen=True, kw_only=True)
class BinanceUrls:
    """Where a Binance adapter connects; defaults are the exchange, a replay server replaces both."""

    ws: str = "wss://stream.binance.com:9443"
    rest: str = "https://api.binance.com"

    @classmethod
    def for_market(cls, market: str) -> BinanceUrls:
        if market == "usdm":
            return cls(ws="wss://fstream.binance.com", rest="https://fapi.binance.com")
        return cls()


@dataclass
class _SymState:
    synced: bool = False
    first_after_snapshot: bool = False
    last_u: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    want_snapshot: bool = True
    last_trade: int = -1
    last_agg: int = -1
    last_quote: int = -1
    held: list[Trade] = field(default_factory=list)
    backfill_from: int = -1


_COUNTERS = (
    "messages",
    "trades",
    "quotes",
    "book_updates",
    "snapshots",
    "malformed",
    "unknown_stream",
    "bad_values",
    "duplicates",
    "stale_updates",
    "gaps",
    "trade_gaps",
    "backfilled_trades",
    "resyncs",
    "acks",
    "errors",
)


class BinanceSession:
    """Sans-IO state of one Binance connection (spot or USDⓈ-M), any number of symbols.

    Args:
        symbols: exchange symbols (``BTCUSDT``).
        market: ``"spot"`` or ``"usdm"``.
        start_seq: first sequence number to assign (restored from a checkpoint after a restart).
    """

    def __init__(self, symbols: Iterable[str], *, market: str = "spot", start_seq: int = 0) -> None:
        if market not in ("spot", "usdm"):
            raise ConfigError(f"binance `market` must be 'spot' or 'usdm', got {market!r}")
        self.market: str = market
        self.symbols = [s.upper() for s in symbols]
        if not self.symbols:
            raise ConfigError("binance: `symbols` must not be empty")
        self.seq = start_seq
        self._state = {s: _SymState() for s in self.symbols}
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.events: list[Event] = []

    # ------------------------------------------------------------------ state for checkpoints
    def checkpoint(self) -> dict[str, Any]:
        """Ids needed to continue after a restart (sequence, last ids per stream, book sync position)."""
        return {
            "seq": self.seq,
            "counters": dict(self.counters),
            "symbols": {
                s: {
                    "synced": st.synced,
                    "first": st.first_after_snapshot,
                    "last_u": st.last_u,
                    "last_trade": st.last_trade,
                    "last_agg": st.last_agg,
                    "last_quote": st.last_quote,
                }
                for s, st in self._state.items()
            },
        }

    def restore(self, ck: dict[str, Any]) -> None:
        self.seq = int(ck["seq"])
        self.counters.update(ck.get("counters", {}))
        for s, d in ck["symbols"].items():
            st = self._state.setdefault(s, _SymState())
            st.synced, st.first_after_snapshot, st.last_u = d["synced"], d["first"], d["last_u"]
            st.last_trade, st.last_agg, st.last_quote = d["last_trade"], d["last_agg"], d["last_quote"]
            st.want_snapshot = not st.synced

    # ------------------------------------------------------------------ queries for the adapter
    def symbols_needing_snapshot(self) -> list[str]:
        return [s for s, st in self._state.items() if st.want_snapshot and st.buffer]

    def pending_backfill(self) -> list[tuple[str, int]]:
        """(symbol, from trade id) whose trades are held until a REST backfill arrives."""
        return [(s, st.backfill_from) for s, st in self._state.items() if st.held]

    def last_trade_ids(self) -> dict[str, int]:
        return {s: st.last_trade for s, st in self._state.items()}

    def last_update_ids(self) -> dict[str, int]:
        return {s: st.last_u for s, st in self._state.items()}

    def is_synced(self, symbol: str) -> bool:
        return self._state[symbol.upper()].synced

    def request_resync(self, symbol: str, reason: str) -> None:
        """Forget the book of ``symbol`` (e.g. a crossed book downstream); the next diffs wait for a snapshot."""
        sym = symbol.split(":")[-1].upper()
        st = self._state.get(sym)
        if st is None:
            return
        self.counters["resyncs"] += 1
        self._event(0, "resync", sym, {"reason": reason})
        st.synced = False
        st.want_snapshot = True
        st.buffer.clear()

    def on_disconnect(self) -> None:
        """A dropped connection: diffs keep their continuity check; held trades stay held for backfill."""
        for st in self._state.values():
            st.buffer.clear()

    # ------------------------------------------------------------------ helpers
    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _event(self, ts_ns: int, kind: str, sym: str, detail: dict[str, Any]) -> None:
        self.events.append(
            Event(ts_ns, kind, binance_symbol(self.market, sym) if sym else "", detail, "feed")
        )

    def _bad(self, counter: str, raw: Any, why: str, sym: str = "") -> None:
        self.counters[counter] += 1
        text = raw if isinstance(raw, str) else json.dumps(raw)[:500]
        log.warning("binance %s: %s; message: %s", counter, why, text[:500])
        self._event(0, "bad_message", sym, {"counter": counter, "why": why, "message": text[:300]})

    # ------------------------------------------------------------------ messages
    def on_message(self, raw: str | bytes, recv_ns: int) -> list[Record]:
        """Records produced by one websocket message (possibly none)."""
        self.counters["messages"] += 1
        try:
            msg = json.loads(raw)
        except (ValueError, TypeError) as exc:
            self._bad("malformed", raw if isinstance(raw, str) else repr(raw), f"invalid JSON: {exc}")
            return []
        if not isinstance(msg, dict):
            self._bad("malformed", msg, "not a JSON object")
            return []
        data = msg.get("data", msg) if "stream" in msg else msg
        if not isinstance(data, dict):
            self._bad("malformed", msg, "`data` is not an object")
            return []
        try:
            return self._dispatch(data, msg, recv_ns)
        except (KeyError, ValueError, TypeError) as exc:
            self._bad("malformed", msg, f"missing or bad field: {exc!r}")
            return []

    def _dispatch(self, d: dict[str, Any], msg: dict[str, Any], recv_ns: int) -> list[Record]:
        if "result" in d and "id" in d:
            self.counters["acks"] += 1
            return []
        if "error" in d or ("code" in d and "msg" in d):
            self.counters["errors"] += 1
            log.warning("binance error message: %s", json.dumps(d)[:500])
            self._event(recv_ns, "error", "", {"message": json.dumps(d)[:300]})
            return []
        e = d.get("e")
        sym = str(d.get("s", "")).upper()
        if sym not in self._state:
            self._bad("unknown_stream", msg, f"symbol {sym!r} is not subscribed (subscribed: {self.symbols})")
            return []
        if e == "trade" or e == "aggTrade":
            return self._trade(d, sym, recv_ns, agg=e == "aggTrade")
        if e == "depthUpdate":
            return self._depth(d, sym, recv_ns)
        if e == "bookTicker" or (e is None and "u" in d and "b" in d and "a" in d and "B" in d):
            return self._quote(d, sym, recv_ns)
        self._bad("unknown_stream", msg, f"unknown event type {e!r}", sym)
        return []

    def _trade(self, d: dict[str, Any], sym: str, recv_ns: int, *, agg: bool) -> list[Record]:
        st = self._state[sym]
        tid = int(d["a"] if agg else d["t"])
        price, qty = float(d["p"]), float(d["q"])
        if not (price > 0 and qty >= 0 and math.isfinite(price) and math.isfinite(qty)):
            self._bad("bad_values", d, f"trade price {price} / qty {qty} not positive and finite", sym)
            return []
        last = st.last_agg if agg else st.last_trade
        if tid <= last:
            self.counters["duplicates"] += 1
            return []
        trade = Trade(
            0,
            binance_symbol(self.market, sym),
            int(d["T"]) * _MS,
            recv_ns,
            price,
            qty,
            tid,
            bool(d.get("m", False)),
        )
        if st.held or (last >= 0 and tid > last + 1 and not agg):
            if not st.held:
                self.counters["trade_gaps"] += 1
                st.backfill_from = last + 1
                self._event(recv_ns, "gap", sym, {"stream": "trade", "missing_from": last + 1, "next": tid})
            st.held.append(trade)
            return []
        if agg:
            st.last_agg = tid
        else:
            st.last_trade = tid
        trade.seq = self._next()
        self.counters["trades"] += 1
        return [trade]

    def on_backfill(self, symbol: str, rows: list[dict[str, Any]], recv_ns: int) -> list[Record]:
        """Release held trades after a REST ``historicalTrades`` answer (``rows`` may be empty)."""
        sym = symbol.upper()
        st = self._state[sym]
        out: list[Record] = []
        canon = binance_symbol(self.market, sym)
        for r in sorted(rows, key=lambda r: int(r["id"])):
            tid = int(r["id"])
            if tid <= st.last_trade:
                continue
            if st.held and tid >= st.held[0].trade_id:
                break
            t = Trade(
                self._next(),
                canon,
                int(r["time"]) * _MS,
                recv_ns,
                float(r["price"]),
                float(r["qty"]),
                tid,
                bool(r.get("isBuyerMaker", False)),
            )
            st.last_trade = tid
            self.counters["backfilled_trades"] += 1
            self.counters["trades"] += 1
            out.append(t)
        for t in st.held:
            if t.trade_id <= st.last_trade:
                continue
            t.seq = self._next()
            st.last_trade = t.trade_id
            self.counters["trades"] += 1
            out.append(t)
        st.held.clear()
        st.backfill_from = -1
        return out

    def _quote(self, d: dict[str, Any], sym: str, recv_ns: int) -> list[Record]:
        st = self._state[sym]
        u = int(d["u"])
        if u <= st.last_quote:
            self.counters["duplicates"] += 1
            return []
        bid, bq, ask, aq = float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"])
        if min(bq, aq) < 0 or not all(map(math.isfinite, (bid, bq, ask, aq))):
            self._bad("bad_values", d, "bookTicker with a negative or non-finite value", sym)
            return []
        st.last_quote = u
        self.counters["quotes"] += 1
        ts = int(d["T"]) * _MS if "T" in d else recv_ns
        return [Quote(self._next(), binance_symbol(self.market, sym), ts, recv_ns, u, bid, bq, ask, aq)]

    def _depth(self, d: dict[str, Any], sym: str, recv_ns: int) -> list[Record]:
        st = self._state[sym]
        first, last = int(d["U"]), int(d["u"])
        if st.synced and last <= st.last_u:
            self.counters["stale_updates"] += 1
            return []
        if not st.synced:
            st.buffer.append(d)
            if len(st.buffer) > 10_000:
                del st.buffer[: len(st.buffer) - 10_000]
            return []
        ok = self._continues(st, d, first, last)
        if not ok:
            self.counters["gaps"] += 1
            log.warning(
                "binance depth gap on %s: last u=%d, got U=%d u=%d pu=%s",
                sym,
                st.last_u,
                first,
                last,
                d.get("pu"),
            )
            self._event(
                recv_ns,
                "gap",
                sym,
                {"stream": "depth", "last_u": st.last_u, "U": first, "u": last, "pu": d.get("pu")},
            )
            self.counters["resyncs"] += 1
            st.synced = False
            st.want_snapshot = True
            st.buffer = [d]
            return []
        upd = self._to_update(d, sym, recv_ns)
        if upd is None:
            return []
        st.last_u = last
        st.first_after_snapshot = False
        return [upd]

    def _continues(self, st: _SymState, d: dict[str, Any], first: int, last: int) -> bool:
        if st.first_after_snapshot:
            if self.market == "spot":
                return first <= st.last_u + 1 <= last
            return first <= st.last_u <= last
        if self.market == "usdm" and "pu" in d:
            return int(d["pu"]) == st.last_u
        return first == st.last_u + 1

    def _to_update(self, d: dict[str, Any], sym: str, recv_ns: int) -> BookUpdate | None:
        bids = [(float(p), float(q)) for p, q in d["b"]]
        asks = [(float(p), float(q)) for p, q in d["a"]]
        for p, q in bids + asks:
            if not (q >= 0 and p > 0 and math.isfinite(p) and math.isfinite(q)):
                self._bad("bad_values", d, f"depth level price {p} size {q} is negative or not finite", sym)
                self.request_resync(sym, "bad depth level")
                return None
        self.counters["book_updates"] += 1
        ts = int(d.get("E", 0)) * _MS or recv_ns
        return BookUpdate(
            self._next(),
            binance_symbol(self.market, sym),
            ts,
            recv_ns,
            int(d["U"]),
            int(d["u"]),
            bids,
            asks,
            False,
        )

    def on_snapshot(self, symbol: str, snap: dict[str, Any], recv_ns: int) -> list[Record]:
        """Apply a REST depth snapshot to the buffered diffs; returns the snapshot record and the diffs that follow.

        If the buffered diffs start after the snapshot (the snapshot is too old), nothing is emitted and the
        symbol still wants a snapshot.
        """
        sym = symbol.upper()
        st = self._state[sym]
        try:
            lid = int(snap["lastUpdateId"])
            bids = [(float(p), float(q)) for p, q in snap["bids"]]
            asks = [(float(p), float(q)) for p, q in snap["asks"]]
        except (KeyError, ValueError, TypeError) as exc:
            self._bad("malformed", snap, f"bad depth snapshot: {exc!r}", sym)
            return []
        if any(q < 0 or not math.isfinite(q) for _, q in bids + asks):
            self._bad("bad_values", snap, "snapshot with a negative size", sym)
            return []
        keep = [b for b in st.buffer if (int(b["u"]) > lid if self.market == "spot" else int(b["u"]) >= lid)]
        if keep:
            f = int(keep[0]["U"])
            if (self.market == "spot" and f > lid + 1) or (self.market == "usdm" and f > lid):
                self._event(recv_ns, "snapshot_too_old", sym, {"lastUpdateId": lid, "first_U": f})
                st.buffer = keep
                st.want_snapshot = True
                return []
        self.counters["snapshots"] += 1
        # a spot snapshot carries no time: stamp it with the newest buffered diff's event time (deterministic)
        ts = (
            int(snap.get("E", 0)) * _MS
            or (int(st.buffer[-1].get("E", 0)) * _MS if st.buffer else 0)
            or recv_ns
        )
        out: list[Record] = [
            BookUpdate(
                self._next(), binance_symbol(self.market, sym), ts, recv_ns, lid, lid, bids, asks, True
            )
        ]
        st.synced = True
        st.want_snapshot = False
        st.first_after_snapshot = True
        st.last_u = lid
        st.buffer = []
        for b in keep:
            out += self._depth(b, sym, recv_ns)
        return out
