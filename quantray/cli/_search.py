"""``quantray tune``, ``quantray discover``, ``quantray abtest`` and ``quantray strategies promote|retire|status``
(issue: strategy search and discovery)."""

from __future__ import annotations

import argparse
from typing import Any


def add_search_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``tune``, ``discover``, ``abtest``; not built yet, so nothing is added."""
    del subparsers, parser_class


def add_lifecycle_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``strategies promote|retire|status`` (``subparsers`` is the ``strategies`` verb's); not built yet, so nothing is added."""
    del subparsers, parser_class
