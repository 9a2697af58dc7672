"""Research verbs of the ``quantray`` command: ``walkforward``, ``cpcv``, ``montecarlo``, ``regimes``.

:func:`add_research_parsers` adds them to the main parser's sub-parsers. Each handler returns an exit status and,
with ``--json``, prints exactly one JSON object on stdout (NaN and ±inf become ``null``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["add_research_parsers"]


# ------------------------------------------------------------------------------------------------ helpers
def bar_returns(equity: pd.Series, init_cash: float) -> pd.Series:
    """Simple per-bar returns of an equity curve whose capital before the first bar was ``init_cash``."""
    return equity / equity.shift(1).fillna(init_cash) - 1.0


def _clean(x: Any) -> Any:
    """JSON-ready copy: dicts/lists recursed, numpy scalars unwrapped, NaN/inf → None, timestamps → ISO."""
    from quantray.cli._main import _jsonable

    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, pd.Timestamp):
        return x.isoformat()
    if isinstance(x, np.ndarray):
        return [_clean(v) for v in x.tolist()]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return _jsonable(x)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [_clean(r) for r in df.to_dict("records")]


def _resolved(args: argparse.Namespace) -> tuple[Any, Any]:
    """``--strategy`` (a strategy name, or a registered candidate: a discovered rule, or a tuned strategy with
    its tuned parameters as defaults) and the ExecutionConfig to run it with: the cost flags given, else the
    costs the candidate was validated with, else the defaults (:mod:`quantray.cli._costs`). Resolved once; the
    costs' source goes to stderr when a candidate recorded them."""
    cached = getattr(args, "_resolved_strategy", None)
    if cached is None:
        from quantray.cli._costs import resolve_costs
        from quantray.cli._main import _resolve_candidate

        strategy, recorded = _resolve_candidate(args.strategy, args.registry)
        cfg, note = resolve_costs(args, [(args.strategy, recorded)], args.verb)
        if recorded is not None:
            print(note, file=sys.stderr)
        cached = args._resolved_strategy = (strategy, cfg)
    return cached


def _config(args: argparse.Namespace) -> Any:
    return _resolved(args)[1]


def _params(args: argparse.Namespace) -> dict[str, int | float]:
    from quantray.cli._main import parse_param

    return dict(parse_param(p) for p in args.param or [])


def _grid(args: argparse.Namespace) -> dict[str, list[int | float]]:
    from quantray.cli._main import parse_grid
    from quantray.errors import ConfigError

    if not args.grid:
        raise ConfigError(f"{args.verb}: at least one --grid KEY=START:STOP:STEP is required")
    return dict(parse_grid(g) for g in args.grid)


def _one_symbol(args: argparse.Namespace) -> str | None:
    return one_symbol(args.verb, args.symbol)


def one_symbol(verb: str, given: list[str] | None) -> str | None:
    """The one ``--symbol`` (repeatable flag) of a verb that works on one series; two are an error."""
    from quantray.errors import ConfigError

    syms = given or []
    if len(syms) > 1:
        raise ConfigError(f"{verb}: takes one --symbol, got {len(syms)}: {syms}")
    return syms[0] if syms else None


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> int:
    if args.json:
        print(json.dumps(_clean(payload)))
    else:
        print(text)
    return 0


def _strategy(args: argparse.Namespace) -> Any:
    return _resolved(args)[0]


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(float_format=lambda v: f"{v:.4g}", na_rep="-")


