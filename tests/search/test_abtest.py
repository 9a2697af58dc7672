"""A/B tests: Jobson-Korkie with Memmel's correction against a hand computation, the paired bootstrap keeps the
pairing, its p-value and interval behave under known truths, and the minimum sample size matches its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from quantray.data import Panel, load_sample
from quantray.errors import ParameterError
from quantray.search import ab_test, jobson_korkie, min_sample_size
from quantray.search._abtest import bootstrap_indices, memmel_variance


def _hand_jk(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Memmel (2003), eq. for the JK statistic, written out with plain numpy (ddof=1 moments)."""
    T = len(a)
    ma, mb = np.mean(a), np.mean(b)
    sa, sb = np.sqrt(np.sum((a - ma) ** 2) / (T - 1)), np.sqrt(np.sum((b - mb) ** 2) / (T - 1))
    cov = np.sum((a - ma) * (b - mb)) / (T - 1)
    r = cov / (sa * sb)
    SRa, SRb = ma / sa, mb / sb
    V = (1.0 / T) * (2 - 2 * r + 0.5 * (SRa**2 + SRb**2 - 2 * SRa * SRb * r**2))
    z = (SRa - SRb) / math.sqrt(V)
    return z, 2 * norm.sf(abs(z))


@pytest.fixture(scope="module")
def real_pair() -> tuple[np.ndarray, np.ndarray]:
    panel = Panel.from_bars(load_sample())
    ca, cb = panel.arrays("MSFT")[4], panel.arrays("XOM")[4]
    return ca[1:] / ca[:-1] - 1.0, cb[1:] / cb[:-1] - 1.0


def test_jobson_korkie_memmel_equals_the_hand_formula(real_pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = real_pair
    z, p = jobson_korkie(a, b)
    hz, hp = _hand_jk(a, b)
    assert z == pytest.approx(hz, rel=1e-12) and p == pytest.approx(hp, rel=1e-10)
    z2, p2 = jobson_korkie(b, a)
    assert z2 == pytest.approx(-z, rel=1e-12) and p2 == pytest.approx(p, rel=1e-12)


def test_bootstrap_indices_are_paired_blocks() -> None:
    idx = bootstrap_indices(200, 50, 8.0, method="stationary", seed=1)
    assert idx.shape == (50, 200) and idx.min() >= 0 and idx.max() < 200
    steps = np.diff(idx, axis=1)
    cont = (steps == 1) | (steps == -199)
    assert 0.80 < cont.mean() < 0.95  # P(continue the block) = 1 - 1/8
    circ = bootstrap_indices(100, 10, 5.0, method="circular", seed=1)
    assert ((np.diff(circ, axis=1) % 100)[:, :4] == 1).all()  # blocks of 5: the first 4 steps continue
    np.testing.assert_array_equal(idx, bootstrap_indices(200, 50, 8.0, method="stationary", seed=1))


def test_same_returns_never_differ_and_a_clear_edge_is_found(
    real_pair: tuple[np.ndarray, np.ndarray],
) -> None:
    a, _ = real_pair
    with pytest.raises(ParameterError, match="identical"):
        ab_test(a, a.copy(), n_boot=300)
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.01, 1000)
    better = ab_test(noise + 0.003, noise * 0.5 + rng.normal(0, 0.01, 1000), n_boot=500, seed=2)
    assert better.verdict == "A better" and better.confidence > 0.95
    assert better.ci_low is not None and better.ci_low > 0  # the interval excludes 0
    worse = ab_test(noise * 0.5 + rng.normal(0, 0.01, 1000), noise + 0.003, n_boot=500, seed=2)
    assert worse.verdict == "B better"


