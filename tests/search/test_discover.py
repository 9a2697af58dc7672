"""Genetic discovery: reproducible by seed (locally and on Ray), fitness equal to the engine's simulation of the
rule, holdout validation consistent with the gates, survivors exported as StrategySpecs and Pine Script v6 and
registered in the lifecycle registry."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quantray
from quantray.data import Panel, load_sample, sample_path
from quantray.engine import ExecutionConfig, simulate
from quantray.errors import ConfigError, DataError
from quantray.search import DiscoverConfig, Gates, Registry, discover, parse_rule, rule_spec
from quantray.search._discover import PENALTY
from quantray.strategies import get_strategy, render_pine

from ._interp import interpret

SYMS = ["AAPL", "JPM"]


def _cfg(**kw: object) -> DiscoverConfig:
    base: dict[str, object] = dict(population=16, generations=3, seed=7, backend="local", hall_of_fame=5)
    base.update(kw)
    return DiscoverConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def run_local() -> quantray.search.DiscoveryResult:
    return discover(sample_path(), symbols=SYMS, config=_cfg())


def test_same_seed_same_run_bit_for_bit_and_on_ray(run_local, ray_local) -> None:  # type: ignore[no-untyped-def]
    again = discover(sample_path(), symbols=SYMS, config=_cfg())
    pd.testing.assert_frame_equal(run_local.hall_of_fame, again.hall_of_fame, check_exact=True)
    pd.testing.assert_frame_equal(run_local.generations, again.generations, check_exact=True)
    on_ray = discover(sample_path(), symbols=SYMS, config=_cfg(backend="ray", batch_size=5))
    pd.testing.assert_frame_equal(run_local.hall_of_fame, on_ray.hall_of_fame, check_exact=True)
    pd.testing.assert_frame_equal(run_local.validation, on_ray.validation, check_exact=True)
    assert on_ray.tasks > 3  # the population was batched into several evaluator calls
    # three in-process evaluators, a cache too small to hold a generation (evictions), other batches
    routed = discover(sample_path(), symbols=SYMS, config=_cfg(workers=3, cache_mb=0, batch_size=3))
    pd.testing.assert_frame_equal(run_local.hall_of_fame, routed.hall_of_fame, check_exact=True)
    pd.testing.assert_frame_equal(run_local.generations, routed.generations, check_exact=True)
    other = discover(sample_path(), symbols=SYMS, config=_cfg(seed=8))
    assert list(other.hall_of_fame["rule"]) != list(run_local.hall_of_fame["rule"])


def test_fitness_is_the_engine_simulation_of_the_rule_on_each_fold(run_local) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg()
    row = run_local.hall_of_fame.iloc[0]
    node = parse_rule(row["rule"])
    _score, raw, _mdd, trades = _engine_fitness(row["rule"], cfg)
    assert row["fold_sharpe"] == pytest.approx(raw, rel=1e-9, abs=1e-12)
    assert trades >= cfg.min_trades
    assert row["score"] == pytest.approx(row["fold_sharpe"] - cfg.parsimony * node.size, rel=1e-12)


def _engine_fitness(rule: str, cfg: DiscoverConfig) -> tuple[float, float, float, float]:
    """(score, mean fold Sharpe, mean fold max drawdown, trades per symbol) of a rule from first principles: the
    reference interpreter's signal, the engine's simulation of each fold, DiscoverConfig's gates and parsimony."""
    node = parse_rule(rule)
    panel = Panel.from_bars(load_sample())
    sharpes, trades, expo, mdds = [], [], [], []
    for sym in SYMS:
        _, o, h, lo, c, v = panel.arrays(sym)
        sig = np.array(interpret(node, {"open": o, "high": h, "low": lo, "close": c, "volume": v}))
        target = ((sig != 0) & np.isfinite(sig)).astype(np.int8)
        hs = round(c.size * (1 - cfg.holdout))
        edges = np.linspace(0, hs, cfg.folds + 1).round().astype(int)
        n_tr = 0.0
        for s, e in itertools.pairwise(edges):
            m = simulate(o[s:e], h[s:e], lo[s:e], c[s:e], v[s:e], target[s:e], config=cfg.execution).metrics
            sharpes.append(m["sharpe"] if np.isfinite(m["sharpe"]) else 0.0)
            expo.append(m["exposure"])
            mdds.append(m["max_drawdown"])
            n_tr += m["num_trades"]
        trades.append(n_tr)
    raw = float(np.mean(sharpes))
    ok = np.mean(trades) >= cfg.min_trades and np.nanmean(expo) <= cfg.max_exposure
    mdd = float(np.nanmean(mdds)) if np.isfinite(mdds).any() else 1.0
    return (raw if ok else PENALTY) - cfg.parsimony * node.size, raw, mdd, float(np.mean(trades))


