"""Stale numba caches: dropped when a kernel module's source changes.

numba's on-disk cache (``cache=True``: ``__pycache__/*.nbi``/``*.nbc``) is keyed by the source file of each compiled
function only. A kernel that calls or inlines one from another module (the GA's kernels, the built-in strategies'
steps and the live kernels all use ``quantray.engine._indicators.rsi_value``) keeps its old machine code when only
that other module changes: after a ``git pull`` that changed an indicator's convention, the GA went on computing
the old values, silently. :func:`drop_stale` runs once per import of quantray: when the source of any module that
defines numba kernels differs from the last time, every numba cache file of the package is deleted, so everything
recompiles from the current sources. An installed wheel is unaffected (an upgrade rewrites every source file, whose
new timestamps invalidate numba's index anyway); a checkout that is edited or pulled is the case this covers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent
_STAMP = "quantray-kernels.json"


def _stats(root: Path, sources: list[Path]) -> list[list[object]]:
    out: list[list[object]] = []
    for p in sources:
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append([str(p.relative_to(root)), st.st_mtime_ns, st.st_size])
    return out


def _kernel_sources_digest(root: Path, sources: list[Path]) -> str:
    """sha256 over the sources of the modules that define numba kernels (those that mention ``njit``)."""
    h = hashlib.sha256()
    for p in sources:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        if b"njit" in data:
            h.update(str(p.relative_to(root)).encode() + b"\0" + data + b"\0")
    return h.hexdigest()


def _cache_dirs(sources: list[Path]) -> list[Path]:
    """Where numba keeps the caches of these sources: each folder's ``__pycache__``, and with
    ``NUMBA_CACHE_DIR`` the folder numba names ``<folder name>_<sha1 of its absolute path>`` there."""
    out = []
    for d in sorted({p.parent for p in sources}):
        out.append(d / "__pycache__")
        if os.environ.get("NUMBA_CACHE_DIR"):
            sub = os.path.abspath(d)
            name = f"{os.path.basename(sub)}_{hashlib.sha1(sub.encode()).hexdigest()}"
            out.append(Path(os.environ["NUMBA_CACHE_DIR"]) / name)
    return out


def drop_stale(root: Path = _ROOT) -> bool:
    """Delete the package's numba cache files if a kernel module changed since the last check; True if it did.

    Cheap when nothing changed (one ``stat`` per source file, compared with the stamp); the sources are read only
    when a file's timestamp or size moved. Never raises: a read-only install is left as it is.
    """
    stamp_path = root / "__pycache__" / _STAMP
    try:
        sources = sorted(root.rglob("*.py"))
        stats = _stats(root, sources)
        try:
            stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stamp = {}
        if stamp.get("stats") == stats:
            return False
        digest = _kernel_sources_digest(root, sources)
        dropped = False
        if stamp.get("digest") != digest:  # no stamp yet: caches of unknown provenance are dropped too
            for cache in _cache_dirs(sources):
                for f in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
                    with contextlib.suppress(OSError):
                        f.unlink()
                        dropped = True
        stamp_path.parent.mkdir(exist_ok=True)
        tmp = stamp_path.with_name(f".{_STAMP}.{os.getpid()}")
        tmp.write_text(json.dumps({"digest": digest, "stats": stats}), encoding="utf-8")
        os.replace(tmp, stamp_path)
        return dropped
    except OSError:
        return False
