"""Overfitting statistics against worked examples, independent references and their defining properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from quantray.data import Panel
from quantray.errors import ParameterError
from quantray.research import (
    deflated_sharpe_ratio,
    dsr_from_stats,
    expected_max_sharpe,
    long_run_variance,
    overfitting_report,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    psr_from_stats,
    spa_test,
    trial_returns,
    trial_sharpes,
)
from quantray.research._kernels import bootstrap_column_means, bootstrap_index_matrix


# ------------------------------------------------------------------------------------------------ PSR / DSR
def _ref_psr(r: np.ndarray, sr_star: float) -> float:
    """Bailey & López de Prado (2012) eq. 11, written with scipy's moments."""
    sr = r.mean() / r.std(ddof=1)
    g3 = stats.skew(r)  # biased
    g4 = stats.kurtosis(r, fisher=False)  # biased, non-excess
    z = (sr - sr_star) * math.sqrt(r.size - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    return float(stats.norm.cdf(z))


def test_psr_matches_scipy_reference_on_real_returns(aapl_returns: np.ndarray) -> None:
    r = aapl_returns
    assert probabilistic_sharpe_ratio(r) == pytest.approx(_ref_psr(r, 0.0), abs=1e-12)
    # an annualised benchmark of 1.0 is 1/sqrt(252) per day
    got = probabilistic_sharpe_ratio(r, sr_benchmark=1.0, periods_per_year=252)
    assert got == pytest.approx(_ref_psr(r, 1.0 / math.sqrt(252)), abs=1e-12)
    assert got < probabilistic_sharpe_ratio(r)


def test_psr_is_one_half_when_sharpe_equals_benchmark(aapl_returns: np.ndarray) -> None:
    assert psr_from_stats(0.07, 500, sr_benchmark=0.07, skew=-1.2, kurtosis=9.0) == 0.5
    own = aapl_returns.mean() / aapl_returns.std(ddof=1) * math.sqrt(252)
    assert probabilistic_sharpe_ratio(aapl_returns, sr_benchmark=own, periods_per_year=252) == pytest.approx(
        0.5
    )


def test_dsr_reproduces_the_papers_numerical_example() -> None:
    # Bailey & López de Prado (2014), "The Deflated Sharpe Ratio", JPM 40(5): N = 100 trials whose annualised
    # Sharpe ratios have variance 1/2, a selected SR of 2.5 (annualised) over T = 1,250 daily observations
    # with skewness -3 and kurtosis 10 give E[max SR] ≈ 0.1132 (per day) and DSR ≈ 0.9004.
    assert expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.1132, abs=5e-5)
    dsr = dsr_from_stats(
        2.5 / math.sqrt(250), 1250, n_trials=100, sr_variance=0.5 / 250, skew=-3.0, kurtosis=10.0
    )
    assert dsr == pytest.approx(0.9004, abs=5e-5)


@pytest.mark.parametrize("n_trials", [10, 100, 1000])
def test_expected_max_sharpe_approximates_the_max_of_gaussians(n_trials: int) -> None:
    draws = np.random.default_rng(n_trials).standard_normal((4000, n_trials)).max(axis=1)
    # the Euler–Mascheroni approximation is within ~2 % of the exact expectation for N >= 10
    assert expected_max_sharpe(n_trials, 1.0) == pytest.approx(draws.mean(), rel=0.025)
    assert expected_max_sharpe(n_trials, 4.0, sr_mean=1.0) == pytest.approx(
        1.0 + 2 * expected_max_sharpe(n_trials, 1.0)
    )


def test_dsr_decreases_with_the_number_of_trials(aapl_returns: np.ndarray) -> None:
    vals = [
        deflated_sharpe_ratio(aapl_returns, n_trials=n, sr_variance=0.3, periods_per_year=252)
        for n in (1, 2, 5, 10, 100, 1000, 10000)
    ]
    assert all(a > b for a, b in itertools.pairwise(vals))
    assert vals[0] == pytest.approx(probabilistic_sharpe_ratio(aapl_returns))  # one trial: nothing to deflate
    # more dispersion among the trials also deflates more
    assert deflated_sharpe_ratio(aapl_returns, n_trials=50, sr_variance=1.0, periods_per_year=252) < vals[4]


def test_psr_rejects_impossible_moments() -> None:
    with pytest.raises(ParameterError, match="must be > 0"):
        psr_from_stats(0.5, 100, skew=10.0, kurtosis=1.0)
    with pytest.raises(ParameterError, match="`n`"):
        psr_from_stats(0.1, 1)


