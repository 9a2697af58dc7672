"""The rule grammar of genetic discovery: strongly typed primitives, a small AST, text form, compilation to the
register machine of ``_kernels.py`` and Pine Script v6 rendering.

Types: ``Series`` (a float series: prices, volume, indicators of them, arithmetic), ``Osc`` (an oscillator in
[0, 100]: RSI), ``Bool`` (the rule, the root type), ``Window`` (an integer lookback from a bounded set) and
``Level`` (an oscillator threshold from a bounded set). A rule reads like
``and(gt(sma(close,20),sma(close,50)),below(rsi(close,14),70))``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from quantray.errors import ConfigError
from quantray.search import _kernels as k


class Series:
    """Type tag: a float series (price scale, volume, indicator output)."""


class Osc:
    """Type tag: an oscillator bounded in [0, 100] (RSI)."""


class Bool:
    """Type tag: a boolean series; the root type of a rule."""


class Window:
    """Type tag: an integer lookback (bars) drawn from ``GrammarConfig.windows``."""


class Level:
    """Type tag: an oscillator threshold drawn from ``GrammarConfig.levels``."""


TYPES: dict[str, type] = {"Series": Series, "Osc": Osc, "Bool": Bool, "Window": Window, "Level": Level}


@dataclass(frozen=True, slots=True)
class PrimitiveDef:
    """One primitive of the grammar: its op code, argument and return types, and its Pine Script form."""

    name: str
    op: int
    args: tuple[type, ...]
    ret: type
    group: str


SERIES_TERMINALS: dict[str, int] = {
    "open": k.OP_OPEN,
    "high": k.OP_HIGH,
    "low": k.OP_LOW,
    "close": k.OP_CLOSE,
    "volume": k.OP_VOLUME,
}

PRIMITIVES: dict[str, PrimitiveDef] = {
    p.name: p
    for p in (
        PrimitiveDef("sma", k.OP_SMA, (Series, Window), Series, "indicators"),
        PrimitiveDef("ema", k.OP_EMA, (Series, Window), Series, "indicators"),
        PrimitiveDef("highest", k.OP_HIGHEST, (Series, Window), Series, "indicators"),
        PrimitiveDef("lowest", k.OP_LOWEST, (Series, Window), Series, "indicators"),
        PrimitiveDef("lag", k.OP_LAG, (Series, Window), Series, "indicators"),
        PrimitiveDef("rsi", k.OP_RSI, (Series, Window), Osc, "indicators"),
        PrimitiveDef("add", k.OP_ADD, (Series, Series), Series, "arithmetic"),
        PrimitiveDef("sub", k.OP_SUB, (Series, Series), Series, "arithmetic"),
        PrimitiveDef("mul", k.OP_MUL, (Series, Series), Series, "arithmetic"),
        PrimitiveDef("div", k.OP_DIV, (Series, Series), Series, "arithmetic"),
        PrimitiveDef("gt", k.OP_GT, (Series, Series), Bool, "comparisons"),
        PrimitiveDef("lt", k.OP_LT, (Series, Series), Bool, "comparisons"),
        PrimitiveDef("cross_above", k.OP_CROSS_ABOVE, (Series, Series), Bool, "comparisons"),
        PrimitiveDef("cross_below", k.OP_CROSS_BELOW, (Series, Series), Bool, "comparisons"),
        PrimitiveDef("above", k.OP_ABOVE, (Osc, Level), Bool, "comparisons"),
        PrimitiveDef("below", k.OP_BELOW, (Osc, Level), Bool, "comparisons"),
        PrimitiveDef("and", k.OP_AND, (Bool, Bool), Bool, "logic"),
        PrimitiveDef("or", k.OP_OR, (Bool, Bool), Bool, "logic"),
        PrimitiveDef("not", k.OP_NOT, (Bool,), Bool, "logic"),
    )
}

DEFAULT_WINDOWS: tuple[int, ...] = (2, 3, 5, 10, 14, 20, 30, 50, 100, 200)
DEFAULT_LEVELS: tuple[float, ...] = (20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0)


def _names(group: str) -> tuple[str, ...]:
    return tuple(n for n, p in PRIMITIVES.items() if p.group == group)


@dataclass(frozen=True, kw_only=True)
class GrammarConfig:
    """Which building blocks rules may use, and how large they may grow.

    Attributes:
        series: price/volume terminals (subset of open, high, low, close, volume).
        indicators: subset of sma, ema, highest, lowest, lag, rsi.
        arithmetic: subset of add, sub, mul, div (division by zero gives an undefined value).
        comparisons: subset of gt, lt, cross_above, cross_below (series vs series), above, below (RSI vs level).
        logic: subset of and, or, not.
        windows: the integer lookbacks an indicator may take (each >= 1).
        levels: the oscillator thresholds ``above``/``below`` may take (each in [0, 100]).
        init_min_depth, init_max_depth: depth range of the random initial trees.
        max_height: bloat limit: offspring taller than this are replaced by a parent.

    Example:
        >>> GrammarConfig(indicators=("sma", "rsi"), windows=(5, 20)).windows
        (5, 20)
    """

    series: tuple[str, ...] = tuple(SERIES_TERMINALS)
    indicators: tuple[str, ...] = _names("indicators")
    arithmetic: tuple[str, ...] = _names("arithmetic")
    comparisons: tuple[str, ...] = _names("comparisons")
    logic: tuple[str, ...] = _names("logic")
    windows: tuple[int, ...] = DEFAULT_WINDOWS
    levels: tuple[float, ...] = DEFAULT_LEVELS
    init_min_depth: int = 2
    init_max_depth: int = 4
    max_height: int = 7

    def __post_init__(self) -> None:
        for name, valid in (
            ("series", tuple(SERIES_TERMINALS)),
            ("indicators", _names("indicators")),
            ("arithmetic", _names("arithmetic")),
            ("comparisons", _names("comparisons")),
            ("logic", _names("logic")),
        ):
            val = getattr(self, name)
            if isinstance(val, str) or not isinstance(val, Iterable):
                raise ConfigError(f"grammar `{name}` must be a list of names, got {val!r}")
            val = tuple(val)
            bad = [x for x in val if x not in valid]
            if bad:
                raise ConfigError(f"grammar `{name}`: unknown name(s) {bad}; valid: {list(valid)}")
            object.__setattr__(self, name, tuple(dict.fromkeys(val)))
        # a scalar (YAML `windows: 5`) is refused by name, not left to fail in tuple() as a TypeError
        if isinstance(self.windows, str) or not isinstance(self.windows, Iterable):
            raise ConfigError(f"grammar `windows` must be a list of integers >= 1, got {self.windows!r}")
        wins = tuple(self.windows)
        if any(isinstance(w, bool) or not isinstance(w, int | np.integer) or w < 1 for w in wins):
            raise ConfigError(f"grammar `windows` must be integers >= 1, got {list(wins)}")
        object.__setattr__(self, "windows", tuple(sorted({int(w) for w in wins})))
        if isinstance(self.levels, str) or not isinstance(self.levels, Iterable):
            raise ConfigError(f"grammar `levels` must be a list of numbers in [0, 100], got {self.levels!r}")
        lev = tuple(self.levels)
        if any(
            isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= float(x) <= 100 for x in lev
        ):
            raise ConfigError(f"grammar `levels` must be numbers in [0, 100], got {list(lev)}")
        object.__setattr__(self, "levels", tuple(sorted({float(x) for x in lev})))
        # an empty set would silently drop every block that takes one from the primitive set
        if not self.windows and self.indicators:
            raise ConfigError(
                f"grammar `windows` is empty but indicators {list(self.indicators)} need a lookback; give windows "
                "or drop the indicators"
            )
        level_cmps = [c for c in self.comparisons if PRIMITIVES[c].args[1] is Level]
        if not self.levels and level_cmps:
            raise ConfigError(
                f"grammar `levels` is empty but comparisons {level_cmps} need a threshold; give levels or drop "
                f"{'/'.join(level_cmps)}"
            )
        for name in ("init_min_depth", "init_max_depth", "max_height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"grammar `{name}` must be an integer >= 1, got {v!r}")
        if self.init_min_depth > self.init_max_depth:
            raise ConfigError(
                f"grammar: `init_min_depth <= init_max_depth` must hold, got {self.init_min_depth} > "
                f"{self.init_max_depth}"
            )
        if self.init_max_depth > self.max_height:
            raise ConfigError(
                f"grammar: `init_max_depth <= max_height` must hold, got {self.init_max_depth} > {self.max_height}"
            )
        heights = min_heights(self)
        if not math.isfinite(heights["Bool"]):
            raise ConfigError(
                "grammar cannot produce a valid rule: no comparison can be built from the enabled blocks "
                f"(series={list(self.series)}, indicators={list(self.indicators)}, comparisons="
                f"{list(self.comparisons)}, windows={list(self.windows)}, levels={list(self.levels)}); "
                "enable a series terminal and a series comparison (gt, lt, cross_above, cross_below), or rsi "
                "with windows and levels and above/below"
            )
        if heights["Bool"] > self.init_max_depth:
            raise ConfigError(
                f"grammar cannot produce a valid rule within init_max_depth={self.init_max_depth}: the "
                f"smallest rule needs depth {int(heights['Bool'])}"
            )

    @property
    def primitive_names(self) -> tuple[str, ...]:
        return self.indicators + self.arithmetic + self.comparisons + self.logic

    def constant_rules(self) -> str | None:
        """Why every rule this grammar can build is a constant signal, or None when some rule can vary.

        A comparison of a series with itself (``gt(close,close)``) is constant. It is the only comparison a
        grammar can build when it has a single series terminal, no usable block returning a Series (an
        indicator with a window, arithmetic) to tell two series apart, and no usable level comparison
        (``above``/``below`` of ``rsi``); ``and``/``or``/``not`` of constants are constant too.
        """
        h = min_heights(self)

        def usable(name: str) -> bool:
            return all(math.isfinite(h[a.__name__]) for a in PRIMITIVES[name].args)

        usable_cmps = [c for c in self.comparisons if usable(c)]
        if any(PRIMITIVES[c].args[1] is Level for c in usable_cmps):
            return None  # above/below(rsi(s,w), level) varies
        series_makers = [
            n for n in self.indicators + self.arithmetic if PRIMITIVES[n].ret is Series and usable(n)
        ]
        if len(self.series) != 1 or series_makers or not usable_cmps:
            return None  # two distinct series exist (or no comparison at all: min_heights' check says so)
        s = self.series[0]
        leaves = ", ".join(f"{c}({s},{s})" for c in usable_cmps)
        return (
            f"grammar: every rule it can build compares a series with itself ({leaves}), a constant signal; add "
            "series, indicators or arithmetic (or rsi with levels and above/below)"
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GrammarConfig:
        """Build from a mapping (YAML), rejecting unknown keys with the valid ones."""
        valid = list(cls.__dataclass_fields__)
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown grammar key(s) {unknown}; valid keys: {valid}")
        conv = {key: tuple(v) if isinstance(v, list) else v for key, v in data.items()}
        cfg = cls(**conv)  # type: ignore[arg-type]
        # refused for a written config (YAML: `quantray discover` has no grammar flags) but not in the
        # constructor: tests build such grammars on purpose to exercise discovery's penalty on constant rules
        why = cfg.constant_rules()
        if why:
            raise ConfigError(why)
        return cfg


def terminals_of(cfg: GrammarConfig, t: type) -> list[Any]:
    """Terminal values of type ``t`` under ``cfg``."""
    if t is Series:
        return list(cfg.series)
    if t is Window:
        return list(cfg.windows)
    if t is Level:
        return list(cfg.levels)
    return []


def primitives_of(cfg: GrammarConfig, t: type) -> list[PrimitiveDef]:
    return [PRIMITIVES[n] for n in cfg.primitive_names if PRIMITIVES[n].ret is t]


def min_heights(cfg: GrammarConfig) -> dict[str, float]:
    """The smallest tree height producing each type (inf: the type cannot be produced)."""
    h = {name: (0.0 if terminals_of(cfg, t) else math.inf) for name, t in TYPES.items()}
    for _ in range(len(PRIMITIVES) + 2):
        for n in cfg.primitive_names:
            p = PRIMITIVES[n]
            need = 1.0 + max(h[a.__name__] for a in p.args)
            if need < h[p.ret.__name__]:
                h[p.ret.__name__] = need
    return h


# ------------------------------------------------------------------------------------------------- AST
@dataclass(frozen=True, slots=True)
class Node:
    """A rule as a tree: ``name`` is a primitive or series terminal; ``value`` holds a window or level."""

    name: str
    args: tuple[Node, ...] = ()
    value: float | None = None

    def __str__(self) -> str:
        return format_rule(self)

    @property
    def size(self) -> int:
        return 1 + sum(a.size for a in self.args)

    @property
    def height(self) -> int:
        return 0 if not self.args else 1 + max(a.height for a in self.args)


def format_rule(node: Node) -> str:
    """Canonical text of a rule (no spaces; integers for windows, ``%g`` for levels).

    Example:
        >>> format_rule(parse_rule("gt( sma(close, 20), close)"))
        'gt(sma(close,20),close)'
    """
    if node.value is not None:
        v = node.value
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    if not node.args:
        return node.name
    return f"{node.name}({','.join(format_rule(a) for a in node.args)})"


_TOKEN = re.compile(
    r"\s*(?:([A-Za-z_][A-Za-z_0-9]*)|(-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)|(\()|(\))|(,))"
)


def parse_rule(text: str) -> Node:
    """Parse and type-check a rule's text (the inverse of :func:`format_rule`).

    Raises:
        ConfigError: naming the position, the token and the rule broken (unknown name, wrong arity, a value
            of the wrong type).

    Example:
        >>> parse_rule("below(rsi(close,14),30)").args[1].value
        30.0
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"rule must be a non-empty string, got {text!r}")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    s = text.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise ConfigError(f"rule {text!r}: unexpected character {s[pos]!r} at position {pos}")
        kind = ("name", "num", "(", ")", ",")[next(i for i, g in enumerate(m.groups()) if g is not None)]
        tokens.append((kind, m.group(m.lastindex or 0), pos))
        pos = m.end()
    i = 0

    def parse(expect: type) -> Node:
        nonlocal i
        if i >= len(tokens):
            raise ConfigError(f"rule {text!r}: unexpected end, expected a {expect.__name__}")
        kind, tok, at = tokens[i]
        i += 1
        if kind == "num":
            if expect is Window:
                v = float(tok)
                if not v.is_integer() or v < 1:
                    raise ConfigError(f"rule {text!r}: window {tok} at position {at} must be an integer >= 1")
                return Node("window", value=float(int(v)))
            if expect is Level:
                v = float(tok)
                if not 0 <= v <= 100:
                    raise ConfigError(f"rule {text!r}: level {tok} at position {at} must be in [0, 100]")
                return Node("level", value=v)
            raise ConfigError(
                f"rule {text!r}: number {tok} at position {at} where a {expect.__name__} is expected"
            )
        if kind != "name":
            raise ConfigError(f"rule {text!r}: unexpected {tok!r} at position {at}")
        if tok in SERIES_TERMINALS:
            if expect is not Series:
                raise ConfigError(
                    f"rule {text!r}: {tok!r} at position {at} is a Series, expected {expect.__name__}"
                )
            return Node(tok)
        if tok not in PRIMITIVES:
            raise ConfigError(
                f"rule {text!r}: unknown name {tok!r} at position {at}; valid: "
                f"{sorted(PRIMITIVES) + sorted(SERIES_TERMINALS)}"
            )
        p = PRIMITIVES[tok]
        if p.ret is not expect:
            raise ConfigError(
                f"rule {text!r}: {tok}(...) at position {at} returns {p.ret.__name__}, expected {expect.__name__}"
            )
        if i >= len(tokens) or tokens[i][0] != "(":
            raise ConfigError(f"rule {text!r}: {tok} at position {at} needs ({len(p.args)} arguments)")
        i += 1
        args = []
        for j, a in enumerate(p.args):
            if j:
                if i >= len(tokens) or tokens[i][0] != ",":
                    raise ConfigError(f"rule {text!r}: {tok} at position {at} takes {len(p.args)} arguments")
                i += 1
            args.append(parse(a))
        if i >= len(tokens) or tokens[i][0] != ")":
            raise ConfigError(f"rule {text!r}: {tok} at position {at} takes {len(p.args)} arguments")
        i += 1
        return Node(tok, tuple(args))

    root = parse(Bool)
    if i != len(tokens):
        raise ConfigError(f"rule {text!r}: unexpected {tokens[i][1]!r} at position {tokens[i][2]}")
    return root


