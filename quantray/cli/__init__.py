"""quantray.cli: the ``quantray`` command (``quantray --help``)."""

from __future__ import annotations

from quantray.cli._main import build_parser, main, parse_grid, parse_param

__all__ = ["build_parser", "main", "parse_grid", "parse_param"]
