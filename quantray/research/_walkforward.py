"""Walk-forward optimisation, rolling and anchored."""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantray._backtest import run_symbol
from quantray.engine import ExecutionConfig, cagr, max_drawdown, sharpe_ratio, total_return
from quantray.engine._config import METRIC_NAMES
from quantray.errors import ParameterError
from quantray.research._common import (
    LOWER_IS_BETTER,
    BarArrays,
    DataLike,
    Mapper,
    best_index,
    check_metric,
    check_positive_int,
    equity_to_returns,
    expand,
    load_symbols,
    ts_index,
    window_simulations,
)
from quantray.strategies import StrategySpec, get_strategy

_M = {name: i for i, name in enumerate(METRIC_NAMES)}


@dataclass(frozen=True, slots=True)
class Window:
    """One walk-forward step in bar positions of a symbol's series; ends are exclusive.

    The optimiser sees bars ``[train_start, train_end)``; the chosen parameters trade bars
    ``[test_start, test_end)`` with ``test_start == train_end``.
    """

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int


def walk_forward_windows(
    n_bars: int, *, train_bars: int, test_bars: int, anchored: bool = False
) -> list[Window]:
    """The walk-forward windows over ``n_bars`` bars.

    Window i tests bars ``[train_bars + i·test_bars, train_bars + (i+1)·test_bars)``; a rolling window trains
    on the ``train_bars`` bars just before, an anchored one on every bar from 0. The last test window may be
    shorter (it ends at the last bar); one of fewer than 2 bars is dropped.

    Example:
        >>> [(w.train_start, w.train_end, w.test_end) for w in walk_forward_windows(10, train_bars=4, test_bars=3)]
        [(0, 4, 7), (3, 7, 10)]
        >>> [(w.train_start, w.train_end) for w in walk_forward_windows(10, train_bars=4, test_bars=3, anchored=True)]
        [(0, 4), (0, 7)]
    """
    n_bars = check_positive_int(n_bars, "n_bars")
    train_bars = check_positive_int(train_bars, "train_bars", 2)
    test_bars = check_positive_int(test_bars, "test_bars", 2)
    if n_bars < train_bars + 2:
        raise ParameterError(
            f"`train_bars + 2 <= n_bars` must hold, got train_bars={train_bars}, n_bars={n_bars}"
        )
    out: list[Window] = []
    start = train_bars
    while n_bars - start >= 2:
        end = min(start + test_bars, n_bars)
        out.append(Window(len(out), 0 if anchored else start - train_bars, start, start, end))
        start = end
    return out


@dataclass(frozen=True, slots=True)
class WindowOutcome:
    """What one walk-forward window produced (see :func:`evaluate_window`).

    Attributes:
        window: the window.
        best: index of the chosen parameter set.
        is_metrics: in-sample metrics of every parameter set, (m, len(METRIC_NAMES)).
        oos_metrics: out-of-sample metrics of the chosen set.
        oos_returns: out-of-sample per-bar returns of the chosen set (the first relative to init_cash).
        qualified: some set made ``min_trades`` entries in sample (False: none did, and the first set in grid
            order was traded, as for an all-NaN window).
    """

    window: Window
    best: int
    is_metrics: np.ndarray = field(repr=False)
    oos_metrics: np.ndarray = field(repr=False)
    oos_returns: np.ndarray = field(repr=False)
    qualified: bool = True