# ------------------------------------------------------------------------------------------------ PBO
def _ref_pbo_logits(R: np.ndarray, S: int) -> np.ndarray:
    """CSCV written directly from Bailey et al. (2017) §2: loop over every split, build the submatrices."""
    T, N = R.shape
    L = T // S
    R = R[T - S * L :]
    blocks = [R[i * L : (i + 1) * L] for i in range(S)]
    out = []
    for combo in itertools.combinations(range(S), S // 2):
        J = np.vstack([blocks[i] for i in combo])
        Jc = np.vstack([blocks[i] for i in range(S) if i not in combo])

        def sharpe(X: np.ndarray) -> np.ndarray:
            sd = X.std(axis=0, ddof=1)
            return np.where(sd > 0, X.mean(axis=0) / np.where(sd > 0, sd, 1.0), 0.0)

        n_star = int(np.argmax(sharpe(J)))
        oos = sharpe(Jc)
        w = stats.rankdata(oos)[n_star] / (N + 1)
        out.append(math.log(w / (1 - w)))
    return np.array(out)


def test_pbo_matches_the_reference_cscv_on_a_real_sweep(sp500_panel: Panel, sma_sets: list) -> None:
    R = trial_returns(sp500_panel.arrays("JPM"), "sma_cross", sma_sets)
    res = probability_of_backtest_overfitting(R, n_partitions=10)
    ref = _ref_pbo_logits(R, 10)
    assert res.n_combinations == math.comb(10, 5) == ref.size
    np.testing.assert_allclose(res.logits, ref, rtol=0, atol=1e-9)
    assert res.pbo == pytest.approx(np.mean(ref <= 0))


def test_pbo_is_zero_when_one_trial_dominates_every_partition(sp500_panel: Panel, sma_sets: list) -> None:
    R = trial_returns(sp500_panel.arrays("JPM"), "sma_cross", sma_sets)
    c = sp500_panel.arrays("JPM")[4]
    market = np.r_[0.0, c[1:] / c[:-1] - 1.0]
    R = np.column_stack([R, market + 0.01])  # a real return stream with an overwhelming drift
    res = probability_of_backtest_overfitting(R, n_partitions=16)
    N = R.shape[1]
    assert res.pbo == 0.0
    np.testing.assert_allclose(res.logits, math.log(N), atol=1e-12)  # always ranked first out of sample
    assert res.prob_oos_loss == 0.0


def test_pbo_is_about_one_half_for_skill_less_trials(aapl_returns: np.ndarray) -> None:
    # random long/short strategies on real AAPL returns: no trial has skill, so the in-sample winner's
    # out-of-sample rank is uniform and PBO averages 1/2 (N even).
    pbos = []
    for seed in range(30):
        pos = np.random.default_rng(seed).choice([-1.0, 1.0], size=(aapl_returns.size, 10))
        pbos.append(probability_of_backtest_overfitting(aapl_returns[:, None] * pos, n_partitions=8).pbo)
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.12)  # per-dataset sd ≈ 0.23 → se of the mean ≈ 0.04


def test_pbo_validates_inputs() -> None:
    with pytest.raises(ParameterError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), n_partitions=7)
    with pytest.raises(ParameterError, match="at least 2 trials"):
        probability_of_backtest_overfitting(np.zeros((100, 1)))


# ------------------------------------------------------------------------------------------------ SPA / RC
def test_long_run_variance_matches_the_kernel_formula(aapl_returns: np.ndarray) -> None:
    d = np.column_stack([aapl_returns[:300], aapl_returns[300:600] * 0.5, np.sign(aapl_returns[600:900])])
    T, q = d.shape[0], 1 / 12.0
    x = d - d.mean(axis=0)
    ref = (x * x).sum(axis=0) / T
    for i in range(1, T):
        kappa = (1 - i / T) * (1 - q) ** i + (i / T) * (1 - q) ** (T - i)
        ref += 2 * kappa * (x[: T - i] * x[i:]).sum(axis=0) / T
    np.testing.assert_allclose(long_run_variance(d, 12.0), ref, rtol=1e-9)


def test_spa_p_values_match_a_reference_built_from_the_same_bootstrap(
    sp500_panel: Panel, sma_sets: list
) -> None:
    R = trial_returns(sp500_panel.arrays("MSFT"), "sma_cross", sma_sets)
    c = sp500_panel.arrays("MSFT")[4]
    bench = np.r_[0.0, c[1:] / c[:-1] - 1.0]  # against buy and hold
    res = spa_test(R, bench, n_boot=400, mean_block=20.0, seed=5)
    T = R.shape[0]
    d = R - bench[:, None]
    idx = bootstrap_index_matrix(T, T, 20.0, 5, np.arange(400, dtype=np.int64))
    boot = d[idx].mean(axis=1)  # (400, N)
    np.testing.assert_allclose(
        bootstrap_column_means(np.ascontiguousarray(d), 5, 400, 20.0), boot, atol=1e-15
    )
    dbar = d.mean(axis=0)
    om = np.sqrt(long_run_variance(d, 20.0))
    t_spa = max(0.0, float((math.sqrt(T) * dbar / om).max()))
    thr = -np.sqrt(om**2 / T * 2 * math.log(math.log(T)))
    for g, got in (
        (np.maximum(dbar, 0), res.p_lower),
        (np.where(dbar >= thr, dbar, 0.0), res.p_value),
        (dbar, res.p_upper),
    ):
        tb = np.maximum((math.sqrt(T) * (boot - g) / om).max(axis=1), 0.0)
        assert got == pytest.approx(np.mean(tb >= t_spa), abs=1e-12)
    v = math.sqrt(T) * dbar.max()
    assert res.rc_p_value == pytest.approx(
        np.mean((math.sqrt(T) * (boot - dbar)).max(axis=1) >= v), abs=1e-12
    )
    assert res.statistic == pytest.approx(t_spa)
    assert res.p_lower <= res.p_value <= res.p_upper


