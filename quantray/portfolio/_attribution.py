"""Benchmark-relative statistics and Brinson-Fachler sector attribution with Cariño linking (pandas wrappers)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quantray.errors import QuantrayError
from quantray.portfolio import _math

ReturnsLike = pd.Series | np.ndarray | Sequence[float]
WEIGHT_TOLERANCE = 1e-6
"""How far a period's weights may sum from 1 (weights are fractions of the portfolio's value)."""


class AttributionError(QuantrayError, ValueError):
    """Attribution inputs that cannot be used (names the argument, the period/sector, the value and the rule)."""


# ------------------------------------------------------------------------------------------------ alignment
def _naive(index: pd.Index) -> pd.Index:
    """Dates as tz-naive UTC, so that UTC-stamped bars align with date-stamped benchmark and factor files."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        return index.tz_convert("UTC").tz_localize(None)
    return index


def _as_series(x: ReturnsLike | float, name: str) -> pd.Series:
    if isinstance(x, pd.Series):
        s = x.astype(np.float64)
        return pd.Series(s.to_numpy(), index=_naive(s.index), name=name)
    if isinstance(x, pd.DataFrame):
        raise AttributionError(
            f"`{name}` must be one series of returns, got a DataFrame of {x.shape[1]} columns"
        )
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise AttributionError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    return pd.Series(arr, name=name)


def align_returns(*series: tuple[str, ReturnsLike], min_periods: int = 2) -> pd.DataFrame:
    """Align named return series on their common index and drop periods where any is NaN.

    Two plain arrays must have equal lengths (they are taken as already aligned). Datetime indexes are
    compared as tz-naive UTC.
    """
    ss = [_as_series(x, name) for name, x in series]
    plain = [s for (name, x), s in zip(series, ss, strict=True) if not isinstance(x, pd.Series)]
    if plain and len(plain) != len(ss):
        raise AttributionError(
            "pass all return series as pandas Series (aligned on their index) or all as arrays of equal length"
        )
    if plain:
        lengths = {s.name: len(s) for s in ss}
        if len(set(lengths.values())) != 1:
            raise AttributionError(f"arrays must have equal lengths, got {lengths}")
    frame = pd.concat(ss, axis=1, join="inner").dropna()
    if len(frame) < min_periods:
        names = [n for n, _ in series]
        raise AttributionError(
            f"{names}: only {len(frame)} period(s) in common after alignment and dropping NaN; "
            f"need at least {min_periods}"
        )
    return frame


def _risk_free_per_period(risk_free: float | pd.Series, index: pd.Index, ppy: float) -> np.ndarray:
    if isinstance(risk_free, pd.Series):
        rf = _as_series(risk_free, "risk_free").reindex(index)
        missing = rf.index[rf.isna()]
        if len(missing):
            raise AttributionError(
                f"`risk_free` has no value for {len(missing)} period(s) of the returns, first {missing[0]}"
            )
        return rf.to_numpy(dtype=np.float64)
    if isinstance(risk_free, bool) or not isinstance(risk_free, int | float) or not math.isfinite(risk_free):
        raise AttributionError(f"`risk_free` must be a finite annual rate or a Series, got {risk_free!r}")
    return np.full(len(index), float(risk_free) / ppy)


def _check_ppy(periods_per_year: float) -> float:
    if isinstance(periods_per_year, bool) or not isinstance(periods_per_year, int | float):
        raise AttributionError(f"`periods_per_year` must be a number, got {periods_per_year!r}")
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise AttributionError(f"`periods_per_year` must be finite and > 0, got {periods_per_year!r}")
    return float(periods_per_year)


