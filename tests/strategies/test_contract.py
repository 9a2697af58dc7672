"""Contract tests every registered built-in strategy must pass (optuna's ``pytest_samplers`` style).

(a) the fused batch kernel gives the same metrics as ``simulate(signal_array)``; (b) no look-ahead; (c) targets
in {-1, 0, +1}; (d) the parameter space and defaults are valid; (e) the Pine Script template renders; plus each
signal equals its documented definition computed from the slow reference indicators.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray._backtest import run_symbol
from quantray.data import Panel, load_sample
from quantray.engine import METRIC_NAMES, ExecutionConfig, simulate
from quantray.errors import ParameterError
from quantray.strategies import BUILTINS, StrategySpec, render_pine
from quantray.strategies._kernels import batch_run


def _load_reference():
    """The slow reference indicators of tests/engine (loaded by path: ``tests`` is not a package)."""
    name = "_quantray_tests_reference"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "engine" / "_reference.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_ref = _load_reference()
ref_ema, ref_macd, ref_rsi, ref_sma = _ref.ref_ema, _ref.ref_macd, _ref.ref_rsi, _ref.ref_sma

NAMES = sorted(s.name for s in BUILTINS)
SPECS = {s.name: s for s in BUILTINS}
LONG_ONLY = set(NAMES) - {"momentum"}


def test_the_eight_documented_builtins_exist() -> None:
    assert NAMES == [
        "bollinger_reversion",
        "buy_and_hold",
        "donchian_breakout",
        "ema_cross",
        "macd",
        "momentum",
        "rsi_reversion",
        "sma_cross",
    ]


@pytest.fixture(scope="module")
def panel() -> Panel:
    return Panel.from_bars(load_sample())


def param_sets(spec: StrategySpec, count: int = 12, seed: int = 0) -> list[dict]:
    """Defaults plus random valid parameter sets drawn from each space's grid (windows kept < 150 bars)."""
    rng = np.random.default_rng(seed)
    out = [spec.defaults()]
    tries = 0
    while len(out) < count and tries < 500 and spec.params:
        tries += 1
        cand = {}
        for name, space in spec.params.items():
            values = [x for x in space.grid() if space.kind == "float" or x < 150] or [space.default]
            if space.kind == "int" and space.high - space.low < 150:
                values = list(range(int(space.low), int(space.high) + 1))
            cand[name] = values[int(rng.integers(len(values)))]
        try:
            out.append(spec.validate_params(cand))
        except ParameterError:
            continue
    if spec.name == "momentum":
        out += [
            {"lookback": 5, "threshold": 0.0, "allow_short": 1},
            {"lookback": 1, "threshold": 0.01, "allow_short": 1},
        ]
    return out


# ------------------------------------------------------------------------- (a) fused batch == simulate


COST_MODELS = {
    "fees": dict(fees=0.002, slippage=0.001, fixed_fee=1.0),
    # a 1e9 account trades enough of the sample's volume for the impact model and a 0.5 % cap to bite
    "market": dict(fees=0.001, impact_k=0.5, participation=0.005, init_cash=1e9),
}


@pytest.mark.parametrize("costs", sorted(COST_MODELS))
@pytest.mark.parametrize("execution", ["close", "next_open"])
@pytest.mark.parametrize("name", NAMES)
def test_fused_batch_equals_simulate_of_the_signal(
    panel: Panel, name: str, execution: str, costs: str
) -> None:
    spec = SPECS[name]
    sets = param_sets(spec, count=12 if costs == "fees" else 5)
    cfg = ExecutionConfig(execution=execution, **COST_MODELS[costs])  # type: ignore[arg-type]
    traded = worked = 0
    for sym in ("AAPL", "GE", "REGN"):
        arrays = panel.arrays(sym)
        _, o, h, lo, c, v = arrays
        batch = run_symbol(spec, arrays, sets, cfg, 252.0, 1.0)
        assert batch.shape == (len(sets), len(METRIC_NAMES))
        for row, p in zip(batch, sets, strict=True):
            sim = simulate(o, h, lo, c, v, spec.signal(o, h, lo, c, v, p), config=cfg)
            for j, key in enumerate(METRIC_NAMES):
                a, b = row[j], sim.metrics[key]
                if key in ("num_trades", "num_closed_trades", "max_drawdown_duration"):
                    assert a == b, (sym, p, key)
                else:
                    assert a == pytest.approx(b, rel=1e-9, nan_ok=True), (sym, p, key)
            traded += int(row[METRIC_NAMES.index("num_trades")])
            worked += sim.fills.shape[0] > 2 * sim.metrics["num_trades"]  # orders spread over several bars
    assert traded > 0
    if costs == "market":
        assert worked > 0, "the participation cap never bound: the test would not exercise it"


