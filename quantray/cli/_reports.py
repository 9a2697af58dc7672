"""``quantray report ...`` and ``quantray tradingview ...`` (issue: quarterly reports and TradingView export)."""

from __future__ import annotations

import argparse
from typing import Any


def add_report_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``report quarterly`` and ``tradingview export``; not built yet, so nothing is added."""
    del subparsers, parser_class
