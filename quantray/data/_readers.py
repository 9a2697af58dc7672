"""Reading and writing bars: Parquet files, CSV (optionally compressed) and hive-partitioned Parquet datasets,
on any fsspec URL (local paths, ``file://``, ``s3://`` through s3fs, ``memory://``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from quantray.data._schema import coerce_ts, nearest_names, normalize_bars, resolve_columns, to_arrow
from quantray.data._validate import _check_policy, clean_bars
from quantray.errors import ConfigError, DataError

__all__ = ["read_bars", "read_table", "write_bars"]

logger = logging.getLogger("quantray.data")

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
_NA_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "#N/A", "<NA>"]

Source = str | os.PathLike[str] | pd.DataFrame


# ------------------------------------------------------------------------------------------------ locations


class _Location:
    """A resolved source: the fsspec filesystem, the path inside it and the name to show in messages."""

    def __init__(self, source: str | os.PathLike[str], storage_options: Mapping[str, Any] | None) -> None:
        if not isinstance(source, str | os.PathLike):
            raise ConfigError(
                f"`source` must be a path, an fsspec URL or a DataFrame, got {type(source).__name__}"
            )
        self.display = os.fspath(source)
        try:
            self.fs, self.path = fsspec.core.url_to_fs(self.display, **dict(storage_options or {}))
        except (ValueError, ImportError, TypeError) as exc:
            raise DataError(f"{self.display}: cannot open this location: {exc}") from exc
        self.is_local = "file" in _protocols(self.fs)

    @property
    def arrow_fs(self) -> pafs.FileSystem:
        if self.is_local:
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    @property
    def name(self) -> str:
        return PurePosixPath(self.path.rstrip("/")).name

    def exists(self) -> bool:
        try:
            return bool(self.fs.exists(self.path))
        except _access_errors() as exc:
            raise DataError(f"{self.display}: cannot access: {_first_line(exc)}") from None

    def isdir(self) -> bool:
        try:
            return bool(self.fs.isdir(self.path))
        except _access_errors() as exc:
            raise DataError(f"{self.display}: cannot access: {_first_line(exc)}") from None


def _access_errors() -> tuple[type[BaseException], ...]:
    """What a remote store raises for a location it cannot reach: OSError, and botocore's own errors that s3fs
    lets through (no credentials found, an unreachable endpoint), which printed a 60-line traceback."""
    errors: list[type[BaseException]] = [OSError]
    try:
        from botocore.exceptions import BotoCoreError

        errors.append(BotoCoreError)
    except ImportError:  # pragma: no cover - botocore comes with s3fs
        pass
    return tuple(errors)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def _strip_compression(name: str) -> str:
    lower = name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _file_format(loc: _Location) -> str:
    base = _strip_compression(loc.name).lower()
    if base.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if base.endswith(_CSV_SUFFIXES) or base != loc.name.lower():
        return "csv"
    with loc.fs.open(loc.path, "rb") as fh:  # no telling suffix: sniff the Parquet magic number
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def _stem(loc: _Location) -> str:
    base = _strip_compression(loc.name)
    for suffix in (*_PARQUET_SUFFIXES, *_CSV_SUFFIXES):
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


# ------------------------------------------------------------------------------------------------ raw reading


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _open_dataset(loc: _Location, *, is_dir: bool) -> ds.FileSystemDataset:
    """A pyarrow dataset over a Parquet file or a hive-partitioned directory (partition values as strings)."""
    fs = loc.arrow_fs
    try:
        if not is_dir:
            return ds.dataset(loc.path, filesystem=fs, format="parquet")
        dataset = ds.dataset(loc.path, filesystem=fs, format="parquet", partitioning="hive")
        part = getattr(dataset, "partitioning", None)
        if part is not None and len(part.schema) and not all(_is_text(f.type) for f in part.schema):
            # hive discovery types "symbol=1" as int32; re-read the same files with string partition values
            strings = pa.schema([pa.field(f.name, pa.string()) for f in part.schema])
            dataset = ds.dataset(
                dataset.files,
                filesystem=fs,
                format="parquet",
                partitioning=ds.partitioning(strings, flavor="hive"),
                partition_base_dir=loc.path,
            )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise DataError(f"{loc.display}: cannot read as Parquet: {exc}") from exc
    if not dataset.files:
        raise DataError(f"{loc.display}: the directory holds no Parquet files")
    return dataset


def _to_pandas(table: pa.Table, loc: _Location) -> pd.DataFrame:
    try:
        return table.to_pandas()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError) as exc:
        raise DataError(f"{loc.display}: cannot convert to pandas: {exc}") from exc


def _read_csv(
    loc: _Location, *, columns: Sequence[str] | None = None, text_columns: Iterable[str] = ()
) -> Any:
    text = set(text_columns)
    try:
        with loc.fs.open(loc.path, "rb", compression="infer") as fh:
            if columns is None:
                return pd.read_csv(fh, keep_default_na=False, na_values=_NA_VALUES)
            na = {c: ([] if c in text else _NA_VALUES) for c in columns}
            dtype = {c: "str" for c in text}
            return pd.read_csv(fh, usecols=list(columns), keep_default_na=False, na_values=na, dtype=dtype)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{loc.display}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{loc.display}: cannot read as CSV: {exc}") from exc


def _csv_header(loc: _Location) -> list[str]:
    try:
        with loc.fs.open(loc.path, "rb", compression="infer") as fh:
            return [str(c) for c in pd.read_csv(fh, nrows=0).columns]
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{loc.display}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(f"{loc.display}: cannot read as CSV: {exc}") from exc


def _locate(
    source: str | os.PathLike[str], storage_options: Mapping[str, Any] | None
) -> tuple[_Location, str]:
    loc = _Location(source, storage_options)
    if not loc.exists():
        raise DataError(f"{loc.display}: no such file or directory")
    if loc.isdir():
        return loc, "dataset"
    try:
        size = loc.fs.size(loc.path)
    except (OSError, FileNotFoundError):
        size = None
    if size == 0:
        raise DataError(f"{loc.display}: the file is empty (0 bytes)")
    return loc, _file_format(loc)


def read_table(
    source: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Read a whole Parquet file, Parquet dataset directory or CSV (``.csv``, ``.csv.gz``) as it is.

    Nothing is renamed, converted or validated (use :func:`read_bars` for bars).

    Args:
        source: a local path or fsspec URL (``s3://bucket/key.parquet``, ``memory://x.csv``).
        storage_options: passed to fsspec (e.g. ``{"key": ..., "secret": ..., "client_kwargs": {...}}``).

    Raises:
        DataError: missing, empty or unreadable file.

    Example:
        >>> from quantray.data import sample_path
        >>> read_table(sample_path()).columns.tolist()
        ['date', 'ticker', 'open', 'high', 'low', 'close', 'volume']
    """
    loc, fmt = _locate(source, storage_options)
    if fmt == "csv":
        frame = _read_csv(loc)
    else:
        try:
            table = _open_dataset(loc, is_dir=fmt == "dataset").to_table()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{loc.display}: cannot read as Parquet: {exc}") from exc
        frame = _to_pandas(table, loc)
    if len(frame) == 0:
        raise DataError(f"{loc.display}: the file has no rows")
    return frame


