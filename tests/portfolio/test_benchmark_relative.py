"""benchmark_relative against empyrical-reloaded and statsmodels OLS on real daily returns."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from quantray.portfolio import AttributionError, benchmark_relative


def _aligned(stock: pd.Series, index: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    s = stock.copy()
    s.index = s.index.tz_convert("UTC").tz_localize(None)
    both = pd.concat([s, index], axis=1, join="inner").dropna()
    return both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()


@pytest.mark.parametrize("symbol", ["AAPL", "XOM", "JNJ"])
def test_matches_empyrical_and_ols_on_real_data(sample_returns, sp500_index_returns, symbol):
    stock = sample_returns[symbol]
    got = benchmark_relative(stock, sp500_index_returns, periods_per_year=252)
    r, b = _aligned(stock, sp500_index_returns)
    assert got["n_periods"] == len(r) > 1200  # the UTC-stamped bars aligned with the date-stamped index

    assert got["beta"] == pytest.approx(empyrical.beta(r, b), rel=1e-12)
    assert got["alpha"] == pytest.approx(empyrical.alpha(r, b, annualization=252), rel=1e-10, abs=1e-14)
    assert got["up_capture"] == pytest.approx(empyrical.up_capture(r, b, period="daily"), rel=1e-12)
    assert got["down_capture"] == pytest.approx(empyrical.down_capture(r, b, period="daily"), rel=1e-12)
    assert got["information_ratio"] == pytest.approx(
        empyrical.excess_sharpe(r, b) * math.sqrt(252), rel=1e-12
    )
    ann_r = empyrical.annual_return(r, annualization=252)
    ann_b = empyrical.annual_return(b, annualization=252)
    assert got["active_return"] == pytest.approx(ann_r - ann_b, rel=1e-12)

    fit = sm.OLS(r, sm.add_constant(b)).fit()
    assert got["alpha_per_period"] == pytest.approx(fit.params[0], rel=1e-9)
    assert got["beta"] == pytest.approx(fit.params[1], rel=1e-12)
    assert got["correlation"] == pytest.approx(np.corrcoef(r, b)[0, 1], rel=1e-12)
    assert got["correlation"] ** 2 == pytest.approx(fit.rsquared, rel=1e-10)
    active = r - b
    assert got["tracking_error"] == pytest.approx(np.std(active, ddof=1) * math.sqrt(252), rel=1e-12)
    assert got["total_active_return"] == pytest.approx(np.prod(1 + r) - np.prod(1 + b), rel=1e-12)


def test_risk_free_series_matches_ols_on_excess_returns(sample_returns, sp500_index_returns, ff_path):
    from quantray.portfolio import load_fama_french

    rf = load_fama_french(ff_path)["RF"]
    stock = sample_returns["MSFT"]
    got = benchmark_relative(stock, sp500_index_returns, periods_per_year=252, risk_free=rf)
    r, b = _aligned(stock, sp500_index_returns)
    s = stock.copy()
    s.index = s.index.tz_convert("UTC").tz_localize(None)
    idx = pd.concat([s, sp500_index_returns], axis=1, join="inner").dropna().index
    rf_t = rf.reindex(idx).to_numpy()
    fit = sm.OLS(r - rf_t, sm.add_constant(b - rf_t)).fit()
    assert got["beta"] == pytest.approx(fit.params[1], rel=1e-12)
    assert got["alpha_per_period"] == pytest.approx(fit.params[0], rel=1e-9)
    assert got["alpha"] == pytest.approx((1 + fit.params[0]) ** 252 - 1, rel=1e-9)
    # a constant annual rate is rf / 252 per period, as empyrical's per-period risk_free
    got_c = benchmark_relative(r, b, periods_per_year=252, risk_free=0.02)
    assert got_c["alpha"] == pytest.approx(
        empyrical.alpha(r, b, risk_free=0.02 / 252, annualization=252), rel=1e-10
    )


def test_bad_inputs_name_the_problem():
    with pytest.raises(AttributionError, match="equal lengths"):
        benchmark_relative([0.01, 0.02, 0.03], [0.01, 0.02], periods_per_year=252)
    with pytest.raises(AttributionError, match="periods_per_year"):
        benchmark_relative([0.01, 0.02], [0.01, 0.02], periods_per_year=0)
    a = pd.Series([0.01, 0.02], index=pd.to_datetime(["2020-01-01", "2020-01-02"]))
    b = pd.Series([0.01, 0.02], index=pd.to_datetime(["2021-01-01", "2021-01-02"]))
    with pytest.raises(AttributionError, match="0 period"):
        benchmark_relative(a, b, periods_per_year=252)
