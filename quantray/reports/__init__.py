"""quantray.reports: the quarterly portfolio report model, its renderers and the TradingView export.

Example:
    >>> from quantray.reports import ReportRow
    >>> ReportRow(symbol="AAPL", strategy="sma_cross", params={"fast": 10, "slow": 50}, timeframe="1d",
    ...           metrics={"sharpe": 1.0}).tv_symbol
    'AAPL'
"""

from __future__ import annotations

from quantray.reports._model import (
    LOWER_IS_BETTER,
    REPORT_METRICS,
    SCHEMA_VERSION,
    QuarterlyReport,
    ReportNotFoundError,
    ReportRow,
    list_reports,
    load_latest_report,
    load_report,
    parse_quarter,
    quarter_bounds,
    report_dir,
)

__all__ = [
    "LOWER_IS_BETTER",
    "REPORT_METRICS",
    "SCHEMA_VERSION",
    "QuarterlyReport",
    "ReportNotFoundError",
    "ReportRow",
    "list_reports",
    "load_latest_report",
    "load_report",
    "parse_quarter",
    "quarter_bounds",
    "report_dir",
]
