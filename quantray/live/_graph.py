"""Build and run the live actor graph; ``replay`` runs it against local replay servers and writes results.

Example:
    >>> cfg = LiveConfig.from_dict({"feeds": [{"market": "spot", "symbols": ["BTCUSDT"]}]})
    >>> cfg.shards_per_feed
    1
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
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
        self.stopped = ""
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

    def run(
        self, timeout_s: float | None = None, *, seconds: float | None = None, interruptible: bool = False
    ) -> list[dict[str, Any]]:
        """Run the feeds, then drain the graph; returns the feeds' counters.

        Without ``seconds`` every feed runs to its end (the end of a replay; an exchange feed never ends). With
        ``seconds`` the feeds still running after that long are stopped. ``interruptible=True``: Ctrl-C
        (KeyboardInterrupt) stops the feeds the same way instead of abandoning the run (a second one aborts).
        Either way every record received before the stop is processed, bars still open are closed with the
        trades they have, and signals and P&L are drained. :attr:`stopped` says why the feeds ended:
        ``"end"``, ``"seconds"`` or ``"interrupted"``.
        """
        import ray

        if seconds is not None and not seconds > 0:
            raise ConfigError(f"`seconds` must be > 0 to stop after a time, got {seconds}")
        t0 = time.perf_counter()
        refs = [f.run.remote() for f in self.feeds]
        self.stopped = "end"
        try:
            if seconds is not None:
                _, running = ray.wait(refs, num_returns=len(refs), timeout=seconds)
                if running:
                    self.stopped = "seconds"
                    self.stop_feeds()
            stats = ray.get(refs, timeout=timeout_s)
        except KeyboardInterrupt:
            if not interruptible:
                raise
            log.warning("interrupted: stopping the feeds and draining the graph (Ctrl-C again aborts)")
            self.stopped = "interrupted"
            self.stop_feeds()
            stats = ray.get(refs, timeout=timeout_s)
        t1 = time.perf_counter()
        ray.get([s.flush.remote() for s in self.shards])
        t2 = time.perf_counter()
        ray.get(self.signal.drain.remote())
        self.run_timing = {"feeds_s": t1 - t0, "flush_s": t2 - t1, "drain_s": time.perf_counter() - t2}
        return list(stats)

    def stop_feeds(self, timeout_s: float = 30.0) -> None:
        """Ask every feed to stop (a feed that already ended ignores it); their ``run`` calls then return."""
        import ray

        ray.get([f.stop.remote() for f in self.feeds], timeout=timeout_s)

    def summary(self) -> dict[str, Any]:
        """Events published so far by kind, and the portfolio's totals (equity, cash, realized, unrealized)."""
        import ray

        counts, view = ray.get([self.hub.counts.remote(), self.portfolio.view.remote()])
        return {
            "events": dict(sorted(counts.items())),
            "pnl": {k: float(view["pnl"][k]) for k in ("equity", "cash", "realized", "unrealized")},
        }

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
    stopped: str = "end"  # why the feeds ended: "end", "seconds" or "interrupted" (see LiveGraph.run)
    summary: dict[str, Any] = field(default_factory=dict)  # LiveGraph.summary(): events by kind, P&L totals


_PLACEHOLDER_FEEDS: tuple[dict[str, Any], ...] = ({"market": "spot", "symbols": ["-"]},)


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
    portfolio: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    seconds: float | None = None,
) -> ReplayResult:
    """Run the whole actor graph on the connected Ray against local replay servers of ``files``.

    Writes ``out/bars_1m.parquet`` (ts = minute start UTC, symbol, open, high, low, close, volume, vwap,
    trades), ``out/book_top.parquet`` (ts, symbol, update_id, bid, bid_size, ask, ask_size) and
    ``out/pnl.parquet`` (one row per strategy sleeve and signal). ``inspect(graph)`` is called after the run,
    before the graph is shut down (its result is :attr:`ReplayResult.inspected`). ``kill=("state", 5000)``
    kills that actor once after 5000 messages to prove recovery (a list kills several, each once).
    ``fast=False`` runs the record-based reference path in the feeds and shards (same outputs, slower);
    ``feed_options`` are extra :class:`~quantray.live._feed.FeedConfig` keys (``transport``, ``batch_size``,
    ``batch_delay_s``...). ``portfolio`` (:class:`~quantray.live._portfolio.PortfolioConfig` keys: fees,
    notional, init_cash, max_drawdown) and ``state`` (:class:`~quantray.live._state.MarketStateConfig` keys)
    act as in a live graph; ``seconds`` stops the feeds after that long if the replay has not ended.
    """
    base = LiveConfig(
        feeds=_PLACEHOLDER_FEEDS,
        strategies=tuple(strategies or DEFAULT_STRATEGIES),
        portfolio=dict(portfolio or {}),
        state=dict(state or {}),
        checkpoint_url=checkpoint_url or "",
        storage_options=dict(storage_options or {}),
        shards_per_feed=shards_per_feed,
        sinks=tuple(sinks or ({"kind": "log"},)),
        checkpoint_every=checkpoint_every,
        fast=fast,
    )
    return _replay(
        files,
        base,
        out=out,
        speed=speed,
        kill=kill,
        faults=faults,
        mode=mode,
        inspect=inspect,
        feed_options=feed_options,
        seconds=seconds,
    )


