"""The runnable examples in quantray.data's docstrings stay correct."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["_calendar", "_panel", "_readers", "_resample", "_sample", "_schema", "_validate"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"quantray.data.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