# ------------------------------------------------------------------------------------------------ relative
def benchmark_relative(
    returns: ReturnsLike,
    benchmark: ReturnsLike,
    *,
    periods_per_year: float,
    risk_free: float | pd.Series = 0.0,
) -> dict[str, float]:
    """Benchmark-relative statistics of simple per-period returns.

    Conventions (``r`` returns, ``b`` benchmark, ``rf`` risk-free per period, all simple returns per period,
    aligned on their common index with NaN periods dropped; ``P`` = ``periods_per_year``):

    * ``beta`` = Cov(r − rf, b − rf) / Var(b − rf) (the OLS slope; empyrical's ``beta``).
    * ``alpha`` = Jensen's alpha annualised geometrically as empyrical does: ``(1 + a)^P − 1`` with the
      per-period alpha ``a = mean(r − rf − beta·(b − rf))`` (the OLS intercept), also returned as
      ``alpha_per_period``.
    * ``tracking_error`` = std(r − b, ddof=1) · √P.
    * ``information_ratio`` = mean(r − b) · P / tracking_error (empyrical's ``excess_sharpe`` · √P).
    * ``up_capture`` / ``down_capture`` = annual_return(r) / annual_return(b) over the periods where b > 0 /
      b < 0, with ``annual_return(x) = prod(1 + x)^(P / n) − 1`` (empyrical's ``up_capture``/``down_capture``).
    * ``correlation``: Pearson correlation of r and b.
    * ``active_return`` = annual_return(r) − annual_return(b) (geometric, annualised);
      ``total_active_return`` = prod(1 + r) − prod(1 + b) (compounded over the whole span).

    Args:
        returns: per-period simple returns (a Series aligned on its index, or an array).
        benchmark: the benchmark's per-period simple returns, same kind as ``returns``.
        periods_per_year: annualisation factor (252 for daily equities, 8760 for hourly crypto).
        risk_free: an annual rate (fraction, converted to ``risk_free / P`` per period, the engine's
            convention) or a Series of per-period rates (e.g. Fama-French ``RF``).

    Returns:
        A dict of floats: alpha, alpha_per_period, beta, tracking_error, information_ratio, up_capture,
        down_capture, correlation, active_return, total_active_return, annual_return,
        benchmark_annual_return, n_periods.

    Example:
        >>> import numpy as np
        >>> b = np.array([0.01, -0.02, 0.015, 0.003, -0.004])
        >>> round(benchmark_relative(2 * b, b, periods_per_year=252)["beta"], 12)
        2.0
    """
    ppy = _check_ppy(periods_per_year)
    frame = align_returns(("returns", returns), ("benchmark", benchmark))
    rf = _risk_free_per_period(risk_free, frame.index, ppy)
    return _math.benchmark_stats(
        frame["returns"].to_numpy(np.float64), frame["benchmark"].to_numpy(np.float64), rf, ppy
    )


# ------------------------------------------------------------------------------------------------ Brinson
@dataclass(frozen=True)
class BrinsonResult:
    """Brinson-Fachler attribution by sector, per period and linked over all periods (Cariño).

    Attributes:
        detail: one row per (period, sector): allocation, selection, interaction, total (unlinked, per period).
        by_period: one row per period: portfolio_return, benchmark_return, active_return, allocation,
            selection, interaction (sums over sectors; the three effects sum to active_return), and
            ``link_weight`` (Cariño's k_t / K).
        by_sector: one row per sector: allocation, selection, interaction, total, each linked over the periods
            as ``Σ_t (k_t / K) · effect_t``; the grand total equals ``active_return``.
        portfolio_return, benchmark_return: compounded over all periods, ``prod(1 + R_t) − 1``.
        active_return: ``portfolio_return − benchmark_return`` (arithmetic difference of compounded returns).
    """

    detail: pd.DataFrame
    by_period: pd.DataFrame
    by_sector: pd.DataFrame
    portfolio_return: float
    benchmark_return: float
    active_return: float
    totals: dict[str, float] = field(default_factory=dict)


def _as_frame(x: pd.Series | pd.DataFrame, name: str) -> pd.DataFrame:
    if isinstance(x, pd.Series):
        return x.to_frame().T.reset_index(drop=True)
    if isinstance(x, pd.DataFrame):
        return x
    raise AttributionError(
        f"`{name}` must be a Series (one period, indexed by sector) or a DataFrame (periods x sectors), "
        f"got {type(x).__name__}"
    )


