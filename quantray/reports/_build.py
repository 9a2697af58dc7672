"""Build a :class:`QuarterlyReport` from real backtests: selection before the quarter, trading during it.

Method (no look-ahead):

1. **Selection window.** The ``selection.train_bars`` bars of the panel that end just before the quarter's first
   bar. Every candidate (each strategy of the portfolio × each parameter set of its grid) is backtested there,
   with the portfolio's costs — in process, or on Ray through :func:`quantray.sweep` (``use_ray=True``); both
   run the same kernels and give identical numbers. The best candidate per symbol by ``selection.metric``
   (ties: higher total_return, then the order strategies and grids are listed) among those with at least
   ``selection.min_trades`` trades is chosen.
2. **Out of sample.** The chosen strategy's signal is computed on the symbol's whole history up to the quarter's
   end (signals are causal: bar t uses bars ≤ t, so warm-up comes from before the quarter) and traded over the
   quarter's bars only, starting flat with ``init_cash``. The row's metrics are those of this simulation; its
   equity curve is stored with the report.
3. **Portfolio.** Equal capital per symbol at the quarter start, no rebalancing inside the quarter:
   ``P(t) = Σ w_i · E_i(t)`` with ``w_i = 1/N`` (every sleeve starts at ``init_cash``, so P does too).
4. **Benchmark.** ``equal_weight``: equal-weight buy-and-hold of the same symbols from the last close before the
   quarter; ``file``: an index level series (e.g. the S&P 500) rebased to ``init_cash`` at that close.

Example:
    >>> from quantray.reports import build_quarterly_report, load_portfolio
    >>> import dataclasses
    >>> p = dataclasses.replace(load_portfolio("sample"), symbols=("AAPL", "MSFT"))
    >>> rep = build_quarterly_report(p, "2017Q4")
    >>> rep.label, sorted(rep.symbols)
    ('2017Q4', ['AAPL', 'MSFT'])
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from quantray.engine import (
    ExecutionConfig,
    cagr,
    calmar_ratio,
    max_drawdown,
    returns_from_equity,
    sharpe_ratio,
    simulate,
    sortino_ratio,
    total_return,
    trade_stats,
    volatility,
)
from quantray.errors import DataError
from quantray.reports._model import (
    LOWER_IS_BETTER,
    REPORT_METRICS,
    QuarterlyReport,
    ReportRow,
    parse_quarter,
    quarter_bounds,
)
from quantray.reports._portfolio import Portfolio, load_portfolio

__all__ = [
    "RETURN_METRICS",
    "build_quarterly_report",
    "equity_metrics",
    "latest_complete_quarter",
    "timeframe_label",
]

log = logging.getLogger("quantray.reports")

#: Metrics that depend only on an equity curve (used for the portfolio and the benchmark).
RETURN_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "volatility",
    "final_equity",
)


def timeframe_label(interval: pd.Timedelta) -> str:
    """``1 day`` -> ``"1d"``, ``1 hour`` -> ``"1h"``, ``15 min`` -> ``"15m"``.

    Example:
        >>> timeframe_label(pd.Timedelta(hours=1))
        '1h'
    """
    s = int(pd.Timedelta(interval).total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def equity_metrics(
    equity: Sequence[float] | np.ndarray, init_cash: float, periods_per_year: float
) -> dict[str, float]:
    """Return-based metrics of an equity curve whose first return is relative to ``init_cash``.

    Same definitions as the engine (empyrical's): simple returns, Sharpe with risk-free 0, max drawdown positive.

    Example:
        >>> m = equity_metrics([101.0, 102.0], 100.0, 252)
        >>> round(m["total_return"], 6)
        0.02
    """
    eq = np.asarray(equity, dtype=np.float64)
    r = returns_from_equity(eq, float(init_cash))
    ppy = float(periods_per_year)
    return {
        "total_return": total_return(r),
        "cagr": cagr(r, ppy),
        "sharpe": sharpe_ratio(r, ppy),
        "sortino": sortino_ratio(r, ppy),
        "calmar": calmar_ratio(r, ppy),
        "max_drawdown": max_drawdown(r),
        "volatility": volatility(r, ppy),
        "final_equity": float(eq[-1]) if eq.size else math.nan,
    }


# ---------------------------------------------------------------------------------------------- selection
def _rank_key(metric: str) -> Callable[[tuple[float, float, int]], tuple[int, float, float, int]]:
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(t: tuple[float, float, int]) -> tuple[int, float, float, int]:
        v, tr, order = t
        bad = math.isnan(v)
        return (1 if bad else 0, 0.0 if bad else sign * v, math.inf if math.isnan(tr) else -tr, order)

    return key


def _candidates(portfolio: Portfolio) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(s.name, s.param_sets()) for s in portfolio.strategies]


def _select_in_process(
    train: Any, cands: list[tuple[str, list[dict[str, Any]]]], cfg: ExecutionConfig, symbols: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Per strategy, the results table of every parameter set on the selection window."""
    from quantray._backtest import _bars_per_day, results_frame, run_symbol
    from quantray.strategies import get_strategy

    ppy = float(train.periods_per_year)
    bpd = _bars_per_day(train, ppy)
    out: dict[str, pd.DataFrame] = {}
    for name, sets in cands:
        spec = get_strategy(name)
        blocks = []
        for sym in symbols:
            arrays = train.arrays(sym)
            if arrays[4].size < 2:
                continue
            blocks.append((sym, sets, run_symbol(spec, arrays, sets, cfg, ppy, bpd)))
        out[name] = results_frame(spec, blocks)
    return out


def _select_on_ray(
    train: Any,
    cands: list[tuple[str, list[dict[str, Any]]]],
    cfg: ExecutionConfig,
    symbols: Sequence[str],
    address: str | None,
    num_cpus: int | None,
) -> dict[str, pd.DataFrame]:
    from quantray._sweep import sweep
    from quantray.strategies import get_strategy

    out: dict[str, pd.DataFrame] = {}
    usable = [s for s in symbols if train.arrays(s)[4].size >= 2]
    panel = train.select(usable)
    for name, sets in cands:
        spec = get_strategy(name)
        grid: dict[str, list[Any]] = {k: sorted({p[k] for p in sets}) for k in spec.param_names}
        res = sweep(
            panel, spec, grid=grid or None, config=cfg, address=address, num_cpus=num_cpus, progress=False
        )
        if res.failures:
            raise DataError(f"selection sweep of {name} failed: {res.failures[0].error}")
        tab = res.table
        if spec.param_names and len(tab):
            # keep exactly the portfolio's candidate sets (a grid over sets may add combinations)
            keys = {tuple(p[k] for k in spec.param_names) for p in sets}
            mask = [tuple(r) in keys for r in tab[list(spec.param_names)].itertuples(index=False, name=None)]
            tab = tab[np.asarray(mask, dtype=bool)].reset_index(drop=True)
        out[name] = tab
    return out


def _choose(
    tables: Mapping[str, pd.DataFrame],
    cands: list[tuple[str, list[dict[str, Any]]]],
    symbol: str,
    metric: str,
    min_trades: int,
) -> tuple[str, dict[str, Any], dict[str, float], int] | None:
    from quantray.strategies import get_strategy

    best: tuple[tuple[int, float, float, int], str, dict[str, Any], dict[str, float]] | None = None
    key = _rank_key(metric)
    order = 0
    n = 0
    for name, sets in cands:
        spec = get_strategy(name)
        tab = tables.get(name)
        if tab is None or tab.empty:
            order += len(sets)
            continue
        sub = tab[tab["symbol"] == symbol]
        index = {tuple(p[k] for k in spec.param_names): i for i, p in enumerate(sets)}
        for rec in sub.to_dict("records"):
            pk = tuple(rec[k] for k in spec.param_names)
            pos = index.get(pk)
            if pos is None:
                continue
            n += 1
            if int(rec["num_trades"]) < min_trades:
                continue
            k = key((float(rec[metric]), float(rec["total_return"]), order + pos))
            if best is None or k < best[0]:
                params = {
                    p: (int(rec[p]) if spec.params[p].kind == "int" else float(rec[p]))
                    for p in spec.param_names
                }
                best = (k, name, params, {m: float(rec[m]) for m in REPORT_METRICS})
        order += len(sets)
    if best is None:
        return None
    return best[1], best[2], best[3], n


# ---------------------------------------------------------------------------------------------- benchmark
def _benchmark_file(
    spec: Any, url_of: Callable[[str], str], index: pd.DatetimeIndex, base_ts: pd.Timestamp
) -> pd.Series:
    path = url_of(spec.path)
    try:
        df = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"benchmark {spec.name!r}: cannot read {path!r}: {exc}") from None
    for col in (spec.date_column, spec.column):
        if col not in df.columns:
            raise DataError(
                f"benchmark {spec.name!r}: {path!r} has no column {col!r} (columns: {list(df.columns)})"
            )
    ts = pd.to_datetime(df[spec.date_column], utc=True).dt.normalize()
    level = (
        pd.Series(pd.to_numeric(df[spec.column], errors="coerce").to_numpy(), index=ts).dropna().sort_index()
    )
    level = level[~level.index.duplicated(keep="last")]
    days = index.normalize()
    before = level[level.index < days[0]]
    if before.empty:
        raise DataError(f"benchmark {spec.name!r}: {path!r} has no level before {days[0].date()}")
    on = level.reindex(pd.DatetimeIndex(days).union(pd.DatetimeIndex(level.index))).ffill().reindex(days)
    if on.isna().any() or level.index.max() < days[-1]:
        raise DataError(
            f"benchmark {spec.name!r}: {path!r} does not cover the quarter (ends {level.index.max().date()}, "
            f"needed through {days[-1].date()})"
        )
    del base_ts
    return pd.Series(on.to_numpy() / float(before.iloc[-1]), index=index)


