"""Genetic strategy discovery: evolve typed rules with DEAP, score them out of sample on numba kernels fanned out
on Ray, validate the hall of fame on an untouched holdout with DSR and PBO, export survivors as StrategySpecs
(and Pine Script v6) and register them in the lifecycle registry.

Data split per symbol: the first ``1 - holdout`` of the bars is the *discovery* segment, cut into ``folds``
contiguous folds; the rest is the *holdout*, which evolution never sees. A rule has no fitted parameters, so each
fold scores it out of sample; its fitness is the mean fold Sharpe (over symbols and folds, an undefined Sharpe
counting as 0) minus ``parsimony`` per tree node, and a rule with fewer than ``min_trades`` entries per symbol in
the discovery segment, or long on more than ``max_exposure`` of its bars, scores ``PENALTY``. Signals are computed on the whole series (indicators are causal) and
each fold is simulated starting flat in cash with the engine's own bar step.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from deap import tools

from quantray.engine import ExecutionConfig
from quantray.engine._config import METRIC_NAMES
from quantray.errors import ConfigError, ParameterError
from quantray.search import _kernels as k
from quantray.search._gp import (
    Generator,
    ParetoRuleTree,
    RuleTree,
    build_pset,
    cx_one_point,
    mut_terminal,
    mut_uniform,
    sel_tournament,
    to_node,
)
from quantray.search._grammar import (
    PRIMITIVES,
    SERIES_TERMINALS,
    GrammarConfig,
    Node,
    Program,
    compile_rule,
    format_rule,
    merge_programs,
    parse_rule,
    pine_template,
    rule_hash,
    rule_parameters,
)
from quantray.search._lifecycle import Gates, Registry, check_registry
from quantray.search._raymap import HostPool
from quantray.strategies import ParamSpace, StrategySpec, register, render_pine

#: Fitness of a rule that trades too little to be judged.
PENALTY = -5.0
_SHARPE = METRIC_NAMES.index("sharpe")
_TRADES = METRIC_NAMES.index("num_trades")
_MDD = METRIC_NAMES.index("max_drawdown")
_EXPOSURE = METRIC_NAMES.index("exposure")


# ------------------------------------------------------------------------------------------- rule -> spec
class RuleKernel:
    """The signal kernel of a discovered rule: ``(open, high, low, close, volume, *params) -> int8 target``.

    The parameters are the rule's distinct windows and levels (``n1, n2, ..., level1, ...``); the rule runs on
    the numba register machine. Picklable (it pickles as its rule text).
    """

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.node = parse_rule(rule)
        self.program = compile_rule(self.node)

    def __reduce__(self) -> tuple[Any, ...]:
        return (RuleKernel, (self.rule,))

    def __call__(self, o: Any, h: Any, lo: Any, c: Any, v: Any, *params: float) -> np.ndarray:
        p = self.program
        arrs = [np.ascontiguousarray(x, dtype=np.float64) for x in (o, h, lo, c, v)]
        val = k.run_program(p.code, p.with_params(params), p.n_regs, p.root, *arrs)
        return np.asarray(k.target_from_rule(val))


def rule_spec(rule: str | Node, *, name: str | None = None) -> StrategySpec:
    """A discovered rule as a StrategySpec (not registered): one parameter per distinct window (int, default
    its value) and level (float in [0, 100]); Pine Script v6 template included, so ``render_pine`` works.

    Example:
        >>> spec = rule_spec("and(gt(sma(close,20),sma(close,50)),below(rsi(close,14),70))")
        >>> spec.defaults()
        {'n1': 20, 'n2': 50, 'n3': 14, 'level1': 70.0}
    """
    node = parse_rule(rule) if isinstance(rule, str) else rule
    text = format_rule(node)
    name = name or f"gp_{rule_hash(node)}"
    params: dict[str, ParamSpace] = {}
    for pname, kind, value in rule_parameters(node)[0]:
        if kind == "window":
            params[pname] = ParamSpace.int(
                1, max(1000, int(value)), default=int(value), doc="lookback in bars"
            )
        else:
            params[pname] = ParamSpace.float(0.0, 100.0, default=value, step=5.0, doc="oscillator level")
    return StrategySpec(
        name=name,
        params=params,
        signal_kernel=RuleKernel(text),
        pine_template=pine_template(node, name),
        description=f"Discovered rule: long while {text}, flat otherwise.",
    )


def register_rule(rule: str | Node, *, name: str | None = None) -> StrategySpec:
    """:func:`rule_spec`, registered (replacing a spec of the same name) so it backtests and sweeps by name."""
    return register(rule_spec(rule, name=name), replace=True)


# ------------------------------------------------------------------------------------------- configuration
@dataclass(frozen=True, kw_only=True)
class DiscoverConfig:
    """A discovery run.

    Attributes:
        population, generations: DEAP population size and number of generations.
        seed: the run is bit-for-bit reproducible for a seed.
        algorithm: ``"simple"`` (tournament selection, one objective, elitism) or ``"nsga2"`` (objectives:
            score up, discovery max drawdown down; a rule scored PENALTY has the worst drawdown, 1, so that one
            that never trades, drawdown 0, is not on the front).
        cx_prob, mut_prob: crossover and mutation probabilities per offspring.
        tournament: tournament size.
        parsimony: fitness penalty per tree node (Sharpe units).
        folds: contiguous folds of the discovery segment.
        holdout: fraction of each symbol's bars (the tail) kept for validation.
        min_trades: entries per symbol in the discovery segment a rule needs to be scored.
        max_exposure: a rule long on more than this fraction of the discovery bars (buy-and-hold in disguise)
            is not scored.
        hall_of_fame: rules kept and validated.
        batch_size: at most this many rules per evaluator call.
        backend: ``"ray"`` or ``"local"`` (evaluation in this process).
        workers: evaluators (Ray actors); default: the cluster's CPUs (``"local"``: 1).
        cache_mb: per-evaluator budget (MiB) of node values kept across generations (LRU by subtree).
        grammar: the building blocks (see :class:`GrammarConfig`).
        execution: costs and fills (default: next-open fills, 5 bp fees).
        gates: validation gates applied on the holdout.
    """

    population: int = 64
    generations: int = 20
    seed: int = 0
    algorithm: Literal["simple", "nsga2"] = "simple"
    cx_prob: float = 0.6
    mut_prob: float = 0.3
    tournament: int = 3
    parsimony: float = 0.005
    folds: int = 3
    holdout: float = 0.3
    min_trades: int = 10
    max_exposure: float = 0.98
    hall_of_fame: int = 10
    batch_size: int = 16
    backend: Literal["ray", "local"] = "ray"
    workers: int | None = None
    cache_mb: float = 512.0
    grammar: GrammarConfig = field(default_factory=GrammarConfig)
    execution: ExecutionConfig = field(default_factory=lambda: ExecutionConfig(fees=0.0005))
    gates: Gates = field(default_factory=Gates)

    def __post_init__(self) -> None:
        for name, kind, what in (
            ("grammar", GrammarConfig, "a mapping of grammar settings"),
            ("execution", ExecutionConfig, "a mapping of execution settings"),
            ("gates", Gates, "a mapping of gates"),
        ):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"discover `{name}` must be {what}, got {getattr(self, name)!r}")
        for name, low in (
            ("population", 2),
            ("generations", 0),
            ("tournament", 1),
            ("folds", 1),
            ("min_trades", 0),
            ("hall_of_fame", 1),
            ("batch_size", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ConfigError(f"discover `{name}` must be an integer >= {low}, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"discover `seed` must be an integer >= 0, got {self.seed!r}")
        if self.algorithm not in ("simple", "nsga2"):
            raise ConfigError(f"discover `algorithm` must be 'simple' or 'nsga2', got {self.algorithm!r}")
        if self.backend not in ("ray", "local"):
            raise ConfigError(f"discover `backend` must be 'ray' or 'local', got {self.backend!r}")
        for name in ("cx_prob", "mut_prob"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
                raise ConfigError(f"discover `{name}` must be in [0, 1], got {v!r}")
        if not isinstance(self.holdout, int | float) or not 0.05 <= self.holdout <= 0.8:
            raise ConfigError(f"discover `holdout` must be in [0.05, 0.8], got {self.holdout!r}")
        if not isinstance(self.max_exposure, int | float) or not 0 < self.max_exposure <= 1:
            raise ConfigError(f"discover `max_exposure` must be in (0, 1], got {self.max_exposure!r}")
        if not isinstance(self.parsimony, int | float) or not 0 <= self.parsimony < 1:
            raise ConfigError(f"discover `parsimony` must be in [0, 1), got {self.parsimony!r}")
        if self.workers is not None and (
            isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1
        ):
            raise ConfigError(f"discover `workers` must be an integer >= 1 or null, got {self.workers!r}")
        if (
            isinstance(self.cache_mb, bool)
            or not isinstance(self.cache_mb, int | float)
            or not self.cache_mb >= 0
        ):
            raise ConfigError(f"discover `cache_mb` must be a number >= 0, got {self.cache_mb!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiscoverConfig:
        """From a mapping (YAML): nested ``grammar``, ``execution`` and ``gates`` mappings; unknown keys rejected."""
        valid = list(cls.__dataclass_fields__)
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown discover key(s) {unknown}; valid keys: {valid}")
        d = dict(data)
        if "grammar" in d and isinstance(d["grammar"], Mapping):
            d["grammar"] = GrammarConfig.from_dict(dict(d["grammar"]))
        if "execution" in d and isinstance(d["execution"], Mapping):
            d["execution"] = ExecutionConfig.from_dict(dict(d["execution"]))
        if "gates" in d and isinstance(d["gates"], Mapping):
            d["gates"] = Gates.from_dict(d["gates"])
        return cls(**d)


# ------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class EvalData:
    """What every evaluation task needs (put into the object store once): per-symbol OHLCV arrays, fold bounds
    and the cost scalars."""

    arrays: dict[str, tuple[np.ndarray, ...]]
    bounds: dict[str, np.ndarray]
    exec_args: tuple[bool, float, float, float, float]
    periods_per_year: float


def pack(programs: Sequence[Program]) -> tuple[np.ndarray, ...]:
    """Concatenate compiled rules for :func:`quantray.search._kernels.batch_fold_metrics`."""
    offs = np.zeros(len(programs) + 1, dtype=np.int64)
    for i, p in enumerate(programs):
        offs[i + 1] = offs[i] + p.code.shape[0]
    codes = np.ascontiguousarray(np.concatenate([p.code for p in programs]))
    imms = np.ascontiguousarray(np.concatenate([p.imm for p in programs]))
    nregs = np.array([p.n_regs for p in programs], dtype=np.int64)
    roots = np.array([p.root for p in programs], dtype=np.int64)
    return codes, imms, offs, nregs, roots


#: Bytes of register file one evaluation call may hold (values shared by the rules of a batch stay resident).
REGISTER_BUDGET = 256 * 2**20


def _chunks(programs: Sequence[Program], n_bars: int) -> list[tuple[int, int, tuple[np.ndarray, ...]]]:
    """Cut a batch into runs of rules whose merged program fits :data:`REGISTER_BUDGET` (halving as needed)."""
    cap = max(8, REGISTER_BUDGET // (8 * max(n_bars, 1)))
    out: list[tuple[int, int, tuple[np.ndarray, ...]]] = []
    stack = [(0, len(programs))]
    while stack:
        a, b = stack.pop()
        merged = merge_programs(programs[a:b])
        if b - a > 1 and int(merged[3][0]) > cap:
            mid = (a + b) // 2
            stack += [(mid, b), (a, mid)]
        else:
            out.append((a, b, merged))
    return out


def evaluate_batch(data: EvalData, programs: Sequence[Program]) -> list[np.ndarray]:
    """Fold metrics (symbols, folds, len(METRIC_NAMES)) of every compiled rule: one numba call per symbol and
    chunk of rules. The rules of a batch are merged (:func:`~quantray.search._grammar.merge_programs`) so a
    subtree shared by several rules (an indicator, a price series) is computed once per batch. Pure library
    code (runs with or without Ray)."""
    if not programs:
        return []
    per_sym = []
    chunks: dict[int, list[tuple[int, int, tuple[np.ndarray, ...]]]] = {}
    for sym, (o, h, lo, c, v) in data.arrays.items():
        if c.size not in chunks:
            chunks[c.size] = _chunks(programs, c.size)
        parts = []
        for _a, _b, (codes, imms, offs, nregs, roots) in chunks[c.size]:
            parts.append(
                k.batch_fold_metrics(
                    codes,
                    imms,
                    offs,
                    nregs,
                    roots,
                    o,
                    h,
                    lo,
                    c,
                    v,
                    data.bounds[sym],
                    *data.exec_args,
                    data.periods_per_year,
                )
            )
        per_sym.append(np.concatenate(parts, axis=0))
    stacked = np.stack(per_sym, axis=1)  # (m, symbols, folds, metrics)
    return [stacked[j] for j in range(len(programs))]


#: Relative cost (ms per 700,000 bars, measured in a GA run where inputs come from memory) of computing one
#: node, by primitive, and of one rule's target and fold simulation; used to balance the evaluators.
_NODE_COST: dict[str, float] = {
    "sma": 1.0, "ema": 1.0, "rsi": 1.65, "highest": 1.1, "lowest": 1.1, "lag": 0.45, "lt": 0.5, "gt": 0.5,
    "above": 0.5, "below": 0.5,
}  # fmt: skip
_DEFAULT_NODE_COST = 0.55  # arithmetic, crosses, and/or/not: one memory-bound pass
_FOLD_COST = 2.4  # fold simulation ~2.05 + target ~0.35
#: Node slots an evaluator keeps at least / at most (whatever the byte budget).
MIN_SLOTS = 8
MAX_SLOTS = 4096


RuleNodes = list[tuple[str, int, float, tuple[str, ...]]]


def rule_nodes(node: Node) -> RuleNodes:
    """The distinct non-terminal subtrees of a rule in post-order: ``(key, op, immediate, child keys)``, where
    ``key`` is the subtree's canonical text and a child key is a series terminal's name or another key."""
    out: list[tuple[str, int, float, tuple[str, ...]]] = []
    seen: set[str] = set()

    def visit(n: Node) -> str:
        if n.value is not None:
            return format_rule(n)
        if n.name in SERIES_TERMINALS:
            return n.name
        keys = [visit(a) for a in n.args]
        kids = tuple(kk for a, kk in zip(n.args, keys, strict=True) if a.value is None)
        const = [a.value for a in n.args if a.value is not None]
        key = n.name + "(" + ",".join(keys) + ")"  # == format_rule(n)
        if key not in seen:
            seen.add(key)
            out.append((key, PRIMITIVES[n.name].op, float(const[0]) if const else 0.0, kids))
        return key

    visit(node)
    return out


class Evaluator:
    """Scores rules on one worker, keeping node values across calls: an LRU cache of node arrays keyed by the
    subtree's canonical text, under a byte budget (``cache_mb``, over all symbols' discovery bars).

    Every node value is computed by the same kernel on the same inputs whether it comes from the cache or not,
    so a rule's metrics do not depend on what was cached, evicted or evaluated before (tested bit for bit).
    Values live in one slot array per symbol (rows 0-4: open, high, low, close, volume; a rule's terminals read
    them in place); a call plans, in Python, which nodes are missing and which slots they overwrite (never a
    slot of the rule being planned), then runs one numba call per symbol.

    Example:
        >>> import numpy as np
        >>> x = 100 + np.cumsum(np.random.default_rng(0).normal(size=300))
        >>> data = EvalData(arrays={"X": (x, x + 1, x - 1, x, np.ones(300))},
        ...                 bounds={"X": np.array([[0, 150], [150, 300]])},
        ...                 exec_args=(True, 0.0005, 0.0, 0.0, 1e5), periods_per_year=252.0)
        >>> ev = Evaluator(data, cache_mb=1)
        >>> a = ev.evaluate(["gt(sma(close,5),sma(close,20))"])[0]
        >>> b = ev.evaluate(["lt(sma(close,5),sma(close,20))", "gt(sma(close,5),sma(close,20))"])[1]
        >>> bool((a == b).all()), ev.hits
        (True, 4)
    """

    def __init__(self, data: EvalData, *, cache_mb: float = 512.0) -> None:
        self.data = data
        total = sum(int(a[3].size) for a in data.arrays.values())
        n_nodes = int(cache_mb * 2**20 // (8 * max(total, 1)))
        self.capacity = 5 + max(MIN_SLOTS, min(MAX_SLOTS, n_nodes))
        self.slots: dict[str, np.ndarray] = {}
        self.finite: dict[
            str, bool
        ] = {}  # every close finite: the fold's fast path (checked once, not per call)
        for sym, arrs in data.arrays.items():
            sl = np.empty((self.capacity, arrs[3].size))
            for i in range(5):
                sl[i] = arrs[i]
            sl[5:].fill(np.nan)  # touch every page now: a first write faults pages in at ~1-10 ms per node
            self.slots[sym] = sl
            self.finite[sym] = bool(k.all_finite(sl[3]))
        self.lru: OrderedDict[str, int] = OrderedDict()
        self.free = list(range(self.capacity - 1, 4, -1))
        self.hits = 0
        self.misses = 0
        self.cpu_s = 0.0

    def clear(self) -> None:
        """Forget every cached node value (the data rows stay)."""
        self.lru.clear()
        self.free = list(range(self.capacity - 1, 4, -1))

    def resident(self) -> list[str]:
        """Keys of the node values held now (least recently used first)."""
        return list(self.lru)

    def _grow(self) -> None:
        extra = max(MIN_SLOTS, self.capacity // 2)
        for sym, sl in self.slots.items():
            big = np.empty((self.capacity + extra, sl.shape[1]))
            big[: self.capacity] = sl
            big[self.capacity :].fill(np.nan)
            self.slots[sym] = big
        self.free = list(range(self.capacity + extra - 1, self.capacity - 1, -1)) + self.free
        self.capacity += extra

    def _slot(self, pinned: set[str]) -> int:
        if self.free:
            return self.free.pop()
        for key in self.lru:  # least recently used first
            if key not in pinned:
                return self.lru.pop(key)
        self._grow()  # one rule needs more nodes than the budget holds
        return self.free.pop()

    def _chunks(self, items: Sequence[RuleNodes]) -> list[list[RuleNodes]]:
        """Consecutive runs of rules whose distinct nodes fit the slots together (a rule alone always runs)."""
        out: list[list[RuleNodes]] = []
        keys: set[str] = set()
        for nodes in items:
            ks = {key for key, *_ in nodes}
            if out and len(keys | ks) <= self.capacity - 5:
                out[-1].append(nodes)
                keys |= ks
            else:
                out.append([nodes])
                keys = ks
        return out

    def plan(
        self, chunk: Sequence[RuleNodes]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows (op, dst slot, a slot, b slot), immediates, pair flags, root slots and fused roots computing
        every node of ``chunk`` missing from the cache (the chunk's nodes are pinned: no slot is written
        twice). A root that is a comparison or logic node not computed yet is not stored: its root slot is -1
        and ``fused[j]`` = (op, slot a, slot b, level) lets the kernel compute the target directly.

        Rows are ordered by dependency level, then op; two consecutive rows of the same indicator at the same
        level (so neither reads the other) are flagged to run together (``_kernels.execute_paired``).
        """
        pinned = {key for nodes in chunk for key, *_ in nodes}
        slot_of: dict[str, int] = dict(SERIES_TERMINALS)
        level: dict[str, int] = {}
        rows: list[tuple[int, int, int, int, int, int]] = []  # level, op, index, dst, a, b
        imms_of: list[float] = []
        roots = []
        fused = np.zeros((len(chunk), 4))
        for j, nodes in enumerate(chunk):
            rkey, rop, rimm, rkids = nodes[-1]
            if rop in k.FUSABLE and rkey not in slot_of and rkey not in self.lru:
                # the root is a comparison/logic node not computed yet: the target is computed from its
                # arguments directly (its value is not stored: a repeated rule is caught by the GA's cache)
                nodes = nodes[:-1]
                fused[j] = (rop, 0, 0, rimm)
            else:
                rkey = ""
            for key, op, imm, kids in nodes:
                s = slot_of.get(key)
                if s is None:
                    s = self.lru.get(key)
                if s is not None:
                    self.lru.move_to_end(key)
                    self.hits += 1
                else:
                    s = self._slot(pinned)
                    lv = 1 + max((level.get(kk, 0) for kk in kids), default=0)
                    level[key] = lv
                    a = slot_of[kids[0]] if kids else 0
                    b = slot_of[kids[1]] if len(kids) > 1 else 0
                    rows.append((lv, op, len(rows), s, a, b))
                    imms_of.append(imm)
                    self.lru[key] = s
                    self.misses += 1
                slot_of[key] = s
            if rkey:
                fused[j, 1] = slot_of[rkids[0]]
                fused[j, 2] = slot_of[rkids[1]] if len(rkids) > 1 else 0
                roots.append(-1)
                self.misses += 1
            else:
                roots.append(slot_of[nodes[-1][0]])
        rows.sort()
        code = np.array([(op, d, a, b) for _lv, op, _i, d, a, b in rows], dtype=np.int64).reshape(
            len(rows), 4
        )
        imms = np.array([imms_of[r[2]] for r in rows], dtype=np.float64)
        pair = np.zeros(len(rows), dtype=np.int8)
        i = 0
        while i + 1 < len(rows):
            if rows[i][1] in k.PAIRABLE and rows[i][:2] == rows[i + 1][:2]:
                pair[i] = 1
                i += 2
            else:
                i += 1
        return code, imms, pair, np.array(roots, dtype=np.int64), fused

    def evaluate(self, rules: Sequence[str | RuleNodes]) -> list[np.ndarray]:
        """Fold metrics (symbols, folds, len(METRIC_NAMES)) of each rule (its canonical text or its
        :func:`rule_nodes`), in order."""
        if not rules:
            return []
        t0 = time.process_time()
        items = [rule_nodes(parse_rule(r)) if isinstance(r, str) else r for r in rules]
        out: list[np.ndarray] = []
        for chunk in self._chunks(items):
            code, imms, pair, roots, fused = self.plan(chunk)
            per_sym = [
                k.slot_eval(
                    code, imms, pair, roots, fused, self.slots[sym], self.data.bounds[sym], self.finite[sym],
                    *self.data.exec_args, self.data.periods_per_year,
                )
                for sym in self.data.arrays
            ]  # fmt: skip
            stacked = np.stack(per_sym, axis=1)
            out += [stacked[j] for j in range(len(chunk))]
        self.cpu_s += time.process_time() - t0
        return out

    def evaluate_resident(
        self, rules: Sequence[str | RuleNodes]
    ) -> tuple[list[np.ndarray], list[str], tuple[float, int, int]]:
        """:meth:`evaluate`, the keys resident afterwards (for the driver's routing mirror) and the CPU seconds
        this evaluator has spent evaluating so far."""
        return self.evaluate(rules), self.resident(), (self.cpu_s, self.hits, self.misses)


