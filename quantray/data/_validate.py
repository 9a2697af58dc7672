"""Validation of bars (every problem, with file, symbol, row, ts and column) and the ``on_bad`` policies.

All checks are vectorised over numpy arrays; Python objects are built only for the rows that break a rule.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from quantray.data._calendar import to_timedelta, trading_weekdays
from quantray.data._schema import PRICE_COLUMNS, VALUE_COLUMNS, normalize_bars, ts_to_ns
from quantray.errors import ConfigError, DataError, DataValidationError

__all__ = [
    "ERROR_RULES",
    "ON_BAD",
    "RULES",
    "WARNING_RULES",
    "BarIssue",
    "ValidationReport",
    "clean_bars",
    "validate_bars",
]

ON_BAD: tuple[str, ...] = ("raise", "drop", "repair")
"""Valid ``on_bad`` policies."""

ERROR_RULES: tuple[str, ...] = (
    "unsorted",
    "duplicate_ts",
    "nan",
    "non_positive_price",
    "negative_volume",
    "ohlc_high",
    "ohlc_low",
    "high_lt_low",
)
"""Rules whose breach is an error (``on_bad`` applies)."""

WARNING_RULES: tuple[str, ...] = ("gap",)
"""Rules whose breach is only reported (gaps are never filled)."""

RULES: tuple[str, ...] = ERROR_RULES + WARNING_RULES
_RULE_ORDER = {r: i for i, r in enumerate(RULES)}
_NAT = np.iinfo(np.int64).min
_NS_PER_DAY = 86_400 * 10**9
_DAY = pd.Timedelta(days=1)
_MAX_BUSDAYS_MISSING = 3  # daily bars: more than 3 missing business days is a gap (holidays are at most 2)

Severity = Literal["error", "warning"]


def _fmt_num(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if np.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _fmt_td(td: pd.Timedelta) -> str:
    """``2h``, ``17d``, ``1h30min``: a compact duration."""
    rest = int(td.value)
    sign = "-" if rest < 0 else ""
    rest = abs(rest)
    parts = []
    for unit, size in (("d", 86_400 * 10**9), ("h", 3_600 * 10**9), ("min", 60 * 10**9), ("s", 10**9)):
        q, rest = divmod(rest, size)
        if q:
            parts.append(f"{q}{unit}")
    if rest:
        parts.append(f"{rest}ns")
    return sign + ("".join(parts) or "0s")


def _fmt_ts(ts: pd.Timestamp | None) -> str:
    if ts is None or ts is pd.NaT:
        return "NaT"
    naive = ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts
    if naive == naive.normalize():
        return naive.strftime("%Y-%m-%d")
    if naive.nanosecond == 0 and naive.microsecond == 0:
        return naive.strftime("%Y-%m-%d %H:%M" if naive.second == 0 else "%Y-%m-%d %H:%M:%S")
    return naive.isoformat(sep=" ")


@dataclass(frozen=True, slots=True)
class BarIssue:
    """One broken rule at one row (and column) of the input.

    Attributes:
        source: the file or URL (``"<DataFrame>"`` for an in-memory frame).
        symbol: the row's symbol (None when missing).
        row: 0-based position of the row in the input as read (after any ``symbols``/``start``/``end``
            filter).
        ts: the row's timestamp (UTC; None when missing).
        column: the offending column (``"ts"`` for ordering rules and gaps).
        rule: one of :data:`RULES`.
        value: the offending value (a float, a Timestamp for ts rules, None when missing).
        message: what is wrong, with the numbers.
        severity: ``"error"`` (the ``on_bad`` policy applies) or ``"warning"`` (reported only).
        action: what :func:`clean_bars` did about it (``""`` from :func:`validate_bars`).
    """

    source: str
    symbol: str | None
    row: int
    ts: pd.Timestamp | None
    column: str
    rule: str
    value: Any
    message: str
    severity: Severity = "error"
    action: str = ""

    def line(self, *, with_source: bool = True) -> str:
        """One line: ``file: symbol=CHD ts=2014-05-19 row=123 column=high: <message> [rule ohlc_high]``."""
        head = f"{self.source}: " if with_source else ""
        tail = f" -> {self.action}" if self.action else ""
        return (
            f"{head}symbol={self.symbol if self.symbol is not None else '?'} ts={_fmt_ts(self.ts)} "
            f"row={self.row} "
            f"column={self.column}: {self.message} [rule {self.rule}]{tail}"
        )

    def __str__(self) -> str:
        return self.line()


@dataclass(frozen=True, slots=True, repr=False)
class ValidationReport:
    """Every problem found in one input, in row order.

    Attributes:
        source: the file or URL checked.
        issues: every :class:`BarIssue`, sorted by row then rule.
        n_rows: number of input rows checked.
        policy: the ``on_bad`` policy applied by :func:`clean_bars` (``""`` from :func:`validate_bars`).

    Example:
        >>> from quantray.data import load_sample, sample_path
        >>> report = validate_bars(load_sample(on_bad="repair"))
        >>> report.ok, report.counts
        (True, {})
        >>> try:
        ...     load_sample(on_bad="raise")
        ... except DataValidationError as exc:
        ...     report = exc.report
        >>> report.ok, report.counts, report.rows
        (False, {'nan': 3, 'ohlc_low': 3}, (9163, 14674, 19471, 20470))
        >>> print(report.summary(max_lines=1).replace(sample_path(), "sample.parquet"))
        sample.parquet: 6 problems in 4 rows (nan: 3, ohlc_low: 3); first: symbol=IP ts=2014-07-01 row=9163
        column=low: low 50.57 > min(open, close) 50.09 [rule ohlc_low]
        sample.parquet: symbol=IP ts=2014-07-01 row=9163 column=low: low 50.57 > min(open, close) 50.09
        [rule ohlc_low]
        ... and 5 more issues (report.to_frame() lists them all)
    """

    source: str
    issues: tuple[BarIssue, ...] = ()
    n_rows: int = 0
    policy: str = ""
    _counts: dict[str, int] = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        counts = Counter(i.rule for i in self.issues)
        self._counts.update({r: counts[r] for r in RULES if counts[r]})

    @property
    def ok(self) -> bool:
        """True when there is no error-severity issue (warnings such as gaps are allowed)."""
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> tuple[BarIssue, ...]:
        """The error-severity issues."""
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[BarIssue, ...]:
        """The warning-severity issues (gaps)."""
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def counts(self) -> dict[str, int]:
        """Number of issues per rule, in :data:`RULES` order, rules with no issue left out."""
        return dict(self._counts)

    @property
    def rows(self) -> tuple[int, ...]:
        """Sorted distinct input rows with at least one error."""
        return tuple(sorted({i.row for i in self.issues if i.severity == "error"}))

    @property
    def headline(self) -> str:
        """One line: ``<source>: 39 problems in 23 rows (nan: 27, ...); first: <first issue>``."""
        errors = self.errors
        warnings = self.warnings
        err_counts = ", ".join(f"{r}: {n}" for r, n in self._counts.items() if r in ERROR_RULES)
        warn_counts = ", ".join(f"{r}: {n}" for r, n in self._counts.items() if r in WARNING_RULES)
        if errors:
            text = f"{self.source}: {len(errors)} problems in {len(self.rows)} rows ({err_counts})"
        else:
            text = f"{self.source}: no problems in {self.n_rows} rows"
        if warnings:
            text += f" and {len(warnings)} warnings ({warn_counts})"
        first = errors[0] if errors else (warnings[0] if warnings else None)
        if first is not None:
            text += f"; first: {first.line(with_source=False)}"
        return text

    def summary(self, max_lines: int = 20) -> str:
        """The headline, then one line per issue (at most ``max_lines``), then how many were left out."""
        lines = [self.headline]
        lines += [i.line() for i in self.issues[:max_lines]]
        if len(self.issues) > max_lines:
            lines.append(
                f"... and {len(self.issues) - max_lines} more issues (report.to_frame() lists them all)"
            )
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """All issues as a DataFrame (one row per issue; columns are the :class:`BarIssue` fields)."""
        cols = ["source", "symbol", "row", "ts", "column", "rule", "value", "message", "severity", "action"]
        data = {c: [getattr(i, c) for i in self.issues] for c in cols}
        frame = pd.DataFrame(data, columns=cols)
        frame["row"] = frame["row"].astype(np.int64)
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
        return frame

    def __repr__(self) -> str:
        return (
            f"ValidationReport(source={self.source!r}, rows={self.n_rows}, errors={len(self.errors)}, "
            f"warnings={len(self.warnings)}, counts={self._counts}"
            f"{', policy=' + repr(self.policy) if self.policy else ''})"
        )


# ------------------------------------------------------------------------------------------------ the checks


@dataclass(slots=True)
class _Findings:
    """Row positions breaking each rule (arrays of input positions), plus what is needed to describe them."""

    n: int
    order: np.ndarray  # input positions sorted by (symbol, ts), stable
    ts: np.ndarray  # int64 ns, _NAT for missing
    codes: np.ndarray  # symbol codes (sorted order), -1 for missing
    values: dict[str, np.ndarray]
    nan: dict[str, np.ndarray]  # column -> rows (ts, symbol, open..volume)
    unsorted: np.ndarray
    unsorted_prev: np.ndarray
    dup: np.ndarray
    dup_kept: np.ndarray
    non_positive: dict[str, np.ndarray]
    negative_volume: np.ndarray
    ohlc_high: np.ndarray
    ohlc_low: np.ndarray
    high_lt_low: np.ndarray
    gap: np.ndarray
    gap_prev: np.ndarray
    gap_text: list[str]

    def bad_rows(self) -> np.ndarray:
        """Rows with an error that sorting cannot fix (everything but ``unsorted``)."""
        parts = [*self.nan.values(), *self.non_positive.values(), self.negative_volume, self.dup]
        parts += [self.ohlc_high, self.ohlc_low, self.high_lt_low]
        return np.unique(np.concatenate(parts))


def _find(bars: pd.DataFrame, interval: Any) -> _Findings:
    n = len(bars)
    ts = ts_to_ns(bars["ts"])
    codes_raw, _ = pd.factorize(bars["symbol"], sort=True)
    codes = np.asarray(codes_raw, dtype=np.int64)
    values = {c: bars[c].to_numpy(dtype=np.float64) for c in VALUE_COLUMNS}
    rows = np.arange(n, dtype=np.int64)

    nan: dict[str, np.ndarray] = {}
    if (ts == _NAT).any():
        nan["ts"] = rows[ts == _NAT]
    if (codes < 0).any():
        nan["symbol"] = rows[codes < 0]
    for c in VALUE_COLUMNS:
        bad = ~np.isfinite(values[c])
        if bad.any():
            nan[c] = rows[bad]

    # Order within each symbol as given (stable sort on the symbol code only): a row earlier than its
    # predecessor of the same symbol is unsorted.
    by_sym = np.argsort(codes, kind="stable")
    valid_sym = by_sym[(codes[by_sym] >= 0) & (ts[by_sym] != _NAT)]
    same = codes[valid_sym[1:]] == codes[valid_sym[:-1]]
    earlier = same & (ts[valid_sym[1:]] < ts[valid_sym[:-1]])
    unsorted = valid_sym[1:][earlier]
    unsorted_prev = valid_sym[:-1][earlier]

    # Sorted by (symbol, ts), stable, so equal keys keep input order and the last of a run is the one kept.
    order = np.lexsort((ts, codes))
    ok_key = (codes[order] >= 0) & (ts[order] != _NAT)
    sorted_ok = order[ok_key]
    same_next = (codes[sorted_ok[1:]] == codes[sorted_ok[:-1]]) & (ts[sorted_ok[1:]] == ts[sorted_ok[:-1]])
    dup_pos = np.flatnonzero(same_next)
    run_ends = np.flatnonzero(~np.append(same_next, False))
    dup = sorted_ok[dup_pos]
    dup_kept = sorted_ok[run_ends[np.searchsorted(run_ends, dup_pos)]]

    non_positive: dict[str, np.ndarray] = {}
    for c in PRICE_COLUMNS:
        bad = values[c] <= 0
        if bad.any():
            non_positive[c] = rows[bad]
    negative_volume = rows[values["volume"] < 0]

    o, h, lo, c_ = values["open"], values["high"], values["low"], values["close"]
    with np.errstate(invalid="ignore"):
        top = np.fmax(o, c_)
        bottom = np.fmin(o, c_)
        ohlc_high = rows[h < top]
        ohlc_low = rows[lo > bottom]
        high_lt_low = rows[h < lo]

    gap, gap_prev, gap_text = _find_gaps(ts, codes, sorted_ok, same_next, interval)
    return _Findings(
        n=n,
        order=order,
        ts=ts,
        codes=codes,
        values=values,
        nan=nan,
        unsorted=unsorted,
        unsorted_prev=unsorted_prev,
        dup=dup,
        dup_kept=dup_kept,
        non_positive=non_positive,
        negative_volume=negative_volume,
        ohlc_high=ohlc_high,
        ohlc_low=ohlc_low,
        high_lt_low=high_lt_low,
        gap=gap,
        gap_prev=gap_prev,
        gap_text=gap_text,
    )


def _find_gaps(
    ts: np.ndarray, codes: np.ndarray, sorted_ok: np.ndarray, same_next: np.ndarray, interval: Any
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Gaps between consecutive distinct timestamps of each symbol (the rule: see :func:`validate_bars`)."""
    empty = np.empty(0, np.int64)
    uniq = sorted_ok[~np.append(same_next, False)]  # last row of each (symbol, ts) run
    if uniq.size < 2:
        return empty, empty, []
    cur, prev = uniq[1:], uniq[:-1]
    pair = codes[cur] == codes[prev]
    cur, prev = cur[pair], prev[pair]
    if cur.size == 0:
        return empty, empty, []
    diff = ts[cur] - ts[prev]
    pair_code = codes[cur]
    if interval is not None:
        iv_ns = np.full(cur.size, to_timedelta(interval).value, dtype=np.int64)
    else:
        med = pd.Series(diff).groupby(pair_code).median()
        iv_ns = med.reindex(pair_code).to_numpy(dtype=np.float64).astype(np.int64)
    weekmask = trading_weekdays(ts[uniq].view("datetime64[ns]"))
    all_week = bool(weekmask.all())

    day_ns = _DAY.value
    intraday = iv_ns < day_ns
    daily = (iv_ns >= day_ns) & (iv_ns < 6 * day_ns)
    periodic = iv_ns >= 6 * day_ns
    prev_day = np.floor_divide(ts[prev], day_ns).astype("datetime64[D]")
    cur_day = np.floor_divide(ts[cur], day_ns).astype("datetime64[D]")
    if all_week:
        busdays_missing = np.zeros(cur.size, dtype=np.int64)
        by_busday = np.zeros(cur.size, dtype=bool)
    else:
        busdays_missing = np.busday_count(prev_day + np.timedelta64(1, "D"), cur_day, weekmask=weekmask)
        # daily bars, and intraday bars across a session (date) boundary, are judged in business days on the
        # market's own trading weekdays
        by_busday = daily | (intraday & (prev_day != cur_day))
    flagged = np.where(
        by_busday,
        busdays_missing > _MAX_BUSDAYS_MISSING,
        np.where(periodic, diff > 1.5 * iv_ns, diff > iv_ns),
    )
    idx = np.flatnonzero(flagged)
    texts: list[str] = []
    for k in idx:
        d = pd.Timedelta(int(diff[k]), unit="ns")
        iv = pd.Timedelta(int(iv_ns[k]), unit="ns")
        prev_ts = pd.Timestamp(int(ts[prev[k]]), unit="ns", tz="UTC")
        if by_busday[k]:
            detail = f"{int(busdays_missing[k])} missing business days, more than {_MAX_BUSDAYS_MISSING}"
        else:
            missing = max(1, round(d / iv) - 1)
            plural = "s" if missing != 1 else ""
            detail = f"{missing} missing bar{plural} at interval {_fmt_td(iv)}, first {_fmt_ts(prev_ts + iv)}"
        texts.append(f"gap of {_fmt_td(d)} since the previous bar at {_fmt_ts(prev_ts)} ({detail})")
    return cur[idx], prev[idx], texts


