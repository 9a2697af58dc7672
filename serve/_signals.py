"""Signals for the API: from the live graph when one runs, otherwise computed from bars and cached.

Bar-computed signals cover the top performers of the latest quarterly report when ``quantray.reports`` has one,
else the configured ``signals`` list (default: every symbol of the bundled sample with a few built-ins at their
default parameters). Each is the strategy's signal kernel run on the symbol's bars: the latest target position
(-1, 0, +1) decided on the last bar's close, and its history of changes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantray.errors import QuantrayError
from serve._settings import DEFAULT_SIGNAL_STRATEGIES, Settings

__all__ = ["SignalBook", "live_history", "live_snapshot", "load_report", "read_report"]

_log = logging.getLogger("quantray.serve")


def _iso(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


def live_snapshot(timeout_s: float = 0.5) -> dict[str, Any] | None:
    """``quantray.live.get_live_snapshot`` when that package exists and a live graph runs, else None."""
    try:
        from quantray.live import get_live_snapshot  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        snap = get_live_snapshot(timeout_s=timeout_s)
    except Exception:  # a broken live graph must not take the API down
        return None
    return snap if isinstance(snap, dict) else None


def live_history(symbol: str, strategy: str, limit: int) -> list[dict[str, Any]] | None:
    try:
        from quantray.live import get_signal_history  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        hist = get_signal_history(symbol, strategy, limit=limit)
    except Exception:
        return None
    return list(hist) if hist is not None else None


def read_report(root: str, portfolio: str) -> tuple[Any | None, bool]:
    """``(report, unreadable)``: the latest quarterly report of ``portfolio`` under ``root``
    (``quantray.reports.load_latest_report``), else ``(None, False)`` when none is stored there, or
    ``(None, True)`` when the latest one cannot be read (the reason is logged here, not sent to clients)."""
    from quantray.reports import ReportNotFoundError, load_latest_report

    try:
        return load_latest_report(root, portfolio), False
    except ReportNotFoundError:
        return None, False
    except (QuantrayError, OSError, ValueError, KeyError, TypeError) as exc:
        _log.warning("latest report of portfolio %r under %s cannot be read: %s", portfolio, root, exc)
        return None, True


def load_report(root: str, portfolio: str) -> Any | None:
    """The latest quarterly report, or None (no report under ``root``, or unreadable)."""
    return read_report(root, portfolio)[0]


@dataclass(frozen=True)
class _Series:
    symbol: str
    strategy: str
    params: dict[str, Any]
    ts: np.ndarray  # int64 ns
    close: np.ndarray
    position: np.ndarray  # int8


class SignalBook:
    """Signals computed from bars, cached until :meth:`refresh`; thread-safe.

    Example:
        >>> import tempfile
        >>> from serve._settings import Settings
        >>> book = SignalBook(Settings(home=tempfile.mkdtemp()))
        >>> sig = book.latest(symbol="AAPL", strategy="sma_cross")[0]
        >>> sig["position"] in (-1, 0, 1)
        True
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], _Series] = {}
        self._latest: list[dict[str, Any]] = []
        self.as_of: str | None = None
        self.universe: str = "config"
        self.refresh(settings)

    def _universe(self, settings: Settings) -> list[dict[str, Any]]:
        report = load_report(settings.reports_dir, settings.portfolio)
        if report is not None:
            try:
                rows = report.get_top_performers(settings.signal_top_n, metric="sharpe")
                self.universe = "report"
                return [
                    {
                        "strategy": r.strategy,
                        "params": dict(r.params),
                        "symbols": [r.symbol],
                        "data": "sample",
                    }
                    for r in rows
                ]
            except Exception:  # fall back to the configured list
                pass
        self.universe = "config"
        return list(settings.signals) or [{"strategy": s} for s in DEFAULT_SIGNAL_STRATEGIES]

    def refresh(self, settings: Settings | None = None) -> list[dict[str, Any]]:
        """Recompute every signal from the bars; returns the signals whose position changed since the last
        computation (empty on the first)."""
        from quantray.data import Panel, read_bars
        from quantray.strategies import get_strategy

        settings = settings or self._settings
        self._settings = settings
        panels: dict[str, Panel] = {}
        series: dict[tuple[str, str], _Series] = {}
        for item in self._universe(settings):
            source = item.get("data", "sample")
            if source not in panels:
                panels[source] = Panel.from_bars(read_bars(settings.data_path(source), on_bad="repair"))
            panel = panels[source]
            spec = get_strategy(item["strategy"])
            params = spec.validate_params(item.get("params") or {})
            for symbol in item.get("symbols") or panel.symbols:
                if symbol not in panel.symbols:
                    continue
                ts, o, h, lo, c, v = panel.arrays(symbol)
                pos = spec.signal(o, h, lo, c, v, params)
                series[(symbol, spec.name)] = _Series(symbol, spec.name, params, ts, c, pos)
        latest = [self._latest_of(s) for s in series.values()]
        latest.sort(key=lambda d: (d["symbol"], d["strategy"]))
        with self._lock:
            before = {(d["symbol"], d["strategy"]): d["position"] for d in self._latest}
            self._series = series
            self._latest = latest
            self.as_of = max((d["bar_ts"] for d in latest), default=None)
        if not before:
            return []
        return [d for d in latest if before.get((d["symbol"], d["strategy"])) != d["position"]]

    @staticmethod
    def _latest_of(s: _Series) -> dict[str, Any]:
        n = len(s.position)
        last = int(s.position[-1]) if n else 0
        changes = np.flatnonzero(np.diff(s.position.astype(np.int16))) + 1 if n > 1 else np.array([], int)
        since = int(s.ts[changes[-1]]) if len(changes) else (int(s.ts[0]) if n else None)
        return {
            "symbol": s.symbol,
            "strategy": s.strategy,
            "params": dict(s.params),
            "position": last,
            "bar_ts": _iso(int(s.ts[-1])) if n else None,
            "price": float(s.close[-1]) if n else None,
            "since": _iso(since) if since is not None else None,
            "source": "bars",
        }

    def latest(self, *, symbol: str | None = None, strategy: str | None = None) -> list[dict[str, Any]]:
        """The latest signal of every (symbol, strategy), optionally filtered."""
        rows = self._latest
        return [
            d
            for d in rows
            if (symbol is None or d["symbol"] == symbol) and (strategy is None or d["strategy"] == strategy)
        ]

    def history(self, symbol: str, strategy: str, *, limit: int = 100) -> list[dict[str, Any]] | None:
        """Position changes of one (symbol, strategy), oldest first (the last ``limit``); None if unknown."""
        s = self._series.get((symbol, strategy))
        if s is None:
            return None
        pos = s.position.astype(np.int16)
        idx = np.flatnonzero(np.diff(np.concatenate([[0], pos])))
        idx = idx[-limit:] if limit else idx[:0]
        return [
            {"bar_ts": _iso(int(s.ts[i])), "position": int(pos[i]), "price": float(s.close[i])} for i in idx
        ]


def now_iso() -> str:
    return pd.Timestamp(time.time(), unit="s", tz="UTC").isoformat()