def test_every_trial_is_in_the_evaluated_table(run_local) -> None:  # type: ignore[no-untyped-def]
    """One row per distinct rule scored: its requests add up to what the GA asked for, each generation's new
    rules are those it first asked for, the hall of fame is among them with the same scores, and trials' scores
    (the best, the worst, one in between) are their rules' fitness recomputed from first principles."""
    cfg = _cfg()
    ev, gens = run_local.evaluated, run_local.generations
    cols = ["rule", "size", "gen", "requests", "score", "fold_sharpe", "fold_max_drawdown"]
    assert list(ev.columns) == cols
    assert len(ev) == run_local.n_evaluated == ev["rule"].nunique()
    assert int(ev["requests"].sum()) == int(gens["requested"].iloc[-1])
    assert (ev["requests"] >= 1).all() and (ev["requests"] > 1).any()  # repeats are served from the cache
    new_per_gen = ev.groupby("gen").size().reindex(gens["gen"], fill_value=0).to_numpy()
    np.testing.assert_array_equal(new_per_gen, gens["evaluated"].to_numpy())
    assert ev["size"].tolist() == [parse_rule(r).size for r in ev["rule"]]
    by_rule = ev.set_index("rule")
    for _, row in run_local.hall_of_fame.iterrows():
        want = (row["score"], row["fold_sharpe"], row["fold_max_drawdown"])
        assert tuple(by_rule.loc[row["rule"], ["score", "fold_sharpe", "fold_max_drawdown"]]) == want
    order = by_rule["score"].sort_values()
    for rule in (order.index[0], order.index[len(order) // 2], order.index[-1]):
        score, raw, mdd, _trades = _engine_fitness(rule, cfg)
        assert by_rule.loc[rule, "fold_sharpe"] == pytest.approx(raw, rel=1e-9, abs=1e-12)
        assert by_rule.loc[rule, "score"] == pytest.approx(score, rel=1e-9, abs=1e-12)
        assert by_rule.loc[rule, "fold_max_drawdown"] == pytest.approx(mdd, rel=1e-9, abs=1e-12)


def test_validation_applies_the_gates_and_registers_only_survivors(tmp_path: Path) -> None:
    gates = Gates(min_dsr=0.3, max_pbo=1.0, min_trades=1, min_oos_sharpe=0.0)
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    res = discover(sample_path(), symbols=SYMS, config=_cfg(gates=gates), registry=url)
    v = res.validation
    assert len(v) == len(res.hall_of_fame) and (v["n_trials"] == len(v)).all()
    assert (v["dsr"] <= v["psr"] + 1e-12).all()  # deflating for the selection never helps
    assert not res.hall_of_fame["penalised"].any()  # else the next check would not be the whole rule
    for _, row in v.iterrows():
        assert row["passed"] == (not gates.check(row.to_dict()))
    assert [s.name for s in res.survivors] == list(v.loc[v["passed"], "name"]) == res.registered
    assert res.registered, "the loose gates should let at least one rule through on this sample"
    with Registry(url) as reg:
        recs = reg.list()
        assert [r.name for r in recs] == sorted(res.registered)
        for r in recs:
            assert r.state == "validated" and r.source == "discover" and r.rule
            assert [e.to_state for e in reg.history(r.name)] == ["candidate", "validated"]
            assert r.metrics["dsr"] >= 0.3
    # a second run leaves registered rules as they are
    again = discover(sample_path(), symbols=SYMS, config=_cfg(gates=gates), registry=url)
    assert again.registered == []


def test_a_rule_penalised_in_discovery_is_never_a_survivor(tmp_path: Path) -> None:
    """A grammar of close, gt and not can only build constant rules: never long (no entries) or always long
    (buy-and-hold in disguise). Both score PENALTY in discovery; validation shows them, fails them naming why, and
    registers nothing, even under gates they would pass on the holdout (always long has DSR ~0.9 there: it used
    to be registered as validated)."""
    from quantray.search._grammar import GrammarConfig

    grammar = GrammarConfig(
        series=("close",), indicators=(), arithmetic=(), comparisons=("gt",), logic=("not",)
    )
    gates = Gates(min_dsr=0.0, max_pbo=1.0, min_trades=0, min_oos_sharpe=-10.0)
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    cfg = _cfg(population=8, generations=1, seed=0, grammar=grammar, gates=gates)
    res = discover(sample_path(), symbols=SYMS, config=cfg, registry=url)
    hof, v = res.hall_of_fame, res.validation
    assert hof["penalised"].all() and set(hof["rule"]) >= {"not(gt(close,close))"}
    assert np.allclose(hof["score"], PENALTY - cfg.parsimony * hof["size"], rtol=0, atol=0)
    always_long = v.set_index("rule").loc["not(gt(close,close))"]
    assert not gates.check(always_long.to_dict())  # the holdout alone would pass it
    assert not v["passed"].any() and v["reasons"].str.startswith("penalised in discovery").all()
    assert v["failed"].str.startswith("discovery penalty").all()
    assert res.survivors == [] and res.registered == []


def test_a_discovered_rule_is_a_strategy_that_backtests_sweeps_and_exports_to_pine() -> None:
    text = "and(gt(sma(close,20),sma(close,50)),below(rsi(close,14),70))"
    spec = rule_spec(text)
    quantray.search.register_rule(text)
    assert get_strategy(spec.name).description.endswith(f"{text}, flat otherwise.")
    panel = Panel.from_bars(load_sample())
    _, o, h, lo, c, v = panel.arrays("MSFT")
    want = (
        np.array(interpret(parse_rule(text), {"open": o, "high": h, "low": lo, "close": c, "volume": v})) != 0
    )
    np.testing.assert_array_equal(spec.signal(o, h, lo, c, v), want.astype(np.int8))
    res = quantray.backtest(
        sample_path(),
        spec.name,
        grid={"n1": [10, 20], "n2": [50, 100]},
        symbols=["MSFT"],
        config=ExecutionConfig(execution="close"),
    )
    assert len(res.table) == 4 and set(res.table["n1"]) == {10, 20}
    # the parameters really drive the rule: n1=20, n2=50 is the rule as discovered
    same = res.table[(res.table["n1"] == 20) & (res.table["n2"] == 50)].iloc[0]
    sim = simulate(o, h, lo, c, v, want.astype(np.int8), config=ExecutionConfig(execution="close"))
    assert same["final_equity"] == pytest.approx(sim.metrics["final_equity"], rel=1e-12)
    pine = render_pine(spec, {"n1": 10}, fees=0.001)
    assert pine.startswith("//@version=6") and "ta.sma(close, n1)" in pine and "ta.rsi(close, n3)" in pine
    assert "input.int(10," in pine and "{{n" not in pine and "{{level" not in pine
    assert "alertcondition(" not in pine  # ignored by TradingView in a strategy: entries/exits alert as fills
    _check_pine_structure(pine)


def _check_pine_structure(pine: str) -> None:
    """Every variable is assigned before it is read, parentheses balance, only known ta.* built-ins are called.
    (pynescript's parser accepts these scripts too, but its first parse takes ~50 s, too slow for the suite.)"""
    import re

    defined = {
        "open",
        "high",
        "low",
        "close",
        "volume",
        "na",
        "strategy",
        "input",
        "ta",
        "color",
        "true",
        "false",
    }
    for line in pine.splitlines():
        if line.startswith("//") or not line.strip():
            continue
        assert line.count("(") == line.count(")"), line
        m = re.match(r"^(\w+) = (.*)$", line)
        body = m.group(2) if m else line
        body = re.sub(r'"[^"]*"', "", body)
        for fn in re.findall(r"ta\.(\w+)\(", body):
            assert fn in {"sma", "ema", "rsi", "highest", "lowest", "crossover", "crossunder"}, fn
        names = set(re.findall(r"(?<![.\w])([A-Za-z_]\w*)(?![\w(])", body))
        names -= {
            "and",
            "or",
            "not",
            "if",
            "overlay",
            "minval",
            "maxval",
            "initial_capital",
            "default_qty_type",
            "default_qty_value",
            "commission_type",
            "commission_value",
            "process_orders_on_close",
        }
        assert names <= defined, (line, names - defined)
        if m:
            defined.add(m.group(1))


def test_nsga2_keeps_a_pareto_set() -> None:
    res = discover(
        sample_path(), symbols=["AAPL"], config=_cfg(algorithm="nsga2", population=12, generations=2)
    )
    hof = res.hall_of_fame
    assert 1 <= len(hof) <= 5 and (np.diff(hof["score"]) <= 0).all()


def test_bad_input_is_rejected_before_anything_runs() -> None:
    with pytest.raises(DataError, match="symbols not found: NOPE"):
        discover(sample_path(), symbols=["NOPE"], config=_cfg())
    with pytest.raises(ConfigError, match="population"):
        DiscoverConfig(population=1)
    with pytest.raises(ConfigError, match="unknown discover key"):
        DiscoverConfig.from_dict({"popsize": 3})
    with pytest.raises(ConfigError, match="workers"):
        DiscoverConfig(workers=0)
    with pytest.raises(ConfigError, match="cache_mb"):
        DiscoverConfig(cache_mb=-1)
    with pytest.raises(ConfigError, match="cannot produce a valid rule"):
        DiscoverConfig.from_dict({"grammar": {"series": [], "indicators": []}})
