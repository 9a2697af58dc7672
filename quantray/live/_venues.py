"""Coinbase Advanced Trade and Alpaca market data: sans-IO sessions, a websocket client, a protocol replay server.

Coinbase Advanced Trade (``wss://advanced-trade-ws.coinbase.com``): the client sends one
``{"type": "subscribe", "product_ids": [...], "channel": "level2" | "market_trades" | "heartbeats"}`` per
channel; messages are ``{"channel": "l2_data" | "market_trades" | "heartbeats" | "subscriptions", "timestamp",
"sequence_num", "events": [...]}``. ``l2_data`` events are a ``snapshot`` then ``update``s whose
``updates`` carry ``side`` (``bid``/``offer``), ``price_level`` and ``new_quantity`` (the new size, 0 removes).
``sequence_num`` counts every message of the connection: a jump means lost messages, and the session asks the
client to resubscribe ``level2`` (a fresh snapshot) — the book is never patched across a gap.

Alpaca market data v2 (``wss://stream.data.alpaca.markets/v2/iex``): the server greets
``[{"T": "success", "msg": "connected"}]``; the client sends ``{"action": "auth", "key", "secret"}`` and, once
``authenticated``, ``{"action": "subscribe", "trades": [...], "quotes": [...], "bars": [...]}``. Data are arrays
of ``{"T": "t"}`` trades (``i`` id, ``p``, ``s``, ``t`` RFC 3339), ``{"T": "q"}`` quotes (``bp``, ``bs``, ``ap``,
``as``) and ``{"T": "b"}`` minute bars (``o h l c v n vw``).

:func:`binance_to_venue` rewrites a real Binance recording into either protocol (the fixtures of the tests), and
:class:`VenueReplayServer` serves such a fixture with the venue's handshake and fault injection.

Example:
    >>> s = CoinbaseSession(["ETH-USD"])
    >>> [m["channel"] for m in s.subscribe_messages()]
    ['level2', 'market_trades', 'heartbeats']
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from quantray.errors import ConfigError
from quantray.live._book import OrderBook
from quantray.live._records import Bar, BookUpdate, Event, Quote, Record, Trade
from quantray.live._replay_server import END_OF_REPLAY, FaultSpec, FaultState, send_with_faults

__all__ = ["AlpacaSession", "CoinbaseSession", "VenueFeed", "VenueReplayServer", "binance_to_venue"]

log = logging.getLogger("quantray.live.venues")


def _ns(text: str) -> int:
    return int(pd.Timestamp(text).value)


def _iso_ns(ns: int) -> str:
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "Z")


class _Window:
    """The last ``size`` distinct keys seen (a set with first-in-first-out eviction)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._set: set[Any] = set()
        self._order: deque[Any] = deque()

    def __contains__(self, x: object) -> bool:
        return x in self._set

    def add(self, x: Any) -> None:
        if x in self._set:
            return
        self._set.add(x)
        self._order.append(x)
        if len(self._order) > self.size:
            self._set.discard(self._order.popleft())


class _Base:
    venue = ""

    def __init__(self) -> None:
        self.seq = 0
        self.events: list[Event] = []
        self.counters: dict[str, int] = {
            "messages": 0,
            "trades": 0,
            "quotes": 0,
            "book_updates": 0,
            "bars": 0,
            "snapshots": 0,
            "malformed": 0,
            "unknown": 0,
            "gaps": 0,
            "duplicates": 0,
            "late": 0,
            "resyncs": 0,
            "heartbeats": 0,
            "acks": 0,
            "errors": 0,
        }
        self.pending_sends: list[dict[str, Any]] = []
        self.fatal: str | None = None

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _bad(self, counter: str, raw: Any, why: str) -> None:
        self.counters[counter] += 1
        text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
        log.warning("%s %s: %s; message: %s", self.venue, counter, why, text[:500])
        self.events.append(
            Event(0, "bad_message", "", {"counter": counter, "why": why, "message": text[:300]}, "feed")
        )

    def request_resync(self, symbol: str, reason: str) -> None:
        return None


