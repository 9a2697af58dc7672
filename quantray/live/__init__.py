"""quantray.live: live market state on Ray actors — feeds, order books, bars, signals, P&L and events.

* Feeds: :class:`BinanceSession` (parsing and Binance's local order book procedure, no I/O) driven over a
  websocket by :class:`BinanceFeed` (subscribe, snapshot resync, trade backfill, reconnect with backoff).
* Fast path: :class:`FastBinanceParser` (numba parsing/sequencing into columnar batches, every message it cannot
  handle through :class:`BinanceSession`) and :class:`FastMarketState` (array books and bars, same outputs).
* State: :class:`MarketState` (books, 1 s / 1 min bars, VWAP, spread), :class:`SignalEngine` (StrategySpec
  kernels stepped per bar), :class:`Portfolio`, :class:`EventBus`.
* Coinbase Advanced Trade and Alpaca: :class:`CoinbaseSession`, :class:`AlpacaSession` over :class:`VenueFeed`.
* Serving recordings: :class:`ReplayServer` (Binance protocol over a real websocket, with faults) and
  :class:`VenueReplayServer` (Coinbase / Alpaca handshakes).
* Ray: :class:`LiveGraph` and :func:`replay`; the snapshot API :func:`get_live_snapshot` and
  :func:`get_signal_history` used by Serve.

Example:
    >>> from quantray.live import get_live_snapshot
    >>> get_live_snapshot() is None  # no Ray connection in this process
    True
"""

from __future__ import annotations

from typing import Any

from quantray.live._api import get_live_snapshot, get_signal_history
from quantray.live._bars import BarBuilder
from quantray.live._binance import BinanceSession, binance_streams, binance_symbol
from quantray.live._book import BookError, OrderBook
from quantray.live._checkpoint import CheckpointStore
from quantray.live._events import EventBus, LogSink, WebhookSink
from quantray.live._fast import FastBinanceParser, FastMarketState
from quantray.live._feed import BinanceFeed, FeedConfig, backoff_delays
from quantray.live._files import Recorded, detect_binance_market, iter_recording, read_recording
from quantray.live._portfolio import Portfolio, PortfolioConfig
from quantray.live._records import Bar, BookUpdate, Event, Quote, Signal, Trade
from quantray.live._replay_server import FaultSpec, ReplayServer
from quantray.live._signals import LiveStrategy, SignalEngine
from quantray.live._state import MarketState, MarketStateConfig
from quantray.live._venues import (
    AlpacaSession,
    CoinbaseSession,
    VenueFeed,
    VenueReplayServer,
    binance_to_venue,
)

__all__ = [
    "AlpacaSession",
    "Bar",
    "BarBuilder",
    "BinanceFeed",
    "BinanceSession",
    "BookError",
    "BookUpdate",
    "CheckpointStore",
    "CoinbaseSession",
    "Event",
    "EventBus",
    "FastBinanceParser",
    "FastMarketState",
    "FaultSpec",
    "FeedConfig",
    "LiveConfig",
    "LiveGraph",
    "LiveStrategy",
    "LogSink",
    "MarketState",
    "MarketStateConfig",
    "OrderBook",
    "Portfolio",
    "PortfolioConfig",
    "Quote",
    "Recorded",
    "ReplayServer",
    "Signal",
    "SignalEngine",
    "Trade",
    "VenueFeed",
    "VenueReplayServer",
    "WebhookSink",
    "backoff_delays",
    "binance_streams",
    "binance_symbol",
    "binance_to_venue",
    "detect_binance_market",
    "get_live_snapshot",
    "get_signal_history",
    "iter_recording",
    "read_recording",
    "replay",
]


def __getattr__(name: str) -> Any:
    """``LiveConfig``, ``LiveGraph`` and ``replay`` import Ray; load them on first use."""
    if name in ("LiveConfig", "LiveGraph", "replay"):
        from quantray.live import _graph

        return getattr(_graph, name)
    raise AttributeError(f"module 'quantray.live' has no attribute {name!r}")
