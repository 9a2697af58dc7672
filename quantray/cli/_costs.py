"""Costs of the verbs that run a strategy: the cost flags, and the costs a registered candidate was validated with.

A candidate registered by ``tune --register`` or ``discover`` records the :class:`ExecutionConfig` its holdout
statistics were measured with (``metrics["execution"]``). Naming the candidate in ``backtest``, the research
verbs, ``abtest`` or ``strategies monitor`` runs it at those costs: a strategy validated at 5 bp fees is not
re-run at 0 by default. A flag given overrides its one field; a built-in strategy has no record, so the
flags' usual defaults apply. The costs used are printed (``costs_note``).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["add_cost_flags", "costs_note", "resolve_costs"]

#: field -> (flag, default without a record, help)
FLAGS: dict[str, tuple[str, Any, str]] = {
    "fees": ("--fees", 0.0, "proportional fee per trade (0.001 = 10 bp)"),
    "slippage": ("--slippage", 0.0, "price fraction paid per fill"),
    "fixed_fee": ("--fixed-fee", 0.0, "cash fee per order"),
    "init_cash": ("--init-cash", 100_000.0, "starting cash"),
    "execution": ("--execution", "next_open", "fills: next_open or close"),
}


def add_cost_flags(p: argparse.ArgumentParser, fields: Sequence[str] = tuple(FLAGS)) -> None:
    """Add the cost flags of ``fields``, each defaulting to None: "as recorded with the candidate, else the usual
    default" (see :func:`resolve_costs`)."""
    for name in fields:
        flag, default, text = FLAGS[name]
        extra: dict[str, Any] = (
            {"choices": ["close", "next_open"]} if name == "execution" else {"type": float}
        )
        shown = default if isinstance(default, str) else f"{default:g}"
        help_text = f"{text} (default: as recorded with a registered candidate, else {shown})"
        p.add_argument(flag, dest=name, default=None, help=help_text, **extra)


def resolve_costs(
    args: argparse.Namespace, recorded: Sequence[tuple[str, Mapping[str, Any] | None]], verb: str
) -> tuple[Any, str]:
    """The :class:`ExecutionConfig` to run with and a line saying where its costs came from.

    ``recorded``: (strategy label, its recorded ``execution`` mapping or None) for each strategy the verb runs.
    Each field is the flag's value when given, else the recorded value, else the usual default. Two candidates
    recorded with different values of a field no flag sets are refused (an A/B test compares two strategies at
    the same costs): the error names both values and the flag that settles it.
    """
    from quantray.engine import ExecutionConfig
    from quantray.errors import ConfigError

    records = [(label, dict(rec)) for label, rec in recorded if isinstance(rec, Mapping)]
    given = {name: getattr(args, name) for name in FLAGS if getattr(args, name, None) is not None}
    base: dict[str, Any] = {}
    conflicts: dict[str, str] = {}
    for label, rec in records:
        for key, value in rec.items():
            if key in given:
                continue
            if key in base and base[key][1] != value:
                first, v0 = base[key]
                conflicts.setdefault(key, f"{key} {v0!r} ({first}) vs {value!r} ({label})")
            base.setdefault(key, (label, value))
    if conflicts:
        flags = [FLAGS[key][0] for key in conflicts if key in FLAGS]
        fix = (
            f"give {' and '.join(flags)} to run both at the same values"
            if len(flags) == len(conflicts)
            else "compare them in Python (quantray.search.ab_test) with one ExecutionConfig for both"
        )
        raise ConfigError(
            f"{verb}: {' and '.join(label for label, _rec in records)} were validated with different costs: "
            f"{'; '.join(conflicts.values())}; {fix}"
        )
    values = {key: value for key, (_label, value) in base.items()}
    values.update(given)
    for name, (_flag, default, _help) in FLAGS.items():
        values.setdefault(name, default)
    try:  # the flags first, so that a bad flag is not blamed on a record
        ExecutionConfig.from_dict({**{n: d for n, (_f, d, _h) in FLAGS.items()}, **given})
    except ConfigError as exc:
        raise ConfigError(f"{verb}: {exc}") from None
    try:
        cfg = ExecutionConfig.from_dict(values)
    except (TypeError, ConfigError) as exc:  # a record from another version, or a value out of range
        labels = ", ".join(label for label, _rec in records)
        raise ConfigError(
            f"{verb}: the execution settings recorded with {labels} are not valid: {exc}"
        ) from None
    return cfg, costs_note(cfg, [label for label, _rec in records], given)


def costs_note(cfg: Any, recorded_by: Sequence[str], given: Mapping[str, Any]) -> str:
    """``costs: fees=0.0005 slippage=0 fixed_fee=0 execution=next_open (as recorded with gp_x; --fees given)``."""
    text = (
        f"costs: fees={cfg.fees:g} slippage={cfg.slippage:g} fixed_fee={cfg.fixed_fee:g} "
        f"execution={cfg.execution}"
    )
    src = []
    if recorded_by:
        src.append("as recorded with " + " and ".join(recorded_by))
    if given:
        src.append(", ".join(FLAGS[k][0] for k in given) + " given")
    return text + (f" ({'; '.join(src)})" if src else " (defaults)")
