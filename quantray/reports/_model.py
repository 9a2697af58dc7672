"""The quarterly portfolio report as data: rows per symbol, portfolio metrics, benchmark comparison.

A :class:`QuarterlyReport` is built only from real sweep / walk-forward results (see
:func:`quantray.reports.build_quarterly_report`); this module holds the immutable model, its JSON form
(``to_dict`` / ``from_dict``), the ranking of top performers and the loaders of stored reports.

Storage layout (local path or ``s3://``)::

    {root}/reports/{portfolio}/{YYYY}/Q{n}/report.json        the manifest (written last, atomically)
    {root}/reports/{portfolio}/{YYYY}/Q{n}/equity-{id}.parquet equity curves referenced by the manifest

Example:
    >>> row = ReportRow(symbol="AAPL", strategy="sma_cross", params={"fast": 10, "slow": 50},
    ...                 timeframe="1d", metrics={"sharpe": 1.2, "total_return": 0.05})
    >>> row.metric("sharpe")
    1.2
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from quantray.errors import ConfigError, DataError, ParameterError

__all__ = [
    "LOWER_IS_BETTER",
    "REPORT_METRICS",
    "SCHEMA_VERSION",
    "QuarterlyReport",
    "ReportNotFoundError",
    "ReportRow",
    "list_reports",
    "load_latest_report",
    "load_report",
    "parse_quarter",
    "quarter_bounds",
    "report_dir",
]

#: Version of the JSON form written by :meth:`QuarterlyReport.to_dict`.
SCHEMA_VERSION = 1

#: The per-row metric names (DESIGN.md §3 results schema).
REPORT_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "num_trades",
    "win_rate",
    "profit_factor",
    "exposure",
    "final_equity",
)

#: Metrics where a smaller value is better: ranked ascending by :meth:`QuarterlyReport.get_top_performers`.
LOWER_IS_BETTER: frozenset[str] = frozenset({"max_drawdown", "volatility", "max_drawdown_duration"})

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")


class ReportNotFoundError(DataError):
    """No stored report where one was expected (names the location searched)."""


def parse_quarter(text: str) -> tuple[int, int]:
    """``"2017Q4"`` (also ``"2017-Q4"``, ``"2017q4"``) -> ``(2017, 4)``.

    Example:
        >>> parse_quarter("2017Q4")
        (2017, 4)
    """
    m = _QUARTER.match(str(text))
    if not m:
        raise ConfigError(f"quarter: expected YYYYQn such as 2017Q4, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def quarter_bounds(year: int, quarter: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Half-open UTC bounds ``[start, end)`` of a calendar quarter.

    Example:
        >>> [str(t.date()) for t in quarter_bounds(2017, 4)]
        ['2017-10-01', '2018-01-01']
    """
    if quarter not in (1, 2, 3, 4):
        raise ConfigError(f"quarter: must be 1..4, got {quarter!r}")
    start = pd.Timestamp(year=year, month=3 * (quarter - 1) + 1, day=1, tz="UTC")
    return start, start + pd.DateOffset(months=3)


