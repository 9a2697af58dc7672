"""Backtest jobs on Ray: a named actor owns the tasks, so any replica can answer status and result.

``submit(request)`` returns a job id at once; the backtest runs as a Ray task (``num_cpus=1``, retried once if a
worker dies); ``status(job_id)`` says ``running``, ``done`` or ``failed`` (with the error), ``result(job_id)`` gives
the ranked rows. Jobs are kept in the actor's memory (the last ``MAX_JOBS``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import ray

__all__ = ["JOBS_ACTOR", "job_registry", "run_backtest_job"]

JOBS_ACTOR = "quantray_backtest_jobs"
NAMESPACE = "quantray_serve"
MAX_JOBS = 1000


def run_backtest_job(request: dict[str, Any], data_path: str) -> dict[str, Any]:
    """Run one backtest request (the body of ``POST /v1/backtests``) and return the response dict."""
    from serve._backtest import backtest_response

    return backtest_response(request, data_path)


@ray.remote(num_cpus=0, max_restarts=-1)
class JobRegistry:
    """Owns the backtest tasks and their references."""

    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}

    def submit(self, request: dict[str, Any], data_path: str) -> str:
        job_id = uuid.uuid4().hex
        task = ray.remote(num_cpus=1, max_retries=1)(run_backtest_job)
        ref = task.remote(request, data_path)
        self._jobs[job_id] = {"ref": ref, "submitted": time.time(), "finished": None}
        while len(self._jobs) > MAX_JOBS:
            self._jobs.pop(next(iter(self._jobs)))
        return job_id

    def _settle(self, job: dict[str, Any]) -> tuple[str, Any, str | None]:
        ready, _ = ray.wait([job["ref"]], timeout=0)
        if not ready:
            return "running", None, None
        job["finished"] = job["finished"] or time.time()
        try:
            return "done", ray.get(job["ref"]), None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            return "failed", None, str(cause).strip().splitlines()[-1][:500]
        except Exception as exc:  # worker died twice, object lost, ...
            return "failed", None, f"{type(exc).__name__}: {exc}"[:500]

    def status(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        state, _, error = self._settle(job)
        return {
            "job_id": job_id,
            "status": state,
            "submitted": job["submitted"],
            "finished": job["finished"],
            "error": error,
        }

    def result(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        state, value, error = self._settle(job)
        return {"job_id": job_id, "status": state, "error": error, "result": value}


def job_registry() -> Any:
    """The registry actor (created on first use, detached so that it outlives any one replica)."""
    return JobRegistry.options(  # type: ignore[attr-defined]
        name=JOBS_ACTOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote()
