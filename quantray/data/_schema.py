"""The bar schema, column aliases and normalisation of any bar-like table to it.

Normalisation only renames, converts types and fills a missing symbol column; it never drops, reorders or
repairs rows (that is validation's job, see :mod:`quantray.data._validate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from quantray.errors import DataError

__all__ = [
    "ALIASES",
    "BAR_COLUMNS",
    "BAR_SCHEMA",
    "PRICE_COLUMNS",
    "VALUE_COLUMNS",
    "coerce_ts",
    "is_normalized",
    "nearest_names",
    "normalize_bars",
    "resolve_columns",
    "to_arrow",
    "to_utc_timestamp",
    "ts_to_ns",
]

BAR_COLUMNS: tuple[str, ...] = ("ts", "symbol", "open", "high", "low", "close", "volume")
"""The columns of a bars frame, in this order."""

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
VALUE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")

BAR_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("ts", pa.timestamp("ns", tz="UTC")),
        pa.field("symbol", pa.string()),
        pa.field("open", pa.float64()),
        pa.field("high", pa.float64()),
        pa.field("low", pa.float64()),
        pa.field("close", pa.float64()),
        pa.field("volume", pa.float64()),
    ]
)
"""Arrow schema of bars: ``ts`` timestamp[ns, tz=UTC], ``symbol`` string, OHLCV float64."""

# Accepted spellings, best first, compared after lower-casing and turning spaces/hyphens into underscores.
# "Adj Close" is deliberately absent: an adjusted close mixed with unadjusted open/high/low breaks OHLC
# consistency.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "ts": ("ts", "date", "datetime", "timestamp", "time", "open_time"),
    "symbol": ("symbol", "ticker", "pair", "asset", "name"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "v", "vol", "tick_volume"),
}

_NS_PER_DAY = 86_400 * 10**9


def _key(name: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def resolve_columns(
    columns: Sequence[object], *, source: str, require_symbol: bool = True
) -> dict[str, object | None]:
    """Map each canonical bar column to the matching column name in ``columns``.

    Args:
        columns: the column names present.
        source: file name or ``"<DataFrame>"``, used in error messages.
        require_symbol: when False a missing symbol column maps to None instead of raising.

    Returns:
        ``{canonical: present name or None}`` for every name in :data:`BAR_COLUMNS`.

    Raises:
        DataError: a required column has no match; the message names the file, the column, the aliases tried
            and the columns present.

    Example:
        >>> cols = ["Date", "Ticker", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
        >>> resolve_columns(cols, source="x")["close"]
        'Close'

    """
    by_key: dict[str, object] = {}
    for col in columns:
        by_key.setdefault(_key(col), col)
    mapping: dict[str, object | None] = {}
    for canon, aliases in ALIASES.items():
        found = next((by_key[a] for a in aliases if a in by_key), None)
        if found is None and (canon != "symbol" or require_symbol):
            present = ", ".join(str(c) for c in columns) or "(none)"
            raise DataError(
                f"{source}: no {canon!r} column (tried, case-insensitively: {', '.join(aliases)}); "
                f"columns present: {present}"
            )
        mapping[canon] = found
    used = [c for c in mapping.values() if c is not None]
    if len(set(map(str, used))) != len(used):
        raise DataError(f"{source}: one column matched two bar fields: {mapping}")
    return mapping


def is_normalized(df: pd.DataFrame) -> bool:
    """True when ``df`` already has exactly the bar columns and dtypes (so normalisation can be skipped)."""
    if tuple(df.columns) != BAR_COLUMNS or not isinstance(df.index, pd.RangeIndex) or df.index.start != 0:
        return False
    if str(df["ts"].dtype) != "datetime64[ns, UTC]":
        return False
    if not (pd.api.types.is_string_dtype(df["symbol"].dtype) and df["symbol"].dtype != object):
        return False
    return all(df[c].dtype == np.float64 for c in VALUE_COLUMNS)


def _describe_row(df: pd.DataFrame, pos: int, mapping: Mapping[str, object | None]) -> str:
    parts = [f"row {pos}"]
    sym_col = mapping.get("symbol")
    if sym_col is not None:
        parts.append(f"symbol={df[sym_col].iloc[pos]}")
    ts_col = mapping.get("ts")
    if ts_col is not None:
        parts.append(f"ts={df[ts_col].iloc[pos]}")
    return ", ".join(parts)


def to_utc_timestamp(values: pd.Series, *, source: str, column: str) -> pd.Series:
    """Convert a column of timestamps to ``datetime64[ns, UTC]``.

    Naive timestamps are taken as UTC; tz-aware ones are converted. Integers are epoch times whose unit is
    inferred from their magnitude (seconds, milliseconds, microseconds or nanoseconds, as in exchange dumps
    such as Binance's ``open_time`` in ms). Strings are parsed by pandas; a string that does not parse raises.

    Raises:
        DataError: naming the file, the column and the first value that cannot be read, with its row.
    """
    s = values
    dtype = s.dtype
    try:
        if isinstance(dtype, pd.DatetimeTZDtype):
            out = s.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(dtype):
            out = s.dt.tz_localize("UTC")
        elif pd.api.types.is_bool_dtype(dtype):
            raise DataError(f"{source}: column {column!r} holds booleans, not timestamps")
        elif pd.api.types.is_numeric_dtype(dtype):
            finite = s[np.isfinite(s.to_numpy(dtype=np.float64, na_value=np.nan))]
            mag = float(np.abs(finite).max()) if len(finite) else 0.0
            unit: Literal["s", "ms", "us", "ns"] = (
                "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
            )
            out = pd.to_datetime(s, unit=unit, utc=True)
        else:
            out = pd.to_datetime(s, utc=True, errors="coerce")
            text = s.astype("str")
            given = s.notna() & (text.str.strip() != "")
            bad = out.isna() & given
            if bad.any():  # a second, slower chance for files that mix formats
                out = pd.to_datetime(s, utc=True, errors="coerce", format="mixed")
                bad = out.isna() & given
            if bad.any():
                pos = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"{source}: column {column!r} has a value that is not a timestamp: {s.iloc[pos]!r} "
                    f"at row {pos} ({int(bad.sum())} such values)"
                )
        return out.astype("datetime64[ns, UTC]")
    except DataError:
        raise
    except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"{source}: column {column!r} cannot be read as UTC timestamps: {exc}") from exc


def _to_float(
    values: pd.Series, *, source: str, column: str, canon: str, df: pd.DataFrame, mapping: Any
) -> Any:
    s = values
    if pd.api.types.is_bool_dtype(s.dtype):
        raise DataError(f"{source}: column {column!r} ({canon}) holds booleans, not numbers")
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    out = pd.to_numeric(s, errors="coerce")
    text = s.astype("str")
    bad = out.isna() & s.notna() & (text.str.strip() != "")
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: column {column!r} ({canon}) has a value that is not a number: {s.iloc[pos]!r} at "
            f"{_describe_row(df, pos, mapping)} ({int(bad.sum())} such values)"
        )
    return out.to_numpy(dtype=np.float64, na_value=np.nan)


def normalize_bars(df: pd.DataFrame, *, source: str, symbol: str | None = None) -> pd.DataFrame:
    """Rename aliases, convert types and return a frame with exactly :data:`BAR_COLUMNS` in the input's row
    order.

    Args:
        df: any table of bars (aliases such as ``date``, ``Ticker``, ``Open`` are accepted).
        source: file name or ``"<DataFrame>"`` for error messages.
        symbol: symbol for a single-symbol table without a symbol column; an error if the table has one.

    Returns:
        ``ts`` datetime64[ns, UTC], ``symbol`` str, OHLCV float64, RangeIndex. Rows are neither dropped nor
        sorted.

    Raises:
        DataError: a required column is missing or holds values of the wrong type.

    Example:
        >>> raw = pd.DataFrame({"Date": ["2020-01-02"], "Open": [1], "High": [2], "Low": [1], "Close": [2],
        ...                     "Volume": [10]})
        >>> normalize_bars(raw, source="x", symbol="AAPL").dtypes["ts"]
        datetime64[ns, UTC]
    """
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{source}: expected a pandas DataFrame of bars, got {type(df).__name__}")
    if symbol is None and is_normalized(df):
        return df
    mapping = resolve_columns(list(df.columns), source=source, require_symbol=symbol is None)
    if symbol is not None and mapping["symbol"] is not None:
        raise DataError(
            f"{source}: symbol={symbol!r} was given but the data has a symbol column "
            f"({mapping['symbol']!r}); use symbols=[...] to select symbols"
        )
    n = len(df)
    ts_col = mapping["ts"]
    ts = to_utc_timestamp(df[ts_col], source=source, column=str(ts_col))
    sym_col = mapping["symbol"]
    if sym_col is None:
        sym = pd.Series(np.full(n, symbol, dtype=object), dtype="str")
    else:
        raw = df[sym_col]
        sym = raw.astype("str") if raw.dtype != "str" else raw
        sym = sym.reset_index(drop=True)
    out = {
        "ts": ts.reset_index(drop=True),
        "symbol": sym,
    }
    for canon in VALUE_COLUMNS:
        col = mapping[canon]
        out[canon] = _to_float(df[col], source=source, column=str(col), canon=canon, df=df, mapping=mapping)
    return pd.DataFrame(out, columns=list(BAR_COLUMNS))


def to_arrow(bars: pd.DataFrame) -> pa.Table:
    """Convert a normalised bars frame to an Arrow table with exactly :data:`BAR_SCHEMA`."""
    utc_ns = bars["ts"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
    symbols = bars["symbol"].to_numpy(dtype=object)
    arrays = [
        pa.array(utc_ns, type=pa.timestamp("ns")).cast(BAR_SCHEMA.field("ts").type),
        pa.array(symbols, type=pa.string(), from_pandas=True),  # NaN -> null
        *(pa.array(bars[c].to_numpy(dtype=np.float64), type=pa.float64()) for c in VALUE_COLUMNS),
    ]
    return pa.Table.from_arrays(arrays, schema=BAR_SCHEMA)


def ts_to_ns(values: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch (UTC) of a ``datetime64[ns, UTC]`` series (NaT: int64 minimum)."""
    return np.asarray(pd.DatetimeIndex(values).asi8, dtype=np.int64)


def coerce_ts(value: object, *, name: str) -> pd.Timestamp:
    """A user-given instant (string, datetime, Timestamp) as a UTC Timestamp (naive values are UTC)."""
    from quantray.errors import ConfigError

    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"`{name}` must be a timestamp, got {value!r}: {exc}") from exc
    if ts is pd.NaT:
        raise ConfigError(f"`{name}` must be a timestamp, got {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


def nearest_names(name: str, choices: Sequence[str], n: int = 5) -> list[str]:
    """The names in ``choices`` closest to ``name`` (for did-you-mean hints), best first.

    Ranked by case-insensitive edit distance (a transposition counts as one edit), then by length difference;
    names more than ``max(1, len(name) // 2)`` edits away are left out.

    Example:
        >>> nearest_names("APPL", ["PPL", "AAPL", "PYPL", "A"])
        ['AAPL', 'PPL', 'PYPL']
    """
    key = str(name).upper()
    limit = max(1, len(key) // 2)
    scored = []
    for choice in choices:
        other = str(choice).upper()
        if abs(len(other) - len(key)) > limit:
            continue
        dist = _edit_distance(key, other)
        if dist <= limit:
            scored.append((dist, abs(len(other) - len(key)), str(choice)))
    return [c for *_, c in sorted(scored)[:n]]
