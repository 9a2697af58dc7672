"""GraphQL (strawberry) over signals, strategies, backtest jobs and reports, behind the same keys and limits
(the context getter depends on the same ``require("read")`` dependency as the REST routes)."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from fastapi import Depends
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON

from quantray.security import ApiKey
from serve._guard import require

__all__ = ["graphql_router"]


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

        found = await _call("signals", "current", symbol, strategy)
        return [_signal(d) for d in found["signals"]]

    @strawberry.field(description="Position changes of one (symbol, strategy), oldest first.")
    async def signal_history(self, symbol: str, strategy: str, limit: int = 100) -> list[GqlSignalPoint]:
        from serve.app import _call

        _, hist = await _call("signals", "history", symbol, strategy, max(0, min(limit, 10_000)))
        return [
            GqlSignalPoint(bar_ts=h["bar_ts"], position=int(h["position"]), price=h.get("price"))
            for h in hist or []
        ]

    @strawberry.field(description="A backtest job's status and, when done, its result.")
    async def backtest_job(self, job_id: str) -> GqlJob | None:
        from serve.app import _call

        res = await _call("backtests", "result", job_id)
        if res is None:
            return None
        return GqlJob(job_id=job_id, status=res["status"], error=res["error"], result=res["result"])

    @strawberry.field(description="Top performers of the latest quarterly report (empty when none exists).")
    async def top_performers(
        self, n: int = 10, metric: str = "sharpe", portfolio: str | None = None
    ) -> list[JSON]:
        from serve.app import _call

        top = await _call("reports", "top", max(1, min(n, 1000)), metric, portfolio)
        return list(top[1]) if top is not None else []


async def _context(key: Annotated[ApiKey, Depends(require("read"))]) -> dict[str, Any]:
    return {"key_id": key.key_id, "scope": key.scope}


schema = strawberry.Schema(query=Query)


def graphql_router() -> GraphQLRouter[Any, Any]:
    """The ``/v1/graphql`` router (POST queries; no GraphiQL page, no GET queries)."""
    return GraphQLRouter(schema, context_getter=_context, graphql_ide=None, allow_queries_via_get=False)
