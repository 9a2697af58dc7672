"""The Serve deployments the ingress composes: ``Signals``, ``Reports``, ``Models`` and ``Backtests``.

Each owns one concern, scales on its own (a small autoscaling config) and reports its health to Serve through
``check_health``. The ingress (serve/app.py) receives their ``DeploymentHandle`` s in its constructor and awaits
``handle.method.remote(...)``; served without handles (plain uvicorn, ``Ingress.bind()``), it calls the same
classes in-process, so every route answers the same either way.

The backends reserve no CPU (``num_cpus: 0``): they read caches and files or await Ray tasks, and the CPU-bound
work (backtests) runs in Ray tasks that reserve their own CPU; so the ingress's whole CPU still fits on a small
node next to them.

Methods return plain data (``None`` for "not found"); HTTP status codes are decided by the ingress.
"""

from __future__ import annotations

import asyncio
import json
import math
import pathlib
from typing import Any

from ray import serve

from quantray.strategies import list_strategies
from serve._models import ModelInfo
from serve._runtime import runtime

__all__ = [
    "Backtests",
    "Models",
    "Reports",
    "Signals",
    "current_signals",
    "json_safe",
    "load_models",
    "report_latest",
    "report_top",
    "signal_history",
    "top_rows",
]

_SMALL = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 8}


# ------------------------------------------------------------------------------------------ shared helpers
def current_signals(
    symbol: str | None, strategy: str | None
) -> tuple[str | None, str, str, list[dict[str, Any]]]:
    """``(as_of, source, universe, signals)`` from the live graph if one runs, else from bars."""
    rt = runtime()
    snap = rt.live(cached_only=True)
    if snap is not None and snap.get("signals") is not None:
        rows = [
            {**s, "source": "live"}
            for s in snap["signals"]
            if (symbol is None or s.get("symbol") == symbol)
            and (strategy is None or s.get("strategy") == strategy)
        ]
        return (str(snap.get("as_of")) if snap.get("as_of") is not None else None), "live", "live", rows
    book = rt.book()
    return book.as_of, "bars", book.universe, book.latest(symbol=symbol, strategy=strategy)


def signal_history(symbol: str, strategy: str, limit: int) -> tuple[str, list[dict[str, Any]] | None]:
    """``(source, history)`` of one (symbol, strategy): live when the live graph has it, else from bars."""
    rt = runtime()
    if rt.live(cached_only=True) is not None:
        from serve._signals import live_history

        hist = live_history(symbol, strategy, limit)
        if hist is not None:
            return "live", hist
    return "bars", rt.book().history(symbol, strategy, limit=limit)


def top_rows(n: int, metric: str, portfolio: str | None = None) -> list[dict[str, Any]] | None:
    """The top ``n`` rows of the latest report of ``portfolio`` by ``metric`` (None: no readable report), as
    strict JSON data (NaN metrics as None, as ``QuarterlyReport.to_dict()`` writes them)."""
    s = runtime().settings()
    return report_top(n, metric, portfolio or s.portfolio)["rows"]


def _row(r: Any) -> dict[str, Any]:
    d = r.to_dict()
    return {
        "symbol": d["symbol"],
        "strategy": d["strategy"],
        "params": d["params"],
        "timeframe": d.get("timeframe"),
        "exchange": d.get("exchange"),
        "sector": d.get("sector"),
        "metrics": d["metrics"],
    }


def report_top(n: int, metric: str, portfolio: str) -> dict[str, Any]:
    """``{portfolio, root, rows, unreadable}``: ``rows`` are the top ``n`` rows by ``metric`` of the latest report
    of ``portfolio`` under the server's reports root, or None when there is none (``unreadable``: there is one
    but it cannot be read). ``root`` is that root as an error may name it."""
    from serve._signals import read_report

    s = runtime().settings()
    report, unreadable = read_report(s.reports_dir, portfolio)
    rows = (
        None if report is None else json_safe([_row(r) for r in report.get_top_performers(n, metric=metric)])
    )
    return {"portfolio": portfolio, "root": s.reports_dir_display(), "rows": rows, "unreadable": unreadable}


def report_latest(portfolio: str) -> dict[str, Any]:
    """``{portfolio, root, report, unreadable}`` as :func:`report_top`, with the whole report
    (``QuarterlyReport.to_dict()``)."""
    from serve._signals import read_report

    s = runtime().settings()
    report, unreadable = read_report(s.reports_dir, portfolio)
    return {
        "portfolio": portfolio,
        "root": s.reports_dir_display(),
        "report": None if report is None else json_safe(report.to_dict()),
        "unreadable": unreadable,
    }


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def _plain(x: Any) -> Any:
    if hasattr(x, "item") and callable(x.item):  # numpy scalar
        try:
            return x.item()
        except (TypeError, ValueError):
            pass
    return str(x)


def json_safe(x: Any) -> Any:
    """``x`` as strict JSON data: NaN and ±inf as None (as ``QuarterlyReport.to_dict()`` stores them), numpy
    scalars as Python numbers, other unknown types as strings; None stays None.

    Example:
        >>> json_safe({"sharpe": float("nan"), "rows": [1.5, float("inf")]})
        {'sharpe': None, 'rows': [1.5, None]}
    """
    return _finite(json.loads(json.dumps(x, default=_plain))) if x is not None else None