def _replay(
    files: list[str | Path],
    base: LiveConfig,
    *,
    out: str | Path | None = None,
    speed: str | float = "max",
    kill: tuple[str, int] | list[tuple[str, int]] | None = None,
    faults: str | None = None,
    mode: str = "session",
    inspect: Callable[[LiveGraph], Any] | None = None,
    feed_options: dict[str, Any] | None = None,
    seconds: float | None = None,
    interruptible: bool = False,
) -> ReplayResult:
    """:func:`replay` with every graph setting taken from ``base`` (its ``feeds`` are replaced by one feed per
    recording, so no other key of the config can be lost on the way)."""
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
                    "fast": base.fast,
                    **dict(feed_options or {}),
                }
            )
        cfg = dataclasses.replace(base, feeds=tuple(feeds))
        graph = LiveGraph(cfg, kill=kill)
        t_run = time.perf_counter()
        stats = graph.run(seconds=seconds, interruptible=interruptible)
        run_seconds = time.perf_counter() - t_run
        frames = graph.results()
        summary = graph.summary()
        inspected = inspect(graph) if inspect is not None else None
    finally:
        if graph is not None:
            graph.shutdown()
        servers.close()
    paths = _write_outputs(frames, out)
    return ReplayResult(
        frames,
        stats,
        time.perf_counter() - t0,
        paths,
        inspected,
        run_seconds,
        stopped=graph.stopped,
        summary=summary,
    )


def _write_outputs(frames: dict[str, pd.DataFrame], out: str | Path | None) -> dict[str, str]:
    """``out/bars_1m.parquet``, ``book_top.parquet`` and ``pnl.parquet`` (nothing without ``out``)."""
    paths: dict[str, str] = {}
    if out:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        for key in ("bars_1m", "book_top", "pnl"):
            paths[key] = str(o / f"{key}.parquet")
            frames[key].to_parquet(paths[key], index=False)
    return paths


RUN_KEYS = ("replay", "out", "seconds", "feed_options")


def run_from_dict(d: dict[str, Any], *, seconds: float | None = None) -> dict[str, Any]:
    """Run a graph from a parsed config (the ``stream run`` YAML / ``jobs.stream``) on the connected Ray.

    Keys: every :class:`LiveConfig` key, plus ``replay`` (recordings: run against local replay servers instead
    of the feeds' URLs; each recording gives one feed's market and symbols, so ``feeds`` must not be given),
    ``out`` (a folder for bars_1m/book_top/pnl Parquet files), ``seconds`` (stream that long, then stop the
    feeds, drain the graph and write the outputs; 0 or absent: until the feeds end, a live exchange feed
    never does, or Ctrl-C, which stops the same way) and ``feed_options`` (keys added to every feed, e.g.
    ``{transport: picows, batch_size: 8192}``; a feed's own keys win). ``portfolio``, ``state``,
    ``strategies`` and the checkpoint keys act alike with and without ``replay``.

    Returns a summary: mode, why the feeds stopped (``"end"``, ``"seconds"``, ``"interrupted"``), seconds
    (all) and stream_seconds (feeds started -> graph drained), websocket messages received, bars (1 min, 1 s),
    book tops, P&L rows, events by kind, the portfolio's totals and the output paths.
    """
    d = dict(d)
    files = d.pop("replay", None)
    out = d.pop("out", None)
    feed_options = d.pop("feed_options", None) or {}
    if not isinstance(feed_options, dict):
        raise ConfigError(f"`feed_options` must be a mapping of feed keys, got {feed_options!r}")
    raw_secs = d.pop("seconds", None)
    secs = float(seconds if seconds is not None else raw_secs or 0)
    if secs < 0:
        raise ConfigError(f"`seconds` must be >= 0 (0: no time limit), got {secs:g}")
    t0 = time.perf_counter()
    if files:
        if "feeds" in d:
            raise ConfigError(
                "`feeds` cannot be combined with `replay`: each recording gives its feed's market and "
                "symbols; put feed keys (transport, batch_size, ...) in `feed_options`"
            )
        if isinstance(files, str):
            files = [files]
        base = LiveConfig.from_dict({**d, "feeds": list(_PLACEHOLDER_FEEDS)})
        res = _replay(
            list(files), base, out=out, feed_options=feed_options, seconds=secs or None, interruptible=True
        )
        return _run_summary(
            "replay", res.frames, res.feeds, res.stopped, res.summary, res.paths, t0, res.run_seconds
        )
    if feed_options and isinstance(d.get("feeds"), list | tuple):
        d["feeds"] = [{**feed_options, **f} if isinstance(f, dict) else f for f in d["feeds"]]
    cfg = LiveConfig.from_dict(d)
    graph = LiveGraph(cfg)
    try:
        t_run = time.perf_counter()
        stats = graph.run(seconds=secs or None, interruptible=True)
        run_seconds = time.perf_counter() - t_run
        frames = graph.results()
        summary = graph.summary()
    finally:
        graph.shutdown()
    paths = _write_outputs(frames, out)
    return _run_summary("live", frames, stats, graph.stopped, summary, paths, t0, run_seconds)


def _run_summary(
    mode: str,
    frames: dict[str, pd.DataFrame],
    feeds: list[dict[str, Any]],
    stopped: str,
    summary: dict[str, Any],
    paths: dict[str, str],
    t0: float,
    run_seconds: float,
) -> dict[str, Any]:
    return {
        "mode": mode,
        "stopped": stopped,
        "seconds": round(time.perf_counter() - t0, 3),
        "stream_seconds": round(run_seconds, 3),
        "messages": sum(int(f["session"].get("messages", 0)) for f in feeds),
        "bars_1m": len(frames["bars_1m"]),
        "bars_1s": len(frames["bars_1s"]),
        "book_top": len(frames["book_top"]),
        "pnl_rows": len(frames["pnl"]),
        "events": summary.get("events", {}),
        "pnl": summary.get("pnl", {}),
        "outputs": paths,
    }