# ------------------------------------------------------------------------------------------------ handlers
def _cmd_walkforward(args: argparse.Namespace) -> int:
    from quantray.research import walk_forward

    res = walk_forward(
        args.data,
        _strategy(args),
        _grid(args),
        train_bars=args.train_bars,
        test_bars=args.test_bars,
        anchored=args.anchored,
        metric=args.metric,
        config=_config(args),
        symbols=args.symbol,
        params=_params(args) or None,
        min_trades=args.min_trades,
    )
    summary = res.summary.reset_index()
    payload = {
        "strategy": res.strategy.name,
        "metric": res.metric,
        "train_bars": res.train_bars,
        "test_bars": res.test_bars,
        "anchored": res.anchored,
        "summary": _records(summary),
        "windows": _records(res.windows),
    }
    view = summary.drop(columns=["modal_params"])
    text = (
        f"walk-forward {res.strategy.name}: {'anchored' if res.anchored else 'rolling'}, train={res.train_bars}, "
        f"test={res.test_bars} bars, selected by {res.metric}\n{_fmt(view)}"
    )
    unq = res.windows[~res.windows["qualified"]] if "qualified" in res.windows else res.windows.iloc[:0]
    # said, not hidden behind a "stable" choice: modal share 1 and WFE ~1 would look like success
    if len(unq):
        warning = (
            f"warning: in {len(unq)} of {len(res.windows)} windows no parameter set made --min-trades "
            f"{args.min_trades} entries in sample, so the first set in grid order was traded there "
            f"({', '.join(sorted(set(unq['symbol'])))}); lower --min-trades"
        )
        payload["warnings"] = [warning]
        print(warning, file=sys.stderr)
    return _emit(args, payload, text)


def _cmd_cpcv(args: argparse.Namespace) -> int:
    from quantray.research import cpcv, overfitting_report

    res = cpcv(
        args.data,
        _strategy(args),
        _grid(args),
        symbol=_one_symbol(args),
        n_groups=args.groups,
        n_test_groups=args.test_groups,
        label_horizon=args.label_horizon,
        embargo=args.embargo,
        metric=args.metric,
        config=_config(args),
        params=_params(args) or None,
        warmup_bars=args.warmup_bars,
        benchmark=None if args.benchmark == "cash" else args.benchmark,
    )
    payload: dict[str, Any] = {
        "symbol": res.symbol,
        "strategy": res.strategy,
        "n_groups": res.n_groups,
        "n_test_groups": res.n_test_groups,
        "label_horizon": res.label_horizon,
        "embargo": res.embargo,
        "n_trials": len(res.param_sets),
        "summary": res.summary(),
        "paths": _records(res.paths),
        "splits": _records(res.splits),
    }
    text = f"CPCV {res.strategy} on {res.symbol}: {len(res.splits)} splits, {len(res.paths)} paths\n"
    text += _fmt(res.paths.set_index("path"))
    if len(res.param_sets) >= 2:
        rep = overfitting_report(
            res.trial_returns,
            res.benchmark_returns,
            periods_per_year=res.periods_per_year,
            n_partitions=args.partitions,
            n_boot=args.boot,
            seed=args.seed,
        )
        payload["overfitting"] = {
            **rep.to_dict(),
            "best_params": res.param_sets[rep.best],
            "spa_benchmark": args.benchmark,
        }
        text += "\noverfitting: " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rep.to_dict().items()
        )
    return _emit(args, payload, text)


