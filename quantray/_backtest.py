"""``quantray.backtest``: one obvious entry point from data + strategy to the results table."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantray.data import Panel, read_bars
from quantray.engine import RESULT_METRICS, ExecutionConfig, SimResult, simulate
from quantray.engine._api import TRADE_COLUMNS, impact_arrays
from quantray.engine._config import METRIC_NAMES
from quantray.errors import DataError, ParameterError
from quantray.strategies import StrategySpec, get_strategy
from quantray.strategies._kernels import batch_run

DataLike = str | pd.DataFrame | Panel
Progress = Callable[[int, int], None]

_TRADING_DAYS = {"equities": 252.0, "crypto": 365.0, "fx": 260.0}


@dataclass(frozen=True)
class BacktestResult:
    """Results of :func:`backtest`.

    Attributes:
        table: one row per (symbol, parameter set) in the DESIGN.md results schema: ``symbol``, one column per
            parameter, then ``total_return, cagr, sharpe, sortino, calmar, max_drawdown, volatility, num_trades,
            win_rate, profit_factor, exposure, final_equity``.
        strategy: the strategy spec.
        config: execution and costs used.
        periods_per_year: annualisation factor used for the metrics.
        panel: the aligned data the backtest ran on (for :meth:`detail`).
    """

    table: pd.DataFrame
    strategy: StrategySpec
    config: ExecutionConfig
    periods_per_year: float
    panel: Panel = field(repr=False)

    def ranked(self, metric: str = "sharpe", *, ascending: bool | None = None) -> pd.DataFrame:
        """The table sorted by ``metric`` (best first; NaN last; ties by total_return then symbol)."""
        if metric not in self.table.columns:
            raise ParameterError(f"unknown metric {metric!r}; valid: {list(RESULT_METRICS)}")
        asc = (metric == "max_drawdown") if ascending is None else ascending
        return self.table.sort_values(
            [metric, "total_return", "symbol"],
            ascending=[asc, False, True],
            na_position="last",
            kind="mergesort",
        ).reset_index(drop=True)

    def detail(self, symbol: str, params: Mapping[str, Any] | None = None) -> BacktestDetail:
        """Re-run one (symbol, parameter set) with the equity curve and the trade list."""
        p = self.strategy.validate_params(params)
        ts, o, h, lo, c, v = self.panel.arrays(symbol)
        target = self.strategy.signal(o, h, lo, c, v, p)
        sim = simulate(
            o,
            h,
            lo,
            c,
            v,
            target,
            config=self.config,
            periods_per_year=self.periods_per_year,
            bars_per_day=_bars_per_day(self.panel, self.periods_per_year),
        )
        return BacktestDetail.from_sim(symbol, p, ts, sim)


@dataclass(frozen=True)
class BacktestDetail:
    """Equity curve and trade list of one (symbol, parameter set).

    ``trades`` columns: entry_time, exit_time (NaT while open), direction (+1 long, −1 short), size,
    entry_price, exit_price (last close while open), fees, pnl.
    """

    symbol: str
    params: dict[str, Any]
    metrics: dict[str, float]
    equity: pd.Series
    trades: pd.DataFrame

    @classmethod
    def from_sim(cls, symbol: str, params: dict[str, Any], ts: np.ndarray, sim: SimResult) -> BacktestDetail:
        index = pd.DatetimeIndex(pd.to_datetime(ts, utc=True), name="ts")
        equity = pd.Series(sim.equity, index=index, name="equity")
        tr = pd.DataFrame(sim.trades, columns=list(TRADE_COLUMNS))
        entry = tr["entry_bar"].to_numpy(dtype=np.int64)
        exit_bar = tr["exit_bar"].to_numpy()
        trades = pd.DataFrame(
            {
                "entry_time": pd.DatetimeIndex(index[entry]).as_unit("ns"),
                "exit_time": pd.DatetimeIndex(
                    [index[int(b)] if b >= 0 else pd.NaT for b in exit_bar], dtype="datetime64[ns, UTC]"
                ),
                "direction": tr["direction"].astype(np.int64),
                "size": tr["size"],
                "entry_price": tr["entry_price"],
                "exit_price": tr["exit_price"],
                "fees": tr["fees"],
                "pnl": tr["pnl"],
            }
        )
        return cls(symbol=symbol, params=params, metrics=sim.metrics, equity=equity, trades=trades)


def _bars_per_day(panel: Panel, ppy: float) -> float:
    return ppy / _TRADING_DAYS.get(panel.calendar, 252.0)


def _to_panel(data: DataLike, symbols: Sequence[str] | None) -> Panel:
    if isinstance(data, Panel):
        return data.select(list(symbols)) if symbols else data
    if isinstance(data, pd.DataFrame):
        bars = read_bars(data, symbols=list(symbols) if symbols else None, on_bad="repair")
    elif isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        bars = read_bars(str(data), symbols=list(symbols) if symbols else None, on_bad="repair")
    else:
        raise DataError(
            f"`data` must be a path/URL, a DataFrame of bars or a Panel, got {type(data).__name__}"
        )
    return Panel.from_bars(bars)


def _grid_values(spec: StrategySpec, grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for k, vals in grid.items():
        if isinstance(vals, str | bytes) or not hasattr(vals, "__iter__"):
            vals = [vals]
        out[k] = list(vals)
    return out


def param_matrix(spec: StrategySpec, param_sets: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Parameter sets as the (m, 3) float matrix the fused kernels take (the spec's positional order)."""
    m = np.zeros((len(param_sets), 3))
    for i, ps in enumerate(param_sets):
        for j, name in enumerate(spec.param_names):
            m[i, j] = float(ps[name])
    return m


