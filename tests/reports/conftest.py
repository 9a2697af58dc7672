"""Fixtures of the report tests: one real sample report built once, loopback helpers."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest


@pytest.fixture(scope="session")
def sample_report():
    """The bundled `sample` portfolio's 2017Q4 report, end to end (20 symbols, every strategy and grid)."""
    from quantray.reports import build_quarterly_report

    return build_quarterly_report("sample", "2017Q4", generated_at=datetime(2018, 1, 2, 6, 0, tzinfo=UTC))


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
