"""Backtest-overfitting statistics: PSR, DSR, PBO by CSCV, White's Reality Check and Hansen's SPA test.

Conventions:

* Sharpe ratios inside the formulas are *per period* (per bar): mean / std (ddof = 1) of simple returns, no
  risk-free rate. Functions that take ``periods_per_year`` accept and report *annualised* Sharpe ratios
  (× sqrt(ppy)) and convert internally; with ``periods_per_year=1`` everything is per period.
* Skewness is the biased sample skewness m₃ / m₂^{3/2}; kurtosis is the biased, *non-excess* kurtosis
  m₄ / m₂² (3 for a normal), as in Bailey & López de Prado.
* Trial matrices are T × N: one row per bar, one column per trial (parameter set), higher returns better.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from quantray.errors import ParameterError
from quantray.research import _kernels as k
from quantray.research._common import check_positive_int, check_seed

F64 = NDArray[np.float64]

#: The Euler–Mascheroni constant γ.
EULER_GAMMA = 0.5772156649015329

_N = NormalDist()


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _returns(x: ArrayLike, name: str = "returns") -> F64:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ParameterError(f"`{name}` must be one-dimensional, got shape {a.shape}")
    if a.size < 3:
        raise ParameterError(f"`{name}` needs at least 3 observations, got {a.size}")
    if not np.isfinite(a).all():
        raise ParameterError(f"`{name}` must be finite (drop NaN first)")
    return a


def _matrix(x: ArrayLike, name: str = "trial_returns") -> F64:
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if a.ndim != 2:
        raise ParameterError(
            f"`{name}` must be a T x N matrix (rows = bars, columns = trials), got {a.shape}"
        )
    if not np.isfinite(a).all():
        raise ParameterError(f"`{name}` must be finite (drop NaN rows first)")
    return a


def _ppy(periods_per_year: float) -> float:
    p = float(periods_per_year)
    if not (math.isfinite(p) and p > 0):
        raise ParameterError(f"`periods_per_year` must be a positive number, got {periods_per_year!r}")
    return p


@dataclass(frozen=True, slots=True)
class SharpeStats:
    """Moments of a return series that the PSR and DSR need.

    Attributes:
        sharpe: per-period Sharpe ratio mean / std (ddof=1).
        n: number of observations.
        skew: biased sample skewness.
        kurtosis: biased non-excess kurtosis (3 for a normal).
    """

    sharpe: float
    n: int
    skew: float
    kurtosis: float


def sharpe_stats(returns: ArrayLike) -> SharpeStats:
    """Per-period Sharpe, length, skewness and (non-excess) kurtosis of a return series.

    Example:
        >>> s = sharpe_stats([0.01, -0.02, 0.015, 0.0, 0.005])
        >>> s.n, round(s.kurtosis, 3)
        (5, 2.505)
    """
    r = _returns(returns)
    mu = float(r.mean())
    d = r - mu
    d2 = d * d  # products, not d**3 / d**4: numpy's float power calls pow() per element (~10x slower)
    m2 = float(np.mean(d2))
    sd = float(r.std(ddof=1))
    if not m2 > 0:
        raise ParameterError("`returns` have zero variance: the Sharpe ratio is undefined")
    return SharpeStats(
        sharpe=mu / sd,
        n=int(r.size),
        skew=float(np.mean(d2 * d)) / m2**1.5,
        kurtosis=float(np.mean(d2 * d2)) / m2**2,
    )


def psr_from_stats(
    sharpe: float, n: int, *, sr_benchmark: float = 0.0, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probabilistic Sharpe Ratio from per-period statistics (Bailey & López de Prado 2012, eq. 11).

    PSR(SR*) = Φ( (SR − SR*) · sqrt(n − 1) / sqrt(1 − γ₃·SR + (γ₄ − 1)/4 · SR²) ): the probability that the
    true Sharpe ratio exceeds the benchmark SR*, given the estimate's non-normal sampling error.

    Args:
        sharpe: per-period Sharpe ratio SR.
        n: number of return observations.
        sr_benchmark: per-period benchmark SR*.
        skew: skewness γ₃.
        kurtosis: non-excess kurtosis γ₄ (3 for normal returns).

    Example:
        >>> round(psr_from_stats(0.1, 1000, sr_benchmark=0.1), 6)
        0.5
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ParameterError(f"`n` must be an integer >= 2, got {n!r}")
    for name, v in (
        ("sharpe", sharpe),
        ("sr_benchmark", sr_benchmark),
        ("skew", skew),
        ("kurtosis", kurtosis),
    ):
        if not math.isfinite(float(v)):
            raise ParameterError(f"`{name}` must be finite, got {v!r}")
    var = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not var > 0:
        raise ParameterError(
            f"the Sharpe estimate's variance 1 - skew*SR + (kurtosis-1)/4*SR^2 must be > 0, got {var:g} "
            f"(sharpe={sharpe:g}, skew={skew:g}, kurtosis={kurtosis:g})"
        )
    return _norm_cdf((sharpe - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(var))


def probabilistic_sharpe_ratio(
    returns: ArrayLike, *, sr_benchmark: float = 0.0, periods_per_year: float = 1.0
) -> float:
    """Probabilistic Sharpe Ratio of a return series (Bailey & López de Prado 2012).

    Args:
        returns: simple per-period returns.
        sr_benchmark: benchmark Sharpe ratio SR*, annualised with ``periods_per_year`` (per period when 1).
        periods_per_year: periods per year of ``returns`` (only converts ``sr_benchmark``).

    Returns:
        P(true SR > SR*), in [0, 1].

    Example:
        >>> import numpy as np
        >>> r = np.random.default_rng(0).normal(0.001, 0.01, 1000)
        >>> 0.9 < probabilistic_sharpe_ratio(r, periods_per_year=252) <= 1.0
        True
    """
    s = sharpe_stats(returns)
    sr_b = float(sr_benchmark) / math.sqrt(_ppy(periods_per_year))
    return psr_from_stats(s.sharpe, s.n, sr_benchmark=sr_b, skew=s.skew, kurtosis=s.kurtosis)


def expected_max_sharpe(n_trials: int, sr_variance: float, *, sr_mean: float = 0.0) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates under the null of no skill (Bailey & López de Prado
    2014, eq. 6, via the Euler–Mascheroni approximation of the expected maximum of Gaussians):

    E[max SR] ≈ E[SR] + sqrt(V[SR]) · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N·e))).

    Units are those of ``sr_variance`` and ``sr_mean`` (per period, or annualised if both are). One trial
    gives ``sr_mean``.

    Example:
        >>> round(expected_max_sharpe(100, 0.5 / 250), 4)
        0.1132
    """
    n_trials = check_positive_int(n_trials, "n_trials")
    if not (math.isfinite(sr_variance) and sr_variance >= 0):
        raise ParameterError(f"`sr_variance` must be a finite number >= 0, got {sr_variance!r}")
    if n_trials == 1:
        return float(sr_mean)
    z = (1.0 - EULER_GAMMA) * _N.inv_cdf(1.0 - 1.0 / n_trials) + EULER_GAMMA * _N.inv_cdf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(sr_mean) + math.sqrt(sr_variance) * z


