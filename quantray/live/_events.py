"""Event bus for market events with sinks: log, HTTP webhook (JSON POST) and an in-memory ring for snapshots.

Events are de-duplicated by ``(source, kind, symbol, seq)`` when ``seq`` is set, so an actor that replays after a
restart does not notify twice.

Example:
    >>> from quantray.live._records import Event
    >>> bus = EventBus([LogSink()])
    >>> bus.publish([Event(0, "gap", "X", {"u": 1}, "feed", 1), Event(0, "gap", "X", {"u": 1}, "feed", 1)])
    1
    >>> len(bus.latest())
    1
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections import deque
from datetime import UTC, datetime
from typing import Any, Protocol

from quantray.errors import ConfigError
from quantray.live._records import Event

__all__ = ["EventBus", "LogSink", "WebhookSink", "event_dict", "make_sink"]

log = logging.getLogger("quantray.live.events")


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def event_dict(e: Event) -> dict[str, Any]:
    """JSON form: ts (ISO-8601 UTC), kind, symbol, detail."""
    return {"ts": _iso(e.ts_ns), "kind": e.kind, "symbol": e.symbol, "detail": e.detail}


class Sink(Protocol):
    def send(self, events: list[Event]) -> None: ...


class LogSink:
    """Logs every event at WARNING (``quantray.live.events``)."""

    def send(self, events: list[Event]) -> None:
        for e in events:
            log.warning("market event %s %s %s", e.kind, e.symbol, json.dumps(e.detail, default=str)[:300])


class WebhookSink:
    """POSTs ``{"events": [...]}`` as JSON to ``url``; failures are logged and counted, never raised."""

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook `url` must be http(s)://..., got {url!r}")
        self.url = url
        self.timeout_s = timeout_s
        self.failures = 0
        self.sent = 0

    def send(self, events: list[Event]) -> None:
        body = json.dumps({"events": [event_dict(e) for e in events]}, default=str).encode()
        req = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
            self.sent += len(events)
        except OSError as exc:
            self.failures += 1
            log.warning("webhook %s failed: %s", self.url, exc)


def make_sink(spec: dict[str, Any]) -> Sink:
    """``{"kind": "log"}`` or ``{"kind": "webhook", "url": ...}``."""
    kind = spec.get("kind")
    if kind == "log":
        return LogSink()
    if kind == "webhook":
        if "url" not in spec:
            raise ConfigError("webhook sink: missing `url`")
        return WebhookSink(str(spec["url"]), timeout_s=float(spec.get("timeout_s", 2.0)))
    raise ConfigError(f"unknown event sink kind {kind!r}; valid: ['log', 'webhook']")


class EventBus:
    """Fan events out to sinks, keeping the latest ``keep`` for snapshots."""

    def __init__(
        self, sinks: list[Sink] | None = None, *, keep: int = 100, kinds: list[str] | None = None
    ) -> None:
        self.sinks = list(sinks or [])
        self.ring: deque[Event] = deque(maxlen=keep)
        self.kinds = set(kinds) if kinds else None
        self._seen: set[tuple[str, str, str, int]] = set()
        self.count = 0
        self.counts: dict[str, int] = {}  # events published, by kind

    def publish(self, events: list[Event]) -> int:
        fresh = []
        for e in events:
            if self.kinds is not None and e.kind not in self.kinds:
                continue
            if e.seq:
                key = (e.source, e.kind, e.symbol, e.seq)
                if key in self._seen:
                    continue
                self._seen.add(key)
            fresh.append(e)
        if fresh:
            self.ring.extend(fresh)
            self.count += len(fresh)
            for e in fresh:
                self.counts[e.kind] = self.counts.get(e.kind, 0) + 1
            for s in self.sinks:
                s.send(fresh)
        return len(fresh)

    def latest(self) -> list[dict[str, Any]]:
        return [event_dict(e) for e in self.ring]