@pytest.mark.parametrize("name", NAMES)
def test_batch_rows_are_independent_of_the_batch(panel: Panel, name: str) -> None:
    """A parameter set gives the same row alone, in a batch, and in a shuffled batch (prange has no races)."""
    spec = SPECS[name]
    sets = param_sets(spec, count=16, seed=1)
    arrays = panel.arrays("MSFT")
    cfg = ExecutionConfig(fees=0.001)
    full = run_symbol(spec, arrays, sets, cfg, 252.0, 1.0)
    perm = np.random.default_rng(3).permutation(len(sets))
    shuffled = run_symbol(spec, arrays, [sets[i] for i in perm], cfg, 252.0, 1.0)
    np.testing.assert_array_equal(shuffled, full[perm])
    alone = run_symbol(spec, arrays, [sets[-1]], cfg, 252.0, 1.0)
    np.testing.assert_array_equal(alone[0], full[-1])


def test_batch_run_is_called_for_builtins(panel: Panel) -> None:
    spec = SPECS["sma_cross"]
    _, o, h, lo, c, v = panel.arrays("AAPL")
    z = np.zeros(c.size)
    out = batch_run(
        spec.builtin_id,
        o,
        h,
        lo,
        c,
        v,
        z,
        z,
        np.array([[10.0, 50.0, 0.0]]),
        True,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        100_000.0,
        252.0,
        0.0,
    )
    sim = simulate(o, h, lo, c, v, spec.signal(o, h, lo, c, v, {"fast": 10, "slow": 50}))
    assert out[0, METRIC_NAMES.index("final_equity")] == pytest.approx(sim.metrics["final_equity"], rel=1e-12)


# ------------------------------------------------------------------------------------- (b) no look-ahead


@pytest.mark.parametrize("name", NAMES)
def test_no_look_ahead(panel: Panel, name: str) -> None:
    spec = SPECS[name]
    _, o, h, lo, c, v = panel.arrays("JPM")
    rng = np.random.default_rng(11)
    for p in param_sets(spec, count=4, seed=2):
        full = spec.signal(o, h, lo, c, v, p)
        for t in (0, 1, 30, 200, 777, c.size - 2):
            cut = t + 1
            trunc = spec.signal(
                o[:cut].copy(), h[:cut].copy(), lo[:cut].copy(), c[:cut].copy(), v[:cut].copy(), p
            )
            np.testing.assert_array_equal(trunc, full[:cut], err_msg=f"{name} {p} truncated at {t}")
            # rewrite every bar after t with a very different (still valid) path
            f = np.ones(c.size)
            f[cut:] = np.exp(rng.normal(0, 0.3, c.size - cut))
            o2, c2 = o * f, c * f**1.5
            h2, l2 = np.maximum(h * f, np.maximum(o2, c2)), np.minimum(lo * f, np.minimum(o2, c2))
            alt = spec.signal(o2, h2, l2, c2, v * f, p)
            np.testing.assert_array_equal(alt[:cut], full[:cut], err_msg=f"{name} {p} altered after {t}")


# --------------------------------------------------------------------------------- (c) values, (d) spaces


@pytest.mark.parametrize("name", NAMES)
def test_targets_are_int8_in_minus_one_zero_one(panel: Panel, name: str) -> None:
    spec = SPECS[name]
    _, o, h, lo, c, v = panel.arrays("AMZN")
    seen: set[int] = set()
    for p in param_sets(spec):
        tgt = spec.signal(o, h, lo, c, v, p)
        assert tgt.dtype == np.int8 and tgt.shape == c.shape
        vals = set(np.unique(tgt).tolist())
        assert vals <= ({0, 1} if name in LONG_ONLY or not p.get("allow_short") else {-1, 0, 1}), (name, p)
        seen |= vals
    assert 1 in seen
    if name == "momentum":
        assert -1 in seen


@pytest.mark.parametrize("name", NAMES)
def test_parameter_space_and_defaults(name: str) -> None:
    spec = SPECS[name]
    assert spec.builtin_id is not None and spec.description
    defaults = spec.defaults()
    assert list(defaults) == list(spec.params)
    assert spec.validate_params() == defaults == spec.validate_params(defaults)
    for pname, space in spec.params.items():
        assert space.doc, f"{name}.{pname} has no doc"
        assert space.low <= defaults[pname] <= space.high
        assert isinstance(defaults[pname], int if space.kind == "int" else float)
        grid = space.grid()
        assert grid[0] == space.low and all(space.low <= g <= space.high for g in grid)
        with pytest.raises(ParameterError, match=pname):
            spec.validate_params({pname: space.high + (space.step or 1) * 10})
    signal_kernel_arity = spec.signal_kernel.py_func.__code__.co_argcount
    assert signal_kernel_arity == 5 + len(spec.params)


