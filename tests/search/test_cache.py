"""The evaluators' cross-generation node cache: a rule scored from cached node values equals the same rule
scored from scratch (and by the independent register-machine path, one rule per program) bit for bit; a tiny
budget that forces evictions (and a rule larger than the budget) changes no result; routing rules over several
evaluators changes no result; evolution never reads the holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantray.data import Panel, load_sample
from quantray.search import DiscoverConfig, compile_rule, discover, format_rule, parse_rule
from quantray.search._discover import EvalData, Evaluator, EvaluatorPool, _split, rule_nodes
from quantray.search._grammar import Node
from quantray.search._kernels import OP_GT, OP_SMA, batch_fold_metrics

from .test_gp_compile import rules

N_BARS = 240
BOUNDS = np.array([[0, 80], [80, 160], [160, 240]], dtype=np.int64)
EXEC = (True, 0.0005, 0.0002, 0.0, 100_000.0)


def _data() -> EvalData:
    panel = Panel.from_bars(load_sample())
    arrays = {}
    for sym in ("JPM", "XOM"):
        _ts, o, h, lo, c, v = panel.arrays(sym)
        arrays[sym] = tuple(np.ascontiguousarray(x[200 : 200 + N_BARS]) for x in (o, h, lo, c, v))
    return EvalData(arrays=arrays, bounds={s: BOUNDS for s in arrays}, exec_args=EXEC, periods_per_year=252.0)


DATA = _data()


def _alone(node: Node) -> np.ndarray:
    """One rule through its own compiled program and the register-machine kernel (no cache, no merging)."""
    p = compile_rule(node)
    per = []
    for sym, arrs in DATA.arrays.items():
        one = np.array([p.n_regs], dtype=np.int64)
        offs = np.array([0, p.code.shape[0]], dtype=np.int64)
        root = np.array([p.root], dtype=np.int64)
        per.append(
            batch_fold_metrics(p.code, p.imm, offs, one, root, *arrs, DATA.bounds[sym], *EXEC, 252.0)[0]
        )
    return np.stack(per)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # NaN == NaN, every other value bit for bit


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nodes=st.lists(rules(4), min_size=2, max_size=10),
    split=st.integers(0, 10),
    budget=st.sampled_from([0, 64]),
)
def test_cached_evaluation_equals_uncached_bit_for_bit(nodes: list[Node], split: int, budget: int) -> None:
    texts = [format_rule(n) for n in nodes]
    split = min(split, len(texts))
    ev = Evaluator(DATA, cache_mb=budget)  # 0: the minimum of slots, evictions all the time
    first = ev.evaluate(texts[:split])
    second = ev.evaluate(texts[split:] + texts[: split // 2])  # repeats come from the cache
    got = first + second[: len(texts) - split]
    again = second[len(texts) - split :]
    for j, node in enumerate(nodes):
        want = _alone(node)
        _same(got[j], want)
        fresh = Evaluator(DATA, cache_mb=budget).evaluate([texts[j]])[0]
        _same(fresh, want)
    for j, m in enumerate(again):
        _same(m, got[j])


def test_eviction_under_a_small_budget_changes_no_result() -> None:
    texts = [
        "gt(sma(close,20),sma(close,50))",
        "lt(ema(close,10),sma(close,20))",
        "and(gt(highest(high,20),lag(close,2)),below(rsi(close,14),70))",
        "or(cross_above(ema(close,5),sma(close,20)),lt(div(close,open),sub(high,low)))",
        # more distinct nodes than the minimum budget holds: the evaluator grows for this one rule
        "and(and(gt(sma(close,2),sma(close,3)),gt(sma(close,5),sma(close,10))),"
        "and(gt(ema(close,2),ema(close,3)),gt(ema(close,5),lowest(low,10))))",
        "gt(sma(close,20),sma(close,50))",
    ]
    big = Evaluator(DATA, cache_mb=64)
    want = big.evaluate(texts)
    small = Evaluator(DATA, cache_mb=0)
    cap0 = small.capacity
    got = [m for i in range(0, len(texts), 2) for m in small.evaluate(texts[i : i + 2])]
    for a, b in zip(got, want, strict=True):
        _same(a, b)
    distinct = {key for t in texts for key, *_ in rule_nodes(parse_rule(t))}
    assert small.misses > len(distinct)  # values were evicted and computed again
    # the large cache computed each value once; only the repeated rule's root comparison, whose value is not
    # stored (the target is computed from its arguments), was computed again
    assert big.misses == len(distinct) + 1 and big.hits > 0
    assert small.capacity > cap0  # the 15-node rule did not fit the minimum and the slots grew
    assert len(small.resident()) <= small.capacity - 5
    # independent indicators of the same kind at the same depth run two at a time
    code, _imm, pair, roots, fused = Evaluator(DATA).plan([rule_nodes(parse_rule(texts[0]))])
    assert pair.tolist() == [1, 0]  # sma(close,20) with sma(close,50)
    assert roots.tolist() == [-1] and fused[0, 0] == OP_GT  # gt is computed straight into the target
    assert code[:, 0].tolist() == [OP_SMA, OP_SMA]


def test_routing_over_evaluators_changes_no_result() -> None:
    texts = [
        f"gt(sma({s},{w}),ema({s},{w2}))"
        for s in ("close", "high")
        for w, w2 in ((5, 20), (10, 50), (20, 50))
    ] + ["below(rsi(close,14),30)", "gt(sma(close,5),ema(close,20))"]
    one = EvaluatorPool(DATA, n=1, backend="local", batch_size=64, cache_mb=0)
    three = EvaluatorPool(DATA, n=3, backend="local", batch_size=2, cache_mb=64)
    parts = three.route(texts)
    assert sorted(j for p in parts for j in p) == list(range(len(texts)))
    assert sum(1 for p in parts if p) == 3  # the work was spread
    for _ in range(2):  # the second round is routed by the mirrors of what each evaluator holds
        for a, b in zip(one(texts), three(texts), strict=True):
            _same(a, b)
    # a rule goes where its subtrees are: sma(close,5) and ema(close,20) are held by one evaluator
    holder = [i for i, keys in enumerate(three.mirror) if "sma(close,5)" in keys and "ema(close,20)" in keys]
    routed = three.route(["lt(sma(close,5),ema(close,20))"])
    assert holder and routed[holder[0]] == [0]
    one.close()
    three.close()


def test_evolution_never_reads_the_holdout() -> None:
    """Scramble the holdout's prices: the evolution (hall of fame, generations) is unchanged bit for bit."""
    cfg = DiscoverConfig(population=12, generations=2, seed=3, backend="local", hall_of_fame=4)
    panel = Panel.from_bars(load_sample())
    bars, scrambled = {}, {}
    rng = np.random.default_rng(3)
    for sym in ("AAPL", "JPM"):
        ts, o, h, lo, c, v = panel.arrays(sym)
        bars[sym] = (ts, o, h, lo, c, v)
        _bounds, hs = _split(c.size, cfg)
        f = np.ones(c.size)
        f[hs:] = rng.uniform(0.5, 2.0, c.size - hs)
        scrambled[sym] = (ts, o * f, h * f, lo * f, c * f, v)
    a = discover(bars, config=cfg)
    b = discover(scrambled, config=cfg)
    pd.testing.assert_frame_equal(a.hall_of_fame, b.hall_of_fame, check_exact=True)
    pd.testing.assert_frame_equal(a.generations, b.generations, check_exact=True)
    assert not a.validation["oos_sharpe"].equals(b.validation["oos_sharpe"])  # the holdout itself did change


def test_a_dead_evaluator_is_replaced_and_the_call_repeated(ray_local) -> None:  # type: ignore[no-untyped-def]
    import ray

    from quantray.search import _raymap

    texts = ["gt(sma(close,5),sma(close,20))", "below(rsi(close,14),30)", "lt(ema(high,10),lag(close,3))"]
    want = EvaluatorPool(DATA, n=1, backend="local", cache_mb=0)(texts)
    pool = EvaluatorPool(DATA, n=2, backend="ray", batch_size=1)
    first = pool(texts)
    dead = _raymap._HOSTS[0]
    ray.kill(dead)  # the evaluator's process dies between two generations
    again = pool(texts)
    pool.close()
    assert _raymap._HOSTS[0]._actor_id != dead._actor_id  # replaced
    for a, b, c in zip(first, again, want, strict=True):
        _same(a, c)
        _same(b, c)
