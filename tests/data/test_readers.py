"""Readers and writers: real files, every format and location, and every way a source can be wrong."""

from __future__ import annotations

import gzip
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from quantray.data import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    load_sample,
    read_bars,
    read_table,
    sample_path,
    write_bars,
)
from quantray.errors import ConfigError, DataError, DataValidationError

SAMPLE_FIVE = ["AAPL", "JPM", "KO", "SPG", "XOM"]


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_sample()


@pytest.fixture(scope="module")
def small(sample: pd.DataFrame) -> pd.DataFrame:
    """Five symbols × 2017: enough to exercise every path, small enough to write many times."""
    keep = sample["symbol"].isin(SAMPLE_FIVE) & (sample["ts"] >= "2017-01-01")
    return sample[keep].reset_index(drop=True)


def assert_bars(df: pd.DataFrame) -> None:
    """The output contract of read_bars."""
    assert tuple(df.columns) == BAR_COLUMNS
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert pd.api.types.is_string_dtype(df["symbol"].dtype)
    assert all(df[c].dtype == np.float64 for c in BAR_COLUMNS[2:])
    assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0
    key = df[["symbol", "ts"]]
    assert key.equals(key.sort_values(["symbol", "ts"]).reset_index(drop=True))


# ----------------------------------------------------------------------------------------------- real files


def test_read_sp500_subset_matches_an_independent_pandas_read(sp500_path: Path) -> None:
    bars = read_bars(sp500_path, symbols=["MSFT", "AAPL"], start="2016-01-04", end="2016-12-30")
    assert_bars(bars)
    raw = pd.read_parquet(sp500_path)
    ref = raw[raw["ticker"].isin(["AAPL", "MSFT"]) & raw["date"].between("2016-01-04", "2016-12-30")]
    ref = ref.sort_values(["ticker", "date"])
    assert len(bars) == len(ref) == 2 * 252
    np.testing.assert_array_equal(bars["close"].to_numpy(), ref["close"].to_numpy())
    np.testing.assert_array_equal(bars["volume"].to_numpy(), ref["volume"].to_numpy(dtype=float))
    assert bars["ts"].iloc[0] == pd.Timestamp("2016-01-04", tz="UTC")  # start and end are inclusive
    assert bars.loc[bars["symbol"] == "AAPL", "ts"].iloc[-1] == pd.Timestamp("2016-12-30", tz="UTC")


