"""``quantray serve run`` and ``quantray keys ...`` (issue: the Ray Serve API)."""

from __future__ import annotations

import argparse
from typing import Any


def add_serve_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``serve run`` and ``keys create|list|rotate|revoke``; not built yet, so nothing is added."""
    del subparsers, parser_class
