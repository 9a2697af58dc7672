"""Subscriptions, delivery with retries and exponential backoff, and the dead-letter list.

``$QUANTRAY_HOME/webhooks.json`` holds the subscriptions (URL, events, signing secret; mode 0600);
``$QUANTRAY_HOME/webhooks_dead.jsonl`` the deliveries that failed every attempt.
"""

from __future__ import annotations

import builtins
import json
import os
import random
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from quantray.errors import ConfigError
from quantray.security._home import atomic_write_json, locked, quantray_home, read_json
from quantray.webhooks._sign import SIGNATURE_HEADER, signature_header

__all__ = [
    "EVENTS",
    "DeadLetters",
    "DeliveryResult",
    "Subscription",
    "SubscriptionStore",
    "deliver",
    "dispatch",
]

EVENTS: tuple[str, ...] = ("signal", "alert", "ping")
_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True, kw_only=True)
class Subscription:
    """An outgoing webhook: POST every event in ``events`` to ``url``, signed with ``secret``."""

    sub_id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: float
    description: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"webhook url {self.url!r}: expected an absolute http(s) URL")
        bad = sorted(set(self.events) - set(EVENTS))
        if bad or not self.events:
            raise ConfigError(f"webhook events {list(self.events)!r}: each must be one of {list(EVENTS)}")

    def public(self) -> dict[str, Any]:
        """A JSON-able view without the secret."""
        d = asdict(self)
        d.pop("secret")
        d["events"] = list(self.events)
        return d


class SubscriptionStore:
    """Subscriptions in ``$QUANTRAY_HOME/webhooks.json``."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = quantray_home(home)
        self.path = self.home / "webhooks.json"

    def list(self) -> builtins.list[Subscription]:
        raw = read_json(self.path, {"subscriptions": []})
        return [Subscription(**{**s, "events": tuple(s["events"])}) for s in raw.get("subscriptions", [])]

    def add(
        self, *, url: str, events: Iterable[str], secret: str | None = None, description: str = ""
    ) -> Subscription:
        """Add a subscription; a signing secret is generated unless given."""
        sub = Subscription(
            sub_id=uuid.uuid4().hex[:12],
            url=url,
            events=tuple(dict.fromkeys(events)),
            secret=secret or secrets.token_urlsafe(32),
            created_at=time.time(),
            description=description,
        )
        with locked(self.path):
            subs = self.list()
            subs.append(sub)
            self._write(subs)
        return sub

    def remove(self, sub_id: str) -> bool:
        with locked(self.path):
            subs = self.list()
            keep = [s for s in subs if s.sub_id != sub_id]
            if len(keep) == len(subs):
                return False
            self._write(keep)
        return True

    def matching(self, event: str) -> builtins.list[Subscription]:
        return [s for s in self.list() if event in s.events]

    def _write(self, subs: builtins.list[Subscription]) -> None:
        atomic_write_json(
            self.path, {"subscriptions": [{**asdict(s), "events": list(s.events)} for s in subs]}
        )


class DeadLetters:
    """Deliveries that failed every attempt, one JSON line each (``$QUANTRAY_HOME/webhooks_dead.jsonl``)."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.path = quantray_home(home) / "webhooks_dead.jsonl"

    def add(self, record: dict[str, Any]) -> None:
        with locked(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
            finally:
                os.close(fd)

    def list(self, *, limit: int = 100) -> builtins.list[dict[str, Any]]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(x) for x in lines[-limit:] if x.strip()]


@dataclass(frozen=True, kw_only=True)
class DeliveryResult:
    """What happened to one delivery: ``ok``, the attempts made, the last status (or None) and error."""

    sub_id: str
    delivery_id: str
    event: str
    ok: bool
    attempts: int
    status: int | None
    error: str | None = None
    statuses: list[int | None] = field(default_factory=list)


def deliver(
    sub: Subscription,
    event: str,
    payload: dict[str, Any],
    *,
    attempts: int = 4,
    backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
    timeout_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """POST one signed event to a subscription, retrying connection errors, timeouts, 408/425/429 and 5xx with
    exponential backoff (``backoff_s * 2**k``, ±20 % jitter, capped); other 4xx fail at once.

    The body is ``{"id", "event", "created", "data"}``; headers ``X-Quantray-Event``, ``X-Quantray-Delivery`` and
    ``X-Quantray-Signature: t=...,v1=...`` (see :func:`quantray.webhooks.verify_signature`).
    """
    delivery_id = uuid.uuid4().hex
    body = json.dumps(
        {"id": delivery_id, "event": event, "created": time.time(), "data": payload},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()
    statuses: list[int | None] = []
    error: str | None = None
    for attempt in range(1, attempts + 1):
        status: int | None = None
        req = urllib.request.Request(
            sub.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "quantray-webhooks/1",
                "X-Quantray-Event": event,
                "X-Quantray-Delivery": delivery_id,
                SIGNATURE_HEADER: signature_header(sub.secret, body),  # fresh timestamp per attempt
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        statuses.append(status)
        if status is not None and 200 <= status < 300:
            return DeliveryResult(
                sub_id=sub.sub_id,
                delivery_id=delivery_id,
                event=event,
                ok=True,
                attempts=attempt,
                status=status,
                statuses=statuses,
            )
        if status is not None and status not in _RETRY_STATUSES:
            break
        if attempt < attempts:
            delay = min(max_backoff_s, backoff_s * 2 ** (attempt - 1))
            sleep(delay * random.uniform(0.8, 1.2))
    return DeliveryResult(
        sub_id=sub.sub_id,
        delivery_id=delivery_id,
        event=event,
        ok=False,
        attempts=len(statuses),
        status=statuses[-1] if statuses else None,
        error=error,
        statuses=statuses,
    )


def dispatch(
    event: str,
    payload: dict[str, Any],
    *,
    home: str | os.PathLike[str] | None = None,
    attempts: int = 4,
    backoff_s: float = 0.5,
) -> list[DeliveryResult]:
    """Deliver ``event`` to every matching subscription; failures go to the dead-letter list.

    Example:
        >>> import tempfile
        >>> dispatch("signal", {"symbol": "AAPL"}, home=tempfile.mkdtemp())  # no subscriptions
        []
    """
    results = []
    dead = DeadLetters(home)
    for sub in SubscriptionStore(home).matching(event):
        res = deliver(sub, event, payload, attempts=attempts, backoff_s=backoff_s)
        results.append(res)
        if not res.ok:
            dead.add(
                {
                    "ts": time.time(),
                    "sub_id": sub.sub_id,
                    "url": sub.url,
                    "event": event,
                    "delivery_id": res.delivery_id,
                    "attempts": res.attempts,
                    "statuses": res.statuses,
                    "error": res.error,
                    "data": payload,
                }
            )
    return results
