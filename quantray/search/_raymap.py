"""A batched ``map`` for DEAP's toolbox: items cut into batches, each batch one task; a large shared input (the
bars) is put into the object store once per map object, not once per task.

It only schedules: the function it maps is plain library code ``fn(shared, batch) -> list`` that also runs
without Ray (``backend="local"``). Connecting goes through :func:`quantray.dist.connect`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from quantray.errors import ConfigError

_REMOTE: Any = None


def _remote() -> Any:
    global _REMOTE
    if _REMOTE is None:
        import ray

        @ray.remote(max_retries=3)
        def run_batch(
            fn: Callable[[Any, Sequence[Any]], list[Any]], shared: Any, batch: Sequence[Any]
        ) -> list[Any]:
            return fn(shared, batch)

        _REMOTE = run_batch
    return _REMOTE


class BatchedMap:
    """``map(fn, items)`` with ``fn(shared, batch)`` evaluated per batch of ``batch_size`` items, in order.

    Args:
        shared: read-only input every batch needs (put into Ray's object store once).
        batch_size: items per task (DESIGN.md: each task should do >= 50 ms of work).
        backend: ``"ray"`` (tasks on the connected cluster) or ``"local"`` (in this process).
        num_cpus: CPUs each Ray task declares (numba kernels inside use them in parallel).

    Example:
        >>> m = BatchedMap(10, batch_size=2, backend="local")
        >>> m(lambda shared, batch: [shared + x for x in batch], [1, 2, 3])
        [11, 12, 13]
    """

    def __init__(
        self, shared: Any, *, batch_size: int = 16, backend: str = "ray", num_cpus: float = 1.0
    ) -> None:
        if backend not in ("ray", "local"):
            raise ConfigError(f"`backend` must be 'ray' or 'local', got {backend!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"`batch_size` must be an integer >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.backend = backend
        self.num_cpus = num_cpus
        self.tasks = 0
        self._shared = shared
        self._ref: Any = None
        if backend == "ray":
            import ray

            from quantray.dist import connect

            connect()
            self._ref = ray.put(shared)

    def __call__(self, fn: Callable[[Any, Sequence[Any]], list[Any]], items: Sequence[Any]) -> list[Any]:
        items = list(items)
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        self.tasks += len(batches)
        if self.backend == "local":
            parts = [fn(self._shared, b) for b in batches]
        else:
            import ray

            task = _remote().options(num_cpus=self.num_cpus)
            parts = ray.get([task.remote(fn, self._ref, b) for b in batches])
        return [x for part in parts for x in part]


_HOST: Any = None
_HOSTS: list[Any] = []
_HOSTS_SESSION: str | None = None


def _host_class() -> Any:
    global _HOST
    if _HOST is None:
        import ray

        @ray.remote(num_cpus=0, scheduling_strategy="SPREAD")
        class Host:
            """A long-lived worker process holding one library object at a time (e.g. an evaluator with its
            data and cache). Reused by later pools of this driver, so its start (a process, imports, numba
            kernels loaded) is paid once per session, as for Ray's pooled task workers."""

            def __init__(self) -> None:
                self.obj: Any = None

            def load(self, factory: Callable[..., Any], shared: list[Any], kwargs: dict[str, Any]) -> bool:
                self.obj = None  # free the previous object first
                self.obj = factory(ray.get(shared[0]), **kwargs)  # shared = [ObjectRef]
                return True

            def unload(self) -> bool:
                self.obj = None
                return True

            def call(self, method: str, *args: Any) -> Any:
                return getattr(self.obj, method)(*args)

        _HOST = Host
    return _HOST


def _session() -> str:
    import ray

    ctx = ray.get_runtime_context()
    return f"{ctx.gcs_address}/{ctx.get_job_id()}"


def _hosts(n: int, *, fresh: bool = False) -> list[Any]:
    """``n`` host actors of this driver's Ray session, started on first use and kept for later pools."""
    global _HOSTS_SESSION
    import ray

    session = _session()
    if fresh or session != _HOSTS_SESSION:
        for h in _HOSTS:
            with contextlib.suppress(Exception):
                ray.kill(h)
        _HOSTS.clear()
        _HOSTS_SESSION = session
    while len(_HOSTS) < n:
        _HOSTS.append(_host_class().remote())
    return _HOSTS[:n]


class HostPool:
    """``n`` long-lived objects ``factory(shared, **kwargs)``: on Ray, one per host actor (``shared`` put into
    the object store once; the actors are reused by later pools of this driver and hold nothing between
    them; ``fresh=True`` starts new ones); locally, objects in this process. :meth:`submit` calls a method on one of them and returns a
    handle for :meth:`gather`; the objects are plain library code that also runs without Ray.

    The host actors reserve no CPU (``num_cpus=0``): a pool is sized by its caller (e.g. to the cluster's
    CPUs) and only works while a caller waits on it, so idle hosts never block other Ray work.

    Example:
        >>> pool = HostPool(lambda shared, k: [shared, k], 10, n=2, backend="local", kwargs={"k": 1})
        >>> pool.gather([pool.submit(1, "__len__")])
        [2]
        >>> pool.close()
    """

    def __init__(
        self,
        factory: Callable[..., Any],
        shared: Any,
        *,
        n: int,
        backend: str = "ray",
        kwargs: dict[str, Any] | None = None,
        fresh: bool = False,
    ) -> None:
        if backend not in ("ray", "local"):
            raise ConfigError(f"`backend` must be 'ray' or 'local', got {backend!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"`n` (hosts) must be an integer >= 1, got {n!r}")
        self.backend = backend
        self.n = n
        self.calls = 0
        self._ref: Any = None
        kw = dict(kwargs or {})
        if backend == "local":
            self._objs: list[Any] = [factory(shared, **kw) for _ in range(n)]
            return
        import ray

        from quantray.dist import connect

        connect()
        self._ref = ray.put(shared)  # held for the pool's lifetime
        for attempt in (0, 1):
            self._objs = _hosts(n, fresh=fresh or attempt == 1)
            try:
                ray.get([h.load.remote(factory, [self._ref], kw) for h in self._objs])
                break
            except ray.exceptions.RayActorError:
                if attempt == 1:
                    raise

    def submit(self, i: int, method: str, *args: Any) -> Any:
        """Call ``method(*args)`` on object ``i`` (asynchronously on Ray; locally it runs now)."""
        self.calls += 1
        if self.backend == "local":
            return getattr(self._objs[i], method)(*args)
        return self._objs[i].call.remote(method, *args)

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        """The results of :meth:`submit` calls, in order."""
        if self.backend == "local":
            return list(handles)
        import ray

        return list(ray.get(list(handles)))

    def wait_one(self, handles: Sequence[Any]) -> int:
        """The position in ``handles`` of one that is done (locally: the first)."""
        if self.backend == "local":
            return 0
        import ray

        ready, _ = ray.wait(list(handles), num_returns=1)
        return next(i for i, h in enumerate(handles) if h == ready[0])

    def close(self) -> None:
        """Drop the objects (the host actors stay, empty, for later pools)."""
        if self.backend == "ray" and self._objs:
            import ray

            with contextlib.suppress(ray.exceptions.RayError):
                ray.get([h.unload.remote() for h in self._objs])
        self._objs = []
        self._ref = None
