"""The append-only audit log: one JSON line per mutating call, hash-chained so that edits are detectable.

Each record holds ``ts`` (UNIX time), ``time`` (ISO 8601 UTC), ``key_id`` (or None when no valid key was
presented), ``action``, ``target``, ``outcome`` (an HTTP status or a word), optional ``detail`` and ``client``,
``prev`` (the previous record's ``hash``) and ``hash`` (SHA-256 of the record without ``hash``). Writers take an
exclusive lock, so Serve replicas, Ray tasks and the CLI can share ``$QUANTRAY_HOME/audit.log``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from quantray.errors import DataError
from quantray.security._home import locked, quantray_home

__all__ = ["AuditLog", "verify_audit_log"]

_GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _last_hash(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 65536))
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return _GENESIS
    for line in reversed(lines):
        if line.strip():
            return str(json.loads(line)["hash"])
    return _GENESIS


class AuditLog:
    """``$QUANTRAY_HOME/audit.log`` (or ``path``): append and read, never rewrite.

    Example:
        >>> import tempfile
        >>> log = AuditLog(home=tempfile.mkdtemp())
        >>> rec = log.append(key_id="abc", action="POST /v1/backtest", target="/v1/backtest", outcome=200)
        >>> [r["outcome"] for r in log.read()], verify_audit_log(log.path)
        ([200], 1)
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, home: str | None = None) -> None:
        self.path = Path(path) if path is not None else quantray_home(home) / "audit.log"

    def append(
        self,
        *,
        key_id: str | None,
        action: str,
        target: str,
        outcome: int | str,
        detail: str | None = None,
        client: str | None = None,
    ) -> dict[str, Any]:
        """Append one record (under the lock) and return it."""
        now = time.time()
        record: dict[str, Any] = {
            "ts": now,
            "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds"),
            "key_id": key_id,
            "action": action,
            "target": target,
            "outcome": outcome,
        }
        if detail is not None:
            record["detail"] = detail[:500]
        if client is not None:
            record["client"] = client
        with locked(self.path):
            record["prev"] = _last_hash(self.path)
            record["hash"] = _digest(record)
            line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return record

    def read(self, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Records, oldest first (the last ``limit`` when given)."""
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        recs = [json.loads(x) for x in lines if x.strip()]
        return recs[-limit:] if limit else recs


def verify_audit_log(path: str | os.PathLike[str]) -> int:
    """Check the hash chain of an audit log; returns the number of records.

    Raises:
        DataError: a record was edited, removed or inserted (names the line).
    """
    prev = _GENESIS
    n = 0
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return 0
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("prev") != prev or rec.get("hash") != _digest(rec):
            raise DataError(f"{path}: line {i}: audit chain broken (record edited, removed or inserted)")
        prev = rec["hash"]
        n += 1
    return n
