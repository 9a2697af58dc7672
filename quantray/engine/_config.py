"""Execution and cost configuration (frozen, keyword-only, validated) and the metric names."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from quantray.errors import ConfigError

Execution = Literal["close", "next_open"]

#: Metric columns of the DESIGN.md results table, in the order the kernels write them.
METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "num_trades",
    "win_rate",
    "profit_factor",
    "exposure",
    "final_equity",
    "max_drawdown_duration",
    "expectancy",
    "num_closed_trades",
)

#: The columns every results table carries (DESIGN.md §3 "Results"), after symbol and parameters.
RESULT_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "num_trades",
    "win_rate",
    "profit_factor",
    "exposure",
    "final_equity",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionConfig:
    """How orders are filled and what they cost (DESIGN.md §3 "Execution semantics").

    Attributes:
        execution: ``"next_open"`` (default: a signal on bar t's close fills at bar t+1's open) or ``"close"``
            (fills at bar t's close, vectorbt's ``from_signals`` convention).
        fees: proportional fee as a fraction of traded value (0.001 = 10 bp).
        slippage: price fraction paid against the trader on every fill.
        fixed_fee: cash paid per order.
        impact_k: coefficient k of the square-root impact ``k · σ_daily · sqrt(q / ADV)`` (0 disables it).
        impact_window: bars used for σ and ADV (trailing, excluding the fill bar).
        participation: at most this fraction of a bar's volume is traded per bar (0 disables the cap).
        init_cash: starting cash.
        risk_free: annual risk-free rate used by Sharpe and Sortino (0 by default).

    Example:
        >>> ExecutionConfig(execution="close", fees=0.001).fees
        0.001
    """

    execution: Execution = "next_open"
    fees: float = 0.0
    slippage: float = 0.0
    fixed_fee: float = 0.0
    impact_k: float = 0.0
    impact_window: int = 20
    participation: float = 0.0
    init_cash: float = 100_000.0
    risk_free: float = 0.0

    def __post_init__(self) -> None:
        if self.execution not in ("close", "next_open"):
            raise ConfigError(f"`execution` must be one of 'close', 'next_open', got {self.execution!r}")
        for name in ("fees", "slippage", "fixed_fee", "impact_k", "participation", "risk_free"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
                raise ConfigError(f"`{name}` must be a finite number, got {value!r}")
            if value < 0:
                raise ConfigError(f"`{name}` must be >= 0, got {name}={value}")
        if self.fees >= 1 or self.slippage >= 1:
            raise ConfigError(
                f"`fees` and `slippage` must be < 1, got fees={self.fees}, slippage={self.slippage}"
            )
        if self.participation > 1:
            raise ConfigError(f"`participation` must be in [0, 1], got {self.participation}")
        if (
            not isinstance(self.init_cash, int | float)
            or not self.init_cash > 0
            or not math.isfinite(self.init_cash)
        ):
            raise ConfigError(f"`init_cash` must be a positive number, got {self.init_cash!r}")
        if not isinstance(self.impact_window, int) or self.impact_window < 2:
            raise ConfigError(f"`impact_window` must be an integer >= 2, got {self.impact_window!r}")
        # floats only: an int here would make numba compile a second specialisation of every kernel
        for name in ("fees", "slippage", "fixed_fee", "impact_k", "participation", "init_cash", "risk_free"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def kernel_args(self) -> tuple[bool, float, float, float, float, float, float]:
        """The scalars the simulation kernels take, in their order: ``(next_open, fees, slippage, fixed_fee,
        impact_k, participation, init_cash)``."""
        return (
            self.execution == "next_open",
            self.fees,
            self.slippage,
            self.fixed_fee,
            self.impact_k,
            self.participation,
            self.init_cash,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionConfig:
        """Build from a mapping, rejecting unknown keys with the list of valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown execution key(s) {unknown}; valid keys: {valid}")
        return cls(**data)
