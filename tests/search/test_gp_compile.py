"""The compiled register machine equals a slow interpreter of the same tree on random typed trees (hypothesis),
its indicators equal the engine's on clean series, and the grammar rejects what cannot produce a rule."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantray.data import Panel, load_sample
from quantray.engine import ema, rsi, sma
from quantray.errors import ConfigError
from quantray.search import GrammarConfig, compile_rule, format_rule, parse_rule
from quantray.search._grammar import DEFAULT_LEVELS, PRIMITIVES, Bool, Level, Node, Osc, Series, Window
from quantray.search._kernels import k_extreme, k_rsi, k_seeded, k_sma, run_program

from ._interp import interpret

N_BARS = 160


@pytest.fixture(scope="module")
def bars() -> dict[str, np.ndarray]:
    _ts, o, h, lo, c, v = Panel.from_bars(load_sample()).arrays("JPM")
    sl = slice(300, 300 + N_BARS)
    return {"open": o[sl], "high": h[sl], "low": lo[sl], "close": c[sl], "volume": v[sl]}


WINDOWS = st.sampled_from([1, 2, 3, 5, 14, 20, 50])
LEVELS = st.sampled_from(list(DEFAULT_LEVELS))


@functools.cache
def _of_type(t: type, depth: int) -> st.SearchStrategy[Node]:
    if t is Window:
        return WINDOWS.map(lambda w: Node("window", value=float(w)))
    if t is Level:
        return LEVELS.map(lambda x: Node("level", value=x))
    options: list[st.SearchStrategy[Node]] = []
    if t is Series:
        options.append(st.sampled_from(["open", "high", "low", "close", "volume"]).map(Node))
    if depth > 0:
        for p in PRIMITIVES.values():
            if p.ret is t:
                args = st.tuples(*[_of_type(a, depth - 1) for a in p.args])
                options.append(args.map(lambda xs, name=p.name: Node(name, tuple(xs))))
    return st.one_of(*options)


def rules(depth: int = 5) -> st.SearchStrategy[Node]:
    return _of_type(Bool, depth)


def _run(node: Node, bars: dict[str, np.ndarray]) -> np.ndarray:
    p = compile_rule(node)
    return run_program(
        p.code, p.imm, p.n_regs, p.root, *(bars[k] for k in ("open", "high", "low", "close", "volume"))
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=rules())
def test_compiled_rule_equals_the_slow_interpreter(node: Node, bars: dict[str, np.ndarray]) -> None:
    got = _run(node, bars)
    want = np.array(interpret(node, bars))
    assert got.shape == want.shape
    assert set(np.unique(got)) <= {0.0, 1.0}
    np.testing.assert_array_equal(got, want)  # bit for bit: same operations in the same order


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    node=st.one_of(_of_type(Series, 3), _of_type(Osc, 3)),
)
def test_compiled_series_equal_the_interpreter_including_undefined_values(
    node: Node, bars: dict[str, np.ndarray]
) -> None:
    """Series-valued subtrees (NaN warm-ups, division by zero) through a comparison-free wrapper."""
    wrapped = (
        Node("gt", (node, Node("close")))
        if node.name not in PRIMITIVES or PRIMITIVES[node.name].ret is Series
        else Node("above", (node, Node("level", value=50.0)))
    )
    # the root is boolean; check the series itself via a program whose root is the series node
    p = compile_rule(wrapped)
    assert p.code.shape[0] >= 2
    series_prog = compile_rule(wrapped)
    # the register holding the series is the first argument of the root row
    root_row = series_prog.code[-1]
    arrs = [bars[k] for k in ("open", "high", "low", "close", "volume")]
    code = series_prog.code[:-1]
    imm = series_prog.imm[:-1]
    got = run_program(code, imm, series_prog.n_regs, int(root_row[2]), *arrs)
    want = np.array(interpret(node, bars))
    np.testing.assert_array_equal(got, want)


def test_common_subtrees_are_computed_once() -> None:
    node = parse_rule("and(gt(sma(close,20),sma(close,50)),lt(sma(close,20),ema(close,50)))")
    p = compile_rule(node)
    ops = p.code[:, 0].tolist()
    assert len(ops) == 7  # close, sma20, sma50, gt, ema50, lt, and: close and sma20 once each
    assert ops.count(3) == 1 and ops.count(5) == 2
    assert p.n_regs <= 4


def test_indicators_equal_the_engine_on_clean_series(bars: dict[str, np.ndarray]) -> None:
    c = bars["close"]
    for n in (1, 2, 5, 14, 50):
        out = np.empty_like(c)
        k_sma(c, n, out)
        np.testing.assert_array_equal(out, sma(c, n))
        k_seeded(c, n, 2.0 / (n + 1.0), out)
        np.testing.assert_array_equal(out, ema(c, n))
        k_rsi(c, n, out)
        np.testing.assert_array_equal(out, rsi(c, n))
        k_extreme(c, n, 1.0, out)
        np.testing.assert_array_equal(out, pd.Series(c).rolling(n).max().to_numpy())
        k_extreme(c, n, -1.0, out)
        np.testing.assert_array_equal(out, pd.Series(c).rolling(n).min().to_numpy())


def test_rule_text_round_trips_and_bad_text_is_rejected() -> None:
    text = "and(gt(sma(close,20),sma(close,50)),below(rsi(close,14),70))"
    assert format_rule(parse_rule(text)) == text
    assert (
        format_rule(parse_rule(" and( gt(sma(close, 20), sma(close,50)) , below(rsi(close,14), 70.0))"))
        == text
    )
    for bad, fragment in [
        ("gt(close)", "takes 2 arguments"),
        ("sma(close,20)", "returns Series, expected Bool"),
        ("gt(close,foo)", "unknown name 'foo'"),
        ("gt(sma(close,0),close)", "window 0"),
        ("below(rsi(close,14),120)", "level 120"),
        ("gt(close,close) x", "unexpected"),
    ]:
        with pytest.raises(ConfigError, match=fragment):
            parse_rule(bad)


def test_a_grammar_that_cannot_produce_a_rule_is_rejected() -> None:
    with pytest.raises(ConfigError, match="cannot produce a valid rule"):
        GrammarConfig(comparisons=("above", "below"), indicators=("sma",))
    with pytest.raises(ConfigError, match="cannot produce a valid rule"):
        GrammarConfig(series=(), indicators=())
    with pytest.raises(ConfigError, match="unknown name"):
        GrammarConfig(indicators=("sma", "bollinger"))
    with pytest.raises(ConfigError, match="windows"):
        GrammarConfig(windows=(0, 5))
    with pytest.raises(ConfigError, match="within init_max_depth"):
        GrammarConfig(comparisons=("above",), series=("close",), init_min_depth=1, init_max_depth=1)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes=st.lists(rules(4), min_size=1, max_size=8), dup=st.booleans(), tiny=st.booleans())
def test_a_merged_batch_equals_each_rule_evaluated_on_its_own(
    nodes: list[Node], dup: bool, tiny: bool, bars: dict[str, np.ndarray]
) -> None:
    """The batch-wide subtree sharing (merge_programs, chunked under a register budget) gives every rule the
    very metrics of its own program run alone, and its root values equal the slow interpreter's."""
    from quantray.search import _discover
    from quantray.search._discover import EvalData, evaluate_batch
    from quantray.search._grammar import merge_programs
    from quantray.search._kernels import batch_fold_metrics, execute

    if dup:  # repeated rules and rules that are subtrees of others
        nodes = nodes + nodes[:2] + [n.args[0] for n in nodes if n.args and n.args[0].name in PRIMITIVES][:2]
        nodes = [n for n in nodes if PRIMITIVES.get(n.name, PRIMITIVES["gt"]).ret is Bool]
    progs = [compile_rule(n) for n in nodes]
    arrs = [np.ascontiguousarray(bars[x]) for x in ("open", "high", "low", "close", "volume")]
    codes, imms, offs, n_regs, roots = merge_programs(progs)
    assert offs[-1] <= sum(p.code.shape[0] for p in progs)
    regs = np.full((int(n_regs[0]), N_BARS), np.nan)
    for j, node in enumerate(nodes):  # run rule by rule on the shared register file, as the kernel does
        execute(codes[offs[j] : offs[j + 1]], imms[offs[j] : offs[j + 1]], regs, *arrs)
        np.testing.assert_array_equal(regs[roots[j]], np.array(interpret(node, bars)))
    bounds = np.array([[0, 60], [60, 120]], dtype=np.int64)
    data = EvalData(
        arrays={"X": tuple(arrs)},
        bounds={"X": bounds},
        exec_args=(True, 0.0005, 0.0, 0.0, 100_000.0),
        periods_per_year=252.0,
    )
    with pytest.MonkeyPatch.context() as mp:
        if tiny:  # force the batch to be cut into chunks
            mp.setattr(_discover, "REGISTER_BUDGET", 1)
        got = evaluate_batch(data, progs)
    for j, p in enumerate(progs):
        one = np.array([p.n_regs], dtype=np.int64)
        offs1 = np.array([0, p.code.shape[0]], dtype=np.int64)
        root = np.array([p.root], dtype=np.int64)
        want = batch_fold_metrics(
            p.code, p.imm, offs1, one, root, *arrs, bounds, True, 0.0005, 0.0, 0.0, 1e5, 252.0
        )
        np.testing.assert_array_equal(got[j][0], want[0])


