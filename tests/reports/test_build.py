"""The report is built from real backtests: metrics recomputed from stored equity curves with empyrical, the
benchmark recomputed from the raw bars, selection free of look-ahead, Ray and in-process paths identical."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import empyrical
import numpy as np
import pandas as pd
import pytest

from quantray.data import sample_path
from quantray.errors import ConfigError, DataError
from quantray.reports import build_quarterly_report, load_portfolio, load_report, save_report


def _returns(equity: pd.Series, init: float) -> np.ndarray:
    e = equity.dropna().to_numpy()
    return e / np.concatenate([[init], e[:-1]]) - 1.0


def _check_metrics(metrics: dict, r: np.ndarray, ppy: float) -> None:
    np.testing.assert_allclose(metrics["total_return"], np.prod(1 + r) - 1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(metrics["max_drawdown"], -empyrical.max_drawdown(r), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        metrics["volatility"], empyrical.annual_volatility(r, annualization=ppy), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        metrics["cagr"], empyrical.annual_return(r, annualization=ppy), rtol=1e-9, atol=1e-12
    )
    if np.std(r) > 0:
        np.testing.assert_allclose(metrics["sharpe"], empyrical.sharpe_ratio(r, annualization=ppy), rtol=1e-9)
        np.testing.assert_allclose(
            metrics["sortino"], empyrical.sortino_ratio(r, annualization=ppy), rtol=1e-9
        )


def test_sample_report_end_to_end_metrics_recomputed_from_stored_equity(sample_report, tmp_path) -> None:
    rep = sample_report
    assert rep.portfolio == "sample" and rep.label == "2017Q4" and len(rep.rows) == 20
    assert rep.start == "2017-10-01" and rep.end == "2018-01-01"
    saved = save_report(rep, str(tmp_path))
    back = load_report(saved.url)  # the curves come back from Parquet
    init = float(back.execution["init_cash"])
    ppy = back.periods_per_year
    assert ppy == 252.0
    eq = back.equity
    assert eq is not None and eq.index.min() >= pd.Timestamp("2017-10-01", tz="UTC")
    assert eq.index.max() < pd.Timestamp("2018-01-01", tz="UTC")
    for row in back.rows:
        r = _returns(eq[row.symbol], init)
        assert len(r) == row.n_bars == 63
        _check_metrics(row.metrics, r, ppy)
        np.testing.assert_allclose(row.metrics["final_equity"], eq[row.symbol].dropna().iloc[-1], rtol=1e-12)
    # the portfolio: equal capital per symbol at the start, no rebalancing
    port = sum(eq[r.symbol].ffill().fillna(init) * r.weight for r in back.rows)
    np.testing.assert_allclose(eq["portfolio"].to_numpy(), port.to_numpy(), rtol=1e-12)
    _check_metrics(back.portfolio_metrics, _returns(eq["portfolio"], init), ppy)
    _check_metrics(back.benchmark["metrics"], _returns(eq["benchmark"], init), ppy)


def test_sample_benchmark_is_equal_weight_buy_and_hold_of_the_raw_bars(sample_report) -> None:
    raw = pd.read_parquet(sample_path())
    close = raw.pivot(index="date", columns="ticker", values="close").sort_index()
    close.index = pd.to_datetime(close.index)
    before = close[close.index < "2017-10-01"].iloc[-1]
    q = close[(close.index >= "2017-10-01") & (close.index < "2018-01-01")]
    want = (q / before).mean(axis=1) * 100_000.0
    got = sample_report.equity["benchmark"]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)
    rel = sample_report.benchmark["relative"]
    p = _returns(sample_report.equity["portfolio"], 100_000.0)
    b = _returns(sample_report.equity["benchmark"], 100_000.0)
    np.testing.assert_allclose(rel["beta"], np.cov(p, b)[0, 1] / np.var(b, ddof=1), rtol=1e-9)


def test_brinson_links_monthly_periods_to_the_quarter(sample_report) -> None:
    """Cariño-linked monthly Brinson effects add up to portfolio minus passive (equal-weight buy and hold)."""
    bf = sample_report.attribution["brinson_fachler"]
    assert len(bf["by_period"]) == 3  # October, November, December
    np.testing.assert_allclose(
        bf["portfolio_return"], sample_report.portfolio_metrics["total_return"], rtol=1e-9
    )
    np.testing.assert_allclose(
        bf["benchmark_return"], sample_report.benchmark["metrics"]["total_return"], rtol=1e-9
    )
    t = bf["totals"]
    np.testing.assert_allclose(
        t["allocation"] + t["selection"] + t["interaction"],
        bf["portfolio_return"] - bf["benchmark_return"],
        atol=1e-12,
    )


def test_selection_is_the_best_candidate_before_the_quarter(sample_report) -> None:
    """Re-run the selection with quantray.backtest on the bars that end before the quarter."""
    import quantray

    pf = load_portfolio("sample")
    row = sample_report.row("MSFT")
    assert row.selection_end == "2017-10-01"
    bars = pd.read_parquet(sample_path())
    bars = bars[(bars["ticker"] == "MSFT") & (pd.to_datetime(bars["date"]) < "2017-10-01")].tail(252)
    assert str(pd.to_datetime(bars["date"]).iloc[0].date()) == row.selection_start
    best = None
    for _order, sg in enumerate(pf.strategies):
        res = quantray.backtest(
            bars.rename(columns={"ticker": "symbol"}), sg.name, grid=dict(sg.grid) or None, config=pf.costs
        )
        for rec in res.table.to_dict("records"):
            if rec["num_trades"] < 1 or np.isnan(rec["sharpe"]):
                continue
            key = (-rec["sharpe"], -rec["total_return"])
            if best is None or key < best[0]:
                best = (key, sg.name, {k: rec[k] for k in res.strategy.param_names})
    assert best is not None
    assert row.strategy == best[1] and row.params == best[2]
    np.testing.assert_allclose(row.selection_metrics["sharpe"], -best[0][0], rtol=1e-12)


def test_no_look_ahead_changing_the_quarter_does_not_change_the_choice(tmp_path) -> None:
    """Scramble every price inside the quarter: the chosen strategies and parameters must not move."""
    pf = dataclasses.replace(load_portfolio("sample"), symbols=("AAPL", "JPM", "XOM"))
    bars = pd.read_parquet(sample_path())
    bars = bars[bars["ticker"].isin(pf.symbols)].copy()
    inq = (pd.to_datetime(bars["date"]) >= "2017-10-01") & (pd.to_datetime(bars["date"]) < "2018-01-01")
    rng = np.random.default_rng(3)
    scale = np.exp(rng.normal(0, 0.05, inq.sum())).cumprod()
    for c in ("open", "high", "low", "close"):
        bars.loc[inq, c] = bars.loc[inq, c].to_numpy() * scale
    path = tmp_path / "scrambled.parquet"
    bars.to_parquet(path, index=False)
    a = build_quarterly_report(pf, "2017Q4")
    b = build_quarterly_report(pf, "2017Q4", data=str(path))
    assert [(r.symbol, r.strategy, r.params) for r in a.rows] == [
        (r.symbol, r.strategy, r.params) for r in b.rows
    ]
    assert pd.DataFrame([r.selection_metrics for r in a.rows]).equals(
        pd.DataFrame([r.selection_metrics for r in b.rows])
    )
    assert [r.metrics["total_return"] for r in a.rows] != [r.metrics["total_return"] for r in b.rows]


def test_ray_and_in_process_give_the_same_report(ray_local) -> None:
    pf = dataclasses.replace(load_portfolio("sample"), symbols=("AAPL", "KO"))
    when = datetime(2018, 1, 2, tzinfo=UTC)
    a = build_quarterly_report(pf, "2017Q3", generated_at=when)
    b = build_quarterly_report(pf, "2017Q3", generated_at=when, use_ray=True)
    assert b.selection["engine"].startswith("ray")
    da, db = a.to_dict(), b.to_dict()
    da.pop("selection"), db.pop("selection")
    assert da == db


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown portfolio 'nope'; valid: \[.*'sample'.*\]"):
        build_quarterly_report("nope", "2017Q4")
    with pytest.raises(DataError, match=r"quarter 2019Q1 has no bars.*ends 2018-02-07"):
        build_quarterly_report("sample", "2019Q1")
    with pytest.raises(DataError, match=r"only .* bars before it"):
        build_quarterly_report("sample", "2013Q1")
    with pytest.raises(ConfigError, match="YYYYQn"):
        build_quarterly_report("sample", "Q4")


def test_latest_quarter_of_the_sample_is_2017q4() -> None:
    rep = build_quarterly_report(dataclasses.replace(load_portfolio("sample"), symbols=("PG",)), "latest")
    assert rep.label == "2017Q4"


def test_sp500_portfolio_against_the_index(sp500_path, shared_data) -> None:
    syms = ("AAPL", "XOM", "JPM", "NVDA", "PFE", "T")
    rep = build_quarterly_report("sp500", "2017Q4", data=str(sp500_path), symbols=syms)
    assert {r.symbol for r in rep.rows} == set(syms)
    assert rep.row("NVDA").exchange == "NASDAQ" and rep.row("XOM").exchange == "NYSE"
    assert rep.row("JPM").sector == "Financials"
    idx = pd.read_csv(shared_data / "benchmarks" / "arch_sp500.csv", parse_dates=["Date"]).set_index("Date")[
        "Adj Close"
    ]
    base = idx[idx.index < "2017-10-01"].iloc[-1]
    want = idx.reindex(rep.equity.index.tz_localize(None)).to_numpy() / base * 100_000.0
    np.testing.assert_allclose(rep.equity["benchmark"].to_numpy(), want, rtol=1e-9)
    assert rep.benchmark["name"] == "S&P 500 index"
    assert 0.05 < rep.benchmark["metrics"]["total_return"] < 0.07  # the S&P 500 rose about 6.1% in 2017Q4
    fac = rep.attribution["factors"]  # Fama-French 5 + momentum from the shared data
    assert set(fac["betas"]) == {"Mkt-RF", "SMB", "HML", "RMW", "CMA", "Mom"} and 0 < fac["r_squared"] < 1


def test_crypto_portfolio_hourly(crypto_path) -> None:
    rep = build_quarterly_report(
        "crypto", "2024Q4", data=str(crypto_path), symbols=("BTCUSDT", "ETHUSDT", "MATICUSDT")
    )
    assert rep.timeframe == "1h" and rep.periods_per_year == 8760.0
    assert [r.symbol for r in rep.rows] == ["BTCUSDT", "ETHUSDT"]
    assert any("MATICUSDT" in n for n in rep.notes)  # MATIC stops trading in 2024-09
    assert all(r.exchange == "BINANCE" for r in rep.rows)
    init = 100_000.0
    for row in rep.rows:
        _check_metrics(row.metrics, _returns(rep.equity[row.symbol], init), 8760.0)
