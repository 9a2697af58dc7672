"""quantray.strategies: strategy specs, the registry, the ``@strategy`` decorator and the built-in library.

Built-ins: buy_and_hold, sma_cross, ema_cross, rsi_reversion, bollinger_reversion, donchian_breakout, macd,
momentum. Each has a documented parameter space, a numba signal kernel and a Pine Script v6 template.

Example:
    >>> from quantray.strategies import get_strategy
    >>> spec = get_strategy("sma_cross")
    >>> spec.validate_params({"fast": 5})
    {'fast': 5, 'slow': 50}
"""

from __future__ import annotations

from quantray.strategies._builtins import BUILTINS, render_pine
from quantray.strategies._spec import (
    REGISTRY,
    ParamSpace,
    StrategySpec,
    get_strategy,
    list_strategies,
    register,
    strategy,
)

__all__ = [
    "BUILTINS",
    "REGISTRY",
    "ParamSpace",
    "StrategySpec",
    "get_strategy",
    "list_strategies",
    "register",
    "render_pine",
    "strategy",
]