def dsr_from_stats(
    sharpe: float,
    n: int,
    *,
    n_trials: int,
    sr_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
    sr_mean: float = 0.0,
) -> float:
    """Deflated Sharpe Ratio from per-period statistics: PSR with SR* = :func:`expected_max_sharpe`.

    Args:
        sharpe: per-period Sharpe of the selected trial.
        n: observations.
        n_trials: number of independent trials N behind the selection.
        sr_variance: variance of the per-period Sharpe estimates across the trials.
        skew, kurtosis: of the selected trial's returns (kurtosis non-excess).
        sr_mean: mean trial Sharpe under the null (0 in the paper).

    Example:
        >>> round(dsr_from_stats(2.5 / 250**0.5, 1250, n_trials=100, sr_variance=0.5 / 250,
        ...                      skew=-3, kurtosis=10), 4)
        0.9004
    """
    sr0 = expected_max_sharpe(n_trials, sr_variance, sr_mean=sr_mean)
    return psr_from_stats(sharpe, n, sr_benchmark=sr0, skew=skew, kurtosis=kurtosis)


def deflated_sharpe_ratio(
    returns: ArrayLike,
    *,
    n_trials: int,
    sr_variance: float,
    periods_per_year: float = 1.0,
    sr_mean: float = 0.0,
) -> float:
    """Deflated Sharpe Ratio of the selected trial's returns (Bailey & López de Prado 2014).

    The probability that the true Sharpe ratio is positive after correcting for selection among ``n_trials``
    trials, for non-normal returns and for the track record's length.

    Args:
        returns: simple per-period returns of the selected trial.
        n_trials: number of trials tried (use an effective number for strongly correlated trials).
        sr_variance: variance of the trials' Sharpe ratios, *annualised* with ``periods_per_year``
            (V_per_period = V / ppy).
        periods_per_year: periods per year (1 = everything per period).
        sr_mean: mean trial Sharpe under the null, annualised likewise.

    Returns:
        DSR in [0, 1].

    Example:
        >>> import numpy as np
        >>> r = np.random.default_rng(1).normal(0.0005, 0.01, 1000)
        >>> dsr1 = deflated_sharpe_ratio(r, n_trials=10, sr_variance=0.5, periods_per_year=252)
        >>> dsr2 = deflated_sharpe_ratio(r, n_trials=1000, sr_variance=0.5, periods_per_year=252)
        >>> dsr1 > dsr2
        True
    """
    ppy = _ppy(periods_per_year)
    s = sharpe_stats(returns)
    return dsr_from_stats(
        s.sharpe,
        s.n,
        n_trials=n_trials,
        sr_variance=float(sr_variance) / ppy,
        skew=s.skew,
        kurtosis=s.kurtosis,
        sr_mean=float(sr_mean) / math.sqrt(ppy),
    )


