"""``quantray tune``, ``quantray discover``, ``quantray abtest`` and ``quantray strategies promote|retire|status|
monitor`` (strategy search, discovery, A/B tests and the lifecycle registry).

Each handler returns an exit status and, with ``--json``, prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from quantray.cli._costs import add_cost_flags

__all__ = ["add_lifecycle_parsers", "add_search_parsers"]


def _clean(x: Any) -> Any:
    from quantray.cli._research import _clean as clean

    return clean(x)


def bar_returns(equity: Any, init_cash: float) -> Any:
    from quantray.cli._research import bar_returns as returns

    return returns(equity, init_cash)


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> int:
    if args.json:
        print(json.dumps(_clean(payload)))
    else:
        print(text)
    return 0


def _data(path: str) -> str:
    from quantray.data import sample_path

    return str(sample_path()) if path == "sample" else path


def _exec_config(args: argparse.Namespace) -> Any:
    from quantray.engine import ExecutionConfig

    return ExecutionConfig(execution=args.execution, fees=args.fees, slippage=args.slippage)


def _gates(args: argparse.Namespace) -> Any:
    with _flags_named(_GATE_FLAGS):
        return _gates_of(args)


def _gates_of(args: argparse.Namespace) -> Any:
    from quantray.search import Gates

    return Gates(
        min_dsr=args.min_dsr,
        max_pbo=args.max_pbo,
        min_trades=args.min_oos_trades,
        min_oos_sharpe=args.min_oos_sharpe,
    )


def _add_costs(p: argparse.ArgumentParser, fees: float = 0.0) -> None:
    """The cost flags of a search (``discover``, ``tune``): the costs it measures with and records."""
    p.add_argument("--fees", type=float, default=fees, help=f"proportional fee per trade (default {fees:g})")
    p.add_argument("--slippage", type=float, default=0.0, help="price fraction paid per fill")
    p.add_argument("--execution", choices=["close", "next_open"], default="next_open")


def _add_gates(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--min-dsr", type=float, default=0.95, help="gate: deflated Sharpe ratio >= (default 0.95)"
    )
    p.add_argument(
        "--max-pbo", type=float, default=0.5, help="gate: probability of overfitting <= (default 0.5)"
    )
    p.add_argument("--min-oos-trades", type=int, default=5, help="gate: out-of-sample entries >= (default 5)")
    p.add_argument(
        "--min-oos-sharpe", type=float, default=0.0, help="gate: out-of-sample Sharpe >= (default 0)"
    )


# ------------------------------------------------------------------------------------------------ discover
#: DiscoverConfig's fields and the gates', with the discover/promote flags that set them.
_DISCOVER_FLAGS = {
    "population": "--population",
    "generations": "--generations",
    "seed": "--seed",
    "folds": "--folds",
    "holdout": "--holdout",
    "hall_of_fame": "--hall-of-fame",
    "parsimony": "--parsimony",
    "min_trades": "--min-trades",
    "batch_size": "--batch-size",
    "workers": "--workers",
    "cache_mb": "--cache-mb",
}
_MONITOR_FLAGS = {
    "drawdown_alpha": "--drawdown-alpha",
    "max_drawdown": "--max-drawdown",
    "decay_alpha": "--alpha",
}
_GATE_FLAGS = {
    "min_dsr": "--min-dsr",
    "max_pbo": "--max-pbo",
    "min_trades": "--min-oos-trades",
    "min_oos_sharpe": "--min-oos-sharpe",
}


def _discover_config(args: argparse.Namespace) -> Any:
    from quantray.search import DiscoverConfig

    return DiscoverConfig(
        population=args.population,
        generations=args.generations,
        seed=args.seed,
        algorithm=args.algorithm,
        folds=args.folds,
        holdout=args.holdout,
        hall_of_fame=args.hall_of_fame,
        parsimony=args.parsimony,
        min_trades=args.min_trades,
        batch_size=args.batch_size,
        workers=args.workers,
        cache_mb=args.cache_mb,
        backend="local" if args.local else "ray",
        execution=_exec_config(args),
        gates=_gates(args),
    )


def _cmd_discover(args: argparse.Namespace) -> int:
    from quantray.search import discover, validation_view
    from quantray.search._lifecycle import check_registry

    with _flags_named(_DISCOVER_FLAGS):
        cfg = _discover_config(args)
    if not args.local:
        from quantray.dist import connect

        connect(args.address, num_cpus=args.num_cpus)
    # checked now (creating nothing); the file is only created when a survivor is registered
    registry = None if args.no_register else check_registry(args.registry)
    pine_dir = _check_out_dir(args.pine_dir, "--pine-dir") if args.pine_dir else None
    res = discover(
        _data(args.data), symbols=args.symbol, config=cfg, registry=registry, progress=not args.json
    )
    if pine_dir is not None:
        pine_dir.mkdir(parents=True, exist_ok=True)
        for name, text in res.pine.items():
            (pine_dir / f"{name}.pine").write_text(text, encoding="utf-8")
    payload = {
        "seed": res.seed,
        "symbols": res.symbols,
        "population": cfg.population,
        "generations": cfg.generations,
        "algorithm": cfg.algorithm,
        "n_evaluated": res.n_evaluated,
        "tasks": res.tasks,
        "elapsed_s": res.elapsed_s,
        "hall_of_fame": res.hall_of_fame.to_dict("records"),
        "validation": res.validation.to_dict("records"),
        "survivors": [s.name for s in res.survivors],
        "registered": res.registered,
        "already_registered": []
        if args.no_register
        else [s.name for s in res.survivors if s.name not in res.registered],
        "registry": None if args.no_register else (args.registry or _default_url()),
        "gates": cfg.gates.__dict__,
        "history": res.generations.to_dict("records"),
    }
    already = [s.name for s in res.survivors if s.name not in res.registered]
    if args.no_register:
        reg_text = "registered: none (--no-register)"
    else:
        reg_text = f"registered: {res.registered or 'none'}" + (
            f" ({len(already)} already in the registry: {already})" if already else ""
        )
    text = (
        f"discover: {res.n_evaluated} distinct rules evaluated over {cfg.generations} generations "
        f"(seed {res.seed}, {res.elapsed_s:.1f}s); {len(res.survivors)} of {len(res.validation)} passed the gates "
        f"({cfg.gates.describe()}), " + reg_text + "\n" + validation_view(res.validation)
    )
    return _emit(args, payload, text)


def _check_out_dir(path: str, flag: str) -> Path:
    """An output folder checked before the work that fills it, creating nothing: it is a folder, or its nearest
    existing ancestor is one, and that can be written (a run must not end in a traceback after registering)."""
    from quantray.errors import ConfigError
    from quantray.search._lifecycle import unusable_ancestor

    out = Path(path).expanduser()
    bad = unusable_ancestor(out)
    if bad is not None and bad[1] == "is not a folder":
        what = "it is a file" if bad[0] == out else f"{str(bad[0])!r} is a file"
        raise ConfigError(f"{flag} {path!r}: {what}, not a folder")
    if bad is not None:
        raise ConfigError(f"{flag} {path!r}: {str(bad[0])!r} {bad[1]}")
    return out


def _default_url() -> str:
    from quantray.search import default_registry_url

    return default_registry_url()


# ------------------------------------------------------------------------------------------------ tune
def _json_mapping(text: str | None, flag: str) -> dict[str, Any]:
    if not text:
        return {}
    from quantray.errors import ConfigError

    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{flag}: invalid JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag}: expected a JSON object, got {text[:80]!r}")
    return value


#: SearchConfig's fields and the tune flags that set them (errors from the config name both).
_TUNE_FLAGS = {
    "num_samples": "--samples",
    "max_concurrent": "--max-concurrent",
    "folds": "--folds",
    "holdout": "--holdout",
    "seed": "--seed",
    "min_trades": "--min-trades",
    "searcher": "--searcher",
    "scheduler": "--scheduler",
    "metric": "--metric",
    "objectives": "--objectives",
    "snapshot_s": "--snapshot-s",
    "storage_path": "--storage",
    "name": "--name",
}


@contextlib.contextmanager
def _flags_named(flags: dict[str, str]) -> Iterator[None]:
    """Re-raise a config error that names a field (`` `num_samples` ``) naming its CLI flag too."""
    from quantray.errors import ConfigError, ParameterError

    try:
        yield
    except (ConfigError, ParameterError) as exc:
        msg = str(exc)
        for field, flag in flags.items():  # once: an inner config may have named it already
            msg = re.sub(rf"`{field}`(?! \()", f"`{field}` ({flag})", msg)
        if msg == str(exc):
            raise
        raise type(exc)(msg) from None


def _search_config(args: argparse.Namespace, space: dict[str, Any]) -> Any:
    from quantray.cli._main import parse_param
    from quantray.search import SearchConfig
    from quantray.search._tune import parse_objectives

    return SearchConfig(
        strategy=args.strategy,
        space=space,
        fixed=dict(parse_param(p) for p in args.param or []),
        searcher=args.searcher,
        metric=args.metric,
        objectives=parse_objectives(args.objectives) if args.objectives else (),
        scheduler=args.scheduler,
        num_samples=args.samples,
        max_concurrent=args.max_concurrent,
        folds=args.folds,
        holdout=args.holdout,
        seed=args.seed,
        storage_path=args.storage,
        storage_options=_json_mapping(args.storage_options, "--storage-options"),
        snapshot_s=args.snapshot_s,
        tensorboard=args.tensorboard,
        name=args.name,
        execution=_exec_config(args),
        min_trades=args.min_trades,
    )


def _holdout_line(h: dict[str, Any]) -> str:
    """Tune's holdout statistics as one line a person reads (``--json`` keeps every field, unrounded)."""

    def num(x: Any, fmt: str) -> str:
        return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)

    trades = h["num_trades"]
    return (
        f"holdout {h['bars']} bars: sharpe {num(h['sharpe'], '.2f')}, total return {num(h['total_return'], '.1%')} "
        f"(mean {num(h['mean_return'], '.1%')}/yr), max drawdown {num(h['max_drawdown'], '.1%')}, "
        f"{trades} trade{'' if trades == 1 else 's'}; DSR {num(h['dsr'], '.2f')} over {h['n_trials']} distinct "
        f"configurations (Sharpe variance over the {h.get('n_full', '?')} that ran every fold), "
        f"PBO {num(h['pbo'], '.2f')} over the same (ranked by {h['pbo_metric']})"
    )


