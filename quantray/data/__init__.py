"""Market data for quantray: bar schema, readers/writers, validation and repair, resampling, calendars, the
aligned :class:`Panel` and the bundled real-data sample.

Bars are long: one row per (ts, symbol) with ``ts`` (UTC, ns), ``symbol``, ``open``, ``high``, ``low``,
``close`` and ``volume`` (float64). The main path is::

    from quantray.data import Panel, read_bars
    bars = read_bars("s3://bucket/bars/", symbols=["AAPL", "MSFT"], start="2015-01-01", on_bad="repair")
    panel = Panel.from_bars(bars)          # (T, N) float64 arrays for the engine, shipped once to Ray

Problems in the data are never silent: ``on_bad="raise" | "drop" | "repair"`` decides, and the
:class:`ValidationReport` lists every issue with file, symbol, row, ts, column and rule.
"""

from __future__ import annotations

from quantray.data._calendar import CALENDARS, infer_calendar, infer_interval, periods_per_year
from quantray.data._panel import Panel
from quantray.data._readers import read_bars, read_table, write_bars
from quantray.data._resample import resample_bars
from quantray.data._sample import SAMPLE_SYMBOLS, load_sample, load_sectors, sample_path
from quantray.data._schema import ALIASES, BAR_COLUMNS, BAR_SCHEMA
from quantray.data._validate import (
    ON_BAD,
    RULES,
    BarIssue,
    ValidationReport,
    clean_bars,
    validate_bars,
)

__all__ = [
    "ALIASES",
    "BAR_COLUMNS",
    "BAR_SCHEMA",
    "CALENDARS",
    "ON_BAD",
    "RULES",
    "SAMPLE_SYMBOLS",
    "BarIssue",
    "Panel",
    "ValidationReport",
    "clean_bars",
    "infer_calendar",
    "infer_interval",
    "load_sample",
    "load_sectors",
    "periods_per_year",
    "read_bars",
    "read_table",
    "resample_bars",
    "sample_path",
    "validate_bars",
    "write_bars",
]
