"""quantray.reports: the quarterly portfolio report model, its renderers and the TradingView export."""

from __future__ import annotations

__all__: list[str] = []
