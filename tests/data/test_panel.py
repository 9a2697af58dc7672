"""The aligned Panel: built from the real panels, exact round trips, selection and per-symbol arrays."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantray.data import Panel, load_sample, read_bars
from quantray.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def sp500(sp500_path: Path) -> pd.DataFrame:
    return read_bars(sp500_path, on_bad="repair")


@pytest.fixture(scope="module")
def sp500_panel(sp500: pd.DataFrame) -> Panel:
    return Panel.from_bars(sp500)


@pytest.fixture(scope="module")
def crypto_panel(crypto_path: Path) -> Panel:
    return Panel.from_bars(read_bars(crypto_path))


def test_sp500_panel_shape_layout_and_values(sp500: pd.DataFrame, sp500_panel: Panel) -> None:
    p = sp500_panel
    assert (p.n_bars, p.n_symbols) == (1259, 505)
    assert p.symbols == tuple(sorted(sp500["symbol"].unique()))
    assert p.index.dtype == np.dtype("datetime64[ns]") and (np.diff(p.index.view(np.int64)) > 0).all()
    for name in ("open", "high", "low", "close", "volume"):
        arr = getattr(p, name)
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and arr.shape == (1259, 505)
        assert not arr.flags.writeable
    assert int((~np.isnan(p.close)).sum()) == len(sp500)  # one cell per bar, NaN where a symbol has none
    wide = sp500.pivot(index="ts", columns="symbol", values="close")  # independent pivot
    np.testing.assert_array_equal(p.close, wide.to_numpy())
    np.testing.assert_array_equal(p.index, wide.index.tz_convert(None).to_numpy())
    assert p.interval == pd.Timedelta("1D") and p.calendar == "equities" and p.periods_per_year == 252.0
    assert p.nbytes == 5 * 1259 * 505 * 8 + 1259 * 8
    assert repr(p) == (
        "Panel(1259 bars x 505 symbols, 2013-02-08 00:00 -> 2018-02-07 00:00 UTC, interval=1d, "
        "calendar=equities, 24.3 MiB)"
    )


def test_round_trip_to_bars_is_exact(sp500: pd.DataFrame, sp500_panel: Panel) -> None:
    pd.testing.assert_frame_equal(sp500_panel.to_bars(), sp500)


def test_arrays_are_the_symbols_own_bars(sp500: pd.DataFrame, sp500_panel: Panel) -> None:
    ts, o, h, lo, c, v = sp500_panel.arrays("BHF")  # listed in 2017: 143 bars, not 1259
    own = sp500[sp500["symbol"] == "BHF"]
    assert len(ts) == len(own) == 143
    np.testing.assert_array_equal(ts, own["ts"].dt.tz_convert(None).to_numpy().view(np.int64))
    for arr, col in zip((o, h, lo, c, v), ("open", "high", "low", "close", "volume"), strict=True):
        np.testing.assert_array_equal(arr, own[col].to_numpy())
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and arr.flags.writeable
    assert ts.dtype == np.int64
    c[0] = -1.0  # a copy: the panel is untouched
    assert (
        sp500_panel.close[
            ~np.isnan(sp500_panel.close[:, sp500_panel.column("BHF")]), sp500_panel.column("BHF")
        ][0]
        > 0
    )


def test_select_and_slice(sp500_panel: Panel) -> None:
    sub = sp500_panel.select(["MSFT", "BHF"])
    assert sub.symbols == ("MSFT", "BHF") and sub.n_bars == 1259
    np.testing.assert_array_equal(sub.close[:, 0], sp500_panel.close[:, sp500_panel.column("MSFT")])
    only_bhf = sp500_panel.select("BHF")
    assert only_bhf.n_bars == 143 and not np.isnan(only_bhf.close).any()  # rows without any bar are dropped
    window = sp500_panel.slice("2016-01-04", "2016-12-30")
    assert window.n_bars == 252 and window.start == pd.Timestamp("2016-01-04", tz="UTC")
    assert window.end == pd.Timestamp("2016-12-30", tz="UTC")
    assert sp500_panel.slice(end="2013-02-08").n_bars == 1
    with pytest.raises(DataError, match="no bars between"):
        sp500_panel.slice("2030-01-01")


def test_unknown_symbol_lists_nearest_names(sp500_panel: Panel) -> None:
    with pytest.raises(
        DataError, match=r"unknown symbol 'APPL'; did you mean AAPL.*the panel has 505: A, AAL"
    ):
        sp500_panel.arrays("APPL")
    with pytest.raises(DataError, match="unknown symbol 'GOOGLE'; did you mean GOOG"):
        sp500_panel.select(["MSFT", "GOOGLE"])


def test_crypto_panel(crypto_panel: Panel) -> None:
    p = crypto_panel
    assert p.calendar == "crypto" and p.interval == pd.Timedelta("1h") and p.periods_per_year == 8760.0
    assert pd.Timestamp("2023-03-24 13:00").to_datetime64() not in set(p.index)  # nobody traded that hour
    ts, *_ = p.arrays("MATICUSDT")
    assert pd.Timestamp(int(ts[-1]), unit="ns").date() == pd.Timestamp("2024-09-10").date()
    assert np.isnan(p.close[-1, p.column("MATICUSDT")]) and not np.isnan(p.close[-1, p.column("BTCUSDT")])


def test_pickle_round_trip_for_ray(crypto_panel: Panel) -> None:
    back = pickle.loads(pickle.dumps(crypto_panel, protocol=5))
    assert back.symbols == crypto_panel.symbols and back.interval == crypto_panel.interval
    np.testing.assert_array_equal(back.close, crypto_panel.close)


def test_frozen(crypto_panel: Panel) -> None:
    with pytest.raises(AttributeError):
        crypto_panel.calendar = "fx"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        crypto_panel.close[0, 0] = 1.0


def test_from_frame_of_closes() -> None:
    sample = load_sample()
    wide = sample.pivot(index="ts", columns="symbol", values="close")
    p = Panel.from_frame(wide.tz_convert(None))  # naive index: taken as UTC
    assert p.symbols == tuple(wide.columns) and p.calendar == "equities"
    np.testing.assert_array_equal(p.close, wide.to_numpy())
    np.testing.assert_array_equal(p.open, p.close)
    assert (p.volume == 0).all()


def test_from_bars_rejects_duplicates_and_bad_calendars() -> None:
    bars = load_sample()
    with pytest.raises(DataError, match="two bars with the same ts; clean the bars with clean_bars"):
        Panel.from_bars(pd.concat([bars, bars.iloc[[5]]]))
    with pytest.raises(ConfigError, match="unknown calendar 'nyse'"):
        Panel.from_bars(bars, calendar="nyse")
    assert Panel.from_bars(bars, calendar="fx").periods_per_year == 260.0


def test_constructor_checks_shapes() -> None:
    idx = pd.date_range("2024-01-01", periods=3, freq="D").to_numpy()
    ok = np.ones((3, 2))
    with pytest.raises(DataError, match=r"Panel.close must have shape \(T, N\) = \(3, 2\), got \(2, 3\)"):
        Panel(idx, ("A", "B"), ok, ok, ok, np.ones((2, 3)), ok, pd.Timedelta("1D"), "crypto")
    with pytest.raises(DataError, match="sorted and unique"):
        Panel(idx[::-1], ("A", "B"), ok, ok, ok, ok, ok, pd.Timedelta("1D"), "crypto")
    with pytest.raises(DataError, match="repeated: A"):
        Panel(idx, ("A", "A"), ok, ok, ok, ok, ok, pd.Timedelta("1D"), "crypto")
    mine = np.ones((3, 2))
    Panel(idx, ("A", "B"), mine, mine, mine, mine, mine, "1D", "crypto")
    assert mine.flags.writeable  # the caller's array is not frozen, only the panel's view of it