class CoinbaseSession(_Base):
    """Sans-IO Coinbase Advanced Trade session: level2 books, market trades, heartbeats, sequence checks."""

    venue = "coinbase"

    def __init__(self, products: list[str]) -> None:
        super().__init__()
        if not products:
            raise ConfigError("coinbase: `symbols` (product ids) must not be empty")
        self.products = [p.upper() for p in products]
        self.last_num: int | None = None
        self.synced = dict.fromkeys(self.products, False)
        self.last_trade = dict.fromkeys(self.products, -1)
        self._nums = _Window(4096)  # sequence numbers seen on this connection (late vs duplicate)
        self._trade_ids = {p: _Window(4096) for p in self.products}
        self.last_heartbeat_ns: int | None = None

    def sym(self, product: str) -> str:
        return f"coinbase:{product}"

    def subscribe_messages(self) -> list[dict[str, Any]]:
        return [
            {"type": "subscribe", "product_ids": self.products, "channel": c}
            for c in ("level2", "market_trades", "heartbeats")
        ]

    def on_disconnect(self) -> None:
        self.last_num = None  # sequence numbers restart with every connection
        self._nums = _Window(4096)
        self.synced = dict.fromkeys(self.products, False)

    def request_resync(self, symbol: str, reason: str) -> None:
        self.counters["resyncs"] += 1
        self.events.append(Event(0, "resync", symbol, {"reason": reason}, "feed"))
        self.synced = dict.fromkeys(self.products, False)
        self.pending_sends += [
            {"type": "unsubscribe", "product_ids": self.products, "channel": "level2"},
            {"type": "subscribe", "product_ids": self.products, "channel": "level2"},
        ]

    def on_message(self, raw: str | bytes, recv_ns: int) -> list[Record]:
        self.counters["messages"] += 1
        try:
            msg = json.loads(raw)
            channel = msg["channel"]
            num = int(msg["sequence_num"])
            events = msg.get("events") or []
        except (ValueError, KeyError, TypeError) as exc:
            self._bad(
                "malformed", raw if isinstance(raw, str) else repr(raw), f"not a Coinbase message: {exc!r}"
            )
            return []
        late = False
        if self.last_num is not None and num != self.last_num + 1:
            if num in self._nums:
                self.counters["duplicates"] += 1
                return []
            if num < self.last_num:
                # a message overtaken by a later one: the jump it left behind already resynced level2, so a
                # late book update is dropped (the fresh snapshot includes it); late trades are still delivered
                self.counters["late"] += 1
                late = True
            else:
                self.counters["gaps"] += 1
                self.events.append(
                    Event(
                        recv_ns, "gap", "", {"stream": "coinbase", "last": self.last_num, "next": num}, "feed"
                    )
                )
                self.request_resync("", f"sequence_num jumped from {self.last_num} to {num}")
        self._nums.add(num)
        if late:
            if channel != "market_trades":
                return []
        else:
            self.last_num = num
        out: list[Record] = []
        try:
            if channel == "l2_data":
                for ev in events:
                    out += self._l2(ev, recv_ns)
            elif channel == "market_trades":
                trades = [t for ev in events for t in ev.get("trades", [])]
                for t in sorted(trades, key=lambda t: int(t["trade_id"])):
                    out += self._trade(t, recv_ns)
            elif channel == "heartbeats":
                self.counters["heartbeats"] += 1
                self.last_heartbeat_ns = recv_ns
            elif channel == "subscriptions":
                self.counters["acks"] += 1
            else:
                self._bad("unknown", msg, f"unknown channel {channel!r}")
        except (KeyError, ValueError, TypeError) as exc:
            self._bad("malformed", msg, f"missing or bad field: {exc!r}")
        return out

    def _l2(self, ev: dict[str, Any], recv_ns: int) -> list[Record]:
        product = str(ev["product_id"]).upper()
        if product not in self.synced:
            self._bad("unknown", ev, f"product {product!r} is not subscribed")
            return []
        bids: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        ts = 0
        for u in ev["updates"]:
            p, q = float(u["price_level"]), float(u["new_quantity"])
            if q < 0 or p <= 0:
                self._bad("malformed", ev, f"level {p} size {q} is negative")
                self.request_resync(self.sym(product), "bad level")
                return []
            (bids if u["side"] == "bid" else asks).append((p, q))
            ts = max(ts, _ns(u["event_time"]) if u.get("event_time", "").startswith("2") else 0)
        ts = ts or recv_ns
        num = self.last_num or 0
        if ev["type"] == "snapshot":
            self.synced[product] = True
            self.counters["snapshots"] += 1
            return [BookUpdate(self._next(), self.sym(product), ts, recv_ns, num, num, bids, asks, True)]
        if not self.synced[product]:
            return []
        self.counters["book_updates"] += 1
        return [BookUpdate(self._next(), self.sym(product), ts, recv_ns, num, num, bids, asks, False)]

    def _trade(self, t: dict[str, Any], recv_ns: int) -> list[Record]:
        product = str(t["product_id"]).upper()
        tid = int(t["trade_id"])
        if product not in self.last_trade:
            self._bad("unknown", t, f"product {product!r} is not subscribed")
            return []
        seen = self._trade_ids[product]
        if tid in seen or tid <= self.last_trade[product] - seen.size:
            self.counters["duplicates"] += 1
            return []
        seen.add(tid)
        self.last_trade[product] = max(self.last_trade[product], tid)
        self.counters["trades"] += 1
        return [
            Trade(
                self._next(),
                self.sym(product),
                _ns(t["time"]),
                recv_ns,
                float(t["price"]),
                float(t["size"]),
                tid,
                t.get("side") == "SELL",
            )
        ]


