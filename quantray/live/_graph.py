"""Build and run the live actor graph; ``replay`` runs it against local replay servers and writes results.

Example:
    >>> cfg = LiveConfig.from_dict({"feeds": [{"market": "spot", "symbols": ["BTCUSDT"]}]})
    >>> cfg.shards_per_feed
    1
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from quantray.errors import ConfigError
from quantray.live._feed import FeedConfig
from quantray.live._portfolio import PortfolioConfig
from quantray.live._signals import LiveStrategy
from quantray.live._state import MarketStateConfig

__all__ = ["DEFAULT_STRATEGIES", "KILLABLE", "LiveConfig", "LiveGraph", "ReplayResult", "replay"]

log = logging.getLogger("quantray.live.graph")

DEFAULT_STRATEGIES: list[dict[str, Any]] = [
    {"name": "sma_cross", "params": {"fast": 5, "slow": 20}, "interval_s": 1},
    {"name": "ema_cross", "params": {"fast": 10, "slow": 30}, "interval_s": 1},
    {"name": "sma_cross", "params": {"fast": 2, "slow": 3}, "interval_s": 60},
]
KILLABLE = ("feed", "state", "signal", "portfolio")


@dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """The whole graph: feeds, shards, market state, strategies, portfolio, event sinks, checkpoints."""

    feeds: tuple[dict[str, Any], ...]
    shards_per_feed: int = 1
    state: dict[str, Any] = field(default_factory=dict)
    strategies: tuple[dict[str, Any], ...] = tuple(DEFAULT_STRATEGIES)
    portfolio: dict[str, Any] = field(default_factory=dict)
    sinks: tuple[dict[str, Any], ...] = ({"kind": "log"},)
    checkpoint_url: str = ""
    storage_options: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 5000
    fast: bool = True

    def __post_init__(self) -> None:
        if not self.feeds:
            raise ConfigError("live config: `feeds` must list at least one feed")
        for f in self.feeds:
            FeedConfig.from_dict(f)
        MarketStateConfig.from_dict(self.state)
        for s in self.strategies:
            LiveStrategy.from_dict(s)
        PortfolioConfig.from_dict(self.portfolio)
        if self.shards_per_feed < 1:
            raise ConfigError(f"live config: `shards_per_feed` must be >= 1, got {self.shards_per_feed}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"live config: `checkpoint_every` must be >= 1, got {self.checkpoint_every}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LiveConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(
                f"live config: unknown key(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        d = dict(d)
        for k in ("feeds", "strategies", "sinks"):
            if k in d:
                if not isinstance(d[k], list | tuple):
                    raise ConfigError(f"live config: `{k}` must be a list")
                d[k] = tuple(dict(x) for x in d[k])
        if "feeds" not in d:
            raise ConfigError("live config: missing `feeds`")
        return cls(**d)


class LiveGraph:
    """The running actors of one graph (Ray must be connected: see :func:`quantray.dist.connect`)."""

    def __init__(
        self, config: LiveConfig, *, kill: tuple[str, int] | list[tuple[str, int]] | None = None
    ) -> None:
        from quantray.live import _actors

        A: Any = _actors

        self.config = config
        self.run_timing: dict[str, float] = {}
        url = config.checkpoint_url or tempfile.mkdtemp(prefix="qr-live-ck-")
        store = {"url": url, "storage_options": dict(config.storage_options)}
        self.store = store
        p = f"qr-live-{uuid.uuid4().hex[:8]}"
        kills = [kill] if isinstance(kill, tuple) else list(kill or [])
        for name, n in kills:
            if name not in KILLABLE:
                raise ConfigError(f"--kill {name}:{n}: unknown actor; valid: {list(KILLABLE)}")
        kill_at = dict(kills)
        self.signal_name, self.portfolio_name = f"{p}-signal", f"{p}-portfolio"
        self.feed_names = [f"{p}-feed{i}" for i in range(len(config.feeds))]
        self.shard_names = {
            f: [f"{f}-state{j}" for j in range(config.shards_per_feed)] for f in self.feed_names
        }
        all_shards = [s for v in self.shard_names.values() for s in v]
        opts = {"namespace": A.NAMESPACE, "lifetime": None}
        try:
            A.ray.get_actor(A.HUB_NAME, namespace=A.NAMESPACE)
            raise ConfigError("a live graph is already running in this Ray cluster (actor 'quantray-live')")
        except ValueError:
            pass
        self.hub = A.LiveHubActor.options(name=A.HUB_NAME, **opts).remote(
            all_shards, self.signal_name, self.portfolio_name, list(config.sinks)
        )
        self.portfolio = A.PortfolioActor.options(name=self.portfolio_name, **opts).remote(
            self.portfolio_name,
            dict(config.portfolio),
            self.signal_name,
            store,
            kill_after=kill_at.get("portfolio"),
        )
        self.signal = A.SignalActor.options(name=self.signal_name, **opts).remote(
            self.signal_name,
            list(config.strategies),
            all_shards,
            self.portfolio_name,
            store,
            kill_after=kill_at.get("signal"),
        )
        self.shards = []
        for fi, fname in enumerate(self.feed_names):
            for j, sname in enumerate(self.shard_names[fname]):
                self.shards.append(
                    A.MarketStateActor.options(name=sname, **opts).remote(
                        sname,
                        fname,
                        j,
                        config.shards_per_feed,
                        dict(config.state),
                        self.signal_name,
                        store,
                        config.checkpoint_every,
                        kill_after=kill_at.get("state") if fi == 0 and j == 0 else None,
                        fast=config.fast,
                    )
                )
        self.feeds = [
            A.FeedActor.options(name=fname, **opts).remote(
                fname,
                dict(config.feeds[i]),
                self.shard_names[fname],
                store,
                kill_after=kill_at.get("feed") if i == 0 else None,
            )
            for i, fname in enumerate(self.feed_names)
        ]
        A.ray.get(
            [self.hub.events.remote(), self.portfolio.view.remote(), self.signal.latest.remote()]
            + [s.top.remote() for s in self.shards]
            + [f.ping.remote() for f in self.feeds]  # every actor constructed (kernels loaded) before a run
        )

    def run(self, timeout_s: float | None = None) -> list[dict[str, Any]]:
        """Run every feed to its end (a replay) and drain the graph; returns the feeds' counters."""
        import ray

        t0 = time.perf_counter()
        stats = ray.get([f.run.remote() for f in self.feeds], timeout=timeout_s)
        t1 = time.perf_counter()
        ray.get([s.flush.remote() for s in self.shards])
        t2 = time.perf_counter()
        ray.get(self.signal.drain.remote())
        self.run_timing = {"feeds_s": t1 - t0, "flush_s": t2 - t1, "drain_s": time.perf_counter() - t2}
        return list(stats)

    def results(self) -> dict[str, pd.DataFrame]:
        """bars_1m, bars_1s, book_top and pnl as DataFrames (the ``stream replay`` outputs)."""
        import pyarrow as pa
        import ray

        outs = ray.get([s.outputs.remote() for s in self.shards])
        bars = pa.concat_tables([o["bars"] for o in outs]).to_pandas()
        tops = pa.concat_tables([o["book_top"] for o in outs]).to_pandas()
        pnl = ray.get(self.portfolio.pnl.remote()).to_pandas()
        res = {f"bars_{k}": _bars_frame(bars[bars["interval_s"] == iv]) for k, iv in (("1m", 60), ("1s", 1))}
        tops["ts"] = pd.to_datetime(tops["ts"], unit="ns", utc=True)
        res["book_top"] = tops.sort_values(["symbol", "update_id"], kind="stable").reset_index(drop=True)
        pnl["ts"] = pd.to_datetime(pnl["ts"], unit="ns", utc=True)
        res["pnl"] = pnl.sort_values(["strategy", "params", "symbol", "ts"], kind="stable").reset_index(
            drop=True
        )
        res["counters"] = pd.DataFrame([o["counters"] for o in outs])
        res["timing"] = pd.DataFrame([o.get("timing", {}) for o in outs])
        return res

    def shutdown(self) -> None:
        import ray

        for f in self.feeds:
            with contextlib.suppress(Exception):  # best effort on teardown
                ray.get(f.stop.remote(), timeout=5)
        for a in [*self.feeds, *self.shards, self.signal, self.portfolio, self.hub]:
            ray.kill(a, no_restart=True)
        for _ in range(50):  # the hub's name is free once it is gone
            try:
                ray.get_actor("quantray-live", namespace="quantray")
                time.sleep(0.1)
            except ValueError:
                break