def _issues(f: _Findings, bars: pd.DataFrame, source: str) -> tuple[BarIssue, ...]:
    """Build the issue objects (only for flagged rows)."""
    sym = bars["symbol"]
    out: list[tuple[int, int, int, BarIssue]] = []
    col_rank = {c: i for i, c in enumerate(("ts", "symbol", *VALUE_COLUMNS))}

    def ts_at(r: int) -> pd.Timestamp | None:
        v = int(f.ts[r])
        return None if v == _NAT else pd.Timestamp(v, unit="ns", tz="UTC")

    def sym_at(r: int) -> str | None:
        v = sym.iat[r]
        return None if f.codes[r] < 0 else str(v)

    def add(rule: str, r: int, column: str, value: Any, message: str, severity: Severity = "error") -> None:
        issue = BarIssue(
            source=source,
            symbol=sym_at(r),
            row=int(r),
            ts=ts_at(r),
            column=column,
            rule=rule,
            value=value,
            message=message,
            severity=severity,
        )
        out.append((int(r), _RULE_ORDER[rule], col_rank.get(column, 99), issue))

    for r, p in zip(f.unsorted.tolist(), f.unsorted_prev.tolist(), strict=True):
        add(
            "unsorted",
            r,
            "ts",
            ts_at(r),
            f"ts {_fmt_ts(ts_at(r))} is earlier than the previous bar of this symbol "
            f"(row {p}, ts {_fmt_ts(ts_at(p))})",
        )
    for r, k in zip(f.dup.tolist(), f.dup_kept.tolist(), strict=True):
        add("duplicate_ts", r, "ts", ts_at(r), f"ts {_fmt_ts(ts_at(r))} appears again at row {k}")
    for col, rows in f.nan.items():
        for r in rows.tolist():
            if col == "ts":
                add("nan", r, col, None, "ts is missing (NaT)")
            elif col == "symbol":
                add("nan", r, col, None, "symbol is missing")
            else:
                v = float(f.values[col][r])
                add("nan", r, col, v, f"{col} is {'NaN' if v != v else _fmt_num(v)}")
    for col, rows in f.non_positive.items():
        for r in rows.tolist():
            v = float(f.values[col][r])
            add("non_positive_price", r, col, v, f"{col} {_fmt_num(v)} <= 0")
    for r in f.negative_volume.tolist():
        v = float(f.values["volume"][r])
        add("negative_volume", r, "volume", v, f"volume {_fmt_num(v)} < 0")
    o, h, lo, c = (f.values[k] for k in PRICE_COLUMNS)
    for r in f.ohlc_high.tolist():
        m = float(np.fmax(o[r], c[r]))
        add("ohlc_high", r, "high", float(h[r]), f"high {_fmt_num(h[r])} < max(open, close) {_fmt_num(m)}")
    for r in f.ohlc_low.tolist():
        m = float(np.fmin(o[r], c[r]))
        add("ohlc_low", r, "low", float(lo[r]), f"low {_fmt_num(lo[r])} > min(open, close) {_fmt_num(m)}")
    for r in f.high_lt_low.tolist():
        add("high_lt_low", r, "high", float(h[r]), f"high {_fmt_num(h[r])} < low {_fmt_num(lo[r])}")
    for r, text in zip(f.gap.tolist(), f.gap_text, strict=True):
        add("gap", r, "ts", ts_at(r), text, "warning")
    out.sort(key=lambda t: t[:3])
    return tuple(t[3] for t in out)


