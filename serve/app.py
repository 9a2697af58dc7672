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
import inspect
import json
import time
from typing import Annotated, Any

import ray
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from ray import serve
from ray.serve import Application

import quantray
from quantray.errors import QuantrayError
from quantray.reports.tradingview import AlertPayloadError, parse_tradingview_alert
from quantray.security import ApiKey
from quantray.strategies import list_strategies
from quantray.webhooks import SubscriptionStore
from serve._backtest import check_limits
from serve._deployments import (
    Backtests,
    Models,
    Reports,
    Signals,
    current_signals,
    json_safe,
    signal_history,
    top_rows,
)
from serve._errors import clip, clip_value, public_detail
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
    "Backtests",
    "HealthResponse",
    "Ingress",
    "Models",
    "Reports",
    "Signals",
    "StrategyInfo",
    "api",
    "app",
    "build_app",
    "compose",
    "current_signals",
    "openapi_document",
    "signal_history",
    "top_rows",
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


def _data_sources() -> dict[str, str]:
    try:
        return runtime().settings().sources()
    except (QuantrayError, OSError, ValueError):
        return {}


@api.exception_handler(QuantrayError)
async def _quantray_error(_request: Request, exc: QuantrayError) -> JSONResponse:
    """422 with the error's one-line message: long values clipped, data sources named as clients name them."""
    return JSONResponse(status_code=422, content={"detail": public_detail(str(exc), _data_sources())})


