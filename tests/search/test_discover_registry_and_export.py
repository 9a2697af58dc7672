"""What discover hands on: survivors registered through a Registry object under discover's own gates, an NSGA-II
front without rules that never trade, Pine exports with the execution settings they were validated with, and the
bar frequency recorded for the monitor (found by an independent review of the Python API)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from quantray.data import sample_path
from quantray.engine import ExecutionConfig
from quantray.search import DiscoverConfig, Gates, MonitorConfig, Registry, discover
from quantray.search._discover import is_penalised

LOOSE = Gates(min_dsr=0.0, max_pbo=1.0, min_trades=0, min_oos_sharpe=-100.0)


def test_a_registry_object_registers_the_survivors_of_discover_s_own_gates(tmp_path: Path) -> None:
    """A Registry passed as an object has its own (default, DSR >= 0.95) gates; discover promoted with those and
    raised after the whole run, leaving the first survivor a candidate. Now it promotes with the gates it
    validated with, and records them."""
    reg = Registry(f"sqlite:///{tmp_path / 'r.db'}")  # default gates: min_dsr 0.95
    cfg = DiscoverConfig(population=16, generations=2, seed=3, backend="local", hall_of_fame=4, gates=LOOSE)
    res = discover(sample_path(), symbols=["AAPL", "JPM"], config=cfg, registry=reg)
    assert res.survivors and res.registered == [s.name for s in res.survivors]
    for name in res.registered:
        assert reg.get(name).state == "validated"
        assert reg.history(name)[-1].details["gates"] == LOOSE.__dict__
    assert not reg.list("candidate")
    reg.close()


def test_an_nsga2_front_holds_no_penalised_rule_when_others_trade() -> None:
    """A rule that never trades scored PENALTY but kept drawdown 0, so it was never dominated: every seed's
    NSGA-II hall of fame held one (6 of 6 seeds in the review)."""
    for seed in (0, 1, 2):
        cfg = DiscoverConfig(population=24, generations=4, seed=seed, backend="local", algorithm="nsga2")
        res = discover(sample_path(), symbols=["AAPL", "JPM"], config=cfg)
        hof = res.hall_of_fame
        assert len(hof) and not hof["penalised"].any(), (seed, hof[hof["penalised"]]["rule"].tolist())
        ev = res.evaluated
        dead = [is_penalised(s, z, cfg) for s, z in zip(ev["score"], ev["size"], strict=True)]
        assert any(dead)  # the run did meet penalised rules, and left them off the front
        # the front is the non-dominated set of the rules that trade, on (score up, drawdown down)
        live = ev[~np.array(dead)]
        pts = live[["score", "fold_max_drawdown"]].to_numpy()
        for _, row in hof.iterrows():
            better = (pts[:, 0] >= row["score"]) & (pts[:, 1] <= row["fold_max_drawdown"])
            strictly = (pts[:, 0] > row["score"]) | (pts[:, 1] < row["fold_max_drawdown"])
            assert not np.any(better & strictly), row["rule"]


def test_pine_exports_carry_the_execution_and_capital_they_were_validated_with() -> None:
    ex = ExecutionConfig(execution="close", fees=0.001, slippage=0.0005, init_cash=5000.0)
    cfg = DiscoverConfig(population=16, generations=2, seed=1, backend="local", hall_of_fame=3, execution=ex,
                         gates=LOOSE)  # fmt: skip
    res = discover(sample_path(), symbols=["AAPL", "MSFT"], config=cfg)
    assert res.pine
    for text in res.pine.values():
        assert "process_orders_on_close=true" in text and "initial_capital=5000.0" in text
        # fees 0.1% + slippage 0.05% as Pine's commission (its slippage= is in ticks), said in a comment
        assert "commission_value=0.15," in text and "// commission_value = fees 0.1% + slippage 0.05%" in text


def test_the_monitor_judges_returns_at_the_bar_frequency_recorded_with_the_strategy(tmp_path: Path) -> None:
    """Registry.monitor defaulted to 252 bars a year: healthy hourly returns of a strategy validated at an
    hourly Sharpe 1.5 were judged ~6x less volatile per year than validated and breached (97 of 100 paths in the
    review). The frequency recorded at registration is the default now; without one, 252 with a note."""
    metrics = {"dsr": 1, "pbo": 0, "oos_trades": 50, "oos_sharpe": 1.5, "oos_mean_return": 0.6,
               "oos_max_drawdown": 0.1}  # fmt: skip
    with Registry(f"sqlite:///{tmp_path / 'r.db'}") as reg:
        for name, extra in (("hourly", {"periods_per_year": 8760.0}), ("unknown", {})):
            reg.add_candidate(name, strategy="sma_cross", metrics={**metrics, **extra})
            reg.promote(name)
            reg.promote(name)
        vol = 0.6 / 1.5 / math.sqrt(8760)
        breaches = 0
        for seed in range(40):
            r = np.random.default_rng(seed).normal(0.6 / 8760, vol, 2000)  # healthy: Sharpe 1.5 hourly
            cfg = MonitorConfig()
            rep = reg.monitor("hourly", r, config=cfg, retire=False)
            same = reg.monitor("hourly", r, config=cfg, retire=False, periods_per_year=8760.0)
            assert rep.to_dict() == same.to_dict()
            breaches += bool(rep.breaches)
        assert breaches <= 6  # ~alpha of 40 healthy paths, not nearly all
        rep = reg.monitor("unknown", r, retire=False)
        assert any("records no bar frequency" in n and "252" in n for n in rep.notes)


def test_a_statistic_that_is_nan_is_called_undefined_not_missing() -> None:
    reasons = Gates().check({"dsr": 0.99, "pbo": float("nan"), "oos_trades": 9, "oos_sharpe": 1.0})
    assert reasons == ["pbo is undefined (nan; gate pbo <= 0.5)"]
    assert Gates().check({"dsr": 0.99, "oos_trades": 9, "oos_sharpe": 1.0}) == [
        "pbo is missing (gate pbo <= 0.5)"
    ]


@pytest.mark.parametrize("algorithm", ["simple", "nsga2"])
def test_registered_rules_record_their_bar_frequency(tmp_path: Path, algorithm: str) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    cfg = DiscoverConfig(
        population=12, generations=1, seed=2, backend="local", gates=LOOSE, algorithm=algorithm
    )
    res = discover(sample_path(), symbols=["AAPL"], config=cfg, registry=url)
    with Registry(url) as reg:
        assert res.registered and all(reg.get(n).metrics["periods_per_year"] == 252.0 for n in res.registered)


def test_constant_realised_returns_have_no_sharpe(tmp_path: Path) -> None:
    """0.001 every bar has a rounding-noise std (~1e-19), not 0: the monitor reported a realised Sharpe of 7e16."""
    with Registry(f"sqlite:///{tmp_path / 'r.db'}") as reg:
        reg.add_candidate("c", strategy="sma_cross", metrics={"dsr": 1, "pbo": 0, "oos_trades": 9, "oos_sharpe": 1.0,
                                                               "periods_per_year": 252.0})  # fmt: skip
        reg.promote("c")
        reg.promote("c")
        rep = reg.monitor("c", np.full(30, 0.001), retire=False)
    assert rep.realised_sharpe is None and rep.decay_p_value is None
    assert "no Sharpe-decay test: the realised returns are constant" in rep.notes