# ------------------------------------------------------------------------------------------------ read_bars


def _ts_bound(value: Any, arrow_type: pa.DataType) -> pa.Scalar | None:
    """``value`` as a scalar of the column's own Arrow type (for filter pushdown), floored to its unit."""
    ns = coerce_ts(value, name="start/end").value
    if pa.types.is_timestamp(arrow_type):
        per = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[arrow_type.unit]
        return pa.array([ns // per], type=pa.int64()).cast(arrow_type)[0]
    if pa.types.is_date32(arrow_type):
        return pa.array([ns // (86_400 * 10**9)], type=pa.int32()).cast(arrow_type)[0]
    if pa.types.is_date64(arrow_type):
        return pa.array([ns // (86_400 * 10**9) * 86_400_000], type=pa.int64()).cast(arrow_type)[0]
    return None


def _symbol_list(symbols: str | Iterable[str] | None) -> list[str] | None:
    if symbols is None:
        return None
    names = [symbols] if isinstance(symbols, str) else [str(s) for s in symbols]
    if not names:
        raise ConfigError("`symbols` is empty; pass None to read every symbol")
    return list(dict.fromkeys(names))


def _missing_symbols_error(
    display: str, missing: list[str], available: Sequence[str], ranged: bool
) -> DataError:
    avail = sorted(set(available))
    absent = [s for s in missing if s not in set(avail)]
    parts = []
    if absent:
        hints = []
        for s in absent:
            near = nearest_names(s, avail, n=3)
            if near:
                hints.append(f"{s}: did you mean {', '.join(near)}?")
        shown = ", ".join(avail[:10]) + (", ..." if len(avail) > 10 else "")
        parts.append(
            f"symbols not found: {', '.join(absent)} ({len(avail)} available: {shown})"
            + (f"; {' '.join(hints)}" if hints else "")
        )
    in_file = [s for s in missing if s not in absent]
    if in_file and ranged:
        parts.append(f"no bars between start and end for: {', '.join(in_file)}")
    return DataError(f"{display}: " + "; ".join(parts))


def _apply_frame_filters(bars: pd.DataFrame, symbols: list[str] | None, start: Any, end: Any) -> pd.DataFrame:
    keep = np.ones(len(bars), dtype=bool)
    if symbols is not None:
        keep &= bars["symbol"].isin(symbols).to_numpy()
    if start is not None:
        keep &= (bars["ts"] >= coerce_ts(start, name="start")).to_numpy()
    if end is not None:
        keep &= (bars["ts"] <= coerce_ts(end, name="end")).to_numpy()
    if keep.all():
        return bars
    return bars[keep].reset_index(drop=True)


def read_bars(
    source: Source,
    *,
    symbols: str | Iterable[str] | None = None,
    start: Any = None,
    end: Any = None,
    symbol: str | None = None,
    on_bad: str = "raise",
    interval: Any = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Read bars from a file, a partitioned dataset or a DataFrame; normalise, validate and apply ``on_bad``.

    Formats: a Parquet file, a CSV file (``.csv``, ``.csv.gz`` and other compressions fsspec infers), or a
    directory holding a Parquet dataset, hive-partitioned or not (``symbol=AAPL/part-0.parquet``). For
    Parquet, ``symbols``, ``start`` and ``end`` are pushed down to pyarrow.dataset, so partitions and row
    groups that cannot match are never read. Columns are found by alias (``date``, ``Ticker``, ``Open``, ...;
    see ``ALIASES``). Naive timestamps are taken as UTC; tz-aware ones are converted to UTC.

    Problems are handled by ``on_bad`` (see :func:`~quantray.data.clean_bars`); with ``"drop"`` or
    ``"repair"`` the report's headline is logged as a warning on the ``quantray.data`` logger (never silent).
    Issue rows are 0-based positions in the data as read (after the ``symbols``/``start``/``end`` filter). To
    get the full report without raising, use ``clean_bars(read_table(source), on_bad=..., source=...)``.

    Args:
        source: local path, fsspec URL (``s3://bucket/bars/``, ``file://``, ``memory://``) or a DataFrame.
        symbols: read only these symbols (a name or a list); every one must be present.
        start: first timestamp to read, inclusive (naive = UTC).
        end: last timestamp to read, inclusive (naive = UTC).
        symbol: the symbol of a single-symbol source without a symbol column (default: the file name's stem).
        on_bad: ``"raise"`` (default), ``"drop"`` or ``"repair"``.
        interval: bar interval for the gap warning (inferred per symbol when None).
        storage_options: fsspec options (credentials, ``client_kwargs={"endpoint_url": ...}``).

    Returns:
        Bars with columns exactly ``BAR_COLUMNS`` (ts datetime64[ns, UTC], symbol str, OHLCV float64), sorted
        by (symbol, ts), RangeIndex.

    Raises:
        DataError: no such file, an empty file, no rows, a missing column, a value of the wrong type, or
            requested symbols that are absent (the message lists available ones).
        DataValidationError: ``on_bad="raise"`` and the bars break a rule (``.report`` has every issue).
        ConfigError: an unknown ``on_bad`` or bad arguments.

    Example:
        >>> from quantray.data import sample_path
        >>> bars = read_bars(sample_path(), symbols=["AAPL", "MSFT"], start="2017-01-01", on_bad="repair")
        >>> bars.columns.tolist(), bars["symbol"].unique().tolist()
        (['ts', 'symbol', 'open', 'high', 'low', 'close', 'volume'], ['AAPL', 'MSFT'])
    """
    policy = _check_policy(on_bad)
    wanted = _symbol_list(symbols)
    lo = coerce_ts(start, name="start") if start is not None else None
    hi = coerce_ts(end, name="end") if end is not None else None
    if lo is not None and hi is not None and hi < lo:
        raise ConfigError(f"`end` must not be before `start`, got start={lo}, end={hi}")

    if isinstance(source, pd.DataFrame):
        display = "<DataFrame>"
        if len(source) == 0:
            raise DataError(f"{display}: no rows")
        full = normalize_bars(source, source=display, symbol=symbol)
        bars = _apply_frame_filters(full, wanted, lo, hi)
        available = _symbols_of(full)
    else:
        loc, fmt = _locate(source, storage_options)
        display = loc.display
        if fmt == "csv":
            bars, available = _read_csv_bars(loc, wanted, lo, hi, symbol)
        else:
            bars, available = _read_parquet_bars(loc, wanted, lo, hi, symbol, is_dir=fmt == "dataset")

    if wanted is not None:
        found = set(bars["symbol"].dropna().unique().tolist())
        missing = [s for s in wanted if s not in found]
        if missing:
            raise _missing_symbols_error(display, missing, available(), lo is not None or hi is not None)
    if len(bars) == 0:
        ranged = lo is not None or hi is not None
        raise DataError(f"{display}: no bars between {lo} and {hi}" if ranged else f"{display}: no rows")

    out, report = clean_bars(bars, on_bad=policy, source=display, interval=interval)
    if report.errors:
        dropped = len(bars) - len(out)
        logger.warning("%s; on_bad=%r: %d rows dropped, %d kept", report.headline, policy, dropped, len(out))
    elif report.warnings:
        logger.info("%s", report.headline)
    return out


def _symbols_of(bars: pd.DataFrame) -> Callable[[], list[str]]:
    """A deferred list of the symbols present (only computed for an error message)."""
    return lambda: [str(s) for s in bars["symbol"].dropna().unique().tolist()]


def _read_csv_bars(
    loc: _Location, wanted: list[str] | None, lo: Any, hi: Any, symbol: str | None
) -> tuple[pd.DataFrame, Callable[[], list[str]]]:
    header = _csv_header(loc)
    mapping = resolve_columns(header, source=loc.display, require_symbol=False)
    sym_col = mapping["symbol"]
    if sym_col is None:
        symbol = symbol if symbol is not None else _stem(loc)
    cols = [str(c) for c in mapping.values() if c is not None]
    raw = _read_csv(loc, columns=cols, text_columns=[str(sym_col)] if sym_col is not None else [])
    if len(raw) == 0:
        raise DataError(f"{loc.display}: the file has no rows (only a header)")
    full = normalize_bars(raw, source=loc.display, symbol=symbol if sym_col is None else None)
    return _apply_frame_filters(full, wanted, lo, hi), _symbols_of(full)


def _read_parquet_bars(
    loc: _Location, wanted: list[str] | None, lo: Any, hi: Any, symbol: str | None, *, is_dir: bool
) -> tuple[pd.DataFrame, Callable[[], list[str]]]:
    dataset = _open_dataset(loc, is_dir=is_dir)
    schema = dataset.schema
    mapping = resolve_columns(schema.names, source=loc.display, require_symbol=False)
    sym_col = None if mapping["symbol"] is None else str(mapping["symbol"])
    ts_col = str(mapping["ts"])
    if sym_col is None:
        symbol = symbol if symbol is not None else _stem(loc)
    elif symbol is not None:
        raise DataError(
            f"{loc.display}: symbol={symbol!r} was given but the data has a symbol column ({sym_col!r}); "
            "use symbols=[...] to select symbols"
        )

    expr: ds.Expression | None = None
    if wanted is not None and sym_col is not None and _is_text(schema.field(sym_col).type):
        expr = ds.field(sym_col).isin(wanted)
    ts_type = schema.field(ts_col).type
    for bound, op in ((lo, "ge"), (hi, "le")):
        if bound is None:
            continue
        scalar = _ts_bound(bound, ts_type)
        if scalar is None:
            continue
        term = ds.field(ts_col) >= scalar if op == "ge" else ds.field(ts_col) <= scalar
        expr = term if expr is None else expr & term
    columns = [str(c) for c in mapping.values() if c is not None]
    try:
        table = dataset.to_table(columns=columns, filter=expr)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
        raise DataError(f"{loc.display}: cannot read as Parquet: {exc}") from exc
    if table.num_rows == 0 and expr is None:
        raise DataError(f"{loc.display}: the file has no rows")
    frame = _to_pandas(table, loc)
    bars = normalize_bars(frame, source=loc.display, symbol=symbol if sym_col is None else None)
    bars = _apply_frame_filters(
        bars, wanted, lo, hi
    )  # exact bounds (pushdown is floored to the column's unit)

    def available() -> list[str]:
        if sym_col is None:
            return [str(symbol)]
        col = dataset.to_table(columns=[sym_col]).column(sym_col)
        return [str(s) for s in col.unique().to_pylist() if s is not None]

    return bars, available


# ------------------------------------------------------------------------------------------------ write_bars


def write_bars(
    df: pd.DataFrame,
    dest: str | os.PathLike[str],
    *,
    partition_by: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Write bars as one Parquet file, a hive-partitioned Parquet dataset, or a CSV file.

    The frame is normalised (aliases, types) and sorted by (symbol, ts) but not validated. Parquet is written
    with :data:`BAR_SCHEMA` and zstd compression. ``dest`` ending in ``.csv`` (or ``.csv.gz``, ...) writes
    CSV. With ``partition_by="symbol"`` ``dest`` is a directory ``dest/symbol=AAPL/part-0.parquet``
    (partitions being written replace existing ones). Local writes are atomic: the data goes to a temporary
    name beside ``dest`` which is then renamed, so a reader never sees a half-written file. Object stores (s3)
    replace each object atomically.

    Args:
        df: bars (aliases accepted).
        dest: local path or fsspec URL.
        partition_by: None (one file) or ``"symbol"`` (a hive-partitioned dataset).
        storage_options: fsspec options.

    Returns:
        ``dest`` as a string.

    Raises:
        ConfigError: an unknown ``partition_by``, or partitioning a CSV.

    Example:
        >>> opts = {"key": "...", "secret": "..."}
        >>> write_bars(bars, "s3://b/bars/", partition_by="symbol", storage_options=opts)  # doctest: +SKIP
    """
    if partition_by not in (None, "symbol"):
        raise ConfigError(f"`partition_by` must be None or 'symbol', got {partition_by!r}")
    bars = normalize_bars(df, source="<DataFrame>")
    if len(bars) == 0:
        raise DataError("write_bars: no bars to write")
    order = np.lexsort(
        (bars["ts"].to_numpy(dtype="datetime64[ns]"), pd.factorize(bars["symbol"], sort=True)[0])
    )
    bars = bars.take(order).reset_index(drop=True)
    loc = _Location(dest, storage_options)
    is_csv = _strip_compression(loc.name).lower().endswith(_CSV_SUFFIXES)
    if is_csv and partition_by is not None:
        raise ConfigError("`partition_by` is only supported for Parquet; use a directory name without .csv")

    compression = fsspec.utils.infer_compression(loc.name)  # from the final name, not the temporary one

    def write_to(path: str, fs: fsspec.AbstractFileSystem, arrow_fs: pafs.FileSystem) -> None:
        if is_csv:
            with fs.open(path, "wb", compression=compression) as fh:
                frame = bars.assign(ts=bars["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
                fh.write(frame.to_csv(index=False, float_format=None).encode())
        elif partition_by is None:
            pq.write_table(to_arrow(bars), path, filesystem=arrow_fs, compression="zstd")
        else:
            ds.write_dataset(
                to_arrow(bars),
                path,
                filesystem=arrow_fs,
                format="parquet",
                partitioning=ds.partitioning(pa.schema([pa.field("symbol", pa.string())]), flavor="hive"),
                basename_template="part-{i}.parquet",
                existing_data_behavior="delete_matching",
                file_options=ds.ParquetFileFormat().make_write_options(compression="zstd"),
            )

    if not loc.is_local:
        write_to(loc.path, loc.fs, loc.arrow_fs)
        return loc.display
    target = Path(loc.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        write_to(str(tmp), loc.fs, loc.arrow_fs)
        if tmp.is_dir():
            _replace_dir(tmp, target)
        else:
            if target.is_dir():
                raise DataError(f"{loc.display}: is a directory; pass partition_by='symbol' or another path")
            os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
    return loc.display


def _replace_dir(new: Path, target: Path) -> None:
    """Swap a freshly written directory into place (renames only; the old one is removed afterwards)."""
    if not target.exists():
        os.replace(new, target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:12]}")
    os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        os.replace(old, target)
        raise
    if old.is_dir():
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