def trial_sharpes(trial_returns: ArrayLike) -> F64:
    """Per-period Sharpe ratio of every column of a T × N matrix (NaN for a constant column)."""
    R = _matrix(trial_returns)
    sd = R.std(axis=0, ddof=1)
    mu = R.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = mu / sd
    sr[~(sd > 1e-14 * np.maximum(np.abs(mu), 1e-300))] = np.nan
    return np.asarray(sr)


# ------------------------------------------------------------------------------------------ PBO (CSCV)
@dataclass(frozen=True, slots=True)
class PBOResult:
    """Probability of Backtest Overfitting by combinatorially symmetric cross-validation.

    Attributes:
        pbo: fraction of the C(S, S/2) splits whose in-sample best trial ranks at or below the out-of-sample
            median (logit λ ≤ 0).
        logits: λ_c = ln(ω_c / (1 − ω_c)) per split, ω_c the OOS relative rank of the IS-best trial in (0, 1).
        is_best: in-sample performance of the selected trial per split.
        oos_best: out-of-sample performance of the same trial per split.
        prob_oos_loss: fraction of splits where the selected trial's OOS performance is < 0.
        degradation_slope, degradation_intercept: OLS fit oos_best ≈ intercept + slope · is_best.
        n_partitions: S.
        n_trials: N.
        metric: ``"sharpe"`` (per period × sqrt(ppy)) or ``"mean"``.
    """

    pbo: float
    logits: F64 = field(repr=False)
    is_best: F64 = field(repr=False)
    oos_best: F64 = field(repr=False)
    prob_oos_loss: float
    degradation_slope: float
    degradation_intercept: float
    n_partitions: int
    n_trials: int
    metric: str

    @property
    def n_combinations(self) -> int:
        return int(self.logits.size)


