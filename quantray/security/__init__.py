"""quantray.security: API keys (hashed, scoped, rotated, revoked), rate limits and the audit log.

State lives under ``$QUANTRAY_HOME`` (default ``~/.quantray``): ``keys.json`` and ``audit.log``, shared by the
``quantray keys`` CLI and the Serve app.

Example:
    >>> import tempfile
    >>> from quantray.security import KeyStore, scope_allows
    >>> store = KeyStore(tempfile.mkdtemp())
    >>> key, text = store.create(name="svc", scope="trade")
    >>> scope_allows(store.verify(text).scope, "read")
    True
"""

from __future__ import annotations

from quantray.security._audit import AuditLog, verify_audit_log
from quantray.security._home import quantray_home
from quantray.security._keys import SCOPES, ApiKey, KeyStore, Scope, scope_allows
from quantray.security._ratelimit import RateLimiter, TokenBucket

__all__ = [
    "SCOPES",
    "ApiKey",
    "AuditLog",
    "KeyStore",
    "RateLimiter",
    "Scope",
    "TokenBucket",
    "quantray_home",
    "scope_allows",
    "verify_audit_log",
]