def _cmd_montecarlo(args: argparse.Namespace) -> int:
    import quantray
    from quantray.errors import ConfigError
    from quantray.research import (
        bootstrap_returns,
        bootstrap_trades,
        parametric_returns,
        rebacktest,
        trade_returns,
    )

    params = _params(args)
    symbol = _one_symbol(args)
    cfg = _config(args)
    method = args.method
    if args.target == "prices":
        if method == "shuffle":
            raise ConfigError("montecarlo: --method shuffle applies to --target returns or trades")
        mc = rebacktest(
            args.data,
            _strategy(args),
            params or None,
            symbol=symbol,
            method=method,
            n_paths=args.paths,
            seed=args.seed,
            mean_block=args.block,
            horizon=args.horizon,
            config=cfg,
            batch=args.batch,
        )
        sym = mc.params["symbol"]
    else:
        res = quantray.backtest(
            args.data,
            _strategy(args),
            params=params or None,
            symbols=[symbol] if symbol else None,
            config=cfg,
        )
        syms = sorted(set(res.table["symbol"]))
        if symbol is None and len(syms) != 1:
            raise ConfigError(f"montecarlo: --symbol is required when the data holds {len(syms)} symbols")
        sym = symbol or syms[0]
        det = res.detail(sym, params or None)
        if args.target == "returns":
            rets = bar_returns(det.equity, cfg.init_cash).to_numpy()
            if method in ("gbm", "garch"):
                mc = parametric_returns(
                    rets,
                    model=method,
                    n_paths=args.paths,
                    seed=args.seed,
                    horizon=args.horizon,
                    periods_per_year=res.periods_per_year,
                    init_cash=cfg.init_cash,
                    batch=args.batch,
                )
            else:
                mc = bootstrap_returns(
                    rets,
                    n_paths=args.paths,
                    seed=args.seed,
                    method=method,
                    mean_block=args.block,
                    horizon=args.horizon,
                    periods_per_year=res.periods_per_year,
                    init_cash=cfg.init_cash,
                    batch=args.batch,
                )
        else:
            if method not in ("iid", "shuffle"):
                raise ConfigError(
                    f"montecarlo: --target trades takes --method iid or shuffle, got {method!r}"
                )
            tr = trade_returns(det.trades)
            if tr.size < 2:
                raise ConfigError(f"montecarlo: {sym} has {tr.size} closed trades; need at least 2")
            mc = bootstrap_trades(
                tr,
                n_paths=args.paths,
                seed=args.seed,
                method=method,
                n_trades=args.horizon,
                init_cash=cfg.init_cash,
                batch=args.batch,
            )
    summary = mc.summary(args.level)
    payload = {
        "symbol": sym,
        "strategy": args.strategy,
        "target": args.target,
        "method": mc.method,
        "n_paths": mc.n_paths,
        "seed": mc.seed,
        "level": args.level,
        "ruin_threshold": args.ruin,
        "risk_of_ruin": mc.risk_of_ruin(args.ruin),
        "params": mc.params,
        "summary": {k: dict(v) for k, v in summary.to_dict("index").items()},
    }
    text = (
        f"Monte Carlo ({args.target}, {mc.method}) of {args.strategy} on {sym}: {mc.n_paths} paths, seed "
        f"{mc.seed}; P(max drawdown >= {args.ruin:g}) = {mc.risk_of_ruin(args.ruin):.3f}\n{_fmt(summary)}"
    )
    return _emit(args, payload, text)


def _cmd_regimes(args: argparse.Namespace) -> int:
    from quantray.research import regime_analysis

    tab = regime_analysis(
        args.data,
        _strategy(args),
        _params(args) or None,
        kind=args.kind,
        symbols=args.symbol,
        window=args.window,
        threshold=args.threshold,
        trend_method=args.trend_method,
        config=_config(args),
        lag=args.lag,
    )
    payload = {
        "strategy": args.strategy,
        "kind": args.kind,
        "results": _records(tab.reset_index()),
    }
    return _emit(args, payload, f"{args.strategy} by {args.kind} regime\n{_fmt(tab)}")


# ------------------------------------------------------------------------------------------------ parsers
def _common(p: argparse.ArgumentParser, *, grid: bool) -> None:
    from quantray.cli._costs import add_cost_flags

    p.add_argument("--data", required=True, help="Parquet/CSV path, partitioned dataset dir, or s3:// URL")
    p.add_argument("--symbol", action="append", help="restrict to this symbol (repeatable where allowed)")
    p.add_argument(
        "--strategy",
        required=True,
        help="strategy name (see `quantray strategies list`), or a registered candidate (discovered or tuned)",
    )
    p.add_argument(
        "--registry",
        help="registry URL for a candidate named by --strategy (default sqlite under $QUANTRAY_HOME)",
    )
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="a fixed parameter (repeatable)")
    if grid:
        p.add_argument(
            "--grid", action="append", metavar="KEY=START:STOP:STEP", help="a grid axis, STOP inclusive"
        )
    add_cost_flags(p)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")