def test_read_sp500_full_panel_raises_with_the_known_defects(sp500_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        read_bars(sp500_path)
    message = str(info.value)
    assert message.startswith(f"{sp500_path}: 40 problems in 23 rows (nan: 27, ")
    assert "\n" not in message
    assert info.value.report.counts["nan"] == 27


def test_read_crypto_hourly_keeps_matic_end_and_logs_the_outage(
    crypto_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="quantray.data"):
        bars = read_bars(crypto_path)  # only gap warnings: raise policy does not raise
    assert_bars(bars)
    assert len(bars) == 204_707 and bars["symbol"].nunique() == 8
    assert bars.loc[bars["symbol"] == "MATICUSDT", "ts"].max().date() == pd.Timestamp("2024-09-10").date()
    assert "8 warnings (gap: 8)" in caplog.text and "2023-03-24 13:00" in caplog.text


def test_read_real_csv_uses_close_not_adj_close_and_the_file_stem_as_symbol(shared_data: Path) -> None:
    path = shared_data / "benchmarks" / "arch_sp500.csv"  # Date, Open, High, Low, Close, Adj Close, Volume
    bars = read_bars(path)
    raw = pd.read_csv(path)
    assert set(bars["symbol"]) == {"arch_sp500"}
    assert len(bars) == len(raw) == 5031
    np.testing.assert_array_equal(bars["close"].to_numpy(), raw["Close"].to_numpy())
    assert read_bars(path, symbol="SPX")["symbol"].unique().tolist() == ["SPX"]


def test_adj_close_is_never_taken_for_close(tmp_path: Path) -> None:
    path = tmp_path / "XYZ.csv"
    path.write_text("Date,Open,High,Low,Adj Close,Close,Volume\n2020-01-02,10,11,9,5.5,10.5,100\n")
    bars = read_bars(path)
    assert bars["close"].tolist() == [10.5]
    path.write_text("Date,Open,High,Low,Adj Close,Volume\n2020-01-02,10,11,9,5.5,100\n")
    with pytest.raises(DataError, match=r"no 'close' column \(tried, case-insensitively: close, c\)"):
        read_bars(path)


# ----------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", ["bars.csv", "bars.csv.gz", "bars.parquet"])
def test_write_then_read_round_trips_exactly(small: pd.DataFrame, tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    assert write_bars(small, dest) == str(dest)
    back = read_bars(dest)
    assert_bars(back)
    pd.testing.assert_frame_equal(back, small)
    if name.endswith(".gz"):
        with gzip.open(dest, "rt") as fh:
            assert fh.readline().strip() == ",".join(BAR_COLUMNS)
    if name.endswith(".parquet"):
        assert pq.read_schema(dest).remove_metadata().equals(BAR_SCHEMA)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left behind


def test_write_is_atomic_and_replaces_an_existing_file(small: pd.DataFrame, tmp_path: Path) -> None:
    dest = tmp_path / "bars.parquet"
    write_bars(small, dest)
    first_inode = dest.stat().st_ino
    write_bars(small[small["symbol"] == "KO"], dest)
    assert dest.stat().st_ino != first_inode  # a new file renamed over the old one, not rewritten in place
    assert read_bars(dest)["symbol"].unique().tolist() == ["KO"]
    assert [p.name for p in tmp_path.iterdir()] == ["bars.parquet"]


def test_write_sorts_and_normalises_aliases(small: pd.DataFrame, tmp_path: Path) -> None:
    raw = small.rename(columns={"ts": "Date", "symbol": "Ticker", "close": "Close"}).iloc[::-1]
    dest = tmp_path / "x.parquet"
    write_bars(raw, dest)
    pd.testing.assert_frame_equal(read_bars(dest), small)


def test_read_a_dataframe_source(small: pd.DataFrame) -> None:
    raw = small.rename(columns={"ts": "timestamp", "symbol": "pair"}).iloc[::-1].reset_index(drop=True)
    with pytest.raises(DataValidationError, match="unsorted"):
        read_bars(raw)  # unsorted is an error under the default policy ...
    back = read_bars(raw, on_bad="drop")  # ... that sorting fixes
    pd.testing.assert_frame_equal(back, small)
    assert read_bars(small, symbols="KO", end="2017-01-31")["symbol"].unique().tolist() == ["KO"]


def test_read_table_returns_the_file_as_is(small: pd.DataFrame, tmp_path: Path) -> None:
    assert read_table(sample_path()).columns.tolist() == [
        "date",
        "ticker",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    write_bars(small, tmp_path / "x.csv")
    assert read_table(tmp_path / "x.csv").shape == small.shape


# ----------------------------------------------------------------------------------------------- datasets


def test_partitioned_dataset_layout_and_round_trip(small: pd.DataFrame, tmp_path: Path) -> None:
    dest = tmp_path / "bars"
    write_bars(small, dest, partition_by="symbol")
    parts = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.parquet"))
    assert parts == [f"symbol={s}/part-0.parquet" for s in SAMPLE_FIVE]
    assert "symbol" not in pq.read_schema(dest / "symbol=KO" / "part-0.parquet").names  # lives in the path
    pd.testing.assert_frame_equal(read_bars(dest), small)
    write_bars(small[small["symbol"] == "KO"], dest, partition_by="symbol")  # atomic swap of the directory
    assert read_bars(dest)["symbol"].unique().tolist() == ["KO"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars"]


def test_partition_pruning_never_opens_other_partitions(small: pd.DataFrame, tmp_path: Path) -> None:
    dest = tmp_path / "bars"
    write_bars(small, dest, partition_by="symbol")
    corrupt = dest / "symbol=ZZZ" / "part-0.parquet"  # sorts last, so schema discovery never reads it either
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"PAR1 this is not a parquet file PAR1")
    got = read_bars(dest, symbols=["KO", "AAPL"], start="2017-06-01", end="2017-06-30")
    ref = small[small["symbol"].isin(["AAPL", "KO"]) & small["ts"].between("2017-06-01", "2017-06-30 00:00Z")]
    pd.testing.assert_frame_equal(got, ref.reset_index(drop=True))
    with pytest.raises(DataError, match=r"bars: cannot read as Parquet"):
        read_bars(dest)  # reading everything does touch the corrupt file, proving it was skipped above
    with pytest.raises(DataError, match=r"bars: cannot read as Parquet"):
        read_bars(dest, symbols=["ZZZ"])


def test_numeric_looking_partition_values_stay_strings(small: pd.DataFrame, tmp_path: Path) -> None:
    bars = small.assign(symbol=small["symbol"].map({s: str(i) for i, s in enumerate(SAMPLE_FIVE)}))
    dest = tmp_path / "bars"
    write_bars(bars, dest, partition_by="symbol")
    back = read_bars(dest, symbols=["3"])
    assert back["symbol"].unique().tolist() == ["3"]
    assert len(back) == int((bars["symbol"] == "3").sum())


def test_ts_pushdown_on_date_and_naive_timestamp_columns(tmp_path: Path) -> None:
    days = pd.bdate_range("2024-01-01", periods=10)
    frame = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0}, index=days)
    for kind, ts in (("date", days.date), ("naive", days), ("tz", days.tz_localize("US/Eastern"))):
        path = tmp_path / f"{kind}.parquet"
        frame.assign(date=ts).to_parquet(path, index=False)
        got = read_bars(path, start="2024-01-03", end="2024-01-05")
        expected = ["2024-01-03", "2024-01-04", "2024-01-05"]
        if kind == "tz":  # midnight New York is 05:00 UTC: the first day falls before start
            expected = ["2024-01-03 05:00", "2024-01-04 05:00"]
        assert got["ts"].tolist() == [pd.Timestamp(t, tz="UTC") for t in expected], kind
        assert set(got["symbol"]) == {kind}


# ----------------------------------------------------------------------------------------------- fsspec URLs


def test_memory_and_file_urls(small: pd.DataFrame, tmp_path: Path) -> None:
    write_bars(small, "memory://quantray-tests/bars.parquet")
    pd.testing.assert_frame_equal(read_bars("memory://quantray-tests/bars.parquet"), small)
    write_bars(small, "memory://quantray-tests/ds", partition_by="symbol")
    pd.testing.assert_frame_equal(read_bars("memory://quantray-tests/ds", symbols=SAMPLE_FIVE), small)
    write_bars(small, f"file://{tmp_path}/bars.csv")
    pd.testing.assert_frame_equal(read_bars(f"file://{tmp_path}/bars.csv"), small)
    with pytest.raises(DataError, match=r"memory://quantray-tests/nope\.parquet: no such file"):
        read_bars("memory://quantray-tests/nope.parquet")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_options() -> Iterator[dict[str, Any]]:
    """A real moto S3 server on loopback (server mode, HTTP), with one bucket."""
    moto_server = pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://{host}:{port}"},
    }
    saved = {k: os.environ.pop(k, None) for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    fs = s3fs.S3FileSystem(**options)
    fs.mkdir("quantray-test")
    try:
        yield options
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v


def test_s3_write_and_read_through_a_real_server(small: pd.DataFrame, s3_options: dict[str, Any]) -> None:
    write_bars(small, "s3://quantray-test/bars.parquet", storage_options=s3_options)
    back = read_bars("s3://quantray-test/bars.parquet", storage_options=s3_options)
    pd.testing.assert_frame_equal(back, small)

    write_bars(small, "s3://quantray-test/bars.csv.gz", storage_options=s3_options)
    pd.testing.assert_frame_equal(
        read_bars("s3://quantray-test/bars.csv.gz", storage_options=s3_options), small
    )

    write_bars(small, "s3://quantray-test/ds/", partition_by="symbol", storage_options=s3_options)
    got = read_bars("s3://quantray-test/ds/", symbols=["XOM"], start="2017-12-01", storage_options=s3_options)
    ref = small[(small["symbol"] == "XOM") & (small["ts"] >= "2017-12-01 00:00Z")].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref)

    import s3fs

    keys = sorted(s3fs.S3FileSystem(**s3_options).find("quantray-test/ds"))
    assert keys == [f"quantray-test/ds/symbol={s}/part-0.parquet" for s in SAMPLE_FIVE]
    with pytest.raises(DataError, match=r"s3://quantray-test/missing\.parquet: no such file"):
        read_bars("s3://quantray-test/missing.parquet", storage_options=s3_options)