def _prepare(df: pd.DataFrame, source: str) -> pd.DataFrame:
    bars = normalize_bars(df, source=source)
    if len(bars) == 0:
        raise DataError(f"{source}: no rows to validate")
    return bars


def validate_bars(df: pd.DataFrame, *, source: str = "<DataFrame>", interval: Any = None) -> ValidationReport:
    """Check bars against every rule and report each problem with file, symbol, row, ts and column.

    Errors: ``unsorted`` (a timestamp earlier than the symbol's previous row), ``duplicate_ts`` (reported on
    each occurrence but the last, which ``drop``/``repair`` keep), ``nan`` (NaN or infinite OHLCV, missing ts
    or symbol), ``non_positive_price`` (open/high/low/close <= 0), ``negative_volume``, ``ohlc_high`` (high <
    max(open, close)), ``ohlc_low`` (low > min(open, close)), ``high_lt_low``.

    Warning: ``gap``, a step between consecutive bars of a symbol larger than the bar interval. The interval
    is ``interval`` or each symbol's median step. The market's trading weekdays are inferred from the whole
    frame (:func:`~quantray.data._calendar.trading_weekdays`: Monday-Friday for equities, every day for
    crypto). Unless it trades every day, daily bars (interval 1-5 days) are judged in business days on those
    weekdays: a gap is more than 3 missing business days, so exchange holidays are not flagged. Intraday bars:
    any missing bar (step > interval); unless the market trades every day, steps across dates are judged as
    daily bars (the overnight close is not a gap). Markets trading every day: any missing bar. Weekly and
    longer bars: a step > 1.5 intervals.

    Args:
        df: bars (aliases accepted, as in :func:`~quantray.data.read_bars`).
        source: name used in every issue (the file or URL).
        interval: bar interval for the gap rule (``"1h"``, ``pd.Timedelta``); inferred per symbol when None.

    Returns:
        A :class:`ValidationReport` (``report.ok`` is False when there is any error).

    Example:
        >>> bars = pd.DataFrame({"ts": ["2024-01-02", "2024-01-03"], "symbol": "X",
        ...                      "open": [10.0, 11.0], "high": [10.5, 10.0], "low": [9.5, 10.2],
        ...                      "close": [10.2, 10.4], "volume": 1e3})
        >>> report = validate_bars(bars)
        >>> report.ok, report.counts
        (False, {'ohlc_high': 1, 'high_lt_low': 1})
        >>> print(report.errors[0])
        <DataFrame>: symbol=X ts=2024-01-03 row=1 column=high: high 10 < max(open, close) 11 [rule ohlc_high]
    """
    bars = _prepare(df, source)
    findings = _find(bars, interval)
    return ValidationReport(source=source, issues=_issues(findings, bars, source), n_rows=len(bars))


