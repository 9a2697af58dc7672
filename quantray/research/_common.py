"""Shared plumbing of quantray.research: data normalisation, fan-out batches, trial return matrices."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from quantray._backtest import _bars_per_day, _grid_values, _to_panel, param_matrix
from quantray.data import Panel, infer_calendar, periods_per_year
from quantray.engine import ExecutionConfig
from quantray.engine._api import impact_arrays
from quantray.engine._config import METRIC_NAMES
from quantray.engine._metrics import returns_from_equity
from quantray.errors import DataError, ParameterError
from quantray.research import _kernels as k
from quantray.strategies import StrategySpec, get_strategy

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
#: One symbol's bars as :meth:`quantray.data.Panel.arrays` returns them: ``(ts, open, high, low, close, volume)``.
BarArrays = tuple[NDArray[np.int64], F64, F64, F64, F64, F64]
#: Anything the research functions accept as market data.
DataLike = str | os.PathLike[str] | pd.DataFrame | Panel | BarArrays | Mapping[str, BarArrays]
#: ``mapper(fn, items)`` applies ``fn`` to every item and returns the results in order (builtin ``map`` by
#: default; ``quantray.dist`` passes one that fans the items out to Ray tasks).
Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]

_TRADING_DAYS = {"equities": 252.0, "crypto": 365.0, "fx": 260.0}
#: Metrics where a smaller value is better when parameter sets are ranked.
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_duration", "volatility"})


@dataclass(frozen=True, slots=True)
class SymbolData:
    """Per-symbol bar arrays with the annualisation they share."""

    arrays: dict[str, BarArrays]
    periods_per_year: float
    bars_per_day: float


def load_symbols(
    data: DataLike, symbols: Sequence[str] | None = None, periods_per_year_: float | None = None
) -> SymbolData:
    """Normalise ``data`` to per-symbol arrays (paths and frames are read with the ``repair`` policy)."""
    if isinstance(data, tuple):
        arrays = {"series": _check_arrays(data, "series")}
        return _from_arrays(arrays, periods_per_year_)
    if isinstance(data, Mapping):
        arrays = {str(s): _check_arrays(a, str(s)) for s, a in data.items()}
        if symbols:
            missing = sorted(set(symbols) - set(arrays))
            if missing:
                raise DataError(f"unknown symbol(s) {missing}; the data has {sorted(arrays)}")
            arrays = {s: arrays[s] for s in symbols}
        if not arrays:
            raise DataError("no symbols in the data")
        return _from_arrays(arrays, periods_per_year_)
    panel = _to_panel(data, symbols)  # type: ignore[arg-type]
    ppy = float(periods_per_year_ or panel.periods_per_year)
    _check_ppy(ppy)
    out = {}
    for sym in panel.symbols:
        a = panel.arrays(sym)
        if a[4].size:
            out[sym] = a
    if not out:
        raise DataError("the data has no bars")
    return SymbolData(out, ppy, _bars_per_day(panel, ppy))


def _check_ppy(ppy: float) -> None:
    if not (math.isfinite(ppy) and ppy > 0):
        raise ParameterError(f"`periods_per_year` must be a positive number, got {ppy!r}")


def _check_arrays(a: Any, name: str) -> BarArrays:
    if not isinstance(a, tuple | list) or len(a) != 6:
        raise DataError(f"bars of {name!r} must be a (ts, open, high, low, close, volume) tuple of arrays")
    ts = np.ascontiguousarray(np.asarray(a[0]).astype("datetime64[ns]").view(np.int64))
    rest = [np.ascontiguousarray(np.asarray(x, dtype=np.float64)) for x in a[1:]]
    n = ts.size
    if any(x.ndim != 1 or x.size != n for x in rest):
        raise DataError(f"bars of {name!r}: ts, open, high, low, close, volume must be 1-D of equal length")
    if n < 2:
        raise DataError(f"bars of {name!r}: need at least 2 bars, got {n}")
    c = rest[3]
    if not (np.isfinite(c).all() and (c > 0).all()):
        raise DataError(f"bars of {name!r}: closes must be finite and positive (validate the bars first)")
    return (ts, rest[0], rest[1], rest[2], rest[3], rest[4])


def _from_arrays(arrays: dict[str, BarArrays], ppy: float | None) -> SymbolData:
    ts = next(iter(arrays.values()))[0].view("datetime64[ns]")
    if ppy is None:
        ppy = periods_per_year(ts)
    _check_ppy(float(ppy))
    cal = infer_calendar(ts) if ts.size > 1 else "equities"
    return SymbolData(arrays, float(ppy), float(ppy) / _TRADING_DAYS.get(cal, 252.0))


def one_symbol(sd: SymbolData, symbol: str | None) -> tuple[str, BarArrays]:
    """The arrays of ``symbol`` (or of the only symbol)."""
    if symbol is None:
        if len(sd.arrays) != 1:
            raise ParameterError(
                f"`symbol` is required when the data holds {len(sd.arrays)} symbols: {sorted(sd.arrays)[:10]}"
            )
        symbol = next(iter(sd.arrays))
    if symbol not in sd.arrays:
        raise DataError(f"unknown symbol {symbol!r}; the data has {sorted(sd.arrays)[:10]}")
    return symbol, sd.arrays[symbol]


def expand(
    spec: StrategySpec, grid: Mapping[str, Any] | None, fixed: Mapping[str, Any] | None
) -> list[dict[str, int | float]]:
    """Parameter sets of a grid (or the single set ``fixed`` with defaults)."""
    if grid:
        return spec.expand_grid(_grid_values(spec, grid), fixed=fixed)
    return [spec.validate_params(fixed)]


def check_metric(metric: str) -> str:
    if metric not in METRIC_NAMES:
        raise ParameterError(f"unknown metric {metric!r}; valid: {list(METRIC_NAMES)}")
    return metric


def best_index(scores: F64, *, lower_is_better: bool = False, valid: NDArray[np.bool_] | None = None) -> int:
    """Position of the best finite score (first on ties); NaN and invalid entries rank last; 0 if none."""
    s = np.where(np.isfinite(scores), scores, np.nan)
    if lower_is_better:
        s = -s
    if valid is not None:
        s = np.where(valid, s, np.nan)
    if not np.isfinite(s).any():
        return 0
    return int(np.nanargmax(s))


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_fraction(
    value: Any, name: str, *, low: float = 0.0, high: float = 1.0, open_low: bool = False
) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    v = float(value) if ok else float("nan")
    if not ok or not math.isfinite(v) or v > high or v < low or (open_low and v == low):
        bracket = "(" if open_low else "["
        raise ParameterError(f"`{name}` must be in {bracket}{low:g}, {high:g}], got {value!r}")
    return v


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise ParameterError(f"`seed` must be an integer in [0, 2**63), got {seed!r}")
    return int(seed)


# ------------------------------------------------------------------------------------------ fan-out batches
def path_batches(n_paths: int, batch: int) -> list[I64]:
    """Path indices 0..n_paths−1 cut into consecutive chunks of at most ``batch`` (the units of fan-out).

    Example:
        >>> [b.tolist() for b in path_batches(5, 2)]
        [[0, 1], [2, 3], [4]]
    """
    n_paths = check_positive_int(n_paths, "n_paths")
    batch = check_positive_int(batch, "batch")
    return [np.arange(i, min(i + batch, n_paths), dtype=np.int64) for i in range(0, n_paths, batch)]


def run_batches(fn: Callable[[I64], F64], n_paths: int, batch: int, mapper: Mapper | None) -> F64:
    """Evaluate ``fn`` on every batch of path indices with ``mapper`` and stack the rows in path order."""
    parts = list((mapper or map)(fn, path_batches(n_paths, batch)))
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


# ------------------------------------------------------------------------------------------ trial returns
def window_simulations(
    spec: StrategySpec,
    arrays: BarArrays,
    param_sets: Sequence[Mapping[str, Any]],
    start: int,
    end: int,
    config: ExecutionConfig,
    ppy: float,
    bars_per_day: float,
) -> tuple[F64, F64]:
    """(metrics (m, 15), equity (m, end − start)) of bars [start, end) with signals warmed up from bar 0."""
    _, o, h, lo, c, v = arrays
    sig, adv = impact_arrays(c, v, config, bars_per_day)
    rf = config.risk_free / ppy
    if spec.builtin_id is not None:
        metrics, equity = k.window_sims(
            spec.builtin_id,
            o,
            h,
            lo,
            c,
            v,
            sig,
            adv,
            param_matrix(spec, param_sets),
            start,
            end,
            *config.kernel_args(),
            ppy,
            rf,
        )
        return metrics, equity
    from quantray.engine import simulate

    m = len(param_sets)
    metrics = np.empty((m, len(METRIC_NAMES)))
    equity = np.empty((m, end - start))
    for j, ps in enumerate(param_sets):
        target = spec.signal(o[:end], h[:end], lo[:end], c[:end], v[:end], ps)
        sim = simulate(
            o[start:end],
            h[start:end],
            lo[start:end],
            c[start:end],
            v[start:end],
            target[start:end],
            config=config,
            periods_per_year=ppy,
            bars_per_day=bars_per_day,
        )
        metrics[j] = [sim.metrics[name] for name in METRIC_NAMES]
        equity[j] = sim.equity
    return metrics, equity


def trial_returns(
    arrays: BarArrays,
    strategy: str | StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    *,
    config: ExecutionConfig | None = None,
    periods_per_year: float = 252.0,
    bars_per_day: float = 1.0,
    start: int = 0,
) -> F64:
    """Per-bar simple returns of every parameter set: the T × N trial matrix of PBO, SPA and CPCV.

    Each parameter set is simulated once over bars ``start..n−1`` (signals warmed up from bar 0, the
    simulation starting in cash at ``start``) with the engine's execution semantics; column j holds the
    returns of ``param_sets[j]``, the first relative to ``init_cash``.

    Args:
        arrays: one symbol's ``(ts, open, high, low, close, volume)`` (see :meth:`quantray.data.Panel.arrays`).
        strategy: a registered name or a StrategySpec.
        param_sets: validated parameter sets (e.g. ``spec.expand_grid(grid)``).
        config: execution and costs (default ``ExecutionConfig()``).
        periods_per_year, bars_per_day: annualisation and the impact model's day length.
        start: first bar simulated (0 ≤ start < n − 1).

    Returns:
        A float64 array of shape (n − start, len(param_sets)).

    Example:
        >>> from quantray.data import Panel, load_sample
        >>> from quantray.strategies import get_strategy
        >>> arrays = Panel.from_bars(load_sample()).arrays("MSFT")
        >>> sets = get_strategy("sma_cross").expand_grid({"fast": [5, 10], "slow": [50]})
        >>> trial_returns(arrays, "sma_cross", sets).shape
        (1259, 2)
    """
    return trial_simulations(
        arrays, strategy, param_sets, config=config, periods_per_year=periods_per_year,
        bars_per_day=bars_per_day, start=start,
    )[0]  # fmt: skip


def trial_simulations(
    arrays: BarArrays,
    strategy: str | StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    *,
    config: ExecutionConfig | None = None,
    periods_per_year: float = 252.0,
    bars_per_day: float = 1.0,
    start: int = 0,
) -> tuple[F64, F64]:
    """:func:`trial_returns` and the metrics of the same simulations: ``(returns, metrics)``, returns of shape
    (n − start, len(param_sets)) and one row of metrics per parameter set (columns in the order of
    ``quantray.engine.METRIC_NAMES``), so a caller that needs both (returns and trade counts) simulates once.

    Example:
        >>> from quantray.data import Panel, load_sample
        >>> from quantray.engine import METRIC_NAMES
        >>> arrays = Panel.from_bars(load_sample()).arrays("MSFT")
        >>> rets, met = trial_simulations(arrays, "sma_cross", [{"fast": 10, "slow": 50}], start=600)
        >>> rets.shape, int(met[0, METRIC_NAMES.index("num_trades")]) > 0
        ((659, 1), True)
    """
    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig()
    arrays = _check_arrays(arrays, "arrays")
    n = arrays[4].size
    if isinstance(start, bool) or not isinstance(start, int | np.integer) or not 0 <= start < n - 1:
        raise ParameterError(f"`start` must be an integer in [0, {n - 1}), got {start!r}")
    if not param_sets:
        raise ParameterError("`param_sets` is empty")
    sets = [spec.validate_params(p) for p in param_sets]
    metrics, equity = window_simulations(
        spec, arrays, sets, int(start), n, cfg, float(periods_per_year), bars_per_day
    )
    return np.asarray(k.equity_returns(equity, cfg.init_cash)), np.asarray(metrics)


def equity_to_returns(equity: F64, init_cash: float) -> F64:
    """Per-bar simple returns of one equity curve (the first relative to ``init_cash``)."""
    return np.asarray(returns_from_equity(np.ascontiguousarray(equity, dtype=np.float64), float(init_cash)))


def ts_index(ts: NDArray[np.int64]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(ts, dtype=np.int64), utc=True), name="ts")


@dataclass(frozen=True, slots=True)
class CommonBars:
    """The bars every symbol has inside its own window, matched by timestamp (see :func:`common_bars`).

    Attributes:
        ts: the shared timestamps, ascending.
        start: each symbol's index of the first shared bar.
        end: each symbol's index one past the last shared bar.
        pos: each symbol's indices of the shared bars (absolute, ``start[s] <= pos[s] < end[s]``).
    """

    ts: NDArray[np.int64]
    start: dict[str, int]
    end: dict[str, int]
    pos: dict[str, I64]


def common_bars(
    ts_by_symbol: Mapping[str, NDArray[np.int64]],
    lo: Mapping[str, int],
    hi: Mapping[str, int],
    *,
    what: str,
    min_bars: int = 2,
) -> CommonBars:
    """The timestamps present in every symbol's window ``[lo[s], hi[s])``: averaging symbols' returns over them
    compares the same dates (a positional alignment would average one stock's 2016 with another's 2018).

    Raises ParameterError naming each symbol's window when fewer than ``min_bars`` are shared.

    Example:
        >>> ts = {"A": np.arange(10, dtype=np.int64), "B": np.arange(4, 12, dtype=np.int64)}
        >>> cb = common_bars(ts, {"A": 6, "B": 0}, {"A": 10, "B": 8}, what="holdout")
        >>> cb.ts.tolist(), cb.start, cb.end, cb.pos["B"].tolist()
        ([6, 7, 8, 9], {'A': 6, 'B': 2}, {'A': 10, 'B': 6}, [2, 3, 4, 5])
    """
    common: NDArray[np.int64] | None = None
    for s, ts in ts_by_symbol.items():
        seg = np.asarray(ts[lo[s] : hi[s]], dtype=np.int64)
        common = seg if common is None else np.intersect1d(common, seg, assume_unique=True)
    if common is None or common.size < min_bars:
        spans = ", ".join(
            f"{s} {_stamp(ts[lo[s]])} → {_stamp(ts[hi[s] - 1])} ({hi[s] - lo[s]} bars)"
            if hi[s] > lo[s]
            else f"{s} none"
            for s, ts in ts_by_symbol.items()
        )
        raise ParameterError(
            f"{what}: the symbols share {0 if common is None else common.size} bar(s) (at least {min_bars} are "
            f"needed; bars are matched by exact timestamp): {spans}; pass symbols whose bars cover the same dates "
            "at the same times"
        )
    start, end, pos = {}, {}, {}
    for s, ts in ts_by_symbol.items():
        p = np.searchsorted(ts, common).astype(np.int64)
        start[s], end[s], pos[s] = int(p[0]), int(p[-1]) + 1, p
    return CommonBars(common, start, end, pos)


def _stamp(t: Any) -> str:
    return str(pd.Timestamp(int(t)))


def shared_returns(r: F64, pos: I64) -> F64:
    """Returns on the shared bars ``pos`` (indices into ``r``'s rows, ascending) of per-bar returns ``r`` (1-D,
    or 2-D with one column per trial): a shared bar right after the previous one keeps its own return; one after a
    gap (bars this symbol has that another lacks) compounds the returns since the previous shared bar, so no
    return is lost. The first shared bar keeps its own return.

    Example:
        >>> shared_returns(np.array([0.1, 0.1, -0.5, 0.2]), np.array([0, 2, 3])).round(6).tolist()
        [0.1, -0.45, 0.2]
    """
    out = np.array(r[pos], dtype=np.float64)
    for i in np.flatnonzero(np.diff(pos) > 1) + 1:
        out[i] = np.prod(1.0 + r[pos[i - 1] + 1 : pos[i] + 1], axis=0) - 1.0
    return out


def holdout_matrix(
    arrays: Mapping[str, BarArrays],
    runs: Sequence[tuple[str | StrategySpec, Mapping[str, Any]]],
    hstart: Mapping[str, int],
    config: ExecutionConfig,
    periods_per_year: float,
    bars_per_day: float = 1.0,
    *,
    what: str,
    min_bars: int = 2,
) -> tuple[F64, F64]:
    """Holdout returns of several ``(strategy, params)`` runs on the bars every symbol has after its own
    ``hstart[s]`` (:func:`common_bars`): each symbol simulated from the first shared bar (signals warmed up on
    the history before it, starting flat), its returns on the shared bars (:func:`shared_returns`) averaged over
    symbols. Returns ``(R, trades)``: R of shape (shared bars, runs), and each run's entries summed over
    symbols. Raises ParameterError (``what`` names the caller) when fewer than ``min_bars`` bars are shared."""
    ends = {s: a[4].size for s, a in arrays.items()}
    cb = common_bars({s: a[0] for s, a in arrays.items()}, hstart, ends, what=what, min_bars=min_bars)
    total = np.zeros((cb.ts.size, len(runs)))
    trades = np.zeros(len(runs))
    i_trades = METRIC_NAMES.index("num_trades")
    for sym, a in arrays.items():
        e = cb.end[sym]
        cut: BarArrays = (a[0][:e], a[1][:e], a[2][:e], a[3][:e], a[4][:e], a[5][:e])
        for j, (strategy, params) in enumerate(runs):
            # one simulation per run and symbol gives both its holdout returns and its trade count
            rets, met = trial_simulations(
                cut, strategy, [params], config=config, periods_per_year=periods_per_year,
                bars_per_day=bars_per_day, start=cb.start[sym],
            )  # fmt: skip
            total[:, j] += shared_returns(rets[:, 0], cb.pos[sym] - cb.start[sym])
            trades[j] += met[0, i_trades]
    return total / len(arrays), trades