def rule_hash(node: Node) -> str:
    """A short stable id of a rule (first 10 hex digits of the SHA-1 of its canonical text)."""
    return hashlib.sha1(format_rule(node).encode()).hexdigest()[:10]


# ------------------------------------------------------------------------------------------ parameters
def rule_parameters(node: Node) -> tuple[list[tuple[str, str, float]], dict[tuple[str, float], str]]:
    """The rule's tunable constants: one parameter per distinct window (``n1, n2, ...``) and per distinct level
    (``level1, ...``), in order of first appearance; returns ``[(name, kind, value)]`` and a lookup
    ``(kind, value) -> name``."""
    out: list[tuple[str, str, float]] = []
    lookup: dict[tuple[str, float], str] = {}

    def walk(n: Node) -> None:
        if n.value is not None:
            key = (n.name, float(n.value))
            if key not in lookup:
                count = sum(1 for _, kind, _ in out if kind == n.name) + 1
                pname = f"n{count}" if n.name == "window" else f"level{count}"
                lookup[key] = pname
                out.append((pname, n.name, float(n.value)))
        for a in n.args:
            walk(a)

    walk(node)
    return out, lookup


# ------------------------------------------------------------------------------------------ compilation
@dataclass(frozen=True, slots=True)
class Program:
    """A rule compiled for :func:`quantray.search._kernels.run_program`.

    Attributes:
        code: (rows, 4) int64 ``op, dst, a, b``; identical subtrees are computed once (common subexpression
            elimination) and registers are reused once their last reader has run.
        imm: float64 immediate per row (window or level).
        n_regs: registers needed.
        root: register holding the rule's value.
        slots: for each rule parameter (see :func:`rule_parameters`), the rows whose immediate it sets.
    """

    code: NDArray[np.int64]
    imm: NDArray[np.float64]
    n_regs: int
    root: int
    slots: tuple[tuple[int, ...], ...] = field(default=())

    def with_params(self, values: Sequence[float]) -> NDArray[np.float64]:
        """A copy of ``imm`` with the parameters set to ``values``."""
        imm = self.imm.copy()
        for rows, v in zip(self.slots, values, strict=True):
            for r in rows:
                imm[r] = float(v)
        return imm


