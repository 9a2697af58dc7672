"""quantray: a Ray-native research and signal backend for quantitative trading.

The one obvious entry point for a backtest is :func:`quantray.backtest`; subpackages hold the capabilities
(``quantray.data``, ``quantray.engine``, ``quantray.strategies``, ...).

Example:
    >>> import quantray
    >>> from quantray.data import sample_path
    >>> res = quantray.backtest(sample_path(), "sma_cross", grid={"fast": [5, 10], "slow": [50]},
    ...                         symbols=["MSFT"])
    >>> len(res.table)
    2
"""

from __future__ import annotations

from quantray._kernel_cache import drop_stale

drop_stale()  # numba caches compiled against a kernel module's older source (see quantray._kernel_cache)

from quantray._backtest import BacktestDetail, BacktestResult, backtest  # noqa: E402
from quantray._sweep import SweepResult, sweep  # noqa: E402
from quantray.errors import QuantrayError  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BacktestDetail",
    "BacktestResult",
    "QuantrayError",
    "SweepResult",
    "__version__",
    "backtest",
    "sweep",
]