def report_dir(root: str, portfolio: str, year: int, quarter: int) -> str:
    """``{root}/reports/{portfolio}/{YYYY}/Q{n}`` (root may be a local path or an ``s3://`` URL)."""
    return f"{str(root).rstrip('/')}/reports/{portfolio}/{year:04d}/Q{quarter}"


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def _json_num(x: Any) -> Any:
    """Floats as JSON numbers, NaN/inf as None (JSON has no NaN)."""
    if isinstance(x, bool) or x is None:
        return x
    if hasattr(x, "item") and not isinstance(x, str | bytes):
        x = x.item()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {str(k): _json_num(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_num(v) for v in x]
    return x


def _metrics_from(d: Mapping[str, Any] | None) -> dict[str, float]:
    return {str(k): (math.nan if v is None else _num(v)) for k, v in (d or {}).items()}


def _param(v: Any) -> int | float:
    if isinstance(v, bool):
        raise ConfigError(f"parameter value must be a number, got {v!r}")
    f = float(v)
    return int(f) if isinstance(v, int) or (f.is_integer() and not isinstance(v, float)) else f


@dataclass(frozen=True, kw_only=True)
class ReportRow:
    """One symbol of a quarterly report: its chosen strategy and how it did.

    Attributes:
        symbol: the ticker.
        strategy: the registered strategy chosen for the quarter.
        params: its parameters (chosen on the selection window, never on the quarter itself).
        timeframe: bar interval, e.g. ``"1d"`` or ``"1h"``.
        metrics: out-of-sample metrics over the report quarter (DESIGN.md results names: total_return, cagr,
            sharpe, sortino, calmar, max_drawdown, volatility, num_trades, win_rate, profit_factor, exposure,
            final_equity), computed from the stored equity curve.
        exchange: the exchange prefix for TradingView (``NASDAQ``, ``NYSE``, ``BINANCE``), if known.
        sector: GICS sector (or another grouping), if known.
        selection_metrics: the in-sample metrics of the chosen parameters on the selection window.
        selection_start, selection_end: the selection (training) window, ``[start, end)``, ISO dates.
        n_candidates: how many (strategy, parameter set) candidates were compared for this symbol.
        weight: the symbol's weight in the portfolio (equal weight unless the portfolio says otherwise).
        buy_hold: buy-and-hold metrics of the symbol over the quarter (a passive reference).
        n_bars: bars in the quarter.
    """

    symbol: str
    strategy: str
    params: dict[str, int | float]
    timeframe: str
    metrics: dict[str, float]
    exchange: str | None = None
    sector: str | None = None
    selection_metrics: dict[str, float] = field(default_factory=dict)
    selection_start: str | None = None
    selection_end: str | None = None
    n_candidates: int = 0
    weight: float = math.nan
    buy_hold: dict[str, float] = field(default_factory=dict)
    n_bars: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ConfigError(f"ReportRow.symbol: expected a non-empty string, got {self.symbol!r}")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ConfigError(f"ReportRow.strategy ({self.symbol}): expected a name, got {self.strategy!r}")

    def metric(self, name: str) -> float:
        """A metric by name (NaN when absent)."""
        return _num(self.metrics.get(name, math.nan))

    @property
    def tv_symbol(self) -> str:
        """``EXCHANGE:SYMBOL`` as TradingView writes it (just ``SYMBOL`` when the exchange is unknown)."""
        return f"{self.exchange}:{self.symbol}" if self.exchange else self.symbol

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as None)."""
        return {f.name: _json_num(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReportRow:
        """Inverse of :meth:`to_dict`; unknown keys are rejected with the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"ReportRow: unknown key(s) {unknown}; valid keys: {valid}")
        kw = dict(d)
        kw["params"] = {str(k): _param(v) for k, v in (d.get("params") or {}).items()}
        for key in ("metrics", "selection_metrics", "buy_hold"):
            kw[key] = _metrics_from(d.get(key))
        if "weight" in kw:
            kw["weight"] = math.nan if kw["weight"] is None else float(kw["weight"])
        return cls(**kw)


def _ts(x: Any) -> datetime:
    if isinstance(x, datetime):
        return x if x.tzinfo else x.replace(tzinfo=UTC)
    try:
        t = pd.Timestamp(x)
    except (TypeError, ValueError):
        raise ConfigError(f"generated_at: expected an ISO timestamp, got {x!r}") from None
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.to_pydatetime()