def brinson_fachler(
    portfolio_weights: pd.Series | pd.DataFrame,
    portfolio_returns: pd.Series | pd.DataFrame,
    benchmark_weights: pd.Series | pd.DataFrame,
    benchmark_returns: pd.Series | pd.DataFrame,
) -> BrinsonResult:
    """Brinson-Fachler sector attribution, per period, linked over periods with Cariño's coefficients.

    Per period t and sector i (weights at the start of the period, sector returns over it):
    ``allocation = (wp − wb)(rb − R_b)``, ``selection = wb (rp − rb)``, ``interaction = (wp − wb)(rp − rb)``,
    with ``R_p = Σ wp·rp`` and ``R_b = Σ wb·rb``; the three sum to ``R_p − R_b`` exactly. Over several periods
    each effect is multiplied by ``k_t / K`` with ``k_t = ln((1 + R_p,t)/(1 + R_b,t)) / (R_p,t − R_b,t)`` and
    ``K`` the same over the compounded returns, so the linked effects sum to the compounded active return
    ``prod(1 + R_p,t) − prod(1 + R_b,t)``.

    Missing values: a sector absent from one side has weight 0 there. The return of a sector with weight 0 is
    irrelevant and may be NaN: the portfolio's is taken as the benchmark's (no selection or interaction), and
    the benchmark's as R_b (no allocation). A NaN return with a non-zero weight is an error.

    Args:
        portfolio_weights, portfolio_returns, benchmark_weights, benchmark_returns: Series indexed by sector
            (one period) or DataFrames indexed by period with one column per sector. Each period's weights
            must sum to 1 (within 1e-6).

    Returns:
        A :class:`BrinsonResult`.

    Example:
        >>> import pandas as pd
        >>> wp = pd.Series({"Tech": 0.6, "Energy": 0.4}); wb = pd.Series({"Tech": 0.5, "Energy": 0.5})
        >>> rp = pd.Series({"Tech": 0.10, "Energy": 0.02}); rb = pd.Series({"Tech": 0.08, "Energy": 0.03})
        >>> res = brinson_fachler(wp, rp, wb, rb)
        >>> round(res.active_return, 12), round(float(res.by_sector["total"].sum()), 12)
        (0.013, 0.013)
    """
    frames = {
        "portfolio_weights": _as_frame(portfolio_weights, "portfolio_weights"),
        "portfolio_returns": _as_frame(portfolio_returns, "portfolio_returns"),
        "benchmark_weights": _as_frame(benchmark_weights, "benchmark_weights"),
        "benchmark_returns": _as_frame(benchmark_returns, "benchmark_returns"),
    }
    periods = frames["portfolio_weights"].index
    for name, f in frames.items():
        if not f.index.equals(periods):
            raise AttributionError(
                f"`{name}` has periods {list(f.index[:3])}... that differ from portfolio_weights' "
                f"{list(periods[:3])}...; pass frames with the same period index"
            )
        if f.index.has_duplicates:
            raise AttributionError(f"`{name}` has duplicate periods")
    if len(periods) == 0:
        raise AttributionError("no periods to attribute (the weight frames are empty)")
    sectors = sorted(set().union(*(set(map(str, f.columns)) for f in frames.values())))
    arr = {
        name: f.rename(columns=str).reindex(columns=sectors).to_numpy(dtype=np.float64)
        for name, f in frames.items()
    }
    wp = np.nan_to_num(arr["portfolio_weights"], nan=0.0)
    wb = np.nan_to_num(arr["benchmark_weights"], nan=0.0)
    rp_raw = arr["portfolio_returns"]
    rb_raw = arr["benchmark_returns"]
    n_t, n_s = wp.shape
    for side, w, r in (("portfolio", wp, rp_raw), ("benchmark", wb, rb_raw)):
        sums = w.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > WEIGHT_TOLERANCE)
        if bad.size:
            t = bad[0]
            raise AttributionError(
                f"`{side}_weights` in period {periods[t]!r} sum to {sums[t]:.10g}; weights must sum to 1 "
                f"(within {WEIGHT_TOLERANCE:g})"
            )
        hole = np.argwhere((w != 0.0) & ~np.isfinite(r))
        if hole.size:
            t, i = hole[0]
            raise AttributionError(
                f"`{side}_returns` is missing for sector {sectors[i]!r} in period {periods[t]!r} "
                f"where its weight is {w[t, i]:g}"
            )
    alloc = np.empty((n_t, n_s))
    sel = np.empty((n_t, n_s))
    inter = np.empty((n_t, n_s))
    tot_p = np.empty(n_t)
    tot_b = np.empty(n_t)
    for t in range(n_t):
        rb_known = np.where(wb[t] != 0.0, rb_raw[t], 0.0)
        r_b = float(np.dot(wb[t], rb_known))
        rb = np.where(wb[t] != 0.0, rb_raw[t], r_b)
        rp = np.where(wp[t] != 0.0, rp_raw[t], rb)
        alloc[t], sel[t], inter[t], tot_p[t], tot_b[t] = _math.brinson_fachler_period(wp[t], rp, wb[t], rb)
    link, total_p, total_b = _math.carino_weights(tot_p, tot_b)
    detail = pd.DataFrame(
        {
            "period": np.repeat(np.asarray(periods, dtype=object), n_s),
            "sector": np.tile(np.asarray(sectors, dtype=object), n_t),
            "allocation": alloc.ravel(),
            "selection": sel.ravel(),
            "interaction": inter.ravel(),
        }
    )
    detail["total"] = detail["allocation"] + detail["selection"] + detail["interaction"]
    by_period = pd.DataFrame(
        {
            "portfolio_return": tot_p,
            "benchmark_return": tot_b,
            "active_return": tot_p - tot_b,
            "allocation": alloc.sum(axis=1),
            "selection": sel.sum(axis=1),
            "interaction": inter.sum(axis=1),
            "link_weight": link,
        },
        index=periods,
    )
    by_sector = pd.DataFrame(
        {
            "allocation": link @ alloc,
            "selection": link @ sel,
            "interaction": link @ inter,
        },
        index=pd.Index(sectors, name="sector"),
    )
    by_sector["total"] = by_sector.sum(axis=1)
    totals = {k: float(by_sector[k].sum()) for k in ("allocation", "selection", "interaction", "total")}
    return BrinsonResult(
        detail=detail,
        by_period=by_period,
        by_sector=by_sector,
        portfolio_return=total_p,
        benchmark_return=total_b,
        active_return=total_p - total_b,
        totals=totals,
    )