def load_models() -> dict[str, ModelInfo]:
    """Registered models: every ``$QUANTRAY_HOME/models/*.json`` that parses as a :class:`ModelInfo`."""
    folder = pathlib.Path(runtime().home) / "models"
    out: dict[str, ModelInfo] = {}
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = ModelInfo.model_validate_json(f.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not a model
        out[info.name] = info
    return out


# ---------------------------------------------------------------------------------------------- deployments
@serve.deployment(
    name="Signals",
    autoscaling_config=_SMALL,
    max_ongoing_requests=64,
    ray_actor_options={"num_cpus": 0},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
class Signals:
    """Latest signals and their history (live snapshot when a live graph runs, else the bar signal book),
    the live P&L/positions snapshot, and refreshing the bar signals."""

    def __init__(self) -> None:
        self._reads = 0
        runtime().book()  # the signal cache is built before the first request

    async def current(self, symbol: str | None, strategy: str | None) -> dict[str, Any]:
        self._reads += 1
        await runtime().live_async()
        as_of, source, universe, rows = current_signals(symbol, strategy)
        return {"as_of": as_of, "source": source, "universe": universe, "signals": rows}

    async def history(
        self, symbol: str, strategy: str, limit: int
    ) -> tuple[str, list[dict[str, Any]] | None]:
        await runtime().live_async()
        return await asyncio.to_thread(signal_history, symbol, strategy, limit)

    async def refresh(self) -> dict[str, Any]:
        rt = runtime()
        book = rt.book()
        changed = await asyncio.to_thread(book.refresh, rt.settings())
        return {"as_of": book.as_of, "source": "bars", "universe": book.universe, "signals": changed}

    async def portfolio(self) -> dict[str, Any] | None:
        snap = await runtime().live_async()
        if snap is None:
            return None
        return {
            "as_of": json_safe(snap.get("as_of")),
            "pnl": snap.get("pnl") or {},
            "positions": snap.get("positions") or [],
        }

    def stats(self) -> dict[str, int]:
        """How many signal reads this replica answered, and its process id (to see reads arrive here)."""
        import os

        return {"reads": self._reads, "pid": os.getpid()}

    def check_health(self) -> None:
        """Raising marks the replica unhealthy (Serve replaces it): a broken serve.json or no signal book."""
        rt = runtime()
        rt.settings()
        if rt.book() is None:
            raise RuntimeError("no signal book")


@serve.deployment(
    name="Reports",
    autoscaling_config=_SMALL,
    max_ongoing_requests=32,
    ray_actor_options={"num_cpus": 0},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
class Reports:
    """The latest quarterly report of a portfolio and its top performers."""

    async def top(self, n: int, metric: str, portfolio: str | None) -> dict[str, Any]:
        """:func:`report_top` of ``portfolio`` (default: the server's)."""
        name = portfolio or runtime().settings().portfolio
        return await asyncio.to_thread(report_top, n, metric, name)

    async def latest(self, portfolio: str | None) -> dict[str, Any]:
        """:func:`report_latest` of ``portfolio`` (default: the server's)."""
        name = portfolio or runtime().settings().portfolio
        return await asyncio.to_thread(report_latest, name)

    def check_health(self) -> None:
        runtime().settings()  # a broken serve.json makes the replica unhealthy, visibly


@serve.deployment(
    name="Models",
    autoscaling_config=_SMALL,
    max_ongoing_requests=32,
    ray_actor_options={"num_cpus": 0},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
class Models:
    """Model registry metadata (``$QUANTRAY_HOME/models/*.json``); predictions come with the ML work."""

    async def registered(self) -> list[dict[str, Any]]:
        found = await asyncio.to_thread(load_models)
        return [m.model_dump() for m in found.values()]

    async def get(self, name: str) -> tuple[dict[str, Any] | None, list[str]]:
        found = await asyncio.to_thread(load_models)
        return (found[name].model_dump() if name in found else None), sorted(found)

    def check_health(self) -> None:
        runtime().settings()


@serve.deployment(
    name="Backtests",
    autoscaling_config=_SMALL,
    max_ongoing_requests=32,
    ray_actor_options={"num_cpus": 0},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
class Backtests:
    """Synchronous backtests (each one a Ray task, awaited) and backtest jobs (submission, status, result)."""

    async def run(self, request: dict[str, Any], data_path: str) -> dict[str, Any]:
        from serve._tasks import run_backtest_now

        result: dict[str, Any] = await run_backtest_now.remote(request, data_path)
        return result

    async def submit(self, request: dict[str, Any], data_path: str) -> dict[str, Any]:
        from serve._jobs import job_registry

        registry = job_registry()
        job_id = await registry.submit.remote(request, data_path)
        status: dict[str, Any] = await registry.status.remote(job_id)
        return status

    async def status(self, job_id: str) -> dict[str, Any] | None:
        from serve._jobs import job_registry

        status: dict[str, Any] | None = await job_registry().status.remote(job_id)
        return status

    async def result(self, job_id: str) -> dict[str, Any] | None:
        from serve._jobs import job_registry

        res: dict[str, Any] | None = await job_registry().result.remote(job_id)
        return res

    def check_health(self) -> None:
        if not list_strategies():
            raise RuntimeError("no strategies registered")
        runtime().settings()
