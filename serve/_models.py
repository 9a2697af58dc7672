"""Pydantic request/response models of the API (the OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "MAX_COMBOS",
    "MAX_JOB_COMBOS",
    "MAX_JOB_SYMBOLS",
    "MAX_SYMBOLS",
    "AlertAccepted",
    "AlertsResponse",
    "AuditResponse",
    "BacktestJob",
    "BacktestJobResult",
    "BacktestRequest",
    "BacktestResponse",
    "ErrorResponse",
    "HealthResponse",
    "ModelInfo",
    "ModelsResponse",
    "ParamInfo",
    "PortfolioSnapshot",
    "ReportTopResponse",
    "Signal",
    "SignalHistoryResponse",
    "SignalsResponse",
    "StrategiesResponse",
    "StrategyInfo",
    "UnprocessableResponse",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookInfo",
    "WhoAmI",
]

MAX_SYMBOLS = 50
MAX_COMBOS = 1_000
MAX_JOB_SYMBOLS = 1_000
MAX_JOB_COMBOS = 20_000


def _not_bool(v: Any) -> Any:
    """JSON ``true``/``false`` are not numbers (pydantic would take ``true`` as 1)."""
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {str(v).lower()}")
    return v


ParamValue = Annotated[
    int | Annotated[float, Field(allow_inf_nan=False)],
    BeforeValidator(_not_bool),
]
"""A strategy parameter value in a request: an integer or a finite float, never a boolean."""

SymbolName = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._:/-]+$")]
ParamName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ErrorResponse(BaseModel):
    detail: str


class UnprocessableResponse(BaseModel):
    """422: a quantray user error (one-line message) or a request-validation error (FastAPI's list)."""

    detail: str | list[dict[str, Any]]


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


class WhoAmI(BaseModel):
    """The key a request was made with."""

    key_id: str
    name: str
    scope: Literal["read", "trade", "admin"]


class BacktestRequest(BaseModel):
    """A backtest on a data source configured on the server (small ones synchronously, large ones as jobs)."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(
        "sample",
        max_length=64,
        description='a data source name configured on the server ("sample": the bundled S&P 500 sample)',
        examples=["sample"],
    )
    symbols: list[SymbolName] | None = Field(
        None,
        max_length=MAX_JOB_SYMBOLS,
        description="restrict to these symbols (at least one; omit the key for every symbol of the data)",
        examples=[["AAPL", "MSFT"]],
        json_schema_extra={"minItems": 1},
    )
    strategy: str = Field(..., max_length=64, description="a registered strategy name (GET /v1/strategies)")
    params: dict[ParamName, ParamValue] | None = Field(
        None, description="one parameter set; with `grid` it fixes the parameters the grid does not vary"
    )
    grid: dict[ParamName, list[ParamValue]] | None = Field(None, description="parameter name → values")
    fees: float = Field(0.0, ge=0.0, le=0.5, description="proportional fee on traded value")
    slippage: float = Field(0.0, ge=0.0, le=0.5, description="price fraction against the trader")
    execution: Literal["next_open", "close"] = Field(
        "next_open", description="fill at the next bar's open (default) or at the signal bar's close"
    )
    rank_by: str = Field("sharpe", max_length=32, description="metric the rows are ranked by (best first)")

    @field_validator("symbols")
    @classmethod
    def _some_symbols(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and not v:
            raise ValueError("`symbols` is an empty list; omit the key to backtest every symbol of the data")
        return v


class BacktestResponse(BaseModel):
    strategy: str
    periods_per_year: float
    rank_by: str
    columns: list[str]
    rows: list[dict[str, str | int | float | None]]


class BacktestJob(BaseModel):
    """A backtest job on Ray."""

    job_id: str
    status: Literal["running", "done", "failed"]
    submitted: float
    finished: float | None = None
    error: str | None = None


class BacktestJobResult(BaseModel):
    job_id: str
    status: Literal["running", "done", "failed"]
    error: str | None = None
    result: BacktestResponse | None = None


class Signal(BaseModel):
    """The latest target position of one (symbol, strategy): -1 short, 0 flat, +1 long."""

    symbol: str
    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    position: int
    bar_ts: str | None = Field(
        None, description="timestamp (ISO 8601, UTC) of the bar the signal was decided on"
    )
    price: float | None = None
    since: str | None = Field(None, description="when the position last changed")
    source: Literal["live", "bars"]


class SignalsResponse(BaseModel):
    as_of: str | None
    source: Literal["live", "bars"]
    universe: str = Field(description='"live", "report" (top performers of the latest report) or "config"')
    signals: list[Signal]


class SignalPoint(BaseModel):
    bar_ts: str
    position: int
    price: float | None = None


class SignalHistoryResponse(BaseModel):
    symbol: str
    strategy: str
    source: Literal["live", "bars"]
    history: list[SignalPoint]


class PortfolioSnapshot(BaseModel):
    """P&L and positions of the live graph."""

    as_of: str | None = None
    pnl: dict[str, float | None] = Field(default_factory=dict)
    positions: list[dict[str, Any]] = Field(default_factory=list)


class ReportTopResponse(BaseModel):
    portfolio: str
    metric: str
    rows: list[dict[str, Any]]


class AlertAccepted(BaseModel):
    """The answer to a TradingView alert: ``accepted`` (handed to Ray) or ``duplicate`` (seen before)."""

    status: Literal["accepted", "duplicate"]
    id: str


class AlertsResponse(BaseModel):
    alerts: list[dict[str, Any]]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., max_length=2000, description="http(s) URL that receives signed POSTs")
    events: list[Literal["signal", "alert", "ping"]] = Field(..., min_length=1, max_length=3)
    description: str = Field("", max_length=200)


class WebhookInfo(BaseModel):
    sub_id: str
    url: str
    events: list[str]
    created_at: float
    description: str = ""


class WebhookCreated(WebhookInfo):
    secret: str = Field(description="HMAC-SHA256 signing secret, shown once")


class AuditResponse(BaseModel):
    records: list[dict[str, Any]]


class ModelInfo(BaseModel):
    """A model registered for serving (``$QUANTRAY_HOME/models/<name>.json``), ready for the ML work."""

    name: str
    version: str = "1"
    kind: str = Field("", description='e.g. "classifier", "regressor", "signal"')
    description: str = ""
    created_at: str | None = None
    artifact: str | None = Field(None, description="where the weights live (path or s3:// URL)")
    features: list[str] = Field(default_factory=list)
    metrics: dict[str, float | None] = Field(default_factory=dict)


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