def evaluate_window(
    spec: StrategySpec,
    arrays: BarArrays,
    param_sets: Sequence[Mapping[str, Any]],
    window: Window,
    *,
    config: ExecutionConfig,
    periods_per_year: float,
    bars_per_day: float,
    metric: str = "sharpe",
    min_trades: int = 0,
) -> WindowOutcome:
    """Optimise in sample, then trade the chosen set out of sample, for one window (pure, no Ray).

    In sample: every parameter set is backtested on bars ``[train_start, train_end)`` alone with the fused
    batch kernel (``quantray._backtest.run_symbol``; the first bars of the window are its warm-up) and the
    best ``metric`` wins (smaller is better for max_drawdown, max_drawdown_duration and volatility; NaN
    ranks last; sets with fewer than ``min_trades`` entries are skipped; ties and all-NaN windows take the
    first set in grid order). Out of sample: the chosen set's signal is computed over bars
    ``[0, test_end)`` (indicators warmed up by all earlier history, no look-ahead) and simulated on
    ``[test_start, test_end)`` starting flat in cash, so only trades and returns inside the window count.
    """
    _, o, h, lo, c, v = arrays
    s, e = window.train_start, window.train_end
    ts = arrays[0]
    train = (ts[s:e], o[s:e], h[s:e], lo[s:e], c[s:e], v[s:e])
    is_m = run_symbol(spec, train, param_sets, config, periods_per_year, bars_per_day)
    valid = is_m[:, _M["num_trades"]] >= min_trades
    best = best_index(is_m[:, _M[metric]], lower_is_better=metric in LOWER_IS_BETTER, valid=valid)
    oos_m, equity = window_simulations(
        spec,
        arrays,
        [param_sets[best]],
        window.test_start,
        window.test_end,
        config,
        periods_per_year,
        bars_per_day,
    )
    return WindowOutcome(
        window=window,
        best=best,
        is_metrics=is_m,
        oos_metrics=oos_m[0],
        oos_returns=equity_to_returns(equity[0], config.init_cash),
        qualified=bool(valid.any()),
    )


def _evaluate_task(
    task: tuple[str, BarArrays, Window],
    *,
    spec: StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    config: ExecutionConfig,
    periods_per_year: float,
    bars_per_day: float,
    metric: str,
    min_trades: int,
) -> tuple[str, WindowOutcome]:
    symbol, arrays, window = task
    out = evaluate_window(
        spec,
        arrays,
        param_sets,
        window,
        config=config,
        periods_per_year=periods_per_year,
        bars_per_day=bars_per_day,
        metric=metric,
        min_trades=min_trades,
    )
    return symbol, out


@dataclass(frozen=True)
class WalkForwardResult:
    """Results of :func:`walk_forward`.

    Attributes:
        windows: one row per (symbol, window): ``symbol, window, train_start, train_end, test_start,
            test_end`` (timestamps, ends inclusive), the chosen parameters, ``is_<metric>``, ``is_cagr``,
            ``is_sharpe``, then ``oos_total_return, oos_cagr, oos_sharpe, oos_max_drawdown, oos_num_trades,
            oos_bars``, ``qualified`` (False when no set made ``min_trades`` entries in sample: the first set
            was traded).
        equity: stitched out-of-sample equity per symbol (columns), starting from ``init_cash`` and compounding
            the windows' returns; NaN before a symbol's first test bar.
        returns: the stitched out-of-sample per-bar returns.
        summary: one row per symbol: ``n_windows, oos_bars, oos_total_return, oos_cagr, oos_sharpe,
            oos_max_drawdown, is_cagr`` (mean IS CAGR of the chosen sets), ``wfe`` (walk-forward efficiency),
            ``modal_fraction`` (share of windows choosing the most frequent set), ``modal_params`` and
            ``cv_<param>`` (coefficient of variation of each chosen parameter across windows).
        strategy, metric, config, periods_per_year, train_bars, test_bars, anchored: the inputs.
    """

    windows: pd.DataFrame
    equity: pd.DataFrame
    returns: pd.DataFrame
    summary: pd.DataFrame
    strategy: StrategySpec
    metric: str
    config: ExecutionConfig
    periods_per_year: float
    train_bars: int
    test_bars: int
    anchored: bool

    @property
    def efficiency(self) -> pd.Series:
        """Walk-forward efficiency per symbol (the ``wfe`` column of :attr:`summary`)."""
        return self.summary["wfe"]


