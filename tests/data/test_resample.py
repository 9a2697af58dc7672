"""Resampling against an explicit groupby reference, and its algebra (1m -> 1h -> 1d == 1m -> 1d)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantray.data import BAR_COLUMNS, read_bars, resample_bars, validate_bars
from quantray.errors import ConfigError


def reference(bars: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Obviously-correct resampling for fixed-length rules with the defaults (left/left/epoch): floor and
    group."""
    out = (
        bars.assign(bucket=bars["ts"].dt.floor(rule))
        .groupby(["symbol", "bucket"], sort=True)
        .agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
        )
        .reset_index()
        .rename(columns={"bucket": "ts"})
    )
    out["ts"] = out["ts"].astype("datetime64[ns, UTC]")
    return out[list(BAR_COLUMNS)]


@pytest.fixture(scope="module")
def crypto(crypto_path: Path) -> pd.DataFrame:
    return read_bars(crypto_path)


@pytest.mark.parametrize("rule", ["4h", "1D"])
def test_crypto_matches_the_groupby_reference(crypto: pd.DataFrame, rule: str) -> None:
    got = resample_bars(crypto, rule)
    pd.testing.assert_frame_equal(got, reference(crypto, rule))
    assert validate_bars(got).ok


def test_crypto_hourly_to_daily_through_4h_is_the_same(crypto: pd.DataFrame) -> None:
    direct = resample_bars(crypto, "1D")
    pd.testing.assert_frame_equal(resample_bars(resample_bars(crypto, "4h"), "1D"), direct)
    btc = direct[direct["symbol"] == "BTCUSDT"]
    assert btc["ts"].diff().dropna().eq(pd.Timedelta("1D")).all()  # daily buckets at 00:00 UTC, none missing
    assert (btc["ts"].dt.hour == 0).all()
    day = crypto[(crypto["symbol"] == "BTCUSDT") & (crypto["ts"].dt.floor("1D") == "2023-03-24 00:00Z")]
    assert len(day) == 23  # the outage hour
    row = btc[btc["ts"] == pd.Timestamp("2023-03-24", tz="UTC")].iloc[0]
    assert row["volume"] == pytest.approx(day["volume"].sum(), rel=1e-12)


def test_empty_buckets_are_dropped_not_filled(crypto: pd.DataFrame) -> None:
    hourly = resample_bars(crypto, "1h")  # the identity, except that nothing is invented for 13:00
    pd.testing.assert_frame_equal(hourly, crypto)
    assert not hourly[["open", "close"]].isna().to_numpy().any()
    matic = resample_bars(crypto[crypto["symbol"] == "MATICUSDT"], "1D")
    assert matic["ts"].max() == pd.Timestamp("2024-09-10", tz="UTC")  # no rows after the pair stopped


def test_daily_equities_to_weekly(sp500_path: Path) -> None:
    bars = read_bars(sp500_path, symbols=["AAPL"], end="2013-03-31")
    weekly = resample_bars(bars, "W-FRI", label="right", closed="right")
    ref = (
        bars.set_index("ts")
        .resample("W-FRI", label="right", closed="right")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    )
    np.testing.assert_array_equal(weekly["close"].to_numpy(), ref["close"].to_numpy())
    np.testing.assert_array_equal(weekly["ts"].to_numpy(), ref.index.to_numpy())
    assert (weekly["ts"].dt.day_of_week == 4).all()


def test_label_and_closed_right() -> None:
    ts = pd.date_range("2024-01-01 00:00", periods=4, freq="30min", tz="UTC")
    bars = pd.DataFrame(
        {
            "ts": ts,
            "symbol": "X",
            "open": [1.0, 2, 3, 4],
            "high": [1.0, 2, 3, 4],
            "low": [1.0, 2, 3, 4],
            "close": [1.0, 2, 3, 4],
            "volume": 1.0,
        }
    )
    left = resample_bars(bars, "1h")
    assert left["ts"].dt.strftime("%H:%M").tolist() == ["00:00", "01:00"] and left["close"].tolist() == [2, 4]
    right = resample_bars(bars, "1h", label="right", closed="right")  # (23:00, 00:00], (00:00, 01:00], ...
    assert right["ts"].dt.strftime("%H:%M").tolist() == ["00:00", "01:00", "02:00"]
    assert right["open"].tolist() == [1, 2, 4] and right["volume"].tolist() == [1, 2, 1]
    start = resample_bars(bars.iloc[1:], "1h", origin="start")
    assert start["ts"].dt.strftime("%H:%M").tolist() == ["00:30", "01:30"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rule": "fortnightly"}, "`rule` must be a pandas offset"),
        ({"rule": "1h", "label": "middle"}, "`label` must be one of"),
        ({"rule": "1h", "closed": "both"}, "`closed` must be one of"),
        ({"rule": "1h", "origin": "dawn"}, "`origin` must be one of"),
        ({"rule": "W-FRI", "origin": "start"}, "`origin` applies only to fixed-length rules"),
    ],
)
def test_bad_arguments(kwargs: dict[str, str], match: str) -> None:
    bars = pd.DataFrame(
        {
            "ts": ["2024-01-01"],
            "symbol": "X",
            "open": 1.0,
            "high": 1.0,
            "low": 1.0,
            "close": 1.0,
            "volume": 1.0,
        }
    )
    with pytest.raises(ConfigError, match=match):
        resample_bars(bars, **kwargs)  # type: ignore[arg-type]


@st.composite
def minute_bars(draw: st.DrawFn) -> pd.DataFrame:
    frames = []
    for symbol in draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3, unique=True)):
        minutes = sorted(set(draw(st.lists(st.integers(0, 4 * 24 * 60), min_size=1, max_size=300))))
        n = len(minutes)
        close = np.array(draw(st.lists(st.floats(1.0, 100.0), min_size=n, max_size=n)))
        opn = np.array(draw(st.lists(st.floats(1.0, 100.0), min_size=n, max_size=n)))
        wiggle = np.array(draw(st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n)))
        frames.append(
            pd.DataFrame(
                {
                    "ts": pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(minutes, unit="min"),
                    "symbol": symbol,
                    "open": opn,
                    "high": np.maximum(opn, close) + wiggle,
                    "low": np.minimum(opn, close) / (1.0 + wiggle),
                    "close": close,
                    "volume": np.round(wiggle * 1000.0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(BAR_COLUMNS)]


@settings(max_examples=60, deadline=None, database=None)
@given(minute_bars())
def test_property_resampling_composes_and_matches_the_reference(bars: pd.DataFrame) -> None:
    hourly = resample_bars(bars, "1h")
    daily = resample_bars(bars, "1D")
    pd.testing.assert_frame_equal(resample_bars(hourly, "1D"), daily)  # 1m -> 1h -> 1d == 1m -> 1d
    pd.testing.assert_frame_equal(hourly, reference(bars, "1h"))
    assert validate_bars(daily, interval="1D").ok
    for out in (hourly, daily):
        assert len(out) <= len(bars)
        per_symbol = out.groupby("symbol")["volume"].sum()
        np.testing.assert_allclose(per_symbol, bars.groupby("symbol")["volume"].sum().loc[per_symbol.index])
        assert (out["high"].groupby(out["symbol"]).max() == bars["high"].groupby(bars["symbol"]).max()).all()
