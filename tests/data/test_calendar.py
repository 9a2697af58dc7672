"""Bar intervals, calendars and annualisation factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantray.data import infer_calendar, infer_interval, periods_per_year, read_bars
from quantray.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("interval", "calendar", "expected"),
    [
        ("1D", "equities", 252.0),
        ("7D", "equities", 52.0),
        ("31D", "equities", 12.0),
        ("91D", "equities", 4.0),
        ("1h", "equities", 252 * 6.5),
        ("1min", "equities", 252 * 390.0),
        ("1h", "crypto", 8760.0),
        ("1D", "crypto", 365.0),
        ("15min", "crypto", 35040.0),
        ("1D", "fx", 260.0),
        ("1h", "fx", 260 * 24.0),
        ("7D", "fx", 52.0),
    ],
)
def test_periods_per_year_table(interval: str, calendar: str, expected: float) -> None:
    assert periods_per_year(interval, calendar=calendar) == pytest.approx(expected)
    assert periods_per_year(pd.Timedelta(interval), calendar=calendar) == pytest.approx(expected)


def test_auto_calendar_from_real_timestamps(sp500_path: Path, crypto_path: Path, shared_data: Path) -> None:
    equities = read_bars(sp500_path, symbols=["AAPL"])["ts"]
    crypto = read_bars(crypto_path, symbols=["BTCUSDT"])["ts"]
    assert infer_calendar(equities) == "equities" and periods_per_year(equities) == 252.0
    assert infer_calendar(crypto) == "crypto" and periods_per_year(crypto) == 8760.0
    assert periods_per_year(crypto.dt.floor("1D").drop_duplicates()) == 365.0
    # MetaTrader exports carry Saturday bars (broker time) but no Sunday: not a 24/7 market
    mt4 = read_bars(shared_data / "fx" / "eurusd_1d_2002_2021_mt4.csv", symbol="EURUSD")["ts"]
    assert (mt4.dt.day_of_week == 5).mean() > 0.1 and infer_calendar(mt4) == "equities"
    assert periods_per_year(mt4, calendar="fx") == 260.0


def test_infer_interval() -> None:
    days = pd.bdate_range("2024-01-01", periods=20)
    assert infer_interval(days) == pd.Timedelta("1D")  # weekends are a minority of steps
    assert infer_interval(pd.Series(days[::-1]).tolist() * 2) == pd.Timedelta("1D")  # order and repeats
    assert infer_interval(days.to_numpy()) == pd.Timedelta("1D")
    with pytest.raises(DataError, match="need at least 2"):
        infer_interval(days[:1])


def test_errors() -> None:
    with pytest.raises(ConfigError, match="calendar='auto' needs the bars' timestamps"):
        periods_per_year("1h")
    with pytest.raises(
        ConfigError, match="unknown calendar 'nyse'; valid: 'auto', 'equities', 'crypto', 'fx'"
    ):
        periods_per_year("1D", calendar="nyse")
    with pytest.raises(ConfigError, match="must be a positive duration"):
        periods_per_year("-1h", calendar="crypto")
    with pytest.raises(ConfigError, match="must be a positive duration"):
        periods_per_year("soon", calendar="crypto")


def test_sunday_evening_sessions_are_not_weekend_trading() -> None:
    hours = pd.date_range(
        "2024-01-07 22:00", "2024-02-02 21:00", freq="h", tz="UTC"
    )  # Sun 22:00 -> Fri 21:00
    fx = hours[(hours.day_of_week < 5) | ((hours.day_of_week == 6) & (hours.hour >= 22))]
    # a Sunday-evening open is not weekend trading; 24 hours a weekday is FX's calendar (it was taken for
    # equities' 6.5-hour session: 1,638 hourly bars a year instead of 6,240, a Sharpe ~1.95x too small)
    assert np.any(fx.day_of_week == 6) and infer_calendar(fx) == "fx"
    assert periods_per_year(fx) == periods_per_year(fx, calendar="fx") == 260 * 24.0


def test_intraday_calendars_are_told_apart_by_the_hours_they_trade(shared_data: Path) -> None:
    """Real hourly Binance timestamps with the weekends cut out trade 24 hours a weekday: fx. Equities' regular
    session (6.5 hours) and extended hours (16) stay equities; daily bars are never taken for fx."""
    bars = pd.read_parquet(shared_data / "crypto" / "binance_spot_1h_8pairs_2022-04_2025-04.parquet")
    ts = pd.DatetimeIndex(bars.loc[bars["symbol"] == "BTCUSDT", "date"])
    ts = ts.tz_localize("UTC") if ts.tz is None else ts
    assert infer_calendar(ts) == "crypto"
    weekdays = ts[ts.day_of_week < 5]
    assert infer_calendar(weekdays) == "fx" and periods_per_year(weekdays) == 6240.0
    regular = weekdays[(weekdays.hour >= 14) & (weekdays.hour < 21)]  # 14:00-20:00 UTC hourly bars
    extended = weekdays[(weekdays.hour >= 8)]  # 08:00-23:00 UTC: 16 hours
    assert infer_calendar(regular) == infer_calendar(extended) == "equities"
    assert periods_per_year(regular) == 1638.0
    # 20 of 24 hours is the line: 19 hours stays equities
    assert infer_calendar(weekdays[weekdays.hour < 20]) == "fx"
    assert infer_calendar(weekdays[weekdays.hour < 19]) == "equities"
    # a few stray prints at other hours do not make a 24-hour market
    stray = regular.append(weekdays[weekdays.hour < 14][:50])
    assert infer_calendar(stray) == "equities"
    days = pd.DatetimeIndex(sorted(set(weekdays.normalize())))
    assert infer_calendar(days) == "equities"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=300), st.booleans())
def test_sorted_unique_equals_numpy_unique(values: list[int], presorted: bool) -> None:
    """The sort-and-mask distinct values (numpy 2.4's hashing ``np.unique`` is ~15x slower on timestamps)."""
    from quantray.data._calendar import sorted_unique

    a = np.array(sorted(values) if presorted else values, dtype=np.int64)
    got = sorted_unique(a)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, np.unique(a))