def walk_forward(
    data: DataLike,
    strategy: str | StrategySpec,
    grid: Mapping[str, Any],
    *,
    train_bars: int,
    test_bars: int,
    anchored: bool = False,
    metric: str = "sharpe",
    config: ExecutionConfig | None = None,
    symbols: Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    periods_per_year: float | None = None,
    min_trades: int = 0,
    mapper: Mapper | None = None,
) -> WalkForwardResult:
    """Walk-forward optimisation: optimise on a window, trade the winner on the next, roll on.

    Each symbol is treated separately on its own bars (see :func:`walk_forward_windows` for the windows and
    :func:`evaluate_window` for what happens inside one); a symbol with fewer than ``train_bars + 2`` bars is
    left out (an error when it is the only one). The out-of-sample windows are stitched into one
    equity curve per symbol by compounding their returns.

    Walk-forward efficiency (Pardo): WFE = annualised OOS return / annualised IS return = CAGR of the stitched
    OOS curve / mean over windows of the chosen set's in-sample CAGR. NaN when the mean IS CAGR is ≤ 0. A WFE
    near 1 means the optimised performance carried over; well below 1 (or negative) suggests overfitting.

    Parameter stability: for each parameter the coefficient of variation std/|mean| (ddof 0) of the chosen
    values across windows, and the fraction of windows that chose the modal parameter set.

    Args:
        data: path/URL, DataFrame of bars, Panel, one ``(ts, o, h, l, c, v)`` tuple or a mapping of them.
        strategy: registered name or StrategySpec.
        grid: parameter name → values searched in every training window.
        train_bars: bars per training window (the first window's length when anchored).
        test_bars: bars per test window (≥ 2).
        anchored: grow the training window from bar 0 instead of rolling it.
        metric: the in-sample selection metric, one of ``METRIC_NAMES``.
        config: execution and costs (default ``ExecutionConfig()``).
        symbols: restrict to these symbols.
        params: fixed values of the parameters the grid does not vary.
        periods_per_year: annualisation (inferred from the data by default).
        min_trades: in-sample entries a set needs to be eligible.
        mapper: ``mapper(fn, tasks)`` over the (symbol, window) tasks; builtin ``map`` by default.

    Example:
        >>> from quantray.data import sample_path
        >>> res = walk_forward(sample_path(), "sma_cross", {"fast": [5, 10], "slow": [30, 60]},
        ...                    train_bars=500, test_bars=250, symbols=["MSFT"])
        >>> len(res.windows), list(res.summary.index)
        (4, ['MSFT'])
    """
    spec = get_strategy(strategy)
    cfg = config or ExecutionConfig()
    metric = check_metric(metric)
    min_trades = check_positive_int(min_trades, "min_trades", 0)
    param_sets = expand(spec, grid, params)
    sd = load_symbols(data, symbols, periods_per_year)
    tasks: list[tuple[str, BarArrays, Window]] = []
    for sym, arrays in sd.arrays.items():
        n = arrays[4].size
        if n < train_bars + 2:
            if len(sd.arrays) == 1:
                walk_forward_windows(n, train_bars=train_bars, test_bars=test_bars, anchored=anchored)
            continue  # too short for one window: left out of the results
        for w in walk_forward_windows(n, train_bars=train_bars, test_bars=test_bars, anchored=anchored):
            tasks.append((sym, arrays, w))
    if not tasks:
        raise ParameterError(
            f"no symbol has the train_bars + 2 = {train_bars + 2} bars one window needs "
            f"(longest has {max(a[4].size for a in sd.arrays.values())})"
        )
    fn = functools.partial(
        _evaluate_task,
        spec=spec,
        param_sets=param_sets,
        config=cfg,
        periods_per_year=sd.periods_per_year,
        bars_per_day=sd.bars_per_day,
        metric=metric,
        min_trades=min_trades,
    )
    outcomes: dict[str, list[WindowOutcome]] = {}
    for sym, out in (mapper or map)(fn, tasks):
        outcomes.setdefault(sym, []).append(out)
    return _assemble(
        spec,
        param_sets,
        sd.arrays,
        outcomes,
        cfg,
        metric,
        sd.periods_per_year,
        train_bars,
        test_bars,
        anchored,
    )


