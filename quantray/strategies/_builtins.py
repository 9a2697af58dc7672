"""The built-in strategy library: specs, signal kernels and Pine Script v6 templates.

Every built-in's signal kernel and its fused batch kernel come from the same incremental step in
``_kernels.py``; the contract tests check that they agree bar for bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from numba import njit

from quantray.errors import ParameterError
from quantray.strategies import _kernels as k
from quantray.strategies._spec import ParamSpace, ParamValue, StrategySpec, register


def _template(name: str) -> str:
    return resources.files("quantray.strategies").joinpath("pine", f"{name}.pine").read_text(encoding="utf-8")


def _fast_lt_slow(p: Mapping[str, ParamValue]) -> str | None:
    if not p["fast"] < p["slow"]:
        return f"`slow > fast` must hold, got fast={p['fast']}, slow={p['slow']}"
    return None


def _lower_lt_upper(p: Mapping[str, ParamValue]) -> str | None:
    if not p["lower"] < p["upper"]:
        return f"`lower < upper` must hold, got lower={p['lower']}, upper={p['upper']}"
    return None


# --- numba signal kernels (DESIGN.md contract: (open, high, low, close, volume, *params) -> int8[n]) -------
@njit(cache=True)
def buy_and_hold_signal(o, h, l, c, v):
    """+1 on every bar."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_BUY_AND_HOLD, 0.0, 0.0, 0.0)
    return k.signal_array(k.SID_BUY_AND_HOLD, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def sma_cross_signal(o, h, l, c, v, fast, slow):
    """+1 from a cross of SMA(fast) above SMA(slow) until the cross below."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_SMA_CROSS, fast, slow, 0.0)
    return k.signal_array(k.SID_SMA_CROSS, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def ema_cross_signal(o, h, l, c, v, fast, slow):
    """+1 from a cross of EMA(fast) above EMA(slow) until the cross below."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_EMA_CROSS, fast, slow, 0.0)
    return k.signal_array(k.SID_EMA_CROSS, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def rsi_reversion_signal(o, h, l, c, v, window, lower, upper):
    """+1 once RSI < lower, 0 once RSI > upper."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_RSI_REVERSION, window, lower, upper)
    return k.signal_array(k.SID_RSI_REVERSION, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def bollinger_reversion_signal(o, h, l, c, v, window, k_std):
    """+1 once close < lower band, 0 once close > middle band."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_BOLLINGER_REVERSION, window, k_std, 0.0)
    return k.signal_array(k.SID_BOLLINGER_REVERSION, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def donchian_breakout_signal(o, h, l, c, v, window, exit_window):
    """+1 on a close above the previous window's highest high, 0 below the previous exit window's lowest low."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_DONCHIAN_BREAKOUT, window, exit_window, 0.0)
    return k.signal_array(k.SID_DONCHIAN_BREAKOUT, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def macd_signal(o, h, l, c, v, fast, slow, signal):
    """+1 from a cross of the MACD line above its signal line until the cross below."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_MACD, fast, slow, signal)
    return k.signal_array(k.SID_MACD, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


@njit(cache=True)
def momentum_signal(o, h, l, c, v, lookback, threshold, allow_short):
    """+1 while the lookback return > threshold; −1 (if allow_short) while < −threshold; else 0."""
    i0, i1, i2, f0, f1, f2 = k.derive(k.SID_MOMENTUM, lookback, threshold, allow_short)
    return k.signal_array(k.SID_MOMENTUM, o, h, l, c, v, i0, i1, i2, f0, f1, f2)


BUILTINS: tuple[StrategySpec, ...] = (
    StrategySpec(
        name="buy_and_hold",
        params={},
        signal_kernel=buy_and_hold_signal,
        pine_template=_template("buy_and_hold"),
        description="Long from the first bar (the benchmark every strategy must beat).",
        builtin_id=k.SID_BUY_AND_HOLD,
    ),
    StrategySpec(
        name="sma_cross",
        params={
            "fast": ParamSpace.int(1, 500, default=10, step=5, doc="fast SMA window in bars"),
            "slow": ParamSpace.int(2, 1000, default=50, step=10, doc="slow SMA window in bars (> fast)"),
        },
        signal_kernel=sma_cross_signal,
        pine_template=_template("sma_cross"),
        description="Long when SMA(fast) crosses above SMA(slow) (fast[t] > slow[t], fast[t-1] <= slow[t-1]); "
        "flat on the mirror cross below.",
        constraints=(_fast_lt_slow,),
        builtin_id=k.SID_SMA_CROSS,
    ),
    StrategySpec(
        name="ema_cross",
        params={
            "fast": ParamSpace.int(1, 500, default=12, step=4, doc="fast EMA span in bars"),
            "slow": ParamSpace.int(2, 1000, default=26, step=10, doc="slow EMA span in bars (> fast)"),
        },
        signal_kernel=ema_cross_signal,
        pine_template=_template("ema_cross"),
        description="Long when EMA(fast) crosses above EMA(slow), flat on the cross below (SMA-seeded EMAs).",
        constraints=(_fast_lt_slow,),
        builtin_id=k.SID_EMA_CROSS,
    ),
    StrategySpec(
        name="rsi_reversion",
        params={
            "window": ParamSpace.int(2, 200, default=14, step=2, doc="Wilder RSI length in bars"),
            "lower": ParamSpace.float(1, 50, default=30, step=5, doc="enter long when RSI falls below this"),
            "upper": ParamSpace.float(50, 99, default=70, step=5, doc="exit when RSI rises above this"),
        },
        signal_kernel=rsi_reversion_signal,
        pine_template=_template("rsi_reversion"),
        description="Mean reversion: long while RSI is oversold (< lower), flat once overbought (> upper).",
        constraints=(_lower_lt_upper,),
        builtin_id=k.SID_RSI_REVERSION,
    ),
    StrategySpec(
        name="bollinger_reversion",
        params={
            "window": ParamSpace.int(2, 500, default=20, step=5, doc="band length in bars"),
            "k": ParamSpace.float(0.5, 5.0, default=2.0, step=0.5, doc="band width in population std devs"),
        },
        signal_kernel=bollinger_reversion_signal,
        pine_template=_template("bollinger_reversion"),
        description="Mean reversion: long when close < SMA − k·std, flat when close > SMA.",
        builtin_id=k.SID_BOLLINGER_REVERSION,
    ),
    StrategySpec(
        name="donchian_breakout",
        params={
            "window": ParamSpace.int(2, 500, default=20, step=5, doc="entry channel: previous N bars' highs"),
            "exit_window": ParamSpace.int(
                2, 500, default=10, step=5, doc="exit channel: previous N bars' lows"
            ),
        },
        signal_kernel=donchian_breakout_signal,
        pine_template=_template("donchian_breakout"),
        description="Turtle-style breakout: long above the previous `window` bars' high, flat below the "
        "previous `exit_window` bars' low.",
        builtin_id=k.SID_DONCHIAN_BREAKOUT,
    ),
    StrategySpec(
        name="macd",
        params={
            "fast": ParamSpace.int(1, 200, default=12, step=2, doc="fast EMA span"),
            "slow": ParamSpace.int(2, 500, default=26, step=4, doc="slow EMA span (> fast)"),
            "signal": ParamSpace.int(1, 200, default=9, step=2, doc="signal-line EMA span"),
        },
        signal_kernel=macd_signal,
        pine_template=_template("macd"),
        description="Long when the MACD line crosses above its signal line, flat on the cross below.",
        constraints=(_fast_lt_slow,),
        builtin_id=k.SID_MACD,
    ),
    StrategySpec(
        name="momentum",
        params={
            "lookback": ParamSpace.int(1, 1000, default=20, step=5, doc="return horizon in bars"),
            "threshold": ParamSpace.float(0.0, 1.0, default=0.0, step=0.01, doc="minimum |return| to hold"),
            "allow_short": ParamSpace.int(0, 1, default=0, step=1, doc="1 to go short below -threshold"),
        },
        signal_kernel=momentum_signal,
        pine_template=_template("momentum"),
        description="Time-series momentum: long while the lookback return > threshold, short (if allowed) "
        "while < −threshold, flat otherwise.",
        builtin_id=k.SID_MOMENTUM,
    ),
)

for _spec in BUILTINS:
    register(_spec, replace=True)


def render_pine(
    spec: StrategySpec,
    params: Mapping[str, Any] | None = None,
    *,
    title: str | None = None,
    symbol: str = "{{ticker}}",
    fees: float = 0.0,
    init_cash: float = 100_000.0,
    execution: str = "next_open",
    slippage: float = 0.0,
) -> str:
    """Render the strategy's Pine Script v6 template with ``params`` as the ``input.*`` defaults.

    ``execution="close"`` sets ``process_orders_on_close=true`` (fill on the signal bar's close), matching
    the backtest convention; fees are given as a fraction and written as a percent. ``slippage`` (a price
    fraction per fill; Pine's own ``slippage`` is a number of ticks, which a fraction cannot be written as) is
    added to the commission percent, with a comment saying so: paying s on the fill price and paying s of the
    traded value as commission differ only in second-order terms (s × fees), so TradingView's tester charges
    what the backtest charged.

    Example:
        >>> from quantray.strategies import get_strategy
        >>> "input.int(5," in render_pine(get_strategy("sma_cross"), {"fast": 5, "slow": 20})
        True
    """
    if spec.pine_template is None:
        raise ParameterError(f"strategy {spec.name!r} has no Pine Script template")
    values = spec.validate_params(params)
    mapping: dict[str, str] = {name: _pine_literal(v) for name, v in values.items()}
    if "allow_short" in values:
        mapping["allow_short_bool"] = "true" if values["allow_short"] else "false"
    mapping.update(
        title=_pine_string(title or f"quantray {spec.name}"),
        symbol=symbol,
        fees_percent=_pine_literal(round((fees + slippage) * 100.0, 10)),
        init_cash=_pine_literal(init_cash),
        on_close="true" if execution == "close" else "false",
    )
    out = spec.pine_template
    for key, val in mapping.items():
        out = out.replace("{{" + key + "}}", val)
    if slippage:
        head, sep, rest = out.partition("\n")
        out = (
            f"{head}{sep}// commission_value = fees {fees * 100:g}% + slippage {slippage * 100:g}% of the traded value "
            f"(quantray's slippage is a price fraction; Pine's slippage= is in ticks)\n{rest}"
        )
    return out


def _pine_string(text: str) -> str:
    """Escape text for a double-quoted Pine string literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _pine_literal(v: ParamValue) -> str:
    if isinstance(v, int):
        return str(v)
    text = repr(float(v))
    return text
