"""A token-bucket rate limiter keyed by API key id (or client address), thread-safe, in memory."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from quantray.errors import ConfigError

__all__ = ["RateLimiter", "TokenBucket"]


@dataclass
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` tokens per second; each request takes one.

    Example:
        >>> b = TokenBucket(rate=1.0, capacity=2.0, tokens=2.0, stamp=0.0)
        >>> [b.take(0.0)[0], b.take(0.0)[0], b.take(0.0)[0]]
        [True, True, False]
        >>> b.take(0.0)[1]  # seconds until one token is back
        1.0
    """

    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens at time ``now``: ``(allowed, seconds to wait when refused)``."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True, 0.0
        return False, (cost - self.tokens) / self.rate


class RateLimiter:
    """One :class:`TokenBucket` per key, created full on first use.

    Limits are per process (one Serve replica): with N replicas a key may get up to N times the rate.

    Example:
        >>> rl = RateLimiter(rate=10, burst=1, clock=lambda: 0.0)
        >>> rl.check("k")
        (True, 0)
        >>> rl.check("k")  # Retry-After is whole seconds, rounded up
        (False, 1)
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        for name, v in (("rate", rate), ("burst", burst)):
            if not (isinstance(v, int | float) and v > 0 and math.isfinite(v)):
                raise ConfigError(f"rate limit `{name}` must be a positive number, got {v!r}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def check(self, key: str, *, rate: float | None = None, burst: float | None = None) -> tuple[bool, int]:
        """Take one token for ``key``: ``(allowed, Retry-After seconds)``; per-key ``rate``/``burst`` override."""
        r = float(rate or self.rate)
        cap = max(float(burst or self.burst), 1.0)
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or bucket.rate != r or bucket.capacity != cap:
                if len(self._buckets) >= self._max_keys:
                    self._buckets.clear()
                bucket = TokenBucket(rate=r, capacity=cap, tokens=cap, stamp=now)
                self._buckets[key] = bucket
            ok, wait = bucket.take(now)
        return ok, (0 if ok else max(1, math.ceil(wait)))
