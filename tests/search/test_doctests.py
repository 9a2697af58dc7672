"""The runnable examples in quantray.search's docstrings (and the search CLI's) stay correct."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "quantray.search",
    "quantray.search._abtest",
    "quantray.search._discover",
    "quantray.search._grammar",
    "quantray.search._lifecycle",
    "quantray.search._raymap",
    "quantray.cli._search",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