def compile_rule(node: Node) -> Program:
    """Compile a rule AST to register-machine rows (see :class:`Program`).

    Example:
        >>> p = compile_rule(parse_rule("gt(sma(close,20),sma(close,50))"))
        >>> p.code.shape[0], p.n_regs   # close is loaded once
        (4, 3)
    """
    params, lookup = rule_parameters(node)
    # 1) linearise unique subtrees in post-order
    order: list[Node] = []
    index: dict[str, int] = {}
    arg_ids: list[tuple[int, ...]] = []

    def visit(n: Node) -> int:
        key = format_rule(n)
        if key in index:
            return index[key]
        kids = tuple(visit(a) for a in n.args if a.value is None)
        index[key] = len(order)
        order.append(n)
        arg_ids.append(kids)
        return index[key]

    root_id = visit(node)
    last_use = [-1] * len(order)
    for i, kids in enumerate(arg_ids):
        for kid in kids:
            last_use[kid] = i
    last_use[root_id] = len(order)
    # 2) register allocation: a register is freed after its value's last reader
    free: list[int] = []
    n_regs = 0
    reg_of = [0] * len(order)
    code = np.zeros((len(order), 4), dtype=np.int64)
    imm = np.zeros(len(order))
    slot_rows: dict[str, list[int]] = {p[0]: [] for p in params}
    for i, n in enumerate(order):
        if n.name in SERIES_TERMINALS:
            op = SERIES_TERMINALS[n.name]
        else:
            op = PRIMITIVES[n.name].op
            const = [a for a in n.args if a.value is not None]
            if const:
                c = const[0]
                imm[i] = float(c.value)  # type: ignore[arg-type]
                slot_rows[lookup[(c.name, float(c.value))]].append(i)  # type: ignore[arg-type]
        if free:
            dst = free.pop()
        else:
            dst = n_regs
            n_regs += 1
        kids = arg_ids[i]
        code[i, 0] = op
        code[i, 1] = dst
        code[i, 2] = reg_of[kids[0]] if kids else 0
        code[i, 3] = reg_of[kids[1]] if len(kids) > 1 else 0
        reg_of[i] = dst
        for kid in dict.fromkeys(kids):
            if last_use[kid] == i:
                free.append(reg_of[kid])
    return Program(
        code=code,
        imm=imm,
        n_regs=max(n_regs, 1),
        root=reg_of[root_id],
        slots=tuple(tuple(slot_rows[p[0]]) for p in params),
    )


