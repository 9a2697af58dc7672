"""Connecting to Ray: an embedded local cluster by default, ``RAY_ADDRESS`` / ``address=`` for a real one.

This module and its siblings are the only code in quantray that imports Ray (DESIGN.md §3 "Ray").
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from quantray.errors import ConfigError

log = logging.getLogger("quantray.dist")

DEFAULT_OBJECT_STORE_MB = 300


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """What :func:`connect` connected to.

    Attributes:
        address: the cluster address (``"local"`` for the embedded cluster).
        embedded: True when quantray started the cluster itself (and will stop it in :func:`shutdown`).
        num_cpus: CPUs the cluster reports.
        nodes: alive nodes.
    """

    address: str
    embedded: bool
    num_cpus: int
    nodes: int


_STARTED_HERE = False


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a core dependency
        raise ConfigError("Ray is not installed: pip install 'ray[tune]'") from exc
    return ray


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_memory_mb: int | None = None,
    temp_dir: str | None = None,
    namespace: str = "quantray",
) -> ClusterInfo:
    """Connect to Ray once per process and return what it connected to.

    ``address`` (or ``RAY_ADDRESS``, which ``ray job submit`` sets) attaches to an existing cluster. Without
    one, an embedded single-node cluster is started with ``address="local"`` (never attaching to a stray
    cluster recorded in /tmp/ray), no dashboard, a small object store (300 MB unless given) and a short
    private temp dir, as DESIGN.md §5 asks for shared machines. ``RAY_AUTH_MODE`` is set to ``disabled`` for
    that private cluster unless the environment already says otherwise.

    Example:
        >>> info = connect(num_cpus=1)  # doctest: +SKIP
        >>> info.embedded
        True
    """
    global _STARTED_HERE
    ray = _ray()
    if num_cpus is not None and (not isinstance(num_cpus, int) or num_cpus < 1):
        raise ConfigError(f"`num_cpus` must be a positive integer, got {num_cpus!r}")
    if ray.is_initialized():
        return _info(ray, address or os.environ.get("RAY_ADDRESS") or "local", _STARTED_HERE)
    target = address or os.environ.get("RAY_ADDRESS")
    if target and target != "local":
        try:
            ray.init(address=target, namespace=namespace, log_to_driver=True)
        except Exception as exc:  # connection problems are user errors: say where we tried
            raise ConfigError(f"cannot connect to Ray at address={target!r}: {exc}") from exc
        _STARTED_HERE = False
        return _info(ray, target, False)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    store = int(object_store_memory_mb or DEFAULT_OBJECT_STORE_MB) * 1024 * 1024
    tmp = temp_dir or tempfile.mkdtemp(prefix="qr-", dir="/tmp")
    ray.init(
        address="local",
        num_cpus=num_cpus or os.cpu_count() or 1,
        object_store_memory=store,
        include_dashboard=False,
        namespace=namespace,
        _temp_dir=tmp,
        log_to_driver=True,
        configure_logging=False,
    )
    _STARTED_HERE = True
    log.info("started an embedded local Ray cluster (temp dir %s)", tmp)
    return _info(ray, "local", True)


def _info(ray: Any, address: str, embedded: bool) -> ClusterInfo:
    res = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return ClusterInfo(address=address, embedded=embedded, num_cpus=int(res.get("CPU", 0)), nodes=len(nodes))


def shutdown() -> None:
    """Disconnect; stops the embedded cluster if this process started it (never touches other clusters)."""
    global _STARTED_HERE
    ray = _ray()
    if ray.is_initialized():
        ray.shutdown()
    _STARTED_HERE = False


def is_connected() -> bool:
    """Whether this process is connected to Ray."""
    return bool(_ray().is_initialized())
