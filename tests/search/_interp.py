"""A slow, obviously-correct interpreter of rule trees: plain Python recursion over the AST and per-bar Python
loops over lists of floats, following the value conventions stated in ``quantray/search/_kernels.py`` operation
by operation (so results must equal the compiled register machine bit for bit)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from quantray.search._grammar import Node

NAN = float("nan")


def _fin(x: float) -> float:
    return x if math.isfinite(x) else NAN


def _sma(x: list[float], n: int) -> list[float]:
    """Running sum of the window's defined values: a bar whose incoming and outgoing values are both defined
    adds their difference; otherwise the defined one is added or removed and the undefined one counted."""
    out = []
    s = 0.0
    bad = 0
    for t in range(len(x)):
        new_ok = math.isfinite(x[t])
        old_ok = t >= n and math.isfinite(x[t - n])
        if new_ok and old_ok:
            s += x[t] - x[t - n]
        elif new_ok:
            s += x[t]
        elif old_ok:
            s -= x[t - n]
        bad += (0 if new_ok else 1) - (1 if t >= n and not old_ok else 0)
        out.append(_fin(s / n) if t >= n - 1 and bad == 0 else NAN)
    return out


def _ema(x: list[float], n: int) -> list[float]:
    alpha = 2.0 / (n + 1.0)
    out = []
    cnt, s, val = 0, 0.0, 0.0
    for xt in x:
        if not math.isfinite(xt):
            cnt, s = 0, 0.0
            out.append(NAN)
        elif cnt < n:
            s += xt
            cnt += 1
            if cnt == n:
                val = s / n
                out.append(_fin(val))
            else:
                out.append(NAN)
        else:
            val = alpha * xt + (1.0 - alpha) * val
            out.append(_fin(val))
    return out


def _rsi(x: list[float], n: int) -> list[float]:
    out = []
    cnt, prev, g, lo = -1, 0.0, 0.0, 0.0
    for xt in x:
        if not math.isfinite(xt):
            cnt = -1
            out.append(NAN)
            continue
        if cnt == -1:
            cnt, g, lo, prev = 0, 0.0, 0.0, xt
            out.append(NAN)
            continue
        ch = xt - prev
        prev = xt
        if cnt < n:
            if ch > 0.0:
                g += ch
            else:
                lo -= ch
            cnt += 1
            if cnt < n:
                out.append(NAN)
                continue
            g /= n
            lo /= n
        else:
            up = ch if ch > 0.0 else 0.0
            dn = -ch if ch < 0.0 else 0.0
            g = (1.0 / n) * up + (1.0 - 1.0 / n) * g
            lo = (1.0 / n) * dn + (1.0 - 1.0 / n) * lo
        out.append(100.0 if lo == 0.0 else _fin(100.0 * (g / (g + lo))))  # ta.rsi: 100 when down == 0
    return out


def _extreme(x: list[float], n: int, fn: object) -> list[float]:
    out = []
    for t in range(len(x)):
        win = x[max(0, t - n + 1) : t + 1]
        if t < n - 1 or not all(math.isfinite(w) for w in win):
            out.append(NAN)
        else:
            out.append(fn(win))  # type: ignore[operator]
    return out


def interpret(node: Node, bars: dict[str, Sequence[float]]) -> list[float]:
    """Evaluate a rule (or any subtree) on ``bars`` (open/high/low/close/volume lists)."""
    if node.name in bars:
        return [float(v) for v in bars[node.name]]
    a = node.args
    nm = node.name
    if nm in ("sma", "ema", "rsi", "highest", "lowest", "lag"):
        x = interpret(a[0], bars)
        w = int(a[1].value)  # type: ignore[arg-type]
        if nm == "sma":
            return _sma(x, w)
        if nm == "ema":
            return _ema(x, w)
        if nm == "rsi":
            return _rsi(x, w)
        if nm == "highest":
            return _extreme(x, w, max)
        if nm == "lowest":
            return _extreme(x, w, min)
        return [x[t - w] if t >= w else NAN for t in range(len(x))]
    if nm in ("above", "below"):
        x = interpret(a[0], bars)
        lv = float(a[1].value)  # type: ignore[arg-type]
        return [1.0 if (xi > lv if nm == "above" else xi < lv) else 0.0 for xi in x]
    if nm == "not":
        return [0.0 if xi != 0.0 else 1.0 for xi in interpret(a[0], bars)]
    x, y = interpret(a[0], bars), interpret(a[1], bars)
    m = len(x)
    if nm == "add":
        return [_fin(x[t] + y[t]) for t in range(m)]
    if nm == "sub":
        return [_fin(x[t] - y[t]) for t in range(m)]
    if nm == "mul":
        return [_fin(x[t] * y[t]) for t in range(m)]
    if nm == "div":
        return [_fin(x[t] / y[t]) if y[t] != 0.0 else NAN for t in range(m)]
    if nm == "gt":
        return [1.0 if x[t] > y[t] else 0.0 for t in range(m)]
    if nm == "lt":
        return [1.0 if x[t] < y[t] else 0.0 for t in range(m)]
    if nm == "cross_above":
        return [0.0] + [1.0 if x[t] > y[t] and x[t - 1] <= y[t - 1] else 0.0 for t in range(1, m)]
    if nm == "cross_below":
        return [0.0] + [1.0 if x[t] < y[t] and x[t - 1] >= y[t - 1] else 0.0 for t in range(1, m)]
    if nm == "and":
        return [1.0 if x[t] != 0.0 and y[t] != 0.0 else 0.0 for t in range(m)]
    if nm == "or":
        return [1.0 if x[t] != 0.0 or y[t] != 0.0 else 0.0 for t in range(m)]
    raise ValueError(f"unknown node {nm!r}")
