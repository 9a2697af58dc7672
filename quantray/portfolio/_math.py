"""Pure attribution maths: float64 arrays and scalars in, arrays, scalars or tuples out.

No pandas, no I/O, no validation beyond what the arithmetic needs: the public wrappers in ``_attribution.py``
and ``_factors.py`` validate, align and convert. Plain numpy is used throughout: every function here is a few
vectorised passes over at most a few thousand rows, where numba would only add compile time.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


def annual_return(r: F64, ppy: float) -> float:
    """Geometric annualised return ``prod(1 + r) ** (ppy / n) - 1`` (empyrical's ``annual_return``)."""
    n = r.shape[0]
    if n == 0:
        return math.nan
    growth = float(np.prod(1.0 + r))
    if growth <= 0.0:
        return -1.0
    return float(growth ** (ppy / n) - 1.0)


def benchmark_stats(r: F64, b: F64, rf: F64, ppy: float) -> dict[str, float]:
    """Benchmark-relative statistics of aligned per-period returns ``r`` against ``b`` (rf per period).

    See :func:`quantray.portfolio.benchmark_relative` for the conventions.
    """
    n = r.shape[0]
    nan = math.nan
    er = r - rf
    eb = b - rf
    active = r - b
    out: dict[str, float] = {"n_periods": float(n)}
    if n >= 2:
        xb = eb - eb.mean()
        var_b = float(np.mean(xb * xb))
        beta = float(np.mean(xb * er) / var_b) if var_b > 1e-30 else nan
        alpha_pp = float(np.mean(er - beta * eb))
        sd_r = float(np.std(r))
        sd_b = float(np.std(b))
        corr = float(np.mean((r - r.mean()) * (b - b.mean())) / (sd_r * sd_b)) if sd_r * sd_b > 0 else nan
        te_pp = float(np.std(active, ddof=1))
        te = te_pp * math.sqrt(ppy)
        ir = float(active.mean() * ppy / te) if te > 0 else nan
    else:
        beta = alpha_pp = corr = te = ir = nan
    out["alpha"] = (1.0 + alpha_pp) ** ppy - 1.0 if math.isfinite(alpha_pp) else nan
    out["alpha_per_period"] = alpha_pp
    out["beta"] = beta
    out["correlation"] = corr
    out["tracking_error"] = te
    out["information_ratio"] = ir
    up = b > 0.0
    down = b < 0.0
    out["up_capture"] = _capture(r[up], b[up], ppy)
    out["down_capture"] = _capture(r[down], b[down], ppy)
    ann_r = annual_return(r, ppy)
    ann_b = annual_return(b, ppy)
    out["annual_return"] = ann_r
    out["benchmark_annual_return"] = ann_b
    out["active_return"] = ann_r - ann_b
    out["total_active_return"] = float(np.prod(1.0 + r) - np.prod(1.0 + b)) if n else nan
    return out


def _capture(r: F64, b: F64, ppy: float) -> float:
    if r.shape[0] == 0:
        return math.nan
    denom = annual_return(b, ppy)
    return annual_return(r, ppy) / denom if denom != 0.0 else math.nan


def brinson_fachler_period(wp: F64, rp: F64, wb: F64, rb: F64) -> tuple[F64, F64, F64, float, float]:
    """One period of Brinson-Fachler by sector: (allocation, selection, interaction, R_p, R_b).

    ``allocation_i = (wp_i - wb_i)(rb_i - R_b)``, ``selection_i = wb_i (rp_i - rb_i)``,
    ``interaction_i = (wp_i - wb_i)(rp_i - rb_i)`` with ``R_p = Σ wp_i rp_i`` and ``R_b = Σ wb_i rb_i``.
    With Σ wp = Σ wb = 1 the three effects sum to ``R_p - R_b`` exactly (up to rounding).
    """
    total_p = float(np.dot(wp, rp))
    total_b = float(np.dot(wb, rb))
    dw = wp - wb
    allocation = dw * (rb - total_b)
    selection = wb * (rp - rb)
    interaction = dw * (rp - rb)
    return allocation, selection, interaction, total_p, total_b


def carino_k(rp: float, rb: float) -> float:
    """Cariño's coefficient ``(ln(1 + R_p) - ln(1 + R_b)) / (R_p - R_b)``; ``1 / (1 + R)`` when equal."""
    if abs(rp - rb) < 1e-15:
        return 1.0 / (1.0 + rp)
    return (math.log1p(rp) - math.log1p(rb)) / (rp - rb)


def carino_weights(rp: F64, rb: F64) -> tuple[F64, float, float]:
    """Per-period linking weights ``k_t / K`` and the compounded (R_P, R_B) over all periods.

    ``Σ_t (k_t / K)(R_p,t - R_b,t) = R_P - R_B`` holds exactly in exact arithmetic because
    ``k_t (R_p,t - R_b,t) = ln(1 + R_p,t) - ln(1 + R_b,t)``, whose sum is ``ln(1 + R_P) - ln(1 + R_B)``
    ``= K (R_P - R_B)``.
    """
    total_p = float(np.prod(1.0 + rp) - 1.0)
    total_b = float(np.prod(1.0 + rb) - 1.0)
    big_k = carino_k(total_p, total_b)
    k_t = np.array([carino_k(float(a), float(b)) for a, b in zip(rp, rb, strict=True)], dtype=np.float64)
    return k_t / big_k, total_p, total_b


def ols(y: F64, x: F64) -> dict[str, F64 | float]:
    """Ordinary least squares of ``y`` on ``[1, x]`` with classical (homoskedastic) standard errors.

    Returns ``coef`` (intercept first), ``se``, ``t``, ``resid``, ``fitted``, ``r2``, ``adj_r2``, ``sigma2``.
    Solved with a QR-based least-squares solve (``numpy.linalg.lstsq``), not the normal equations.
    """
    n, k = x.shape
    design = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fitted = design @ coef
    resid = y - fitted
    dof = n - k - 1
    rss = float(resid @ resid)
    yc = y - y.mean()
    tss = float(yc @ yc)
    sigma2 = rss / dof if dof > 0 else math.nan
    xtx_inv = np.linalg.pinv(design.T @ design)
    se = np.sqrt(np.diag(xtx_inv) * sigma2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / se
    r2 = 1.0 - rss / tss if tss > 0 else math.nan
    adj = 1.0 - (1.0 - r2) * (n - 1) / dof if dof > 0 and tss > 0 else math.nan
    return {
        "coef": coef,
        "se": se,
        "t": t,
        "resid": resid,
        "fitted": fitted,
        "r2": r2,
        "adj_r2": adj,
        "sigma2": sigma2,
    }