# ----------------------------------------------------------------------------------------------- bad sources


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.parquet"
    with pytest.raises(DataError, match=rf"^{path}: no such file or directory$"):
        read_bars(path)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet", "empty.csv.gz"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(DataError, match=rf"{path}: the file is empty"):
        read_bars(path)


def test_header_only_csv_and_zero_row_parquet(small: pd.DataFrame, tmp_path: Path) -> None:
    csv = tmp_path / "head.csv"
    csv.write_text("date,ticker,open,high,low,close,volume\n")
    with pytest.raises(DataError, match=rf"{csv}: the file has no rows"):
        read_bars(csv)
    parquet = tmp_path / "zero.parquet"
    small.iloc[:0].to_parquet(parquet)
    with pytest.raises(DataError, match=rf"{parquet}: the file has no rows"):
        read_bars(parquet)


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=rf"{path}: cannot read as Parquet"):
        read_bars(path)


def test_missing_column_names_file_column_aliases_and_columns_present(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("Date,Ticker,Open,Low,Close,Volume\n2020-01-02,A,1,1,1,1\n")
    with pytest.raises(DataError) as info:
        read_bars(path)
    assert str(info.value) == (
        f"{path}: no 'high' column (tried, case-insensitively: high, h); "
        "columns present: Date, Ticker, Open, Low, Close, Volume"
    )


def test_wrong_type_names_file_column_value_and_row(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "date,ticker,open,high,low,close,volume\n"
        "2020-01-02,A,1,2,1,1.5,10\n"
        "2020-01-03,A,1,2,1,1.5,10\n"
        "2020-01-06,A,1,2,1,n/a,10\n"  # a recognised blank: NaN, not a type error
        "2020-01-07,A,1,2,1,1.5O,10\n"
    )
    with pytest.raises(DataError) as info:
        read_bars(path)
    assert str(info.value) == (
        f"{path}: column 'close' (close) has a value that is not a number: '1.5O' at row 3, symbol=A, "
        "ts=2020-01-07 (1 such values)"
    )


def test_bad_timestamp_names_the_value_and_row(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("date,ticker,open,high,low,close,volume\n2020-01-02,A,1,2,1,1,1\nsoon,A,1,2,1,1,1\n")
    with pytest.raises(
        DataError, match=rf"{path}: column 'date' has a value that is not a timestamp: 'soon' at row 1"
    ):
        read_bars(path)


def test_timezones_naive_is_utc_aware_is_converted_and_epoch_ms(tmp_path: Path) -> None:
    path = tmp_path / "BTC.csv"
    path.write_text(
        "open_time,o,h,l,c,v\n"
        "1704067200000,1,2,1,1.5,3\n"  # Binance-style epoch milliseconds: 2024-01-01 00:00 UTC
        "1704070800000,1,2,1,1.5,3\n"
    )
    assert read_bars(path)["ts"].tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 01:00", tz="UTC"),
    ]
    path.write_text("time,Symbol,open,high,low,close,volume\n2024-01-02 09:30-05:00,X,1,2,1,1,1\n")
    assert read_bars(path)["ts"].tolist() == [pd.Timestamp("2024-01-02 14:30", tz="UTC")]
    path.write_text("time,Symbol,open,high,low,close,volume\n2024-01-02 09:30,X,1,2,1,1,1\n")
    assert read_bars(path)["ts"].tolist() == [pd.Timestamp("2024-01-02 09:30", tz="UTC")]


def test_tickers_that_look_like_missing_values_survive(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "date,ticker,open,high,low,close,volume\n2020-01-02,NA,1,2,1,1,1\n2020-01-02,NULL,1,2,1,1,1\n"
    )
    assert read_bars(path)["symbol"].tolist() == ["NA", "NULL"]


def test_unknown_symbols_list_what_is_available(sp500_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read_bars(sp500_path, symbols=["AAPL", "APPL", "GOOGLE"])
    message = str(info.value)
    assert message.startswith(
        f"{sp500_path}: symbols not found: APPL, GOOGLE (505 available: A, AAL, AAP, AAPL,"
    )
    assert message.endswith("; APPL: did you mean AAPL, PPL, APTV? GOOGLE: did you mean GOOGL, GOOG?")
    assert message.count(",") < 30  # at most 10 listed


def test_symbol_without_bars_in_range(small: pd.DataFrame, tmp_path: Path) -> None:
    dest = tmp_path / "b.parquet"
    write_bars(small, dest)
    with pytest.raises(DataError, match="no bars between start and end for: KO"):
        read_bars(dest, symbols=["KO"], start="2030-01-01")
    with pytest.raises(DataError, match="no bars between"):
        read_bars(dest, start="2030-01-01")


def test_bad_arguments(small: pd.DataFrame, tmp_path: Path) -> None:
    dest = tmp_path / "b.parquet"
    write_bars(small, dest)
    with pytest.raises(ConfigError, match="unknown on_bad policy 'fix'; valid: 'raise', 'drop', 'repair'"):
        read_bars(dest, on_bad="fix")
    with pytest.raises(
        DataError, match=r"symbol='X' was given but the data has a symbol column \('symbol'\)"
    ):
        read_bars(dest, symbol="X")
    with pytest.raises(ConfigError, match="`end` must not be before `start`"):
        read_bars(dest, start="2017-02-01", end="2017-01-01")
    with pytest.raises(ConfigError, match="`partition_by` must be None or 'symbol'"):
        write_bars(small, tmp_path / "x", partition_by="date")
    with pytest.raises(ConfigError, match="`source` must be a path"):
        read_bars(42)  # type: ignore[arg-type]


def test_drop_and_repair_are_logged_never_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="quantray.data"):
        bars = read_bars(sample_path(), on_bad="drop")
    assert len(bars) == 25_180 - 4
    assert "6 problems in 4 rows" in caplog.text and "on_bad='drop': 4 rows dropped" in caplog.text
