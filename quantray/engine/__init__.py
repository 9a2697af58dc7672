"""quantray.engine: numba kernels for indicators, signal → position → portfolio simulation, and metrics.

Public wrappers validate inputs, convert to contiguous float64 arrays, call a kernel and wrap the result; the
maths lives in the private ``_kernels``-style modules (``_indicators``, ``_sim``, ``_metrics``).

Example:
    >>> import numpy as np
    >>> from quantray.engine import sma
    >>> sma(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
"""

from __future__ import annotations

from quantray.engine._api import (
    SimResult,
    atr,
    bollinger,
    cagr,
    calmar_ratio,
    cvar_historical,
    donchian,
    ema,
    macd,
    max_drawdown,
    max_drawdown_duration,
    returns_from_equity,
    rma,
    rolling_std,
    rolling_zscore,
    rsi,
    sharpe_ratio,
    simulate,
    sma,
    sortino_ratio,
    total_return,
    trade_stats,
    var_historical,
    volatility,
)
from quantray.engine._config import METRIC_NAMES, RESULT_METRICS, ExecutionConfig

__all__ = [
    "METRIC_NAMES",
    "RESULT_METRICS",
    "ExecutionConfig",
    "SimResult",
    "atr",
    "bollinger",
    "cagr",
    "calmar_ratio",
    "cvar_historical",
    "donchian",
    "ema",
    "macd",
    "max_drawdown",
    "max_drawdown_duration",
    "returns_from_equity",
    "rma",
    "rolling_std",
    "rolling_zscore",
    "rsi",
    "sharpe_ratio",
    "simulate",
    "sma",
    "sortino_ratio",
    "total_return",
    "trade_stats",
    "var_historical",
    "volatility",
]
