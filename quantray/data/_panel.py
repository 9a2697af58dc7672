"""The aligned time × symbol panel of bars: the float64 arrays that engine kernels and Ray tasks consume."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from quantray.data._calendar import CALENDARS, infer_calendar, periods_per_year, sorted_unique, to_timedelta
from quantray.data._schema import (
    BAR_COLUMNS,
    VALUE_COLUMNS,
    coerce_ts,
    nearest_names,
    normalize_bars,
    ts_to_ns,
)
from quantray.data._validate import _fmt_td
from quantray.errors import ConfigError, DataError

__all__ = ["Panel"]

_NAT = np.iinfo(np.int64).min


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Panel:
    """Bars aligned on one time index: five (T, N) float64 arrays, NaN where a symbol has no bar.

    The arrays are C-contiguous and read-only (as they are after a trip through Ray's object store), so a
    panel can be shared by reference between tasks; use :meth:`arrays` for writable per-symbol copies.

    Attributes:
        index: sorted unique union of the bars' timestamps, ``datetime64[ns]`` (UTC), shape (T,).
        symbols: column names, shape (N,).
        open, high, low, close, volume: float64 arrays of shape (T, N).
        interval: the bar interval (median step of ``index``).
        calendar: ``"equities"``, ``"crypto"`` or ``"fx"`` (sets :attr:`periods_per_year`).

    Example:
        >>> from quantray.data import load_sample
        >>> panel = Panel.from_bars(load_sample())
        >>> panel.close.shape, panel.calendar, panel.periods_per_year
        ((1259, 20), 'equities', 252.0)
        >>> ts, o, h, l, c, v = panel.arrays("AAPL")
    """

    index: np.ndarray
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    interval: pd.Timedelta
    calendar: str

    def __post_init__(self) -> None:
        index = np.asarray(self.index)
        if index.dtype.kind != "M":
            raise DataError(f"Panel.index must be datetime64[ns], got {index.dtype}")
        index = index.astype("datetime64[ns]")
        if index.ndim != 1:
            raise DataError(f"Panel.index must be 1-D, got shape {index.shape}")
        if index.size > 1 and not (np.diff(index.view(np.int64)) > 0).all():
            raise DataError("Panel.index must be sorted and unique")
        symbols = tuple(str(s) for s in self.symbols)
        if len(set(symbols)) != len(symbols):
            dup = sorted({s for s in symbols if symbols.count(s) > 1})
            raise DataError(f"Panel.symbols must be unique; repeated: {', '.join(dup)}")
        shape = (index.size, len(symbols))
        object.__setattr__(self, "index", _readonly(np.ascontiguousarray(index)))
        object.__setattr__(self, "symbols", symbols)
        for name in VALUE_COLUMNS:
            arr = np.ascontiguousarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise DataError(f"Panel.{name} must have shape (T, N) = {shape}, got {arr.shape}")
            object.__setattr__(self, name, _readonly(arr))
        object.__setattr__(self, "interval", to_timedelta(self.interval))
        if self.calendar not in CALENDARS:
            raise ConfigError(f"unknown calendar {self.calendar!r}; valid: {', '.join(map(repr, CALENDARS))}")

    # ------------------------------------------------------------------------------------------ constructors

    @classmethod
    def from_bars(cls, df: pd.DataFrame, *, calendar: str = "auto") -> Panel:
        """Pivot long bars (one row per ts and symbol) to a panel.

        Args:
            df: valid bars, e.g. from :func:`~quantray.data.read_bars` (aliases accepted; row order free).
            calendar: ``"auto"`` (crypto when bars fall on Saturdays, else equities), ``"equities"``,
                ``"crypto"`` or ``"fx"``.

        Raises:
            DataError: no bars, a missing timestamp or symbol, or a repeated (symbol, ts); run the bars
                through :func:`~quantray.data.clean_bars` first.

        Example:
            >>> panel = Panel.from_bars(bars, calendar="crypto")  # doctest: +SKIP
        """
        bars = normalize_bars(df, source="<bars>")
        if len(bars) == 0:
            raise DataError("Panel.from_bars: no bars")
        ts = ts_to_ns(bars["ts"])
        if (ts == _NAT).any():
            raise DataError(
                "Panel.from_bars: missing timestamps (NaT); clean the bars with clean_bars() first"
            )
        codes, uniques = pd.factorize(bars["symbol"], sort=True)
        if (codes < 0).any():
            raise DataError("Panel.from_bars: missing symbols; clean the bars with clean_bars() first")
        index = sorted_unique(ts)
        rows = np.searchsorted(index, ts)
        cells = rows * len(uniques) + codes
        if sorted_unique(cells).size != cells.size:
            raise DataError(
                "Panel.from_bars: a symbol has two bars with the same ts; "
                "clean the bars with clean_bars() first"
            )
        shape = (index.size, len(uniques))
        arrays = {}
        for name in VALUE_COLUMNS:
            arr = np.full(shape, np.nan)
            arr[rows, codes] = bars[name].to_numpy(dtype=np.float64)
            arrays[name] = arr
        return cls(
            index=index.view("datetime64[ns]"),
            symbols=tuple(str(s) for s in uniques),
            interval=_interval(index),
            calendar=_calendar(index, calendar),
            **arrays,
        )

    @classmethod
    def from_frame(cls, close: pd.DataFrame, *, calendar: str = "auto") -> Panel:
        """A panel from a wide frame of closes (index: timestamps, columns: symbols).

        Open, high and low are set to the close and volume to 0 wherever the close is present (NaN elsewhere):
        enough for close-only strategies and metrics. Naive timestamps are taken as UTC.

        Example:
            >>> days = pd.bdate_range("2024-01-01", periods=2)
            >>> wide = pd.DataFrame({"A": [1.0, 1.1], "B": [2.0, None]}, index=days)
            >>> Panel.from_frame(wide, calendar="equities").n_symbols
            2
        """
        if not isinstance(close, pd.DataFrame):
            raise DataError(
                f"Panel.from_frame expects a wide DataFrame of closes, got {type(close).__name__}"
            )
        if close.shape[0] == 0 or close.shape[1] == 0:
            raise DataError(f"Panel.from_frame: empty frame of shape {close.shape}")
        try:
            idx = pd.DatetimeIndex(close.index)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Panel.from_frame: the index must hold timestamps: {exc}") from exc
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        frame = close.set_axis(idx, axis=0).sort_index()
        if frame.index.has_duplicates or frame.index.hasnans:
            raise DataError("Panel.from_frame: the index has duplicate or missing timestamps")
        frame = frame.reindex(sorted(frame.columns, key=str), axis=1)
        try:
            c = frame.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Panel.from_frame: closes must be numbers: {exc}") from exc
        index = np.asarray(pd.DatetimeIndex(frame.index).as_unit("ns").asi8, dtype=np.int64)
        vol = np.where(np.isnan(c), np.nan, 0.0)
        return cls(
            index=index.view("datetime64[ns]"),
            symbols=tuple(str(s) for s in frame.columns),
            open=c,
            high=c,
            low=c,
            close=c,
            volume=vol,
            interval=_interval(index),
            calendar=_calendar(index, calendar),
        )

    # ------------------------------------------------------------------------------------------ properties

    @property
    def n_bars(self) -> int:
        """Number of timestamps T."""
        return int(self.index.size)

    @property
    def n_symbols(self) -> int:
        """Number of symbols N."""
        return len(self.symbols)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index and the five arrays."""
        return int(self.index.nbytes + sum(getattr(self, n).nbytes for n in VALUE_COLUMNS))

    @property
    def periods_per_year(self) -> float:
        """Bars per year for this interval and calendar (see :func:`~quantray.data.periods_per_year`)."""
        return periods_per_year(self.interval, calendar=self.calendar)

    @property
    def start(self) -> pd.Timestamp:
        """First timestamp (UTC)."""
        return pd.Timestamp(int(self.index.view(np.int64)[0]), unit="ns", tz="UTC")

    @property
    def end(self) -> pd.Timestamp:
        """Last timestamp (UTC)."""
        return pd.Timestamp(int(self.index.view(np.int64)[-1]), unit="ns", tz="UTC")

    # ------------------------------------------------------------------------------------------ selection

    def column(self, symbol: str) -> int:
        """Column number of ``symbol``.

        Raises:
            DataError: unknown symbol; the message lists the nearest names.
        """
        try:
            return self.symbols.index(symbol)
        except ValueError:
            near = nearest_names(str(symbol), self.symbols, n=5)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            shown = ", ".join(self.symbols[:10]) + (", ..." if self.n_symbols > 10 else "")
            raise DataError(
                f"unknown symbol {symbol!r}{hint} (the panel has {self.n_symbols}: {shown})"
            ) from None

    def select(self, symbols: str | Iterable[str]) -> Panel:
        """A panel of only these symbols, in the order given, without the timestamps where none has a bar.

        Raises:
            DataError: an unknown symbol (with the nearest names) or an empty selection.
        """
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        if not names:
            raise DataError("Panel.select: no symbols given")
        cols = [self.column(s) for s in names]
        arrays = {n: getattr(self, n)[:, cols] for n in VALUE_COLUMNS}
        present = _present(arrays)
        rows = np.flatnonzero(present.any(axis=1))
        return Panel(
            index=self.index[rows],
            symbols=tuple(self.symbols[c] for c in cols),
            interval=self.interval,
            calendar=self.calendar,
            **{n: a[rows] for n, a in arrays.items()},
        )

    def slice(self, start: Any = None, end: Any = None) -> Panel:
        """The bars with ``start <= ts <= end`` (both inclusive, naive values taken as UTC; None = unbounded).

        Raises:
            DataError: no timestamp in the range.
        """
        ns = self.index.view(np.int64)
        lo = 0 if start is None else int(np.searchsorted(ns, coerce_ts(start, name="start").value, "left"))
        hi = ns.size if end is None else int(np.searchsorted(ns, coerce_ts(end, name="end").value, "right"))
        if hi <= lo:
            raise DataError(
                f"Panel.slice: no bars between {start} and {end} (the panel spans {self.start} to {self.end})"
            )
        return Panel(
            index=self.index[lo:hi],
            symbols=self.symbols,
            interval=self.interval,
            calendar=self.calendar,
            **{n: getattr(self, n)[lo:hi] for n in VALUE_COLUMNS},
        )

    def arrays(
        self, symbol: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One symbol's own bars (rows where its close is not NaN) as contiguous, writable copies.

        Returns:
            ``(ts, open, high, low, close, volume)``: ``ts`` int64 nanoseconds since the epoch (UTC), the
            others float64, all of the same length.
        """
        j = self.column(symbol)
        rows = np.flatnonzero(~np.isnan(self.close[:, j]))
        ts = np.ascontiguousarray(self.index.view(np.int64)[rows])
        o, h, lo, c, v = (np.ascontiguousarray(getattr(self, n)[rows, j]) for n in VALUE_COLUMNS)
        return ts, o, h, lo, c, v

    def to_bars(self) -> pd.DataFrame:
        """Back to long bars (``BAR_COLUMNS``, sorted by symbol then ts, RangeIndex).

        A cell is a bar when any of its five values is not NaN, so ``Panel.from_bars(bars).to_bars()`` equals
        ``bars`` for valid sorted bars.
        """
        arrays = {n: getattr(self, n) for n in VALUE_COLUMNS}
        present_t = np.ascontiguousarray(_present(arrays).T)
        sym_idx, t_idx = np.nonzero(present_t)
        ts = pd.DatetimeIndex(self.index[t_idx]).tz_localize("UTC")
        data: dict[str, Any] = {
            "ts": pd.Series(ts, dtype="datetime64[ns, UTC]"),
            "symbol": pd.Series(np.asarray(self.symbols, dtype=object)[sym_idx], dtype="str"),
        }
        for n, a in arrays.items():
            data[n] = np.ascontiguousarray(a.T)[sym_idx, t_idx]
        return pd.DataFrame(data, columns=list(BAR_COLUMNS))

    def __repr__(self) -> str:
        span = f"{self.start:%Y-%m-%d %H:%M} -> {self.end:%Y-%m-%d %H:%M}" if self.n_bars else "empty"
        return (
            f"Panel({self.n_bars} bars x {self.n_symbols} symbols, {span} UTC, "
            f"interval={_fmt_td(self.interval)}, "
            f"calendar={self.calendar}, {self.nbytes / 2**20:.1f} MiB)"
        )


def _present(arrays: dict[str, np.ndarray]) -> np.ndarray:
    present = np.zeros(next(iter(arrays.values())).shape, dtype=bool)
    for a in arrays.values():
        present |= ~np.isnan(a)
    return present


def _interval(index_ns: np.ndarray) -> pd.Timedelta:
    if index_ns.size < 2:
        return pd.Timedelta(
            days=1
        )  # a single timestamp has no spacing; daily is the least surprising default
    return pd.Timedelta(int(np.median(np.diff(index_ns))), unit="ns")


def _calendar(index_ns: np.ndarray, calendar: str) -> str:
    if calendar == "auto":
        return infer_calendar(index_ns.view("datetime64[ns]"))
    if calendar not in CALENDARS:
        raise ConfigError(f"unknown calendar {calendar!r}; valid: 'auto', {', '.join(map(repr, CALENDARS))}")
    return calendar