class AlpacaSession(_Base):
    """Sans-IO Alpaca market data v2 session: the auth handshake, then trades, quotes and bars."""

    venue = "alpaca"

    def __init__(
        self,
        symbols: list[str],
        *,
        key: str,
        secret: str,
        trades: bool = True,
        quotes: bool = True,
        bars: bool = False,
    ) -> None:
        super().__init__()
        if not symbols:
            raise ConfigError("alpaca: `symbols` must not be empty")
        self.symbols = [s.upper() for s in symbols]
        self.key, self.secret = key, secret
        self.channels = {"trades": trades, "quotes": quotes, "bars": bars}
        self.state = "connecting"
        self.last_trade: dict[str, tuple[int, int]] = {}
        self._trade_keys: dict[str, _Window] = {}
        self.quote_id = 0

    def sym(self, s: str) -> str:
        return f"alpaca:{s}"

    def subscribe_messages(self) -> list[dict[str, Any]]:
        return []  # sent after authentication (see ``pending_sends``)

    def on_disconnect(self) -> None:
        self.state = "connecting"

    def on_message(self, raw: str | bytes, recv_ns: int) -> list[Record]:
        self.counters["messages"] += 1
        try:
            msgs = json.loads(raw)
        except ValueError as exc:
            self._bad("malformed", raw if isinstance(raw, str) else repr(raw), f"invalid JSON: {exc}")
            return []
        if isinstance(msgs, dict):
            msgs = [msgs]
        out: list[Record] = []
        for m in msgs:
            try:
                out += self._one(m, recv_ns)
            except (KeyError, ValueError, TypeError) as exc:
                self._bad("malformed", m, f"missing or bad field: {exc!r}")
        return out

    def _one(self, m: dict[str, Any], recv_ns: int) -> list[Record]:
        kind = m.get("T")
        if kind == "success":
            if m.get("msg") == "connected":
                self.state = "connected"
                self.pending_sends.append({"action": "auth", "key": self.key, "secret": self.secret})
            elif m.get("msg") == "authenticated":
                self.state = "authenticated"
                sub: dict[str, Any] = {"action": "subscribe"}
                for ch, on in self.channels.items():
                    if on:
                        sub[ch] = list(self.symbols)
                self.pending_sends.append(sub)
            return []
        if kind == "subscription":
            self.state = "subscribed"
            self.counters["acks"] += 1
            return []
        if kind == "error":
            self.counters["errors"] += 1
            if int(m.get("code", 0)) in (401, 402, 403, 404, 406):
                self.fatal = f"alpaca error {m.get('code')}: {m.get('msg')}"
            log.warning("alpaca error: %s", m)
            return []
        sym = str(m.get("S", "")).upper()
        if kind in ("t", "q", "b") and sym not in self.symbols:
            self._bad("unknown", m, f"symbol {sym!r} is not subscribed")
            return []
        if kind == "t":
            # Alpaca has no sequence numbers: a trade is a duplicate when its (time, id) was seen recently; one
            # arriving after a later trade (reordered) is still delivered
            key = (_ns(m["t"]), int(m["i"]))
            seen = self._trade_keys.setdefault(sym, _Window(4096))
            if key in seen:
                self.counters["duplicates"] += 1
                return []
            if key < self.last_trade.get(sym, (-1, -1)):
                self.counters["late"] += 1
            seen.add(key)
            self.last_trade[sym] = max(key, self.last_trade.get(sym, (-1, -1)))
            self.counters["trades"] += 1
            return [Trade(self._next(), self.sym(sym), key[0], recv_ns, float(m["p"]), float(m["s"]), key[1])]
        if kind == "q":
            if min(float(m["bs"]), float(m["as"])) < 0:
                self._bad("malformed", m, "negative quote size")
                return []
            self.quote_id += 1
            self.counters["quotes"] += 1
            return [
                Quote(
                    self._next(),
                    self.sym(sym),
                    _ns(m["t"]),
                    recv_ns,
                    self.quote_id,
                    float(m["bp"]),
                    float(m["bs"]),
                    float(m["ap"]),
                    float(m["as"]),
                )
            ]
        if kind == "b":
            self.counters["bars"] += 1
            ts = _ns(m["t"])
            return [
                Bar(
                    0,
                    self.sym(sym),
                    60,
                    ts,
                    float(m["o"]),
                    float(m["h"]),
                    float(m["l"]),
                    float(m["c"]),
                    float(m["v"]),
                    float(m.get("vw", m["c"])),
                    int(m.get("n", 0)),
                    recv_ns,
                )
            ]
        self._bad("unknown", m, f"unknown message type {kind!r}")
        return []