def _block_metric(s: F64, s2: F64, n: int, metric: str, ann: float) -> F64:
    mean = s / n
    if metric == "mean":
        return mean * ann
    var = (s2 - n * mean * mean) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = mean / np.sqrt(var) * math.sqrt(ann)
    return np.where(var > 1e-300, sr, 0.0)  # a flat trial has no excess return: Sharpe 0


def probability_of_backtest_overfitting(
    trial_returns: ArrayLike,
    *,
    n_partitions: int = 16,
    metric: Literal["sharpe", "mean"] = "sharpe",
    periods_per_year: float = 1.0,
) -> PBOResult:
    """Probability of Backtest Overfitting (Bailey, Borwein, López de Prado & Zhu 2017) by CSCV.

    The T × N matrix is cut into S contiguous blocks of T // S rows (the first T mod S rows are dropped). For
    every one of the C(S, S/2) ways to pick S/2 blocks as the in-sample set (the rest out of sample), the trial
    with the best in-sample ``metric`` is selected and its out-of-sample rank r among the N trials (1 = worst,
    ties averaged) gives ω = r / (N + 1) and the logit λ = ln(ω / (1 − ω)). PBO is the fraction of splits with
    λ ≤ 0: how often the in-sample winner is no better than the median out of sample.

    Args:
        trial_returns: T × N per-period returns (rows = bars, columns = trials), N ≥ 2.
        n_partitions: S, even, 2 ≤ S ≤ T (16 in the paper; C(16, 8) = 12,870 splits).
        metric: ``"sharpe"`` (flat trials score 0) or ``"mean"`` return.
        periods_per_year: annualises the reported performances (ranks do not depend on it).

    Example:
        >>> import numpy as np
        >>> noise = np.random.default_rng(0).normal(0, 0.01, (800, 20))
        >>> res = probability_of_backtest_overfitting(noise, n_partitions=8)
        >>> res.n_combinations, 0.0 <= res.pbo <= 1.0
        (70, True)
    """
    R = _matrix(trial_returns)
    T, N = R.shape
    S = check_positive_int(n_partitions, "n_partitions", 2)
    if S % 2:
        raise ParameterError(f"`n_partitions` must be even, got {S}")
    if N < 2:
        raise ParameterError(f"PBO needs at least 2 trials (columns), got {N}")
    L = T // S
    if L < 2:
        raise ParameterError(f"each of the {S} partitions needs >= 2 rows, got T={T} rows")
    if metric not in ("sharpe", "mean"):
        raise ParameterError(f"`metric` must be 'sharpe' or 'mean', got {metric!r}")
    ann = _ppy(periods_per_year)
    X = R[T - S * L :].reshape(S, L, N)
    bs = X.sum(axis=1)
    bs2 = (X * X).sum(axis=1)
    tot, tot2 = bs.sum(axis=0), bs2.sum(axis=0)
    combos = np.array(list(itertools.combinations(range(S), S // 2)), dtype=np.int64)
    n_is = (S // 2) * L
    logits, is_best, oos_best = [], [], []
    for lo in range(0, combos.shape[0], 1024):
        mask = np.zeros((min(1024, combos.shape[0] - lo), S))
        np.put_along_axis(mask, combos[lo : lo + 1024], 1.0, axis=1)
        s_is, s2_is = mask @ bs, mask @ bs2
        perf_is = _block_metric(s_is, s2_is, n_is, metric, ann)
        perf_oos = _block_metric(tot - s_is, tot2 - s2_is, n_is, metric, ann)
        best = np.argmax(perf_is, axis=1)
        rows = np.arange(best.size)
        v = perf_oos[rows, best][:, None]
        rank = (perf_oos < v).sum(axis=1) + 0.5 * ((perf_oos == v).sum(axis=1) - 1) + 1.0
        w = rank / (N + 1.0)
        logits.append(np.log(w / (1.0 - w)))
        is_best.append(perf_is[rows, best])
        oos_best.append(v[:, 0])
    lam = np.concatenate(logits)
    ib, ob = np.concatenate(is_best), np.concatenate(oos_best)
    if np.ptp(ib) > 0:
        slope, intercept = np.polyfit(ib, ob, 1)
    else:
        slope, intercept = float("nan"), float(ob.mean())
    return PBOResult(
        pbo=float(np.mean(lam <= 0.0)),
        logits=lam,
        is_best=ib,
        oos_best=ob,
        prob_oos_loss=float(np.mean(ob < 0.0)),
        degradation_slope=float(slope),
        degradation_intercept=float(intercept),
        n_partitions=S,
        n_trials=N,
        metric=metric,
    )


# ------------------------------------------------------------------------------------------ RC and SPA
@dataclass(frozen=True, slots=True)
class SPAResult:
    """White's Reality Check and Hansen's Superior Predictive Ability test of N trials against a benchmark.

    H₀: no trial has a higher expected return than the benchmark. Small p-values reject H₀ (some trial is
    genuinely better, after accounting for the search over all N).

    Attributes:
        statistic: Hansen's T^SPA = max(0, max_k sqrt(T)·d̄_k / ω̂_k).
        p_value: SPA consistent p-value (Hansen's recommended one).
        p_lower, p_upper: SPA lower and upper p-values (the upper one is the studentised Reality Check).
        rc_statistic: White's V = max_k sqrt(T)·d̄_k.
        rc_p_value: White's Reality Check p-value (non-studentised).
        best: column with the largest studentised mean excess return.
        mean_excess: d̄_k per trial (per period).
        omega: ω̂_k, the long-run standard deviations of the excess returns.
        n_boot, mean_block, seed: bootstrap settings.
    """

    statistic: float
    p_value: float
    p_lower: float
    p_upper: float
    rc_statistic: float
    rc_p_value: float
    best: int
    mean_excess: F64 = field(repr=False)
    omega: F64 = field(repr=False)
    n_boot: int
    mean_block: float
    seed: int


def long_run_variance(d: ArrayLike, mean_block: float) -> F64:
    """Hansen's (2005) stationary-bootstrap long-run variance of each column of ``d`` (T × N):

    ω̂² = γ̂₀ + 2 Σ_{i=1}^{T−1} κ_i γ̂_i,  κ_i = (1 − i/T)(1 − q)^i + (i/T)(1 − q)^{T−i},  q = 1/mean_block,

    with γ̂_i = Σ_t (d_t − d̄)(d_{t+i} − d̄) / T. Falls back to γ̂₀ where the sum is not positive.
    """
    D = _matrix(d, "d")
    T = D.shape[0]
    x = D - D.mean(axis=0)
    nfft = 1 << math.ceil(math.log2(2 * T))
    f = np.fft.rfft(x, n=nfft, axis=0)
    acov = np.fft.irfft(f * np.conj(f), n=nfft, axis=0)[:T] / T
    i = np.arange(T, dtype=np.float64)
    q = 1.0 / mean_block if mean_block > 1.0 else 1.0
    kappa = (1.0 - i / T) * (1.0 - q) ** i + (i / T) * (1.0 - q) ** (T - i)
    kappa[0] = 1.0
    w = np.where(i == 0, 1.0, 2.0) * kappa
    var = (w[:, None] * acov).sum(axis=0)
    return np.where(var > 0, var, acov[0])


def spa_test(
    trial_returns: ArrayLike,
    benchmark: ArrayLike | None = None,
    *,
    n_boot: int = 1000,
    mean_block: float | None = None,
    seed: int = 0,
) -> SPAResult:
    """White's (2000) Reality Check and Hansen's (2005) SPA test over a sweep's return matrix.

    Excess returns d_{t,k} = r_{t,k} − b_t (higher is better). The bootstrap resamples the rows of d with the
    stationary bootstrap of Politis & Romano (1994), mean block length ``mean_block``; replicate b uses the
    counter-based stream (seed, b), so results are reproducible. The SPA re-centres the bootstrap means by
    g(d̄_k) with g_l(x) = max(x, 0) (lower), g_c(x) = x·1{x ≥ −sqrt(ω̂²_k/T · 2 log log T)} (consistent) and
    g_u(x) = x (upper); p = fraction of replicates with T*_b ≥ T^SPA. The Reality Check uses the
    non-studentised V = max_k sqrt(T) d̄_k and V*_b = max_k sqrt(T)(d̄*_{b,k} − d̄_k).

    Args:
        trial_returns: T × N per-period returns of the trials.
        benchmark: T per-period benchmark returns (default 0: "does any trial make money?").
        n_boot: bootstrap replicates.
        mean_block: expected block length (default floor(sqrt(T)), as in ``arch``); 1 = i.i.d. bootstrap.
        seed: non-negative integer seed.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> R = rng.normal(0.0, 0.01, (750, 10))
        >>> R[:, 3] += 0.002  # one genuinely better trial
        >>> res = spa_test(R, n_boot=300, seed=1)
        >>> res.best, res.p_value < 0.05
        (3, True)
    """
    R = _matrix(trial_returns)
    T = R.shape[0]
    if T < 10:
        raise ParameterError(f"the SPA test needs at least 10 rows, got {T}")
    if benchmark is None:
        b = np.zeros(T)
    else:
        b = np.asarray(benchmark, dtype=np.float64)
        if b.shape != (T,) or not np.isfinite(b).all():
            raise ParameterError(f"`benchmark` must be a finite array of shape ({T},), got shape {b.shape}")
    n_boot = check_positive_int(n_boot, "n_boot", 10)
    seed = check_seed(seed)
    mb = float(int(math.sqrt(T))) if mean_block is None else float(mean_block)
    if not (math.isfinite(mb) and 1.0 <= mb <= T):
        raise ParameterError(f"`mean_block` must be in [1, {T}], got {mean_block!r}")
    d = np.ascontiguousarray(R - b[:, None])
    dbar = d.mean(axis=0)
    omega = np.sqrt(long_run_variance(d, mb))
    safe = np.where(omega > 0, omega, np.inf)
    rt = math.sqrt(T)
    t_stats = rt * dbar / safe
    stat = max(0.0, float(t_stats.max()))
    boot = np.asarray(k.bootstrap_column_means(d, seed, n_boot, mb))
    thr = -np.sqrt(omega**2 / T * 2.0 * math.log(math.log(T)))
    centres = {
        "lower": np.maximum(dbar, 0.0),
        "consistent": np.where(dbar >= thr, dbar, 0.0),
        "upper": dbar,
    }
    p = {}
    for name, g in centres.items():
        z = rt * (boot - g) / safe
        tb = np.maximum(z.max(axis=1), 0.0)
        p[name] = float(np.mean(tb >= stat))
    rc = float(rt * dbar.max())
    v_star = (rt * (boot - dbar)).max(axis=1)
    return SPAResult(
        statistic=stat,
        p_value=p["consistent"],
        p_lower=p["lower"],
        p_upper=p["upper"],
        rc_statistic=rc,
        rc_p_value=float(np.mean(v_star >= rc)),
        best=int(np.argmax(t_stats)),
        mean_excess=dbar,
        omega=omega,
        n_boot=n_boot,
        mean_block=mb,
        seed=seed,
    )


# ------------------------------------------------------------------------------------------ one-call report
@dataclass(frozen=True, slots=True)
class OverfittingReport:
    """Overfitting diagnostics of a sweep (see :func:`overfitting_report`).

    Attributes:
        best: column of the trial with the highest Sharpe ratio.
        n_trials: number of trials N used by the DSR.
        sharpe: annualised Sharpe of the best trial.
        psr: its Probabilistic Sharpe Ratio against SR* = 0.
        dsr: its Deflated Sharpe Ratio.
        expected_max_sharpe: annualised E[max SR] of N skill-less trials with the sweep's Sharpe variance.
        sr_variance: annualised variance of the finite trial Sharpe ratios.
        pbo: the CSCV result.
        spa: the Reality Check / SPA result against the benchmark.
    """

    best: int
    n_trials: int
    sharpe: float
    psr: float
    dsr: float
    expected_max_sharpe: float
    sr_variance: float
    pbo: PBOResult
    spa: SPAResult

    def to_dict(self) -> dict[str, Any]:
        """Scalars only, JSON-friendly."""
        return {
            "best": self.best,
            "n_trials": self.n_trials,
            "sharpe": self.sharpe,
            "psr": self.psr,
            "dsr": self.dsr,
            "expected_max_sharpe": self.expected_max_sharpe,
            "sr_variance": self.sr_variance,
            "pbo": self.pbo.pbo,
            "pbo_prob_oos_loss": self.pbo.prob_oos_loss,
            "pbo_degradation_slope": self.pbo.degradation_slope,
            "pbo_combinations": self.pbo.n_combinations,
            "spa_p_value": self.spa.p_value,
            "spa_p_lower": self.spa.p_lower,
            "spa_p_upper": self.spa.p_upper,
            "reality_check_p_value": self.spa.rc_p_value,
        }


def overfitting_report(
    trial_returns: ArrayLike,
    benchmark: ArrayLike | None = None,
    *,
    periods_per_year: float = 252.0,
    n_trials: int | None = None,
    n_partitions: int = 16,
    n_boot: int = 1000,
    mean_block: float | None = None,
    seed: int = 0,
) -> OverfittingReport:
    """PSR, DSR, PBO and SPA/Reality Check of a sweep's T × N return matrix in one call.

    The selected trial is the one with the highest Sharpe ratio; the DSR uses N = ``n_trials`` (default: the
    number of columns) and the variance of the finite trial Sharpe ratios (flat trials are left out of the
    variance, not of N).

    Example:
        >>> import numpy as np
        >>> R = np.random.default_rng(2).normal(0.0, 0.01, (512, 8))
        >>> rep = overfitting_report(R, n_partitions=8, n_boot=200)
        >>> rep.dsr < rep.psr
        True
    """
    R = _matrix(trial_returns)
    ppy = _ppy(periods_per_year)
    sr = trial_sharpes(R)
    finite = np.isfinite(sr)
    if not finite.any():
        raise ParameterError("no trial has a defined Sharpe ratio (all trials are flat)")
    best = int(np.nanargmax(sr))
    n = R.shape[1] if n_trials is None else check_positive_int(n_trials, "n_trials")
    var_pp = float(np.var(sr[finite], ddof=1)) if finite.sum() > 1 else 0.0
    s = sharpe_stats(R[:, best])
    psr = psr_from_stats(s.sharpe, s.n, skew=s.skew, kurtosis=s.kurtosis)
    dsr = dsr_from_stats(s.sharpe, s.n, n_trials=n, sr_variance=var_pp, skew=s.skew, kurtosis=s.kurtosis)
    return OverfittingReport(
        best=best,
        n_trials=n,
        sharpe=s.sharpe * math.sqrt(ppy),
        psr=psr,
        dsr=dsr,
        expected_max_sharpe=expected_max_sharpe(n, var_pp) * math.sqrt(ppy),
        sr_variance=var_pp * ppy,
        pbo=probability_of_backtest_overfitting(R, n_partitions=n_partitions, periods_per_year=ppy),
        spa=spa_test(R, benchmark, n_boot=n_boot, mean_block=mean_block, seed=seed),
    )