def _cmd_tune(args: argparse.Namespace) -> int:
    from quantray.errors import ConfigError
    from quantray.search import check_registrable, register_tuned, tune
    from quantray.search._tune import parse_range

    space: dict[str, Any] = {}
    for item in args.space or []:
        key, sep, rng = item.partition("=")
        if not sep:
            raise ConfigError(f"--space {item!r}: expected KEY=LOW:HIGH[:STEP]")
        if key.strip() in space:  # the last one would silently win
            raise ConfigError(f"--space {item!r}: `{key.strip()}` is given twice; give each parameter once")
        space[key.strip()] = parse_range(key.strip(), rng)
    with _flags_named(_TUNE_FLAGS):
        cfg = _search_config(args, space)
    if args.register is not None:  # checked before the run: an impossible registration must not cost a search
        check_registrable(cfg, args.register, args.registry)
    res = tune(
        _data(args.data), cfg, symbols=args.symbol, resume=args.resume, overwrite=args.overwrite,
        address=args.address, num_cpus=args.num_cpus,
    )  # fmt: skip
    registered = None
    if (
        args.register is not None
        and not res.interrupted
        and register_tuned(res, cfg, args.register, args.registry)
    ):
        registered = args.register
    payload = {
        "strategy": cfg.strategy,
        "searcher": cfg.searcher,
        "objectives": [list(o) for o in cfg.objectives_or_metric()],
        "experiment": res.path,
        "restored": res.restored,
        "interrupted": res.interrupted,
        "expected_trials": res.expected_trials,
        "n_trials": len(res.trials),
        "best": res.best,
        "best_score": res.best_score,
        "holdout": res.holdout,
        "pareto": res.pareto.to_dict("records"),
        "trials": res.trials.to_dict("records"),
        "registered": registered,
        "elapsed_s": res.elapsed_s,
    }
    text = (
        f"tune {cfg.strategy} ({cfg.searcher}{', ' + cfg.scheduler if cfg.scheduler != 'none' else ''}): "
        f"{len(res.trials)} trials -> {res.path}\n"
    )
    if res.best is not None:
        best = ", ".join(f"{k}={v}" for k, v in res.best.items())
        text += f"best {best} ({cfg.metric} {res.best_score:.4f}, mean over {cfg.folds} folds)"
        if res.holdout:
            text += "\n" + _holdout_line(res.holdout)
    elif len(cfg.objectives_or_metric()) > 1:
        text += (
            f"Pareto front ({len(res.pareto)} trials), written to {res.path}/pareto.csv\n"
            + res.pareto.to_string(index=False)
        )
    else:
        text += "no valid trial (every one broke a constraint or traded too little): no best"
    if res.interrupted:
        # a stopped search is not a result: said on every output, nothing registered, a non-zero exit
        text = (
            f"INTERRUPTED: {len(res.trials)} of {res.expected_trials} trials finished; the figures below are those "
            f"of the finished trials only.\n"
            + text
            + f"\nnothing registered; finish the search with the same "
            f"command and --resume (experiment {res.path})"
        )
        _emit(args, payload, text)
        return 130
    if args.register is not None:
        text += (
            f"\nregistered: {registered!r} as a candidate"
            if registered
            else "\nregistered: none (no valid trial)"
        )
    return _emit(args, payload, text)