def _deque_extreme(x: np.ndarray, n: int, sign: float) -> np.ndarray:
    """Slow reference: the monotonic-deque rolling extreme (latest bar wins among equal values)."""
    out = np.empty(len(x))
    dq: list[int] = []
    last_bad = -1
    for t, xt in enumerate(x):
        if not np.isfinite(xt):
            last_bad, dq = t, []
            out[t] = np.nan
            continue
        while dq and sign * x[dq[-1]] <= sign * xt:
            dq.pop()
        dq.append(t)
        while dq[0] <= t - n:
            dq.pop(0)
        out[t] = x[dq[0]] if t - last_bad >= n else np.nan
    return out


def _assert_extreme_equals_the_deque(arr: np.ndarray, n: int, sign: float) -> None:
    got = np.empty_like(arr)
    k_extreme(arr, n, sign, got)
    want = _deque_extreme(arr, n, sign)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(got[ok].view(np.int64), want[ok].view(np.int64))  # bit for bit: signed zeros too


@settings(max_examples=120, deadline=None)
@given(
    x=st.lists(
        st.sampled_from([-1.0, -0.0, 0.0, 1.0, 2.5, np.nan, np.inf, -np.inf]), min_size=1, max_size=90
    ),
    n=st.sampled_from([1, 2, 3, 5, 8, 20, 50, 200]),
    sign=st.sampled_from([1.0, -1.0]),
)
def test_rolling_extreme_is_bit_identical_to_a_deque(x: list[float], n: int, sign: float) -> None:
    """Blocked (van Herk) highest/lowest equal the deque bit for bit, signed zeros and undefined bars included."""
    arr = np.array(x)
    _assert_extreme_equals_the_deque(arr, n, sign)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([1, 7, 300, 4097, 9000]),  # 4096 outputs per block: block edges are crossed
    warmup=st.sampled_from([0, 1, 13, 250]),
    n=st.sampled_from([1, 2, 3, 5, 10, 14, 20, 30, 50, 100, 200]),
    sign=st.sampled_from([1.0, -1.0]),
)
def test_rolling_extreme_of_a_series_defined_after_its_warm_up_is_bit_identical_to_a_deque(
    seed: int, size: int, warmup: int, n: int, sign: float
) -> None:
    """Series whose only undefined values lead (the doubling path): same values as the deque bit for bit, ties
    between 0.0 and -0.0 included (few distinct values: many ties)."""
    rng = np.random.default_rng(seed)
    arr = rng.choice(np.array([-2.0, -0.0, 0.0, 1.0, 3.5]), size=size)
    arr[: min(warmup, size)] = rng.choice(np.array([np.nan, np.inf, -np.inf]), size=min(warmup, size))
    _assert_extreme_equals_the_deque(arr, n, sign)


