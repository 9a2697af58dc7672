"""The report model: top performers and their tie-breaks, JSON round trip, quarter parsing, loaders."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import pytest

from quantray.errors import ConfigError, ParameterError
from quantray.reports import (
    LOWER_IS_BETTER,
    QuarterlyReport,
    ReportNotFoundError,
    ReportRow,
    load_latest_report,
    parse_quarter,
    save_report,
)


def _row(sym: str, **metrics: float) -> ReportRow:
    return ReportRow(
        symbol=sym, strategy="sma_cross", params={"fast": 10, "slow": 50}, timeframe="1d", metrics=metrics
    )


def _reference_top(rows, n, metric):
    """Slow, obviously correct: compare every pair with the documented rule (bubble sort)."""

    def better(a, b) -> bool:  # True if a ranks before b
        va, vb = a.metrics.get(metric, math.nan), b.metrics.get(metric, math.nan)
        if math.isnan(va) != math.isnan(vb):
            return not math.isnan(va)
        if not math.isnan(va) and va != vb:
            return va < vb if metric in LOWER_IS_BETTER else va > vb
        ta, tb = a.metrics.get("total_return", math.nan), b.metrics.get("total_return", math.nan)
        if math.isnan(ta) != math.isnan(tb):
            return not math.isnan(ta)
        if not math.isnan(ta) and ta != tb:
            return ta > tb
        return a.symbol < b.symbol

    out = list(rows)
    changed = True
    while changed:
        changed = False
        for i in range(len(out) - 1):
            if better(out[i + 1], out[i]):
                out[i], out[i + 1] = out[i + 1], out[i]
                changed = True
    return out[:n]


@pytest.mark.parametrize("metric", ["sharpe", "max_drawdown", "volatility", "total_return"])
def test_top_performers_match_the_documented_rule(metric: str) -> None:
    rng = random.Random(7)
    values = [0.5, 1.0, 1.0, 2.0, math.nan]
    rows = [
        _row(
            f"S{i:02d}",
            sharpe=rng.choice(values),
            max_drawdown=rng.choice([0.1, 0.2, 0.2, math.nan]),
            volatility=rng.choice([0.15, 0.3]),
            total_return=rng.choice([0.01, 0.05, 0.05, math.nan]),
        )
        for i in range(25)
    ]
    rng.shuffle(rows)
    rep = QuarterlyReport(portfolio="t", year=2017, quarter=4, generated_at="2018-01-02", rows=tuple(rows))
    for n in (1, 5, 25, 40):
        got = [r.symbol for r in rep.get_top_performers(n, metric=metric)]
        want = [r.symbol for r in _reference_top(rows, n, metric)]
        assert got == want


def test_lower_is_better_sorts_ascending_and_nan_last() -> None:
    rows = (_row("A", max_drawdown=0.3), _row("B", max_drawdown=0.1), _row("C", max_drawdown=math.nan))
    rep = QuarterlyReport(portfolio="t", year=2017, quarter=4, generated_at="2018-01-02", rows=rows)
    assert [r.symbol for r in rep.get_top_performers(3, "max_drawdown")] == ["B", "A", "C"]


def test_top_performers_bad_arguments() -> None:
    rep = QuarterlyReport(
        portfolio="t", year=2017, quarter=4, generated_at="2018-01-02", rows=(_row("A", sharpe=1),)
    )
    with pytest.raises(ParameterError, match="unknown metric 'shrape'"):
        rep.get_top_performers(1, "shrape")
    with pytest.raises(ParameterError, match="positive integer"):
        rep.get_top_performers(0)


def test_json_round_trip_keeps_every_field(sample_report) -> None:
    d = json.loads(json.dumps(sample_report.to_dict(), allow_nan=False))
    back = QuarterlyReport.from_dict(d)
    assert back.to_dict() == sample_report.to_dict()
    assert back.generated_at == sample_report.generated_at
    assert [r.params for r in back.rows] == [r.params for r in sample_report.rows]
    assert all(
        type(v) is type(sample_report.row(r.symbol).params[k]) for r in back.rows for k, v in r.params.items()
    )


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(Exception, match="unknown key"):
        QuarterlyReport.from_dict(
            {"portfolio": "p", "year": 2017, "quarter": 4, "generated_at": "2018", "rows": [], "x": 1}
        )


@pytest.mark.parametrize(
    "text,want", [("2017Q4", (2017, 4)), ("2017-q1", (2017, 1)), (" 2020Q2 ", (2020, 2))]
)
def test_parse_quarter(text: str, want: tuple[int, int]) -> None:
    assert parse_quarter(text) == want


@pytest.mark.parametrize("text", ["2017Q5", "Q4-2017", "2017", ""])
def test_parse_quarter_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="YYYYQn"):
        parse_quarter(text)


def test_load_latest_report_picks_the_newest_quarter(tmp_path) -> None:
    with pytest.raises(ReportNotFoundError, match="no stored report for portfolio 'p'"):
        load_latest_report(str(tmp_path), "p")
    for year, q in [(2017, 2), (2018, 1), (2017, 4)]:
        rep = QuarterlyReport(
            portfolio="p",
            year=year,
            quarter=q,
            generated_at=datetime(2019, 1, 1, tzinfo=UTC),
            rows=(_row("A", sharpe=1),),
        )
        save_report(rep, str(tmp_path))
    assert load_latest_report(str(tmp_path), "p").label == "2018Q1"
