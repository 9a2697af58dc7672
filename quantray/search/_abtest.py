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
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ParameterError("returns of A and B must be finite")
    if not (x.std() > 0 and y.std() > 0):
        raise ParameterError("returns of A or B are constant: the Sharpe ratio is undefined")
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
    raise ParameterError(f"`method` must be 'stationary' or 'circular', got {method!r}")


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
        min_n: bars needed to detect the observed difference at ``alpha`` with ``power`` (inf for no difference).
        verdict: ``"A better"``, ``"B better"``, ``"no significant difference"`` or ``"inconclusive"`` (the test
            is underpowered: fewer bars than ``min_n``, and no significant difference yet).
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
    min_n: float
    verdict: str
    confidence: float
    method: str
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in self.__slots__}


def min_sample_size(
    sr_a: float, sr_b: float, rho: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Bars needed for a two-sided test at ``alpha`` with ``power`` to detect per-period Sharpes ``sr_a`` vs
    ``sr_b``: n = θ · (z_{1−α/2} + z_{power})² / (SR_a − SR_b)² (θ from :func:`memmel_variance`)."""
    d = sr_a - sr_b
    if d == 0:
        return math.inf
    theta = memmel_variance(sr_a, sr_b, rho)
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
        mean_block: mean block length (default n ** (1/3)).
        alpha: significance level; power: for the minimum sample size.
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
    n = x.size
    ann = math.sqrt(float(periods_per_year))
    sa, sb = x.mean() / x.std(ddof=1), y.mean() / y.std(ddof=1)
    rho = float(np.corrcoef(x, y)[0, 1])
    z, p_jk = jobson_korkie(x, y)
    boot_p = ci_lo = ci_hi = None
    if method in ("both", "bootstrap"):
        L = float(mean_block) if mean_block is not None else max(1.0, n ** (1.0 / 3.0))
        if not L >= 1:
            raise ParameterError(f"`mean_block` must be >= 1, got {mean_block!r}")
        idx = bootstrap_indices(n, n_boot, L, method=bootstrap, seed=seed)
        d = (k.sharpe_rows(x, idx) - k.sharpe_rows(y, idx)) * ann
        d = d[np.isfinite(d)]
        obs = (sa - sb) * ann
        boot_p = float(np.mean(np.abs(d - obs) >= abs(obs)))
        ci_lo, ci_hi = (float(v) for v in np.quantile(d, [alpha / 2.0, 1.0 - alpha / 2.0]))
    p = boot_p if boot_p is not None else p_jk
    min_n = min_sample_size(sa, sb, rho, alpha=alpha, power=power)
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
        min_n=min_n,
        verdict=verdict,
        confidence=float(1.0 - p) if p is not None and math.isfinite(p) else float("nan"),
        method="bootstrap" if boot_p is not None else "jobson_korkie",
        alpha=alpha,
    )