# ------------------------------------------------------------------------------------------------ abtest
def _strategy_arg(flag: str, text: str) -> tuple[str, dict[str, Any]]:
    """``STRATEGY[:K=V,...]`` of ``--a``/``--b``; errors name the flag and the item."""
    from quantray.cli._main import parse_param
    from quantray.errors import ConfigError

    name, colon, rest = text.partition(":")
    if not name.strip():
        raise ConfigError(f"{flag} {text!r}: expected STRATEGY[:K=V,...]")
    params: dict[str, Any] = {}
    if colon:
        for item in rest.split(","):
            if not item.strip():
                raise ConfigError(f"{flag} {text!r}: empty parameter item (expected K=V,K=V,...)")
            try:
                key, value = parse_param(item)
            except ConfigError as exc:
                raise ConfigError(f"{flag} {text!r}: {exc}") from None
            if key in params:
                raise ConfigError(f"{flag} {text!r}: parameter {key!r} given twice")
            params[key] = value
    return name.strip(), params


def _cmd_abtest(args: argparse.Namespace) -> int:
    import quantray
    from quantray.cli._costs import resolve_costs
    from quantray.cli._main import _resolve_candidate
    from quantray.cli._research import one_symbol
    from quantray.errors import ConfigError, ParameterError, StrategyError
    from quantray.search import ab_test

    args.symbol = one_symbol("abtest", args.symbol)  # given twice, the last one used to win silently
    if args.boot < 100:
        raise ConfigError(f"abtest: --boot must be an integer >= 100, got {args.boot}")
    if args.block is not None and not args.block >= 1:
        raise ConfigError(f"abtest: --block must be >= 1, got {args.block:g}")
    rets = []
    syms: set[str] = set()
    ppy = 252.0
    sides = []
    for flag, text in (("--a", args.a), ("--b", args.b)):
        name, params = _strategy_arg(flag, text)
        try:
            strategy, recorded = _resolve_candidate(name, args.registry)
        except StrategyError as exc:
            raise StrategyError(f"abtest {flag} {text!r}: {exc}") from None
        sides.append((flag, text, name, params, strategy, recorded))
    # both sides at the same costs: the flags given, else those a registered candidate was validated with
    config, note = resolve_costs(args, [(name, rec) for _f, _t, name, _p, _s, rec in sides], "abtest")
    for flag, text, _name, params, strategy, _rec in sides:
        try:
            res = quantray.backtest(
                _data(args.data),
                strategy,
                params=params or None,
                symbols=[args.symbol] if args.symbol else None,
                config=config,
            )
        except (StrategyError, ParameterError) as exc:  # which of the two specs is wrong
            raise type(exc)(f"abtest {flag} {text!r}: {exc}") from None
        syms = set(res.table["symbol"])
        if len(syms) != 1:
            raise ConfigError(f"abtest: --symbol is required when the data holds {len(syms)} symbols")
        det = res.detail(next(iter(syms)), params or None)
        rets.append(bar_returns(det.equity, res.config.init_cash).to_numpy())
        ppy = res.periods_per_year
    try:
        out = ab_test(
            rets[0],
            rets[1],
            periods_per_year=ppy,
            method=args.method,
            bootstrap=args.bootstrap,
            n_boot=args.boot,
            mean_block=args.block,
            alpha=args.alpha,
            power=args.power,
            min_effect=args.min_effect,
            seed=args.seed,
        )
    except ParameterError as exc:  # name the command's flags, not the function's arguments
        msg = str(exc)
        for arg, flag in (
            ("`mean_block`", "--block"),
            ("`n_boot`", "--boot"),
            ("`min_effect`", "--min-effect"),
        ):
            msg = msg.replace(arg, flag)
        raise ParameterError(f"abtest: {msg}") from None
    payload = {
        "a": args.a,
        "b": args.b,
        "symbol": next(iter(syms)),
        "costs": {k: getattr(config, k) for k in ("fees", "slippage", "fixed_fee", "init_cash", "execution")},
        "costs_note": note,
        **out.to_dict(),
    }
    text = (
        f"A/B {args.a} vs {args.b} on {payload['symbol']} ({out.n} bars): Sharpe {out.sharpe_a:.3f} vs "
        f"{out.sharpe_b:.3f} (diff {out.diff:+.3f}); JK-Memmel z={out.jk_z:.3f} p={out.jk_p:.4f}"
        + (
            f"; bootstrap p={out.boot_p:.4f} CI [{out.ci_low:.3f}, {out.ci_high:.3f}]"
            + (
                f" ({out.boot_valid} of {args.boot} replicates defined)"
                if out.boot_valid != args.boot
                else ""
            )
            if out.boot_p is not None
            else ""
        )
        + f"; bars to detect a Sharpe difference of {out.min_effect:g}: {out.min_n:g} (the observed one: "
        f"{out.min_n_observed:g})\n{note}\nverdict: {out.verdict} ({_verdict_strength(out)}, by {out.method})"
    )
    return _emit(args, payload, text)


