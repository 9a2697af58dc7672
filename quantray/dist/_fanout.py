"""Fan a library function out over chunks on Ray: shared inputs put once, bounded in-flight tasks, retries,
per-chunk failure isolation, results streamed to a callback (a checkpointing sink) and a progress line.

The function fanned out is plain library code ``fn(*shared, payload) -> result`` that also runs without Ray
(DESIGN.md §4.2); this module only schedules it.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quantray.dist._connect import connect

log = logging.getLogger("quantray.dist")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One unit of work: an id (stable across reruns, the checkpoint key), a payload and an estimated cost."""

    id: int
    payload: Any
    cost: float = 1.0
    label: str = ""


@dataclass(frozen=True, slots=True)
class ChunkFailure:
    """A chunk that failed after its retries: which one, what it held and why."""

    chunk_id: int
    label: str
    error: str


@dataclass(slots=True)
class FanOutReport:
    """What a fan-out did."""

    completed: int = 0
    skipped: int = 0
    failures: list[ChunkFailure] = field(default_factory=list)
    elapsed_s: float = 0.0
    shared_bytes: int = 0
    tasks_submitted: int = 0


class ProgressLine:
    """A one-line progress report with rate and ETA on stderr (throttled; a final line always)."""

    def __init__(self, total: int, desc: str, *, stream: Any = None, every_s: float = 0.5) -> None:
        self.total = total
        self.desc = desc
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.t0 = time.monotonic()
        self.last = 0.0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s and done < self.total:
            return
        self.last = now
        el = now - self.t0
        rate = done / el if el > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float("nan")
        pct = 100.0 * done / self.total if self.total else 100.0
        eta_s = "--:--" if eta != eta else f"{int(eta) // 60:02d}:{int(eta) % 60:02d}"
        msg = f"{self.desc}: {done}/{self.total} chunks ({pct:5.1f}%) elapsed {el:6.1f}s ETA {eta_s}"
        if self.tty:
            print("\r" + msg, end="\n" if done >= self.total else "", file=self.stream, flush=True)
        else:
            print(msg, file=self.stream, flush=True)


def _remote_runner() -> Any:
    import ray

    @ray.remote
    def run_chunk(fn: Callable[..., Any], chunk_id: int, payload: Any, *shared: Any) -> tuple[int, Any]:
        # Respect the CPUs Ray assigned to this task for numba's parallel kernels.
        try:
            import numba

            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
            numba.set_num_threads(max(1, min(int(cpus), numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - threading is an optimisation, never a failure
            pass
        return chunk_id, fn(*shared, payload)

    return run_chunk


def fan_out(
    fn: Callable[..., Any],
    chunks: Iterable[Chunk],
    *,
    shared: Sequence[Any] = (),
    on_result: Callable[[Chunk, Any], None] | None = None,
    skip: set[int] | None = None,
    num_cpus: float = 1.0,
    max_retries: int = 3,
    max_in_flight: int | None = None,
    progress: bool = True,
    desc: str = "tasks",
    address: str | None = None,
) -> FanOutReport:
    """Run ``fn(*shared, chunk.payload)`` for every chunk on Ray.

    Args:
        fn: a picklable library function.
        chunks: the work; chunk ids in ``skip`` (already checkpointed) are not run.
        shared: large read-only inputs (e.g. the Panel) put into the object store ONCE and passed by
            reference to every task (zero-copy numpy on a node).
        on_result: called on the driver as each chunk completes (in completion order), e.g. a sink write.
        num_cpus: CPUs each task declares (numba kernels inside use that many threads).
        max_retries: Ray re-runs a task whose worker died (killed, OOM) up to this many times; an exception
            raised by ``fn`` itself is not retried and is recorded as a :class:`ChunkFailure`.
        max_in_flight: tasks submitted at once (default 2 x cluster CPUs / num_cpus); bounds memory.
        progress: print a progress line with ETA on stderr.
        address: Ray address (see :func:`quantray.dist.connect`).

    Returns:
        A :class:`FanOutReport`; the other chunks finish and are kept when some fail.
    """
    import ray

    info = connect(address)
    todo = [c for c in chunks if not skip or c.id not in skip]
    report = FanOutReport(skipped=0)
    report.skipped = len(skip or ())
    t0 = time.monotonic()
    refs = [ray.put(obj) for obj in shared]
    report.shared_bytes = int(sum(_nbytes(obj) for obj in shared))
    runner = _remote_runner().options(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)
    limit = max_in_flight or max(2, int(2 * max(info.num_cpus, 1) / max(num_cpus, 1e-9)))
    bar = ProgressLine(len(todo), desc) if progress else None
    pending: dict[Any, Chunk] = {}
    queue = list(reversed(todo))
    done = 0
    while queue or pending:
        while queue and len(pending) < limit:
            ch = queue.pop()
            pending[runner.remote(fn, ch.id, ch.payload, *refs)] = ch
            report.tasks_submitted += 1
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            ch = pending.pop(ref)
            try:
                _, result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - isolate the failing chunk, keep the rest
                cause = getattr(exc, "cause", None) or exc
                msg = f"{type(cause).__name__}: {cause}".splitlines()[0]
                report.failures.append(ChunkFailure(ch.id, ch.label, msg))
                log.error("chunk %d (%s) failed: %s", ch.id, ch.label, msg)
                log.debug("%s", traceback.format_exc())
            else:
                if on_result is not None:
                    on_result(ch, result)
                report.completed += 1
            done += 1
            if bar is not None:
                bar.update(done)
    if bar is not None and not todo:
        bar.update(0, force=True)
    report.elapsed_s = time.monotonic() - t0
    return report


def _nbytes(obj: Any) -> int:
    n = getattr(obj, "nbytes", None)
    if isinstance(n, int):
        return n
    try:
        import pickle

        return len(pickle.dumps(obj, protocol=5))
    except Exception:  # noqa: BLE001
        return 0


def ray_map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    *,
    num_cpus: float = 1.0,
    max_retries: int = 3,
    progress: bool = True,
    desc: str = "tasks",
    address: str | None = None,
) -> list[Any]:
    """``list(map(fn, items))`` on Ray, results in input order; raises if any item failed.

    This is the ``mapper`` the research functions accept (walk-forward windows, Monte Carlo path batches).
    """
    from quantray.errors import QuantrayError

    todo = list(items)
    results: list[Any] = [None] * len(todo)

    def keep(ch: Chunk, res: Any) -> None:
        results[ch.id] = res

    rep = fan_out(
        fn,
        [Chunk(i, it, label=f"item {i}") for i, it in enumerate(todo)],
        on_result=keep,
        num_cpus=num_cpus,
        max_retries=max_retries,
        progress=progress,
        desc=desc,
        address=address,
    )
    if rep.failures:
        f = rep.failures[0]
        raise QuantrayError(f"{len(rep.failures)} of {len(todo)} tasks failed; first: {f.label}: {f.error}")
    return results


def ray_mapper(**options: Any) -> Callable[[Callable[[Any], Any], Iterable[Any]], list[Any]]:
    """A mapper with fixed options, e.g. ``walk_forward(..., mapper=ray_mapper(desc="walk-forward"))``."""

    def mapper(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        return ray_map(fn, items, **options)

    return mapper
