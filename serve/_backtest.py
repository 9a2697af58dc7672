"""Backtests for the API: limits, the call into :func:`quantray.backtest`, JSON-ready rows."""

from __future__ import annotations

import math
from typing import Any

from fastapi import HTTPException

import quantray
from quantray.errors import QuantrayError
from serve._errors import public_detail
from serve._models import BacktestRequest, BacktestResponse

__all__ = ["backtest_response", "check_limits", "combos"]


def combos(grid: dict[str, list[Any]] | None) -> int:
    return math.prod(max(len(v), 1) for v in grid.values()) if grid else 1


def check_limits(req: BacktestRequest, *, max_symbols: int, max_combos: int) -> None:
    """413 when the request is over the symbol or grid-combination limit."""
    if req.symbols is not None and len(req.symbols) > max_symbols:
        raise HTTPException(413, f"{len(req.symbols)} symbols requested; at most {max_symbols} per request")
    n = combos(req.grid)
    if n > max_combos:
        raise HTTPException(413, f"grid has {n} parameter combinations; at most {max_combos} per request")


def _json_value(v: Any) -> str | int | float | None:
    if v is None:
        return None
    if hasattr(v, "item"):  # numpy scalar
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v  # type: ignore[no-any-return]


def backtest_response(request: dict[str, Any] | BacktestRequest, data_path: str) -> dict[str, Any]:
    """Run :func:`quantray.backtest` for a request on ``data_path`` and return the response as a dict."""
    req = request if isinstance(request, BacktestRequest) else BacktestRequest.model_validate(request)
    try:
        res = quantray.backtest(
            data_path,
            req.strategy,
            params=req.params,
            grid=req.grid,
            symbols=req.symbols,
            fees=req.fees,
            slippage=req.slippage,
            execution=req.execution,
        )
        table = res.ranked(req.rank_by)
    except QuantrayError as exc:  # the client named the data "sample" (or a data_sources key), not a path
        exc.args = (public_detail(str(exc), {req.data: data_path}), *exc.args[1:])
        raise
    rows = [{k: _json_value(v) for k, v in rec.items()} for rec in table.to_dict(orient="records")]
    return BacktestResponse(
        strategy=res.strategy.name,
        periods_per_year=res.periods_per_year,
        rank_by=req.rank_by,
        columns=[str(c) for c in table.columns],
        rows=rows,
    ).model_dump()