def _verdict_strength(out: Any) -> str:
    """``confidence 0.99`` for a significant verdict; for another, the p-value against the level (a "confidence"
    of 0.81 next to "no significant difference" reads as 81 % sure there is none)."""
    if out.verdict in ("A better", "B better"):
        return f"confidence {out.confidence:.3f}"
    if not math.isfinite(out.confidence):
        return "p undefined"
    return f"p={1.0 - out.confidence:.3f} >= alpha {out.alpha:g}"


# ------------------------------------------------------------------------------------------------ lifecycle
def _registry(args: argparse.Namespace, action: str | None = None) -> Any:
    """The registry of ``--registry`` (default: $QUANTRAY_HOME's). With ``action`` (a verb on a registered
    strategy), a SQLite file that does not exist is an error: opening it would create an empty registry."""
    from quantray.search import Registry
    from quantray.search._lifecycle import require_registry

    gates = _gates(args) if hasattr(args, "min_dsr") else None
    url = require_registry(args.registry, action) if action else args.registry
    return Registry(url, gates=gates)


def _cmd_promote(args: argparse.Namespace) -> int:
    from quantray.errors import ConfigError

    if args.reason is not None and not args.reason.strip():
        raise ConfigError("promote: --reason must not be empty (leave it out for the default reason)")
    with _registry(args, f"promote {args.name!r}") as reg:
        rec = reg.promote(args.name, reason=args.reason)
        hist = reg.history(args.name)
    e = hist[-1]
    return _emit(
        args,
        {
            **rec.to_dict(),
            "event": e.__class__.__name__ and {"from": e.from_state, "to": e.to_state, "reason": e.reason},
        },
        f"{rec.name}: {e.from_state} -> {e.to_state} ({e.reason})",
    )


