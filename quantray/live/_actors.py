"""The Ray actors of the live graph. Each wraps a Ray-free class (session, state, engine, portfolio, bus).

* ``FeedActor`` (async; one per connection): runs a :class:`~quantray.live._feed.BinanceFeed`; every batch is
  appended to the feed's write-ahead log (Parquet) *before* it is sent, then pushed to the market-state shards.
* ``MarketStateActor`` (one per shard of a feed's symbols): books, bars, VWAP, spread; pushes closed bars to
  the signal actor.
* ``SignalActor``: strategies stepped on each closed bar; pushes signals to the portfolio.
* ``PortfolioActor``: positions and P&L per strategy.
* ``LiveHubActor`` (named ``quantray-live`` in namespace ``quantray``): the event bus and the snapshot for Serve.

Durability: actors checkpoint to a :class:`~quantray.live._checkpoint.CheckpointStore` and declare
``max_restarts``; their methods are retried on the restarted actor (``max_task_retries=-1``). A restarted
actor restores its newest checkpoint, then replays what came after it — shards from the feed's WAL, the
signal actor from the shards' bars, the portfolio from the signal history — and drops duplicates by sequence
number, so final books, bars and P&L equal an uninterrupted run's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import zlib
from typing import Any

import ray

from quantray.live._checkpoint import CheckpointStore
from quantray.live._events import EventBus, make_sink
from quantray.live._portfolio import Portfolio, PortfolioConfig
from quantray.live._records import (
    Bar,
    BarColumns,
    Event,
    Record,
    Signal,
    SignalColumns,
    bars_to_columns,
    columns_to_bars,
    columns_to_signals,
    signals_to_columns,
    table_to_records,
)
from quantray.live._signals import LiveStrategy, SignalEngine
from quantray.live._state import MarketState, MarketStateConfig

__all__ = [
    "FeedActor",
    "LiveHubActor",
    "MarketStateActor",
    "PortfolioActor",
    "SignalActor",
    "shard_of",
    "split_by_shard",
]

log = logging.getLogger("quantray.live.actors")

NAMESPACE = "quantray"
HUB_NAME = "quantray-live"
_OPTS: dict[str, Any] = {
    "max_restarts": 5,
    "max_task_retries": -1,
    "num_cpus": 0,
    "concurrency_groups": {"query": 2},
}
# Pushes (``on_batch``, ``on_bars``, ``on_signals``) run one at a time in the default group, in order; reads
# (``bars_since``, ``signals_since``, snapshots) run in the "query" group so that a restarting downstream actor
# can pull what it missed while its upstream waits for it (no deadlock). A lock guards the shared state.
_query = ray.method(concurrency_group="query")


def shard_of(symbol: str, n: int) -> int:
    """Stable shard index of a symbol (crc32, the same in every process)."""
    return zlib.crc32(symbol.encode()) % n


def _get(name: str) -> Any:
    return ray.get_actor(name, namespace=NAMESPACE)


class _Handles:
    """Actor handles by name, looked up once (a handle stays valid across the actor's restarts)."""

    def __init__(self) -> None:
        self._h: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        h = self._h.get(name)
        if h is None:
            h = self._h[name] = _get(name)
        return h


def split_by_shard(table: Any, n: int) -> list[Any]:
    """Rows of a columnar batch per shard (``shard_of(symbol, n)``), order kept."""
    if n == 1:
        return [table]
    import numpy as np
    import pyarrow as pa

    enc = table.column("symbol").combine_chunks().dictionary_encode()
    of_name = np.array([shard_of(x, n) for x in enc.dictionary.to_pylist()], dtype=np.int64)
    idx = of_name[enc.indices.to_numpy(zero_copy_only=False)]
    return [table.filter(pa.array(idx == i)) for i in range(n)]


def _streaming_gc() -> None:
    """Collector settings for a long-lived streaming actor: what exists after start-up (Ray, numpy, kernels,
    restored state) is frozen out of collections, and young collections run every 50,000 allocations rather
    than 700, so the millions of short-lived records a replay creates do not trigger full-heap traversals
    (they showed up as ~30% of the signal and portfolio actors' CPU)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _warm_signal_kernels(strategies: list[dict[str, Any]]) -> None:
    """Load the strategies' step kernels now (a throwaway engine steps a few bars), not on the first live bar."""
    import dataclasses

    specs = [LiveStrategy.from_dict(s) for s in strategies]
    eng = SignalEngine([dataclasses.replace(sp, symbols=()) for sp in specs])
    for iv in sorted({sp.interval_s for sp in specs}):
        for i in range(3):
            eng.on_bar(
                Bar(i + 1, "warm-up", iv, i * iv * 10**9, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1, 0), "warm-up"
            )


class _Killer:
    """``--kill ACTOR:N``: exit the process once after N messages (a marker makes it happen only once)."""

    def __init__(self, store: CheckpointStore, name: str, after: int | None) -> None:
        self.store, self.name, self.after, self.count = store, name, after, 0
        self.armed = after is not None and not store.marker(f"killed-{name}")

    def tick(self, n: int) -> None:
        if not self.armed:
            return
        self.count += n
        if self.after is not None and self.count >= self.after:
            self.store.set_marker(f"killed-{self.name}")
            log.warning("killing %s after %d messages (--kill)", self.name, self.count)
            os._exit(1)


@ray.remote(**_OPTS)
class FeedActor:
    """One websocket connection; WAL first, then push to shards (at most ``max_inflight`` batches unacked)."""

    def __init__(
        self,
        name: str,
        feed: dict[str, Any],
        shards: list[str],
        store: dict[str, Any],
        kill_after: int | None = None,
        max_inflight: int = 4,
        columnar: bool = True,
    ) -> None:
        from quantray.live._binance import BinanceSession
        from quantray.live._feed import BinanceFeed, FeedConfig

        self.name = name
        self.store = CheckpointStore(store["url"], store.get("storage_options"))
        self.config = FeedConfig.from_dict(feed)
        if self.config.fast:
            from quantray.live._fast import warm_up

            warm_up()
        import aiohttp.connector  # noqa: F401  (its import builds SSL contexts: not inside the first run)

        if self.config.transport == "picows":  # the transport's imports, too, before the run
            import picows  # noqa: F401
        else:
            import websockets.client
            import websockets.frames  # noqa: F401

        session = BinanceSession(self.config.symbols, market=self.config.market)
        ck = self.store.load_latest(name)
        self.shard_names = shards
        self.last_sent = [0] * len(shards)
        if ck is not None:
            import json

            meta = json.loads(ck[1]["meta"].column("json")[0].as_py())
            session.restore(meta)
            self.last_sent = list(meta.get("shard_last", self.last_sent))
            log.warning("%s restored at seq %d", name, ck[0])
        self.feed = BinanceFeed(self.config, self._emit, session=session)
        self.killer = _Killer(self.store, name, kill_after)
        _streaming_gc()
        self.inflight: list[Any] = []
        self.max_inflight = max_inflight
        self.columnar = columnar
        self.handles = _Handles()
        self.timing = {"emit_s": 0.0, "wait_s": 0.0, "run_s": 0.0}
        self.done = False

    async def _emit(self, records: list[Record] | Any, events: list[Event]) -> None:
        """One batch (a list of records or a columnar table): WAL + position first, then the pushes."""
        import json

        import pyarrow as pa

        from quantray.live._fast import as_table

        n = len(records)
        t0 = time.perf_counter()
        if n:
            table = as_table(records)
            parts = split_by_shard(table, len(self.shard_names))
            prev = list(self.last_sent)
            for i, part in enumerate(parts):
                if part.num_rows:
                    self.last_sent[i] = int(part.column("seq")[-1].as_py())
            # durable first: the WAL and the position (with what each shard has been sent) before any push
            self.store.append_wal(self.name, table)
            meta = self.feed.session.checkpoint()
            meta["shard_last"] = self.last_sent
            last = int(table.column("seq")[-1].as_py())
            self.store.save(self.name, last, {"meta": pa.table({"json": [json.dumps(meta)]})})
            for i, (name, part) in enumerate(zip(self.shard_names, parts, strict=True)):
                if part.num_rows:
                    payload = part if self.columnar else table_to_records(part)
                    self.inflight.append(self.handles(name).on_batch.remote(payload, prev[i]))
            t1 = time.perf_counter()
            while len(self.inflight) > self.max_inflight:
                await self.inflight.pop(0)
            self.timing["wait_s"] += time.perf_counter() - t1
        if events:
            self.handles(HUB_NAME).publish.remote(events)
        self.timing["emit_s"] += time.perf_counter() - t0
        self.killer.tick(n)

    async def run(self) -> dict[str, Any]:
        """Stream until the end of the replay (or :meth:`stop`); returns counters."""
        if not self.done:
            t0, c0 = time.perf_counter(), time.process_time()
            await self.feed.run()
            self.timing["run_s"] = time.perf_counter() - t0
            self.timing["cpu_s"] = time.process_time() - c0
            for ref in self.inflight:
                await ref
            self.inflight = []
            self.done = True
        return {
            "session": dict(self.feed.session.counters),
            "feed": dict(self.feed.stats),
            "seq": self.feed.session.seq,
            "timing": dict(self.timing),
        }

    async def stop(self) -> None:
        """End :meth:`run` (on the actor's event loop, so the feed wakes from a pending receive at once)."""
        self.feed.stop()

    def request_resync(self, symbol: str, reason: str = "downstream") -> None:
        self.feed.request_resync(symbol, reason)

    async def ping(self) -> bool:
        await asyncio.sleep(0)
        return True


@ray.remote(**_OPTS)
class MarketStateActor:
    """A shard of one feed's symbols. Restores its checkpoint and replays the feed's WAL after a restart."""

    def __init__(
        self,
        name: str,
        feed_name: str,
        index: int,
        n_shards: int,
        config: dict[str, Any],
        signal_name: str,
        store: dict[str, Any],
        checkpoint_every: int = 5000,
        kill_after: int | None = None,
        fast: bool = True,
    ) -> None:
        from quantray.live._fast import FastMarketState, warm_up

        if fast:
            warm_up()
        self.timing = {"apply_s": 0.0, "checkpoint_s": 0.0, "total_s": 0.0}
        self.cpu0 = time.process_time()
        self.name, self.feed_name, self.signal_name = name, feed_name, signal_name
        self.handles = _Handles()
        self.index, self.n_shards = index, n_shards
        self.store = CheckpointStore(store["url"], store.get("storage_options"))
        cfg = MarketStateConfig.from_dict(config)
        ck = self.store.load_latest(name)
        kind: type[MarketState] = FastMarketState if fast else MarketState
        self.state = kind.from_tables(ck[1], cfg) if ck is not None else kind(cfg)
        self.lock = threading.RLock()
        self.checkpoint_every = checkpoint_every
        self.since_ck = 0
        self.pushes: list[Any] = []
        self.killer = _Killer(self.store, name, kill_after)
        _streaming_gc()
        # replay what the feed logged after our checkpoint (records already applied are skipped by seq)
        missed = [
            r
            for r in self.store.read_wal(feed_name, self.state.last_seq)
            if shard_of(r.symbol, n_shards) == index
        ]
        if ck is not None or missed:
            log.warning(
                "%s restored at seq %d, replaying %d records from the WAL",
                name,
                self.state.last_seq,
                len(missed),
            )
        if missed:
            self._apply(missed, count=False)

    def _apply(self, records: list[Record] | Any, *, count: bool = True) -> None:
        t0 = time.perf_counter()
        with self.lock:
            out = self.state.apply(records)
        self.timing["apply_s"] += time.perf_counter() - t0
        if out.bars:
            self.pushes.append(
                self.handles(self.signal_name).on_bars.remote(bars_to_columns(out.bars), self.name)
            )
        if out.events:
            self.handles(HUB_NAME).publish.remote(out.events)
        for sym in dict.fromkeys(out.resync):
            self.handles(self.feed_name).request_resync.remote(sym, "book invalid downstream")
        self.since_ck += len(records)
        if self.since_ck >= self.checkpoint_every:
            t1 = time.perf_counter()
            self.checkpoint()
            self.timing["checkpoint_s"] += time.perf_counter() - t1
        if len(self.pushes) > 8:
            ray.get(self.pushes[:-4])
            self.pushes = self.pushes[-4:]
        self.timing["total_s"] += time.perf_counter() - t0
        if count:
            self.killer.tick(len(records))

    def on_batch(self, records: list[Record] | Any, prev_seq: int = 0) -> int:
        """Apply a batch; ``prev_seq`` (the feed's last record sent to this shard before it) reveals batches lost
        when the feed died right after logging them: those are read back from the WAL first."""
        if prev_seq > self.state.last_seq:
            missed = [
                r
                for r in self.store.read_wal(self.feed_name, self.state.last_seq)
                if r.seq <= prev_seq and shard_of(r.symbol, self.n_shards) == self.index
            ]
            log.warning(
                "%s: records %d..%d never arrived; %d read back from the WAL",
                self.name,
                self.state.last_seq + 1,
                prev_seq,
                len(missed),
            )
            self._apply(missed)  # refilled messages count for --kill like pushed ones
        self._apply(records)
        return self.state.last_seq

    def checkpoint(self) -> int:
        with self.lock:
            self.store.save(self.name, self.state.last_seq, self.state.to_tables())
            self.since_ck = 0
            return self.state.last_seq

    def flush(self) -> int:
        """End of stream: close open bars, push them, wait until the signal actor has them."""
        with self.lock:
            out = self.state.flush()
        if out.bars:
            self.pushes.append(
                self.handles(self.signal_name).on_bars.remote(bars_to_columns(out.bars), self.name)
            )
        ray.get(self.pushes)
        self.pushes = []
        self.checkpoint()
        return len(out.bars)

    @_query
    def bars_since(self, seq: int) -> list[Bar]:
        with self.lock:
            return self.state.bars_since(seq)

    @_query
    def outputs(self) -> dict[str, Any]:
        """Tables for ``stream replay``: every bar, book tops, counters."""
        with self.lock:
            t = self.state.to_tables()
            return {
                "bars": t["bars"],
                "book_top": t["book_top"],
                "counters": dict(self.state.counters),
                "timing": {**self.timing, "cpu_s": time.process_time() - self.cpu0},
            }

    @_query
    def top(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.state.top()

    @_query
    def summary(self) -> dict[str, Any]:
        with self.lock:
            return self.state.summary()


@ray.remote(**_OPTS)
class SignalActor:
    """Strategies on closed bars from every shard; pushes signals to the portfolio."""

    def __init__(
        self,
        name: str,
        strategies: list[dict[str, Any]],
        shards: list[str],
        portfolio_name: str,
        store: dict[str, Any],
        checkpoint_every: int = 2000,
        kill_after: int | None = None,
    ) -> None:
        self.name, self.portfolio_name, self.shards = name, portfolio_name, shards
        self.handles = _Handles()
        self.store = CheckpointStore(store["url"], store.get("storage_options"))
        self.engine = SignalEngine([LiveStrategy.from_dict(s) for s in strategies])
        _warm_signal_kernels(strategies)
        self.latency_ns: list[int] = []  # receipt of the bar-closing trade -> signal computed
        self.lock = threading.RLock()
        ck = self.store.load_latest(name)
        if ck is not None:
            self.engine.restore(ck[1])
        self.checkpoint_every = checkpoint_every
        self.since_ck = 0
        self.pushes: list[Any] = []
        self.killer = _Killer(self.store, name, kill_after)
        _streaming_gc()
        if ck is not None or self.store.marker(f"killed-{name}"):
            for shard in shards:
                bars = ray.get(_get(shard).bars_since.remote(self.engine.last_bar_seq.get(shard, 0)))
                self._apply(bars, shard, count=False)

    def _apply(self, bars: list[Bar], source: str, *, count: bool = True) -> None:
        sigs: list[Signal] = []
        with self.lock:
            for b in bars:
                sigs += self.engine.on_bar(b, source)
            now = time.time_ns()
            self.latency_ns += [now - sg.recv_ns for sg in sigs if sg.recv_ns]
        if sigs:
            self.pushes.append(self.handles(self.portfolio_name).on_signals.remote(signals_to_columns(sigs)))
        self.since_ck += len(bars)
        if self.since_ck >= self.checkpoint_every:
            self.checkpoint()
        if len(self.pushes) > 8:
            ray.get(self.pushes[:-4])
            self.pushes = self.pushes[-4:]
        if count:
            self.killer.tick(len(bars))

    def on_bars(self, bars: list[Bar] | BarColumns, source: str) -> int:
        """Apply bars of one shard (a list, or the columns of :func:`bars_to_columns`); bar numbers are
        contiguous per shard, so a jump means a lost push and the missing bars are pulled from the shard first."""
        if isinstance(bars, tuple):
            bars = columns_to_bars(bars)
        last = self.engine.last_bar_seq.get(source, 0)
        if bars and bars[0].seq > last + 1:
            self._apply(ray.get(_get(source).bars_since.remote(last)), source, count=False)
        self._apply(bars, source)
        return len(bars)

    def checkpoint(self) -> None:
        with self.lock:
            self.store.save(self.name, self.engine.seq, self.engine.to_tables())
            self.since_ck = 0

    def drain(self) -> int:
        ray.get(self.pushes)
        self.pushes = []
        self.checkpoint()
        return self.engine.seq

    @_query
    def signals_since(self, seq: int = 0) -> list[Signal]:
        with self.lock:
            return [s for s in self.engine.history if s.seq > seq]

    @_query
    def latencies(self) -> list[int]:
        """Receipt → signal latencies (ns) of the signals computed by this incarnation of the actor."""
        with self.lock:
            return list(self.latency_ns)

    @_query
    def latest(self) -> list[Signal]:
        with self.lock:
            return self.engine.latest()

    @_query
    def history(self, symbol: str, strategy: str, limit: int) -> list[Signal]:
        with self.lock:
            rows = [s for s in self.engine.history if s.symbol == symbol and s.strategy == strategy]
            return rows[-limit:] if limit > 0 else []


@ray.remote(**_OPTS)
class PortfolioActor:
    """Positions and P&L; restores and replays the signal history after a restart."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        signal_name: str,
        store: dict[str, Any],
        checkpoint_every: int = 2000,
        kill_after: int | None = None,
    ) -> None:
        self.name, self.signal_name = name, signal_name
        self.handles = _Handles()
        self.store = CheckpointStore(store["url"], store.get("storage_options"))
        self.pf = Portfolio(PortfolioConfig.from_dict(config))
        self.lock = threading.RLock()
        ck = self.store.load_latest(name)
        if ck is not None:
            self.pf.restore(ck[1])
        self.checkpoint_every = checkpoint_every
        self.since_ck = 0
        self.killer = _Killer(self.store, name, kill_after)
        _streaming_gc()
        if ck is not None or self.store.marker(f"killed-{name}"):
            self._apply(ray.get(_get(signal_name).signals_since.remote(0)), count=False)

    def _apply(self, sigs: list[Signal], *, count: bool = True) -> None:
        events: list[Event] = []
        with self.lock:
            for s in sigs:
                events += self.pf.on_signal(s)
        if events:
            self.handles(HUB_NAME).publish.remote(events)
        self.since_ck += len(sigs)
        if self.since_ck >= self.checkpoint_every:
            self.checkpoint()
        if count:
            self.killer.tick(len(sigs))

    def on_signals(self, sigs: list[Signal] | SignalColumns) -> int:
        """Apply signals (a list, or the columns of :func:`signals_to_columns`); a jump in signal numbers means
        a lost push: pull the missing ones first."""
        if isinstance(sigs, tuple):
            sigs = columns_to_signals(sigs)
        if sigs and sigs[0].seq > self.pf.last_seq + 1:
            self._apply(ray.get(_get(self.signal_name).signals_since.remote(self.pf.last_seq)), count=False)
        self._apply(sigs)
        return len(sigs)

    def checkpoint(self) -> None:
        with self.lock:
            self.store.save(self.name, self.pf.last_seq, self.pf.to_tables())
            self.since_ck = 0

    @_query
    def pnl(self) -> Any:
        with self.lock:
            return self.pf.pnl_table()

    @_query
    def view(self) -> dict[str, Any]:
        with self.lock:
            return {"positions": self.pf.positions(), "pnl": self.pf.totals()}


@ray.remote(num_cpus=0, max_restarts=5, max_task_retries=-1)
class LiveHubActor:
    """Event bus and snapshot server of a running graph (named ``quantray-live``)."""

    def __init__(
        self,
        shards: list[str],
        signal_name: str,
        portfolio_name: str,
        sinks: list[dict[str, Any]],
        keep: int = 100,
    ) -> None:
        self.shards, self.signal_name, self.portfolio_name = shards, signal_name, portfolio_name
        self.bus = EventBus([make_sink(s) for s in sinks], keep=keep)

    def publish(self, events: list[Event]) -> int:
        return self.bus.publish(events)

    def events(self) -> list[dict[str, Any]]:
        return self.bus.latest()

    def counts(self) -> dict[str, int]:
        """Events published so far, by kind."""
        return dict(self.bus.counts)

    def snapshot(self, timeout_s: float = 2.0) -> dict[str, Any]:
        from quantray.live._api import build_snapshot

        tops = ray.get([_get(s).top.remote() for s in self.shards], timeout=timeout_s)
        latest = ray.get(_get(self.signal_name).latest.remote(), timeout=timeout_s)
        view = ray.get(_get(self.portfolio_name).view.remote(), timeout=timeout_s)
        return build_snapshot([t for part in tops for t in part], latest, view, self.bus.latest())

    def history(self, symbol: str, strategy: str, limit: int) -> list[dict[str, Any]]:
        from quantray.live._api import signal_dict

        return [
            signal_dict(s) for s in ray.get(_get(self.signal_name).history.remote(symbol, strategy, limit))
        ]
