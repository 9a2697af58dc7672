"""``quantray tradingview export``: Pine Script, alerts and a watchlist for a report's top performers."""

from __future__ import annotations

import argparse
from typing import Any


def add_tradingview_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``tradingview export``; not built yet, so nothing is added."""
    del subparsers, parser_class