# ---------------------------------------------------------------------------------------------- (e) Pine


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", text))


@pytest.mark.parametrize("name", NAMES)
def test_pine_template_renders_with_the_params_as_input_defaults(name: str) -> None:
    spec = SPECS[name]
    assert spec.pine_template is not None
    assert _placeholders(spec.pine_template) - {"ticker"} >= set(spec.params) - {"allow_short"}
    for p in param_sets(spec, count=4, seed=5):
        text = render_pine(spec, p, fees=0.001, init_cash=25_000.0, execution="close")
        assert text.startswith("//@version=6\n")
        assert _placeholders(text) <= {"ticker"}, _placeholders(text)
        assert text.count("{{") == text.count("{{ticker}}")
        assert "strategy(" in text and f'"quantray {name}"' in text
        assert "initial_capital=25000.0" in text and "commission_value=0.1," in text
        assert "process_orders_on_close=true" in text
        for pname, value in p.items():
            if pname == "allow_short":
                assert f"input.bool({'true' if value else 'false'}," in text
            elif spec.params[pname].kind == "int":
                assert f"input.int({value}," in text, (pname, value)
            else:
                assert f"input.float({float(value)!r}," in text, (pname, value)
    default = render_pine(spec)
    assert "process_orders_on_close=false" in default
    for pname, value in spec.defaults().items():
        literal = ("true" if value else "false") if pname == "allow_short" else repr(value)
        assert f"({literal}," in default, (pname, literal)


def test_render_pine_validates_params() -> None:
    with pytest.raises(ParameterError, match="slow > fast"):
        render_pine(SPECS["sma_cross"], {"fast": 50, "slow": 10})
    with pytest.raises(ParameterError, match="unknown parameter"):
        render_pine(SPECS["sma_cross"], {"fats": 5})


# ------------------------------------------------------------------- signals equal their documented rules


TIE = 1e-9  # a difference below 1e-9 x price is an exact tie that float rounding can tip either way


def _cross(d: np.ndarray, start: int, scale: np.ndarray, follow: np.ndarray) -> tuple[np.ndarray, int]:
    """Target from a difference series: 1 from a cross above (d>0, prev<=0), 0 from a cross below (d<0,
    prev>=0). On a tie bar (|d| or |prev| within TIE x price) the kernel's decision is taken as given."""
    out = np.zeros(d.size, dtype=np.int8)
    state, ties = 0, 0
    for t in range(d.size):
        if t >= start and not np.isnan(d[t - 1]):
            if abs(d[t]) <= TIE * scale[t] or abs(d[t - 1]) <= TIE * scale[t]:
                state, ties = int(follow[t]), ties + 1
            elif d[t] > 0 and d[t - 1] <= 0:
                state = 1
            elif d[t] < 0 and d[t - 1] >= 0:
                state = 0
        out[t] = state
    return out, ties


def _hold(
    enter: np.ndarray, leave: np.ndarray, margins: list[np.ndarray], scale: np.ndarray, follow: np.ndarray
) -> tuple[np.ndarray, int]:
    out = np.zeros(enter.size, dtype=np.int8)
    state, ties = 0, 0
    for t in range(enter.size):
        if any(abs(m[t]) <= TIE * scale[t] for m in margins):
            state, ties = int(follow[t]), ties + 1
        elif enter[t]:
            state = 1
        elif leave[t]:
            state = 0
        out[t] = state
    return out, ties


def reference_signal(
    name: str, p: dict, h: np.ndarray, lo: np.ndarray, c: np.ndarray, follow: np.ndarray
) -> tuple[np.ndarray, int]:
    """The documented rule of each built-in from the slow reference indicators; returns (target, tie bars)."""
    n = c.size
    if name == "buy_and_hold":
        return np.ones(n, dtype=np.int8), 0
    if name == "sma_cross":
        return _cross(ref_sma(c, p["fast"]) - ref_sma(c, p["slow"]), p["slow"], c, follow)
    if name == "ema_cross":
        return _cross(ref_ema(c, p["fast"]) - ref_ema(c, p["slow"]), p["slow"], c, follow)
    if name == "macd":
        line, sig, _ = ref_macd(c, p["fast"], p["slow"], p["signal"])
        return _cross(line - sig, p["slow"] + p["signal"] - 1, c, follow)
    with np.errstate(invalid="ignore"):
        if name == "rsi_reversion":
            r = ref_rsi(c, p["window"])
            hundred = np.full(n, 100.0)
            return _hold(r < p["lower"], r > p["upper"], [r - p["lower"], r - p["upper"]], hundred, follow)
        if name == "bollinger_reversion":
            s = pd.Series(c).rolling(p["window"])
            mid, sd = s.mean().to_numpy(), s.std(ddof=0).to_numpy()
            lower = mid - p["k"] * sd
            return _hold(c < lower, c > mid, [c - lower, c - mid], c, follow)
        if name == "donchian_breakout":  # max/min involve no arithmetic: no ties to forgive
            upper = pd.Series(h).rolling(p["window"]).max().shift(1).to_numpy()
            lower = pd.Series(lo).rolling(p["exit_window"]).min().shift(1).to_numpy()
            return _hold(c > upper, c < lower, [], c, follow)
    if name == "momentum":
        out = np.zeros(n, dtype=np.int8)
        lb = p["lookback"]
        m = c[lb:] / c[:-lb] - 1
        short = bool(p["allow_short"]) & (m < -p["threshold"])
        out[lb:] = np.where(m > p["threshold"], 1, np.where(short, -1, 0))
        return out, 0
    raise AssertionError(name)


