"""Where server state lives: ``$QUANTRAY_HOME`` (default ``~/.quantray``), shared by the CLI and the Serve app."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quantray.errors import ConfigError

__all__ = ["atomic_write_json", "locked", "quantray_home", "read_json"]


def quantray_home(home: str | os.PathLike[str] | None = None, *, create: bool = True) -> Path:
    """The state directory: ``home`` if given, else ``$QUANTRAY_HOME``, else ``~/.quantray`` (mode 0700).

    Example:
        >>> import tempfile
        >>> quantray_home(tempfile.mkdtemp()).is_dir()
        True
    """
    raw = home if home is not None else os.environ.get("QUANTRAY_HOME") or Path.home() / ".quantray"
    path = Path(raw).expanduser()
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise ConfigError(f"QUANTRAY_HOME={str(path)!r}: cannot create the directory ({exc})") from None
    return path


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``<path>.lock`` (between processes: CLI, Serve replicas, Ray tasks)."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temp file + rename), readable by the owner only."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
