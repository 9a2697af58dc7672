"""numba caches compiled against an older source of a kernel module are dropped (numba keys its cache by the
compiled function's own file: a kernel inlining ``rsi_value`` kept the old RSI convention after only
``engine/_indicators.py`` changed)."""

from __future__ import annotations

import os
from pathlib import Path

from quantray._kernel_cache import drop_stale


def _tree(root: Path) -> Path:
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "kern.py").write_text("from numba import njit\n@njit\ndef f(x):\n    return x + 1\n")
    (root / "sub" / "plain.py").write_text("X = 1\n")
    return root / "sub" / "__pycache__" / "k.nbi"


def _touch(p: Path, text: str) -> None:
    p.write_text(text)
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later timestamp, as an edit or a pull gives


def test_caches_are_dropped_when_a_kernel_source_changes_and_only_then(tmp_path: Path) -> None:
    cache = _tree(tmp_path)
    cache.write_bytes(b"index")
    assert drop_stale(tmp_path) and not cache.exists()  # no stamp yet: caches of unknown provenance go
    cache.write_bytes(b"index")
    assert not drop_stale(tmp_path) and cache.exists()  # nothing changed
    _touch(tmp_path / "sub" / "plain.py", "X = 2\n")
    assert not drop_stale(tmp_path) and cache.exists()  # a module without kernels changed: kept
    _touch(tmp_path / "kern.py", "from numba import njit\n@njit\ndef f(x):\n    return x + 2\n")
    assert drop_stale(tmp_path) and not cache.exists()  # a kernel module changed: dropped
    cache.write_bytes(b"index")
    assert not drop_stale(tmp_path) and cache.exists()


def test_an_unwritable_package_is_left_as_it_is(tmp_path: Path) -> None:
    assert drop_stale(tmp_path / "missing") is False


def test_caches_under_numba_cache_dir_are_dropped_too(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "pkg"
    _tree(pkg)
    import hashlib

    sub = os.path.abspath(pkg / "sub")  # numba's folder for sources in pkg/sub (numba.core.caching)
    mirror = tmp_path / "nc" / f"sub_{hashlib.sha1(sub.encode()).hexdigest()}"
    mirror.mkdir(parents=True)
    (mirror / "k.nbc").write_bytes(b"code")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nc"))
    assert drop_stale(pkg) and not (mirror / "k.nbc").exists()
