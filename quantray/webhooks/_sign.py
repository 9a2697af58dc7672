"""HMAC-SHA256 signatures of outgoing webhooks over ``<timestamp>.<body>``.

Header ``X-Quantray-Signature: t=<unix seconds>,v1=<hex digest>``; the receiver recomputes
``HMAC-SHA256(secret, f"{t}.".encode() + body)``, compares in constant time and rejects stale timestamps (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "sign", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "X-Quantray-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``.

    Example:
        >>> sign("s", 1700000000, b"{}")[:16]
        'e9232c9945da8456'
    """
    return hmac.new(secret.encode(), f"{int(timestamp)}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The ``X-Quantray-Signature`` value for ``body`` now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={sign(secret, t, body)}"


def verify_signature(
    secret: str, header: str | None, body: bytes, *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within ``tolerance_s`` seconds of ``now``.

    Example:
        >>> h = signature_header("s", b"hi")
        >>> verify_signature("s", h, b"hi"), verify_signature("s", h, b"ho"), verify_signature("t", h, b"hi")
        (True, False, False)
    """
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_s:
        return False
    return hmac.compare_digest(parts.get("v1", ""), sign(secret, t, body))
