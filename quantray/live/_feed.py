"""Websocket feed adapters (asyncio, ``websockets``): connect, subscribe, parse, resync, reconnect.

:class:`BinanceFeed` drives a :class:`~quantray.live._binance.BinanceSession` over a real connection:

* subscribes with the combined-stream URL (``/stream?streams=...``) or ``/ws`` + a ``SUBSCRIBE`` message;
* fetches the REST depth snapshot when the session asks for one (first diffs, a gap, a resync request) and
  backfills missing trades over REST ``historicalTrades``;
* batches records (``batch_size`` or ``batch_delay_s``) before handing them to ``emit``;
* reconnects with exponential backoff and jitter (``delay = min(max, initial·2^k)``, then a uniform draw in
  ``[delay/2, delay]``) after a dropped connection or a stale feed (no message for ``stale_s``), resubscribes,
  and resyncs books whose diffs no longer continue;
* stops when the server closes with reason ``"end of replay"`` (the replay server), after a final trade
  backfill and a final snapshot check.

Example:
    >>> cfg = FeedConfig(market="spot", symbols=("BTCUSDT",), ws_url="ws://127.0.0.1:1", rest_url="http://127.0.0.1:1")
    >>> cfg.stream_url().split("?")[0]
    'ws://127.0.0.1:1/stream'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from quantray.errors import ConfigError
from quantray.live._binance import BinanceSession, BinanceUrls, binance_streams
from quantray.live._records import Event, Record
from quantray.live._replay_server import END_OF_REPLAY
from quantray.live._ws import TRANSPORTS, FrameSink, open_connection

__all__ = ["BinanceFeed", "FeedConfig", "backoff_delays"]

log = logging.getLogger("quantray.live.feed")

Emit = Callable[[Any, list[Event]], Awaitable[None]]  # records: list[Record] or a records_to_table table


@dataclass(frozen=True, kw_only=True)
class FeedConfig:
    """One connection to one venue.

    Attributes:
        venue: ``"binance"`` (spot or USDⓈ-M by ``market``).
        market: ``"spot"`` or ``"usdm"``.
        symbols: exchange symbols.
        ws_url, rest_url: base URLs (the exchange by default, a replay server in tests).
        combined: combined-stream URL (True) or ``/ws`` + SUBSCRIBE (False).
        depth_speed: depth stream speed suffix (``100ms`` spot, ``0ms`` futures by default).
        batch_size, batch_delay_s: records per batch, and the longest a record waits for its batch while the
            feed keeps up (on the fast path a backlog fills batches up to ``batch_size`` first).
        backoff_initial_s, backoff_max_s: reconnect backoff bounds.
        stale_s: seconds without a message before the connection is considered dead.
        snapshot_limit: levels requested in REST snapshots.
        snapshot_retry_s: least time between two snapshot requests of a symbol (a snapshot older than the
            buffered diffs is requested again, but not on every message).
        backfill: backfill trade-id gaps over REST.
        max_reconnects: give up after this many consecutive failed connects (None: never).
        fast: the compiled path (batched receive, numba parsing into columnar batches; every message it cannot
            handle goes through :class:`BinanceSession`); ``False``: one message at a time through the session
            (the reference). Either way ``emit`` gets the same records, as a table (fast) or a list.
        transport: ``"websockets"`` (sans-I/O protocol of the websockets library) or ``"picows"`` (fast path).
    """

    venue: str = "binance"
    market: str = "spot"
    symbols: tuple[str, ...] = ()
    ws_url: str = ""
    rest_url: str = ""
    combined: bool = True
    depth_speed: str | None = None
    batch_size: int = 8192
    batch_delay_s: float = 0.005
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 5.0
    stale_s: float = 10.0
    snapshot_limit: int = 1000
    backfill: bool = True
    max_reconnects: int | None = None
    snapshot_retry_s: float = 0.25
    streams: tuple[str, ...] = field(default=())
    fast: bool = True
    transport: str = "websockets"

    def __post_init__(self) -> None:
        if self.venue != "binance":
            raise ConfigError(f"feed `venue` must be 'binance', got {self.venue!r}")
        if self.market not in ("spot", "usdm"):
            raise ConfigError(f"feed `market` must be 'spot' or 'usdm', got {self.market!r}")
        if not self.symbols:
            raise ConfigError("feed `symbols` must not be empty")
        object.__setattr__(self, "symbols", tuple(s.upper() for s in self.symbols))
        urls = BinanceUrls.for_market(self.market)
        if not self.ws_url:
            object.__setattr__(self, "ws_url", urls.ws)
        if not self.rest_url:
            object.__setattr__(self, "rest_url", urls.rest)
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"feed `transport` must be one of {list(TRANSPORTS)}, got {self.transport!r}")
        if self.batch_size < 1 or self.batch_delay_s < 0:
            raise ConfigError("feed `batch_size` must be >= 1 and `batch_delay_s` >= 0")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ConfigError(
                f"feed backoff must satisfy 0 < backoff_initial_s <= backoff_max_s, got "
                f"{self.backoff_initial_s}, {self.backoff_max_s}"
            )
        if not self.streams:
            object.__setattr__(
                self,
                "streams",
                tuple(binance_streams(self.symbols, market=self.market, depth_speed=self.depth_speed)),
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"feed: unknown key(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}")
        d = dict(d)
        for k in ("symbols", "streams"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)

    def stream_url(self) -> str:
        base = self.ws_url.rstrip("/")
        if self.combined:
            return f"{base}/stream?streams={'/'.join(self.streams)}"
        return f"{base}/ws"

    def rest_path(self, endpoint: str) -> str:
        prefix = "/api/v3/" if self.market == "spot" else "/fapi/v1/"
        return self.rest_url.rstrip("/") + prefix + endpoint


def backoff_delays(initial: float, maximum: float, attempts: int, rng: random.Random) -> list[float]:
    """The reconnect delays: exponential, capped, with "equal jitter" (uniform in [d/2, d])."""
    out = []
    for k in range(attempts):
        d = min(maximum, initial * (2**k))
        out.append(d / 2 + rng.random() * d / 2)
    return out


class BinanceFeed:
    """Run a Binance connection, calling ``emit(records, events)`` per batch."""

    def __init__(
        self,
        config: FeedConfig,
        emit: Emit,
        *,
        session: BinanceSession | None = None,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.emit = emit
        self.session = session or BinanceSession(config.symbols, market=config.market)
        self.rng = random.Random(seed)
        self.stats = {
            "connects": 0,
            "reconnects": 0,
            "stale": 0,
            "snapshots_fetched": 0,
            "backfills": 0,
            "batches": 0,
        }
        self.delays: list[float] = []
        self._stop = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop run() runs on (stop() wakes it)
        self._stopping: asyncio.Event | None = None
        self._sink: FrameSink | None = None  # fast path: the current connection's frames
        self._ws: Any = None  # reference path: the current connection
        self._closing: Any = None  # (the task closing it on stop, kept referenced)
        self._http: Any = None
        self._snap_at: dict[str, float] = {}
        self._emit_cost = 0.0  # seconds one emit takes (moving average; fast path batching)

    def stop(self) -> None:
        """Stop streaming (from any thread): a pending receive or reconnect wait ends now, the records already
        parsed are emitted, and :meth:`run` returns."""
        self._stop = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._sink is not None:
            self._sink.wake()
        if self._ws is not None:  # the reference path's recv() ends with ConnectionClosed
            self._closing = asyncio.ensure_future(self._ws.close())

    def request_resync(self, symbol: str, reason: str = "downstream request") -> None:
        self.session.request_resync(symbol, reason)

    async def _get(self, url: str) -> Any:
        async with self._http.get(url) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise ConnectionError(f"GET {url}: HTTP {resp.status}: {text[:200]}")
            return json.loads(text)

    async def _fixups(self, out: list[Record]) -> None:
        s = self.session
        now = time.monotonic()
        for sym in s.symbols_needing_snapshot():
            if now - self._snap_at.get(sym, -1e9) < self.config.snapshot_retry_s:
                continue  # a too-old snapshot: ask again once more diffs are buffered, not on every message
            self._snap_at[sym] = now
            q = urllib.parse.urlencode({"symbol": sym, "limit": self.config.snapshot_limit})
            snap = await self._get(f"{self.config.rest_path('depth')}?{q}")
            self.stats["snapshots_fetched"] += 1
            out += s.on_snapshot(sym, snap, time.time_ns())
        for sym, from_id in s.pending_backfill():
            rows: list[dict[str, Any]] = []
            if self.config.backfill:
                rows = await self._backfill(sym, from_id)
            out += s.on_backfill(sym, rows, time.time_ns())

    async def _backfill(self, sym: str, from_id: int, until: int | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        while True:
            q = urllib.parse.urlencode({"symbol": sym, "fromId": from_id, "limit": 1000})
            page = await self._get(f"{self.config.rest_path('historicalTrades')}?{q}")
            self.stats["backfills"] += 1
            rows += page
            if len(page) < 1000:
                return rows
            from_id = int(page[-1]["id"]) + 1

    async def _flush(self, batch: list[Record]) -> None:
        events = self.session.events
        self.session.events = []
        if batch or events:
            self.stats["batches"] += 1
            await self.emit(list(batch), events)
        batch.clear()

    async def run(self) -> None:
        """Connect and stream until :meth:`stop` or the end of a replay."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if self._stop:
            self._stopping.set()
        try:
            if self.config.fast:
                await self._run_fast()
            else:
                await self._run_reference()
        finally:
            self._sink = self._ws = None

    # ------------------------------------------------------------------ fast path
    async def _flush_fast(self, pending: list[Any]) -> None:
        import pyarrow as pa

        from quantray.live._fast import as_table

        parts = [as_table(p) for p in pending if len(p)]
        pending.clear()
        events = self.session.events
        self.session.events = []
        if parts or events:
            self.stats["batches"] += 1
            table = parts[0] if len(parts) == 1 else (pa.concat_tables(parts) if parts else None)
            t0 = time.monotonic()
            await self.emit(table if table is not None else [], events)
            self._emit_cost = 0.8 * self._emit_cost + 0.2 * (time.monotonic() - t0)

    async def _parse_fast(
        self, parser: Any, payloads: list[bytes], recv: list[int], pending: list[Any]
    ) -> int:
        """Parse a batch: the kernel up to the first message it cannot handle, that message through the session
        (then snapshots/backfills if it asked for them), and on. Returns the number of records added."""
        import numpy as np

        s = self.session
        buf, starts, ends = parser.concat(payloads)
        rv = np.asarray(recv, dtype=np.int64)
        n, i, added = len(payloads), 0, 0
        while i < n:
            table, i = parser.run(buf, starts, ends, rv, i)
            if table is not None:
                pending.append(table)
                added += table.num_rows
            if i < n:
                raw = payloads[i]
                try:
                    text: str | bytes = raw.decode()
                except UnicodeDecodeError:
                    text = raw
                recs = s.on_message(text, int(rv[i]))
                if s.symbols_needing_snapshot() or s.pending_backfill():
                    await self._fixups(recs)
                if recs:
                    pending.append(recs)
                    added += len(recs)
                i += 1
        return added

    async def _run_fast(self) -> None:
        import aiohttp

        from quantray.live._fast import FastBinanceParser

        cfg = self.config
        failures = 0
        parser = FastBinanceParser(self.session)
        pending: list[Any] = []
        pending_n = 0
        first_at = 0.0
        async with aiohttp.ClientSession() as http:
            self._http = http
            while not self._stop:
                ended = False
                sink = self._sink = FrameSink()
                conn: Any = None
                try:
                    conn = await open_connection(cfg.stream_url(), cfg.transport, sink)
                    self.stats["connects"] += 1
                    if self.stats["connects"] > 1:
                        self.stats["reconnects"] += 1
                    if not cfg.combined:
                        conn.send_text(
                            json.dumps({"method": "SUBSCRIBE", "params": list(cfg.streams), "id": 1})
                        )
                    got_any = False
                    while not self._stop:
                        # a batch waits batch_delay_s, or twice what emitting a batch costs (a WAL write and
                        # a checkpoint per batch must not eat the loop when messages trickle in)
                        delay = max(cfg.batch_delay_s, 2.0 * self._emit_cost)
                        if pending_n:
                            timeout = max(0.0, first_at + delay - time.monotonic())
                        else:
                            timeout = cfg.stale_s
                        await sink.wait(timeout)
                        payloads, recv = sink.take(max(1, cfg.batch_size - pending_n))
                        if payloads:
                            if not got_any:
                                got_any = True
                                failures = 0
                            if not pending_n:
                                first_at = time.monotonic()
                            pending_n += await self._parse_fast(parser, payloads, recv, pending)
                        elif sink.done:
                            if sink.close_reason == END_OF_REPLAY:
                                ended = True
                            else:
                                log.warning("feed connection to %s closed: %r", cfg.ws_url, sink.error)
                            break
                        elif self._stop:  # woken by stop(): what is parsed is flushed below
                            break
                        elif not pending_n:
                            self.stats["stale"] += 1
                            self.session.events.append(
                                Event(time.time_ns(), "stale_feed", "", {"silent_s": cfg.stale_s}, "feed")
                            )
                            log.warning("feed %s silent for %.1fs: reconnecting", cfg.ws_url, cfg.stale_s)
                            break
                        # a full batch, or the oldest record waited batch_delay_s and no backlog is waiting
                        # (behind, batches grow to batch_size; keeping up, latency stays ~batch_delay_s)
                        if pending_n and (
                            pending_n >= cfg.batch_size
                            or (time.monotonic() - first_at >= delay and not sink.payloads)
                        ):
                            await self._flush_fast(pending)
                            pending_n = 0
                except (OSError, TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
                    log.warning("feed connection to %s failed: %r", cfg.ws_url, exc)
                finally:
                    if conn is not None and not ended:
                        conn.close()
                if ended:
                    tail: list[Record] = []
                    await self._finish(tail)
                    pending.append(tail)
                    await self._flush_fast(pending)
                    return
                await self._flush_fast(pending)
                pending_n = 0
                self.session.on_disconnect()
                if self._stop:
                    break
                failures += 1
                await self._back_off(failures)
            await self._flush_fast(pending)

    # ------------------------------------------------------------------ reference path
    async def _run_reference(self) -> None:
        import aiohttp
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        cfg = self.config
        failures = 0
        batch: list[Record] = []
        async with aiohttp.ClientSession() as http:
            self._http = http
            while not self._stop:
                ended = False
                try:
                    async with connect(
                        cfg.stream_url(),
                        compression=None,
                        max_size=None,
                        max_queue=1024,
                        ping_interval=20,
                        open_timeout=5,
                    ) as ws:
                        self._ws = ws
                        self.stats["connects"] += 1
                        if self.stats["connects"] > 1:
                            self.stats["reconnects"] += 1
                        if not cfg.combined:
                            await ws.send(
                                json.dumps({"method": "SUBSCRIBE", "params": list(cfg.streams), "id": 1})
                            )
                        got_any = False
                        while not self._stop:
                            timeout = cfg.batch_delay_s if batch else cfg.stale_s
                            try:
                                raw = await asyncio.wait_for(ws.recv(), timeout)
                            except TimeoutError:
                                if batch:
                                    await self._flush(batch)
                                    continue
                                self.stats["stale"] += 1
                                self.session.events.append(
                                    Event(time.time_ns(), "stale_feed", "", {"silent_s": cfg.stale_s}, "feed")
                                )
                                log.warning("feed %s silent for %.1fs: reconnecting", cfg.ws_url, cfg.stale_s)
                                break
                            if not got_any:
                                got_any = True
                                failures = 0
                            batch += self.session.on_message(raw, time.time_ns())
                            if self.session.symbols_needing_snapshot() or self.session.pending_backfill():
                                await self._fixups(batch)
                            if len(batch) >= cfg.batch_size:
                                await self._flush(batch)
                except ConnectionClosed as exc:
                    if exc.rcvd is not None and exc.rcvd.reason == END_OF_REPLAY:
                        ended = True
                    elif not self._stop:  # (stop() closes the connection itself)
                        log.warning("feed connection to %s closed: %s", cfg.ws_url, exc)
                except (OSError, TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
                    log.warning("feed connection to %s failed: %r", cfg.ws_url, exc)
                finally:
                    self._ws = None
                if ended:
                    await self._finish(batch)
                    return
                await self._flush(batch)
                self.session.on_disconnect()
                if self._stop:
                    break
                failures += 1
                await self._back_off(failures)
            await self._flush(batch)

    async def _back_off(self, failures: int) -> None:
        """Before reconnect attempt ``failures``: give up past ``max_reconnects``, else wait a jittered
        exponential delay (recorded in ``delays`` and as a ``reconnect`` event)."""
        cfg = self.config
        if cfg.max_reconnects is not None and failures > cfg.max_reconnects:
            raise ConnectionError(f"feed {cfg.ws_url}: gave up after {cfg.max_reconnects} reconnects")
        d = min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** (failures - 1))
        delay = d / 2 + self.rng.random() * d / 2
        self.delays.append(delay)
        self.session.events.append(
            Event(time.time_ns(), "reconnect", "", {"attempt": failures, "delay_s": delay}, "feed")
        )
        if self._stopping is None:
            await asyncio.sleep(delay)
        else:  # stop() ends the wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _finish(self, batch: list[Record]) -> None:
        """End of replay: backfill trailing trades, then a snapshot if the server's book is ahead of ours
        (records are appended to ``batch``; the reference path also flushes it)."""
        s = self.session
        try:
            for sym, last in s.last_trade_ids().items():
                if self.config.backfill and last >= 0:
                    rows = await self._backfill(sym, last + 1)
                    if rows:
                        s._state[sym].held = []
                        batch += s.on_backfill(sym, rows, time.time_ns())
            for sym, last_u in s.last_update_ids().items():
                q = urllib.parse.urlencode({"symbol": sym, "limit": self.config.snapshot_limit})
                snap = await self._get(f"{self.config.rest_path('depth')}?{q}")
                if int(snap.get("lastUpdateId", 0)) > last_u:
                    s.request_resync(sym, "final snapshot is newer than the last applied update")
                    batch += s.on_snapshot(sym, snap, time.time_ns())
        except (OSError, ConnectionError, ValueError) as exc:
            log.warning("feed final checks failed: %r", exc)
        if not self.config.fast:
            await self._flush(batch)
