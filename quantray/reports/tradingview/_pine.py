"""Pine Script v6 generation: an indicator and a strategy per symbol from the strategy's template.

The strategy's template (``quantray/strategies/pine/*.pine``) is rendered with the report's parameters as
``input.*`` defaults (:func:`quantray.strategies.render_pine`). From it:

* the **strategy** keeps the template's orders and gains ``alert()`` calls for the symbol's stop, target and
  large-move thresholds (entries and exits reach TradingView as order-fill alerts, whose message uses
  ``{{strategy.order.action}}`` and ``{{strategy.order.contracts}}``); the template's ``alertcondition()``
  lines are removed (TradingView ignores them in strategies);
* the **indicator** is the template with ``strategy(...)`` replaced by ``indicator(...)`` and every block that
  places orders removed; it tracks quantray's target position bar by bar (``qrTarget``: the same rule as the
  numba signal kernel), and raises ``alertcondition()`` and ``alert()`` on its transitions and thresholds.

Only syntax that pynescript 0.3.0 parses is emitted (the tests parse every generated file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quantray.errors import StrategyError
from quantray.reports.tradingview._thresholds import AlertThresholds

#: TradingView placeholders used in the alert messages, and the Pine expression that replaces each inside
#: ``alert()`` calls (TradingView substitutes placeholders only in alertcondition() / dialog messages).
PLACEHOLDERS: dict[str, str] = {
    "{{ticker}}": "syminfo.ticker",
    "{{exchange}}": "syminfo.prefix",
    "{{close}}": "str.tostring(close)",
    "{{timenow}}": 'str.format_time(timenow, "yyyy-MM-dd\'T\'HH:mm:ssZ", "UTC")',
    "{{interval}}": "timeframe.period",
}

FREQUENCY = "once_per_bar_close"
"""Alert frequency of every exported alert: quantray decides on the bar's close, so do the alerts."""


@dataclass(frozen=True)
class Condition:
    """One exported alert condition.

    Attributes:
        name: ``long_entry``, ``long_exit``, ``short_entry``, ``short_exit``, ``stop_loss``, ``take_profit``,
            ``large_move`` or ``order_fill``.
        variable: the Pine boolean that holds it (empty for ``order_fill``).
        action: the payload ``action`` (``buy``, ``sell``, ``flat``, ``notify`` or the order placeholder).
        description: one line for people.
    """

    name: str
    variable: str
    action: str
    description: str


_LONG_RULE = "longEntry ? 1 : longExit ? 0 : qrTarget"
_MOMENTUM_RULE = "goLong ? 1 : goShort ? -1 : 0"


def target_rule(template_src: str, strategy: str) -> tuple[str, bool]:
    """The Pine expression of quantray's target position (−1/0/+1) and whether it can go short.

    Templates name their conditions ``longEntry``/``longExit`` (a position held from entry to exit, entry
    first when both hold: the kernels' order) or ``goLong``/``goShort`` (a target decided afresh each bar).
    A template with neither is buy and hold only when it places an unconditional entry.
    """
    names = set(re.findall(r"^([A-Za-z_]\w*)\s*=(?!=)", template_src, flags=re.M))
    if {"longEntry", "longExit"} <= names:
        return _LONG_RULE, False
    if {"goLong", "goShort"} <= names:
        return _MOMENTUM_RULE, True
    if strategy == "buy_and_hold" or re.search(
        r"^if strategy\.position_size == 0\s*$", template_src, flags=re.M
    ):
        return "1", False
    raise StrategyError(
        f"strategy {strategy!r}: its Pine template defines neither longEntry/longExit nor goLong/goShort, so the "
        "export cannot derive its alert conditions"
    )