def _cmd_retire(args: argparse.Namespace) -> int:
    from quantray.errors import ConfigError

    if not args.reason.strip():
        raise ConfigError(
            f"retire {args.name!r}: --reason must not be empty (it is recorded with the retirement)"
        )
    with _registry(args, f"retire {args.name!r}") as reg:
        rec = reg.retire(args.name, reason=args.reason)
    return _emit(args, rec.to_dict(), f"{rec.name}: live -> retired ({args.reason})")


def _cmd_status(args: argparse.Namespace) -> int:
    from quantray.errors import ConfigError
    from quantray.search import default_registry_url
    from quantray.search._lifecycle import registry_file

    if args.name and args.state:
        raise ConfigError("status: give a NAME or --state, not both (--state filters the whole registry)")
    url = args.registry or default_registry_url()
    path = registry_file(url)
    if path is not None and not path.exists():
        # reading never creates a registry
        if args.name:
            raise ConfigError(f"status: no registry at {url} (nothing registered yet), so no {args.name!r}")
        return _emit(
            args, {"registry": url, "strategies": []}, f"no strategies in {url} (no registry file yet)"
        )
    with _registry(args) as reg:
        if args.name:
            rec = reg.get(args.name)
            hist = reg.history(args.name)
            payload = {
                **rec.to_dict(),
                "history": [
                    {
                        "at": e.at,
                        "from": e.from_state,
                        "to": e.to_state,
                        "reason": e.reason,
                        "details": e.details,
                    }
                    for e in hist
                ],
            }
            text = f"{rec.name}: {rec.state} ({rec.source}, {rec.strategy} {rec.params})\n" + "\n".join(
                f"  {e.at}  {e.from_state or '-'} -> {e.to_state}: {e.reason}"
                + (
                    f" (gates {_gates_text(e.details['gates'])})"
                    if isinstance(e.details.get("gates"), dict)
                    else ""
                )
                for e in hist
            )
            return _emit(args, payload, text)
        recs = reg.list(args.state)
    payload = {"registry": reg.url, "strategies": [r.to_dict() for r in recs]}
    lines = [f"{r.name:24s} {r.state:10s} {r.source:9s} {r.strategy}" for r in recs]
    return _emit(args, payload, "\n".join(lines) or f"no strategies in {reg.url}")


