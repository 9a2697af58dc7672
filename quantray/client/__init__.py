"""quantray.client: a typed Python client of the quantray HTTP API.

Example:
    >>> from quantray.client import QuantrayClient
    >>> with QuantrayClient("http://127.0.0.1:8000", api_key="qr_...") as qc:  # doctest: +SKIP
    ...     qc.signals(symbol="AAPL")["signals"]
"""

from __future__ import annotations

from quantray.client._client import (
    ApiError,
    BacktestJob,
    BacktestResult,
    QuantrayClient,
    SignalDict,
    SignalsResult,
    WhoAmI,
)

__all__ = [
    "ApiError",
    "BacktestJob",
    "BacktestResult",
    "QuantrayClient",
    "SignalDict",
    "SignalsResult",
    "WhoAmI",
]