def conditions(can_short: bool) -> list[Condition]:
    """The conditions exported for a strategy (short ones only when it can be short)."""
    out = [
        Condition("long_entry", "qrEnterLong", "buy", "quantray's target turns long"),
        Condition("long_exit", "qrExitLong", "flat", "quantray's target leaves long"),
    ]
    if can_short:
        out += [
            Condition("short_entry", "qrEnterShort", "sell", "quantray's target turns short"),
            Condition("short_exit", "qrExitShort", "flat", "quantray's target leaves short"),
        ]
    out += [
        Condition("stop_loss", "qrStopAlert", "flat", "close crosses the stop level from the entry close"),
        Condition(
            "take_profit", "qrTakeAlert", "flat", "close crosses the target level from the entry close"
        ),
        Condition("large_move", "qrLargeMove", "notify", "one bar moves more than the large-move threshold"),
    ]
    return out


ORDER_FILL = Condition(
    "order_fill", "", "{{strategy.order.action}}", "the strategy's order fills (alert dialog message)"
)


def alert_message(
    *,
    secret: str,
    strategy: str,
    condition: Condition,
    alert_id: str,
) -> str:
    """The JSON alert message of one condition, with TradingView placeholders (payload schema v1)."""
    msg: dict[str, Any] = {
        "v": 1,
        "secret": secret,
        "ticker": "{{ticker}}",
        "exchange": "{{exchange}}",
        "strategy": strategy,
        "action": condition.action,
        "price": "{{close}}",
    }
    if condition.name == "order_fill":
        msg["contracts"] = "{{strategy.order.contracts}}"
    msg.update(time="{{timenow}}", condition=condition.name, alert_id=alert_id, interval="{{interval}}")
    return json.dumps(msg, separators=(",", ":"))


def _pine_single(text: str) -> str:
    """A single-quoted Pine string literal (JSON uses double quotes; inputs are checked to hold no ' or \\)."""
    if "'" in text or "\\" in text or "\n" in text:
        raise StrategyError(f"cannot embed {text!r} in a Pine string literal (quote, backslash or newline)")
    return f"'{text}'"