def _cmd_monitor(args: argparse.Namespace) -> int:
    import numpy as np

    import quantray
    from quantray.cli._costs import resolve_costs
    from quantray.cli._research import one_symbol
    from quantray.errors import ConfigError
    from quantray.research._common import shared_returns
    from quantray.search import MonitorConfig, rule_spec
    from quantray.search._lifecycle import LifecycleError

    args.symbol = one_symbol("strategies monitor", args.symbol)
    if args.last_bars is not None and args.last_bars < 1:
        raise ConfigError(f"monitor: --last-bars must be an integer >= 1, got {args.last_bars}")
    with _flags_named(_MONITOR_FLAGS):  # the flags are checked before any data is read
        cfg = MonitorConfig(
            drawdown_alpha=args.drawdown_alpha, max_drawdown=args.max_drawdown, decay_alpha=args.alpha
        )
    with _registry(args, f"monitor {args.name!r}") as reg:
        rec = reg.get(args.name)
        if rec.state != "live":
            raise LifecycleError(f"strategy {args.name!r} is {rec.state}: only live strategies are monitored")
        spec: Any = rule_spec(rec.rule, name=rec.name) if rec.rule else rec.strategy
        expected_on = [str(x) for x in rec.metrics.get("symbols") or []]
        data: Any = _data(args.data)
        if args.symbol:
            symbols = [args.symbol]
        else:
            from quantray._backtest import _to_panel

            data = _to_panel(data, None)  # read once: the symbols held, then the backtest on the same panel
            held = sorted(data.symbols)
            if len(held) == 1:
                symbols = held
            elif expected_on and set(expected_on) <= set(held):
                symbols = expected_on  # the portfolio its expectations were measured on
            else:
                raise ConfigError(
                    f"monitor: --symbol is required: the data holds {len(held)} symbols and {args.name!r} "
                    + (
                        f"was validated on {expected_on}, not all of them in the data"
                        if expected_on
                        else "records no symbols"
                    )
                )
        recorded = rec.metrics.get("execution")
        config, _note = resolve_costs(
            args, [(args.name, recorded if isinstance(recorded, dict) else None)], "monitor"
        )
        res = quantray.backtest(data, spec, params=rec.params or None, symbols=symbols, config=config)
        # validation averaged the symbols' per-bar returns (each symbol run with its own capital) on the bars they
        # share, a return on a bar another symbol lacks compounded into the next shared one: the same here
        eqs = {sym: res.detail(sym, rec.params or None).equity for sym in symbols}
        common = eqs[symbols[0]].index
        for eq in eqs.values():
            common = common.intersection(eq.index)
        if len(common) == 0:
            spans = ", ".join(
                f"{s} {eq.index[0]} → {eq.index[-1]}" if len(eq) else f"{s} none" for s, eq in eqs.items()
            )
            raise ConfigError(
                f"monitor {args.name!r}: the symbols share no bar (matched by timestamp): {spans}"
            )
        r = np.mean(
            [
                shared_returns(
                    bar_returns(eq, res.config.init_cash).to_numpy(),
                    eq.index.get_indexer(common).astype(np.int64),
                )
                for eq in eqs.values()
            ],
            axis=0,
        )
        if args.last_bars:
            r = r[-args.last_bars :]
        # expectations measured on the average of other symbols: judged (drawdowns at these symbols' own
        # volatility) and reported, never retired on that: one stock of twenty is not the strategy validated
        other = bool(expected_on) and sorted(symbols) != sorted(expected_on)
        rep = reg.monitor(
            args.name,
            r,
            periods_per_year=res.periods_per_year,
            config=dataclasses.replace(cfg, volatility="realised" if other else "validated"),
            retire=not (args.dry_run or other),
        )
    notes = list(rep.notes)
    if other:
        notes.append(
            f"its expectations were measured on {len(expected_on)} symbol(s) {expected_on[:8]}"
            f"{'...' if len(expected_on) > 8 else ''} averaged; judged here on {symbols}, so not retired "
            "automatically (monitor without --symbol to judge what validation measured)"
        )
    status = "; ".join(rep.breaches) if rep.breaches else ("no breach" if rep.notes else "healthy")
    text = (
        f"{args.name} on {len(r)} bars of {', '.join(symbols)}: {status}"
        + (" -> retired" if rep.retired else "")
        + f"\n  {_monitor_figures(rep)}"
        + "".join(f"\n  note: {n}" for n in notes)
    )
    return _emit(args, {**rep.to_dict(), "symbols": symbols, "notes": notes}, text)


def _gates_text(gates: dict[str, Any]) -> str:
    """The gates a validation was judged under, as recorded in its event, as discover's header names them
    (``dsr >= 0.6, pbo <= 0.5, ...``); the raw mapping if it is not a Gates' fields."""
    from quantray.search import Gates

    try:
        return str(Gates(**gates).describe())
    except (TypeError, ValueError):
        return ", ".join(f"{k}={v}" for k, v in gates.items())


def _monitor_figures(rep: Any) -> str:
    """The figures a monitor verdict rests on, as one line (``--json`` has them unrounded)."""

    def f(x: Any, fmt: str) -> str:
        return "n/a" if x is None or not math.isfinite(x) else format(x, fmt)

    return (
        f"Sharpe {f(rep.realised_sharpe, '.2f')} realised vs {f(rep.expected_sharpe, '.2f')} expected "
        f"(decay p={f(rep.decay_p_value, '.3f')}); mean return {f(rep.realised_return, '.1%')}/yr vs "
        f"{f(rep.expected_return, '.1%')}; max drawdown {f(rep.realised_max_drawdown, '.1%')} "
        f"(p={f(rep.drawdown_p_value, '.3f')}, limit {f(rep.drawdown_limit, '.1%')})"
    )