# ---------------------------------------------------------------------------------------------- attribution
def _attribution(
    port_r: pd.Series,
    bench_r: pd.Series,
    ppy: float,
    sector_table: pd.DataFrame,
    notes: list[str],
    *,
    monthly: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None,
    factors_path: str | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Benchmark-relative figures and attribution; quantray.portfolio's when available, else a basic fallback."""
    relative: dict[str, float] = {}
    attribution: dict[str, Any] = {"sectors": sector_table.to_dict("records")}
    p, b = port_r.to_numpy(), bench_r.to_numpy()
    relative["excess_return"] = float(np.prod(1 + p) - np.prod(1 + b))
    qp: Any
    try:
        import quantray.portfolio as qp  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        qp = None
    fn = getattr(qp, "benchmark_relative", None) if qp is not None else None
    if fn is not None:
        try:
            out = fn(port_r, bench_r, periods_per_year=ppy)
            relative.update({str(k): float(v) for k, v in dict(out).items() if isinstance(v, int | float)})
            attribution["relative_source"] = "quantray.portfolio.benchmark_relative"
        except Exception as exc:  # an optional engine: note it, keep the report
            notes.append(f"benchmark_relative failed ({type(exc).__name__}: {exc}); basic figures used")
            fn = None
    if fn is None:
        active = p - b
        var_b = float(np.var(b, ddof=1)) if b.size > 1 else math.nan
        beta = float(np.cov(p, b, ddof=1)[0, 1] / var_b) if var_b and var_b > 0 else math.nan
        te = float(np.std(active, ddof=1) * math.sqrt(ppy)) if active.size > 1 else math.nan
        relative.update(
            {
                "beta": beta,
                "alpha": float((np.mean(p) - beta * np.mean(b)) * ppy) if math.isfinite(beta) else math.nan,
                "tracking_error": te,
                "information_ratio": float(np.mean(active) * ppy / te) if te and te > 0 else math.nan,
                "correlation": float(np.corrcoef(p, b)[0, 1]) if p.size > 1 else math.nan,
            }
        )
        attribution["relative_source"] = "basic (quantray.portfolio not available)"
    if qp is not None and hasattr(qp, "brinson_fachler") and monthly is not None:
        try:  # monthly periods linked over the quarter with Cariño's coefficients
            wp, rp, wb, rb = monthly
            bf = qp.brinson_fachler(
                portfolio_weights=wp, portfolio_returns=rp, benchmark_weights=wb, benchmark_returns=rb
            )
            attribution["brinson_fachler"] = _plain(bf)
            attribution["brinson_benchmark"] = "equal-weight buy and hold of the same symbols (passive)"
        except Exception as exc:
            notes.append(f"brinson_fachler not included ({type(exc).__name__}: {exc})")
    if qp is not None and hasattr(qp, "active_passive_breakdown"):
        try:
            ap = qp.active_passive_breakdown(port_r, periods_per_year=ppy, benchmark=bench_r)
            attribution["active_passive"] = {
                k: v for k, v in _plain(ap).items() if not isinstance(v, list | dict) or k == "summary"
            }
        except Exception as exc:
            notes.append(f"active/passive breakdown not included ({type(exc).__name__}: {exc})")
    if qp is not None and factors_path and hasattr(qp, "factor_attribution"):
        try:
            factors = qp.load_fama_french(factors_path)
            fa = qp.factor_attribution(port_r, factors, periods_per_year=ppy)
            d = _plain(fa)
            attribution["factors"] = {
                k: d[k]
                for k in (
                    "alpha",
                    "alpha_annualised",
                    "betas",
                    "t_stats",
                    "r_squared",
                    "total_contributions",
                    "n_obs",
                )
                if k in d
            }
        except Exception as exc:
            notes.append(f"factor attribution not included ({type(exc).__name__}: {exc})")
    return relative, attribution


def _plain(x: Any) -> Any:
    if isinstance(x, pd.DataFrame):
        return x.reset_index().to_dict("records")
    if isinstance(x, pd.Series):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if hasattr(x, "__dataclass_fields__"):
        return _plain(asdict(x))
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if hasattr(x, "item"):
        return x.item()
    return x


def latest_complete_quarter(url: str, *, symbols: Sequence[str] | None = None) -> tuple[int, int]:
    """The newest calendar quarter that the data covers to its end (within 7 days: year-end holidays).

    Example:
        >>> from quantray.data import sample_path
        >>> latest_complete_quarter(sample_path())
        (2017, 4)
    """
    import pyarrow.dataset as ds

    from quantray.data import read_bars

    end: pd.Timestamp | None = None
    try:  # fast path: read only the timestamp column of a Parquet source
        dset = ds.dataset(url, format="parquet")
        col = next(
            (c for c in ("ts", "date", "timestamp", "Date", "datetime") if c in dset.schema.names), None
        )
        if col is not None:
            end = pd.Timestamp(dset.to_table(columns=[col]).column(col).to_pandas().max())
    except Exception:
        end = None
    if end is None:
        end = pd.Timestamp(
            read_bars(url, symbols=list(symbols) if symbols else None, on_bad="repair")["ts"].max()
        )
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    year, q = end.year, (end.month - 1) // 3 + 1
    while quarter_bounds(year, q)[1] > end + pd.Timedelta(days=7):
        year, q = (year, q - 1) if q > 1 else (year - 1, 4)
    return year, q


# ---------------------------------------------------------------------------------------------- builder
def build_quarterly_report(
    portfolio: str | Portfolio,
    quarter: str | tuple[int, int],
    *,
    data: str | None = None,
    symbols: Sequence[str] | None = None,
    use_ray: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    generated_at: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> QuarterlyReport:
    """Build a portfolio's quarterly report from real backtests (see the module docstring for the method).

    Args:
        portfolio: a bundled name (``quantray portfolios list``), a YAML path or a :class:`Portfolio`.
        quarter: ``"2017Q4"``, ``(2017, 4)`` or ``"latest"`` (the newest complete quarter of the data, see
            :func:`latest_complete_quarter`).
        data: override the portfolio's bars URL.
        symbols: restrict to these symbols.
        use_ray: run the selection sweeps on Ray through :func:`quantray.sweep` (``address`` / ``num_cpus``
            as there); else in process. The numbers are identical.
        generated_at: the build timestamp (default now, UTC).
        progress: called with a short message per step.

    Raises:
        ConfigError: unknown portfolio (valid ones listed), bad quarter text.
        DataError: the quarter has no bars or no history before it, unreadable data or benchmark.
    """
    from quantray.data import Panel, read_bars
    from quantray.strategies import get_strategy

    say = progress or (lambda msg: log.info(msg))
    pf = load_portfolio(portfolio)
    url = pf.data_url(data)
    wanted = list(symbols) if symbols else (list(pf.symbols) if pf.symbols else None)
    if isinstance(quarter, str) and quarter.strip().lower() == "latest":
        year, q = latest_complete_quarter(url, symbols=wanted)
    elif isinstance(quarter, str):
        year, q = parse_quarter(quarter)
    else:
        year, q = int(quarter[0]), int(quarter[1])
    q_start, q_end = quarter_bounds(year, q)
    cfg = pf.costs
    say(f"reading {url}")
    try:
        bars = read_bars(url, symbols=wanted, end=q_end - pd.Timedelta(1, "ns"), on_bad="repair")
    except FileNotFoundError as exc:
        raise DataError(f"portfolio {pf.name!r}: data {url!r} not found ({exc}); pass --data PATH") from None
    if bars.empty:
        raise DataError(f"portfolio {pf.name!r}: no bars in {url!r} before {q_end.date()}")
    panel = Panel.from_bars(bars)
    ns = panel.index.view(np.int64)
    first_q = int(np.searchsorted(ns, q_start.value, "left"))
    if first_q >= ns.size:
        raise DataError(
            f"quarter {year}Q{q} has no bars: the data of portfolio {pf.name!r} ({url}) ends "
            f"{panel.end.date()}; choose a quarter inside {panel.start.date()} .. {panel.end.date()}"
        )
    train_bars = pf.selection.train_bars
    if first_q < train_bars:
        raise DataError(
            f"quarter {year}Q{q}: only {first_q} bars before it in {url} (data starts {panel.start.date()}), "
            f"selection.train_bars={train_bars} are needed; choose a later quarter"
        )
    notes: list[str] = []
    if panel.end < q_end - pd.Timedelta(days=5):
        notes.append(
            f"the data ends {panel.end.date()}, before the quarter's end {q_end.date()}: partial quarter"
        )
    ppy = float(panel.periods_per_year)
    train = panel.slice(panel.index[first_q - train_bars], panel.index[first_q - 1])
    quarter_index = pd.DatetimeIndex(pd.to_datetime(ns[first_q:], utc=True), name="ts")
    cands = _candidates(pf)
    n_sets = sum(len(s) for _, s in cands)
    # symbols that trade in the quarter and have enough history in the selection window
    syms: list[str] = []
    for s in panel.symbols:
        ts_s = panel.arrays(s)[0]
        in_q = int(np.count_nonzero(ts_s >= q_start.value))
        in_train = int(np.count_nonzero((ts_s >= ns[first_q - train_bars]) & (ts_s < q_start.value)))
        if in_q < 2:
            notes.append(f"{s}: fewer than 2 bars in the quarter, left out")
        elif in_train < train_bars // 2:
            notes.append(f"{s}: {in_train} bars in the selection window (< {train_bars // 2}), left out")
        else:
            syms.append(s)
    if not syms:
        raise DataError(f"quarter {year}Q{q}: no symbol of portfolio {pf.name!r} has data to report on")
    say(f"selection: {len(syms)} symbols x {n_sets} candidates on {train_bars} bars before {q_start.date()}")
    if use_ray:
        tables = _select_on_ray(train, cands, cfg, syms, address, num_cpus)
    else:
        tables = _select_in_process(train, cands, cfg, syms)
    from quantray._backtest import _bars_per_day

    bpd = _bars_per_day(panel, ppy)
    sectors = pf.sector_map()
    tf = timeframe_label(panel.interval)
    rows: list[ReportRow] = []
    curves: dict[str, pd.Series] = {}
    bh_curves: dict[str, pd.Series] = {}
    pnls: list[np.ndarray] = []
    sel_start = str(pd.Timestamp(int(ns[first_q - train_bars]), unit="ns", tz="UTC").date())
    sel_end = str(q_start.date())
    weight = 1.0 / len(syms)
    for s in syms:
        choice = _choose(tables, cands, s, pf.selection.metric, pf.selection.min_trades)
        if choice is None:
            notes.append(
                f"{s}: no candidate with >= {pf.selection.min_trades} trades in the selection window"
            )
            continue
        name, params, sel_metrics, n_cand = choice
        ts_s, o, h, lo, c, v = panel.arrays(s)
        spec = get_strategy(name)
        target = spec.signal(o, h, lo, c, v, params)
        k = int(np.searchsorted(ts_s, q_start.value, "left"))
        sim = simulate(
            o[k:], h[k:], lo[k:], c[k:], v[k:], target[k:], config=cfg, periods_per_year=ppy, bars_per_day=bpd
        )
        idx = pd.DatetimeIndex(pd.to_datetime(ts_s[k:], utc=True), name="ts")
        curves[s] = pd.Series(sim.equity, index=idx)
        pnls.append(np.asarray(sim.trades, float).reshape(-1, 8)[:, 7])
        # passive reference: buy and hold from the last close before the quarter (the benchmark's convention)
        base = c[k - 1] if k > 0 else c[k]
        bh_curves[s] = pd.Series(c[k:] / base, index=idx)
        bh = equity_metrics(c[k:] / base * cfg.init_cash, cfg.init_cash, ppy)
        rows.append(
            ReportRow(
                symbol=s,
                strategy=name,
                params=params,
                timeframe=tf,
                metrics={m: float(sim.metrics[m]) for m in REPORT_METRICS},
                exchange=pf.exchange(s),
                sector=sectors.get(s),
                selection_metrics=sel_metrics,
                selection_start=sel_start,
                selection_end=sel_end,
                n_candidates=n_cand,
                weight=weight,
                buy_hold=bh,
                n_bars=int(c.size - k),
            )
        )
    if not rows:
        raise DataError(f"quarter {year}Q{q}: no symbol of portfolio {pf.name!r} has a usable strategy")
    if len(rows) != len(syms):  # re-weight the sleeves actually held
        weight = 1.0 / len(rows)
        rows = [_reweight(r, weight) for r in rows]
    init = float(cfg.init_cash)
    eq = pd.DataFrame({s: curves[s] for s in (r.symbol for r in rows)}).reindex(quarter_index)
    filled = eq.ffill().fillna(init)
    port = (filled * weight).sum(axis=1)
    bh_frame = (
        pd.DataFrame({s: bh_curves[s] for s in (r.symbol for r in rows)}).reindex(quarter_index).ffill()
    )
    if pf.benchmark.kind == "equal_weight":
        bench_rel = bh_frame.fillna(1.0).mean(axis=1)
    else:
        bench_rel = _benchmark_file(
            pf.benchmark, lambda p: pf.data_url(p) if p else p, quarter_index, q_start
        )
    bench = bench_rel * init
    pm = equity_metrics(port.to_numpy(), init, ppy)
    pm["num_trades"] = float(sum(r.metric("num_trades") for r in rows))
    allp = np.concatenate(pnls) if pnls else np.empty(0)
    ts_stats = trade_stats(allp) if allp.size else {"win_rate": math.nan, "profit_factor": math.nan}
    pm["win_rate"], pm["profit_factor"] = ts_stats["win_rate"], ts_stats["profit_factor"]
    pm["exposure"] = float(np.mean([r.metric("exposure") for r in rows]))
    bm = equity_metrics(bench.to_numpy(), init, ppy)
    port_r = pd.Series(returns_from_equity(port.to_numpy(), init), index=quarter_index)
    bench_r = pd.Series(returns_from_equity(bench.to_numpy(), init), index=quarter_index)
    sector_table = _sector_table(rows)
    sleeves = filled * weight
    passive = bh_frame.fillna(1.0) * init * weight
    monthly = _monthly_sector_inputs(rows, sleeves, passive, init)
    relative, attribution = _attribution(
        port_r,
        bench_r,
        ppy,
        sector_table,
        notes,
        monthly=monthly,
        factors_path=pf.data_url(pf.factors) if pf.factors else None,
    )
    equity = eq.copy()
    equity["portfolio"] = port
    equity["benchmark"] = bench
    return QuarterlyReport(
        portfolio=pf.name,
        year=year,
        quarter=q,
        generated_at=generated_at or datetime.now(UTC),
        rows=tuple(rows),
        portfolio_metrics=pm,
        benchmark={
            "name": pf.benchmark.name,
            "kind": pf.benchmark.kind,
            "source": pf.data_url(pf.benchmark.path) if pf.benchmark.path else url,
            "metrics": bm,
            "relative": relative,
        },
        data=url,
        execution={f: getattr(cfg, f) for f in cfg.__dataclass_fields__},
        timeframe=tf,
        periods_per_year=ppy,
        selection={
            "method": "trailing window before the quarter; traded out of sample over the quarter",
            "metric": pf.selection.metric,
            "train_bars": train_bars,
            "min_trades": pf.selection.min_trades,
            "window": [sel_start, sel_end],
            "strategies": {name: len(sets) for name, sets in cands},
            "engine": "ray (quantray.sweep)" if use_ray else "in-process",
        },
        attribution=attribution,
        notes=tuple(notes),
        title=pf.description,
        equity=equity,
    )


def _monthly_sector_inputs(
    rows: Sequence[ReportRow], sleeves: pd.DataFrame, passive: pd.DataFrame, init: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
    """Brinson inputs per calendar month (rows) and sector (columns): start-of-month weights and the month's
    returns, of the strategies' sleeves and of the passive equal-weight buy-and-hold of the same symbols."""
    if sleeves.empty:
        return None
    sector_of = {r.symbol: r.sector or "Unclassified" for r in rows}
    dti = pd.DatetimeIndex(sleeves.index)
    month = (dti.tz_convert("UTC") if dti.tz is not None else dti).strftime("%Y-%m")

    def per_month(values: pd.DataFrame, start_each: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        by_sector = values.T.groupby(lambda s: sector_of[s]).sum().T
        ends = by_sector.groupby(month).last()
        first = pd.Series(
            {k: sum(start_each for s in sector_of if sector_of[s] == k) for k in by_sector.columns}
        )
        starts = pd.concat([first.to_frame().T, ends.iloc[:-1]], ignore_index=True)
        starts.index = ends.index
        weights = starts.div(starts.sum(axis=1), axis=0)
        return weights, ends / starts - 1.0

    each = init / len(rows)
    wp, rp = per_month(sleeves[[r.symbol for r in rows]], each)
    wb, rb = per_month(passive[[r.symbol for r in rows]], each)
    return wp, rp, wb, rb


def _reweight(r: ReportRow, w: float) -> ReportRow:
    from dataclasses import replace

    return replace(r, weight=w)


def _sector_table(rows: Sequence[ReportRow]) -> pd.DataFrame:
    """Per sector: weight, the strategies' quarter return and buy-and-hold's (active vs passive)."""
    recs = [
        {
            "sector": r.sector or "Unclassified",
            "weight": r.weight,
            "strategy_return": r.metric("total_return"),
            "benchmark_return": float(r.buy_hold.get("total_return", math.nan)),
        }
        for r in rows
    ]
    if not recs:
        return pd.DataFrame(
            columns=["sector", "weight", "benchmark_weight", "strategy_return", "benchmark_return"]
        )
    df = pd.DataFrame(recs)
    g = df.groupby("sector", sort=True)
    out = pd.DataFrame(
        {
            "weight": g["weight"].sum(),
            "strategy_return": g.apply(
                lambda x: float(np.average(x["strategy_return"], weights=x["weight"]))
            ),
            "benchmark_return": g["benchmark_return"].mean(),
            "n_symbols": g.size(),
        }
    ).reset_index()
    out["benchmark_weight"] = out["weight"]
    out["active_return"] = out["strategy_return"] - out["benchmark_return"]
    return out
