"""Pine Script v6 export: the rendered scripts carry the backtest's parameters, costs and execution convention
and use the TradingView built-ins that the numba kernels mirror."""

from __future__ import annotations

import re

import pytest

from quantray.errors import ParameterError
from quantray.strategies import BUILTINS, StrategySpec, get_strategy, render_pine

SPECS = {s.name: s for s in BUILTINS}

# the Pine built-ins each kernel reproduces (DESIGN.md: the exported script must reproduce the backtest)
PINE_CALLS = {
    "buy_and_hold": ['strategy.entry("Long", strategy.long)'],
    "sma_cross": ["ta.sma(close, fast)", "ta.sma(close, slow)", "ta.crossover(", "ta.crossunder("],
    "ema_cross": ["ta.ema(close, fast)", "ta.ema(close, slow)", "ta.crossover(", "ta.crossunder("],
    "rsi_reversion": ["ta.rsi(close, window)", "r < lower", "r > upper"],
    "bollinger_reversion": ["ta.bb(close, window, k)", "close < lower", "close > mid"],
    "donchian_breakout": ["ta.highest(high, window)[1]", "ta.lowest(low, exitWindow)[1]"],
    "macd": ["ta.macd(close, fast, slow, signalLen)", "ta.crossover(macdLine, signalLine)"],
    "momentum": ["close / close[lookback] - 1", "strategy.short"],
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_script_uses_the_mirrored_pine_builtins(name: str) -> None:
    text = render_pine(SPECS[name])
    for call in PINE_CALLS[name]:
        assert call in text, (name, call)
    assert "strategy.percent_of_equity" in text and "default_qty_value=100" in text  # all-in sizing


@pytest.mark.parametrize("name", sorted(SPECS))
def test_one_input_per_parameter_and_pine_minval_admits_the_space(name: str) -> None:
    spec: StrategySpec = SPECS[name]
    text = render_pine(spec)
    inputs = re.findall(r"input\.(int|float|bool)\(([^,]+),[^\n]*", text)
    assert len(inputs) == len(spec.params)
    # each input's minval is at most the space's lower bound, so every valid parameter runs in Pine
    for match in re.finditer(r"(\w+) = input\.(int|float)\(([^,]+),[^\n]*?minval=([0-9.]+)", text):
        var, _, default, minval = match.groups()
        pname = {"exitWindow": "exit_window", "signalLen": "signal"}.get(var, var)
        assert float(minval) <= spec.params[pname].low, (var, minval)
        assert float(default) == spec.defaults()[pname]


def test_costs_capital_and_execution_are_rendered() -> None:
    spec = get_strategy("sma_cross")
    text = render_pine(spec, {"fast": 7, "slow": 33}, fees=0.0005, init_cash=50_000, execution="close")
    assert "commission_type=strategy.commission.percent, commission_value=0.05," in text
    assert "initial_capital=50000" in text
    assert "process_orders_on_close=true" in text
    assert "input.int(7," in text and "input.int(33," in text
    nxt = render_pine(spec, {"fast": 7, "slow": 33})
    assert "process_orders_on_close=false" in nxt and "commission_value=0.0," in nxt
    assert "slippage" not in nxt.split("\n", 2)[1]
    # slippage (a price fraction; Pine's slippage= is in ticks) is charged as commission, and the script says so
    slip = render_pine(spec, {"fast": 7, "slow": 33}, fees=0.0005, slippage=0.001)
    assert slip.startswith(
        "//@version=6\n// commission_value = fees 0.05% + slippage 0.1% of the traded value"
    )
    assert "commission_value=0.15," in slip


def test_symbol_and_title_substitution() -> None:
    spec = get_strategy("ema_cross")
    text = render_pine(spec, symbol="AAPL", title="My EMA")
    assert 'strategy("My EMA",' in text
    assert "// alerts for AAPL:" in text and "{{" not in text
    # alertcondition() does nothing in a strategy (TradingView ignores it): the templates have none
    assert "alertcondition(" not in text
    default = render_pine(spec)
    assert "// alerts for {{ticker}}:" in default  # TradingView's own placeholder survives
    assert render_pine(spec) == default  # deterministic


def test_allow_short_renders_as_a_pine_bool() -> None:
    spec = get_strategy("momentum")
    assert "input.bool(true," in render_pine(spec, {"allow_short": 1})
    assert "input.bool(false," in render_pine(spec, {"allow_short": 0})
    assert "input.float(0.05," in render_pine(spec, {"threshold": 0.05})


def test_template_errors() -> None:
    with pytest.raises(ParameterError, match="lower < upper"):
        render_pine(get_strategy("rsi_reversion"), {"lower": 50, "upper": 50})
    bare = StrategySpec(name="no_pine", params={}, signal_kernel=SPECS["buy_and_hold"].signal_kernel)
    with pytest.raises(ParameterError, match="no Pine Script template"):
        render_pine(bare)


def test_title_with_a_quote_is_escaped() -> None:
    text = render_pine(get_strategy("sma_cross"), title='My "best" run')
    first = next(line for line in text.splitlines() if line.startswith("strategy("))
    assert re.match(r'strategy\("(?:[^"\\]|\\.)*",', first), first
