"""API keys: hashed at rest, scoped (read < trade < admin), rotated with an overlap window, revoked at once.

A key reads ``qr_<key id>_<secret>``: the id (12 hex digits) is public and names the key in lists and the audit
log; the secret (43 URL-safe characters, 256 random bits) is shown once at creation and only its SHA-256 is stored
(a fast hash is right for high-entropy random secrets; a password KDF would only slow every request down).
The store is ``$QUANTRAY_HOME/keys.json`` (mode 0600), written atomically under a file lock by the CLI and read by
the Serve replicas, which reload it when it changes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from quantray.errors import ConfigError
from quantray.security._home import atomic_write_json, locked, quantray_home, read_json

__all__ = ["SCOPES", "ApiKey", "KeyStore", "Scope", "scope_allows"]

Scope = Literal["read", "trade", "admin"]
SCOPES: tuple[str, ...] = ("read", "trade", "admin")
_RANK = {s: i for i, s in enumerate(SCOPES)}
_KEY_RE = re.compile(r"^qr_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
DEFAULT_OVERLAP_S = 3600.0


def scope_allows(granted: str, needed: str) -> bool:
    """Whether a key of scope ``granted`` may call an endpoint needing ``needed`` (admin ⊇ trade ⊇ read).

    Example:
        >>> scope_allows("trade", "read"), scope_allows("read", "trade")
        (True, False)
    """
    return _RANK.get(granted, -1) >= _RANK[needed]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    """One stored key (never the secret itself).

    Attributes:
        key_id: public id (12 hex digits), part of the key text.
        name: a label chosen at creation (several keys may share it across rotations).
        scope: ``read``, ``trade`` or ``admin``.
        secret_sha256: SHA-256 of the secret part.
        created_at: UNIX time.
        expires_at: UNIX time after which the key stops working (set by rotation), or None.
        revoked_at: UNIX time of revocation, or None.
        rotated_to: id of the key that replaced this one, or None.
        rate_per_s: token-bucket refill rate for this key (None: the server default).
        burst: token-bucket capacity for this key (None: the server default).
    """

    key_id: str
    name: str
    scope: str
    secret_sha256: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    rotated_to: str | None = None
    rate_per_s: float | None = None
    burst: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scope not in _RANK:
            raise ConfigError(f"key {self.key_id}: scope {self.scope!r} is not one of {list(SCOPES)}")

    def active(self, now: float | None = None) -> bool:
        """Not revoked and not past its expiry."""
        t = time.time() if now is None else now
        return self.revoked_at is None and (self.expires_at is None or t < self.expires_at)

    def status(self, now: float | None = None) -> str:
        """``active``, ``expiring`` (rotated, inside its overlap window), ``expired`` or ``revoked``."""
        t = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None:
            return "expiring" if t < self.expires_at else "expired"
        return "active"

    def public(self, now: float | None = None) -> dict[str, Any]:
        """A JSON-able view without the hash."""
        d = asdict(self)
        d.pop("secret_sha256")
        d.pop("extra")
        d["status"] = self.status(now)
        return d


def _check_limits(rate_per_s: float | None, burst: float | None) -> None:
    for name, v in (("rate_per_s", rate_per_s), ("burst", burst)):
        if v is not None and not (isinstance(v, int | float) and 0 < v < 1e9):
            raise ConfigError(f"`{name}` must be a positive number below 1e9, got {v!r}")


class KeyStore:
    """The key file under ``$QUANTRAY_HOME`` with create / rotate / revoke / verify.

    Example:
        >>> import tempfile
        >>> store = KeyStore(tempfile.mkdtemp())
        >>> key, text = store.create(name="ci", scope="read")
        >>> store.verify(text).key_id == key.key_id
        True
        >>> store.verify(text + "x") is None
        True
    """

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = quantray_home(home)
        self.path = self.home / "keys.json"
        self._cache: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int, int] | None = None

    # ------------------------------------------------------------------------------------------- reading
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self) -> dict[str, ApiKey]:
        raw = read_json(self.path, {"keys": []})
        keys = raw.get("keys", []) if isinstance(raw, dict) else []
        return {k["key_id"]: ApiKey(**k) for k in keys}

    def keys(self) -> dict[str, ApiKey]:
        """Every stored key by id (reloaded when the file changed)."""
        stamp = self._stat()
        if stamp != self._stamp or stamp is None:
            self._cache = self._load() if stamp is not None else {}
            self._stamp = stamp
        return self._cache

    def list(self) -> list[ApiKey]:
        """Every stored key, oldest first."""
        return sorted(self.keys().values(), key=lambda k: (k.created_at, k.key_id))

    def get(self, key_id_or_name: str) -> ApiKey:
        """A key by id, or the one active key of that name."""
        return self._find(self.keys(), key_id_or_name)

    def verify(self, text: str | None, now: float | None = None) -> ApiKey | None:
        """The active key whose text is ``text``, else None (unknown, malformed, revoked and expired alike)."""
        if not text:
            return None
        m = _KEY_RE.match(text.strip())
        if not m:
            return None
        key = self.keys().get(m.group(1))
        digest = _hash(m.group(2))
        if key is None:
            hmac.compare_digest(digest, digest)  # same work either way
            return None
        if not hmac.compare_digest(key.secret_sha256, digest):
            return None
        return key if key.active(now) else None

    # ------------------------------------------------------------------------------------------- writing
    def _write(self, keys: dict[str, ApiKey]) -> None:
        atomic_write_json(self.path, {"version": 1, "keys": [asdict(k) for k in keys.values()]})
        self._stamp = None

    @staticmethod
    def _new_text() -> tuple[str, str, str]:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        return key_id, secret, f"qr_{key_id}_{secret}"

    def create(
        self,
        *,
        name: str,
        scope: str = "read",
        rate_per_s: float | None = None,
        burst: float | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; returns the stored record and the key text (shown once, never stored)."""
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(f"key name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'")
        if scope not in _RANK:
            raise ConfigError(f"scope {scope!r} is not one of {list(SCOPES)}")
        _check_limits(rate_per_s, burst)
        with locked(self.path):
            keys = self._load()
            key_id, secret, text = self._new_text()
            key = ApiKey(
                key_id=key_id,
                name=name,
                scope=scope,
                secret_sha256=_hash(secret),
                created_at=time.time(),
                rate_per_s=rate_per_s,
                burst=burst,
            )
            keys[key_id] = key
            self._write(keys)
        return key, text

    def rotate(self, key_id_or_name: str, *, overlap_s: float = DEFAULT_OVERLAP_S) -> tuple[ApiKey, str]:
        """Replace a key by a new one (same name, scope and limits); the old one keeps working for
        ``overlap_s`` seconds so that clients can switch over, then stops."""
        if not (isinstance(overlap_s, int | float) and 0 <= overlap_s <= 90 * 86400):
            raise ConfigError(f"`overlap_s` must be in [0, 7776000] seconds, got {overlap_s!r}")
        with locked(self.path):
            keys = self._load()
            self._stamp = None
            old = self._find(keys, key_id_or_name)
            if not old.active():
                raise ConfigError(f"key {old.key_id} is {old.status()}; only an active key can be rotated")
            now = time.time()
            key_id, secret, text = self._new_text()
            new = ApiKey(
                key_id=key_id,
                name=old.name,
                scope=old.scope,
                secret_sha256=_hash(secret),
                created_at=now,
                rate_per_s=old.rate_per_s,
                burst=old.burst,
            )
            expires = now + overlap_s
            if old.expires_at is not None:
                expires = min(expires, old.expires_at)
            keys[old.key_id] = replace(old, expires_at=expires, rotated_to=key_id)
            keys[key_id] = new
            self._write(keys)
        return new, text

    def revoke(self, key_id_or_name: str) -> ApiKey:
        """Revoke a key now (idempotent); requests with it answer 401 from the next request on."""
        with locked(self.path):
            keys = self._load()
            key = self._find(keys, key_id_or_name)
            if key.revoked_at is None:
                key = replace(key, revoked_at=time.time())
                keys[key.key_id] = key
                self._write(keys)
        return key

    @staticmethod
    def _find(keys: dict[str, ApiKey], key_id_or_name: str) -> ApiKey:
        if key_id_or_name in keys:
            return keys[key_id_or_name]
        named = [k for k in keys.values() if k.name == key_id_or_name and k.active()]
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            ids = sorted(k.key_id for k in named)
            raise ConfigError(f"name {key_id_or_name!r} matches {len(named)} active keys {ids}; give the id")
        raise ConfigError(f"no API key with id or name {key_id_or_name!r} (see `quantray keys list`)")
