"""quantray.reports: the quarterly portfolio report model, its renderers and the TradingView export.

Example:
    >>> from quantray.reports import ReportRow
    >>> ReportRow(symbol="AAPL", strategy="sma_cross", params={"fast": 10, "slow": 50}, timeframe="1d",
    ...           metrics={"sharpe": 1.0}).tv_symbol
    'AAPL'
"""

from __future__ import annotations

from quantray.reports._build import (
    RETURN_METRICS,
    build_quarterly_report,
    equity_metrics,
    latest_complete_quarter,
)
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
from quantray.reports._notify import (
    EmailConfig,
    NotificationError,
    NotifyConfig,
    WebhookConfig,
    send_email,
    send_webhook,
)
from quantray.reports._portfolio import (
    BenchmarkSpec,
    Portfolio,
    SelectionConfig,
    StrategyGrid,
    list_portfolios,
    load_portfolio,
)
from quantray.reports._render import (
    FORMATS,
    Branding,
    RenderConfig,
    TemplateError,
    parse_formats,
    render_html,
    render_markdown,
    render_pdf,
    render_report,
    render_xlsx,
)
from quantray.reports._store import ReportWriteError, SavedReport, StaleReportError, save_report

__all__ = [
    "FORMATS",
    "LOWER_IS_BETTER",
    "REPORT_METRICS",
    "RETURN_METRICS",
    "SCHEMA_VERSION",
    "BenchmarkSpec",
    "Branding",
    "EmailConfig",
    "NotificationError",
    "NotifyConfig",
    "Portfolio",
    "QuarterlyReport",
    "RenderConfig",
    "ReportNotFoundError",
    "ReportRow",
    "ReportWriteError",
    "SavedReport",
    "SelectionConfig",
    "StaleReportError",
    "StrategyGrid",
    "TemplateError",
    "WebhookConfig",
    "build_quarterly_report",
    "equity_metrics",
    "latest_complete_quarter",
    "list_portfolios",
    "list_reports",
    "load_latest_report",
    "load_portfolio",
    "load_report",
    "parse_formats",
    "parse_quarter",
    "quarter_bounds",
    "render_html",
    "render_markdown",
    "render_pdf",
    "render_report",
    "render_xlsx",
    "report_dir",
    "save_report",
    "send_email",
    "send_webhook",
]


def __getattr__(name: str) -> object:
    """``export_tradingview`` re-exported lazily from :mod:`quantray.reports.tradingview`."""
    if name == "export_tradingview":
        from quantray.reports import tradingview

        return getattr(tradingview, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
