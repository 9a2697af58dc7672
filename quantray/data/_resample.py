"""Resampling bars to a coarser interval, per symbol."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from quantray.data._schema import BAR_COLUMNS, normalize_bars
from quantray.errors import ConfigError, DataError

__all__ = ["resample_bars"]

_SIDES = ("left", "right")
_ORIGINS = ("epoch", "start", "start_day", "end", "end_day")


def resample_bars(
    df: pd.DataFrame,
    rule: str | pd.DateOffset | pd.Timedelta,
    *,
    label: str = "left",
    closed: str = "left",
    origin: str | pd.Timestamp = "epoch",
) -> pd.DataFrame:
    """Aggregate bars into coarser buckets, symbol by symbol.

    Each bucket's bar: open = first open, high = max high, low = min low, close = last close, volume = sum.
    Buckets with no input bar are dropped (no NaN rows are invented), so gaps stay gaps. Buckets are defined
    on UTC timestamps as in :meth:`pandas.DataFrame.resample`: with the defaults (``label="left"``,
    ``closed="left"``, ``origin="epoch"``) a bucket ``[t, t + rule)`` is labelled ``t``, and daily buckets
    start at 00:00 UTC. An ``origin`` of ``"start"``/``"end"`` refers to the whole frame, not each symbol, and
    applies only to fixed-length rules (calendar rules such as ``"W-FRI"`` or ``"ME"`` are anchored by
    pandas).

    Args:
        df: bars (aliases accepted; expected valid, e.g. the output of :func:`~quantray.data.read_bars`).
        rule: a pandas offset such as ``"1h"``, ``"4h"``, ``"1D"``, ``"W-FRI"``.
        label: which bucket edge labels the bucket, ``"left"`` or ``"right"``.
        closed: which bucket edge is inside the bucket, ``"left"`` or ``"right"``.
        origin: ``"epoch"``, ``"start"``, ``"start_day"``, ``"end"``, ``"end_day"`` or a timestamp.

    Returns:
        Bars (``BAR_COLUMNS``) sorted by (symbol, ts), RangeIndex.

    Raises:
        ConfigError: an invalid rule, label, closed or origin.

    Example:
        >>> hourly = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC"),
        ...                        "symbol": "BTC", "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5,
        ...                        "volume": 1.0})
        >>> daily = resample_bars(hourly, "1D")
        >>> daily["ts"].dt.strftime("%Y-%m-%d %H:%M").tolist(), daily["volume"].tolist()
        (['2024-01-01 00:00', '2024-01-02 00:00'], [24.0, 24.0])
    """
    try:
        offset = to_offset(rule)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"`rule` must be a pandas offset such as '1h', '4h', '1D', got {rule!r}: {exc}"
        ) from exc
    if label not in _SIDES:
        raise ConfigError(f"`label` must be one of {_SIDES}, got {label!r}")
    if closed not in _SIDES:
        raise ConfigError(f"`closed` must be one of {_SIDES}, got {closed!r}")
    origin_arg: Any = origin
    if isinstance(origin, str) and origin not in _ORIGINS:
        try:
            origin_arg = pd.Timestamp(origin)
        except ValueError as exc:
            raise ConfigError(f"`origin` must be one of {_ORIGINS} or a timestamp, got {origin!r}") from exc
    if isinstance(origin_arg, pd.Timestamp):
        origin_arg = (
            origin_arg.tz_convert("UTC").tz_localize(None) if origin_arg.tzinfo is not None else origin_arg
        )

    bars = normalize_bars(df, source="<DataFrame>")
    if len(bars) == 0:
        raise DataError("resample_bars: no bars to resample")
    # group on naive UTC wall-clock time: every offset (including calendar days) then means UTC and honours
    # origin
    bars = bars.assign(ts=bars["ts"].dt.tz_localize(None))
    fixed = isinstance(offset, pd.offsets.Tick | pd.offsets.Day)
    if not fixed and not (isinstance(origin_arg, str) and origin_arg == "epoch"):
        raise ConfigError(
            f"`origin` applies only to fixed-length rules (days, hours, minutes, ...), not to rule={rule!r}"
        )
    extra: dict[str, Any] = {"origin": origin_arg} if fixed else {}
    grouper = pd.Grouper(key="ts", freq=offset, label=label, closed=closed, **extra)
    try:
        grouped = bars.groupby(["symbol", grouper], sort=True, observed=True)
        agg = grouped.agg(
            open=("open", "first"),
            high=("high", "max"),
            low=("low", "min"),
            close=("close", "last"),
            volume=("volume", "sum"),
            n=("close", "size"),
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot resample with rule={rule!r}: {exc}") from exc
    agg = agg[agg["n"].to_numpy() > 0].reset_index()
    out = pd.DataFrame(
        {
            "ts": agg["ts"].dt.tz_localize("UTC").astype("datetime64[ns, UTC]"),
            "symbol": agg["symbol"].astype("str"),
            **{c: agg[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")},
        },
        columns=list(BAR_COLUMNS),
    )
    return out.reset_index(drop=True)
