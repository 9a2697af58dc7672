"""A/B tests of two strategies' returns over the same bars: Jobson-Korkie with Memmel's correction, a paired
block bootstrap of the Sharpe difference, the minimum sample size, and a verdict with its confidence.

Conventions: simple per-bar returns, paired by bar; per-period Sharpe ratios mean / std (ddof = 1), reported
annualised (× sqrt(periods_per_year)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from quantray.errors import ParameterError
from quantray.search import _kernels as k

_N = NormalDist()


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.size != y.size:
        raise ParameterError(
            f"returns of A and B must be 1-D and paired by bar, got shapes {x.shape} and {y.shape}"
        )
    if x.size < 10:
        raise ParameterError(f"an A/B test needs at least 10 paired returns, got {x.size}")
    for label, r in (("A", x), ("B", y)):
        bad = np.flatnonzero(~np.isfinite(r))
        if bad.size:
            raise ParameterError(f"returns of {label} must be finite: bar {int(bad[0])} is {r[bad[0]]}")
        # relative to the returns' size: 0.001 repeated has a std of ~1e-19 from rounding, not 0, which made a
        # Sharpe of 3.7e16 and a confident verdict
        if not r.std() > 1e-12 * float(np.abs(r).max()):
            raise ParameterError(f"returns of {label} are constant: its Sharpe ratio is undefined")
    if np.array_equal(x, y):
        raise ParameterError("returns of A and B are identical: there is nothing to test")
    rho = float(np.corrcoef(x, y)[0, 1])
    sx, sy = x.mean() / x.std(ddof=1), y.mean() / y.std(ddof=1)
    if rho > 1.0 - 1e-12 and math.isclose(sx, sy, rel_tol=1e-9, abs_tol=1e-12):
        # the Jobson-Korkie variance is 0 here (0/0)
        raise ParameterError(
            "returns of A are a positive multiple of B's (correlation 1, the same Sharpe ratio): there is nothing "
            "to test"
        )
    return x, y


def memmel_variance(sr_a: float, sr_b: float, rho: float) -> float:
    """Per-observation asymptotic variance θ of SR_a − SR_b (per-period Sharpes) under normal iid returns
    (Jobson & Korkie 1981 as corrected by Memmel 2003): θ = 2 − 2ρ + ½(SR_a² + SR_b² − 2·SR_a·SR_b·ρ²)."""
    return 2.0 - 2.0 * rho + 0.5 * (sr_a**2 + sr_b**2 - 2.0 * sr_a * sr_b * rho**2)


def jobson_korkie(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Memmel-corrected Jobson-Korkie test of H0: SR_a = SR_b; returns ``(z, two-sided p-value)``.

    z = (SR_a − SR_b) / sqrt(θ / T) with :func:`memmel_variance` and ρ the returns' correlation.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> z, p = jobson_korkie(rng.normal(0.001, 0.01, 500), rng.normal(0.0, 0.01, 500))
        >>> 0.0 <= p <= 1.0
        True
    """
    x, y = _pair(a, b)
    n = x.size
    sa, sb = x.mean() / x.std(ddof=1), y.mean() / y.std(ddof=1)
    rho = float(np.corrcoef(x, y)[0, 1])
    theta = memmel_variance(sa, sb, rho)
    if not theta > 0:
        return float("nan"), float("nan")
    z = (sa - sb) / math.sqrt(theta / n)
    return float(z), float(2.0 * (1.0 - _N.cdf(abs(z))))


