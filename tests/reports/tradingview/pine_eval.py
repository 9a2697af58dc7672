"""A small, independent evaluator of the Pine Script subset the export emits, over real bars (numpy/pandas).

It walks pynescript's AST of a generated indicator. Statements run one after the other over ALL bars, which is
Pine's bar-by-bar semantics for straight-line code without forward references: a plain assignment is evaluated
vectorised; a ``var`` variable changed by ``:=`` (directly or inside ``if``) is evaluated bar by bar, reading its
own previous value. ``na`` is NaN; a comparison with na is false (Pine v6: bools are never na).

The ``ta.*`` functions are written here from TradingView's documented definitions, independently of quantray's
numba kernels: ``ta.sma`` = rolling mean; ``ta.ema``/``ta.rma`` seeded with the SMA of the first ``length``
values; ``ta.rsi`` = 100 − 100 / (1 + rma(up) / rma(down)) (100 when down is 0, 0 when up is 0); ``ta.bb`` with
the population standard deviation; ``ta.highest``/``ta.lowest`` rolling max/min; ``ta.macd``;
``ta.crossover(a, b)`` = a > b and a[1] <= b[1].
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pandas as pd
from pynescript import ast


@functools.cache
def parse(source: str) -> Any:
    """pynescript's AST of ``source``, parsed once per test session (its ANTLR parser warms up slowly)."""
    return ast.parse(source)


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    out = np.empty_like(x)
    fill: Any = False if x.dtype == bool else np.nan
    if k == 0:
        return x.copy()
    out[:k] = fill
    out[k:] = x[:-k]
    return out


def sma(x: np.ndarray, w: int) -> np.ndarray:
    return pd.Series(x).rolling(w, min_periods=w).mean().to_numpy()


def _seeded(x: np.ndarray, w: int, alpha: float) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    run = 0
    prev = math.nan
    for t in range(x.shape[0]):
        if math.isnan(prev):
            run = run + 1 if not math.isnan(x[t]) else 0
            if run >= w:
                prev = float(np.mean(x[t - w + 1 : t + 1]))
                out[t] = prev
        else:
            prev = alpha * x[t] + (1.0 - alpha) * prev  # ta.ema / ta.rma as TradingView documents them
            out[t] = prev
    return out


def ema(x: np.ndarray, w: int) -> np.ndarray:
    return _seeded(x, w, 2.0 / (w + 1.0))


def rma(x: np.ndarray, w: int) -> np.ndarray:
    return _seeded(x, w, 1.0 / w)


def rsi(x: np.ndarray, w: int) -> np.ndarray:
    ch = np.concatenate([[np.nan], np.diff(x)])
    up = rma(np.where(np.isnan(ch), np.nan, np.maximum(ch, 0.0)), w)
    dn = rma(np.where(np.isnan(ch), np.nan, np.maximum(-ch, 0.0)), w)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 100.0 - 100.0 / (1.0 + up / dn)
    r = np.where(dn == 0.0, 100.0, np.where(up == 0.0, 0.0, r))
    return np.where(np.isnan(up) | np.isnan(dn), np.nan, r)


