"""GraphQL (strawberry) over signals, strategies, backtest jobs and reports, behind the same keys and limits
(the context getter depends on the same ``require("read")`` dependency as the REST routes).

Errors: a bad argument (``limit: -5``), a quantray user error (an unknown metric) or an HTTP-style refusal is
answered with its short message; anything else (a bug, a failed replica) is answered ``internal error`` and
logged here with its traceback, so a GraphQL answer never carries a traceback, a process id or a server path.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import strawberry
from fastapi import Depends, HTTPException
from graphql import GraphQLError
from ray.exceptions import RayError
from strawberry.extensions import MaskErrors
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON

from quantray.errors import QuantrayError
from quantray.security import ApiKey
from serve._errors import public_detail
from serve._guard import require

__all__ = ["INTERNAL_ERROR", "GqlInputError", "graphql_router", "schema"]

INTERNAL_ERROR = "internal error (logged on the server)"
_log = logging.getLogger("quantray.serve.graphql")


class GqlInputError(Exception):
    """A bad GraphQL argument; its message is answered as it is."""


def _check_range(name: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise GqlInputError(f"`{name}` must be between {low} and {high}, got {value}")
    return value


def _check_length(name: str, value: str | None, high: int) -> None:
    if value is not None and not 1 <= len(value) <= high:
        raise GqlInputError(f"`{name}` must be 1 to {high} characters, got {len(value)}")


@strawberry.type
class GqlParam:
    name: str
    kind: str
    low: float
    high: float
    default: float
    doc: str


@strawberry.type
class GqlStrategy:
    name: str
    description: str
    params: list[GqlParam]


@strawberry.type
class GqlSignal:
    symbol: str
    strategy: str
    params: JSON
    position: int
    bar_ts: str | None
    price: float | None
    since: str | None
    source: str


@strawberry.type
class GqlSignalPoint:
    bar_ts: str
    position: int
    price: float | None


@strawberry.type
class GqlJob:
    job_id: str
    status: str
    error: str | None
    result: JSON | None


def _signal(d: dict[str, Any]) -> GqlSignal:
    return GqlSignal(
        symbol=d["symbol"],
        strategy=d["strategy"],
        params=d.get("params") or {},
        position=int(d["position"]),
        bar_ts=d.get("bar_ts"),
        price=d.get("price"),
        since=d.get("since"),
        source=d.get("source", "bars"),
    )


@strawberry.type
class Query:
    @strawberry.field(description="Registered strategies and their parameter spaces.")
    def strategies(self) -> list[GqlStrategy]:
        from quantray.strategies import list_strategies

        return [
            GqlStrategy(
                name=s.name,
                description=s.description,
                params=[
                    GqlParam(name=k, kind=p.kind, low=p.low, high=p.high, default=p.default, doc=p.doc)
                    for k, p in s.params.items()
                ],
            )
            for s in list_strategies()
        ]

    @strawberry.field(description="Latest signals, optionally for one symbol and/or strategy.")
    async def signals(self, symbol: str | None = None, strategy: str | None = None) -> list[GqlSignal]:
        from serve.app import _call

        _check_length("symbol", symbol, 32)
        _check_length("strategy", strategy, 64)
        found = await _call("signals", "current", symbol, strategy)
        return [_signal(d) for d in found["signals"]]

    @strawberry.field(description="Position changes of one (symbol, strategy), oldest first.")
    async def signal_history(self, symbol: str, strategy: str, limit: int = 100) -> list[GqlSignalPoint]:
        from serve.app import _call

        _check_length("symbol", symbol, 32)
        _check_length("strategy", strategy, 64)
        _check_range("limit", limit, 1, 10_000)
        _, hist = await _call("signals", "history", symbol, strategy, limit)
        return [
            GqlSignalPoint(bar_ts=h["bar_ts"], position=int(h["position"]), price=h.get("price"))
            for h in hist or []
        ]

    @strawberry.field(description="A backtest job's status and, when done, its result.")
    async def backtest_job(self, job_id: str) -> GqlJob | None:
        from serve.app import _call

        _check_length("jobId", job_id, 32)
        res = await _call("backtests", "result", job_id)
        if res is None:
            return None
        return GqlJob(job_id=job_id, status=res["status"], error=res["error"], result=res["result"])

    @strawberry.field(
        description="Top performers of the latest quarterly report, NaN metrics as null (empty when none exists)."
    )
    async def top_performers(
        self, n: int = 10, metric: str = "sharpe", portfolio: str | None = None
    ) -> list[JSON]:
        from serve.app import _call

        _check_range("n", n, 1, 1000)
        _check_length("metric", metric, 32)
        _check_length("portfolio", portfolio, 64)
        found = await _call("reports", "top", n, metric, portfolio)
        if found["unreadable"]:
            raise GqlInputError(f"the latest report of portfolio {found['portfolio']!r} cannot be read")
        return list(found["rows"] or [])


async def _context(key: Annotated[ApiKey, Depends(require("read"))]) -> dict[str, Any]:
    return {"key_id": key.key_id, "scope": key.scope}


def _public(error: GraphQLError) -> bool:
    """Whether an error's own message may be answered: GraphQL's (a bad query) and our deliberate ones."""
    original = error.original_error
    if isinstance(original, RayError):  # a RayTaskError's message is the remote traceback
        return False
    return original is None or isinstance(
        original, GqlInputError | QuantrayError | HTTPException | GraphQLError
    )


class _Errors(MaskErrors):
    """Deliberate errors keep a short message (clipped, data paths named as clients name them); every other
    error becomes :data:`INTERNAL_ERROR` and is logged with its traceback."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=self._mask, error_message=INTERNAL_ERROR)

    @staticmethod
    def _mask(error: GraphQLError) -> bool:
        if not _public(error):
            return True
        original = error.original_error
        if isinstance(original, HTTPException):
            error.message = public_detail(str(original.detail))
        elif isinstance(original, QuantrayError):
            from serve.app import _data_sources

            error.message = public_detail(str(original), _data_sources())
        else:
            error.message = public_detail(error.message)
        return False


class _Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Strawberry logs each error with its traceback (before :class:`_Errors` masks it): only the
        unexpected ones are worth that; a refused argument or query is one INFO line."""
        super().process_errors([e for e in errors if not _public(e)], execution_context)
        for e in errors:
            if _public(e):
                _log.info("GraphQL request refused: %s", public_detail(e.message))


schema = _Schema(query=Query, extensions=[_Errors])


def graphql_router() -> GraphQLRouter[Any, Any]:
    """The ``/v1/graphql`` router (POST queries; no GraphiQL page, no GET queries)."""
    return GraphQLRouter(schema, context_getter=_context, graphql_ide=None, allow_queries_via_get=False)
