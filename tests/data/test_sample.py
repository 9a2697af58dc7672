"""The bundled real-data sample: contents, provenance, defects, independence from the shared data folder."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from quantray.data import (
    SAMPLE_SYMBOLS,
    Panel,
    load_sample,
    load_sectors,
    read_table,
    sample_path,
    validate_bars,
)
from quantray.data._make_sample import make_sample
from quantray.errors import DataValidationError

SAMPLE_DIR = Path(sample_path()).parent


def test_files_are_small_and_match_the_provenance_hashes() -> None:
    assert sorted(p.name for p in SAMPLE_DIR.iterdir() if not p.name.startswith(".")) == [
        "PROVENANCE.md",
        "sectors.csv",
        "sp500_sample.parquet",
    ]
    assert Path(sample_path()).stat().st_size < 1.5 * 2**20
    provenance = (SAMPLE_DIR / "PROVENANCE.md").read_text()
    assert "CC0" in provenance and "ODC-PDDL" in provenance and "_make_sample.py" in provenance
    hashes = re.findall(r"sha256:\*\* `([0-9a-f]{64})`", provenance)
    actual = [
        hashlib.sha256((SAMPLE_DIR / n).read_bytes()).hexdigest()
        for n in ("sp500_sample.parquet", "sectors.csv")
    ]
    assert hashes == actual
    assert pq.ParquetFile(sample_path()).metadata.row_group(0).column(0).compression == "ZSTD"


def test_load_sample_contents() -> None:
    bars = load_sample()
    assert len(bars) == 20 * 1259 and tuple(sorted(bars["symbol"].unique())) == SAMPLE_SYMBOLS
    assert bars.groupby("symbol").size().eq(1259).all()  # every ticker has the complete history
    assert bars["ts"].min() == pd.Timestamp("2013-02-08", tz="UTC")
    assert bars["ts"].max() == pd.Timestamp("2018-02-07", tz="UTC")
    report = validate_bars(bars)
    assert report.ok and report.counts == {}  # repaired, and no gaps
    panel = Panel.from_bars(bars)
    assert panel.close.shape == (1259, 20) and not np.isnan(panel.close).any()


def test_sample_keeps_the_real_defects_raw() -> None:
    raw = read_table(sample_path())
    assert raw.columns.tolist() == [
        "date",
        "ticker",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]  # source columns
    with pytest.raises(DataValidationError) as info:
        load_sample(on_bad="raise")
    report = info.value.report
    assert report.counts == {"nan": 3, "ohlc_low": 3}
    assert sorted({(i.symbol, f"{i.ts:%Y-%m-%d}", i.rule) for i in report.issues}) == [
        ("IP", "2014-07-01", "ohlc_low"),
        ("LNT", "2016-05-19", "ohlc_low"),
        ("REGN", "2015-06-09", "nan"),
        ("SPG", "2014-05-28", "ohlc_low"),
    ]
    assert len(load_sample(on_bad="drop")) == 20 * 1259 - 4


def test_sample_is_an_unmodified_cut_of_the_shared_panel(sp500_path: Path, tmp_path: Path) -> None:
    source = pd.read_parquet(sp500_path)
    cut = source[source["ticker"].isin(SAMPLE_SYMBOLS)].reset_index(drop=True)
    pd.testing.assert_frame_equal(read_table(sample_path()), cut)
    hashes = make_sample(sp500_path.parents[1], tmp_path)  # the documented script reproduces the files
    for name in ("sp500_sample.parquet", "sectors.csv"):
        pd.testing.assert_frame_equal(read_table(tmp_path / name), read_table(SAMPLE_DIR / name))
    if (
        pq.ParquetFile(sample_path()).metadata.created_by
        == pq.ParquetFile(tmp_path / "sp500_sample.parquet").metadata.created_by
    ):
        assert hashes["sp500_sample.parquet"] == hashlib.sha256(Path(sample_path()).read_bytes()).hexdigest()
    assert hashes["sectors.csv"] == hashlib.sha256((SAMPLE_DIR / "sectors.csv").read_bytes()).hexdigest()


def test_sectors(shared_data: Path) -> None:
    sectors = load_sectors()
    assert sectors.columns.tolist() == ["symbol", "name", "sector"]
    assert tuple(sectors["symbol"]) == SAMPLE_SYMBOLS
    assert sectors["sector"].nunique() == 11  # every GICS sector of 2018
    source = pd.read_csv(shared_data / "equities" / "sp500_constituents_financials_2018-02-08.csv")
    ref = source[source["Symbol"].isin(SAMPLE_SYMBOLS)].sort_values("Symbol")
    assert sectors["name"].tolist() == ref["Name"].tolist()
    assert sectors["sector"].tolist() == ref["Sector"].tolist()


def test_package_works_without_the_shared_data(tmp_path: Path) -> None:
    env = {**os.environ, "QUANTRAY_TEST_DATA": str(tmp_path / "absent")}
    code = (
        "from quantray.data import load_sample, load_sectors; b = load_sample(); "
        "print(len(b), b['symbol'].nunique(), len(load_sectors()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["25180", "20", "20"]
    assert "6 problems in 4 rows" in out.stderr  # the repair is logged, never silent