@api.exception_handler(RequestValidationError)
async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 list, with every echoed input (and message) clipped: a 100,000-character value is not
    sent back whole."""
    errors = []
    for err in exc.errors():
        out = {k: v for k, v in err.items() if k in ("type", "loc", "msg", "input", "ctx")}
        out["msg"] = clip(str(out.get("msg", "")))
        if "input" in out:
            out["input"] = clip_value(out["input"])
        if "ctx" in out:
            out["ctx"] = {str(k): clip_value(v) for k, v in dict(out["ctx"]).items()}
        out["loc"] = [clip_value(part) for part in out.get("loc", ())]
        errors.append(out)
    return JSONResponse(status_code=422, content={"detail": errors})


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
_json_safe = json_safe

# DeploymentHandles of the composed app (set by ``Ingress.__init__``); empty when the app is served without them
# (plain uvicorn, ``Ingress.bind()``): then the same deployment classes run in-process (``_LOCAL``).
_HANDLES: dict[str, Any] = {}
_LOCAL: dict[str, Any] = {}
_CLASSES: dict[str, Any] = {"signals": Signals, "reports": Reports, "models": Models, "backtests": Backtests}
# Signal reads through a handle are cached in the ingress for a short time (a handle call per request costs
# more than the read); a refresh through this ingress drops the cache. Live snapshots are cached 1 s anyway.
SIGNAL_CACHE_TTL_S = 0.5
_SIGNAL_CACHE: dict[tuple[str | None, str | None], tuple[float, dict[str, Any]]] = {}
_SIGNAL_PENDING: dict[tuple[str | None, str | None], asyncio.Future[Any]] = {}


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, ray.exceptions.RayTaskError) and getattr(exc, "cause", None) is not None:
        exc = exc.cause
    return exc


async def _call(backend: str, method: str, *args: Any) -> Any:
    """``backend.method(*args)``: through its DeploymentHandle when composed, else in-process. A QuantrayError
    or HTTPException raised on the way (in the deployment or a Ray task it awaited) is re-raised as itself."""
    try:
        handle = _HANDLES.get(backend)
        if handle is not None:
            return await getattr(handle, method).remote(*args)
        obj = _LOCAL.get(backend)
        if obj is None:
            obj = _LOCAL.setdefault(backend, _CLASSES[backend].func_or_class())
        result = getattr(obj, method)(*args)
        return await result if inspect.isawaitable(result) else result
    except ray.exceptions.RayTaskError as exc:
        cause = _root_cause(exc)
        if isinstance(cause, QuantrayError | HTTPException):
            raise cause from None
        raise


async def _read_signals(symbol: str | None, strategy: str | None) -> dict[str, Any]:
    if "signals" not in _HANDLES:
        result: dict[str, Any] = await _call("signals", "current", symbol, strategy)
        return result
    key = (symbol, strategy)
    hit = _SIGNAL_CACHE.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < SIGNAL_CACHE_TTL_S:
        return hit[1]
    pending = _SIGNAL_PENDING.get(key)
    if pending is None:  # one handle call per key at a time: concurrent misses share it
        pending = asyncio.ensure_future(_call("signals", "current", symbol, strategy))
        _SIGNAL_PENDING[key] = pending
        pending.add_done_callback(lambda _f: _SIGNAL_PENDING.pop(key, None))
    value: dict[str, Any] = await asyncio.shield(pending)
    if len(_SIGNAL_CACHE) >= 4096:
        _SIGNAL_CACHE.clear()
    _SIGNAL_CACHE[key] = (now, value)
    return value


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


def _no_signal(symbol: str | None, strategy: str | None) -> HTTPException:
    named = " and ".join(
        f"{what} {value!r}"
        for what, value in (("symbol", symbol), ("strategy", strategy))
        if value is not None
    )
    return HTTPException(404, f"no signal for {named}")


@api.get(
    "/v1/signals",
    response_model=SignalsResponse,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["signals"],
)
async def signals(
    _key: ReadKey,
    symbol: str | None = Query(None, max_length=32),
    strategy: str | None = Query(None, max_length=64),
) -> SignalsResponse:
    """Latest signals (target positions), from the live graph when one runs, else computed from bars.
    A ``symbol`` or ``strategy`` filter that matches no tracked signal is 404, as the path form is."""
    found = await _read_signals(symbol, strategy)
    if (symbol is not None or strategy is not None) and not found["signals"]:
        raise _no_signal(symbol, strategy)
    return SignalsResponse.model_validate(found)


@api.get(
    "/v1/signals/{symbol}/{strategy}",
    response_model=SignalsResponse,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["signals"],
)
async def signal(_key: ReadKey, symbol: str = _SYMBOL, strategy: str = _STRATEGY) -> Any:
    """The latest signal of one (symbol, strategy)."""
    found = await _read_signals(symbol, strategy)
    if not found["signals"]:
        raise _no_signal(symbol, strategy)
    return found


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
    source, hist = await _call("signals", "history", symbol, strategy, limit)
    if hist is None:
        raise _no_signal(symbol, strategy)
    return SignalHistoryResponse.model_validate(
        {"symbol": symbol, "strategy": strategy, "source": source, "history": hist}
    )


@api.post("/v1/signals/refresh", response_model=SignalsResponse, responses=_AUTH, tags=["signals"])
async def refresh_signals(_key: AdminKey, request: Request) -> SignalsResponse:
    """Recompute the bar signals now; changed positions are sent to ``signal`` webhook subscribers.
    Returns the signals that changed."""
    refreshed = await _call("signals", "refresh")
    _SIGNAL_CACHE.clear()
    changed = refreshed["signals"]
    request.state.audit_detail = f"{len(changed)} changed"
    if changed:
        _dispatch("signal", changed)
    return SignalsResponse.model_validate(refreshed)


@api.get(
    "/v1/portfolio",
    response_model=PortfolioSnapshot,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["signals"],
)
async def portfolio(_key: ReadKey) -> PortfolioSnapshot:
    """P&L and positions of the live graph (404 when no live graph runs)."""
    snap = await _call("signals", "portfolio")
    if snap is None:
        raise HTTPException(404, "no live graph is running")
    return PortfolioSnapshot.model_validate(snap)


def _no_report(found: dict[str, Any]) -> HTTPException:
    """404 naming the portfolio and the reports root looked in (500 when a report is there but unreadable)."""
    name, root = found["portfolio"], found["root"]
    if found["unreadable"]:
        return HTTPException(
            500, f"the latest report of portfolio {name!r} under {root} cannot be read (see the server log)"
        )
    return HTTPException(
        404,
        f"no report for portfolio {name!r} under reports root {root} (looked for "
        f"reports/{name}/<YYYY>/Q<n>/report.json there); `quantray report quarterly --out ROOT` writes there: "
        "point the server at ROOT with reports_root in serve.json or QUANTRAY_REPORTS_ROOT",
    )


_REPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no report of that portfolio under the reports root"},
    500: {"model": ErrorResponse, "description": "the latest report is there but cannot be read"},
}


@api.get(
    "/v1/reports/latest/top",
    response_model=ReportTopResponse,
    responses={**_AUTH_422, **_REPORT_ERRORS},
    tags=["reports"],
)
async def report_top(
    _key: ReadKey,
    n: int = Query(10, ge=1, le=1000),
    metric: str = Query("sharpe", max_length=32, pattern=r"^[a-z_]+$"),
    portfolio: str | None = _PORTFOLIO,
) -> ReportTopResponse:
    """Top performers of the latest quarterly report (NaN metrics as null; 404 naming the portfolio and the
    reports root when there is none)."""
    found = await _call("reports", "top", n, metric, portfolio)
    if found["rows"] is None:
        raise _no_report(found)
    return ReportTopResponse(portfolio=found["portfolio"], metric=metric, rows=found["rows"])


@api.get("/v1/reports/latest", responses={**_AUTH, **_REPORT_ERRORS}, tags=["reports"])
async def report_latest(_key: ReadKey, portfolio: str | None = _PORTFOLIO) -> Any:
    """The latest quarterly report as JSON (``QuarterlyReport.to_dict()``; 404 as for ``/top``)."""
    found = await _call("reports", "latest", portfolio)
    if found["report"] is None:
        raise _no_report(found)
    return found["report"]


_MODEL_NAME = Path(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@api.get("/v1/models", response_model=ModelsResponse, responses=_AUTH, tags=["models"])
async def models(_key: ReadKey) -> ModelsResponse:
    """Models registered for serving (metadata; predictions come with the ML work)."""
    return ModelsResponse.model_validate({"models": await _call("models", "registered")})


@api.get(
    "/v1/models/{name}",
    response_model=ModelInfo,
    responses={**_AUTH_422, 404: {"model": ErrorResponse}},
    tags=["models"],
)
async def model(_key: ReadKey, name: str = _MODEL_NAME) -> ModelInfo:
    found, names = await _call("models", "get", name)
    if found is None:
        raise HTTPException(404, f"no model {name!r}; registered: {names}")
    return ModelInfo.model_validate(found)


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
    return await _call("backtests", "run", req.model_dump(), data_path)


@api.post(
    "/v1/backtests",
    response_model=BacktestJob,
    status_code=202,
    responses={**_AUTH_422, 413: {"model": ErrorResponse}},
    tags=["backtests"],
)
async def submit_backtest(_key: TradeKey, req: BacktestRequest, request: Request) -> Any:
    """Submit a backtest as a Ray job (up to 1,000 symbols and 20,000 combinations); poll its status."""
    check_limits(req, max_symbols=MAX_JOB_SYMBOLS, max_combos=MAX_JOB_COMBOS)
    from quantray.strategies import get_strategy

    get_strategy(req.strategy)  # unknown strategy: 422 now rather than a failed job later
    data_path = runtime().settings().data_path(req.data)
    status = await _call("backtests", "submit", req.model_dump(), data_path)
    request.state.audit_target = f"job:{status['job_id']}"
    return status


@api.get(
    "/v1/backtests/{job_id}",
    response_model=BacktestJob,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["backtests"],
)
async def backtest_status(_key: ReadKey, job_id: str = Path(..., pattern=r"^[0-9a-f]{32}$")) -> Any:
    status = await _call("backtests", "status", job_id)
    if status is None:
        raise HTTPException(404, f"no backtest job {job_id!r}")
    return status


@api.get(
    "/v1/backtests/{job_id}/result",
    response_model=BacktestJobResult,
    responses={**_AUTH, 404: {"model": ErrorResponse}},
    tags=["backtests"],
)
async def backtest_result(_key: ReadKey, job_id: str = Path(..., pattern=r"^[0-9a-f]{32}$")) -> Any:
    """The job's result once ``status`` is ``done`` (``result`` is null while it runs or when it failed)."""
    res = await _call("backtests", "result", job_id)
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
    known = {spec.name for spec in list_strategies()} | set(s.tradingview_strategies)
    if alert.strategy not in known:  # checked after the secret: only a sender that has it sees the list
        request.state.audit_detail = "unknown strategy"
        raise HTTPException(
            400,
            f"field 'strategy': unknown strategy {alert.strategy!r}; this server knows {sorted(known)} "
            "(GET /v1/strategies, plus tradingview_strategies in serve.json)",
        )
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


