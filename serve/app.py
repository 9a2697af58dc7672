"""The quantray HTTP API: a Ray Serve application with a FastAPI ingress (DESIGN.md §3 "Serve").

Routes (all under ``/v1``):

- ``GET /v1/health``: liveness plus the package version and the number of registered strategies.
- ``GET /v1/strategies``: every registered strategy with its parameter spaces.
- ``POST /v1/backtest``: a small synchronous backtest through :func:`quantray.backtest`; returns the ranked
  results rows. User errors (:class:`quantray.QuantrayError`) answer 422 ``{"detail": message}``; requests over
  the limits (``MAX_SYMBOLS`` symbols, ``MAX_COMBOS`` grid combinations) answer 413.

``app`` is the bound application for ``serve run serve.app:app`` and ``serve build serve.app:app``;
``openapi_document()`` is the OpenAPI document committed as ``serve/openapi.json``.

Auth, rate limits, webhooks and GraphQL are not here yet (a later issue).
"""

import math
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from ray import serve

import quantray
from quantray.data import sample_path
from quantray.errors import QuantrayError
from quantray.strategies import list_strategies

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
    "openapi_document",
]

MAX_SYMBOLS = 50
MAX_COMBOS = 1_000
SAMPLE = "sample"

ParamValue = int | float


class ParamInfo(BaseModel):
    """One parameter of a strategy: its kind, inclusive bounds, default and meaning."""

    kind: Literal["int", "float"]
    low: float
    high: float
    default: float
    step: float | None = None
    doc: str = ""


class StrategyInfo(BaseModel):
    """A registered strategy (``quantray strategies list``)."""

    name: str
    description: str
    params: dict[str, ParamInfo]


class StrategiesResponse(BaseModel):
    strategies: list[StrategyInfo]


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    strategies: int


class BacktestRequest(BaseModel):
    """A small synchronous backtest (large sweeps go through ``quantray sweep`` / Ray jobs)."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        SAMPLE,
        description='"sample" for the bundled S&P 500 sample, else a path or fsspec URL the server can read',
        examples=["sample"],
    )
    symbols: list[str] | None = Field(
        None, description=f"restrict to these symbols (at most {MAX_SYMBOLS})", examples=[["AAPL", "MSFT"]]
    )
    strategy: str = Field(..., description="a registered strategy name (GET /v1/strategies)")
    params: dict[str, ParamValue] | None = Field(
        None, description="one parameter set; with `grid` it fixes the parameters the grid does not vary"
    )
    grid: dict[str, list[ParamValue]] | None = Field(
        None, description=f"parameter name → values; at most {MAX_COMBOS} combinations"
    )
    fees: float = Field(0.0, ge=0.0, description="proportional fee on traded value")
    slippage: float = Field(0.0, ge=0.0, description="price fraction against the trader")
    execution: Literal["next_open", "close"] = Field(
        "next_open", description="fill at the next bar's open (default) or at the signal bar's close"
    )
    rank_by: str = Field("sharpe", description="metric the rows are ranked by (best first)")


class BacktestResponse(BaseModel):
    strategy: str
    periods_per_year: float
    rank_by: str
    columns: list[str]
    rows: list[dict[str, str | int | float | None]]


class ErrorResponse(BaseModel):
    detail: str


class UnprocessableResponse(BaseModel):
    """422: a quantray user error (one-line message) or a request-validation error (FastAPI's list)."""

    detail: str | list[dict[str, Any]]


api = FastAPI(
    title="quantray",
    version=quantray.__version__,
    description="quantray research API: strategies and small synchronous backtests.",
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


def _combos(grid: dict[str, list[ParamValue]] | None) -> int:
    return math.prod(max(len(v), 1) for v in grid.values()) if grid else 1


def _json_value(v: Any) -> str | int | float | None:
    if v is None:
        return None
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def run_backtest(req: BacktestRequest) -> BacktestResponse:
    """Check the limits, run :func:`quantray.backtest` and rank (in-process; used by the route and tests)."""
    if req.symbols is not None and len(req.symbols) > MAX_SYMBOLS:
        raise HTTPException(413, f"{len(req.symbols)} symbols requested; at most {MAX_SYMBOLS} per request")
    combos = _combos(req.grid)
    if combos > MAX_COMBOS:
        raise HTTPException(
            413, f"grid has {combos} parameter combinations; at most {MAX_COMBOS} per request"
        )
    data = sample_path() if req.data == SAMPLE else req.data
    res = quantray.backtest(
        data,
        req.strategy,
        params=req.params,
        grid=req.grid,
        symbols=req.symbols,
        fees=req.fees,
        slippage=req.slippage,
        execution=req.execution,
    )
    table = res.ranked(req.rank_by)
    rows = [{k: _json_value(v) for k, v in rec.items()} for rec in table.to_dict(orient="records")]
    return BacktestResponse(
        strategy=res.strategy.name,
        periods_per_year=res.periods_per_year,
        rank_by=req.rank_by,
        columns=[str(c) for c in table.columns],
        rows=rows,
    )


@serve.deployment(
    name="QuantrayAPI",
    autoscaling_config={
        "min_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 2,
    },
    max_ongoing_requests=8,
    ray_actor_options={"num_cpus": 1},
    health_check_period_s=10,
    health_check_timeout_s=30,
)
@serve.ingress(api)
class Ingress:
    """FastAPI ingress bound to quantray functions."""

    def __init__(self) -> None:
        self._strategies = _strategy_infos()

    def check_health(self) -> None:
        """Serve calls this periodically; raising marks the replica unhealthy and it is replaced."""
        if not self._strategies or not list_strategies():
            raise RuntimeError("no strategies registered")

    @api.get("/v1/health", response_model=HealthResponse)
    def health(self) -> HealthResponse:
        return HealthResponse(version=quantray.__version__, strategies=len(self._strategies))

    @api.get("/v1/strategies", response_model=StrategiesResponse)
    def strategies(self) -> StrategiesResponse:
        return StrategiesResponse(strategies=self._strategies)

    @api.post(
        "/v1/backtest",
        response_model=BacktestResponse,
        responses={413: {"model": ErrorResponse}, 422: {"model": UnprocessableResponse}},
    )
    def backtest(self, req: BacktestRequest) -> BacktestResponse:
        # A sync route: FastAPI runs it in its thread pool, so the CPU-bound backtest never blocks the loop.
        return run_backtest(req)


app = Ingress.bind()


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of the API (committed as serve/openapi.json)."""
    return api.openapi()


def openapi_json() -> str:
    """``openapi_document()`` as the exact text of serve/openapi.json."""
    import json

    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m serve.app  → rewrite serve/openapi.json
    from pathlib import Path

    out = Path(__file__).with_name("openapi.json")
    out.write_text(openapi_json())
    print(f"wrote {out}")