# ------------------------------------------------------------------------------------------------ parsers
def add_search_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the ``tune``, ``discover`` and ``abtest`` verbs.

    Example:
        >>> p = argparse.ArgumentParser(prog="quantray")
        >>> add_search_parsers(p.add_subparsers(dest="verb"), argparse.ArgumentParser)
        >>> p.parse_args(["discover", "--data", "sample", "--population", "8"]).generations
        20
    """
    if not (isinstance(parser_class, type) and issubclass(parser_class, argparse.ArgumentParser)):
        raise TypeError(f"parser_class must be an argparse.ArgumentParser subclass, got {parser_class!r}")
    d = subparsers.add_parser(
        "discover", help="genetic discovery of trading rules (DEAP on Ray), validated OOS"
    )
    d.add_argument("--data", required=True, help="bars: path, dataset dir, s3:// URL, or 'sample'")
    d.add_argument("--symbol", action="append", help="discover on this symbol (repeatable; default all)")
    d.add_argument("--population", type=int, default=64)
    d.add_argument("--generations", type=int, default=20)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--algorithm", choices=["simple", "nsga2"], default="simple")
    d.add_argument("--folds", type=int, default=3, help="folds of the discovery segment (default 3)")
    d.add_argument(
        "--holdout", type=float, default=0.3, help="tail fraction kept for validation (default 0.3)"
    )
    d.add_argument("--hall-of-fame", type=int, default=10, help="rules kept and validated (default 10)")
    d.add_argument("--parsimony", type=float, default=0.005, help="fitness penalty per tree node")
    d.add_argument("--min-trades", type=int, default=10, help="discovery entries per symbol to be scored")
    d.add_argument("--batch-size", type=int, default=16, help="individuals per evaluator call")
    d.add_argument("--workers", type=int, help="evaluator actors (default: the cluster's CPUs)")
    d.add_argument(
        "--cache-mb",
        type=float,
        default=512.0,
        help="per-evaluator MiB of node values kept across generations (default 512)",
    )
    d.add_argument("--local", action="store_true", help="evaluate in this process instead of Ray tasks")
    d.add_argument("--address", help="Ray address (default RAY_ADDRESS, else an embedded local cluster)")
    d.add_argument("--num-cpus", type=int, help="CPUs of the embedded local cluster")
    d.add_argument("--registry", help="registry URL (default sqlite under $QUANTRAY_HOME)")
    d.add_argument("--no-register", action="store_true", help="do not write survivors to the registry")
    d.add_argument("--pine-dir", help="write each survivor's Pine Script v6 here")
    _add_costs(d, fees=0.0005)
    _add_gates(d)
    d.add_argument("--json", action="store_true", help="print exactly one JSON object")
    d.set_defaults(func=_cmd_discover)

    t = subparsers.add_parser("tune", help="Ray Tune search of a strategy's parameters (Optuna TPE, ASHA)")
    t.add_argument("--data", required=True)
    t.add_argument("--symbol", action="append", help="restrict to this symbol (repeatable)")
    t.add_argument("--strategy", required=True, help="strategy name (see `quantray strategies list`)")
    t.add_argument(
        "--space", action="append", metavar="KEY=LOW:HIGH[:STEP]", help="narrow a parameter's space"
    )
    t.add_argument("--param", action="append", metavar="KEY=VALUE", help="hold a parameter fixed")
    t.add_argument("--searcher", choices=["optuna", "random", "grid"], default="optuna")
    t.add_argument("--metric", default="sharpe")
    t.add_argument("--objectives", help="multi-objective, e.g. sharpe:max,max_drawdown:min (Pareto front)")
    t.add_argument("--scheduler", choices=["asha", "none"], default="asha")
    t.add_argument("--samples", type=int, default=20, help="trials (default 20)")
    t.add_argument(
        "--min-trades",
        type=float,
        default=0.0,
        help="mean entries per symbol and fold a trial needs to be valid (a trial that never trades never is)",
    )
    t.add_argument("--max-concurrent", type=int, default=2)
    t.add_argument("--folds", type=int, default=4)
    t.add_argument("--holdout", type=float, default=0.2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument(
        "--storage", help="experiment storage: directory or s3:// URL (default $QUANTRAY_HOME/tune)"
    )
    t.add_argument(
        "--storage-options",
        metavar="JSON",
        help='s3:// credentials/endpoint, s3fs-style, e.g. \'{"endpoint_url": "http://127.0.0.1:9000"}\' '
        "(default: the AWS environment)",
    )
    t.add_argument(
        "--snapshot-s",
        type=float,
        help="seconds between experiment-state snapshots (default: Tune's adaptive period, >= 10 s)",
    )
    t.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files per trial (JSON and CSV logs are always written)",
    )
    t.add_argument("--name", help="experiment name (default tune-<strategy>)")
    t.add_argument(
        "--resume", action="store_true", help="continue the stored experiment after an interruption"
    )
    t.add_argument("--overwrite", action="store_true", help="start afresh over an existing experiment")
    t.add_argument(
        "--register", metavar="NAME", help="add the best parameters to the registry as a candidate"
    )
    t.add_argument("--registry", help="registry URL (default sqlite under $QUANTRAY_HOME)")
    t.add_argument("--address", help="Ray address")
    t.add_argument("--num-cpus", type=int, help="CPUs of the embedded local cluster")
    _add_costs(t)
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_cmd_tune)

    a = subparsers.add_parser("abtest", help="A/B test two strategies' Sharpe ratios on the same bars")
    a.add_argument("--data", required=True)
    a.add_argument(
        "--symbol", action="append", help="the symbol, once (required when the data holds several)"
    )
    a.add_argument("--a", required=True, metavar="STRATEGY[:K=V,...]", help="e.g. sma_cross:fast=10,slow=50")
    a.add_argument("--b", required=True, metavar="STRATEGY[:K=V,...]", help="e.g. buy_and_hold")
    a.add_argument("--method", choices=["both", "bootstrap", "jobson_korkie"], default="both")
    a.add_argument("--bootstrap", choices=["stationary", "circular"], default="stationary")
    a.add_argument("--boot", type=int, default=2000, help="bootstrap replicates")
    a.add_argument("--block", type=float, default=None, help="mean block length (default n^(1/3))")
    a.add_argument("--alpha", type=float, default=0.05)
    a.add_argument("--power", type=float, default=0.8)
    a.add_argument(
        "--min-effect",
        type=float,
        default=1.0,
        help="smallest annualised Sharpe difference worth detecting (decides 'no significant difference' vs "
        "'inconclusive'; default 1.0)",
    )
    a.add_argument("--seed", type=int, default=0)
    a.add_argument(
        "--registry", help="registry URL for discovered rules (gp_...; default sqlite under $QUANTRAY_HOME)"
    )
    add_cost_flags(a, ("fees", "slippage", "execution"))
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=_cmd_abtest)


def add_lifecycle_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``promote``, ``retire``, ``status`` and ``monitor`` to the ``strategies`` verb's sub-parsers.

    Example:
        >>> p = argparse.ArgumentParser(prog="strategies")
        >>> add_lifecycle_parsers(p.add_subparsers(dest="sv"), argparse.ArgumentParser)
        >>> p.parse_args(["retire", "gp_x", "--reason", "decay"]).reason
        'decay'
    """
    if not (isinstance(parser_class, type) and issubclass(parser_class, argparse.ArgumentParser)):
        raise TypeError(f"parser_class must be an argparse.ArgumentParser subclass, got {parser_class!r}")
    p = subparsers.add_parser("promote", help="candidate -> validated (gates) or validated -> live")
    p.add_argument("name")
    p.add_argument("--reason", help="recorded with the transition")
    p.add_argument("--registry", help="registry URL (default sqlite under $QUANTRAY_HOME)")
    _add_gates(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_promote)

    r = subparsers.add_parser("retire", help="live -> retired, with a reason")
    r.add_argument("name")
    r.add_argument("--reason", required=True)
    r.add_argument("--registry")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=_cmd_retire)

    s = subparsers.add_parser("status", help="the registry, or one strategy with its history")
    s.add_argument("name", nargs="?")
    s.add_argument("--state", choices=["candidate", "validated", "live", "retired"])
    s.add_argument("--registry")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_cmd_status)

    m = subparsers.add_parser("monitor", help="judge a live strategy on new bars; retire it on a breach")
    m.add_argument("name")
    m.add_argument("--data", required=True)
    m.add_argument("--symbol", action="append", help="judge one symbol (default: the symbols validated on)")
    m.add_argument("--last-bars", type=int, help="judge only the last N bars")
    m.add_argument(
        "--drawdown-alpha",
        type=float,
        default=0.01,
        help="drawdown test level: retire when a strategy performing as validated would draw down this deep "
        "over these bars with probability below it (default 0.01)",
    )
    m.add_argument("--max-drawdown", type=float, default=None, help="hard drawdown limit (fraction)")
    m.add_argument("--alpha", type=float, default=0.05, help="Sharpe-decay test level")
    m.add_argument("--dry-run", action="store_true", help="report without retiring")
    m.add_argument("--registry")
    add_cost_flags(m, ("fees", "slippage", "execution"))
    m.add_argument("--json", action="store_true")
    m.set_defaults(func=_cmd_monitor)
