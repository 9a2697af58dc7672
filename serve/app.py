"""The quantray HTTP API: a Ray Serve application with a FastAPI ingress (DESIGN.md §3 "Serve").

Every route is under ``/v1`` and, except ``/v1/health`` and the TradingView intake, needs an API key
(``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, created with ``quantray keys create``) of the route's
scope (read < trade < admin), within its token-bucket rate limit (429 with ``Retry-After``). Bodies over the limit
answer 413; every mutating call is written to the audit log. See docs/api.md for the routes and examples.

``app`` is the bound application for ``serve run serve.app:app`` / ``serve build serve.app:app``; ``api`` is the
plain FastAPI app (the same routes, served by uvicorn directly in benchmarks/w8_serve.py and the TLS test);
``openapi_document()`` is the OpenAPI document committed as ``serve/openapi.json``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from ray import serve

import quantray
from quantray.errors import QuantrayError
from quantray.reports.tradingview import AlertPayloadError, parse_tradingview_alert
from quantray.security import ApiKey
from quantray.strategies import list_strategies
from quantray.webhooks import SubscriptionStore
from serve._backtest import check_limits
from serve._guard import TV_PATH, GuardMiddleware, require, unauthorized
from serve._models import (
    MAX_COMBOS,
    MAX_JOB_COMBOS,
    MAX_JOB_SYMBOLS,
    MAX_SYMBOLS,
    AlertAccepted,
    AlertsResponse,
    AuditResponse,
    BacktestJob,
    BacktestJobResult,
    BacktestRequest,
    BacktestResponse,
    ErrorResponse,
    HealthResponse,
    ModelInfo,
    ModelsResponse,
    ParamInfo,
    PortfolioSnapshot,
    ReportTopResponse,
    SignalHistoryResponse,
    SignalsResponse,
    StrategiesResponse,
    StrategyInfo,
    UnprocessableResponse,
    WebhookCreate,
    WebhookCreated,
    WebhookInfo,
    WhoAmI,
)
from serve._runtime import runtime

__all__ = [
    "MAX_COMBOS",
    "MAX_SYMBOLS",
    "BacktestRequest",
    "BacktestResponse",
    "HealthResponse",
    "Ingress",
    "StrategyInfo",
    "api",
    "app",
    "build_app",
    "openapi_document",
]

ReadKey = Annotated[ApiKey, Depends(require("read"))]
TradeKey = Annotated[ApiKey, Depends(require("trade"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    403: {"model": ErrorResponse},
    429: {"model": ErrorResponse},
}
_AUTH_422: dict[int | str, dict[str, Any]] = {**_AUTH, 422: {"model": UnprocessableResponse}}
_SYMBOL = Path(..., min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._:/-]+$")
_PORTFOLIO = Query(
    None,
    max_length=64,
    pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
    description="default: the server's portfolio",
)
_STRATEGY = Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


def _cors_origins() -> list[str]:
    """Allowed CORS origins, read once at start-up (env or serve.json; no state directory is created)."""
    from quantray.security import quantray_home
    from serve._settings import _build, _env_settings

    home = quantray_home(create=False)
    try:
        raw = json.loads((home / "serve.json").read_text()) if (home / "serve.json").is_file() else {}
        return list(_build(home, {**_env_settings(), **raw}).cors_origins)
    except (QuantrayError, ValueError, TypeError):
        return []


api = FastAPI(
    title="quantray",
    version=quantray.__version__,
    description=(
        "quantray API: signals, strategies, backtests (synchronous and as Ray jobs), reports, TradingView alert "
        "intake and outgoing webhooks. Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    ),
)
api.add_middleware(GuardMiddleware)
api.add_middleware(
    CORSMiddleware,
    allow_origins=_cors_origins(),
    allow_methods=["GET", "POST", "DELETE"],
    allow_headers=["Authorization", "X-API-Key", "Content-Type"],
    max_age=600,
)


@api.exception_handler(QuantrayError)
async def _quantray_error(_request: Request, exc: QuantrayError) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": str(exc)})


def _strategy_infos() -> list[StrategyInfo]:
    return [
        StrategyInfo(
            name=s.name,
            description=s.description,
            params={
                k: ParamInfo(kind=p.kind, low=p.low, high=p.high, default=p.default, step=p.step, doc=p.doc)
                for k, p in s.params.items()
            },
        )
        for s in list_strategies()
    ]


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
    rt = runtime()
    if rt.live(cached_only=True) is not None:
        from serve._signals import live_history

        hist = live_history(symbol, strategy, limit)
        if hist is not None:
            return "live", hist
    return "bars", rt.book().history(symbol, strategy, limit=limit)


def top_rows(n: int, metric: str, portfolio: str | None = None) -> list[dict[str, Any]] | None:
    from serve._signals import load_report

    s = runtime().settings()
    report = load_report(s.reports_dir, portfolio or s.portfolio)
    if report is None:
        return None
    rows = report.get_top_performers(n, metric=metric)
    return [
        {
            "symbol": r.symbol,
            "strategy": r.strategy,
            "params": dict(r.params),
            "timeframe": getattr(r, "timeframe", None),
            "exchange": getattr(r, "exchange", None),
            "sector": getattr(r, "sector", None),
            "metrics": dict(r.metrics),
        }
        for r in rows
    ]


def _json_safe(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str, allow_nan=False)) if x is not None else None


def _dispatch(event: str, payloads: list[dict[str, Any]], alert_id: str | None = None) -> None:
    """Hand webhook deliveries to Ray (fire and forget; retries and dead letters happen in the task)."""
    from serve._tasks import deliver_events

    deliver_events.remote(runtime().home, event, payloads, alert_id)


# ------------------------------------------------------------------------------------------------- routes
@api.get("/v1/health", response_model=HealthResponse, tags=["meta"])
async def health() -> HealthResponse:
    """Liveness (no key needed)."""
    return HealthResponse(version=quantray.__version__, strategies=len(list_strategies()))


@api.get("/v1/whoami", response_model=WhoAmI, responses=_AUTH, tags=["meta"])
async def whoami(key: ReadKey) -> WhoAmI:
    """The key this request was made with."""
    return WhoAmI(key_id=key.key_id, name=key.name, scope=key.scope)  # type: ignore[arg-type]


@api.get("/v1/strategies", response_model=StrategiesResponse, responses=_AUTH, tags=["strategies"])
async def strategies(_key: ReadKey) -> StrategiesResponse:
    return StrategiesResponse(strategies=_strategy_infos())


@api.get("/v1/signals", response_model=SignalsResponse, responses=_AUTH_422, tags=["signals"])
async def signals(
    _key: ReadKey,
    symbol: str | None = Query(None, max_length=32),
    strategy: str | None = Query(None, max_length=64),
) -> SignalsResponse:
    """Latest signals (target positions), from the live graph when one runs, else computed from bars."""
    await runtime().live_async()
    as_of, source, universe, rows = current_signals(symbol, strategy)
    return SignalsResponse.model_validate(
        {"as_of": as_of, "source": source, "universe": universe, "signals": rows}
    )


@api.get(
    "/v1/signals/{symbol}/{strategy}",
    response_model=SignalsResponse,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["signals"],
)
async def signal(_key: ReadKey, symbol: str = _SYMBOL, strategy: str = _STRATEGY) -> Any:
    """The latest signal of one (symbol, strategy)."""
    await runtime().live_async()
    as_of, source, universe, rows = current_signals(symbol, strategy)
    if not rows:
        raise HTTPException(404, f"no signal for symbol {symbol!r} and strategy {strategy!r}")
    return {"as_of": as_of, "source": source, "universe": universe, "signals": rows}


@api.get(
    "/v1/signals/{symbol}/{strategy}/history",
    response_model=SignalHistoryResponse,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["signals"],
)
async def signal_history_route(
    _key: ReadKey, symbol: str = _SYMBOL, strategy: str = _STRATEGY, limit: int = Query(100, ge=1, le=10_000)
) -> SignalHistoryResponse:
    """Position changes of one (symbol, strategy), oldest first (the last ``limit``)."""
    await runtime().live_async()
    source, hist = await asyncio.to_thread(signal_history, symbol, strategy, limit)
    if hist is None:
        raise HTTPException(404, f"no signal for symbol {symbol!r} and strategy {strategy!r}")
    return SignalHistoryResponse.model_validate(
        {"symbol": symbol, "strategy": strategy, "source": source, "history": hist}
    )


@api.post("/v1/signals/refresh", response_model=SignalsResponse, responses=_AUTH, tags=["signals"])
async def refresh_signals(_key: AdminKey, request: Request) -> SignalsResponse:
    """Recompute the bar signals now; changed positions are sent to ``signal`` webhook subscribers.
    Returns the signals that changed."""
    rt = runtime()
    book = rt.book()
    changed = await asyncio.to_thread(book.refresh, rt.settings())
    request.state.audit_detail = f"{len(changed)} changed"
    if changed:
        _dispatch("signal", changed)
    return SignalsResponse.model_validate(
        {"as_of": book.as_of, "source": "bars", "universe": book.universe, "signals": changed}
    )


@api.get(
    "/v1/portfolio",
    response_model=PortfolioSnapshot,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["signals"],
)
async def portfolio(_key: ReadKey) -> PortfolioSnapshot:
    """P&L and positions of the live graph (404 when no live graph runs)."""
    snap = await runtime().live_async()
    if snap is None:
        raise HTTPException(404, "no live graph is running")
    return PortfolioSnapshot.model_validate(
        {
            "as_of": _json_safe(snap.get("as_of")),
            "pnl": snap.get("pnl") or {},
            "positions": snap.get("positions") or [],
        }
    )


@api.get(
    "/v1/reports/latest/top",
    response_model=ReportTopResponse,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["reports"],
)
async def report_top(
    _key: ReadKey,
    n: int = Query(10, ge=1, le=1000),
    metric: str = Query("sharpe", max_length=32, pattern=r"^[a-z_]+$"),
    portfolio: str | None = _PORTFOLIO,
) -> ReportTopResponse:
    """Top performers of the latest quarterly report (404 "no report" when there is none)."""
    rows = await asyncio.to_thread(top_rows, n, metric, portfolio)
    if rows is None:
        raise HTTPException(404, "no report")
    name = portfolio or runtime().settings().portfolio
    return ReportTopResponse(portfolio=name, metric=metric, rows=_json_safe(rows))


@api.get("/v1/reports/latest", responses={**_AUTH, 404: {"model": ErrorResponse}}, tags=["reports"])
async def report_latest(_key: ReadKey, portfolio: str | None = _PORTFOLIO) -> Any:
    """The latest quarterly report as JSON (``QuarterlyReport.to_dict()``)."""
    from serve._signals import load_report

    s = runtime().settings()
    report = await asyncio.to_thread(load_report, s.reports_dir, portfolio or s.portfolio)
    if report is None:
        raise HTTPException(404, "no report")
    return _json_safe(report.to_dict())


_MODEL_NAME = Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _models() -> dict[str, ModelInfo]:
    """Registered models: every ``$QUANTRAY_HOME/models/*.json`` that parses as a :class:`ModelInfo`."""
    import pathlib

    folder = pathlib.Path(runtime().home) / "models"
    out: dict[str, ModelInfo] = {}
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = ModelInfo.model_validate_json(f.read_text())
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not a model
        out[info.name] = info
    return out


@api.get("/v1/models", response_model=ModelsResponse, responses=_AUTH, tags=["models"])
async def models(_key: ReadKey) -> ModelsResponse:
    """Models registered for serving (metadata; predictions come with the ML work)."""
    found = await asyncio.to_thread(_models)
    return ModelsResponse(models=list(found.values()))


@api.get(
    "/v1/models/{name}",
    response_model=ModelInfo,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["models"],
)
async def model(_key: ReadKey, name: str = _MODEL_NAME) -> ModelInfo:
    found = await asyncio.to_thread(_models)
    if name not in found:
        raise HTTPException(404, f"no model {name!r}; registered: {sorted(found)}")
    return found[name]


@api.post(
    "/v1/backtest",
    response_model=BacktestResponse,
    responses={**_AUTH_422, 413: {"model": ErrorResponse}},
    tags=["backtests"],
)
async def backtest(_key: ReadKey, req: BacktestRequest) -> Any:
    """A small synchronous backtest (at most 50 symbols and 1,000 grid combinations; else 413: use jobs).

    It runs as a Ray task (awaited), so the CPU-bound work never occupies the ingress replica."""
    check_limits(req, max_symbols=MAX_SYMBOLS, max_combos=MAX_COMBOS)
    data_path = runtime().settings().data_path(req.data)
    import ray

    from serve._tasks import run_backtest_now

    try:
        return await run_backtest_now.remote(req.model_dump(), data_path)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, QuantrayError | HTTPException):
            raise cause from None
        raise


@api.post(
    "/v1/backtests",
    response_model=BacktestJob,
    status_code=202,
    responses={**_AUTH_422, 413: {"model": ErrorResponse}},
    tags=["backtests"],
)
def submit_backtest(_key: TradeKey, req: BacktestRequest, request: Request) -> Any:
    """Submit a backtest as a Ray job (up to 1,000 symbols and 20,000 combinations); poll its status."""
    import ray

    from serve._jobs import job_registry

    check_limits(req, max_symbols=MAX_JOB_SYMBOLS, max_combos=MAX_JOB_COMBOS)
    from quantray.strategies import get_strategy

    get_strategy(req.strategy)  # unknown strategy: 422 now rather than a failed job later
    data_path = runtime().settings().data_path(req.data)
    registry = job_registry()
    job_id = ray.get(registry.submit.remote(req.model_dump(), data_path))
    request.state.audit_target = f"job:{job_id}"
    return ray.get(registry.status.remote(job_id))


@api.get(
    "/v1/backtests/{job_id}",
    response_model=BacktestJob,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["backtests"],
)
def backtest_status(_key: ReadKey, job_id: str = Path(..., pattern=r"^[0-9a-f]{32}$")) -> Any:
    import ray

    from serve._jobs import job_registry

    status = ray.get(job_registry().status.remote(job_id))
    if status is None:
        raise HTTPException(404, f"no backtest job {job_id!r}")
    return status


@api.get(
    "/v1/backtests/{job_id}/result",
    response_model=BacktestJobResult,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["backtests"],
)
def backtest_result(_key: ReadKey, job_id: str = Path(..., pattern=r"^[0-9a-f]{32}$")) -> Any:
    """The job's result once ``status`` is ``done`` (``result`` is null while it runs or when it failed)."""
    import ray

    from serve._jobs import job_registry

    res = ray.get(job_registry().result.remote(job_id))
    if res is None:
        raise HTTPException(404, f"no backtest job {job_id!r}")
    return res


_TV_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@api.post(
    TV_PATH,
    response_model=AlertAccepted,
    status_code=202,
    responses={
        200: {"model": AlertAccepted, "description": "a duplicate delivery (already accepted)"},
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        429: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    openapi_extra=_TV_BODY,
    tags=["tradingview"],
)
async def tradingview_webhook(request: Request) -> Any:
    """TradingView alert intake: a JSON or text body carrying the shared secret (TradingView cannot sign).
    Answers at once; the work (webhook fan-out) is handed to Ray. A duplicate delivery answers 200."""
    rt = runtime()
    s = rt.settings()
    client = request.client.host if request.client else ""
    if s.tradingview_allow_ips is not None and client not in s.tradingview_allow_ips:
        request.state.audit_detail = "source address not allowed"
        raise HTTPException(403, "forbidden")
    ok, retry_after = rt.limiter.check(f"ip:{client}")
    if not ok:
        raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(retry_after)})
    if not s.tradingview_secret:
        raise HTTPException(503, "TradingView intake is not configured on this server")
    body = await request.body()
    try:
        alert = parse_tradingview_alert(body)
    except AlertPayloadError as exc:
        request.state.audit_detail = "bad payload"
        code = 413 if "over the limit" in str(exc) else 400
        raise HTTPException(code, str(exc)) from None
    request.state.audit_target = f"{alert.ticker}/{alert.strategy}"
    if not alert.secret_matches(s.tradingview_secret):
        request.state.audit_detail = "wrong secret"
        raise unauthorized()
    alert_id = alert.idempotency_key()
    payload = {"id": alert_id, **alert.to_dict()}
    if not await asyncio.to_thread(rt.alerts.insert, alert_id, payload):
        request.state.audit_detail = f"duplicate {alert_id}"
        return JSONResponse(status_code=200, content={"status": "duplicate", "id": alert_id})
    request.state.audit_detail = f"accepted {alert_id}"
    _dispatch("alert", [payload], alert_id)
    return JSONResponse(status_code=202, content={"status": "accepted", "id": alert_id})


@api.get("/v1/alerts", response_model=AlertsResponse, responses=_AUTH_422, tags=["tradingview"])
async def alerts(_key: ReadKey, limit: int = Query(100, ge=1, le=1000)) -> AlertsResponse:
    """TradingView alerts received, newest first, with their webhook deliveries once processed."""
    return AlertsResponse(alerts=await asyncio.to_thread(runtime().alerts.recent, limit))


@api.post(
    "/v1/webhooks", response_model=WebhookCreated, status_code=201, responses=_AUTH_422, tags=["webhooks"]
)
async def create_webhook(_key: AdminKey, body: WebhookCreate, request: Request) -> WebhookCreated:
    """Subscribe a URL to events; the signing secret is returned once."""
    sub = SubscriptionStore(runtime().home).add(
        url=body.url, events=body.events, description=body.description
    )
    request.state.audit_target = f"webhook:{sub.sub_id}"
    return WebhookCreated(secret=sub.secret, **sub.public())


@api.get("/v1/webhooks", response_model=list[WebhookInfo], responses=_AUTH, tags=["webhooks"])
async def list_webhooks(_key: AdminKey) -> list[WebhookInfo]:
    return [WebhookInfo(**s.public()) for s in SubscriptionStore(runtime().home).list()]


@api.delete(
    "/v1/webhooks/{sub_id}",
    status_code=204,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["webhooks"],
)
async def delete_webhook(_key: AdminKey, request: Request, sub_id: str = Path(..., max_length=64)) -> None:
    request.state.audit_target = f"webhook:{sub_id}"
    if not SubscriptionStore(runtime().home).remove(sub_id):
        raise HTTPException(404, f"no webhook {sub_id!r}")


@api.post(
    "/v1/webhooks/{sub_id}/ping",
    status_code=202,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["webhooks"],
)
async def ping_webhook(
    _key: AdminKey, request: Request, sub_id: str = Path(..., max_length=64)
) -> dict[str, str]:
    """Send a signed ``ping`` event to one subscription (through Ray, with retries)."""
    request.state.audit_target = f"webhook:{sub_id}"
    if not any(s.sub_id == sub_id for s in SubscriptionStore(runtime().home).list()):
        raise HTTPException(404, f"no webhook {sub_id!r}")
    from serve._tasks import deliver_to

    deliver_to.remote(runtime().home, sub_id, "ping", {"ping": True})
    return {"status": "queued"}


@api.get("/v1/webhooks/dead-letters", response_model=AuditResponse, responses=_AUTH_422, tags=["webhooks"])
async def dead_letters(_key: AdminKey, limit: int = Query(100, ge=1, le=1000)) -> AuditResponse:
    """Deliveries that failed every attempt, oldest first."""
    from quantray.webhooks import DeadLetters

    return AuditResponse(records=DeadLetters(runtime().home).list(limit=limit))


@api.get("/v1/audit", response_model=AuditResponse, responses=_AUTH_422, tags=["meta"])
async def audit(_key: AdminKey, limit: int = Query(100, ge=1, le=10_000)) -> AuditResponse:
    """The last ``limit`` audit records, oldest first."""
    return AuditResponse(records=await asyncio.to_thread(runtime().audit.read, limit=limit))


_GRAPHQL_INSTALLED = False


def build_app() -> FastAPI:
    """The ASGI app a replica serves: ``api`` with the GraphQL router mounted at ``/v1/graphql``.

    Serve calls this inside the replica (``serve.ingress(build_app)``), so the app is the module's own object and
    nothing of it is pickled (strawberry's schema holds objects that cannot be)."""
    global _GRAPHQL_INSTALLED
    if not _GRAPHQL_INSTALLED:
        from serve._graphql import graphql_router

        api.include_router(graphql_router(), prefix="/v1/graphql", include_in_schema=False)
        _GRAPHQL_INSTALLED = True
    return api


@serve.deployment(
    name="QuantrayAPI",
    autoscaling_config={
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 2,
    },
    max_ongoing_requests=64,
    ray_actor_options={"num_cpus": 1},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
@serve.ingress(build_app)
class Ingress:
    """FastAPI ingress bound to quantray functions; the signal cache is built before the first request."""

    def __init__(self) -> None:
        self._strategies = _strategy_infos()
        runtime().book()

    def check_health(self) -> None:
        """Serve calls this periodically; raising marks the replica unhealthy and it is replaced."""
        if not self._strategies or not list_strategies():
            raise RuntimeError("no strategies registered")
        runtime().settings()  # a broken serve.json makes the replica unhealthy, visibly


app = Ingress.bind()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the API (committed as serve/openapi.json)."""
    return api.openapi()


def openapi_json() -> str:
    """``openapi_document()`` as the exact text of serve/openapi.json."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m serve.app  → rewrite serve/openapi.json
    from pathlib import Path as _Path

    out = _Path(__file__).with_name("openapi.json")
    out.write_text(openapi_json())
    print(f"wrote {out}")
