"""A batched ``map`` for DEAP's toolbox: items cut into batches, each batch one task; a large shared input (the
bars) is put into the object store once per map object, not once per task.

It only schedules: the function it maps is plain library code ``fn(shared, batch) -> list`` that also runs
without Ray (``backend="local"``). Connecting goes through :func:`quantray.dist.connect`.
"""

from __future__ import annotations

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
