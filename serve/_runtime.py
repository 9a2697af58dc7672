"""Per-process state of a replica: settings, keys, rate limiter, audit log, signal book, alert store."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from quantray.security import AuditLog, KeyStore, RateLimiter
from serve._settings import Settings, SettingsSource

__all__ = ["AlertStore", "Runtime", "runtime"]


class AlertStore:
    """Received TradingView alerts in ``$QUANTRAY_HOME/alerts.db`` (SQLite); the primary key is the alert's
    idempotency key, so a duplicate delivery is detected across replicas and restarts."""

    def __init__(self, home: str) -> None:
        self.path = Path(home) / "alerts.db"
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS alerts (id TEXT PRIMARY KEY, received REAL NOT NULL, "
                "alert TEXT NOT NULL, processed REAL, deliveries TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def insert(self, alert_id: str, alert: dict[str, Any]) -> bool:
        """Record an alert; False when that id was recorded before (a duplicate delivery)."""
        db = self._connect()
        try:
            cur = db.execute(
                "INSERT OR IGNORE INTO alerts (id, received, alert) VALUES (?, ?, ?)",
                (alert_id, time.time(), json.dumps(alert, sort_keys=True)),
            )
            return cur.rowcount == 1
        finally:
            db.close()

    def mark_processed(self, alert_id: str, deliveries: list[dict[str, Any]]) -> None:
        db = self._connect()
        try:
            db.execute(
                "UPDATE alerts SET processed = ?, deliveries = ? WHERE id = ?",
                (time.time(), json.dumps(deliveries), alert_id),
            )
        finally:
            db.close()

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        db = self._connect()
        try:
            rows = db.execute(
                "SELECT id, received, alert, processed, deliveries FROM alerts ORDER BY received DESC LIMIT ?",
                (limit,),
            ).fetchall()
        finally:
            db.close()
        return [
            {
                "id": r[0],
                "received": r[1],
                "alert": json.loads(r[2]),
                "processed": r[3],
                "deliveries": json.loads(r[4]) if r[4] else None,
            }
            for r in rows
        ]


class Runtime:
    """Everything a replica keeps between requests."""

    def __init__(self, home: str | None = None) -> None:
        self.settings_source = SettingsSource(home)
        s = self.settings_source.get()
        self.home = s.home
        self.keys = KeyStore(self.home)
        self.audit = AuditLog(home=self.home)
        self.limiter = RateLimiter(rate=s.rate_per_s, burst=s.burst)
        self.alerts = AlertStore(self.home)
        self._book: Any = None
        self._book_lock = threading.Lock()
        self._live: tuple[float, dict[str, Any] | None] = (0.0, None)

    def settings(self) -> Settings:
        return self.settings_source.get()

    def book(self) -> Any:
        if self._book is None:
            with self._book_lock:
                if self._book is None:
                    from serve._signals import SignalBook

                    self._book = SignalBook(self.settings())
        return self._book

    def live(self, *, cached_only: bool = False) -> dict[str, Any] | None:
        """The live snapshot, cached for one second; with ``cached_only`` never blocks (the cache is refreshed
        by :meth:`live_async`, which the async routes await first)."""
        stamp, snap = self._live
        if cached_only or time.monotonic() - stamp < 1.0:
            return snap
        from serve._signals import live_snapshot

        snap = live_snapshot()
        self._live = (time.monotonic(), snap)
        return snap

    async def live_async(self) -> dict[str, Any] | None:
        """:meth:`live`, refreshing a stale cache in a worker thread (never on the event loop)."""
        if time.monotonic() - self._live[0] < 1.0:
            return self._live[1]
        import asyncio

        return await asyncio.to_thread(self.live)


_RUNTIME: Runtime | None = None
_LOCK = threading.Lock()


def runtime() -> Runtime:
    """The process-wide :class:`Runtime` (created on first use from ``$QUANTRAY_HOME``)."""
    global _RUNTIME
    if _RUNTIME is None:
        with _LOCK:
            if _RUNTIME is None:
                _RUNTIME = Runtime()
    return _RUNTIME