def add_research_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the ``walkforward``, ``cpcv``, ``montecarlo`` and ``regimes`` verbs.

    Args:
        subparsers: the object returned by the main parser's ``add_subparsers(..., parser_class=...)``; the
            verbs' parsers are created by it, so they are of its parser class.
        parser_class: the CLI's parser class, for nested sub-commands (none of these verbs has any yet); it
            must be an ``argparse.ArgumentParser`` subclass.

    Example:
        >>> import argparse
        >>> p = argparse.ArgumentParser(prog="quantray")
        >>> add_research_parsers(p.add_subparsers(dest="verb"), argparse.ArgumentParser)
        >>> p.parse_args(["regimes", "--data", "x.parquet", "--strategy", "sma_cross"]).kind
        'volatility'
    """
    if not (isinstance(parser_class, type) and issubclass(parser_class, argparse.ArgumentParser)):
        raise TypeError(f"parser_class must be an argparse.ArgumentParser subclass, got {parser_class!r}")
    w = subparsers.add_parser("walkforward", help="walk-forward optimisation (rolling or anchored)")
    _common(w, grid=True)
    w.add_argument("--train-bars", type=int, required=True, help="bars per training window")
    w.add_argument("--test-bars", type=int, required=True, help="bars per out-of-sample window")
    w.add_argument("--anchored", action="store_true", help="grow the training window from the first bar")
    w.add_argument("--metric", default="sharpe", help="in-sample selection metric (default sharpe)")
    w.add_argument("--min-trades", type=int, default=0, help="in-sample entries a set needs to be eligible")
    w.set_defaults(func=_cmd_walkforward)

    c = subparsers.add_parser("cpcv", help="combinatorial purged cross-validation + overfitting statistics")
    _common(c, grid=True)
    c.add_argument("--groups", type=int, default=6, help="N groups (default 6)")
    c.add_argument("--test-groups", type=int, default=2, help="k test groups per split (default 2)")
    c.add_argument("--label-horizon", type=int, default=0, help="purge width in bars (default 0)")
    c.add_argument("--embargo", type=float, default=0.01, help="embargo as a fraction of bars (default 0.01)")
    c.add_argument("--metric", default="sharpe", help="selection metric on training bars (default sharpe)")
    c.add_argument("--warmup-bars", type=int, default=0, help="bars dropped at the start (indicator warm-up)")
    c.add_argument("--partitions", type=int, default=16, help="CSCV partitions S for PBO (default 16)")
    c.add_argument("--boot", type=int, default=1000, help="bootstrap replicates of the SPA test")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--benchmark",
        default="cash",
        help="SPA / Reality Check benchmark: cash (0 return, default) or a strategy name such as buy_and_hold",
    )
    c.set_defaults(func=_cmd_cpcv)

    m = subparsers.add_parser("montecarlo", help="Monte Carlo of a strategy: price paths, returns or trades")
    _common(m, grid=False)
    m.add_argument(
        "--target",
        choices=["prices", "returns", "trades"],
        default="prices",
        help="re-backtest on synthetic prices (default), or resample the strategy's returns or trades",
    )
    m.add_argument(
        "--method",
        choices=["iid", "stationary", "gbm", "garch", "shuffle"],
        default="stationary",
        help="path generator (default stationary block bootstrap)",
    )
    m.add_argument("--paths", type=int, default=500, help="number of paths (default 500)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--batch", type=int, default=64, help="paths per batch (the unit of fan-out)")
    m.add_argument("--block", type=float, default=20.0, help="mean block length of the stationary bootstrap")
    m.add_argument(
        "--horizon", type=int, default=None, help="bars (or trades) per path; default: as observed"
    )
    m.add_argument("--ruin", type=float, default=0.5, help="risk of ruin = P(max drawdown >= RUIN)")
    m.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals")
    m.set_defaults(func=_cmd_montecarlo)

    r = subparsers.add_parser("regimes", help="strategy metrics per market regime")
    _common(r, grid=False)
    r.add_argument("--kind", choices=["volatility", "trend"], default="volatility")
    r.add_argument("--window", type=int, default=None, help="feature window (default 21 vol, 63 trend)")
    r.add_argument("--threshold", type=float, default=0.05, help="trend threshold as a log return")
    r.add_argument("--trend-method", choices=["return", "slope"], default="return")
    r.add_argument("--lag", type=int, default=1, help="bars between a label and the return it tags")
    r.set_defaults(func=_cmd_regimes)
