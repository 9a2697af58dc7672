"""``quantray stream ...``: live market state on Ray actors (issue: live market state)."""

from __future__ import annotations

import argparse
from typing import Any


def add_live_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``stream run|replay|replay-server``; not built yet, so nothing is added."""
    del subparsers, parser_class