def _assemble(
    spec: StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    arrays: Mapping[str, BarArrays],
    outcomes: Mapping[str, list[WindowOutcome]],
    cfg: ExecutionConfig,
    metric: str,
    ppy: float,
    train_bars: int,
    test_bars: int,
    anchored: bool,
) -> WalkForwardResult:
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    eq_cols: dict[str, pd.Series] = {}
    ret_cols: dict[str, pd.Series] = {}
    for sym, outs in outcomes.items():
        outs = sorted(outs, key=lambda o: o.window.index)
        idx = ts_index(arrays[sym][0])
        for o in outs:
            w = o.window
            chosen = param_sets[o.best]
            row: dict[str, Any] = {
                "symbol": sym,
                "window": w.index,
                "train_start": idx[w.train_start],
                "train_end": idx[w.train_end - 1],
                "test_start": idx[w.test_start],
                "test_end": idx[w.test_end - 1],
            }
            row.update({name: chosen[name] for name in spec.param_names})
            row[f"is_{metric}"] = o.is_metrics[o.best, _M[metric]]
            row["is_cagr"] = o.is_metrics[o.best, _M["cagr"]]
            row["is_sharpe"] = o.is_metrics[o.best, _M["sharpe"]]
            for name in ("total_return", "cagr", "sharpe", "max_drawdown"):
                row[f"oos_{name}"] = o.oos_metrics[_M[name]]
            row["oos_num_trades"] = int(o.oos_metrics[_M["num_trades"]])
            row["oos_bars"] = w.test_end - w.test_start
            row["qualified"] = o.qualified
            rows.append(row)
        r = np.concatenate([o.oos_returns for o in outs])
        pos = np.concatenate([np.arange(o.window.test_start, o.window.test_end) for o in outs])
        ret_cols[sym] = pd.Series(r, index=idx[pos])
        eq_cols[sym] = pd.Series(cfg.init_cash * np.cumprod(1.0 + r), index=idx[pos])
        summary.append(_symbol_summary(sym, spec, param_sets, outs, r, ppy))
    windows = pd.DataFrame(rows)
    for name, space in spec.params.items():
        if name in windows:
            windows[name] = windows[name].astype(np.int64 if space.kind == "int" else np.float64)
    return WalkForwardResult(
        windows=windows,
        equity=pd.DataFrame(eq_cols),
        returns=pd.DataFrame(ret_cols),
        summary=pd.DataFrame(summary).set_index("symbol"),
        strategy=spec,
        metric=metric,
        config=cfg,
        periods_per_year=ppy,
        train_bars=train_bars,
        test_bars=test_bars,
        anchored=anchored,
    )


def _symbol_summary(
    sym: str,
    spec: StrategySpec,
    param_sets: Sequence[Mapping[str, Any]],
    outs: list[WindowOutcome],
    r: np.ndarray,
    ppy: float,
) -> dict[str, Any]:
    is_cagr = float(np.nanmean([o.is_metrics[o.best, _M["cagr"]] for o in outs]))
    oos_cagr = cagr(r, ppy)
    wfe = oos_cagr / is_cagr if is_cagr > 0 and math.isfinite(oos_cagr) else float("nan")
    counts = Counter(o.best for o in outs)
    modal, count = counts.most_common(1)[0]
    out: dict[str, Any] = {
        "symbol": sym,
        "n_windows": len(outs),
        "oos_bars": int(r.size),
        "oos_total_return": total_return(r),
        "oos_cagr": oos_cagr,
        "oos_sharpe": sharpe_ratio(r, ppy),
        "oos_max_drawdown": max_drawdown(r),
        "is_cagr": is_cagr,
        "wfe": wfe,
        "modal_fraction": count / len(outs),
        "modal_params": dict(param_sets[modal]),
    }
    for name in spec.param_names:
        vals = np.array([float(param_sets[o.best][name]) for o in outs])
        mean = float(vals.mean())
        out[f"cv_{name}"] = float(vals.std()) / abs(mean) if mean != 0 else float("nan")
    return out