@pytest.mark.parametrize("name", NAMES)
def test_signal_equals_its_documented_definition(panel: Panel, name: str) -> None:
    spec = SPECS[name]
    bars = ties = 0
    for sym in ("AAPL", "XOM", "SPG", "T", "REGN"):
        _, o, h, lo, c, v = panel.arrays(sym)
        for p in param_sets(spec, count=8, seed=9):
            got = spec.signal(o, h, lo, c, v, p)
            expected, n_ties = reference_signal(name, p, h, lo, c, got)
            bad = np.flatnonzero(got != expected)
            assert bad.size == 0, f"{name} {p} {sym}: first difference at bar {bad[:1]}"
            bars, ties = bars + c.size, ties + n_ties
    assert ties <= 0.002 * bars  # the forgiven tie bars are rare: the comparison is strict almost everywhere


def test_sma_cross_exact_tie_is_not_a_cross() -> None:
    spec = SPECS["sma_cross"]
    c = np.array([0.3, 0.1, 0.2, 0.7, 0.7])
    # SMA(1) - SMA(2): nan, -0.1, +0.05, +0.25, 0 -> enter on bar 2, and a tie on bar 4 is no cross below
    np.testing.assert_array_equal(spec.signal(c, c, c, c, c, {"fast": 1, "slow": 2}), [0, 0, 1, 1, 1])
    c = np.array([123.46, 77.35, 199.44, 196.19, 137.42, 137.42])
    np.testing.assert_array_equal(spec.signal(c, c, c, c, c, {"fast": 1, "slow": 2}), [0, 0, 1, 0, 0, 0])


def test_bollinger_flat_price_never_enters() -> None:
    c = np.full(30, 0.1)
    np.testing.assert_array_equal(SPECS["bollinger_reversion"].signal(c, c, c, c, c, {"window": 3}), 0)


def test_momentum_threshold_band_is_flat() -> None:
    c = np.array([100.0, 100.0, 101.0, 103.0, 100.0, 97.0, 99.0])
    spec = SPECS["momentum"]
    got = spec.signal(c, c, c, c, c, {"lookback": 1, "threshold": 0.015, "allow_short": 1})
    # returns: -, 0, +1 %, +1.98 %, -2.9 %, -3 %, +2.06 %
    np.testing.assert_array_equal(got, [0, 0, 0, 1, -1, -1, 1])
    assert math.isclose(103 / 101 - 1, 0.0198, rel_tol=1e-2)


@pytest.mark.parametrize("w", [2, 5, 14, 50])
def test_incremental_ema_and_rsi_steps_equal_the_engine_bit_for_bit(w: int) -> None:
    """The built-ins' incremental ema/rsi steps do the engine's operations (Pine's ``ta.ema``/``ta.rma`` step,
    rsi with one division), so a strategy's indicator equals ``quantray.engine.ema``/``rsi`` exactly."""
    from quantray.engine import ema, rsi
    from quantray.engine._indicators import rsi_value
    from quantray.strategies._kernels import _ema_update, _rsi_update

    _ts, _o, _h, _lo, c, _v = Panel.from_bars(load_sample()).arrays("AAPL")
    c = c[:400]
    af, ar = 2.0 / (w + 1.0), 1.0 / w
    s, g, lo = 0.0, 0.0, 0.0
    got_e, got_r = np.full(c.size, np.nan), np.full(c.size, np.nan)
    for t in range(c.size):
        s = _ema_update(c[t], t, w, af, s)
        g, lo = _rsi_update(c[t], c[t - 1] if t else 0.0, t, w, ar, g, lo)
        if t >= w - 1:
            got_e[t] = s
        if t >= w:
            got_r[t] = rsi_value(g, lo)
    np.testing.assert_array_equal(got_e, ema(c, w))
    np.testing.assert_array_equal(got_r, rsi(c, w))