@settings(max_examples=120, deadline=None)
@given(
    x=st.lists(st.sampled_from([-1.0, 0.0, 1.0, 2.5, 7.0, np.nan, np.inf]), min_size=1, max_size=80),
    y=st.lists(st.sampled_from([-3.0, 0.5, 1.0, 4.0, np.nan, -np.inf]), min_size=80, max_size=80),
    n=st.sampled_from([1, 2, 3, 5, 14, 50]),
    m=st.sampled_from([1, 2, 4, 20]),
)
def test_two_rows_in_one_loop_equal_each_row_alone(x: list[float], y: list[float], n: int, m: int) -> None:
    """The paired indicator kernels (two independent rows advanced together) are bit-identical to the
    single-row kernels, undefined values and restarts included."""
    from quantray.search._kernels import k_seeded2, k_sma2

    a = np.array(x)
    b = np.array(y[: len(x)])
    w1, w2, g1, g2 = (np.empty_like(a) for _ in range(4))
    for single, paired in (
        (lambda s, k, o: k_sma(s, k, o), lambda: k_sma2(a, n, g1, b, m, g2)),
        (
            lambda s, k, o: k_seeded(s, k, 2.0 / (k + 1.0), o),
            lambda: k_seeded2(a, n, 2.0 / (n + 1.0), g1, b, m, 2.0 / (m + 1.0), g2),
        ),
    ):
        single(a, n, w1)
        single(b, m, w2)
        paired()
        for got, want in ((g1, w1), (g2, w2)):
            assert np.array_equal(np.isnan(got), np.isnan(want))
            ok = ~np.isnan(want)
            assert np.array_equal(got[ok].view(np.int64), want[ok].view(np.int64))