def _make_evaluator(data: EvalData, cache_mb: float = 512.0) -> Evaluator:
    return Evaluator(data, cache_mb=cache_mb)


class EvaluatorPool:
    """Evaluators on ``n`` workers (Ray actors, or one in this process), fed cache-affinely.

    The driver mirrors which node keys each evaluator holds (from what it reported after its last call) and
    gives each rule to the evaluator where it is cheapest to add to the current load, the cost being the
    nodes it lacks (weighted by primitive) plus the fold simulation. Routing only moves work: results are the
    same whatever evaluator scores a rule.
    """

    def __init__(
        self, data: EvalData, *, n: int, backend: str, batch_size: int = 16, cache_mb: float = 512.0
    ) -> None:
        self.n = n
        self.batch_size = batch_size
        self._args = (data, backend, cache_mb)
        self.pool = HostPool(_make_evaluator, data, n=n, backend=backend, kwargs={"cache_mb": cache_mb})
        self.mirror: list[set[str]] = [set() for _ in range(n)]
        self.stats: list[tuple[float, int, int]] = [(0.0, 0, 0)] * n

    @property
    def tasks(self) -> int:
        return self.pool.calls

    def route(self, rules: Sequence[str], trees: Sequence[Node] | None = None) -> list[list[int]]:
        """Indices of ``rules`` per evaluator (``trees``: the rules parsed, if the caller has them)."""
        return self._route([rule_nodes(t) for t in (trees or [parse_rule(r) for r in rules])])

    def _route(self, per_rule: Sequence[RuleNodes]) -> list[list[int]]:
        load = [0.0] * self.n
        pending: list[set[str]] = [set() for _ in range(self.n)]
        out: list[list[int]] = [[] for _ in range(self.n)]
        for j, nodes in enumerate(per_rule):
            best, best_cost, best_keys = 0, math.inf, set()
            for a in range(self.n):
                miss = [key for key, *_ in nodes if key not in self.mirror[a] and key not in pending[a]]
                cost = _FOLD_COST + sum(
                    _NODE_COST.get(key.split("(", 1)[0], _DEFAULT_NODE_COST) for key in miss
                )
                if load[a] + cost < best_cost:
                    best, best_cost, best_keys = a, load[a] + cost, set(miss)
            load[best] = best_cost
            pending[best] |= best_keys
            out[best].append(j)
        return out

    def __call__(self, rules: Sequence[str], trees: Sequence[Node] | None = None) -> list[np.ndarray]:
        """Metrics of each rule, in order. Each evaluator's share is cut into a few calls, two kept queued per
        evaluator; an evaluator that runs out takes the last queued call of the one with most left (so a
        generation does not wait on one evaluator whose share was underestimated). If an evaluator's process
        dies, the evaluators are started again (empty caches) and the call is repeated once: results do not
        depend on what was cached."""
        if self.pool.backend == "local":
            return self._call(rules, trees)
        import ray

        try:
            return self._call(rules, trees)
        except ray.exceptions.RayActorError:
            data, backend, cache_mb = self._args
            self.pool = HostPool(
                _make_evaluator, data, n=self.n, backend=backend, kwargs={"cache_mb": cache_mb}, fresh=True
            )
            self.mirror = [set() for _ in range(self.n)]
            self.stats = [(0.0, 0, 0)] * self.n
            return self._call(rules, trees)

    def _call(self, rules: Sequence[str], trees: Sequence[Node] | None) -> list[np.ndarray]:
        rules = list(rules)
        per_rule = [rule_nodes(t) for t in (trees or [parse_rule(r) for r in rules])]
        parts = self._route(per_rule)
        size = min(self.batch_size, max(2, -(-len(rules) // (3 * self.n))))
        queues = [[idx[i : i + size] for i in range(0, len(idx), size)] for idx in parts]
        inflight: list[tuple[Any, int, list[int]]] = []

        def feed(a: int) -> None:
            if not queues[a]:
                donor = max(range(self.n), key=lambda b: (len(queues[b]), -b))
                if len(queues[donor]) < 1:
                    return
                queues[a].append(queues[donor].pop())
            idx = queues[a].pop(0)
            inflight.append((self.pool.submit(a, "evaluate_resident", [per_rule[j] for j in idx]), a, idx))

        for _ in range(2):
            for a in range(self.n):
                feed(a)
        results: list[Any] = [None] * len(rules)
        while inflight:
            done = self.pool.wait_one([h for h, _a, _idx in inflight])
            handle, a, idx = inflight.pop(done)
            mets, resident, stats = self.pool.gather([handle])[0]
            for j, m in zip(idx, mets, strict=True):
                results[j] = m
            self.mirror[a] = set(resident)
            self.stats[a] = max(self.stats[a], stats)  # cumulative counters: the latest call has the largest
            feed(a)
        return results

    def close(self) -> None:
        self.pool.close()


def fitness_of(metrics: np.ndarray, size: int, cfg: DiscoverConfig) -> tuple[float, float, float]:
    """(score, raw mean fold Sharpe, mean fold max drawdown) from a rule's (symbols, folds, metrics) array."""
    sr = np.nan_to_num(metrics[:, :, _SHARPE], nan=0.0, posinf=0.0, neginf=0.0)
    raw = float(sr.mean())
    trades = float(metrics[:, :, _TRADES].sum(axis=1).mean())
    exposure = float(np.nanmean(metrics[:, :, _EXPOSURE]))
    mdd = float(np.nanmean(metrics[:, :, _MDD])) if np.isfinite(metrics[:, :, _MDD]).any() else 1.0
    ok = trades >= cfg.min_trades and exposure <= cfg.max_exposure
    score = (raw if ok else PENALTY) - cfg.parsimony * size
    return score, raw, mdd


def is_penalised(score: float, size: int, cfg: DiscoverConfig) -> bool:
    """Whether :func:`fitness_of` scored a rule of ``size`` nodes ``PENALTY`` (too few entries, or long nearly
    always): the same arithmetic, so the comparison is exact."""
    return score == PENALTY - cfg.parsimony * size


# ------------------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class DiscoveryResult:
    """Results of :func:`discover`.

    Attributes:
        hall_of_fame: one row per kept rule: ``name, rule, size, height, score, fold_sharpe, fold_max_drawdown,
            penalised`` (it scored ``PENALTY``: validated and shown, but never a survivor).
        validation: one row per kept rule on the holdout: ``name, rule, oos_sharpe, oos_mean_return,
            oos_max_drawdown, oos_trades, dsr, psr, pbo, passed, failed, reasons``: ``failed`` names what it
            failed (``dsr, pbo``; ``discovery penalty`` for a rule that scored PENALTY), ``reasons`` with values.
        survivors: the StrategySpecs (registered) of the rules that passed the gates.
        generations: per-generation ``gen, requested`` (cumulative fitness evaluations the algorithm asked for),
            ``evaluated`` (distinct new rules actually computed; repeats come from a cache), ``best, mean, median``.
        n_evaluated: distinct rules evaluated.
        evaluated: one row per distinct rule scored, in the order first asked for: ``rule, size, gen`` (the
            generation that first asked for it), ``requests`` (fitness evaluations the algorithm asked for it, repeats
            included: they sum to the last ``generations.requested``), ``score, fold_sharpe, fold_max_drawdown``:
            every trial the search made, e.g. for its own multiple-testing analysis.
        registered: names written to the lifecycle registry (as ``validated``).
        pine: name -> Pine Script v6 source of each survivor.
        seed, elapsed_s, tasks: the seed, wall time and number of evaluation calls.
        timings: seconds spent in ``load`` (reading and splitting the data), ``workers`` (starting the
            evaluators), ``evolve`` (the generations, evaluation included) and ``validate`` (the holdout);
            ``evaluator_cpu``: CPU seconds the evaluators spent scoring rules (all of them together);
            ``node_hits``/``node_misses``: node values found in / missing from the evaluators' caches.
    """

    hall_of_fame: pd.DataFrame
    validation: pd.DataFrame
    survivors: list[StrategySpec]
    generations: pd.DataFrame
    n_evaluated: int
    registered: list[str]
    pine: dict[str, str]
    seed: int
    elapsed_s: float
    tasks: int
    symbols: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    evaluated: pd.DataFrame = field(default_factory=pd.DataFrame)


def validation_view(validation: pd.DataFrame) -> str:
    """The validation table as a person reads it (the CLI and ``jobs.discover`` print it): one row per kept rule
    with its holdout Sharpe, DSR, PBO and trades, and ``passed`` or what it failed."""
    view = validation[["name", "rule", "oos_sharpe", "dsr", "pbo", "oos_trades"]].copy()
    view["gates"] = [f"fails {f}" if f else "passed" for f in validation["failed"]]
    return view.to_string(index=False, float_format=lambda v: f"{v:.3f}")


#: Holdout bars a symbol, and the symbols together, need for the validation to mean anything.
_MIN_HOLDOUT = 10


def _split(n: int, cfg: DiscoverConfig, symbol: str = "") -> tuple[np.ndarray, int]:
    hs = round(n * (1.0 - cfg.holdout))
    if hs < 2 * cfg.folds or n - hs < _MIN_HOLDOUT:
        raise ParameterError(
            f"{symbol + ': ' if symbol else ''}{n} bars are too few for {cfg.folds} folds and a {cfg.holdout:g} holdout (need >= 2 bars per fold "
            "and >= 10 holdout bars)"
        )
    edges = np.linspace(0, hs, cfg.folds + 1).round().astype(np.int64)
    return np.ascontiguousarray(np.stack([edges[:-1], edges[1:]], axis=1)), hs


def discover(
    data: Any,
    *,
    symbols: Sequence[str] | None = None,
    config: DiscoverConfig | None = None,
    registry: Registry | str | None = None,
    progress: bool = False,
) -> DiscoveryResult:
    """Evolve trading rules on ``data`` and validate the hall of fame out of sample.

    Args:
        data: path/URL, DataFrame of bars, Panel, or (mapping of) bar arrays (as the research functions take).
        symbols: symbols to discover on (all by default); the fitness averages over them.
        config: the run (see :class:`DiscoverConfig`).
        registry: a :class:`Registry` or its URL: survivors are added as candidates and moved to validated
            through the gates (rules already registered are left as they are). None: nothing is written.
        progress: print one line per generation on stderr.

    Returns:
        A :class:`DiscoveryResult`.

    Example:
        >>> from quantray.data import sample_path
        >>> cfg = DiscoverConfig(population=8, generations=1, backend="local", hall_of_fame=3)
        >>> res = discover(sample_path(), symbols=["MSFT"], config=cfg)
        >>> len(res.hall_of_fame) <= 3 and res.n_evaluated >= 1
        True
    """

    from quantray.research._common import common_bars, load_symbols

    cfg = config or DiscoverConfig()
    t0 = time.perf_counter()
    if isinstance(registry, str):  # a registry that cannot take the survivors: refused before the evolution
        check_registry(registry)
    sd = load_symbols(data, symbols)
    arrays: dict[str, tuple[np.ndarray, ...]] = {}
    bounds: dict[str, np.ndarray] = {}
    holdout_start: dict[str, int] = {}
    for sym, a in sd.arrays.items():
        b, hs = _split(a[4].size, cfg, sym)
        # evolution reads only the discovery segment: indicators are causal, so values on the prefix are exact
        arrays[sym] = tuple(np.ascontiguousarray(x[:hs], dtype=np.float64) for x in a[1:])
        bounds[sym] = b
        holdout_start[sym] = hs
    # symbols whose holdouts share no date cannot be validated: refused before the evolution, not after it
    common_bars({s: a[0] for s, a in sd.arrays.items()}, holdout_start, {s: a[4].size for s, a in sd.arrays.items()},
                what="discover holdout", min_bars=_MIN_HOLDOUT)  # fmt: skip
    ex = cfg.execution
    edata = EvalData(
        arrays=arrays,
        bounds=bounds,
        exec_args=(ex.execution == "next_open", ex.fees, ex.slippage, ex.fixed_fee, ex.init_cash),
        periods_per_year=sd.periods_per_year,
    )
    timings = {"load": time.perf_counter() - t0}
    t1 = time.perf_counter()
    batched = EvaluatorPool(
        edata, n=_workers(cfg), backend=cfg.backend, batch_size=cfg.batch_size, cache_mb=cfg.cache_mb
    )
    timings["workers"] = time.perf_counter() - t1
    try:
        return _evolve(cfg, sd, edata, holdout_start, batched, registry, progress, t0, timings)
    finally:
        batched.close()


def _workers(cfg: DiscoverConfig) -> int:
    if cfg.workers is not None:
        return cfg.workers
    if cfg.backend == "local":
        return 1
    import ray

    from quantray.dist import connect

    connect()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _evolve(
    cfg: DiscoverConfig,
    sd: Any,
    edata: EvalData,
    holdout_start: dict[str, int],
    batched: EvaluatorPool,
    registry: Registry | str | None,
    progress: bool,
    t0: float,
    timings: dict[str, float],
) -> DiscoveryResult:
    import sys

    t1 = time.perf_counter()

    pset = build_pset(cfg.grammar)
    gen = Generator(pset, cfg.grammar)
    rng = random.Random(cfg.seed)
    cls = ParetoRuleTree if cfg.algorithm == "nsga2" else RuleTree
    cache: dict[str, tuple[float, float, float]] = {}
    first_gen: dict[str, tuple[int, int]] = {}  # rule -> (generation first asked for, size)
    asks: dict[str, int] = {}  # rule -> fitness evaluations asked for it

    requested = [0]
    generation = [0]

    texts: dict[tuple[str, ...], tuple[str, Node]] = {}

    def text_of(ind: Any) -> tuple[str, Node]:
        # a DEAP tree is its prefix sequence of primitive/terminal names: memoise its canonical text
        names = tuple(n.name for n in ind)
        got = texts.get(names)
        if got is None:
            node = to_node(ind)
            got = texts[names] = (format_rule(node), node)
        return got

    def evaluate(inds: Sequence[Any]) -> int:
        requested[0] += len(inds)
        todo: dict[str, Node] = {}
        for ind in inds:
            key, node = text_of(ind)
            if key not in cache and key not in todo:
                todo[key] = node
        if todo:
            nodes = list(todo.values())
            results = batched(list(todo), nodes)
            for key, node, met in zip(todo, nodes, results, strict=True):
                cache[key] = fitness_of(met, node.size, cfg)
                first_gen[key] = (generation[0], node.size)
        for ind in inds:
            key = text_of(ind)[0]
            asks[key] = asks.get(key, 0) + 1
            score, _raw, mdd = cache[key]
            if cfg.algorithm == "nsga2" and is_penalised(score, first_gen[key][1], cfg):
                # the penalty on the score alone left a rule that never trades (drawdown 0) undominated: it sat
                # on every front and in the hall of fame, and took population slots. Its drawdown counts as the worst.
                mdd = 1.0
            ind.fitness.values = (score, mdd) if cfg.algorithm == "nsga2" else (score,)
        return len(todo)

    def similar(a: Any, b: Any) -> bool:
        # two rules with identical fold statistics trade identically: keep one (e.g. not(gt(x,x)) variants)
        ka, kb = text_of(a)[0], text_of(b)[0]
        return ka == kb or cache[ka][1:] == cache[kb][1:]

    hof: Any = (
        tools.ParetoFront(similar)
        if cfg.algorithm == "nsga2"
        else tools.HallOfFame(cfg.hall_of_fame, similar)
    )
    pop = [cls(gen.ramped(rng)) for _ in range(cfg.population)]
    n_new = evaluate(pop)
    hof.update(pop)
    stats: list[dict[str, Any]] = []

    def record(g: int, n: int) -> None:
        scores = np.array([ind.fitness.values[0] for ind in pop])
        stats.append(
            {
                "gen": g,
                "requested": requested[0],
                "evaluated": n,
                "best": float(scores.max()),
                "mean": float(scores.mean()),
                "median": float(np.median(scores)),
            }
        )
        if progress:
            print(
                f"discover: gen {g}/{cfg.generations} best={scores.max():.4f} evaluated={len(cache)}",
                file=sys.stderr,
                flush=True,
            )

    record(0, n_new)
    for g in range(1, cfg.generations + 1):
        generation[0] = g
        if cfg.algorithm == "nsga2":
            parents = [pop[rng.randrange(len(pop))] for _ in range(cfg.population)]
        else:
            parents = sel_tournament(rng, pop, cfg.population, cfg.tournament)
        offspring = [copy.deepcopy(p) for p in parents]
        for i in range(1, len(offspring), 2):
            if rng.random() < cfg.cx_prob:
                cx_one_point(rng, offspring[i - 1], offspring[i])
                del offspring[i - 1].fitness.values, offspring[i].fitness.values
        for ind in offspring:
            if rng.random() < cfg.mut_prob:
                (mut_uniform if rng.random() < 0.5 else mut_terminal)(rng, ind, gen)
                del ind.fitness.values
        for i, ind in enumerate(offspring):  # bloat control: a too tall child is replaced by its parent
            if ind.height > cfg.grammar.max_height:
                offspring[i] = copy.deepcopy(parents[i])
        n_new = evaluate([ind for ind in offspring if not ind.fitness.valid])
        if cfg.algorithm == "nsga2":
            pop = tools.selNSGA2(pop + offspring, cfg.population)
        else:
            best_prev = hof[0]
            worst = min(range(len(offspring)), key=lambda j: offspring[j].fitness)
            if max(o.fitness for o in offspring) < best_prev.fitness:  # elitism
                offspring[worst] = copy.deepcopy(best_prev)
            pop = offspring
        hof.update(pop)
        record(g, n_new)

    kept = sorted(hof, key=lambda ind: (-ind.fitness.values[0], str(ind)))[: cfg.hall_of_fame]
    rows = []
    for ind in kept:
        node = to_node(ind)
        score, raw, mdd = cache[format_rule(node)]
        rows.append(
            {
                "name": f"gp_{rule_hash(node)}",
                "rule": format_rule(node),
                "size": node.size,
                "height": node.height,
                "score": score,
                "fold_sharpe": raw,
                "fold_max_drawdown": mdd,
                "penalised": is_penalised(score, node.size, cfg),
            }
        )
    hof_df = pd.DataFrame(rows)
    timings["evolve"] = time.perf_counter() - t1
    timings["evaluator_cpu"] = sum(st[0] for st in batched.stats)
    timings["node_hits"] = float(sum(st[1] for st in batched.stats))
    timings["node_misses"] = float(sum(st[2] for st in batched.stats))
    t2 = time.perf_counter()
    validation, survivors = _validate(hof_df, sd, holdout_start, cfg)
    timings["validate"] = time.perf_counter() - t2
    registered: list[str] = []
    if registry is not None and survivors:
        reg = registry if isinstance(registry, Registry) else Registry(registry, gates=cfg.gates)
        try:
            for spec in survivors:
                if spec.name in reg:
                    continue
                row = validation.set_index("name").loc[spec.name]
                metrics = {key: _scalar(row[key]) for key in _METRIC_KEYS}
                metrics.update(
                    seed=cfg.seed, symbols=list(sd.arrays), n_evaluated=len(cache),
                    execution=dataclasses.asdict(cfg.execution), periods_per_year=float(sd.periods_per_year),
                )  # fmt: skip
                reg.add_candidate(
                    spec.name,
                    strategy=spec.name,
                    params=spec.defaults(),
                    metrics=metrics,
                    rule=str(row["rule"]),
                    source="discover",
                    reason=f"discovered (seed {cfg.seed})",
                )
                # judged by the gates discover validated with, not a passed Registry's own (its defaults would
                # refuse a survivor of looser gates after the whole run, leaving it a candidate)
                reg.promote(spec.name, reason="passed the validation gates on the holdout", gates=cfg.gates)
                registered.append(spec.name)
        finally:
            if not isinstance(registry, Registry):
                reg.close()
    return DiscoveryResult(
        hall_of_fame=hof_df,
        validation=validation,
        survivors=survivors,
        generations=pd.DataFrame(stats),
        n_evaluated=len(cache),
        registered=registered,
        pine={
            s.name: render_pine(
                s,
                fees=cfg.execution.fees,
                init_cash=cfg.execution.init_cash,
                execution=cfg.execution.execution,
                slippage=cfg.execution.slippage,
            )
            for s in survivors
        },
        seed=cfg.seed,
        elapsed_s=time.perf_counter() - t0,
        tasks=batched.tasks,
        symbols=list(sd.arrays),
        timings=timings,
        evaluated=pd.DataFrame(
            [
                (key, size, g, asks[key], *cache[key]) for key, (g, size) in first_gen.items()
            ],  # cache values are fitness_of: score, raw Sharpe, drawdown
            columns=["rule", "size", "gen", "requests", "score", "fold_sharpe", "fold_max_drawdown"],
        ),
    )


_METRIC_KEYS = (
    "oos_sharpe",
    "oos_mean_return",
    "oos_max_drawdown",
    "oos_trades",
    "dsr",
    "psr",
    "pbo",
    "n_trials",
)


def _scalar(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _validate(
    hof: pd.DataFrame, sd: Any, holdout_start: Mapping[str, int], cfg: DiscoverConfig
) -> tuple[pd.DataFrame, list[StrategySpec]]:
    """Holdout returns of every kept rule (engine simulation, signals warmed up on the full history, starting
    flat at the first holdout bar all symbols share), averaged over symbols on the bars they share (by timestamp,
    :func:`holdout_matrix`); DSR deflated for the number of rules validated; PBO of the rules' holdout trial
    matrix; gates."""
    from quantray.engine import max_drawdown, sharpe_ratio
    from quantray.research import (
        dsr_from_stats,
        probability_of_backtest_overfitting,
        psr_from_stats,
        sharpe_stats,
    )
    from quantray.research._common import holdout_matrix

    cols = [
        "name",
        "rule",
        "oos_sharpe",
        "oos_mean_return",
        "oos_max_drawdown",
        "oos_trades",
        "dsr",
        "psr",
        "pbo",
        "n_trials",
        "passed",
        "failed",
        "reasons",
    ]
    if hof.empty:
        return pd.DataFrame(columns=cols), []
    ppy = sd.periods_per_year
    specs = [rule_spec(r, name=nm) for nm, r in zip(hof["name"], hof["rule"], strict=True)]
    ex = cfg.execution
    # the bars every symbol's holdout has (by timestamp), each symbol simulated from the first of them
    R, trades = holdout_matrix(
        sd.arrays, [(spec, spec.defaults()) for spec in specs], holdout_start, ex, ppy,
        what="discover holdout", min_bars=_MIN_HOLDOUT,
    )  # fmt: skip
    sharpes = np.array([sharpe_ratio(R[:, j], ppy) for j in range(R.shape[1])])
    finite = np.isfinite(sharpes)
    var = float(np.var(sharpes[finite], ddof=1)) if finite.sum() > 1 else 0.0
    n_trials = len(specs)
    pbo = float("nan")
    if n_trials >= 2:
        S = min(16, max(2, (R.shape[0] // 4) // 2 * 2))
        try:
            pbo = probability_of_backtest_overfitting(R, n_partitions=S, periods_per_year=ppy).pbo
        except ParameterError:
            pbo = float("nan")
    else:
        pbo = 0.0  # one rule validated: no selection among holdout trials
    rows, survivors = [], []
    for j, spec in enumerate(specs):
        r = R[:, j]
        try:
            # deflated_sharpe_ratio / probabilistic_sharpe_ratio with the return statistics computed once
            st = sharpe_stats(r)
            dsr = dsr_from_stats(
                st.sharpe, st.n, n_trials=n_trials, sr_variance=float(var) / ppy, skew=st.skew,
                kurtosis=st.kurtosis, sr_mean=0.0 / math.sqrt(ppy),
            )  # fmt: skip
            psr = psr_from_stats(
                st.sharpe, st.n, sr_benchmark=0.0 / math.sqrt(ppy), skew=st.skew, kurtosis=st.kurtosis
            )
        except ParameterError:
            dsr = psr = float("nan")
        row = {
            "name": spec.name,
            "rule": hof["rule"].iloc[j],
            "oos_sharpe": float(sharpes[j]),
            "oos_mean_return": float(r.mean() * ppy),
            "oos_max_drawdown": float(max_drawdown(r)),
            "oos_trades": int(trades[j]),
            "dsr": dsr,
            "psr": psr,
            "pbo": pbo,
            "n_trials": n_trials,
        }
        reasons = cfg.gates.check(row)
        failed = cfg.gates.failing(row)
        if bool(hof["penalised"].iloc[j]):  # it broke discovery's own constraints: never a survivor
            reasons.insert(
                0,
                f"penalised in discovery (fewer than {cfg.min_trades} entries per symbol, or long on more than "
                f"{cfg.max_exposure:g} of the bars)",
            )
            failed.insert(0, "discovery penalty")
        row["passed"] = not reasons
        row["failed"] = ", ".join(failed)
        row["reasons"] = "; ".join(reasons)
        rows.append(row)
        if not reasons:
            survivors.append(register_rule(str(row["rule"]), name=spec.name))
    return pd.DataFrame(rows, columns=cols), survivors
