"""TradingView export of a quarterly report's top performers, and the alert payload schema shared with the Serve
webhook intake (``POST /v1/tradingview/webhook``)."""

from __future__ import annotations

from quantray.reports.tradingview._payload import (
    MAX_BODY_BYTES,
    PAYLOAD_VERSION,
    TRADINGVIEW_SOURCE_IPS,
    AlertPayloadError,
    TradingViewAlert,
    parse_tradingview_alert,
)

__all__ = [
    "MAX_BODY_BYTES",
    "PAYLOAD_VERSION",
    "TRADINGVIEW_SOURCE_IPS",
    "AlertPayloadError",
    "TradingViewAlert",
    "parse_tradingview_alert",
]
