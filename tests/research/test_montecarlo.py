"""Monte Carlo: the random streams against a pure-Python SplitMix64, batch-split invariance, bootstrap paths
against numpy references, GARCH against the arch package's published fit, re-backtests against the public
simulator on the same synthetic bars."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from quantray.data import Panel
from quantray.engine import ExecutionConfig, max_drawdown, sharpe_ratio, simulate
from quantray.engine._config import METRIC_NAMES
from quantray.errors import ParameterError
from quantray.research import _kernels as k
from quantray.research import (
    bootstrap_returns,
    bootstrap_trades,
    fit_garch,
    fit_gbm,
    parametric_returns,
    price_path_source,
    rebacktest,
    synthetic_bars,
    trade_returns,
)
from quantray.strategies import StrategySpec, get_strategy

MASK = (1 << 64) - 1
GOLDEN, M1, M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * M1) & MASK
    z = ((z ^ (z >> 27)) * M2) & MASK
    return z ^ (z >> 31)


def _ref_uniforms(seed: int, path: int, n: int) -> list[float]:
    """SplitMix64 (Steele, Lea & Flood 2014) in Python integers, keyed by (seed, path)."""
    s = _mix((seed + GOLDEN) & MASK)
    state = _mix(s ^ ((path * GOLDEN + M2) & MASK))
    out = []
    for _ in range(n):
        state = (state + GOLDEN) & MASK
        out.append((_mix(state) >> 11) * 2.0**-53)
    return out


def test_random_streams_are_splitmix64_keyed_by_seed_and_path() -> None:
    for seed, path in ((0, 0), (1, 2), (12345, 999_999), (2**62, 7)):
        assert k.uniforms(seed, path, 50).tolist() == _ref_uniforms(seed, path, 50)
    u = k.uniforms(3, 0, 200_000)
    assert abs(u.mean() - 0.5) < 0.003 and abs(u.var() - 1 / 12) < 0.001
    assert not np.array_equal(k.uniforms(3, 0, 10), k.uniforms(3, 1, 10))


def test_same_seed_same_paths_whatever_the_batching(aapl_returns: np.ndarray) -> None:
    def rev(fn: Any, items: Any) -> list[Any]:
        items = list(items)
        return list(reversed([fn(x) for x in reversed(items)]))

    kw: dict[str, Any] = {"n_paths": 103, "seed": 42, "method": "stationary", "mean_block": 15.0}
    a = bootstrap_returns(aapl_returns, batch=1000, **kw).samples
    b = bootstrap_returns(aapl_returns, batch=7, mapper=rev, **kw).samples
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    c = bootstrap_returns(aapl_returns, batch=1000, **{**kw, "seed": 43}).samples
    assert not np.array_equal(a.to_numpy(), c.to_numpy())
    g1 = parametric_returns(aapl_returns, model="gbm", n_paths=50, seed=1, batch=50).samples
    g2 = parametric_returns(aapl_returns, model="gbm", n_paths=50, seed=1, batch=3).samples
    np.testing.assert_array_equal(g1.to_numpy(), g2.to_numpy())


def test_bootstrap_paths_match_a_numpy_reference(aapl_returns: np.ndarray) -> None:
    r = aapl_returns
    mc = bootstrap_returns(r, n_paths=20, seed=9, method="stationary", mean_block=10.0, horizon=500)
    for p in (0, 7, 19):
        idx = k.bootstrap_indices(r.size, 500, 10.0, 9, p)
        x = r[idx]
        row = mc.samples.iloc[p]
        assert row.final_equity == pytest.approx(100_000 * np.prod(1 + x), rel=1e-12)
        assert row.sharpe == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252), rel=1e-10)
        eq = np.cumprod(1 + x)
        assert row.max_drawdown == pytest.approx(
            np.max(1 - eq / np.maximum.accumulate(np.r_[1.0, eq])[1:]), rel=1e-10
        )
    assert mc.observed["sharpe"] == pytest.approx(sharpe_ratio(r, 252))


def test_stationary_bootstrap_block_lengths_are_geometric() -> None:
    idx = k.bootstrap_indices(100_000, 200_000, 25.0, 11, 0)
    starts = np.flatnonzero(np.diff(idx) != 1) + 1  # a new block (or a wrap, which is 1 in 100,000 steps)
    mean_len = np.diff(starts).mean()
    assert mean_len == pytest.approx(25.0, rel=0.04)
    iid = k.bootstrap_indices(1000, 100_000, 1.0, 11, 0)
    assert np.bincount(iid, minlength=1000).min() > 50  # every index drawn, about uniformly (mean 100)


def test_trade_bootstraps_on_real_trades(sp500_panel: Panel) -> None:
    _, o, h, lo, c, v = sp500_panel.arrays("AAPL")
    spec = get_strategy("sma_cross")
    sim = simulate(
        o,
        h,
        lo,
        c,
        v,
        spec.signal(o, h, lo, c, v, {"fast": 5, "slow": 50}),
        config=ExecutionConfig(fees=0.001),
    )
    tr = trade_returns(sim.trades)
    closed = sim.trades[sim.trades[:, 1] >= 0]
    np.testing.assert_allclose(tr, closed[:, 7] / (closed[:, 3] * closed[:, 4]))
    shuffled = bootstrap_trades(tr, n_paths=300, seed=2, method="shuffle")
    np.testing.assert_allclose(shuffled.samples.final_equity, shuffled.observed["final_equity"], rtol=1e-10)
    assert shuffled.samples.max_drawdown.std() > 0  # order matters for the drawdown only
    iid = bootstrap_trades(tr, n_paths=300, seed=2, method="iid")
    lo_, hi_ = iid.confidence_interval("final_equity", 0.9)
    assert lo_ < iid.observed["final_equity"] < hi_
    assert iid.risk_of_ruin(0.05) >= iid.risk_of_ruin(0.2) >= iid.risk_of_ruin(0.5)
    assert iid.risk_of_ruin(0.2) == pytest.approx(np.mean(iid.samples.max_drawdown >= 0.2))


def test_garch_reproduces_the_arch_package_fit_of_the_sp500(arch_sp500_pct: np.ndarray) -> None:
    # arch's documentation ("Univariate Volatility Modeling"): arch_model(100 * sp500.pct_change()).fit() on the
    # 1999–2018 S&P 500 prints mu 0.0564, omega 0.0175, alpha[1] 0.1022, beta[1] 0.8852. The full-precision
    # values below are arch 8.0.0's on this file (log-likelihood -6936.7185).
    p = fit_garch(arch_sp500_pct)
    arch = (0.0563531, 0.0175068, 0.1021500, 0.8852056)
    for got, want in zip((p.mu, p.omega, p.alpha, p.beta), arch, strict=True):
        assert got == pytest.approx(want, abs=2e-6)
    assert p.loglik == pytest.approx(-6936.7185, abs=1e-3)
    assert p.converged and p.n == 5030
    # scale equivariance: the same fit in fractions
    q = fit_garch(arch_sp500_pct / 100)
    assert q.alpha == pytest.approx(p.alpha, abs=1e-4) and q.omega == pytest.approx(p.omega / 1e4, rel=1e-3)


def test_garch_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(5)
    n, mu, om, al, be = 6000, 0.0002, 2e-6, 0.08, 0.9
    x = np.empty(n)
    hv = om / (1 - al - be)
    for t in range(n):
        e = math.sqrt(hv) * rng.standard_normal()
        x[t] = mu + e
        hv = om + al * e * e + be * hv
    p = fit_garch(x)
    assert p.alpha == pytest.approx(al, abs=0.025)
    assert p.beta == pytest.approx(be, abs=0.03)
    assert p.unconditional_variance == pytest.approx(om / (1 - al - be), rel=0.25)


def test_gbm_paths_have_the_fitted_drift(aapl_returns: np.ndarray) -> None:
    g = fit_gbm(aapl_returns)
    x = np.log1p(aapl_returns)
    assert (g.mu, g.sigma) == (pytest.approx(x.mean()), pytest.approx(x.std(ddof=1)))
    mc = parametric_returns(aapl_returns, model="gbm", n_paths=400, seed=3)
    drift = np.log(mc.samples.final_equity / 100_000) / aapl_returns.size
    assert drift.mean() == pytest.approx(g.mu, abs=4 * g.sigma / math.sqrt(aapl_returns.size * 400))
    assert mc.samples.volatility.median() == pytest.approx(
        np.std(aapl_returns, ddof=1) * math.sqrt(252), rel=0.05
    )


def test_rebacktests_equal_signal_plus_simulate_on_the_same_synthetic_bars(sp500_panel: Panel) -> None:
    arrays = sp500_panel.arrays("MSFT")
    cfg = ExecutionConfig(fees=0.0005, slippage=0.0002)
    params = {"fast": 10, "slow": 60}
    spec = get_strategy("sma_cross")
    for method in ("stationary", "gbm", "garch"):
        mc = rebacktest(
            sp500_panel, spec, params, symbol="MSFT", method=method, n_paths=6, seed=4, config=cfg, batch=4
        )
        src = price_path_source(arrays, method, 20.0)
        for p in range(6):
            o, h, lo, c, v = synthetic_bars(src, 4, p, arrays[4].size)
            assert (h >= np.maximum(o, c) * (1 - 1e-12)).all() and (
                lo <= np.minimum(o, c) * (1 + 1e-12)
            ).all()
            assert (lo > 0).all() and c[0] == arrays[4][0]
            if method == "stationary":  # bootstrap paths re-use real close-to-close moves
                d = np.diff(np.log(c))
                ref = np.sort(src.logret)
                i = np.clip(np.searchsorted(ref, d), 1, ref.size - 1)
                assert (np.minimum(abs(ref[i] - d), abs(ref[i - 1] - d)) < 1e-10).all()
            sim = simulate(o, h, lo, c, v, spec.signal(o, h, lo, c, v, params), config=cfg)
            want = np.array([sim.metrics[m] for m in METRIC_NAMES])
            np.testing.assert_allclose(mc.samples.iloc[p].to_numpy(), want, rtol=1e-9, atol=1e-9)
    assert mc.observed["num_trades"] >= 1


def test_user_strategy_rebacktest_equals_the_builtin(sp500_panel: Panel) -> None:
    sma = get_strategy("sma_cross")
    user = StrategySpec(
        name="sma_user", params=sma.params, signal_kernel=sma.signal_kernel, constraints=sma.constraints
    )
    kw: dict[str, Any] = {"symbol": "JNJ", "n_paths": 5, "seed": 8, "method": "iid"}
    a = rebacktest(sp500_panel, sma, {"fast": 20, "slow": 100}, **kw).samples
    b = rebacktest(sp500_panel, user, {"fast": 20, "slow": 100}, **kw).samples
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-9, atol=1e-9)


def test_real_data_confidence_intervals_and_ruin(sp500_panel: Panel) -> None:
    mc = rebacktest(sp500_panel, "sma_cross", {"fast": 10, "slow": 50}, symbol="AAPL", n_paths=128, seed=0)
    s = mc.summary(0.9)
    assert list(s.index) == list(METRIC_NAMES)
    assert (s.ci_low <= s["median"]).all() and (s["median"] <= s.ci_high).all()
    lo, hi = mc.confidence_interval("max_drawdown", 0.9)
    assert (lo, hi) == tuple(np.quantile(mc.samples.max_drawdown, [0.05, 0.95]))
    assert mc.risk_of_ruin(0.3) == pytest.approx(np.mean(mc.samples.max_drawdown >= 0.3))
    assert 0.0 <= mc.percentile_of_observed("sharpe") <= 1.0
    assert mc.samples.max_drawdown.between(0, 1).all()
    assert max_drawdown(np.array([0.1, -0.5])) == 0.5  # risk of ruin reads the engine's positive convention
    with pytest.raises(ParameterError, match="unknown statistic"):
        mc.confidence_interval("alpha")
    with pytest.raises(ParameterError, match="unknown price-path method"):
        rebacktest(sp500_panel, "sma_cross", symbol="AAPL", method="heston")  # type: ignore[arg-type]
