"""Factor attribution on Fama-French 5 + momentum against statsmodels OLS; loader errors; active/passive."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quantray.errors import DataError
from quantray.portfolio import (
    FF5_MOM_COLUMNS,
    AttributionError,
    active_passive_breakdown,
    factor_attribution,
    load_fama_french,
)

FACTORS = ["Mkt-RF", "SMB", "HML", "RMW", "CMA", "Mom"]


def test_loader_converts_percent_to_fractions(ff_path):
    ff = load_fama_french(ff_path)
    assert list(ff.columns) == list(FF5_MOM_COLUMNS)
    raw = pd.read_csv(ff_path, index_col="date", parse_dates=True)
    day = pd.Timestamp("2017-03-01")
    for col in FF5_MOM_COLUMNS:
        assert ff.loc[day, col] == pytest.approx(raw.loc[day, col] / 100.0, rel=1e-15)
    assert ff.index.is_monotonic_increasing and ff.index.tz is None
    assert len(ff) == len(raw)


def test_loader_errors_name_file_and_column(tmp_path, ff_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=r"nope\.csv.*does not exist"):
        load_fama_french(missing)
    bad = tmp_path / "ff3.csv"
    pd.read_csv(ff_path, nrows=20).drop(columns=["Mom"]).to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"ff3\.csv.*missing column 'Mom'"):
        load_fama_french(bad)
    ff3 = load_fama_french(bad, columns=("Mkt-RF", "SMB", "HML", "RF"))
    assert list(ff3.columns) == ["Mkt-RF", "SMB", "HML", "RF"]
    junk = tmp_path / "junk.csv"
    junk.write_text("date,Mkt-RF,RF\n2020-01-02,1.0,0.01\n2020-01-03,abc,0.01\n")
    with pytest.raises(DataError, match=r"junk\.csv.*'Mkt-RF' row 3 is not a number"):
        load_fama_french(junk, columns=("Mkt-RF", "RF"))


@pytest.fixture(scope="module")
def portfolio_returns(sample_returns) -> pd.Series:
    """The equal-weight (daily rebalanced) return of the 20 bundled sample stocks."""
    return sample_returns.mean(axis=1).rename("portfolio")


@pytest.mark.parametrize("which", ["portfolio", "AAPL", "XOM"])
def test_matches_statsmodels_ols_on_real_data(ff_path, sample_returns, portfolio_returns, which):
    ff = load_fama_french(ff_path)
    r = portfolio_returns if which == "portfolio" else sample_returns[which]
    fa = factor_attribution(r, ff, periods_per_year=252)

    # independent reference: statsmodels on the same dates
    r_naive = r.copy()
    r_naive.index = r_naive.index.tz_convert("UTC").tz_localize(None).normalize()
    df = pd.concat([r_naive.rename("r"), ff], axis=1, join="inner").dropna()
    assert fa.n_obs == len(df) > 1200
    y = df["r"] - df["RF"]
    fit = sm.OLS(y, sm.add_constant(df[FACTORS])).fit()
    assert fa.alpha == pytest.approx(fit.params["const"], rel=1e-8, abs=1e-14)
    np.testing.assert_allclose(fa.betas[FACTORS].to_numpy(), fit.params[FACTORS].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(fa.t_stats.to_numpy(), fit.tvalues.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fa.std_errors.to_numpy(), fit.bse.to_numpy(), rtol=1e-8)
    assert fa.r_squared == pytest.approx(fit.rsquared, rel=1e-10)
    assert fa.adj_r_squared == pytest.approx(fit.rsquared_adj, rel=1e-10)
    np.testing.assert_allclose(fa.residual.to_numpy(), fit.resid.to_numpy(), rtol=0, atol=1e-12)
    assert fa.alpha_annualised == pytest.approx(252 * fit.params["const"], rel=1e-8, abs=1e-12)

    # contributions: each period's excess return splits exactly into factors + alpha + residual
    np.testing.assert_allclose(fa.contributions.sum(axis=1).to_numpy(), y.to_numpy(), rtol=0, atol=1e-15)
    for f in FACTORS:
        assert fa.total_contributions[f] == pytest.approx(fit.params[f] * df[f].sum(), rel=1e-9, abs=1e-14)
    assert abs(fa.total_contributions["residual"]) < 1e-12  # OLS with an intercept: residuals sum to 0
    if which == "portfolio":
        # a diversified large-cap portfolio: market beta near 1 and most variance explained
        assert 0.8 < fa.betas["Mkt-RF"] < 1.2 and fa.r_squared > 0.85


def test_active_passive_breakdown_by_factors_and_benchmark(ff_path, portfolio_returns, sp500_index_returns):
    ff = load_fama_french(ff_path)
    ap = active_passive_breakdown(portfolio_returns, factors=ff, periods_per_year=252)
    fa = factor_attribution(portfolio_returns, ff, periods_per_year=252)
    s = ap.series
    np.testing.assert_allclose((s["passive"] + s["active"]).to_numpy(), s["returns"].to_numpy(), atol=1e-16)
    # the active part is alpha + residual
    np.testing.assert_allclose(s["active"].to_numpy(), fa.alpha + fa.residual.to_numpy(), atol=1e-15)
    assert ap.passive_return + ap.active_return == pytest.approx(ap.total_return, rel=1e-12)
    assert ap.active_return == pytest.approx(fa.alpha_annualised, rel=1e-8)
    assert ap.explained_variance == pytest.approx(fa.r_squared, rel=1e-12)

    bp = active_passive_breakdown(portfolio_returns, benchmark=sp500_index_returns, periods_per_year=252)
    r = portfolio_returns.copy()
    r.index = r.index.tz_convert("UTC").tz_localize(None)
    df = pd.concat([r, sp500_index_returns], axis=1, join="inner").dropna()
    fit = sm.OLS(df.iloc[:, 0], sm.add_constant(df.iloc[:, 1])).fit()
    np.testing.assert_allclose(
        bp.series["active"].to_numpy(), fit.params.iloc[0] + fit.resid.to_numpy(), atol=1e-15
    )
    assert bp.active_return == pytest.approx(252 * fit.params.iloc[0], rel=1e-8)
    assert bp.explained_variance == pytest.approx(fit.rsquared, rel=1e-10)
    assert bp.active_risk == pytest.approx(np.std(fit.resid, ddof=1) * math.sqrt(252), rel=1e-9)


def test_factor_errors(ff_path, portfolio_returns):
    ff = load_fama_french(ff_path)
    with pytest.raises(AttributionError, match="'RF'"):
        factor_attribution(portfolio_returns, ff.drop(columns=["RF"]), periods_per_year=252)
    with pytest.raises(AttributionError, match="overlap"):
        factor_attribution(portfolio_returns, ff.loc["1990":"1990-01-10"], periods_per_year=252)
    with pytest.raises(AttributionError, match="exactly one"):
        active_passive_breakdown(portfolio_returns, periods_per_year=252)