Emit = Callable[[list[Record], list[Event]], Awaitable[None]]


class VenueFeed:
    """Websocket client for a Coinbase or Alpaca session: handshake, subscribe, batches, reconnect with backoff
    and jitter, resubscribe (a fresh level2 snapshot), stop on the replay server's ``end of replay``."""

    def __init__(
        self,
        session: CoinbaseSession | AlpacaSession,
        url: str,
        emit: Emit,
        *,
        stale_s: float = 10.0,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 5.0,
        seed: int | None = None,
        max_reconnects: int | None = 20,
    ) -> None:
        self.session, self.url, self.emit = session, url, emit
        self.stale_s, self.b0, self.b1 = stale_s, backoff_initial_s, backoff_max_s
        self.rng = random.Random(seed)
        self.max_reconnects = max_reconnects
        self.stats = {"connects": 0, "reconnects": 0, "stale": 0}
        self.delays: list[float] = []
        self._stop = False

    def stop(self) -> None:
        self._stop = True

    def request_resync(self, symbol: str, reason: str = "downstream") -> None:
        self.session.request_resync(symbol, reason)

    def _stale(self) -> None:
        """Nothing arrived for ``stale_s``: on Coinbase the heartbeats channel (one message a second) has gone
        quiet too, so the connection is dead or stalled; on Alpaca (no heartbeats; websocket pings still
        answered) silence longer than the quietest expected market is taken as a stall. Either way: a
        ``stale_feed`` event, then reconnect (Alpaca re-authenticates, Coinbase resubscribes and gets a fresh
        level2 snapshot)."""
        self.stats["stale"] += 1
        now = time.time_ns()
        data: dict[str, Any] = {"silent_s": self.stale_s, "venue": self.session.venue}
        hb = getattr(self.session, "last_heartbeat_ns", None)
        if hb is not None:
            data["last_heartbeat_s_ago"] = round((now - hb) / 1e9, 3)
        self.session.events.append(Event(now, "stale_feed", "", data, "feed"))

    async def _flush(self, batch: list[Record]) -> None:
        events, self.session.events = self.session.events, []
        if batch or events:
            await self.emit(list(batch), events)
        batch.clear()

    async def run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        failures = 0
        batch: list[Record] = []
        while not self._stop:
            try:
                async with connect(self.url, compression=None, max_queue=1024, open_timeout=5) as ws:
                    self.stats["connects"] += 1
                    self.stats["reconnects"] = self.stats["connects"] - 1
                    for m in self.session.subscribe_messages():
                        await ws.send(json.dumps(m))
                    while not self._stop:
                        try:
                            raw = await asyncio.wait_for(ws.recv(), 0.005 if batch else self.stale_s)
                        except TimeoutError:
                            if batch:
                                await self._flush(batch)
                                continue
                            self._stale()
                            break
                        failures = 0
                        batch += self.session.on_message(raw, time.time_ns())
                        try:
                            while self.session.pending_sends:
                                await ws.send(json.dumps(self.session.pending_sends.pop(0)))
                        except ConnectionClosed:
                            # the server is closing: what it sent before is still queued here; keep reading
                            # it (recv raises once the queue is empty)
                            self.session.pending_sends.clear()
                        if self.session.fatal:
                            raise ConfigError(self.session.fatal)
                        if len(batch) >= 2000:
                            await self._flush(batch)
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.reason == END_OF_REPLAY:
                    await self._flush(batch)
                    return
            except (OSError, TimeoutError) as exc:
                log.warning("%s connection failed: %r", self.url, exc)
            await self._flush(batch)
            self.session.on_disconnect()
            self.session.pending_sends.clear()
            failures += 1
            if self.max_reconnects is not None and failures > self.max_reconnects:
                raise ConnectionError(f"{self.url}: gave up after {self.max_reconnects} reconnects")
            d = min(self.b1, self.b0 * 2 ** (failures - 1))
            delay = d / 2 + self.rng.random() * d / 2
            self.delays.append(delay)
            await asyncio.sleep(delay)
        await self._flush(batch)