def _install_handles(given: dict[str, Any]) -> None:
    """Make the routes use these handles. A module-level function on purpose: Serve ships the ingress class by
    value (``serve.app.Ingress`` names the Deployment, not the class), so the class's own globals are a copy
    and only a function imported by reference reaches the module the routes read."""
    _HANDLES.clear()
    _HANDLES.update({k: h for k, h in given.items() if h is not None})
    _SIGNAL_CACHE.clear()


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
    """The FastAPI ingress: auth, rate limits, audit, body limits and CORS happen here; signals, reports, models
    and backtests are answered by the deployments whose handles it is given (``compose()``). Without handles
    (``Ingress.bind()``) the same deployment classes run inside this replica."""

    def __init__(
        self,
        signals: Any = None,
        reports: Any = None,
        models: Any = None,
        backtests: Any = None,
    ) -> None:
        self._strategies = _strategy_infos()
        _install_handles({"signals": signals, "reports": reports, "models": models, "backtests": backtests})
        if signals is None:
            runtime().book()  # no Signals deployment: this replica answers signals, build its cache now

    def check_health(self) -> None:
        """Serve calls this periodically; raising marks the replica unhealthy and it is replaced."""
        if not self._strategies or not list_strategies():
            raise RuntimeError("no strategies registered")
        runtime().settings()  # a broken serve.json makes the replica unhealthy, visibly


def compose(
    *,
    ingress_options: dict[str, Any] | None = None,
    backend_options: dict[str, Any] | None = None,
) -> Application:
    """The application: the ``Ingress`` bound to the ``Signals``, ``Reports``, ``Models`` and ``Backtests``
    deployments. ``ingress_options`` / ``backend_options`` are passed to ``.options()`` of the ingress / of each
    backend deployment (e.g. a ``runtime_env`` or smaller ``num_cpus`` on a small machine).

    Example:
        >>> from ray import serve  # doctest: +SKIP
        >>> serve.run(compose(backend_options={"ray_actor_options": {"num_cpus": 0}}))  # doctest: +SKIP
    """

    def opt(deployment: Any, options: dict[str, Any] | None) -> Any:
        return deployment.options(**options) if options else deployment

    return opt(Ingress, ingress_options).bind(
        signals=opt(Signals, backend_options).bind(),
        reports=opt(Reports, backend_options).bind(),
        models=opt(Models, backend_options).bind(),
        backtests=opt(Backtests, backend_options).bind(),
    )


app = compose()


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
