"""The runnable examples in quantray.research's docstrings (and the research CLI's) stay correct."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "quantray.research",
    "quantray.research._common",
    "quantray.research._cv",
    "quantray.research._montecarlo",
    "quantray.research._regimes",
    "quantray.research._stats",
    "quantray.research._walkforward",
    "quantray.cli._research",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0