def _bars_frame(b: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "ts": pd.to_datetime(b["ts_ns"].to_numpy(), unit="ns", utc=True),
            "symbol": b["symbol"].to_numpy(),
            "open": b["open"].to_numpy(),
            "high": b["high"].to_numpy(),
            "low": b["low"].to_numpy(),
            "close": b["close"].to_numpy(),
            "volume": b["volume"].to_numpy(),
            "vwap": b["vwap"].to_numpy(),
            "trades": b["trades"].to_numpy().astype("int64"),
        }
    )
    return out.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)


class _ServerThread:
    """Replay servers on an asyncio loop in a daemon thread of this process."""

    def __init__(self, files: list[str], speed: str | float, faults: str | None, mode: str) -> None:
        from quantray.live._replay_server import ReplayServer

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.servers = [ReplayServer(f, speed=speed, faults=faults, mode=mode) for f in files]
        for s in self.servers:
            asyncio.run_coroutine_threadsafe(s.start(), self.loop).result(30)

    def close(self) -> None:
        for s in self.servers:
            asyncio.run_coroutine_threadsafe(s.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


@dataclass
class ReplayResult:
    """DataFrames written by :func:`replay` and the feeds' counters."""

    frames: dict[str, pd.DataFrame]
    feeds: list[dict[str, Any]]
    seconds: float
    paths: dict[str, str]
    inspected: Any = None
    run_seconds: float = 0.0  # the ingest itself: feeds started -> graph drained (no setup, no outputs)


def replay(
    files: list[str | Path],
    *,
    out: str | Path | None = None,
    speed: str | float = "max",
    kill: tuple[str, int] | list[tuple[str, int]] | None = None,
    strategies: list[dict[str, Any]] | None = None,
    checkpoint_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
    faults: str | None = None,
    mode: str = "session",
    shards_per_feed: int = 1,
    sinks: list[dict[str, Any]] | None = None,
    checkpoint_every: int = 5000,
    inspect: Callable[[LiveGraph], Any] | None = None,
    fast: bool = True,
    feed_options: dict[str, Any] | None = None,
) -> ReplayResult:
    """Run the whole actor graph on the connected Ray against local replay servers of ``files``.

    Writes ``out/bars_1m.parquet`` (ts = minute start UTC, symbol, open, high, low, close, volume, vwap,
    trades), ``out/book_top.parquet`` (ts, symbol, update_id, bid, bid_size, ask, ask_size) and
    ``out/pnl.parquet`` (one row per strategy sleeve and signal). ``inspect(graph)`` is called after the run,
    before the graph is shut down (its result is :attr:`ReplayResult.inspected`). ``kill=("state", 5000)``
    kills that actor once after 5000 messages to prove recovery (a list kills several, each once).
    ``fast=False`` runs the record-based reference path in the feeds and shards (same outputs, slower);
    ``feed_options`` are extra :class:`~quantray.live._feed.FeedConfig` keys (``transport``, ``batch_size``,
    ``batch_delay_s``...).
    """
    from quantray.live._files import detect_binance_market, read_recording

    names = [str(f) for f in files]
    if not names:
        raise ConfigError("stream replay: give at least one --file")
    for f in names:
        if not Path(f).is_file():
            raise ConfigError(f"--file {f}: no such recording")
    t0 = time.perf_counter()
    servers = _ServerThread(names, speed, faults, mode)
    graph = None
    try:
        feeds = []
        for f, srv in zip(names, servers.servers, strict=True):
            market, symbols, _ = detect_binance_market(read_recording(f)[:2000])
            feeds.append(
                {
                    "market": market,
                    "symbols": symbols,
                    "ws_url": srv.url,
                    "rest_url": srv.rest_url,
                    "combined": True,
                    "stale_s": 5.0,
                    "fast": fast,
                    **dict(feed_options or {}),
                }
            )
        cfg = LiveConfig(
            feeds=tuple(feeds),
            strategies=tuple(strategies or DEFAULT_STRATEGIES),
            checkpoint_url=checkpoint_url or "",
            storage_options=dict(storage_options or {}),
            shards_per_feed=shards_per_feed,
            sinks=tuple(sinks or ({"kind": "log"},)),
            checkpoint_every=checkpoint_every,
            fast=fast,
        )
        graph = LiveGraph(cfg, kill=kill)
        t_run = time.perf_counter()
        stats = graph.run()
        run_seconds = time.perf_counter() - t_run
        frames = graph.results()
        inspected = inspect(graph) if inspect is not None else None
    finally:
        if graph is not None:
            graph.shutdown()
        servers.close()
    paths: dict[str, str] = {}
    if out is not None:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        for key in ("bars_1m", "book_top", "pnl"):
            paths[key] = str(o / f"{key}.parquet")
            frames[key].to_parquet(paths[key], index=False)
    return ReplayResult(frames, stats, time.perf_counter() - t0, paths, inspected, run_seconds)


RUN_KEYS = ("replay", "out", "seconds", "feed_options")


def run_from_dict(d: dict[str, Any], *, seconds: float | None = None) -> dict[str, Any]:
    """Run a graph from a parsed config (the ``stream run`` YAML / ``jobs.stream``) on the connected Ray.

    Keys: every :class:`LiveConfig` key, plus ``replay`` (recordings: run against local replay servers instead
    of the feeds' URLs; the feeds' symbols and markets come from the recordings), ``out`` (a folder for the
    replay's Parquet outputs), ``seconds`` (stop a live run after that long; 0 or absent: run until the
    feeds end or the process is interrupted) and ``feed_options`` (extra feed keys of a replay, e.g.
    ``{transport: picows, batch_size: 8192}``). Returns a summary dict.
    """
    d = dict(d)
    files = d.pop("replay", None)
    out = d.pop("out", None)
    feed_options = dict(d.pop("feed_options", None) or {})
    secs = float(seconds if seconds is not None else d.pop("seconds", 0) or 0)
    d.pop("seconds", None)
    if files:
        if isinstance(files, str):
            files = [files]
        d.setdefault("feeds", [{"market": "spot", "symbols": ["-"]}])
        base = LiveConfig.from_dict(d)
        res = replay(
            list(files),
            out=out,
            strategies=list(base.strategies),
            checkpoint_url=base.checkpoint_url,
            storage_options=base.storage_options,
            shards_per_feed=base.shards_per_feed,
            sinks=list(base.sinks),
            checkpoint_every=base.checkpoint_every,
            fast=base.fast,
            feed_options=feed_options,
        )
        return {
            "mode": "replay",
            "seconds": res.seconds,
            "outputs": res.paths,
            "bars_1m": len(res.frames["bars_1m"]),
            "pnl_rows": len(res.frames["pnl"]),
        }
    cfg = LiveConfig.from_dict(d)
    graph = LiveGraph(cfg)
    t0 = time.perf_counter()
    try:
        if secs > 0:
            time.sleep(secs)
        else:
            graph.run()
        frames = graph.results()
        if out:
            o = Path(out)
            o.mkdir(parents=True, exist_ok=True)
            for key in ("bars_1m", "book_top", "pnl"):
                frames[key].to_parquet(o / f"{key}.parquet", index=False)
    finally:
        graph.shutdown()
    return {"mode": "live", "seconds": time.perf_counter() - t0, "bars_1m": len(frames["bars_1m"])}
