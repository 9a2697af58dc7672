"""Fixtures of the attribution tests: real returns (bundled sample, S&P 500 index) and Fama-French factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="session")
def ff_path(shared_data: Path) -> Path:
    return shared_data / "factors" / "ff5_mom_daily_1963-07-01_2024-12-31.csv"


@pytest.fixture(scope="session")
def sample_returns() -> pd.DataFrame:
    """Daily close-to-close simple returns of the 20 bundled sample stocks (ts x symbol, UTC index)."""
    from quantray.data import load_sample

    bars = load_sample()
    close = bars.pivot(index="ts", columns="symbol", values="close").sort_index()
    return close.pct_change().iloc[1:]


@pytest.fixture(scope="session")
def sp500_index_returns(shared_data: Path) -> pd.Series:
    """Daily simple returns of the S&P 500 index (Adj Close), tz-naive dates."""
    raw = pd.read_csv(shared_data / "benchmarks" / "arch_sp500.csv", parse_dates=["Date"])
    s = raw.set_index("Date")["Adj Close"].astype(np.float64).sort_index()
    return s.pct_change().dropna().rename("sp500")