def test_minimum_sample_size_matches_its_formula() -> None:
    sa, sb, rho = 0.10, 0.05, 0.3
    theta = 2 - 2 * rho + 0.5 * (sa**2 + sb**2 - 2 * sa * sb * rho**2)
    want = math.ceil(theta * (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 / (sa - sb) ** 2)
    assert min_sample_size(sa, sb, rho) == want
    # at that many bars the JK test has about the stated power (simulation with normal returns)
    rng = np.random.default_rng(0)
    rej = 0
    for _ in range(300):
        x = rng.standard_normal((want, 2))
        b = x[:, 0] * 0.01 + 0.0005
        a = (rho * x[:, 0] + math.sqrt(1 - rho**2) * x[:, 1]) * 0.01 + 0.001
        rej += jobson_korkie(a, b)[1] < 0.05
    assert 0.7 < rej / 300 < 0.9


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="paired"):
        ab_test(np.zeros(20), np.zeros(21))
    with pytest.raises(ParameterError, match="constant"):
        ab_test(np.zeros(20), np.ones(20) * 0.01)
    with pytest.raises(ParameterError, match="n_boot"):
        ab_test(np.random.default_rng(0).normal(size=50), np.random.default_rng(1).normal(size=50), n_boot=5)
    # a constant non-zero series has a rounding-noise std (~1e-19), not 0: it gave Sharpe 3.7e16 and "A better"
    noise = np.random.default_rng(5).normal(0, 0.01, 500)
    with pytest.raises(ParameterError, match="returns of A are constant"):
        ab_test(np.full(500, 0.001), noise, n_boot=200)
    with pytest.raises(ParameterError, match="returns of B are constant"):
        ab_test(noise, np.full(500, 0.002), n_boot=200)
    # a scaled copy: correlation 1 and equal Sharpes, the Jobson-Korkie variance 0 (it returned NaN silently)
    x = np.random.default_rng(6).normal(0.001, 0.01, 500)
    with pytest.raises(ParameterError, match="positive multiple"):
        ab_test(x, 2 * x, n_boot=200)
    out = ab_test(x, 2 * x + 0.0005, n_boot=200)  # correlation 1, different Sharpes: a real difference
    assert math.isfinite(out.jk_z) and out.verdict == "B better"


def test_no_significant_difference_is_reached_when_the_test_has_power() -> None:
    """Equal true Sharpes: with at least min_n bars (the sample that detects ``min_effect``) about 1 - alpha of
    the tests say "no significant difference"; with far fewer bars they say "inconclusive". (Sizing the sample
    on the observed difference instead, that verdict could never be reached.)"""
    rng = np.random.default_rng(11)
    verdicts = []
    for _ in range(200):
        x = rng.normal(0.0004, 0.01, (5000, 2))
        res = ab_test(x[:, 0], x[:, 1], method="jobson_korkie", min_effect=1.0)
        theta = memmel_variance(x[:, 0].mean() / x[:, 0].std(ddof=1), x[:, 1].mean() / x[:, 1].std(ddof=1),
                                float(np.corrcoef(x[:, 0], x[:, 1])[0, 1]))  # fmt: skip
        assert res.min_n == math.ceil(
            theta * (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 / (1.0 / math.sqrt(252)) ** 2
        )
        verdicts.append(res.verdict)
    share = verdicts.count("no significant difference") / len(verdicts)
    assert 0.9 <= share <= 0.99 and "inconclusive" not in verdicts
    short = ab_test(x[:300, 0], x[:300, 1], method="jobson_korkie")
    assert short.n < short.min_n and short.verdict in {"inconclusive", "A better", "B better"}


def test_block_length_is_bounded_and_undefined_replicates_are_counted() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.001, 0.01, 400), rng.normal(0.0, 0.01, 400)
    for bad in (400.0, 101.0, 0.5):  # one block spanning the series would give a zero-width interval
        with pytest.raises(ParameterError, match="mean_block"):
            ab_test(a, b, mean_block=bad, n_boot=200)
    assert (
        ab_test(a, b, mean_block=100.0, n_boot=200).ci_low
        < ab_test(a, b, mean_block=100.0, n_boot=200).ci_high
    )
    # a strategy active on 6 bars of 300: many resamples are flat; the p-value uses the defined ones, counted
    sparse = np.zeros(300)
    sparse[[20, 90, 150, 151, 200, 260]] = [0.03, -0.01, 0.02, 0.01, -0.02, 0.04]
    bench = rng.normal(0.0, 0.01, 300)
    res = ab_test(sparse, bench, n_boot=1000, mean_block=5.0, seed=3)
    idx = bootstrap_indices(300, 1000, 5.0, method="stationary", seed=3)
    defined = int(np.sum(sparse[idx].std(axis=1) > 0))
    assert res.boot_valid == defined and 500 <= defined < 1000
    with pytest.raises(ParameterError, match="replicates have a defined"):
        # two strategies active on one bar each: a replicate holds a given bar with probability ~1 - 1/e, both
        # with ~0.4, so most differences are undefined and no p-value is given
        ab_test(
            np.where(np.arange(300) == 7, 0.05, 0.0), np.where(np.arange(300) == 70, 0.05, 0.0), n_boot=500
        )
