"""Fixtures of the research tests: a few real S&P 500 symbols read once, and a small sma_cross grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.data import Panel, read_bars
from quantray.strategies import get_strategy

SYMBOLS = ["AAPL", "MSFT", "JPM", "XOM", "JNJ"]


@pytest.fixture(scope="session")
def sp500_panel(sp500_path: Path) -> Panel:
    """Five real S&P 500 stocks, 2013-02-08 → 2018-02-07 (1,259 daily bars each)."""
    return Panel.from_bars(read_bars(str(sp500_path), symbols=SYMBOLS, on_bad="repair"))


@pytest.fixture(scope="session")
def sma_sets() -> list[dict[str, int | float]]:
    """16 sma_cross parameter sets."""
    return get_strategy("sma_cross").expand_grid({"fast": [5, 10, 20, 30], "slow": [50, 100, 150, 200]})


@pytest.fixture(scope="session")
def aapl_returns(sp500_panel: Panel) -> np.ndarray:
    """AAPL's real daily close-to-close simple returns."""
    c = sp500_panel.arrays("AAPL")[4]
    return c[1:] / c[:-1] - 1.0


@pytest.fixture(scope="session")
def arch_sp500_pct(shared_data: Path) -> np.ndarray:
    """S&P 500 index daily percent returns 1999–2018, the data set of the ``arch`` package's examples."""
    d = pd.read_csv(shared_data / "benchmarks" / "arch_sp500.csv", index_col=0, parse_dates=True)
    return (100.0 * d["Adj Close"].pct_change().dropna()).to_numpy()