def bootstrap_indices(
    n: int, n_boot: int, mean_block: float, *, method: Literal["stationary", "circular"], seed: int
) -> np.ndarray:
    """(n_boot, n) resampled bar indices, the same for A and B (paired): stationary bootstrap with geometric
    block lengths of mean ``mean_block``, or circular blocks of fixed length ``round(mean_block)``."""
    rng = np.random.Generator(np.random.PCG64(seed))
    if method == "stationary":
        starts = rng.integers(0, n, size=(n_boot, n))
        new = rng.random((n_boot, n)) < 1.0 / mean_block
        out = np.empty((n_boot, n), dtype=np.int64)
        k.stationary_indices(starts, new, out)
        return out
    if method == "circular":
        L = max(1, round(mean_block))
        nblocks = -(-n // L)
        starts = rng.integers(0, n, size=(n_boot, nblocks))
        idx = (starts[:, :, None] + np.arange(L)[None, None, :]) % n
        return np.ascontiguousarray(idx.reshape(n_boot, nblocks * L)[:, :n])
    raise ParameterError(f"`bootstrap` must be 'stationary' or 'circular', got {method!r}")


@dataclass(frozen=True, slots=True)
class ABResult:
    """Outcome of :func:`ab_test` (Sharpe ratios annualised).

    Attributes:
        n: paired bars.
        sharpe_a, sharpe_b, diff: annualised Sharpe ratios and A − B.
        correlation: of the two return series.
        jk_z, jk_p: Memmel-corrected Jobson-Korkie statistic and two-sided p-value.
        boot_p: paired block-bootstrap two-sided p-value of the difference (None if not run).
        ci_low, ci_high: bootstrap percentile interval of the difference at ``1 - alpha`` (None if not run).
        boot_valid: bootstrap replicates with a defined Sharpe difference (a replicate whose resampled returns
            are constant has none and is left out); None if not run.
        min_effect: the annualised Sharpe difference the test should be able to detect.
        min_n: bars needed to detect a difference of ``min_effect`` at ``alpha`` with ``power``.
        min_n_observed: bars needed to detect the observed difference (inf for no difference).
        verdict: ``"A better"``, ``"B better"`` (significant at ``alpha``), ``"no significant difference"`` (not
            significant with at least ``min_n`` bars: a difference of ``min_effect`` would most likely have been
            seen) or ``"inconclusive"`` (not significant, but fewer bars than ``min_n``: underpowered).
        confidence: 1 − the deciding p-value.
        method: the test that decided (``bootstrap`` when run, else ``jobson_korkie``).
    """

    n: int
    sharpe_a: float
    sharpe_b: float
    diff: float
    correlation: float
    jk_z: float
    jk_p: float
    boot_p: float | None
    ci_low: float | None
    ci_high: float | None
    boot_valid: int | None
    min_effect: float
    min_n: float
    min_n_observed: float
    verdict: str
    confidence: float
    method: str
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in self.__slots__}


def min_sample_size(
    sr_a: float,
    sr_b: float,
    rho: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    diff: float | None = None,
) -> float:
    """Bars needed for a two-sided test at ``alpha`` with ``power`` to detect per-period Sharpes ``sr_a`` vs
    ``sr_b``: n = θ · (z_{1−α/2} + z_{power})² / d² (θ from :func:`memmel_variance`), d = SR_a − SR_b or the
    per-period difference ``diff`` to detect (θ still at ``sr_a``, ``sr_b``, ``rho``); inf when d = 0 or θ <= 0."""
    d = sr_a - sr_b if diff is None else diff
    theta = memmel_variance(sr_a, sr_b, rho)
    if d == 0 or not theta > 0:
        return math.inf
    z = _N.inv_cdf(1.0 - alpha / 2.0) + _N.inv_cdf(power)
    return float(math.ceil(theta * z * z / (d * d)))


