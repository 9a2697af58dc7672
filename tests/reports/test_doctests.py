"""The docstring examples of quantray.reports run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "quantray.reports",
    "quantray.reports._model",
    "quantray.reports._portfolio",
    "quantray.reports._build",
    "quantray.reports._store",
    "quantray.reports._render",
    "quantray.reports._notify",
]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0
