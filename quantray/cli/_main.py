"""The ``quantray`` command: one verb per capability, calling the same functions as ``jobs/``.

User errors (bad data, unknown strategy or parameter, malformed arguments) print one line ``quantray: error:
...`` on stderr and exit with status 2, without a traceback. ``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from quantray.errors import ConfigError, QuantrayError

EXIT_USER_ERROR = 2

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every usage error is one clean line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _num(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{what}: {text!r} is not a finite number")
    return value


def _as_param(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def parse_param(item: str) -> tuple[str, int | float]:
    """``KEY=VALUE`` -> (key, number)."""
    if "=" not in item:
        raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
    key, _, value = item.partition("=")
    return key.strip(), _as_param(_num(value, f"--param {key}"))


def parse_grid(item: str) -> tuple[str, list[int | float]]:
    """``KEY=START:STOP:STEP`` (STOP inclusive) or ``KEY=V1,V2,...`` -> (key, values)."""
    if "=" not in item:
        raise ConfigError(f"--grid {item!r}: expected KEY=START:STOP:STEP or KEY=V1,V2,...")
    key, _, spec = item.partition("=")
    key = key.strip()
    if ":" in spec:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ConfigError(f"--grid {item!r}: expected KEY=START:STOP:STEP")
        start, stop, step = (_num(p, f"--grid {key}") for p in parts)
        if step <= 0:
            raise ConfigError(f"--grid {key}: STEP must be > 0, got {step:g}")
        if stop < start:
            raise ConfigError(f"--grid {key}: STOP must be >= START, got START={start:g}, STOP={stop:g}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > 1_000_000:
            raise ConfigError(f"--grid {key}: {count} values is too many (max 1,000,000)")
        return key, [_as_param(round(start + i * step, 12)) for i in range(count)]
    values = [_as_param(_num(v, f"--grid {key}")) for v in spec.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"--grid {item!r}: no values")
    return key, values


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):
        return _jsonable(x.item())
    return x


def _resolve_candidate(name: str, registry: str | None) -> tuple[Any, dict[str, Any] | None]:
    """A strategy named on the command line and the costs it was validated with: a candidate of the lifecycle
    registry as a discovered rule's StrategySpec (``gp_...``) or a tuned one's strategy with the tuned parameters
    as defaults, with its recorded ``execution`` settings; any other name as is, with None.

    A rule found by ``quantray discover`` lives in the registry, not in this process's strategy table, so a
    fresh process rebuilds its StrategySpec from the stored rule text. The registry is read even when the name
    is in this process's table (a rule discovered in this process is there too, and its recorded costs are in
    the registry); a registry that cannot be read then falls back to the table. The default SQLite registry is
    only read when its file exists (looking a name up never creates one).
    """
    from quantray.search import Registry, default_registry_url, rule_spec
    from quantray.search._lifecycle import registry_file
    from quantray.strategies import list_strategies

    known = any(s.name == name for s in list_strategies())
    url = registry or default_registry_url()
    path = registry_file(url)
    if path is not None and not path.exists():
        # a name of the table; else the usual unknown-strategy error, saying where candidates were looked for
        if not known:
            _unknown(name, f"and no registry at {url} to hold a candidate of that name")
        return name, None
    try:
        with Registry(url) as reg:
            rec = reg.get(name) if name in reg else None
    except QuantrayError:
        if known:
            return name, None
        raise
    if rec is None:
        if not known:
            _unknown(name, f"nor a candidate in the registry {url}")
        return name, None
    execution = rec.metrics.get("execution")
    recorded = dict(execution) if isinstance(execution, dict) else None
    if rec.rule:
        return rule_spec(rec.rule, name=rec.name), recorded
    return with_defaults(rec.strategy, rec.params), recorded


def _unknown(name: str, where: str) -> None:
    """Raise the strategy table's unknown-name error (close matches, the valid names) saying where else the
    name was looked for."""
    from quantray.errors import StrategyError
    from quantray.strategies import get_strategy

    try:
        get_strategy(name)
    except StrategyError as exc:
        raise StrategyError(f"{exc} ({where})") from None


def with_defaults(strategy: str, params: dict[str, Any]) -> Any:
    """``strategy``'s spec whose defaults are ``params`` (a registered candidate's tuned values), so that naming
    the candidate runs what was validated and a ``--param`` still overrides one value."""
    import dataclasses

    from quantray.strategies import get_strategy

    spec = get_strategy(strategy)
    if not params:
        return spec
    checked = spec.validate_params(params)
    return dataclasses.replace(
        spec, params={k: dataclasses.replace(p, default=checked[k]) for k, p in spec.params.items()}
    )


# ------------------------------------------------------------------------------------------------ verbs
def _cmd_backtest(args: argparse.Namespace) -> int:
    import quantray

    params = dict(parse_param(p) for p in args.param or [])
    grid = dict(parse_grid(g) for g in args.grid or [])
    total_symbols: list[int] = []

    def progress(done: int, total: int) -> None:
        total_symbols[:] = [total]
        if sys.stderr.isatty():
            print(f"\rbacktest: {done}/{total} symbols", end="" if done < total else "\n", file=sys.stderr)

    from quantray.cli._costs import resolve_costs

    strategy, recorded = _resolve_candidate(args.strategy, args.registry)
    config, note = resolve_costs(args, [(args.strategy, recorded)], "backtest")
    if recorded is not None and not args.json:
        print(note, file=sys.stderr)
    res = quantray.backtest(
        args.data,
        strategy,
        params=params or None,
        grid=grid or None,
        symbols=args.symbol,
        config=config,
        progress=progress,
    )
    ranked = res.ranked(args.sort)
    if args.json:
        results = []
        for r in ranked.to_dict("records"):
            results.append(
                {
                    "symbol": r["symbol"],
                    "params": {k: _jsonable(r[k]) for k in res.strategy.param_names},
                    **{
                        m: _jsonable(r[m])
                        for m in (
                            "final_equity",
                            "total_return",
                            "cagr",
                            "sharpe",
                            "sortino",
                            "max_drawdown",
                            "num_trades",
                            "win_rate",
                            "calmar",
                            "volatility",
                            "profit_factor",
                            "exposure",
                        )
                    },
                }
            )
        print(
            json.dumps(
                {
                    "strategy": res.strategy.name,
                    "execution": res.config.execution,
                    "costs": {
                        k: getattr(res.config, k) for k in ("fees", "slippage", "fixed_fee", "init_cash")
                    },
                    "costs_note": note,
                    "results": results,
                }
            )
        )
        return 0
    _print_table(ranked, res.strategy.param_names, top=args.top, title=_title(res, len(ranked), args.sort))
    return 0


def _title(res: Any, n: int, metric: str) -> str:
    cfg = res.config
    return (
        f"{res.strategy.name}: {n} backtests, {len(set(res.table['symbol']))} symbols, execution={cfg.execution}, "
        f"fees={cfg.fees:g}, slippage={cfg.slippage:g}, ranked by {metric}"
    )


def _print_table(df: Any, param_names: Sequence[str], *, top: int, title: str) -> None:
    cols = [
        "symbol",
        *param_names,
        "sharpe",
        "cagr",
        "total_return",
        "max_drawdown",
        "num_trades",
        "win_rate",
    ]
    view = df[cols].head(top).copy()
    view.insert(0, "rank", range(1, len(view) + 1))
    fmt = {
        "sharpe": "{:.2f}".format,
        "cagr": "{:.1%}".format,
        "total_return": "{:.1%}".format,
        "max_drawdown": "{:.1%}".format,
        "win_rate": "{:.0%}".format,
    }
    print(title)
    print(view.to_string(index=False, formatters=fmt, na_rep="-"))
    if len(df) > top:
        print(f"... {len(df) - top} more rows (use --top N or --json)")


def _cmd_sweep(args: argparse.Namespace) -> int:
    from quantray._sweep_config import SweepConfig, run_sweep_config

    raw: dict[str, Any] = {
        "data": args.data,
        "strategy": args.strategy,
        "grid": dict(parse_grid(g) for g in args.grid or []),
        "params": dict(parse_param(p) for p in args.param or []),
        "execution": {
            "execution": args.execution,
            "fees": args.fees,
            "slippage": args.slippage,
            "fixed_fee": args.fixed_fee,
            "init_cash": args.init_cash,
        },
        "out": args.out,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "chunk_seconds": args.chunk_seconds,
        "ray": {"address": args.address, "num_cpus": args.num_cpus},
        "rank": {"metric": args.sort, "top": args.top},
    }
    if args.symbol:
        raw["symbols"] = args.symbol
    if args.universe:
        raw["universe"] = args.universe
    cfg = SweepConfig.from_dict(raw, where="quantray sweep")
    res = run_sweep_config(cfg, progress=not args.json)
    ranked = res.table.sort_values(
        [args.sort, "total_return", "symbol"],
        ascending=[args.sort == "max_drawdown", False, True],
        na_position="last",
    )
    from quantray.strategies import get_strategy

    spec = get_strategy(cfg.strategy)
    if args.json:
        print(
            json.dumps(
                {
                    "strategy": spec.name,
                    "out": res.out,
                    "n_symbols": res.n_symbols,
                    "n_param_sets": res.n_param_sets,
                    "rows": len(res.table),
                    "chunks": res.n_chunks,
                    "chunks_run": res.chunks_run,
                    "chunks_resumed": res.chunks_skipped,
                    "elapsed_s": res.elapsed_s,
                    "failures": [
                        {"chunk": f.chunk_id, "slices": f.label, "error": f.error} for f in res.failures
                    ],
                    "top": [
                        {k: _jsonable(v) for k, v in r.items()}
                        for r in ranked.head(args.top).to_dict("records")
                    ],
                }
            )
        )
    else:
        _print_table(
            ranked,
            spec.param_names,
            top=args.top,
            title=f"{spec.name} sweep: {len(res.table)} backtests ({res.n_symbols} symbols x {res.n_param_sets} "
            f"parameter sets) in {res.elapsed_s:.1f}s",
        )
        if res.out:
            print(f"results: {res.out}")
    for f in res.failures:
        print(f"quantray: chunk {f.chunk_id} ({f.label}) failed: {f.error}", file=sys.stderr)
    return 1 if res.failures else 0


def _cmd_data_validate(args: argparse.Namespace) -> int:
    from quantray.data import read_bars, validate_bars
    from quantray.errors import DataValidationError

    try:  # under "raise" nothing is repaired: the report describes the file as it is
        bars = read_bars(args.path, on_bad="raise")
        report = validate_bars(bars, source=args.path)
        n_rows = len(bars)
    except DataValidationError as exc:
        report = exc.report  # type: ignore[assignment]
        n_rows = int(getattr(report, "n_rows", 0))
    if args.json:
        print(
            json.dumps(
                {
                    "source": args.path,
                    "ok": report.ok,
                    "rows": n_rows,
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                    "issues": [
                        {
                            "symbol": i.symbol,
                            "row": i.row,
                            "ts": None if i.ts is None else str(i.ts),
                            "column": i.column,
                            "rule": i.rule,
                            "value": _jsonable(i.value) if isinstance(i.value, int | float) else str(i.value),
                            "severity": i.severity,
                            "message": i.message,
                        }
                        for i in report.issues[: args.max_issues]
                    ],
                }
            )
        )
    else:
        print(report.summary(max_lines=args.max_issues))
    return 0 if report.ok else 1


def _cmd_data_info(args: argparse.Namespace) -> int:
    from quantray.data import Panel, read_bars

    bars = read_bars(args.path, on_bad="repair")
    panel = Panel.from_bars(bars)
    info = {
        "source": args.path,
        "rows": len(bars),
        "symbols": len(panel.symbols),
        "start": str(bars["ts"].min()),
        "end": str(bars["ts"].max()),
        "interval": str(panel.interval),
        "calendar": panel.calendar,
        "periods_per_year": panel.periods_per_year,
        "first_symbols": list(panel.symbols[:10]),
    }
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:>17}: {v}")
    return 0


def _cmd_strategies_list(args: argparse.Namespace) -> int:
    from quantray.strategies import list_strategies

    specs = list_strategies()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "description": s.description,
                        "pine": s.pine_template is not None,
                        "params": {
                            k: {
                                "kind": p.kind,
                                "low": p.low,
                                "high": p.high,
                                "default": p.default,
                                "step": p.step,
                                "doc": p.doc,
                            }
                            for k, p in s.params.items()
                        },
                    }
                    for s in specs
                ]
            )
        )
        return 0
    for s in specs:
        print(f"{s.name}: {s.description}")
        for k, p in s.params.items():
            print(f"    {k} ({p.kind}, {p.low:g}..{p.high:g}, default {p.default:g}): {p.doc}")
    return 0


# ------------------------------------------------------------------------------------------------ parser
def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (``--top 0`` printed an empty table and "... 1 more rows")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from quantray.cli._costs import add_cost_flags

    p = _Parser(
        prog="quantray",
        description="Ray-native quant research and signals: backtests, sweeps, research, search, live state, reports, the Serve API.",
    )
    sub = p.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    b = sub.add_parser("backtest", help="backtest a strategy on bars (one parameter set or a grid)")
    b.add_argument("--data", required=True, help="Parquet/CSV path, partitioned dataset dir, or s3:// URL")
    b.add_argument("--symbol", action="append", help="restrict to this symbol (repeatable)")
    b.add_argument(
        "--strategy",
        required=True,
        help="strategy name (see `quantray strategies list`) or a discovered rule in the registry (gp_...)",
    )
    b.add_argument(
        "--registry", help="registry URL for discovered rules (default sqlite under $QUANTRAY_HOME)"
    )
    b.add_argument("--param", action="append", metavar="KEY=VALUE", help="a fixed parameter (repeatable)")
    b.add_argument(
        "--grid", action="append", metavar="KEY=START:STOP:STEP", help="a grid axis, STOP inclusive"
    )
    add_cost_flags(b)
    b.add_argument("--sort", default="sharpe", help="rank by this metric (default sharpe)")
    b.add_argument("--top", type=positive_int, default=20, help="rows to print without --json")
    b.add_argument("--json", action="store_true", help="print exactly one JSON object")
    b.set_defaults(func=_cmd_backtest)

    w = sub.add_parser("sweep", help="sweep a grid over a universe on Ray (checkpointed, resumable)")
    w.add_argument("--data", required=True, help="Parquet/CSV path, dataset dir, s3:// URL, or 'sample'")
    w.add_argument("--symbol", action="append", help="restrict to this symbol (repeatable)")
    w.add_argument("--universe", help="file with one symbol per line (or a CSV with a symbol column)")
    w.add_argument("--strategy", required=True)
    w.add_argument("--param", action="append", metavar="KEY=VALUE")
    w.add_argument("--grid", action="append", metavar="KEY=START:STOP:STEP")
    w.add_argument("--fees", type=float, default=0.0)
    w.add_argument("--slippage", type=float, default=0.0)
    w.add_argument("--fixed-fee", type=float, default=0.0)
    w.add_argument("--init-cash", type=float, default=100_000.0)
    w.add_argument("--execution", choices=["close", "next_open"], default="next_open")
    w.add_argument("--out", help="output directory, local or s3:// (checkpoints + results.parquet)")
    w.add_argument("--resume", action="store_true", help="recompute only the chunks missing from --out")
    w.add_argument("--overwrite", action="store_true", help="replace what --out holds")
    w.add_argument("--address", help="Ray address (default RAY_ADDRESS, else an embedded local cluster)")
    w.add_argument("--num-cpus", type=int, help="CPUs of the embedded local cluster")
    w.add_argument("--chunk-seconds", type=float, default=0.25, help="target work per task")
    w.add_argument("--sort", default="sharpe")
    w.add_argument("--top", type=positive_int, default=20, help="rows to print (default 20)")
    w.add_argument("--json", action="store_true")
    w.set_defaults(func=_cmd_sweep)

    from quantray.cli._live import add_live_parsers
    from quantray.cli._reports import add_report_parsers
    from quantray.cli._research import add_research_parsers
    from quantray.cli._search import add_lifecycle_parsers, add_search_parsers
    from quantray.cli._serve import add_serve_parsers
    from quantray.cli._tradingview import add_tradingview_parsers

    add_research_parsers(sub, _Parser)
    add_search_parsers(sub, _Parser)
    add_live_parsers(sub, _Parser)
    add_report_parsers(sub, _Parser)
    add_tradingview_parsers(sub, _Parser)
    add_serve_parsers(sub, _Parser)

    d = sub.add_parser("data", help="inspect and validate bar data")
    dsub = d.add_subparsers(dest="data_verb", required=True, parser_class=_Parser)
    dv = dsub.add_parser("validate", help="report every problem in a bar file (exit 1 if any error)")
    dv.add_argument("path")
    dv.add_argument("--json", action="store_true")
    dv.add_argument("--max-issues", type=int, default=50)
    dv.set_defaults(func=_cmd_data_validate)
    di = dsub.add_parser("info", help="rows, symbols, range, interval and calendar of a bar source")
    di.add_argument("path")
    di.add_argument("--json", action="store_true")
    di.set_defaults(func=_cmd_data_info)

    s = sub.add_parser("strategies", help="the strategy registry")
    ssub = s.add_subparsers(dest="strategies_verb", required=True, parser_class=_Parser)
    sl = ssub.add_parser("list", help="list strategies with their parameter spaces")
    sl.add_argument("--json", action="store_true")
    sl.set_defaults(func=_cmd_strategies_list)
    add_lifecycle_parsers(ssub, _Parser)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quantray`` console script; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="quantray: %(message)s")
    warnings.simplefilter("default")
    # unclosed files are reported at exit by whoever left them open: Ray Tune leaves its trial logs open when a
    # search is interrupted, and the user can do nothing about it
    warnings.simplefilter("ignore", ResourceWarning)
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "data", None) == "sample" and not Path("sample").exists():
            from quantray.data import sample_path

            args.data = str(sample_path())  # every verb's --data: the bundled sample by name
        handler: Handler = args.func
        return handler(args)
    except QuantrayError as exc:
        print(f"quantray: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("quantray: interrupted", file=sys.stderr)
        return 130