def _bits_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(got[ok].view(np.int64), want[ok].view(np.int64))


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([1, 5, 60, 300]),
    warmups=st.tuples(st.sampled_from([0, 1, 4, 30, 400]), st.sampled_from([0, 2, 25])),
    n=st.sampled_from([1, 2, 3, 5, 14, 50]),
    m=st.sampled_from([1, 4, 20]),
    scale=st.sampled_from([1.0, 1e300]),  # 1e300: the running sums overflow to inf and then to nan
    holes=st.sampled_from([0, 1, 3]),
)
def test_sma_inner_loop_equals_the_general_loop(
    seed: int, size: int, warmups: tuple[int, int], n: int, m: int, scale: float, holes: int
) -> None:
    """sma's inner loop (taken while the window is all defined: alone and paired) does the general loop's
    operations: bit for bit the interpreter's values, after warm-ups of NaN/inf of any length (longer than the
    series too), around undefined values later on (``holes``) and with sums that overflow."""
    from quantray.search._kernels import k_sma2

    from ._interp import _sma

    rng = np.random.default_rng(seed)
    a, b = (rng.choice(np.array([-2.0, -0.0, 0.0, 1.0, 3.5, 0.1]), size=size) * scale for _ in range(2))
    for arr, w in ((a, warmups[0]), (b, warmups[1])):
        arr[: min(w, size)] = rng.choice(np.array([np.nan, np.inf, -np.inf]), size=min(w, size))
        arr[rng.integers(0, size, holes)] = rng.choice(np.array([np.nan, np.inf, -np.inf]), size=holes)
    want_a, want_b = np.array(_sma(a.tolist(), n)), np.array(_sma(b.tolist(), m))
    got_a, got_b = np.empty(size), np.empty(size)
    k_sma(a, n, got_a)
    _bits_equal(got_a, want_a)
    got_a.fill(7.0)
    k_sma2(a, n, got_a, b, m, got_b)
    _bits_equal(got_a, want_a)
    _bits_equal(got_b, want_b)