# ---------------------------------------------------------------------------------------------- fixtures
def binance_to_venue(
    src: str | Path,
    dst: str | Path,
    *,
    venue: str,
    limit: int | None = None,
    product: str = "ETH-USD",
    depth: int = 50,
) -> Path:
    """Rewrite a Binance recording (real prints) into Coinbase or Alpaca server messages, one per line.

    Coinbase: the REST snapshot becomes the ``l2_data`` snapshot (best ``depth`` levels per side), depth diffs
    become ``update`` events, trades ``market_trades`` events, and a heartbeat follows every 200 messages
    (``sequence_num`` is left 0: the server numbers messages per connection). Alpaca: trades and bookTicker
    quotes in its array format, symbol ``product``.
    """
    from quantray.live._files import iter_recording

    if venue not in ("coinbase", "alpaca"):
        raise ConfigError(f"venue must be 'coinbase' or 'alpaca', got {venue!r}")
    out_lines: list[str] = []
    snap_seen = False
    hb = 0
    for i, r in enumerate(iter_recording(src)):
        if limit is not None and i >= limit:
            break
        if r.snapshot:
            d = json.loads(r.raw)
            snap_seen = True
            if venue == "coinbase":
                ups = [
                    {"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": p, "new_quantity": q}
                    for p, q in d["bids"][:depth]
                ]
                ups += [
                    {
                        "side": "offer",
                        "event_time": "1970-01-01T00:00:00Z",
                        "price_level": p,
                        "new_quantity": q,
                    }
                    for p, q in d["asks"][:depth]
                ]
                msg = {
                    "channel": "l2_data",
                    "client_id": "",
                    "timestamp": _iso_ns(r.recv_ns),
                    "sequence_num": 0,
                    "events": [{"type": "snapshot", "product_id": product, "updates": ups}],
                }
                out_lines.append(f"{r.recv_ns} {json.dumps(msg)}")
            continue
        m = json.loads(r.raw)
        data, stream = m["data"], m["stream"]
        ts = (
            _iso_ns(int(data.get("T", data.get("E", 0))) * 1_000_000)
            if ("T" in data or "E" in data)
            else _iso_ns(r.recv_ns)
        )
        msg2: Any = None
        if venue == "coinbase":
            if "@depth" in stream and snap_seen:
                ups = [
                    {"side": "bid", "event_time": ts, "price_level": p, "new_quantity": q}
                    for p, q in data["b"]
                ]
                ups += [
                    {"side": "offer", "event_time": ts, "price_level": p, "new_quantity": q}
                    for p, q in data["a"]
                ]
                msg2 = {
                    "channel": "l2_data",
                    "client_id": "",
                    "timestamp": ts,
                    "sequence_num": 0,
                    "events": [{"type": "update", "product_id": product, "updates": ups}],
                }
            elif stream.endswith("@trade"):
                msg2 = {
                    "channel": "market_trades",
                    "client_id": "",
                    "timestamp": ts,
                    "sequence_num": 0,
                    "events": [
                        {
                            "type": "update",
                            "trades": [
                                {
                                    "trade_id": str(data["t"]),
                                    "product_id": product,
                                    "price": data["p"],
                                    "size": data["q"],
                                    "side": "SELL" if data["m"] else "BUY",
                                    "time": ts,
                                }
                            ],
                        }
                    ],
                }
        else:
            if stream.endswith("@trade"):
                msg2 = [
                    {
                        "T": "t",
                        "i": data["t"],
                        "S": product,
                        "x": "V",
                        "p": float(data["p"]),
                        "s": float(data["q"]),
                        "t": ts,
                        "c": ["@"],
                        "z": "C",
                    }
                ]
            elif stream.endswith("@bookTicker"):
                msg2 = [
                    {
                        "T": "q",
                        "S": product,
                        "bx": "V",
                        "bp": float(data["b"]),
                        "bs": float(data["B"]),
                        "ax": "V",
                        "ap": float(data["a"]),
                        "as": float(data["A"]),
                        "t": _iso_ns(r.recv_ns),
                        "c": ["R"],
                        "z": "C",
                    }
                ]
        if msg2 is None:
            continue
        out_lines.append(f"{r.recv_ns} {json.dumps(msg2)}")
        hb += 1
        if venue == "coinbase" and hb % 200 == 0:
            beat = {
                "channel": "heartbeats",
                "client_id": "",
                "timestamp": ts,
                "sequence_num": 0,
                "events": [{"current_time": ts, "heartbeat_counter": str(hb // 200)}],
            }
            out_lines.append(f"{r.recv_ns} {json.dumps(beat)}")
    p = Path(dst)
    with gzip.open(p, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(out_lines) + "\n")
    return p


class VenueReplayServer:
    """Serve a Coinbase or Alpaca fixture (``<recv_ns> <server message>`` lines) with the venue's handshake.

    Like an exchange, the server has one clock: a connection (or a reconnection) receives the messages from
    the current position on; what was in flight on a dropped connection is lost. Coinbase: messages are sent once the
    client subscribed to their channel, numbered by a per-connection ``sequence_num`` (a dropped message still
    uses its number, as on the exchange); a (re)subscription to ``level2`` is answered with a snapshot of the
    book as of that point. Alpaca: ``connected`` greeting, auth against ``key``/``secret``, then data for the
    subscribed symbols. Faults as in :class:`~quantray.live.ReplayServer`, same ``--faults`` syntax
    (:class:`~quantray.live.FaultSpec`): drop, dup, reorder (swap with the next message; on Coinbase the
    ``sequence_num`` then runs backwards), disconnect every N messages, stall S seconds every N messages (the
    connection stays open and silent, Coinbase heartbeats included); ``speed`` is ``"max"`` or a factor of real
    time (the recorded receive times).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        venue: str,
        faults: FaultSpec | str | None = None,
        speed: str | float = "max",
        key: str = "test-key",
        secret: str = "test-secret",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if venue not in ("coinbase", "alpaca"):
            raise ConfigError(f"venue must be 'coinbase' or 'alpaca', got {venue!r}")
        from quantray.live._files import read_recording

        self.venue = venue
        rec = read_recording(path)
        self.lines = [json.loads(r.raw) for r in rec]
        self.times = [r.recv_ns for r in rec]
        self.speed = speed if speed == "max" else float(speed)
        self._t0: tuple[float, int] | None = None
        self.faults = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
        self.key, self.secret, self.host, self.port = key, secret, host, port
        self.stats = {
            "connections": 0,
            "sent": 0,
            "dropped": 0,
            "duplicated": 0,
            "reordered": 0,
            "stalls": 0,
            "aborted": 0,
            "auths": 0,
            "auth_failures": 0,
        }
        self.final_books: dict[str, OrderBook] = {}
        self.cursor = 0  # the exchange's "now": shared by every connection
        self.book = OrderBook()
        self._server: Any = None
        self._n = 0

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> VenueReplayServer:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handler, self.host, self.port, compression=None, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handler(self, ws: Any) -> None:
        self._n += 1
        self.stats["connections"] += 1
        conn = FaultState(random.Random(self.faults.seed * 1_000_003 + self._n))
        try:
            if self.venue == "alpaca":
                await self._alpaca(ws, conn)
            else:
                await self._coinbase(ws, conn)
        except Exception as exc:  # a dropped client is normal
            log.debug("venue replay connection ended: %r", exc)

    async def _pace(self, i: int) -> None:
        if self.speed == "max" or not self.times:
            return
        if self._t0 is None:
            self._t0 = (time.monotonic(), self.times[i])
        due = self._t0[0] + (self.times[i] - self._t0[1]) / 1e9 / float(self.speed)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _faulty_send(self, ws: Any, text: str, conn: FaultState) -> bool:
        """Send one market message with the configured faults, in :class:`~quantray.live.ReplayServer`'s
        order: stall (sleep ``stall_s`` every ``stall_every`` messages: the connection stays open and silent,
        heartbeats included), disconnect (abort the TCP connection), drop, duplicate, reorder (hold the message
        and send it after the next one). False when the connection was aborted."""
        return await send_with_faults(ws, conn, self.faults, text, self.stats)

    async def _end(self, ws: Any, conn: FaultState) -> None:
        if conn.held is not None:  # a message held back for reordering still goes out before the end
            await ws.send(conn.held)
            self.stats["sent"] += 1
            conn.held = None
        await ws.close(1000, END_OF_REPLAY)

    async def _alpaca(self, ws: Any, conn: FaultState) -> None:
        await ws.send(json.dumps([{"T": "success", "msg": "connected"}]))
        auth = json.loads(await ws.recv())
        if auth.get("action") != "auth" or auth.get("key") != self.key or auth.get("secret") != self.secret:
            self.stats["auth_failures"] += 1
            await ws.send(json.dumps([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await ws.close(1008, "auth failed")
            return
        self.stats["auths"] += 1
        await ws.send(json.dumps([{"T": "success", "msg": "authenticated"}]))
        sub = json.loads(await ws.recv())
        want = {k: set(sub.get(k) or []) for k in ("trades", "quotes", "bars")}
        await ws.send(json.dumps([{"T": "subscription", **{k: sorted(v) for k, v in want.items()}}]))
        kinds = {"t": "trades", "q": "quotes", "b": "bars"}
        while self.cursor < len(self.lines):
            i = self.cursor
            await self._pace(i)
            self.cursor += 1
            msg = self.lines[i]
            keep = [m for m in msg if m["S"] in want[kinds[m["T"]]] or "*" in want[kinds[m["T"]]]]
            if keep and not await self._faulty_send(ws, json.dumps(keep), conn):
                return
            if i % 256 == 0:
                await asyncio.sleep(0)
        await self._end(ws, conn)

    async def _coinbase(self, ws: Any, conn: FaultState) -> None:
        subs: set[str] = set()
        book = self.book
        num = 0

        async def control() -> None:
            nonlocal num
            async for text in ws:
                m = json.loads(text)
                chans = {m.get("channel", "")}
                if m.get("type") == "subscribe":
                    subs.update(chans)
                    if "level2" in chans:  # a fresh snapshot of the book as of now
                        bids, asks = book.levels(10_000)
                        ups = [
                            {
                                "side": "bid",
                                "event_time": "1970-01-01T00:00:00Z",
                                "price_level": repr(p),
                                "new_quantity": repr(q),
                            }
                            for p, q in bids
                        ]
                        ups += [
                            {
                                "side": "offer",
                                "event_time": "1970-01-01T00:00:00Z",
                                "price_level": repr(p),
                                "new_quantity": repr(q),
                            }
                            for p, q in asks
                        ]
                        if ups:
                            pid = m["product_ids"][0]
                            await ws.send(
                                json.dumps(
                                    {
                                        "channel": "l2_data",
                                        "client_id": "",
                                        "timestamp": datetime.now(tz=UTC).isoformat(),
                                        "sequence_num": num,
                                        "events": [{"type": "snapshot", "product_id": pid, "updates": ups}],
                                    }
                                )
                            )
                            num += 1
                elif m.get("type") == "unsubscribe":
                    subs.difference_update(chans)
                await ws.send(
                    json.dumps(
                        {
                            "channel": "subscriptions",
                            "client_id": "",
                            "timestamp": "",
                            "sequence_num": num,
                            "events": [
                                {"subscriptions": {c: m.get("product_ids", []) for c in sorted(subs)}}
                            ],
                        }
                    )
                )
                num += 1

        reader = asyncio.create_task(control())
        chan_of = {"l2_data": "level2", "market_trades": "market_trades", "heartbeats": "heartbeats"}
        try:
            while "level2" not in subs:
                if reader.done():  # the client left before subscribing
                    return
                await asyncio.sleep(0.001)
            while self.cursor < len(self.lines):
                i = self.cursor
                await self._pace(i)
                self.cursor += 1
                msg = self.lines[i]
                if msg["channel"] == "l2_data":
                    for ev in msg["events"]:
                        bids = [
                            (float(u["price_level"]), float(u["new_quantity"]))
                            for u in ev["updates"]
                            if u["side"] == "bid"
                        ]
                        asks = [
                            (float(u["price_level"]), float(u["new_quantity"]))
                            for u in ev["updates"]
                            if u["side"] != "bid"
                        ]
                        if ev["type"] == "snapshot":
                            book.reset(bids, asks, last_update_id=i)
                        else:
                            book.apply(bids, asks, last_update_id=i)
                if chan_of.get(msg["channel"]) not in subs:
                    continue
                msg["sequence_num"] = num
                num += 1
                if not await self._faulty_send(ws, json.dumps(msg), conn):
                    return
                if i % 64 == 0:
                    await asyncio.sleep(0)
            self.final_books["coinbase"] = book
            await self._end(ws, conn)
        finally:
            reader.cancel()
