"""Fama-French factor loading, factor attribution by OLS and the active/passive breakdown (pandas wrappers)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quantray.errors import DataError
from quantray.portfolio import _math
from quantray.portfolio._attribution import (
    AttributionError,
    ReturnsLike,
    _as_series,
    _check_ppy,
    _naive,
    _risk_free_per_period,
    align_returns,
)

FF5_MOM_COLUMNS: tuple[str, ...] = ("Mkt-RF", "SMB", "HML", "RMW", "CMA", "Mom", "RF")
"""Columns :func:`load_fama_french` requires by default: the five Fama-French factors, momentum and RF."""

_ALIASES = {
    "mom": "Mom",
    "umd": "Mom",
    "wml": "Mom",
    "mkt_rf": "Mkt-RF",
    "mktrf": "Mkt-RF",
    "mkt-rf": "Mkt-RF",
}


def load_fama_french(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] = FF5_MOM_COLUMNS,
    percent: bool = True,
) -> pd.DataFrame:
    """Read a Fama-French daily factor CSV (Kenneth French's data library layout) as fractions per period.

    The file has a date column (``date``/``Date``, ``YYYY-MM-DD`` or ``YYYYMMDD``) and one column per factor in
    PERCENT per period (French's convention); with ``percent=True`` they are divided by 100. Column names are
    matched case-insensitively, ``UMD``/``WML`` are read as ``Mom``.

    Args:
        path: a local path or fsspec URL of the CSV.
        columns: the factor columns required (default: Mkt-RF, SMB, HML, RMW, CMA, Mom, RF); use
            ``("Mkt-RF", "SMB", "HML", "RF")`` for the three-factor file.
        percent: the file holds percent (divide by 100).

    Returns:
        A DataFrame indexed by tz-naive dates (``date``) with exactly ``columns``, float64 fractions.

    Raises:
        DataError: the file is missing or unreadable, a required column is missing (named with the columns
            found), a date or a value does not parse (named with its row).

    Example:
        >>> import io, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "ff.csv")
        >>> _ = open(p, "w").write("date,Mkt-RF,RF\\n2020-01-02,1.5,0.01\\n")
        >>> load_fama_french(p, columns=("Mkt-RF", "RF")).iloc[0].tolist()
        [0.015, 0.0001]
    """
    where = os.fspath(path)
    if "://" not in where and not os.path.isfile(where):
        raise DataError(f"Fama-French factor file {where!r} does not exist")
    try:
        raw = pd.read_csv(where, dtype=str)
    except Exception as exc:
        raise DataError(f"Fama-French factor file {where!r} cannot be read as CSV: {exc}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    lookup = {c.lower(): c for c in raw.columns}
    for alias, canon in _ALIASES.items():
        if alias in lookup and canon.lower() not in lookup:
            lookup[canon.lower()] = lookup[alias]
    date_col = next((lookup[k] for k in ("date", "dates") if k in lookup), None)
    if date_col is None and raw.columns[0].lower().startswith("unnamed"):
        date_col = raw.columns[0]
    if date_col is None:
        raise DataError(
            f"Fama-French factor file {where!r}: missing column 'date'; found columns {list(raw.columns)}"
        )
    for col in columns:
        if col.lower() not in lookup:
            raise DataError(
                f"Fama-French factor file {where!r}: missing column {col!r}; found columns {list(raw.columns)}; "
                f"required {list(columns)}"
            )
    text_dates = raw[date_col].astype(str).str.strip()
    fmt = "%Y%m%d" if text_dates.str.fullmatch(r"\d{8}").all() else "ISO8601"
    dates = pd.to_datetime(text_dates, format=fmt, errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(
            f"Fama-French factor file {where!r}: row {row + 2} has an unreadable date {text_dates.iloc[row]!r}"
        )
    out = pd.DataFrame(index=pd.DatetimeIndex(dates, name="date"))
    for col in columns:
        src = lookup[col.lower()]
        values = pd.to_numeric(raw[src].str.strip(), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(
                f"Fama-French factor file {where!r}: column {col!r} row {bad[0] + 2} is not a number "
                f"({raw[src].iloc[bad[0]]!r})"
            )
        out[col] = values / 100.0 if percent else values
    if out.index.has_duplicates:
        dup = out.index[out.index.duplicated()][0]
        raise DataError(f"Fama-French factor file {where!r}: duplicate date {dup.date()}")
    return out.sort_index()


@dataclass(frozen=True)
class FactorAttribution:
    """Result of :func:`factor_attribution` (per-period figures are fractions per period).

    Attributes:
        alpha: OLS intercept per period (excess return unexplained by the factors).
        alpha_annualised: ``alpha · periods_per_year`` (arithmetic).
        betas: factor loadings (Series indexed by factor).
        t_stats: t-statistics with classical OLS standard errors (index ``alpha`` then the factors).
        std_errors: the standard errors, same index.
        r_squared, adj_r_squared: of the regression of excess returns on the factors.
        contributions: one row per period, one column per factor (``β_k · f_k,t``) plus ``alpha`` and
            ``residual``; each row sums to the period's excess return ``r_t − RF_t``.
        total_contributions: the column sums of ``contributions`` (``residual`` sums to ~0 by construction).
        annualised_contributions: the column means of ``contributions`` times ``periods_per_year``.
        residual: the regression residuals (Series).
        n_obs: periods used.
    """

    alpha: float
    alpha_annualised: float
    betas: pd.Series
    t_stats: pd.Series
    std_errors: pd.Series
    r_squared: float
    adj_r_squared: float
    contributions: pd.DataFrame
    total_contributions: pd.Series
    annualised_contributions: pd.Series
    residual: pd.Series
    n_obs: int


def _factor_frame(
    returns: ReturnsLike, factors: pd.DataFrame, factor_names: Sequence[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    if not isinstance(factors, pd.DataFrame):
        raise AttributionError(
            f"`factors` must be a DataFrame (see load_fama_french), got {type(factors).__name__}"
        )
    if not isinstance(returns, pd.Series):
        raise AttributionError("`returns` must be a pandas Series indexed by date to align with the factors")
    if "RF" not in factors.columns:
        raise AttributionError(
            f"`factors` needs an 'RF' column (risk-free per period); has {list(factors.columns)}"
        )
    names = list(factor_names) if factor_names is not None else [c for c in factors.columns if c != "RF"]
    missing = [n for n in names if n not in factors.columns]
    if missing:
        raise AttributionError(f"`factors` has no column(s) {missing}; has {list(factors.columns)}")
    if not names:
        raise AttributionError("no factor columns to regress on")
    r = _as_series(returns, "returns")
    f = factors.copy()
    f.index = _naive(pd.DatetimeIndex(f.index))
    if isinstance(r.index, pd.DatetimeIndex):
        r.index = r.index.normalize()
    frame = pd.concat([r, f[[*names, "RF"]]], axis=1, join="inner").dropna()
    if len(frame) < len(names) + 3:
        raise AttributionError(
            f"only {len(frame)} period(s) where returns and factors overlap; need at least {len(names) + 3} "
            f"for a regression on {len(names)} factors (returns {r.index.min()} .. {r.index.max()})"
        )
    return frame, names


def factor_attribution(
    returns: pd.Series,
    factors: pd.DataFrame,
    *,
    periods_per_year: float,
    factor_names: Sequence[str] | None = None,
) -> FactorAttribution:
    """Factor attribution by OLS of excess returns on factor returns (e.g. Fama-French 5 + momentum).

    Regresses ``r_t − RF_t = α + Σ_k β_k f_k,t + ε_t`` over the dates common to ``returns`` and ``factors``
    (tz-aware timestamps are compared as UTC dates), with classical OLS standard errors. Each period's excess
    return splits exactly into factor contributions ``β_k f_k,t``, ``α`` and the residual ``ε_t``.

    Args:
        returns: simple returns per period (a Series indexed by date), as fractions.
        factors: factor returns as fractions per period with an ``RF`` column, e.g. from
            :func:`load_fama_french` (which converts French's percent to fractions).
        periods_per_year: annualisation factor of the returns (252 for daily).
        factor_names: the regressors (default: every column but ``RF``).

    Returns:
        A :class:`FactorAttribution`.

    Example:
        >>> import numpy as np, pandas as pd
        >>> idx = pd.date_range("2020-01-01", periods=50, freq="B")
        >>> rng = np.random.default_rng(0)
        >>> f = pd.DataFrame({"Mkt-RF": rng.normal(0, .01, 50), "RF": 0.0001}, index=idx)
        >>> r = 0.0001 + 1.5 * f["Mkt-RF"] + f["RF"]
        >>> round(float(factor_attribution(r, f, periods_per_year=252).betas["Mkt-RF"]), 9)
        1.5
    """
    ppy = _check_ppy(periods_per_year)
    frame, names = _factor_frame(returns, factors, factor_names)
    y = (frame["returns"] - frame["RF"]).to_numpy(np.float64)
    x = frame[names].to_numpy(np.float64)
    fit = _math.ols(y, x)
    coef = np.asarray(fit["coef"])
    resid = np.asarray(fit["resid"])
    labels = ["alpha", *names]
    contrib = pd.DataFrame(x * coef[1:], index=frame.index, columns=names)
    contrib["alpha"] = coef[0]
    contrib["residual"] = resid
    return FactorAttribution(
        alpha=float(coef[0]),
        alpha_annualised=float(coef[0]) * ppy,
        betas=pd.Series(coef[1:], index=names, name="beta"),
        t_stats=pd.Series(np.asarray(fit["t"]), index=labels, name="t"),
        std_errors=pd.Series(np.asarray(fit["se"]), index=labels, name="se"),
        r_squared=float(fit["r2"]),
        adj_r_squared=float(fit["adj_r2"]),
        contributions=contrib,
        total_contributions=contrib.sum(axis=0),
        annualised_contributions=contrib.mean(axis=0) * ppy,
        residual=pd.Series(resid, index=frame.index, name="residual"),
        n_obs=len(frame),
    )


@dataclass(frozen=True)
class ActivePassive:
    """Result of :func:`active_passive_breakdown` (annualised figures are arithmetic: mean · periods_per_year).

    Attributes:
        series: per period ``returns``, ``passive`` (risk-free + the part explained by the benchmark/factors)
            and ``active`` (``returns − passive`` = alpha + residual).
        total_return, passive_return, active_return: annualised means; ``passive + active = total`` exactly.
        explained_variance: R² of the regression (share of excess-return variance that is passive).
        active_risk: std(active, ddof=1) · √P.
        basis: ``"benchmark"`` or ``"factors"``.
    """

    series: pd.DataFrame
    total_return: float
    passive_return: float
    active_return: float
    explained_variance: float
    active_risk: float
    basis: str

    def to_dict(self) -> dict[str, float | str]:
        """The scalar figures as a dict."""
        return {
            "basis": self.basis,
            "total_return": self.total_return,
            "passive_return": self.passive_return,
            "active_return": self.active_return,
            "explained_variance": self.explained_variance,
            "active_risk": self.active_risk,
        }


def active_passive_breakdown(
    returns: pd.Series,
    *,
    periods_per_year: float,
    benchmark: pd.Series | None = None,
    factors: pd.DataFrame | None = None,
    risk_free: float | pd.Series = 0.0,
) -> ActivePassive:
    """Split returns into a passive part (explained by a benchmark or by factors) and an active part.

    With ``benchmark``: ``passive_t = rf_t + β (b_t − rf_t)`` with β the OLS slope of ``r − rf`` on ``b − rf``
    (``risk_free`` as in :func:`benchmark_relative`). With ``factors``: ``passive_t = RF_t + Σ β_k f_k,t``
    from :func:`factor_attribution`. In both, ``active_t = r_t − passive_t = α + ε_t``: what the benchmark or
    factors do not explain (security selection and timing, plus noise).

    Args:
        returns: simple returns per period (Series).
        periods_per_year: annualisation factor.
        benchmark: benchmark returns per period (exactly one of ``benchmark`` and ``factors``).
        factors: factor returns with ``RF`` (fractions), e.g. from :func:`load_fama_french`.
        risk_free: with ``benchmark``, an annual rate or a Series of per-period rates.

    Returns:
        An :class:`ActivePassive`.

    Example:
        >>> import numpy as np, pandas as pd
        >>> b = pd.Series(np.random.default_rng(1).normal(0, 0.01, 100))
        >>> ap = active_passive_breakdown(0.0002 + 0.8 * b, benchmark=b, periods_per_year=252)
        >>> round(ap.active_return, 9), round(ap.explained_variance, 9)
        (0.0504, 1.0)
    """
    ppy = _check_ppy(periods_per_year)
    if (benchmark is None) == (factors is None):
        raise AttributionError("pass exactly one of `benchmark` and `factors`")
    if factors is not None:
        fa = factor_attribution(returns, factors, periods_per_year=ppy)
        r_all = _as_series(returns, "returns")
        if isinstance(r_all.index, pd.DatetimeIndex):
            r_all.index = r_all.index.normalize()
        r = r_all.reindex(fa.contributions.index).to_numpy(np.float64)
        rf = pd.DatetimeIndex(factors.index)
        rf_series = pd.Series(factors["RF"].to_numpy(np.float64), index=_naive(rf))
        rf_t = rf_series.reindex(fa.contributions.index).to_numpy(np.float64)
        passive = rf_t + fa.contributions[list(fa.betas.index)].sum(axis=1).to_numpy()
        index = fa.contributions.index
        r2 = fa.r_squared
        basis = "factors"
    else:
        frame = align_returns(("returns", returns), ("benchmark", benchmark))  # type: ignore[arg-type]
        index = frame.index
        rf_t = _risk_free_per_period(risk_free, index, ppy)
        r = frame["returns"].to_numpy(np.float64)
        fit = _math.ols(r - rf_t, (frame["benchmark"].to_numpy(np.float64) - rf_t)[:, None])
        beta = float(np.asarray(fit["coef"])[1])
        passive = rf_t + beta * (frame["benchmark"].to_numpy(np.float64) - rf_t)
        r2 = float(fit["r2"])
        basis = "benchmark"
    active = r - passive
    series = pd.DataFrame({"returns": r, "passive": passive, "active": active}, index=index)
    sd = float(np.std(active, ddof=1)) if len(active) > 1 else math.nan
    return ActivePassive(
        series=series,
        total_return=float(r.mean() * ppy),
        passive_return=float(passive.mean() * ppy),
        active_return=float(active.mean() * ppy),
        explained_variance=r2,
        active_risk=sd * math.sqrt(ppy),
        basis=basis,
    )