@dataclass(frozen=True, kw_only=True)
class QuarterlyReport:
    """A portfolio's quarterly report: per-symbol best strategies, portfolio metrics, benchmark comparison.

    Attributes:
        portfolio: the portfolio name (``quantray portfolios list``).
        year, quarter: the report quarter (``quarter`` in 1..4).
        generated_at: when it was built (UTC); among reports of one portfolio and quarter the newest wins.
        rows: one :class:`ReportRow` per symbol with data in the quarter.
        portfolio_metrics: metrics of the portfolio's equity curve over the quarter (same names as the rows).
        benchmark: ``{"name", "source", "metrics": {...}, "relative": {...}}``; ``relative`` holds the
            benchmark-relative figures (alpha, beta, tracking_error, information_ratio, up_capture,
            down_capture, excess_return).
        data: the bars URL used.
        execution: the execution and cost settings (ExecutionConfig keys).
        start, end: the quarter's bounds ``[start, end)`` as ISO dates.
        timeframe: bar interval of the data.
        periods_per_year: annualisation factor of the metrics.
        selection: how each symbol's strategy was chosen (method, metric, train window, strategies).
        attribution: output of :mod:`quantray.portfolio` attribution when available (else empty).
        notes: human-readable remarks (e.g. symbols dropped for lack of data).
        equity: the quarter's equity curves (index ``ts`` UTC; one column per symbol, plus ``portfolio`` and
            ``benchmark``), stored as Parquet next to the manifest. Not part of :meth:`to_dict`.
    """

    portfolio: str
    year: int
    quarter: int
    generated_at: datetime
    rows: tuple[ReportRow, ...]
    portfolio_metrics: dict[str, float] = field(default_factory=dict)
    benchmark: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    execution: dict[str, Any] = field(default_factory=dict)
    start: str = ""
    end: str = ""
    timeframe: str = "1d"
    periods_per_year: float = 252.0
    selection: dict[str, Any] = field(default_factory=dict)
    attribution: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    title: str = ""
    equity: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.portfolio, str) or not self.portfolio:
            raise ConfigError(f"QuarterlyReport.portfolio: expected a name, got {self.portfolio!r}")
        if self.quarter not in (1, 2, 3, 4):
            raise ConfigError(f"QuarterlyReport.quarter: must be 1..4, got {self.quarter!r}")
        object.__setattr__(self, "generated_at", _ts(self.generated_at))
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "notes", tuple(self.notes))
        if not self.start or not self.end:
            s, e = quarter_bounds(self.year, self.quarter)
            object.__setattr__(self, "start", self.start or str(s.date()))
            object.__setattr__(self, "end", self.end or str(e.date()))

    # ------------------------------------------------------------------ views
    @property
    def label(self) -> str:
        """``"2017Q4"``."""
        return f"{self.year}Q{self.quarter}"

    @property
    def symbols(self) -> list[str]:
        """Symbols in row order."""
        return [r.symbol for r in self.rows]

    def row(self, symbol: str) -> ReportRow:
        """The row of ``symbol`` (a clear error listing the symbols when absent)."""
        for r in self.rows:
            if r.symbol == symbol:
                return r
        raise ParameterError(
            f"symbol {symbol!r} is not in report {self.portfolio} {self.label}; has {self.symbols}"
        )

    def get_top_performers(self, n: int = 10, metric: str = "sharpe") -> list[ReportRow]:
        """The ``n`` best rows by ``metric``.

        Order: best first — descending, except for metrics where lower is better (``max_drawdown``,
        ``volatility``: ascending). Ties (and equal values) are broken by higher quarter ``total_return``, then
        by symbol alphabetically, so the order is total and deterministic. Rows whose metric is NaN come last.

        Args:
            n: how many rows (``n >= 1``; fewer are returned when the report has fewer rows).
            metric: a row metric name (see :data:`REPORT_METRICS`).

        Example:
            >>> rows = (ReportRow(symbol="A", strategy="s", params={}, timeframe="1d",
            ...                   metrics={"sharpe": 1.0, "total_return": 0.1}),
            ...         ReportRow(symbol="B", strategy="s", params={}, timeframe="1d",
            ...                   metrics={"sharpe": 2.0, "total_return": 0.1}))
            >>> rep = QuarterlyReport(portfolio="p", year=2017, quarter=4, generated_at="2018-01-02", rows=rows)
            >>> [r.symbol for r in rep.get_top_performers(1)]
            ['B']
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ParameterError(f"n: must be a positive integer, got {n!r}")
        known = set(REPORT_METRICS) | {k for r in self.rows for k in r.metrics}
        if metric not in known:
            raise ParameterError(f"unknown metric {metric!r}; valid: {sorted(known)}")
        sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

        def key(r: ReportRow) -> tuple[int, float, float, str]:
            v = r.metric(metric)
            tr = r.metric("total_return")
            return (
                1 if math.isnan(v) else 0,
                0.0 if math.isnan(v) else sign * v,
                math.inf if math.isnan(tr) else -tr,
                r.symbol,
            )

        return sorted(self.rows, key=key)[:n]

    def rows_frame(self) -> pd.DataFrame:
        """Rows as a DataFrame: symbol, sector, exchange, strategy, params (as text), then the metrics."""
        recs = []
        for r in self.rows:
            rec: dict[str, Any] = {
                "symbol": r.symbol,
                "sector": r.sector,
                "exchange": r.exchange,
                "strategy": r.strategy,
                "params": ", ".join(f"{k}={v}" for k, v in r.params.items()),
                "timeframe": r.timeframe,
                "weight": r.weight,
            }
            for m in REPORT_METRICS:
                rec[m] = r.metric(m)
            rec["bh_total_return"] = _num(r.buy_hold.get("total_return", math.nan))
            rec["selection_sharpe"] = _num(r.selection_metrics.get("sharpe", math.nan))
            recs.append(rec)
        return pd.DataFrame(recs)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready manifest (no equity curves; NaN as None)."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        for f in fields(self):
            if f.name == "equity":
                continue
            v = getattr(self, f.name)
            if f.name == "rows":
                out["rows"] = [r.to_dict() for r in v]
            elif f.name == "generated_at":
                out["generated_at"] = v.isoformat()
            elif f.name == "notes":
                out["notes"] = list(v)
            else:
                out[f.name] = _json_num(v)
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, equity: pd.DataFrame | None = None) -> QuarterlyReport:
        """Inverse of :meth:`to_dict`; unknown keys are rejected with the valid ones."""
        if not isinstance(d, Mapping):
            raise DataError(f"a report manifest must be a JSON object, got {type(d).__name__}")
        kw = {k: v for k, v in d.items() if k not in ("schema_version", "equity_file")}
        valid = [f.name for f in fields(cls) if f.name != "equity"]
        unknown = sorted(set(kw) - set(valid))
        if unknown:
            raise DataError(f"report manifest: unknown key(s) {unknown}; valid keys: {valid}")
        for req in ("portfolio", "year", "quarter", "generated_at", "rows"):
            if req not in kw:
                raise DataError(f"report manifest: missing required key `{req}`")
        kw["rows"] = tuple(ReportRow.from_dict(r) for r in kw["rows"])
        kw["portfolio_metrics"] = _metrics_from(kw.get("portfolio_metrics"))
        bm = dict(kw.get("benchmark") or {})
        for key in ("metrics", "relative"):
            if key in bm and isinstance(bm[key], Mapping):
                bm[key] = _metrics_from(bm[key])
        kw["benchmark"] = bm
        kw["notes"] = tuple(kw.get("notes") or ())
        kw["year"], kw["quarter"] = int(kw["year"]), int(kw["quarter"])
        return cls(**kw, equity=equity)

    def with_equity(self, equity: pd.DataFrame | None) -> QuarterlyReport:
        """A copy carrying ``equity``."""
        from dataclasses import replace

        return replace(self, equity=equity)


# ---------------------------------------------------------------------------------------------- loaders
def _fs(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    return fs, path


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def load_report(path_or_url: str, *, storage_options: Mapping[str, Any] | None = None) -> QuarterlyReport:
    """Load a stored report (its directory or its ``report.json``), with its equity curves.

    Example:
        >>> load_report("/nonexistent/reports/sample/2017/Q4")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        quantray.reports._model.ReportNotFoundError: no report at '/nonexistent/reports/sample/2017/Q4' ...
    """
    url = str(path_or_url)
    manifest = url if url.endswith(".json") else _join(url, "report.json")
    base = manifest.rsplit("/", 1)[0]
    fs, mpath = _fs(manifest, storage_options)
    try:
        with fs.open(mpath, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise ReportNotFoundError(f"no report at {url!r} (expected {manifest!r})") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read report manifest {manifest!r}: {exc}") from None
    equity = None
    eq_name = raw.get("equity_file") if isinstance(raw, dict) else None
    if eq_name:
        eq_url = _join(base, str(eq_name))
        efs, epath = _fs(eq_url, storage_options)
        try:
            with efs.open(epath, "rb") as f:
                equity = pd.read_parquet(f)
        except FileNotFoundError:
            raise DataError(f"report {manifest!r} names equity file {eq_name!r}, which is missing") from None
        if "ts" in equity.columns:
            equity = equity.set_index("ts")
    return QuarterlyReport.from_dict(raw, equity=equity)


def list_reports(
    root: str, portfolio: str, *, storage_options: Mapping[str, Any] | None = None
) -> list[tuple[int, int, str]]:
    """``(year, quarter, directory)`` of every stored report of ``portfolio`` under ``root``, oldest first."""
    base = f"{str(root).rstrip('/')}/reports/{portfolio}"
    fs, path = _fs(base, storage_options)
    found: list[tuple[int, int, str]] = []
    try:
        hits = fs.glob(f"{path.rstrip('/')}/*/Q*/report.json")
    except (OSError, FileNotFoundError):
        hits = []
    for h in hits:
        parts = str(h).rstrip("/").split("/")
        try:
            year, q = int(parts[-3]), int(parts[-2][1:])
        except (ValueError, IndexError):
            continue
        if q in (1, 2, 3, 4):
            found.append((year, q, report_dir(root, portfolio, year, q)))
    return sorted(found)


def load_latest_report(
    root: str, portfolio: str, *, storage_options: Mapping[str, Any] | None = None
) -> QuarterlyReport:
    """The newest quarter's stored report of ``portfolio`` under ``root`` (local path or ``s3://``).

    Raises:
        ReportNotFoundError: when ``{root}/reports/{portfolio}/`` holds no report.
    """
    found = list_reports(root, portfolio, storage_options=storage_options)
    if not found:
        raise ReportNotFoundError(
            f"no stored report for portfolio {portfolio!r} under {str(root).rstrip('/')}/reports/{portfolio}/ "
            "(build one with `quantray report quarterly --portfolio NAME --quarter YYYYQn --out ROOT`)"
        )
    return load_report(found[-1][2], storage_options=storage_options)
