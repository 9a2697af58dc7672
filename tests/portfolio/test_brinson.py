"""Brinson-Fachler attribution: a hand-worked textbook case, Cariño linking by hand, invariants on real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.portfolio import AttributionError, brinson_fachler

SECTORS = ["UK", "Japan", "US"]


def _bacon_period_1():
    # Bacon, "Practical Portfolio Performance Measurement and Attribution", single-period example.
    wp = pd.Series([0.40, 0.30, 0.30], index=SECTORS)
    rp = pd.Series([0.20, -0.05, 0.06], index=SECTORS)
    wb = pd.Series([0.40, 0.20, 0.40], index=SECTORS)
    rb = pd.Series([0.10, -0.04, 0.08], index=SECTORS)
    return wp, rp, wb, rb


def test_hand_worked_single_period():
    res = brinson_fachler(*_bacon_period_1())
    # R_p = 0.4*0.20 + 0.3*(-0.05) + 0.3*0.06 = 0.080 - 0.015 + 0.018 = 0.083
    # R_b = 0.4*0.10 + 0.2*(-0.04) + 0.4*0.08 = 0.040 - 0.008 + 0.032 = 0.064
    assert res.portfolio_return == pytest.approx(0.083, abs=1e-15)
    assert res.benchmark_return == pytest.approx(0.064, abs=1e-15)
    assert res.active_return == pytest.approx(0.019, abs=1e-15)
    s = res.by_sector
    # allocation (wp - wb)(rb - R_b): UK 0.0*(0.10-0.064)=0; Japan 0.1*(-0.04-0.064)=-0.0104;
    #                                 US -0.1*(0.08-0.064)=-0.0016                     total -0.0120
    assert s.loc[SECTORS, "allocation"].tolist() == pytest.approx([0.0, -0.0104, -0.0016], abs=1e-15)
    # selection wb (rp - rb): UK 0.4*0.10=0.040; Japan 0.2*(-0.01)=-0.002; US 0.4*(-0.02)=-0.008  total 0.030
    assert s.loc[SECTORS, "selection"].tolist() == pytest.approx([0.040, -0.002, -0.008], abs=1e-15)
    # interaction (wp - wb)(rp - rb): UK 0; Japan 0.1*(-0.01)=-0.001; US -0.1*(-0.02)=0.002      total 0.001
    assert s.loc[SECTORS, "interaction"].tolist() == pytest.approx([0.0, -0.001, 0.002], abs=1e-15)
    # -0.012 + 0.030 + 0.001 = 0.019 = R_p - R_b
    assert res.totals["allocation"] == pytest.approx(-0.012, abs=1e-15)
    assert res.totals["selection"] == pytest.approx(0.030, abs=1e-15)
    assert res.totals["interaction"] == pytest.approx(0.001, abs=1e-15)
    assert res.totals["total"] == pytest.approx(0.019, abs=1e-15)
    # a single period needs no linking: k_1 / K = 1
    assert res.by_period["link_weight"].iloc[0] == pytest.approx(1.0, abs=1e-14)


def test_hand_worked_carino_two_periods():
    wp, rp1, wb, rb1 = _bacon_period_1()
    rp2 = pd.Series([-0.05, 0.10, 0.02], index=SECTORS)
    rb2 = pd.Series([-0.04, 0.05, 0.03], index=SECTORS)
    frame = lambda a, b: pd.DataFrame([a, b], index=["P1", "P2"])  # noqa: E731
    res = brinson_fachler(frame(wp, wp), frame(rp1, rp2), frame(wb, wb), frame(rb1, rb2))
    # period 2: R_p = 0.4*(-0.05) + 0.3*0.10 + 0.3*0.02 = -0.020 + 0.030 + 0.006 = 0.016
    #           R_b = 0.4*(-0.04) + 0.2*0.05 + 0.4*0.03 = -0.016 + 0.010 + 0.012 = 0.006
    assert res.by_period["portfolio_return"].tolist() == pytest.approx([0.083, 0.016], abs=1e-15)
    assert res.by_period["benchmark_return"].tolist() == pytest.approx([0.064, 0.006], abs=1e-15)
    # compounded: R_P = 1.083*1.016 - 1 = 0.100328, R_B = 1.064*1.006 - 1 = 0.070384, active 0.029944
    assert res.portfolio_return == pytest.approx(0.100328, abs=1e-14)
    assert res.benchmark_return == pytest.approx(0.070384, abs=1e-14)
    assert res.active_return == pytest.approx(0.029944, abs=1e-14)
    # Cariño: k_t = ln((1+R_p,t)/(1+R_b,t)) / (R_p,t - R_b,t), K the same on the compounded returns
    k1 = math.log(1.083 / 1.064) / 0.019
    k2 = math.log(1.016 / 1.006) / 0.010
    big_k = math.log(1.100328 / 1.070384) / 0.029944
    assert res.by_period["link_weight"].tolist() == pytest.approx([k1 / big_k, k2 / big_k], rel=1e-12)
    # period-2 allocation by sector: Japan 0.1*(0.05-0.006)=0.0044, US -0.1*(0.03-0.006)=-0.0024
    alloc_japan = (k1 * -0.0104 + k2 * 0.0044) / big_k
    alloc_us = (k1 * -0.0016 + k2 * -0.0024) / big_k
    assert res.by_sector.loc["Japan", "allocation"] == pytest.approx(alloc_japan, rel=1e-12)
    assert res.by_sector.loc["US", "allocation"] == pytest.approx(alloc_us, rel=1e-12)
    # linked effects sum to the compounded active return (not to the sum of period actives, 0.029)
    assert res.totals["total"] == pytest.approx(0.029944, abs=1e-15)


def _monthly_sector_inputs(shared_data: Path):
    """Equal-weight S&P 500 (complete tickers) vs equal-weight sample stocks, monthly, by GICS sector."""
    from quantray.data import SAMPLE_SYMBOLS

    px = pd.read_parquet(
        shared_data / "equities" / "sp500_daily_2013-02-08_2018-02-07.parquet",
        columns=["date", "ticker", "close"],
    )
    close = px.pivot(index="date", columns="ticker", values="close").sort_index()
    close.index = pd.to_datetime(close.index)
    close = close.dropna(axis=1)  # the tickers present on every day
    month_end = close.groupby(close.index.to_period("M")).tail(1)
    rets = month_end.pct_change().iloc[1:]
    sectors = pd.read_csv(shared_data / "equities" / "sp500_constituents_financials_2018-02-08.csv")
    sector_of = sectors.set_index("Symbol")["Sector"].reindex(rets.columns)
    assert sector_of.notna().all()
    # the portfolio: the bundled sample's stocks outside Energy and Utilities (so two sectors have weight 0)
    port = [s for s in SAMPLE_SYMBOLS if s in rets.columns and sector_of[s] not in ("Energy", "Utilities")]
    assert len(port) >= 15

    def side(cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        groups = sector_of[cols]
        w = groups.value_counts(normalize=True)
        weights = pd.DataFrame([w] * len(rets), index=rets.index)
        sector_ret = rets[cols].T.groupby(groups).mean().T
        return weights, sector_ret

    wb, rb = side(list(rets.columns))
    wp, rp = side(port)
    return rets, port, wp, rp, wb, rb


def test_invariants_on_real_sp500_sectors(shared_data):
    rets, port, wp, rp, wb, rb = _monthly_sector_inputs(shared_data)
    assert wb.shape[1] == 11 and wp.shape[1] < 11  # the sample misses some sectors: weight 0 there
    res = brinson_fachler(wp, rp, wb, rb)
    bp = res.by_period
    # the period totals are the equal-weight returns computed directly from the stocks
    np.testing.assert_allclose(bp["portfolio_return"], rets[port].mean(axis=1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(bp["benchmark_return"], rets.mean(axis=1), rtol=0, atol=1e-14)
    # per period, allocation + selection + interaction == active return
    np.testing.assert_allclose(
        bp["allocation"] + bp["selection"] + bp["interaction"], bp["active_return"], rtol=0, atol=1e-15
    )
    det = res.detail.groupby("period", sort=False)["total"].sum()
    np.testing.assert_allclose(det.to_numpy(), bp["active_return"].to_numpy(), rtol=0, atol=1e-15)
    # linked effects sum to the compounded active return
    compounded = np.prod(1 + rets[port].mean(axis=1)) - np.prod(1 + rets.mean(axis=1))
    assert res.active_return == pytest.approx(compounded, abs=1e-13)
    assert res.totals["total"] == pytest.approx(compounded, abs=1e-13)
    assert sum(res.totals[k] for k in ("allocation", "selection", "interaction")) == pytest.approx(
        compounded, abs=1e-13
    )
    # sectors the portfolio does not hold get pure allocation: -wb (rb - R_b) per period, no selection
    absent = [s for s in wb.columns if s not in wp.columns]
    assert absent
    assert res.by_sector.loc[absent, ["selection", "interaction"]].abs().to_numpy().max() == 0.0
    # one period of the multi-period input attributes exactly as when run alone
    t = rets.index[7]
    one = brinson_fachler(wp.loc[t], rp.loc[t], wb.loc[t], rb.loc[t])
    row = res.detail[res.detail["period"] == t].set_index("sector")
    np.testing.assert_allclose(
        one.by_sector[["allocation", "selection", "interaction"]].to_numpy(),
        row.loc[one.by_sector.index, ["allocation", "selection", "interaction"]].to_numpy(),
        rtol=0,
        atol=1e-16,
    )


def test_bad_inputs_are_clear_errors():
    wp, rp, wb, rb = _bacon_period_1()
    with pytest.raises(AttributionError, match=r"portfolio_weights.*sum to 0\.9"):
        brinson_fachler(wp * 0.9, rp, wb, rb)
    rp_nan = rp.copy()
    rp_nan["Japan"] = np.nan
    with pytest.raises(AttributionError, match="sector 'Japan'"):
        brinson_fachler(wp, rp_nan, wb, rb)
    with pytest.raises(AttributionError, match="must be a Series"):
        brinson_fachler([0.5, 0.5], rp, wb, rb)  # type: ignore[arg-type]
