"""Shared pytest fixtures.

Real market data lives outside the repository (``../shared/data`` by default, or ``$QUANTRAY_TEST_DATA``).
Tests that need it take the ``shared_data`` fixture, which skips with that reason only when the folder is absent;
CI always has it. The bundled sample inside the package never depends on it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("QUANTRAY_TEST_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real-market-data folder (``$QUANTRAY_TEST_DATA`` or ``../shared/data``)."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real market data not found at {path} (set QUANTRAY_TEST_DATA)")
    return path


@pytest.fixture(scope="session")
def sp500_path(shared_data: Path) -> Path:
    return shared_data / "equities" / "sp500_daily_2013-02-08_2018-02-07.parquet"


@pytest.fixture(scope="session")
def crypto_path(shared_data: Path) -> Path:
    return shared_data / "crypto" / "binance_spot_1h_8pairs_2022-04_2025-04.parquet"


@pytest.fixture(scope="session")
def ray_local():
    """One embedded local Ray cluster for the whole session (DESIGN.md §5: address="local", 2 CPUs,
    a 300 MB object store, no dashboard, a short private temp dir)."""
    import shutil
    import tempfile

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from quantray import dist

    tmp = tempfile.mkdtemp(prefix="qrt-", dir="/tmp")
    info = dist.connect(num_cpus=2, object_store_memory_mb=300, temp_dir=tmp)
    yield info
    dist.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _module_local_strategy_registry():
    """Strategies a test module registers (user strategies, discovered rules) are removed when it ends, so no
    module sees another's registrations and results never depend on the order the files run in."""
    from quantray.strategies import REGISTRY

    before = set(REGISTRY.names())
    yield
    for name in set(REGISTRY.names()) - before:
        REGISTRY.unregister(name)