_BINARY_OPS = frozenset(
    {
        k.OP_ADD,
        k.OP_SUB,
        k.OP_MUL,
        k.OP_DIV,
        k.OP_GT,
        k.OP_LT,
        k.OP_CROSS_ABOVE,
        k.OP_CROSS_BELOW,
        k.OP_AND,
        k.OP_OR,
    }
)
_TERMINAL_OPS = frozenset(SERIES_TERMINALS.values())


def merge_programs(
    programs: Sequence[Program],
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Merge compiled rules into ONE register program whose rows compute every distinct value of the batch once.

    A row's value is identified by ``(op, value of a, value of b, immediate)``, so ``sma(close,20)`` read by
    ten rules of a batch is one pass over the bars. Rule j's new rows are ``codes[offsets[j]:offsets[j+1]]``
    (possibly none: its value was already computed); after they run, its value is in register ``roots[j]``.
    Registers are allocated over the whole batch: a value stays in its register until its last reader (a
    later row or a rule's root) and a row never writes a register it reads. Every value is computed by the same
    kernel on the same inputs as in the rule's own program, so results are bit-for-bit identical.

    Returns:
        ``codes, imms, offsets, n_regs, roots`` for :func:`quantray.search._kernels.batch_fold_metrics`
        (``n_regs`` repeats the batch's register count for every rule).

    Example:
        >>> ps = [compile_rule(parse_rule(r)) for r in ("gt(sma(close,20),close)", "lt(sma(close,20),close)")]
        >>> codes, imms, offs, n_regs, roots = merge_programs(ps)
        >>> int(offs[-1]), sum(p.code.shape[0] for p in ps)   # close and sma(close,20) once
        (4, 6)
    """
    vid_of: dict[tuple[int, int, int, float], int] = {}
    defs: list[tuple[int, int, int, float]] = []  # per value: op, arg value a, arg value b, imm
    rule_rows: list[list[int]] = []  # per rule: values first needed by it, in dependency order
    rule_root: list[int] = []
    for p in programs:
        reg_val: dict[int, int] = {}
        new: list[int] = []
        for i in range(p.code.shape[0]):
            op, dst, ra, rb = (int(x) for x in p.code[i])
            va = -1 if op in _TERMINAL_OPS else reg_val[ra]
            vb = reg_val[rb] if op in _BINARY_OPS else -1
            key = (op, va, vb, float(p.imm[i]))
            vid = vid_of.get(key)
            if vid is None:
                vid = vid_of[key] = len(defs)
                defs.append(key)
                new.append(vid)
            reg_val[dst] = vid
        rule_rows.append(new)
        rule_root.append(reg_val[p.root])
    # timeline: each row, then each rule's end (its root is read by the fold simulation)
    last_use = [-1] * len(defs)
    t = 0
    for j, new in enumerate(rule_rows):
        for vid in new:
            _op, va, vb, _imm = defs[vid]
            for a in (va, vb):
                if a >= 0:
                    last_use[a] = t
            t += 1
        last_use[rule_root[j]] = t
        t += 1
    n_rows = sum(len(r) for r in rule_rows)
    codes = np.zeros((n_rows, 4), dtype=np.int64)
    imms = np.zeros(n_rows)
    offs = np.zeros(len(programs) + 1, dtype=np.int64)
    roots = np.zeros(len(programs), dtype=np.int64)
    reg_of = [-1] * len(defs)
    free: list[int] = []
    n_regs = 0
    t = 0
    row = 0
    for j, new in enumerate(rule_rows):
        for vid in new:
            op, va, vb, imm = defs[vid]
            if free:
                dst = free.pop()
            else:
                dst = n_regs
                n_regs += 1
            codes[row] = (op, dst, reg_of[va] if va >= 0 else 0, reg_of[vb] if vb >= 0 else 0)
            imms[row] = imm
            reg_of[vid] = dst
            for a in dict.fromkeys((va, vb)):
                if a >= 0 and last_use[a] == t:
                    free.append(reg_of[a])
            t += 1
            row += 1
        offs[j + 1] = row
        roots[j] = reg_of[rule_root[j]]
        if last_use[rule_root[j]] == t:
            free.append(reg_of[rule_root[j]])
        t += 1
    return codes, imms, offs, np.full(len(programs), max(n_regs, 1), dtype=np.int64), roots


# ------------------------------------------------------------------------------------------------ Pine
def pine_expr(node: Node, names: dict[tuple[str, float], str] | None = None) -> tuple[list[str], str]:
    """The rule as Pine Script v6: ``(lines, expression)``.

    Every ``ta.*`` call and history reference is hoisted into its own variable (``lines``) evaluated on every
    bar, because Pine v6 evaluates ``and``/``or`` lazily and a series function skipped on some bars would see a
    different history than the backtest. Windows and levels use the given input names, else literals.
    """
    names = names or {}
    lines: list[str] = []
    hoisted: dict[str, str] = {}

    def lit(n: Node) -> str:
        key = (n.name, float(n.value))  # type: ignore[arg-type]
        if key in names:
            return names[key]
        v = float(n.value)  # type: ignore[arg-type]
        return str(int(v)) if n.name == "window" else repr(v)

    def hoist(n: Node, text: str) -> str:
        key = format_rule(n)
        if key not in hoisted:
            hoisted[key] = f"v{len(hoisted) + 1}"
            lines.append(f"{hoisted[key]} = {text}")
        return hoisted[key]

    def r(n: Node) -> str:
        if n.name in SERIES_TERMINALS:
            return n.name
        a = n.args
        nm = n.name
        if nm in ("sma", "ema", "rsi", "highest", "lowest"):
            return hoist(n, f"ta.{nm}({r(a[0])}, {lit(a[1])})")
        if nm == "lag":
            return hoist(n, f"{r(a[0])}[{lit(a[1])}]")
        if nm in ("add", "sub", "mul"):
            sym = {"add": "+", "sub": "-", "mul": "*"}[nm]
            return f"({r(a[0])} {sym} {r(a[1])})"
        if nm == "div":
            x, y = r(a[0]), r(a[1])
            return f"({y} != 0 ? {x} / {y} : na)"
        if nm in ("gt", "lt"):
            return f"({r(a[0])} {'>' if nm == 'gt' else '<'} {r(a[1])})"
        if nm == "cross_above":
            return hoist(n, f"ta.crossover({r(a[0])}, {r(a[1])})")
        if nm == "cross_below":
            return hoist(n, f"ta.crossunder({r(a[0])}, {r(a[1])})")
        if nm in ("above", "below"):
            return f"({r(a[0])} {'>' if nm == 'above' else '<'} {lit(a[1])})"
        if nm in ("and", "or"):
            return f"({r(a[0])} {nm} {r(a[1])})"
        if nm == "not":
            return f"(not {r(a[0])})"
        raise ConfigError(f"no Pine Script form for {nm!r}")  # pragma: no cover - every primitive has one

    expr = r(node)
    return lines, expr


def pine_template(node: Node, name: str) -> str:
    """A Pine Script v6 strategy template of the rule with ``{{param}}`` placeholders (see ``render_pine``):
    long while the rule holds, flat otherwise."""
    params, lookup = rule_parameters(node)
    lines = [
        "//@version=6",
        f"// quantray {name}: discovered rule {format_rule(node)}",
        'strategy("{{title}}", overlay=true, initial_capital={{init_cash}}, '
        "default_qty_type=strategy.percent_of_equity, default_qty_value=100, "
        "commission_type=strategy.commission.percent, commission_value={{fees_percent}}, "
        "process_orders_on_close={{on_close}})",
    ]
    for pname, kind, _ in params:
        if kind == "window":
            lines.append(f'{pname} = input.int({{{{{pname}}}}}, "{pname}", minval=1)')
        else:
            lines.append(f'{pname} = input.float({{{{{pname}}}}}, "{pname}", minval=0, maxval=100)')
    body, expr = pine_expr(node, lookup)
    lines += body
    lines += [
        f"rule = {expr}",
        "longEntry = rule and strategy.position_size == 0",
        "longExit = not rule and strategy.position_size > 0",
        "if longEntry",
        '    strategy.entry("Long", strategy.long)',
        "if longExit",
        '    strategy.close("Long")',
        # alertcondition() does nothing in a strategy (TradingView ignores it there): say how alerts work
        "// alerts for {{symbol}}: a TradingView alert on this strategy fires on its order fills (entries, exits);",
        "// an alertcondition call has no effect in a strategy, and `quantray tradingview export` adds the alert set.",
    ]
    return "\n".join(lines) + "\n"
