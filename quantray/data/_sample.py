"""The bundled real-data sample: 20 S&P 500 stocks, daily, 2013-02-08 to 2018-02-07 (CC0), with their sectors.

See ``quantray/data/sample/PROVENANCE.md`` for the source, licence and how it was cut.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from quantray.data._readers import read_bars
from quantray.errors import DataError

__all__ = ["SAMPLE_SYMBOLS", "load_sample", "load_sectors", "sample_path", "sectors_path"]

SAMPLE_SYMBOLS: tuple[str, ...] = (
    "AAPL",
    "AMZN",
    "BA",
    "CVX",
    "DIS",
    "GE",
    "HD",
    "IP",
    "JNJ",
    "JPM",
    "KO",
    "LNT",
    "MSFT",
    "PFE",
    "PG",
    "REGN",
    "SPG",
    "T",
    "WMT",
    "XOM",
)
"""The 20 tickers of the bundled sample (sorted)."""


def _file(name: str) -> str:
    path = resources.files("quantray.data").joinpath("sample", name)
    if not path.is_file():
        raise DataError(f"the bundled sample file {name!r} is missing from the installed package ({path})")
    return str(path)


def sample_path() -> str:
    """Path of the bundled ``sp500_sample.parquet`` (source columns date, ticker, open, ..., volume).

    Example:
        >>> sample_path().endswith("sp500_sample.parquet")
        True
    """
    return _file("sp500_sample.parquet")


def sectors_path() -> str:
    """Path of the bundled ``sectors.csv`` (Symbol, Name, Sector)."""
    return _file("sectors.csv")


def load_sample(*, on_bad: str = "repair") -> pd.DataFrame:
    """The bundled sample as bars: 20 S&P 500 stocks × 1259 trading days (2013-02-08 to 2018-02-07).

    The file keeps the source's real defects (REGN 2015-06-09 has no open/high/low; SPG 2014-05-28, LNT
    2016-05-19 and IP 2014-07-01 have a low above the close), so the default ``on_bad="repair"`` fixes them
    and logs what it did; ``on_bad="raise"`` shows them.

    Args:
        on_bad: ``"repair"`` (default), ``"drop"`` or ``"raise"``.

    Returns:
        Bars (``BAR_COLUMNS``), sorted by (symbol, ts).

    Example:
        >>> bars = load_sample()
        >>> len(bars), bars["symbol"].nunique()
        (25180, 20)
    """
    return read_bars(sample_path(), on_bad=on_bad)


def load_sectors() -> pd.DataFrame:
    """GICS sectors of the sample's tickers (as of 2018-02-08): columns ``symbol``, ``name``, ``sector``.

    Example:
        >>> load_sectors().set_index("symbol").loc["AAPL", "sector"]
        'Information Technology'
    """
    raw = pd.read_csv(sectors_path(), keep_default_na=False, dtype=str)
    return pd.DataFrame(
        {"symbol": raw["Symbol"], "name": raw["Name"], "sector": raw["Sector"]},
        columns=["symbol", "name", "sector"],
    )