def ab_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    periods_per_year: float = 252.0,
    method: Literal["both", "bootstrap", "jobson_korkie"] = "both",
    bootstrap: Literal["stationary", "circular"] = "stationary",
    n_boot: int = 2000,
    mean_block: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    min_effect: float = 1.0,
    seed: int = 0,
) -> ABResult:
    """Is strategy A's Sharpe ratio different from B's over the same bars?

    Args:
        a, b: simple per-bar returns of A and B, paired by bar.
        periods_per_year: annualisation of the reported Sharpe ratios.
        method: ``"both"`` (bootstrap decides, JK reported), ``"bootstrap"`` or ``"jobson_korkie"``.
        bootstrap: ``"stationary"`` (Politis-Romano) or ``"circular"`` blocks, the same indices for A and B so
            that their correlation and autocorrelation are kept.
        n_boot: bootstrap replicates.
        mean_block: mean block length (default n ** (1/3)); at most n / 4, so that a replicate mixes several
            blocks (with one block spanning the series every replicate is the series itself, reordered, and the
            bootstrap would see no variance at all).
        alpha: significance level; power: for the minimum sample size.
        min_effect: the smallest annualised Sharpe difference worth detecting (default 1.0); ``min_n`` is the
            sample that detects it with ``power``, and decides between "no significant difference" and
            "inconclusive". (The sample needed to detect the *observed* difference cannot decide that: a
            non-significant result always has fewer bars than it, so that verdict could never be reached.)
        seed: bootstrap seed.

    The bootstrap p-value is two-sided around the observed difference d: the share of replicates with
    |d* − d| >= |d| (the null distribution is the replicate distribution shifted to 0).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> res = ab_test(rng.normal(0.002, 0.01, 750), rng.normal(0.0, 0.01, 750), n_boot=500)
        >>> res.verdict
        'A better'
    """
    x, y = _pair(a, b)
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ParameterError(f"`alpha` and `power` must be in (0, 1), got alpha={alpha}, power={power}")
    if method not in ("both", "bootstrap", "jobson_korkie"):
        raise ParameterError(f"`method` must be 'both', 'bootstrap' or 'jobson_korkie', got {method!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 100:
        raise ParameterError(f"`n_boot` must be an integer >= 100, got {n_boot!r}")
    if bootstrap not in ("stationary", "circular"):
        raise ParameterError(f"`bootstrap` must be 'stationary' or 'circular', got {bootstrap!r}")
    if isinstance(periods_per_year, bool) or not (
        isinstance(periods_per_year, int | float) and math.isfinite(periods_per_year) and periods_per_year > 0
    ):
        raise ParameterError(f"`periods_per_year` must be a number > 0, got {periods_per_year!r}")
    if isinstance(min_effect, bool) or not (
        isinstance(min_effect, int | float) and math.isfinite(min_effect) and min_effect > 0
    ):
        raise ParameterError(f"`min_effect` must be an annualised Sharpe difference > 0, got {min_effect!r}")
    n = x.size
    ann = math.sqrt(float(periods_per_year))
    sa, sb = x.mean() / x.std(ddof=1), y.mean() / y.std(ddof=1)
    rho = float(np.corrcoef(x, y)[0, 1])
    z, p_jk = jobson_korkie(x, y)
    boot_p = ci_lo = ci_hi = None
    boot_valid: int | None = None
    if method in ("both", "bootstrap"):
        L = float(mean_block) if mean_block is not None else max(1.0, n ** (1.0 / 3.0))
        if not 1 <= L <= n / 4:
            raise ParameterError(
                f"`mean_block` must be in [1, n/4] = [1, {n / 4:g}] for {n} paired bars (several blocks per "
                f"replicate), got {mean_block!r}"
            )
        idx = bootstrap_indices(n, n_boot, L, method=bootstrap, seed=seed)
        d = (k.sharpe_rows(x, idx) - k.sharpe_rows(y, idx)) * ann
        d = d[np.isfinite(d)]
        boot_valid = int(d.size)
        if boot_valid < n_boot / 2:
            raise ParameterError(
                f"only {boot_valid} of {n_boot} bootstrap replicates have a defined Sharpe difference (the "
                "others resample constant returns: too few active bars); use method='jobson_korkie' or more bars"
            )
        obs = (sa - sb) * ann
        boot_p = float(np.mean(np.abs(d - obs) >= abs(obs)))
        ci_lo, ci_hi = (float(v) for v in np.quantile(d, [alpha / 2.0, 1.0 - alpha / 2.0]))
    p = boot_p if boot_p is not None else p_jk
    min_n_obs = min_sample_size(sa, sb, rho, alpha=alpha, power=power)
    min_n = min_sample_size(sa, sb, rho, alpha=alpha, power=power, diff=float(min_effect) / ann)
    if p is not None and p < alpha:
        verdict = "A better" if sa > sb else "B better"
    elif n < min_n:
        verdict = "inconclusive"
    else:
        verdict = "no significant difference"
    return ABResult(
        n=n,
        sharpe_a=float(sa * ann),
        sharpe_b=float(sb * ann),
        diff=float((sa - sb) * ann),
        correlation=rho,
        jk_z=z,
        jk_p=p_jk,
        boot_p=boot_p,
        ci_low=ci_lo,
        ci_high=ci_hi,
        boot_valid=boot_valid,
        min_effect=float(min_effect),
        min_n=min_n,
        min_n_observed=min_n_obs,
        verdict=verdict,
        confidence=float(1.0 - p) if p is not None and math.isfinite(p) else float("nan"),
        method="bootstrap" if boot_p is not None else "jobson_korkie",
        alpha=alpha,
    )