def test_reality_check_agrees_with_the_arch_package(sp500_panel: Panel, sma_sets: list) -> None:
    # Golden values from arch 8.0.0: SPA(zeros(T), -R, reps=2000, seed=3).compute().pvalues["upper"] (the
    # non-studentised Reality Check; block_size = floor(sqrt(T)) = 35) on this 25-set sma_cross sweep.
    # Different random draws: agreement within Monte Carlo error (sd ≤ 0.011 at 2000 replicates).
    sets = [{"fast": f, "slow": s} for f in (5, 10, 15, 20, 30) for s in (50, 75, 100, 150, 200)]
    for symbol, arch_upper in (("AAPL", 0.044), ("XOM", 0.8155)):
        R = trial_returns(sp500_panel.arrays(symbol), "sma_cross", sets)
        res = spa_test(R, n_boot=2000, seed=3)
        assert res.mean_block == 35.0
        assert res.rc_p_value == pytest.approx(arch_upper, abs=0.035)


def test_spa_detects_a_superior_trial_and_not_noise(aapl_returns: np.ndarray) -> None:
    rejections = 0
    for seed in range(8):
        pos = np.random.default_rng(seed).choice([-1.0, 1.0], size=(aapl_returns.size, 12))
        R = aapl_returns[:, None] * pos  # skill-less strategies on real returns
        res = spa_test(R, n_boot=300, seed=seed)
        rejections += res.p_value < 0.05
        R[:, 4] += 0.0025  # one trial with a real edge: +0.25 % a day (t ≈ 6 over 1,258 days)
        sup = spa_test(R, n_boot=300, seed=seed)
        assert sup.best == 4 and sup.p_value < 0.05 and sup.rc_p_value < 0.05
    assert rejections <= 2  # size ≈ 5 % under the null


def test_overfitting_report_is_consistent_with_its_parts(sp500_panel: Panel, sma_sets: list) -> None:
    R = trial_returns(sp500_panel.arrays("AAPL"), "sma_cross", sma_sets)
    rep = overfitting_report(R, n_partitions=8, n_boot=200, seed=1)
    sr = trial_sharpes(R)
    assert rep.best == int(np.nanargmax(sr))
    assert rep.sharpe == pytest.approx(sr[rep.best] * math.sqrt(252))
    assert rep.psr == pytest.approx(probabilistic_sharpe_ratio(R[:, rep.best]))
    assert rep.dsr == pytest.approx(
        deflated_sharpe_ratio(
            R[:, rep.best], n_trials=R.shape[1], sr_variance=rep.sr_variance, periods_per_year=252
        )
    )
    assert rep.dsr < rep.psr
    assert rep.pbo.pbo == probability_of_backtest_overfitting(R, n_partitions=8).pbo
    assert set(rep.to_dict()) >= {"psr", "dsr", "pbo", "spa_p_value", "reality_check_p_value"}


def test_trial_simulations_give_the_trial_returns_and_the_engine_metrics_of_one_simulation(
    sp500_panel: Panel, sma_sets: list
) -> None:
    from quantray.engine import METRIC_NAMES, ExecutionConfig, simulate
    from quantray.research import trial_simulations
    from quantray.strategies import get_strategy

    arrays = sp500_panel.arrays("JPM")
    cfg = ExecutionConfig(fees=0.001, slippage=0.0005)
    start = 500
    rets, met = trial_simulations(arrays, "sma_cross", sma_sets, config=cfg, start=start)
    np.testing.assert_array_equal(rets, trial_returns(arrays, "sma_cross", sma_sets, config=cfg, start=start))
    assert met.shape == (len(sma_sets), len(METRIC_NAMES))
    _ts, o, h, lo, c, v = arrays
    spec = get_strategy("sma_cross")
    for j in (0, len(sma_sets) // 2, len(sma_sets) - 1):  # the engine's own simulation of the same window
        target = spec.signal(o, h, lo, c, v, spec.validate_params(sma_sets[j]))
        sim = simulate(o[start:], h[start:], lo[start:], c[start:], v[start:], target[start:], config=cfg)
        for name in ("num_trades", "final_equity", "sharpe", "max_drawdown"):
            assert met[j, METRIC_NAMES.index(name)] == pytest.approx(sim.metrics[name], rel=1e-12), name
    assert met[:, METRIC_NAMES.index("num_trades")].sum() > 0