def _pine_double(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _drop_order_blocks(lines: Sequence[str]) -> list[str]:
    """Remove top-level ``if`` chains (with their ``else`` branches) that call ``strategy.*``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("if "):
            block = [line]
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or lines[j].startswith("else")):
                block.append(lines[j])
                j += 1
            if not any("strategy." in b for b in block):
                out.extend(block)
            i = j
            continue
        out.append(line)
        i += 1
    return out


def _header(title: str, notes: Sequence[str]) -> list[str]:
    return ["//@version=6", f"// {title}", *(f"// {n}" for n in notes)]


def _block(
    *,
    rule: str,
    thresholds: AlertThresholds,
    conds: Sequence[Condition],
    messages: Mapping[str, str],
    titles: Mapping[str, str],
    indicator: bool,
) -> list[str]:
    items = list(PLACEHOLDERS.items())
    fill = [f"    string m = str.replace_all(tpl, {_pine_double(items[0][0])}, {items[0][1]})"]
    fill += [f"    m := str.replace_all(m, {_pine_double(k)}, {v})" for k, v in items[1:]]
    lines = [
        "// ---- quantray export: alert thresholds from the backtest, quantray's target and its alerts ----",
        f'qrStopPct = input.float({thresholds.stop_loss_pct!r}, "Stop loss (fraction of the entry close)", '
        'minval=0.0, group="quantray alerts")',
        f'qrTakePct = input.float({thresholds.take_profit_pct!r}, "Take profit (fraction of the entry close)", '
        'minval=0.0, group="quantray alerts")',
        f'qrLargeMovePct = input.float({thresholds.large_move_pct!r}, "Large one-bar move (fraction)", '
        'minval=0.0, group="quantray alerts")',
        "qrFill(string tpl) =>",
        *fill,
        "    m",
        "var int qrTarget = 0",
        f"qrTarget := {rule}",
        "qrPrev = nz(qrTarget[1])",
        "qrEnterLong = qrTarget == 1 and qrPrev != 1",
        "qrExitLong = qrTarget != 1 and qrPrev == 1",
        "qrEnterShort = qrTarget == -1 and qrPrev != -1",
        "qrExitShort = qrTarget != -1 and qrPrev == -1",
        "var float qrEntryPrice = na",
        "if qrEnterLong or qrEnterShort",
        "    qrEntryPrice := close",
        "else if qrTarget == 0",
        "    qrEntryPrice := na",
        "qrStopHit = (qrTarget == 1 and close <= qrEntryPrice * (1 - qrStopPct)) or "
        "(qrTarget == -1 and close >= qrEntryPrice * (1 + qrStopPct))",
        "qrTakeHit = (qrTarget == 1 and close >= qrEntryPrice * (1 + qrTakePct)) or "
        "(qrTarget == -1 and close <= qrEntryPrice * (1 - qrTakePct))",
        "qrStopAlert = qrStopHit and not qrStopHit[1]",
        "qrTakeAlert = qrTakeHit and not qrTakeHit[1]",
        "qrBarMove = close / close[1] - 1",
        "qrLargeMove = math.abs(qrBarMove) >= qrLargeMovePct",
    ]
    if indicator:
        lines += [
            'plot(qrTarget, "quantray target", display=display.data_window)',
            'plotshape(qrEnterLong, "Long entry", shape.triangleup, location.bottom, color.green)',
            'plotshape(qrExitLong, "Long exit", shape.xcross, location.top, color.gray)',
            'plotshape(qrStopAlert, "Stop", shape.diamond, location.top, color.red)',
            'plotshape(qrTakeAlert, "Target", shape.diamond, location.top, color.teal)',
        ]
        for c in conds:
            lines.append(
                f"alertcondition({c.variable}, {_pine_double(titles[c.name])}, {_pine_single(messages[c.name])})"
            )
    for c in conds:
        if not indicator and c.name not in ("stop_loss", "take_profit", "large_move"):
            continue
        lines += [
            f"if {c.variable}",
            f"    alert(qrFill({_pine_single(messages[c.name])}), alert.freq_once_per_bar_close)",
        ]
    return lines


def make_scripts(
    *,
    rendered: str,
    strategy: str,
    title: str,
    thresholds: AlertThresholds,
    messages: Mapping[str, str],
    titles: Mapping[str, str],
    notes: Sequence[str],
) -> tuple[str, str, list[Condition]]:
    """(indicator source, strategy source, exported conditions) from a rendered strategy template."""
    rule, can_short = target_rule(rendered, strategy)
    conds = conditions(can_short)
    src_lines = rendered.splitlines()
    if not src_lines or not src_lines[0].startswith("//@version=6"):
        raise StrategyError(f"strategy {strategy!r}: its Pine template must start with //@version=6")
    body = [ln for ln in src_lines[1:] if not ln.startswith("alertcondition(")]
    decl_idx = next((i for i, ln in enumerate(body) if ln.startswith("strategy(")), None)
    if decl_idx is None:
        raise StrategyError(f"strategy {strategy!r}: its Pine template has no strategy(...) declaration")
    strat_lines = [*_header(title + " (strategy)", notes), *body]
    strat_lines += _block(
        rule=rule, thresholds=thresholds, conds=conds, messages=messages, titles=titles, indicator=False
    )
    overlay = "false" if "overlay=false" in body[decl_idx] else "true"
    ind_body = list(body)
    ind_body[decl_idx] = f"indicator({_pine_double(title)}, overlay={overlay})"
    ind_body = _drop_order_blocks(ind_body)
    leftover = [ln for ln in ind_body if "strategy." in ln]
    if leftover:
        raise StrategyError(
            f"strategy {strategy!r}: cannot turn its Pine template into an indicator, `strategy.` remains in "
            f"{leftover[0].strip()!r}"
        )
    ind_lines = [*_header(title + " (indicator)", notes), *ind_body]
    ind_lines += _block(
        rule=rule, thresholds=thresholds, conds=conds, messages=messages, titles=titles, indicator=True
    )
    return "\n".join(ind_lines) + "\n", "\n".join(strat_lines) + "\n", conds
