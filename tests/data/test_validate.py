"""Validation rules, reports and the on_bad policies: on the real panels and one hand-made case per rule."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantray.data import (
    BAR_COLUMNS,
    RULES,
    BarIssue,
    ValidationReport,
    clean_bars,
    read_bars,
    validate_bars,
)
from quantray.errors import ConfigError, DataError, DataValidationError

PRICES = ["open", "high", "low", "close"]
VALUES = [*PRICES, "volume"]


@pytest.fixture(scope="module")
def sp500_raw(sp500_path: Path) -> pd.DataFrame:
    return pd.read_parquet(sp500_path)


@pytest.fixture(scope="module")
def sp500_report(sp500_raw: pd.DataFrame, sp500_path: Path) -> ValidationReport:
    return validate_bars(sp500_raw, source=str(sp500_path))


def _rows(report: ValidationReport, rule: str) -> set[int]:
    return {i.row for i in report.issues if i.rule == rule}


# -------------------------------------------------------------------------------------------- the real panel


def test_sp500_defects_match_an_independent_pandas_computation(
    sp500_raw: pd.DataFrame, sp500_report: ValidationReport
) -> None:
    raw = sp500_raw
    nan_cells = raw[VALUES].isna()
    assert (
        int(nan_cells.to_numpy().sum()) == 27 and int(nan_cells.any(axis=1).sum()) == 11
    )  # the README's count
    nan_issues = {(i.row, i.column) for i in sp500_report.issues if i.rule == "nan"}
    assert nan_issues == {(r, c) for c in VALUES for r in np.flatnonzero(nan_cells[c].to_numpy())}

    top = raw[["open", "close"]].max(
        axis=1
    )  # skipna, like the loader: a NaN open still lets close be compared
    bottom = raw[["open", "close"]].min(axis=1)
    assert _rows(sp500_report, "ohlc_high") == set(np.flatnonzero((raw["high"] < top).to_numpy()))
    assert _rows(sp500_report, "ohlc_low") == set(np.flatnonzero((raw["low"] > bottom).to_numpy()))
    assert _rows(sp500_report, "high_lt_low") == set(np.flatnonzero((raw["high"] < raw["low"]).to_numpy()))
    inconsistent = (raw["high"] < top) | (raw["low"] > bottom) | (raw["high"] < raw["low"])
    assert int(inconsistent.sum()) == 12  # the README's "12 rows with inconsistent OHLC"

    assert sp500_report.counts == {"nan": 27, "ohlc_high": 1, "ohlc_low": 11, "high_lt_low": 1, "gap": 3}
    assert len(sp500_report.rows) == 23 and not sp500_report.ok
    for rule in ("unsorted", "duplicate_ts", "non_positive_price", "negative_volume"):
        assert rule not in sp500_report.counts


@pytest.mark.parametrize(
    ("symbol", "day", "column", "text"),
    [
        ("CHD", "2014-05-19", "low", "low 33.695 > min(open, close) 18.77"),
        ("LNT", "2016-05-19", "low", "low 35.085 > min(open, close) 17.87"),
        ("SPG", "2014-05-28", "low", "low 174.5 > min(open, close) 165.42"),
        ("AOS", "2014-05-19", "high", "high 23.595 < max(open, close) 24.445"),
    ],
)
def test_sp500_named_defects_are_reported_with_file_symbol_row_ts_column_and_rule(
    sp500_raw: pd.DataFrame,
    sp500_report: ValidationReport,
    sp500_path: Path,
    symbol: str,
    day: str,
    column: str,
    text: str,
) -> None:
    row = int(np.flatnonzero(((sp500_raw["ticker"] == symbol) & (sp500_raw["date"] == day)).to_numpy())[0])
    [issue] = [
        i for i in sp500_report.issues if i.row == row and i.column == column and i.rule != "high_lt_low"
    ]
    rule = "ohlc_low" if column == "low" else "ohlc_high"
    assert issue.line() == (
        f"{sp500_path}: symbol={symbol} ts={day} row={row} column={column}: {text} [rule {rule}]"
    )
    assert issue.severity == "error" and issue.ts == pd.Timestamp(day, tz="UTC")


def test_sp500_gaps_are_real_outages_not_holidays(sp500_report: ValidationReport) -> None:
    gaps = sp500_report.warnings
    assert sorted(i.symbol for i in gaps) == ["DHR", "ES", "O"]  # all three miss 2015-03-09 .. 2015-03-20
    for issue in gaps:
        assert issue.ts == pd.Timestamp("2015-03-23", tz="UTC")
        assert "since the previous bar at 2015-03-06 (10 missing business days" in issue.message
    # DHR also misses 2013-09-09 .. 2013-09-11 (3 business days), under the threshold: not a gap


def test_sp500_raise_headline(sp500_raw: pd.DataFrame, sp500_path: Path) -> None:
    with pytest.raises(DataValidationError) as info:
        clean_bars(sp500_raw, source=str(sp500_path))
    assert str(info.value) == (
        f"{sp500_path}: 40 problems in 23 rows (nan: 27, ohlc_high: 1, ohlc_low: 11, high_lt_low: 1) and 3 "
        "warnings (gap: 3); first: symbol=AOS ts=2014-05-19 row=54261 column=high: high 23.595 < "
        "max(open, close) 24.445 [rule ohlc_high]"
    )
    assert isinstance(info.value.report, ValidationReport) and len(info.value.report.issues) == 43


def test_sp500_repair_validates_clean_and_changes_only_the_bad_rows(
    sp500_raw: pd.DataFrame, sp500_report: ValidationReport
) -> None:
    fixed, report = clean_bars(sp500_raw, on_bad="repair")
    assert report.counts == sp500_report.counts  # the report describes the input
    assert all(i.action for i in report.issues)
    after = validate_bars(fixed)
    assert after.ok and after.counts == {"gap": 3}
    assert len(fixed) == len(sp500_raw)  # no NaN close, no non-positive price: nothing had to be dropped

    raw_sorted = sp500_raw.sort_values(["ticker", "date"], kind="stable").reset_index(drop=True)
    changed = (fixed[VALUES].to_numpy() != raw_sorted[VALUES].to_numpy()).any(axis=1)
    bad_keys = {(i.symbol, i.ts) for i in report.errors}
    changed_keys = set(zip(fixed.loc[changed, "symbol"], fixed.loc[changed, "ts"], strict=True))
    assert changed_keys == bad_keys

    def bar(sym: str, day: str) -> pd.Series:
        return fixed[(fixed["symbol"] == sym) & (fixed["ts"] == pd.Timestamp(day, tz="UTC"))].iloc[0]

    prev_close = bar("REGN", "2015-06-08")["close"]
    regn = bar("REGN", "2015-06-09")
    assert regn["open"] == prev_close and regn["close"] == 526.09
    assert regn["high"] == max(prev_close, 526.09) and regn["low"] == min(prev_close, 526.09)
    assert bar("SPG", "2014-05-28")["low"] == 165.42 and bar("SPG", "2014-05-28")["high"] == 176.6
    ftv = bar("FTV", "2016-07-01")  # FTV's first bar: no previous close, the open becomes the close
    assert ftv["open"] == ftv["close"] == 49.54
    [ftv_issue] = [i for i in report.issues if i.symbol == "FTV" and i.column == "open"]
    assert ftv_issue.action == "set to the close (first bar of the symbol)"


def test_sp500_drop_removes_exactly_the_bad_rows(sp500_raw: pd.DataFrame) -> None:
    kept, report = clean_bars(sp500_raw, on_bad="drop")
    assert len(kept) == len(sp500_raw) - 23
    assert validate_bars(kept).ok
    assert {i.action for i in report.errors} == {"row dropped"}


def test_validation_is_fast_on_the_full_panel(sp500_raw: pd.DataFrame) -> None:
    validate_bars(sp500_raw)  # warm up
    best = min(_timed(lambda: validate_bars(sp500_raw)) for _ in range(2))
    assert best < 2.0, f"validate_bars took {best:.2f} s on 619k rows"


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def test_crypto_outage_is_one_gap_per_pair(crypto_path: Path) -> None:
    raw = pd.read_parquet(crypto_path)
    report = validate_bars(raw, source="crypto.parquet")
    assert report.ok and report.counts == {"gap": 8}
    steps = raw.sort_values(["symbol", "date"]).groupby("symbol")["date"].diff()
    assert int((steps > pd.Timedelta("1h")).sum()) == 8  # independent: every step longer than an hour
    for issue in report.warnings:
        assert issue.ts == pd.Timestamp("2023-03-24 14:00", tz="UTC")
        assert "1 missing bar at interval 1h, first 2023-03-24 13:00" in issue.message
    assert {i.symbol for i in report.warnings} == set(raw["symbol"].unique())  # MATIC's end is not a gap
    assert validate_bars(raw, interval="2h").counts == {}  # an explicit interval overrides the median


# ----------------------------------------------------------------------------------------- one case per rule


def _bars(n: int = 6, symbol: str = "XYZ", start: str = "2024-01-02", freq: str = "B") -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    close = 100.0 + np.arange(n)
    return pd.DataFrame(
        {
            "ts": ts,
            "symbol": symbol,
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": 1000.0,
        }
    )


def _csv(tmp_path: Path, df: pd.DataFrame) -> Path:
    path = tmp_path / "bars.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("edit", "rule", "column", "row", "text"),
    [
        (
            lambda d: d.iloc[[0, 1, 3, 2, 4, 5]],
            "unsorted",
            "ts",
            3,
            "ts 2024-01-04 is earlier than the previous",
        ),
        (
            lambda d: pd.concat([d, d.iloc[[2]]]),
            "duplicate_ts",
            "ts",
            2,
            "ts 2024-01-04 appears again at row 6",
        ),
        (lambda d: d.assign(high=d["high"].where(d.index != 4)), "nan", "high", 4, "high is NaN"),
        (
            lambda d: d.assign(low=d["low"].where(d.index != 1, -1.0)),
            "non_positive_price",
            "low",
            1,
            "low -1 <= 0",
        ),
        (
            lambda d: d.assign(close=d["close"].where(d.index != 1, 0.0)),
            "non_positive_price",
            "close",
            1,
            "close 0",
        ),
        (
            lambda d: d.assign(volume=d["volume"].where(d.index != 5, -3.0)),
            "negative_volume",
            "volume",
            5,
            "< 0",
        ),
        (
            lambda d: d.assign(high=d["high"].where(d.index != 3, 102.9)),
            "ohlc_high",
            "high",
            3,
            "high 102.9 < max",
        ),
        (
            lambda d: d.assign(low=d["low"].where(d.index != 3, 102.75)),
            "ohlc_low",
            "low",
            3,
            "low 102.75 > min",
        ),
    ],
)
def test_each_rule_names_file_symbol_row_ts_column_and_rule(
    tmp_path: Path, edit: object, rule: str, column: str, row: int, text: str
) -> None:
    path = _csv(tmp_path, edit(_bars()))  # type: ignore[operator]
    with pytest.raises(DataValidationError) as info:
        read_bars(path)
    report = info.value.report
    issues = [i for i in report.issues if i.rule == rule]
    assert len(issues) == 1
    issue = issues[0]
    assert (issue.source, issue.symbol, issue.row, issue.column) == (str(path), "XYZ", row, column)
    line = issue.line()
    assert line.startswith(f"{path}: symbol=XYZ ts=") and f" row={row} column={column}: " in line
    assert text in line and line.endswith(f"[rule {rule}]")
    assert str(info.value).startswith(f"{path}: ") and "first: symbol=XYZ" in str(info.value)


def test_high_below_low_and_missing_ts_or_symbol() -> None:
    bars = _bars()
    bars.loc[2, ["high", "low"]] = [99.0, 103.0]  # high < low: also breaks both OHLC rules
    bars["ts"] = bars["ts"].astype(object)
    bars.loc[4, "ts"] = None
    bars.loc[5, "symbol"] = None
    report = validate_bars(bars, source="x")
    assert {(i.rule, i.row, i.column) for i in report.errors} == {
        ("ohlc_high", 2, "high"),
        ("ohlc_low", 2, "low"),
        ("high_lt_low", 2, "high"),
        ("nan", 4, "ts"),
        ("nan", 5, "symbol"),
    }
    fixed, rep = clean_bars(bars, on_bad="repair")
    assert len(fixed) == 4 and validate_bars(fixed).ok
    assert {i.action for i in rep.errors if i.rule == "nan"} == {
        "row dropped: a missing ts cannot be repaired",
        "row dropped: a missing symbol cannot be repaired",
    }


def test_infinite_values_count_as_nan() -> None:
    bars = _bars()
    bars.loc[1, "volume"] = np.inf
    [issue] = validate_bars(bars).errors
    assert (issue.rule, issue.column, issue.message) == ("nan", "volume", "volume is inf")


def test_daily_gap_threshold_ignores_holidays() -> None:
    days = pd.bdate_range("2024-01-01", "2024-03-29")
    holiday = days[days != "2024-01-15"]  # one missing business day: a holiday
    three = holiday[(holiday < "2024-02-05") | (holiday > "2024-02-07")]  # three more: still not a gap
    four = three[(three < "2024-03-04") | (three > "2024-03-07")]  # four missing: a gap
    bars = _bars(len(four)).assign(ts=four.tz_localize("UTC"))
    [gap] = validate_bars(bars).warnings
    assert (
        gap.ts == pd.Timestamp("2024-03-08", tz="UTC")
        and "4 missing business days, more than 3" in gap.message
    )


def test_intraday_equities_overnight_is_not_a_gap_but_a_missing_bar_is() -> None:
    days = pd.bdate_range("2024-01-01", periods=10)
    sessions = [pd.date_range(f"{d:%Y-%m-%d} 14:30", periods=13, freq="30min", tz="UTC") for d in days]
    idx = sessions[0].append(sessions[1:])
    idx = idx[idx != pd.Timestamp("2024-01-03 16:00", tz="UTC")]
    bars = _bars(len(idx)).assign(ts=idx)
    [gap] = validate_bars(bars).warnings
    assert gap.ts == pd.Timestamp("2024-01-03 16:30", tz="UTC")
    assert (
        "gap of 1h since the previous bar at 2024-01-03 15:30 (1 missing bar at interval 30min" in gap.message
    )


def test_weekly_bars_gap_rule() -> None:
    weeks = pd.date_range("2024-01-05", periods=12, freq="W-FRI", tz="UTC")
    bars = _bars(11).assign(ts=weeks.delete(6))
    [gap] = validate_bars(bars).warnings
    assert gap.ts == weeks[7] and "gap of 14d" in gap.message


# -------------------------------------------------------------------------------------------------- policies


def test_repair_rules_one_by_one() -> None:
    bars = _bars(8)
    bars.loc[0, "open"] = np.nan  # first bar: open <- close
    bars.loc[3, "open"] = np.nan  # open <- previous close
    bars.loc[4, ["high", "low"]] = np.nan  # -> max/min of open, close
    bars.loc[5, "close"] = np.nan  # dropped
    bars.loc[6, "volume"] = np.nan  # -> 0
    bars.loc[7, "open"] = -1.0  # dropped
    dup = bars.iloc[[2]].assign(close=102.5, high=104.0)  # a later duplicate of row 2 wins
    messy = pd.concat([bars, dup], ignore_index=True).iloc[[1, 0, 2, 3, 4, 5, 6, 7, 8]].reset_index(drop=True)
    fixed, report = clean_bars(messy, on_bad="repair", source="messy")
    assert validate_bars(fixed).ok
    assert fixed["ts"].tolist() == [bars.loc[i, "ts"] for i in (0, 1, 2, 3, 4, 6)]
    assert fixed.loc[0, "open"] == 100.0
    assert fixed.loc[2, "close"] == 102.5 and fixed.loc[2, "high"] == 104.0
    assert fixed.loc[3, "open"] == 102.5  # the previous close after de-duplication
    assert (fixed.loc[4, "high"], fixed.loc[4, "low"]) == (104.0, 103.5)
    assert fixed.loc[5, "volume"] == 0.0
    actions = {(i.rule, i.row): i.action for i in report.issues}
    assert actions[("unsorted", 1)] == "sorted"
    assert actions[("duplicate_ts", 2)] == "row dropped (the last duplicate is kept)"
    assert actions[("nan", 3)] == "set to the previous close"
    assert actions[("nan", 5)] == "row dropped: a missing close cannot be repaired"
    assert actions[("non_positive_price", 7)] == "row dropped: a non-positive price cannot be repaired"
    assert "-> set to 0" in report.summary(max_lines=50)


def test_unknown_policy_lists_valid_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown on_bad policy 'ignore'; valid: 'raise', 'drop', 'repair'"
    ):
        clean_bars(_bars(), on_bad="ignore")


def test_nothing_left_after_drop_raises() -> None:
    bars = _bars(3).assign(close=np.nan)
    with pytest.raises(DataError, match=r"no valid bars left after on_bad='drop'"):
        clean_bars(bars, on_bad="drop")


def test_raise_policy_returns_sorted_bars_when_only_warnings() -> None:
    bars = pd.concat([_bars(symbol="B"), _bars(symbol="A").drop(index=[2, 3, 4])]).reset_index(drop=True)
    out, report = clean_bars(bars)
    assert report.ok and out["symbol"].tolist() == ["A"] * 3 + ["B"] * 6


def test_report_api() -> None:
    bars = _bars()
    bars.loc[1, "high"] = np.nan
    bars.loc[2, "low"] = 200.0
    report = validate_bars(bars, source="f.csv")
    assert [type(i) for i in report.issues] == [BarIssue] * 3
    frame = report.to_frame()
    assert frame.columns.tolist() == [
        "source",
        "symbol",
        "row",
        "ts",
        "column",
        "rule",
        "value",
        "message",
        "severity",
        "action",
    ]
    assert frame["row"].tolist() == [1, 2, 2] and str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    summary = report.summary(max_lines=2).splitlines()
    assert len(summary) == 4 and summary[-1].startswith("... and 1 more issues")
    assert summary[0].startswith("f.csv: 3 problems in 2 rows (nan: 1, ohlc_low: 1, high_lt_low: 1); first: ")
    assert summary[1] == "f.csv: symbol=XYZ ts=2024-01-03 row=1 column=high: high is NaN [rule nan]"
    assert repr(report).startswith("ValidationReport(source='f.csv', rows=6, errors=3, warnings=0")
    assert set(report.counts) <= set(RULES)
    with pytest.raises(AttributeError):
        report.source = "x"  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ properties


@st.composite
def messy_bars(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 40))
    symbols = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 25), min_size=n, max_size=n))
    price = st.one_of(
        st.floats(0.5, 200.0),
        st.just(float("nan")),
        st.just(0.0),
        st.floats(-5.0, -0.1),
        st.just(float("inf")),
    )
    cols = {c: draw(st.lists(price, min_size=n, max_size=n)) for c in PRICES}
    volume = draw(
        st.lists(st.one_of(st.floats(0, 1e6), st.just(float("nan")), st.just(-1.0)), min_size=n, max_size=n)
    )
    ts = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"ts": ts, "symbol": symbols, **cols, "volume": volume}, columns=list(BAR_COLUMNS))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_bars())
def test_property_repair_and_drop_always_validate_clean(bars: pd.DataFrame) -> None:
    report = validate_bars(bars)
    assert all(0 <= i.row < len(bars) for i in report.issues)
    for policy in ("repair", "drop"):
        try:
            out, rep = clean_bars(bars, on_bad=policy)
        except DataError as exc:
            assert "no valid bars left" in str(exc)
            continue
        assert [(i.rule, i.row, i.column) for i in rep.issues] == [
            (i.rule, i.row, i.column) for i in report.issues
        ]
        assert validate_bars(out).ok
        keys = list(zip(out["symbol"], out["ts"], strict=True))
        assert keys == sorted(set(keys))  # sorted, unique
        assert set(keys) <= set(zip(bars["symbol"], bars["ts"], strict=True))
        assert (out["close"].to_numpy() == _last_close(bars, keys)).all()  # close is never invented
    if report.ok:
        out, _ = clean_bars(bars, on_bad="raise")
        assert len(out) == len(bars)


def _last_close(bars: pd.DataFrame, keys: list[tuple[str, pd.Timestamp]]) -> np.ndarray:
    """The close of the last input row of each (symbol, ts): the row that drop/repair keep."""
    last = bars.drop_duplicates(["symbol", "ts"], keep="last").set_index(["symbol", "ts"])["close"]
    return np.array([last[k] for k in keys])
