"""TradingView export of a quarterly report's top performers, and the alert payload schema shared with the Serve
webhook intake (``POST /v1/tradingview/webhook``).

Example:
    >>> from quantray.reports.tradingview import parse_tradingview_alert
    >>> parse_tradingview_alert('{"secret": "s", "ticker": "AAPL", "strategy": "sma_cross", "action": "notify"}').action
    'notify'
"""

from __future__ import annotations

from quantray.reports.tradingview._export import (
    MANIFEST_KIND,
    WEBHOOK_PATH,
    ExportResult,
    SymbolExport,
    export_tradingview,
)
from quantray.reports.tradingview._payload import (
    MAX_BODY_BYTES,
    PAYLOAD_VERSION,
    TRADE_ACTIONS,
    TRADINGVIEW_SOURCE_IPS,
    AlertPayloadError,
    TradingViewAlert,
    parse_tradingview_alert,
)
from quantray.reports.tradingview._pine import FREQUENCY, PLACEHOLDERS
from quantray.reports.tradingview._thresholds import AlertThresholds, derive_thresholds

__all__ = [
    "FREQUENCY",
    "MANIFEST_KIND",
    "MAX_BODY_BYTES",
    "PAYLOAD_VERSION",
    "PLACEHOLDERS",
    "TRADE_ACTIONS",
    "TRADINGVIEW_SOURCE_IPS",
    "WEBHOOK_PATH",
    "AlertPayloadError",
    "AlertThresholds",
    "ExportResult",
    "SymbolExport",
    "TradingViewAlert",
    "derive_thresholds",
    "export_tradingview",
    "parse_tradingview_alert",
]
