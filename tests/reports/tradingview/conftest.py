"""Fixtures of the TradingView export tests: a quarterly report built from real backtests of the bundled sample."""

from __future__ import annotations

from pathlib import Path

import pytest

# One row per built-in strategy, each on a real sample stock, with the report's parameters.
COMBOS: list[tuple[str, str, dict[str, int | float], str]] = [
    ("AAPL", "sma_cross", {"fast": 10, "slow": 50}, "NASDAQ"),
    ("MSFT", "ema_cross", {"fast": 12, "slow": 26}, "NASDAQ"),
    ("XOM", "rsi_reversion", {"window": 14, "lower": 30.0, "upper": 70.0}, "NYSE"),
    ("JNJ", "bollinger_reversion", {"window": 20, "k": 2.0}, "NYSE"),
    ("AMZN", "donchian_breakout", {"window": 20, "exit_window": 10}, "NASDAQ"),
    ("KO", "macd", {"fast": 12, "slow": 26, "signal": 9}, "NYSE"),
    ("JPM", "momentum", {"lookback": 20, "threshold": 0.02, "allow_short": 1}, "NYSE"),
    ("PG", "buy_and_hold", {}, "NYSE"),
]

EXECUTION = {"execution": "next_open", "fees": 0.0005, "slippage": 0.0005}


def build_report(combos=COMBOS, *, data: str | None = None, year: int = 2017, quarter: int = 4):
    """A QuarterlyReport whose rows hold the metrics of real backtests over the quarter (never made up)."""
    import quantray
    from quantray.data import sample_path
    from quantray.reports import QuarterlyReport, ReportRow, quarter_bounds

    start, end = quarter_bounds(year, quarter)
    source = data or sample_path()
    rows = []
    for symbol, strategy, params, exchange in combos:
        from quantray.data import read_bars

        bars = read_bars(source, symbols=[symbol], on_bad="repair")
        q = bars[(bars["ts"] >= start) & (bars["ts"] < end)]
        res = quantray.backtest(q, strategy, params=params, **EXECUTION)
        m = res.table.iloc[0]
        metrics = {k: float(m[k]) for k in ("sharpe", "total_return", "max_drawdown", "num_trades")}
        rows.append(
            ReportRow(
                symbol=symbol,
                strategy=strategy,
                params=dict(params),
                timeframe="1d" if data is None else "1h",
                metrics=metrics,
                exchange=exchange,
            )
        )
    return QuarterlyReport(
        portfolio="sample" if data is None else "crypto",
        year=year,
        quarter=quarter,
        generated_at="2018-01-05T00:00:00Z",
        rows=rows,
        data="sample" if data is None else data,
        execution=dict(EXECUTION),
    )


@pytest.fixture(scope="session")
def sample_report():
    return build_report()


@pytest.fixture(scope="session")
def stored_report(sample_report, tmp_path_factory) -> Path:
    """The sample report stored as reports/sample/2017/Q4/report.json."""
    root = tmp_path_factory.mktemp("reports")
    d = root / "reports" / "sample" / "2017" / "Q4"
    d.mkdir(parents=True)
    (d / "report.json").write_text(sample_report.to_json(), encoding="utf-8")
    return d


@pytest.fixture(scope="session")
def secret() -> str:
    return "test-secret-0123456789"


@pytest.fixture(scope="session")
def exported(sample_report, secret, tmp_path_factory):
    """The export of the sample report's top 10 (all 8 rows)."""
    from quantray.reports.tradingview import export_tradingview

    out = tmp_path_factory.mktemp("tv") / "export"
    return export_tradingview(sample_report, top=10, out=out, secret=secret)