def bb(x: np.ndarray, w: int, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mid = sma(x, w)
    sd = pd.Series(x).rolling(w, min_periods=w).std(ddof=0).to_numpy()
    return mid, mid + k * sd, mid - k * sd


def macd(x: np.ndarray, f: int, s: int, sig: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    line = ema(x, f) - ema(x, s)
    signal = ema(line, sig)
    return line, signal, line - signal


def crossover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a > b) & (_shift(a, 1) <= _shift(b, 1))


def crossunder(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a < b) & (_shift(a, 1) >= _shift(b, 1))


TA = {
    "sma": sma,
    "ema": ema,
    "rma": rma,
    "rsi": rsi,
    "bb": bb,
    "macd": macd,
    "crossover": crossover,
    "crossunder": crossunder,
    "highest": lambda x, w: pd.Series(x).rolling(int(w), min_periods=int(w)).max().to_numpy(),
    "lowest": lambda x, w: pd.Series(x).rolling(int(w), min_periods=int(w)).min().to_numpy(),
}

_IGNORED_CALLS = {"indicator", "strategy", "plot", "plotshape", "hline"}


class PineEvaluator:
    """Run a generated indicator over bars; collect its variables, alertcondition() and alert() calls."""

    def __init__(self, bars: dict[str, np.ndarray]) -> None:
        self.n = len(bars["close"])
        self.env: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in bars.items()}
        self.var_init: dict[str, float] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.alertconditions: list[tuple[str, str, str]] = []  # (variable, title, message)
        self.alerts: list[tuple[str, ast.AST, str]] = []  # (variable, message expression, frequency)

    # ---------------------------------------------------------------- statements
    def run(self, source: str) -> PineEvaluator:
        tree = parse(source)
        for node in tree.body:
            self._stmt(node)
        return self

    def _stmt(self, node: Any) -> None:
        if isinstance(node, ast.FunctionDef):
            self.functions[node.name] = node
        elif isinstance(node, ast.Assign):
            if getattr(node, "mode", None) is not None and type(node.mode).__name__ == "Var":
                name = node.target.id
                init = float(self._eval(node.value, None))
                self.var_init[name] = init
                self.env[name] = np.full(self.n, init)
            elif isinstance(node.target, ast.Tuple):
                values = self._eval(node.value, None)
                for elt, v in zip(node.target.elts, values, strict=True):
                    self.env[elt.id] = np.asarray(v)
            else:
                v = self._eval(node.value, None)
                self.env[node.target.id] = v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v
        elif isinstance(node, ast.ReAssign):
            self._per_bar([node])
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.If):
            if self._is_alert_if(node.value):
                call = node.value.body[0].value
                self.alerts.append((node.value.test.id, call.args[0].value, call.args[1].value.attr))
            else:
                self._per_bar([node.value])
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            fname = self._name(node.value.func)
            if fname == "alertcondition":
                a = node.value.args
                self.alertconditions.append((a[0].value.id, a[1].value.value, a[2].value.value))
            elif fname not in _IGNORED_CALLS:
                raise NotImplementedError(f"top-level call {fname}")
        else:
            raise NotImplementedError(ast.dump(node)[:200])

    @staticmethod
    def _is_alert_if(node: Any) -> bool:
        body = node.body
        return (
            len(body) == 1
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Call)
            and PineEvaluator._name(body[0].value.func) == "alert"
            and not node.orelse
        )

    def _per_bar(self, stmts: list[Any]) -> None:
        targets = sorted(self._reassigned(stmts))
        for name in targets:
            if name not in self.var_init:
                raise NotImplementedError(f"':=' on non-var {name}")
        for t in range(self.n):
            for name in targets:
                self.env[name][t] = self.env[name][t - 1] if t > 0 else self.var_init[name]
            self._exec_bar(stmts, t)

    def _reassigned(self, stmts: list[Any]) -> set[str]:
        out: set[str] = set()
        for s in stmts:
            if isinstance(s, ast.ReAssign):
                out.add(s.target.id)
            elif isinstance(s, ast.If):
                out |= self._reassigned(s.body) | self._reassigned(s.orelse)
            elif isinstance(s, ast.Expr) and isinstance(s.value, ast.If):
                out |= self._reassigned([s.value])
        return out

    def _exec_bar(self, stmts: list[Any], t: int) -> None:
        for s in stmts:
            if isinstance(s, ast.Expr):
                s = s.value
            if isinstance(s, ast.ReAssign):
                self.env[s.target.id][t] = float(self._eval(s.value, t))
            elif isinstance(s, ast.If):
                if bool(self._eval(s.test, t)):
                    self._exec_bar(s.body, t)
                else:
                    self._exec_bar(s.orelse, t)
            else:
                raise NotImplementedError(ast.dump(s)[:200])

    # ---------------------------------------------------------------- expressions
    def _broadcast(self, v: Any) -> np.ndarray:
        arr = np.asarray(v)
        return np.full(self.n, arr) if arr.ndim == 0 else arr

    @staticmethod
    def _name(node: Any) -> str:
        if isinstance(node, ast.Name):
            return str(node.id)
        if isinstance(node, ast.Attribute):
            return f"{PineEvaluator._name(node.value)}.{node.attr}"
        raise NotImplementedError(ast.dump(node)[:200])

    def _eval(self, node: Any, t: int | None) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id == "na":
                return np.nan
            v = self.env[node.id]
            return v[t] if t is not None and isinstance(v, np.ndarray) else v
        if isinstance(node, ast.Subscript):
            k = int(self._eval(node.slice, None))
            if t is not None:
                base = self.env[node.value.id]
                if t - k < 0:
                    return False if base.dtype == bool else np.nan
                return base[t - k]
            return _shift(self._broadcast(self._eval(node.value, None)), k)
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, t)
            op = type(node.op).__name__
            if op == "Not":
                return np.logical_not(v)
            if op == "USub":
                return -v
            raise NotImplementedError(op)
        if isinstance(node, ast.BoolOp):
            vals = [np.asarray(self._eval(v, t), dtype=bool) for v in node.values]
            fn = np.logical_and if type(node.op).__name__ == "And" else np.logical_or
            out = vals[0]
            for v in vals[1:]:
                out = fn(out, v)
            return out
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, t), self._eval(node.right, t)
            op = type(node.op).__name__
            with np.errstate(divide="ignore", invalid="ignore"):
                return {"Add": np.add, "Sub": np.subtract, "Mult": np.multiply, "Div": np.divide}[op](a, b)
        if isinstance(node, ast.Compare):
            a = self._eval(node.left, t)
            (op,) = node.ops
            b = self._eval(node.comparators[0], t)
            fn = {"Lt": np.less, "LtE": np.less_equal, "Gt": np.greater, "GtE": np.greater_equal}
            name = type(op).__name__
            with np.errstate(invalid="ignore"):
                if name in fn:
                    return fn[name](a, b)
                nan_a = np.isnan(np.asarray(a, dtype=np.float64))
                nan_b = np.isnan(np.asarray(b, dtype=np.float64))
                eq = np.equal(a, b) & ~nan_a & ~nan_b
                return eq if name == "Eq" else (~eq & ~nan_a & ~nan_b)
        if isinstance(node, ast.Conditional):
            return np.where(self._eval(node.test, t), self._eval(node.body, t), self._eval(node.orelse, t))
        if isinstance(node, ast.Call):
            fname = self._name(node.func)
            args = [self._eval(a.value, t) for a in node.args if getattr(a, "name", None) is None]
            if fname.startswith("input."):
                return args[0]
            if fname == "nz":
                return np.nan_to_num(np.asarray(args[0], dtype=np.float64), nan=0.0)
            if fname == "math.abs":
                return np.abs(args[0])
            if fname.startswith("ta.") and t is None:
                ints = [
                    int(a) if isinstance(a, int | float) and not isinstance(a, bool) and i > 0 else a
                    for i, a in enumerate(args)
                ]
                if fname == "ta.bb":
                    ints[2] = float(args[2])
                return TA[fname[3:]](*ints)
            raise NotImplementedError(f"call {fname} (t={t})")
        raise NotImplementedError(ast.dump(node)[:200])

    # ---------------------------------------------------------------- messages
    def fill_message(self, template: str, values: dict[str, str]) -> str:
        """Evaluate ``qrFill(template)``: the function's str.replace_all chain, with Pine built-ins mapped to
        sample text (``syminfo.ticker``, ``str.tostring(close)``, ...) by ``values``."""
        fn = self.functions["qrFill"]
        local: dict[str, str] = {fn.args[0].name: template}
        result = None
        for s in fn.body:
            if isinstance(s, ast.Assign | ast.ReAssign):
                local[s.target.id] = self._str_expr(s.value, local, values)
            elif isinstance(s, ast.Expr):
                result = self._str_expr(s.value, local, values)
        assert result is not None
        return result

    def _str_expr(self, node: Any, local: dict[str, str], values: dict[str, str]) -> str:
        if isinstance(node, ast.Constant):
            return str(node.value)
        if isinstance(node, ast.Name) and node.id in local:
            return local[node.id]
        if isinstance(node, ast.Call) and self._name(node.func) == "str.replace_all":
            a, b, c = (self._str_expr(x.value, local, values) for x in node.args)
            return a.replace(b, c)
        key = ast.unparse(node) if hasattr(ast, "unparse") else self._name(node)
        return values[key]