def run_symbol(
    spec: StrategySpec,
    arrays: tuple[np.ndarray, ...],
    param_sets: Sequence[Mapping[str, Any]],
    config: ExecutionConfig,
    ppy: float,
    bars_per_day: float,
) -> np.ndarray:
    """Metrics (len(param_sets), len(METRIC_NAMES)) of every parameter set on one symbol's arrays.

    Built-ins run the fused parallel batch kernel; user strategies compute their signal array per set and
    run the same numba simulator.
    """
    _, o, h, lo, c, v = arrays
    sig, adv = impact_arrays(c, v, config, bars_per_day)
    rf = config.risk_free / ppy
    if spec.builtin_id is not None:
        return batch_run(
            spec.builtin_id,
            o,
            h,
            lo,
            c,
            v,
            sig,
            adv,
            param_matrix(spec, param_sets),
            *config.kernel_args(),
            ppy,
            rf,
        )
    rows = np.empty((len(param_sets), len(METRIC_NAMES)))
    for i, ps in enumerate(param_sets):
        target = spec.signal(o, h, lo, c, v, ps)
        sim = simulate(o, h, lo, c, v, target, config=config, periods_per_year=ppy, bars_per_day=bars_per_day)
        rows[i] = [sim.metrics[m] for m in METRIC_NAMES]
    return rows


def results_frame(
    spec: StrategySpec, symbol_blocks: Sequence[tuple[str, Sequence[Mapping[str, Any]], np.ndarray]]
) -> pd.DataFrame:
    """Assemble the DESIGN.md results table from (symbol, parameter sets, metrics matrix) blocks."""
    frames = []
    idx = [METRIC_NAMES.index(m) for m in RESULT_METRICS]
    for symbol, param_sets, metrics in symbol_blocks:
        part: dict[str, Any] = {"symbol": [symbol] * len(param_sets)}
        for name in spec.param_names:
            part[name] = [ps[name] for ps in param_sets]
        for j, m in zip(idx, RESULT_METRICS, strict=True):
            part[m] = metrics[:, j]
        frames.append(pd.DataFrame(part))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "num_trades" in table:
        table["num_trades"] = table["num_trades"].astype(np.int64)
    for name, space in spec.params.items():
        if name in table:
            table[name] = table[name].astype(np.int64 if space.kind == "int" else np.float64)
    return table


def backtest(
    data: DataLike,
    strategy: str | StrategySpec,
    *,
    params: Mapping[str, Any] | None = None,
    grid: Mapping[str, Any] | None = None,
    symbols: Sequence[str] | None = None,
    fees: float = 0.0,
    slippage: float = 0.0,
    init_cash: float = 100_000.0,
    execution: str = "next_open",
    fixed_fee: float = 0.0,
    impact_k: float = 0.0,
    participation: float = 0.0,
    risk_free: float = 0.0,
    config: ExecutionConfig | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest a strategy on every symbol of ``data`` for one parameter set or a grid.

    Args:
        data: a path or fsspec URL (Parquet/CSV/partitioned dataset), a long DataFrame of bars, or a Panel.
            Paths and frames are validated with the ``repair`` policy (problems are repaired, never silently
            ignored: use :func:`quantray.data.validate_bars` to see them).
        strategy: a registered name (``quantray strategies list``) or a StrategySpec.
        params: one parameter set (missing names take their defaults); combined with ``grid`` it fixes the
            parameters the grid does not vary.
        grid: parameter name → list of values; every combination is evaluated (combinations breaking a
            constraint such as fast < slow are dropped) by the fused batch kernel, in parallel.
        symbols: restrict to these symbols.
        fees, slippage, init_cash, execution, fixed_fee, impact_k, participation, risk_free: execution and
            costs (see :class:`quantray.engine.ExecutionConfig`); ``config`` overrides them all.
        progress: called as ``progress(done_symbols, total_symbols)``.

    Returns:
        A :class:`BacktestResult` whose ``table`` has one row per (symbol, parameter set).

    Example:
        >>> import quantray
        >>> from quantray.data import sample_path
        >>> res = quantray.backtest(sample_path(), "sma_cross", params={"fast": 10, "slow": 50},
        ...                         symbols=["AAPL"], execution="close")
        >>> list(res.table.columns[:3])
        ['symbol', 'fast', 'slow']
    """
    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig(
        execution=execution,  # type: ignore[arg-type]
        fees=fees,
        slippage=slippage,
        init_cash=init_cash,
        fixed_fee=fixed_fee,
        impact_k=impact_k,
        participation=participation,
        risk_free=risk_free,
    )
    if grid:
        param_sets = spec.expand_grid(_grid_values(spec, grid), fixed=params)
    else:
        param_sets = [spec.validate_params(params)]
    panel = _to_panel(data, symbols)
    ppy = float(panel.periods_per_year)
    if not math.isfinite(ppy) or ppy <= 0:
        raise DataError(f"cannot infer the bar interval of the data (periods_per_year={ppy})")
    bpd = _bars_per_day(panel, ppy)
    blocks = []
    total = len(panel.symbols)
    for i, sym in enumerate(panel.symbols):
        arrays = panel.arrays(sym)
        if arrays[4].size == 0:
            continue
        blocks.append((sym, param_sets, run_symbol(spec, arrays, param_sets, cfg, ppy, bpd)))
        if progress is not None:
            progress(i + 1, total)
    return BacktestResult(
        table=results_frame(spec, blocks), strategy=spec, config=cfg, periods_per_year=ppy, panel=panel
    )