def _check_policy(on_bad: object) -> str:
    if on_bad not in ON_BAD:
        raise ConfigError(f"unknown on_bad policy {on_bad!r}; valid: {', '.join(map(repr, ON_BAD))}")
    return str(on_bad)


def clean_bars(
    df: pd.DataFrame, *, on_bad: str = "raise", source: str = "<DataFrame>", interval: Any = None
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate bars and apply an explicit policy to the rows that break a rule.

    Policies:

    * ``"raise"``: any error raises :class:`~quantray.errors.DataValidationError` with a one-line headline and
      ``.report`` set; otherwise the bars are returned sorted.
    * ``"drop"``: sort by (symbol, ts); of rows with the same timestamp keep the last; drop every other row
      with an error (NaN, non-positive price, negative volume, inconsistent OHLC, missing ts or symbol).
    * ``"repair"``: sort; of duplicate timestamps keep the last; a NaN open becomes the previous close of that
      symbol (the bar's close for its first bar); a NaN high/low becomes the max/min of the bar's available
      prices; then high = max(o, h, l, c) and low = min(o, h, l, c); a NaN volume becomes 0. Rows with a NaN
      close, a non-positive price, a negative volume or a missing ts/symbol cannot be repaired and are
      dropped.

    Gaps are never filled (warnings only). The returned report always describes the problems of the *input*
    (rows are input positions) and each issue's ``action`` says what was done about it.

    Args:
        df: bars (aliases accepted).
        on_bad: ``"raise"``, ``"drop"`` or ``"repair"``.
        source: name used in the report (file or URL).
        interval: bar interval for the gap rule (inferred when None).

    Returns:
        ``(bars, report)``: long bars with exactly ``BAR_COLUMNS``, sorted by (symbol, ts), RangeIndex.

    Raises:
        ConfigError: unknown policy.
        DataValidationError: ``on_bad="raise"`` and an error was found.
        DataError: no row is left after ``drop``/``repair``.

    Example:
        >>> fixed, report = clean_bars(bars, on_bad="repair")  # doctest: +SKIP
        >>> validate_bars(fixed).ok  # doctest: +SKIP
        True
    """
    policy = _check_policy(on_bad)
    bars = _prepare(df, source)
    f = _find(bars, interval)

    if policy == "raise":
        report = ValidationReport(source=source, issues=_issues(f, bars, source), n_rows=f.n, policy=policy)
        if not report.ok:
            raise DataValidationError(report.headline, report=report)
        out = _take(bars, f.order)
        return out, report

    keep = np.ones(f.n, dtype=bool)
    keep[f.dup] = False
    from_prev: set[int] = set()
    if policy == "drop":
        keep[f.bad_rows()] = False
        out = _take(bars, f.order[keep[f.order]])
    else:
        out, from_prev = _repair(bars, f, keep)
    issues = tuple(
        replace(i, action=_action(i, policy, bool(keep[i.row]), i.row in from_prev))
        for i in _issues(f, bars, source)
    )
    report = ValidationReport(source=source, issues=issues, n_rows=f.n, policy=policy)
    if len(out) == 0:
        raise DataError(f"{source}: no valid bars left after on_bad={policy!r}; {report.headline}")
    return out, report


_UNREPAIRABLE = {
    ("nan", "close"): "row dropped: a missing close cannot be repaired",
    ("nan", "ts"): "row dropped: a missing ts cannot be repaired",
    ("nan", "symbol"): "row dropped: a missing symbol cannot be repaired",
    ("non_positive_price", "*"): "row dropped: a non-positive price cannot be repaired",
    ("negative_volume", "*"): "row dropped: a negative volume cannot be repaired",
}
_REPAIRED = {
    ("nan", "high"): "set to max(open, high, low, close)",
    ("nan", "low"): "set to min(open, high, low, close)",
    ("nan", "volume"): "set to 0",
    ("ohlc_high", "*"): "high set to max(open, high, low, close)",
    ("ohlc_low", "*"): "low set to min(open, high, low, close)",
    ("high_lt_low", "*"): "high/low set to max/min(open, high, low, close)",
}


def _action(issue: BarIssue, policy: str, kept: bool, open_from_prev: bool) -> str:
    """What ``clean_bars`` did about one issue."""
    if issue.rule == "gap":
        return "kept (gaps are never filled)"
    if issue.rule == "duplicate_ts":
        return "row dropped (the last duplicate is kept)"
    if issue.rule == "unsorted" and kept:
        return "sorted"
    if not kept:
        if policy == "repair":
            key = (issue.rule, issue.column)
            return _UNREPAIRABLE.get(key, _UNREPAIRABLE.get((issue.rule, "*"), "row dropped"))
        return "row dropped"
    if (issue.rule, issue.column) == ("nan", "open"):
        return "set to the previous close" if open_from_prev else "set to the close (first bar of the symbol)"
    return _REPAIRED.get((issue.rule, issue.column), _REPAIRED.get((issue.rule, "*"), "repaired"))


def _take(bars: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    return bars.take(rows).reset_index(drop=True)


def _repair(bars: pd.DataFrame, f: _Findings, keep: np.ndarray) -> tuple[pd.DataFrame, set[int]]:
    """Repair in place of ``keep`` (rows that cannot be repaired are set False); returns the bars and the rows
    whose NaN open was set from the previous close."""
    v = f.values
    unfixable = np.zeros(f.n, dtype=bool)
    unfixable |= ~np.isfinite(v["close"])
    for rows in f.non_positive.values():
        unfixable[rows] = True
    unfixable[f.negative_volume] = True
    unfixable |= f.codes < 0
    unfixable |= f.ts == _NAT
    keep &= ~unfixable

    rows = f.order[keep[f.order]]  # sorted, deduplicated, fixable
    o = v["open"][rows].copy()
    h = v["high"][rows].copy()
    lo = v["low"][rows].copy()
    c = v["close"][rows]
    vol = v["volume"][rows].copy()
    for a in (o, h, lo, vol):
        a[~np.isfinite(a)] = np.nan
    codes = f.codes[rows]
    first_of_sym = np.ones(rows.size, dtype=bool)
    first_of_sym[1:] = codes[1:] != codes[:-1]
    prev_close = np.empty_like(c)
    prev_close[:1] = np.nan
    prev_close[1:] = c[:-1]
    prev_close[first_of_sym] = np.nan
    open_nan = np.isnan(o)
    o = np.where(open_nan, np.where(np.isnan(prev_close), c, prev_close), o)
    stack = np.vstack([o, h, lo, c])
    with np.errstate(invalid="ignore"):
        h = np.nanmax(stack, axis=0)
        lo = np.nanmin(stack, axis=0)
    vol = np.where(np.isnan(vol), 0.0, vol)
    out = pd.DataFrame(
        {
            "ts": bars["ts"].take(rows).reset_index(drop=True),
            "symbol": bars["symbol"].take(rows).reset_index(drop=True),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": vol,
        }
    )
    return out, set(rows[open_nan & ~np.isnan(prev_close)].tolist())
