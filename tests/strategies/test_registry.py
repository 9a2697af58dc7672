"""The strategy registry, parameter validation, grid expansion and the ``@strategy`` decorator."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

import quantray
from quantray.data import Panel, load_sample
from quantray.engine import ExecutionConfig, simulate
from quantray.errors import ParameterError, QuantrayError, StrategyError
from quantray.strategies import REGISTRY, ParamSpace, StrategySpec, get_strategy, list_strategies, strategy

BUILTIN_NAMES = [
    "bollinger_reversion",
    "buy_and_hold",
    "donchian_breakout",
    "ema_cross",
    "macd",
    "momentum",
    "rsi_reversion",
    "sma_cross",
]


def test_list_strategies_holds_the_builtins_sorted() -> None:
    names = [s.name for s in list_strategies()]
    assert set(BUILTIN_NAMES) <= set(names) and names == sorted(names)
    assert all(isinstance(s, StrategySpec) for s in list_strategies())
    assert "sma_cross" in REGISTRY and "nope" not in REGISTRY


def test_unknown_strategy_lists_valid_names_with_a_suggestion() -> None:
    with pytest.raises(StrategyError) as info:
        get_strategy("sma_crss")
    msg = str(info.value)
    assert "'sma_crss'" in msg and "did you mean 'sma_cross'" in msg
    for name in BUILTIN_NAMES:
        assert name in msg
    assert isinstance(info.value, QuantrayError)
    assert not msg.startswith('"')  # a plain sentence, not KeyError's repr
    with pytest.raises(StrategyError, match="valid strategies"):
        get_strategy("zzzzzz")


def test_get_strategy_passes_a_spec_through() -> None:
    spec = get_strategy("macd")
    assert get_strategy(spec) is spec


def test_unknown_parameter_names_the_valid_ones() -> None:
    with pytest.raises(ParameterError) as info:
        get_strategy("sma_cross").validate_params({"fats": 5})
    msg = str(info.value)
    assert "fats" in msg and "fast" in msg and "slow" in msg and "sma_cross" in msg


@pytest.mark.parametrize(("fast", "slow"), [(50, 50), (60, 50)])
@pytest.mark.parametrize("name", ["sma_cross", "ema_cross", "macd"])
def test_fast_not_below_slow_is_a_parameter_error(name: str, fast: int, slow: int) -> None:
    with pytest.raises(ParameterError) as info:
        get_strategy(name).validate_params({"fast": fast, "slow": slow})
    msg = str(info.value)
    assert f"fast={fast}" in msg and f"slow={slow}" in msg and "slow > fast" in msg


def test_lower_not_below_upper_is_a_parameter_error() -> None:
    # the spaces overlap only at 50
    with pytest.raises(ParameterError, match="lower < upper"):
        get_strategy("rsi_reversion").validate_params({"lower": 50, "upper": 50})


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"fast": 0}, r"fast.*\[1, 500\]"),
        ({"fast": 2.5}, "integer"),
        ({"fast": "5"}, "number"),
        ({"fast": True}, "number"),
        ({"fast": float("nan")}, "finite"),
        ({"slow": 5000}, "slow"),
    ],
)
def test_parameter_values_are_checked(params: dict, pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern):
        get_strategy("sma_cross").validate_params(params)


def test_integer_valued_floats_are_coerced() -> None:
    p = get_strategy("sma_cross").validate_params({"fast": 5.0, "slow": np.int64(20)})
    assert p == {"fast": 5, "slow": 20} and all(type(v) is int for v in p.values())
    q = get_strategy("rsi_reversion").validate_params({"lower": 25})
    assert type(q["lower"]) is float


def test_grid_expansion_drops_invalid_combinations() -> None:
    spec = get_strategy("sma_cross")
    combos = spec.expand_grid({"fast": [5, 10, 20, 50], "slow": [10, 20, 50]})
    expected = [(f, s) for f in (5, 10, 20, 50) for s in (10, 20, 50) if f < s]
    assert [(c["fast"], c["slow"]) for c in combos] == expected
    # fixed values join every combination and may make some invalid
    combos = get_strategy("macd").expand_grid({"fast": [5, 12, 30]}, fixed={"slow": 26, "signal": 4})
    assert combos == [{"fast": 5, "slow": 26, "signal": 4}, {"fast": 12, "slow": 26, "signal": 4}]


def test_all_invalid_grid_is_an_error() -> None:
    with pytest.raises(ParameterError) as info:
        get_strategy("sma_cross").expand_grid({"fast": [50, 60], "slow": [10, 20]})
    msg = str(info.value)
    assert "no valid parameter set" in msg and "slow > fast" in msg


def test_grid_with_unknown_or_empty_axis_is_an_error() -> None:
    spec = get_strategy("sma_cross")
    with pytest.raises(ParameterError, match="unknown parameter"):
        spec.expand_grid({"fats": [1, 2]})
    with pytest.raises(ParameterError, match="empty"):
        spec.expand_grid({"fast": []})
    with pytest.raises(ParameterError, match="fast"):
        spec.expand_grid({"fast": [0, 5]})  # an out-of-range value is an error, not silently dropped


def test_param_space_grid_and_validation() -> None:
    assert ParamSpace.int(5, 20, default=10, step=5).grid() == [5, 10, 15, 20]
    assert ParamSpace.float(0.5, 1.5, default=1.0, step=0.5).grid() == [0.5, 1.0, 1.5]
    with pytest.raises(ParameterError, match="default"):
        ParamSpace.int(5, 20, default=30)
    with pytest.raises(ParameterError, match="step"):
        ParamSpace.int(5, 20, default=10, step=0)


def test_registering_a_taken_name_needs_replace() -> None:
    spec = get_strategy("buy_and_hold")
    with pytest.raises(StrategyError, match="already registered"):
        quantray.strategies.register(spec)
    with pytest.raises(StrategyError, match="identifier"):
        StrategySpec(name="not a name", params={}, signal_kernel=spec.signal_kernel)


# ------------------------------------------------------------------------------------ user strategies


@pytest.fixture
def channel_strategy():
    """A user strategy: long while close > SMA(window) of the close, flat otherwise (numba kernel)."""

    @njit(cache=False)
    def kernel(o, h, l, c, v, window, band):
        n = c.shape[0]
        out = np.zeros(n, dtype=np.int8)
        s = 0.0
        for t in range(n):
            s += c[t]
            if t >= window:
                s -= c[t - window]
            if t >= window - 1 and c[t] > (s / window) * (1.0 + band):
                out[t] = 1
        return out

    spec = strategy(
        "test_user_channel",
        params={
            "window": ParamSpace.int(2, 100, default=20, step=10, doc="SMA window"),
            "band": ParamSpace.float(0.0, 0.1, default=0.0, step=0.01, doc="band above the SMA"),
        },
        description="test strategy",
        replace=True,
    )(kernel)
    yield spec
    REGISTRY.unregister("test_user_channel")


def test_decorated_user_strategy_backtests_and_matches_simulate(channel_strategy) -> None:
    assert get_strategy("test_user_channel") is channel_strategy
    assert channel_strategy.builtin_id is None and channel_strategy.pine_template is None
    bars = load_sample()
    res = quantray.backtest(
        bars,
        "test_user_channel",
        grid={"window": [10, 50], "band": [0.0, 0.02]},
        symbols=["AAPL", "KO"],
        fees=0.001,
        slippage=0.0005,
    )
    assert list(res.table.columns[:3]) == ["symbol", "window", "band"]
    assert len(res.table) == 8
    panel = Panel.from_bars(bars)
    cfg = ExecutionConfig(fees=0.001, slippage=0.0005)
    for row in res.table.itertuples(index=False):
        _, o, h, lo, c, v = panel.arrays(row.symbol)
        tgt = np.zeros(c.size, dtype=np.int8)
        sma = np.convolve(c, np.ones(row.window) / row.window, mode="valid")
        tgt[row.window - 1 :] = (c[row.window - 1 :] > sma * (1 + row.band)).astype(np.int8)
        sim = simulate(o, h, lo, c, v, tgt, config=cfg)
        assert row.final_equity == pytest.approx(sim.metrics["final_equity"], rel=1e-9)
        assert row.num_trades == sim.metrics["num_trades"] > 0
        assert row.sharpe == pytest.approx(sim.metrics["sharpe"], rel=1e-9)
    detail = res.detail("KO", {"window": 50, "band": 0.02})
    row = res.table.query("symbol == 'KO' and window == 50 and band == 0.02").iloc[0]
    assert detail.equity.iloc[-1] == pytest.approx(row.final_equity, rel=1e-12)


def test_decorated_strategy_validates_its_params(channel_strategy) -> None:
    with pytest.raises(ParameterError, match="window"):
        quantray.backtest(load_sample(), "test_user_channel", params={"window": 1}, symbols=["AAPL"])


def test_user_kernel_with_a_wrong_shape_is_reported() -> None:
    @strategy("test_bad_shape", params={}, replace=True)
    @njit(cache=False)
    def bad(o, h, l, c, v):
        return np.zeros(3, dtype=np.int8)

    try:
        with pytest.raises(StrategyError, match="shape"):
            quantray.backtest(load_sample(), "test_bad_shape", symbols=["AAPL"])
    finally:
        REGISTRY.unregister("test_bad_shape")
