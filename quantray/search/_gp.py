"""Strongly typed genetic programming on DEAP: the primitive set, seeded tree generation and variation.

DEAP's own generators and operators draw from the global ``random`` module and iterate sets of types (whose
order depends on object ids), so they are re-implemented here over a private ``random.Random`` with sorted type
orders: a discovery run is bit-for-bit reproducible for a seed, whatever else uses ``random``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from deap import base, gp

from quantray.errors import ConfigError
from quantray.search._grammar import (
    PRIMITIVES,
    SERIES_TERMINALS,
    TYPES,
    Bool,
    GrammarConfig,
    Level,
    Node,
    Series,
    Window,
    min_heights,
)


class FitnessSingle(base.Fitness):
    """One objective, maximised: out-of-sample score minus the parsimony penalty."""

    weights = (1.0,)


class FitnessPareto(base.Fitness):
    """NSGA-II objectives: score (maximised) and max drawdown (minimised)."""

    weights = (1.0, -1.0)


class RuleTree(gp.PrimitiveTree):
    """A DEAP individual: a typed prefix tree with a fitness."""

    fitness_class: type[base.Fitness] = FitnessSingle

    def __init__(self, content: Sequence[Any]) -> None:
        super().__init__(content)
        self.fitness = self.fitness_class()


class ParetoRuleTree(RuleTree):
    fitness_class = FitnessPareto


def _ident(x: Any) -> Any:  # primitives are never called: rules run on the numba register machine
    return x


def build_pset(cfg: GrammarConfig) -> gp.PrimitiveSetTyped:
    """The DEAP ``PrimitiveSetTyped`` of a grammar (root type ``Bool``)."""
    pset = gp.PrimitiveSetTyped("rule", [], Bool)
    for name in cfg.primitive_names:
        p = PRIMITIVES[name]
        pset.addPrimitive(_ident, list(p.args), p.ret, name=name)
    for s in cfg.series:
        pset.addTerminal(s, Series, name=s)
    for w in cfg.windows:
        pset.addTerminal(int(w), Window, name=f"w{int(w)}")
    for lv in cfg.levels:
        pset.addTerminal(float(lv), Level, name=f"l{lv:g}".replace(".", "_"))
    return pset


class Generator:
    """Seeded typed tree generation (ramped half-and-half) over a primitive set.

    For every node, only primitives that can still be completed within the remaining depth are eligible
    (computed from the grammar's minimal heights), so types without terminals (``Bool``, ``Osc``) never dead-end.
    """

    def __init__(self, pset: gp.PrimitiveSetTyped, cfg: GrammarConfig) -> None:
        self.pset = pset
        self.cfg = cfg
        h = min_heights(cfg)
        self.type_height = {t: h[name] for name, t in TYPES.items()}
        self.prims = {t: list(pset.primitives.get(t, [])) for t in TYPES.values()}
        self.terms = {t: list(pset.terminals.get(t, [])) for t in TYPES.values()}
        self.prim_height = {
            p.name: 1 + max(self.type_height[a] for a in p.args)
            for t in TYPES.values()
            for p in self.prims[t]
        }

    def tree(self, rng: random.Random, type_: type, min_depth: int, max_depth: int, full: bool) -> list[Any]:
        out: list[Any] = []
        self._grow(rng, type_, 0, min_depth, max_depth, full, out)
        return out

    def _grow(
        self, rng: random.Random, t: type, depth: int, min_d: int, max_d: int, full: bool, out: list[Any]
    ) -> None:
        left = max_d - depth
        prims = [p for p in self.prims[t] if self.prim_height[p.name] <= left]
        terms = self.terms[t]
        if not prims and not terms:
            raise ConfigError(f"grammar cannot produce a {t.__name__} within depth {max_d}")
        if not prims:
            choose_term = True
        elif not terms or full or depth < min_d:
            choose_term = False
        else:
            choose_term = rng.random() < len(terms) / (len(terms) + len(prims))
        if choose_term:
            out.append(rng.choice(terms))
            return
        p = rng.choice(prims)
        out.append(p)
        for a in p.args:
            self._grow(rng, a, depth + 1, min_d, max_d, full, out)

    def ramped(self, rng: random.Random) -> list[Any]:
        """One initial tree: depth drawn in [init_min_depth, init_max_depth], grow or full with p = 1/2."""
        depth = rng.randint(self.cfg.init_min_depth, self.cfg.init_max_depth)
        return self.tree(rng, Bool, self.cfg.init_min_depth, depth, full=rng.random() < 0.5)

    def subtree(self, rng: random.Random, type_: type) -> list[Any]:
        """A small replacement subtree of ``type_`` for uniform mutation (depth up to 2 above its minimum)."""
        base_h = int(self.type_height[type_])
        return self.tree(rng, type_, 0, base_h + rng.randint(0, 2), full=False)


def _typed_points(tree: gp.PrimitiveTree) -> dict[str, list[int]]:
    pts: dict[str, list[int]] = {}
    for i, node in enumerate(tree[1:], 1):
        pts.setdefault(node.ret.__name__, []).append(i)
    return pts


def cx_one_point(rng: random.Random, a: gp.PrimitiveTree, b: gp.PrimitiveTree) -> None:
    """Typed one-point crossover in place (DEAP's ``cxOnePoint`` with a private rng and sorted types)."""
    if len(a) < 2 or len(b) < 2:
        return
    pa, pb = _typed_points(a), _typed_points(b)
    common = sorted(set(pa) & set(pb))
    if not common:
        return
    t = rng.choice(common)
    i, j = rng.choice(pa[t]), rng.choice(pb[t])
    sa, sb = a.searchSubtree(i), b.searchSubtree(j)
    a[sa], b[sb] = b[sb], a[sa]


def mut_uniform(rng: random.Random, tree: gp.PrimitiveTree, gen: Generator) -> None:
    """Replace a random subtree by a new one of the same type (DEAP's ``mutUniform``), in place."""
    i = rng.randrange(len(tree))
    sl = tree.searchSubtree(i)
    tree[sl] = gen.subtree(rng, tree[i].ret)


def mut_terminal(rng: random.Random, tree: gp.PrimitiveTree, gen: Generator) -> None:
    """Swap one window/level/series terminal for another of its type (a small, local mutation)."""
    idx = [i for i, n in enumerate(tree) if isinstance(n, gp.Terminal)]
    if not idx:
        return
    i = rng.choice(idx)
    choices = gen.terms[tree[i].ret]
    tree[i] = rng.choice(choices)


def sel_tournament(rng: random.Random, pop: Sequence[Any], k: int, size: int) -> list[Any]:
    """``k`` tournament winners (the first best on ties)."""
    out = []
    for _ in range(k):
        asp = [pop[rng.randrange(len(pop))] for _ in range(size)]
        out.append(max(asp, key=lambda ind: ind.fitness))
    return out


def to_node(tree: Sequence[Any]) -> Node:
    """A DEAP prefix tree as a rule AST."""
    pos = 0

    def build() -> Node:
        nonlocal pos
        n = tree[pos]
        pos += 1
        if isinstance(n, gp.Terminal):
            if n.ret is Series:
                return Node(str(n.name))
            if n.ret is Window:
                return Node("window", value=float(str(n.name)[1:]))
            if n.ret is Level:
                return Node("level", value=float(str(n.name)[1:].replace("_", ".")))
            raise ConfigError(f"unexpected terminal {n.name!r}")  # pragma: no cover
        args = tuple(build() for _ in range(n.arity))
        return Node(n.name, args)

    root = build()
    return root


def from_node(node: Node, pset: gp.PrimitiveSetTyped, cls: Callable[[list[Any]], Any]) -> Any:
    """A rule AST as a DEAP individual of ``cls`` (windows/levels must be in the primitive set)."""
    out: list[Any] = []

    def walk(n: Node) -> None:
        if n.value is not None:
            name = f"w{int(n.value)}" if n.name == "window" else f"l{n.value:g}".replace(".", "_")
            t = Window if n.name == "window" else Level
            match = [x for x in pset.terminals[t] if x.name == name]
            if not match:
                raise ConfigError(f"{n.name} {n.value:g} is not in the grammar's set")
            out.append(match[0])
            return
        if n.name in SERIES_TERMINALS:
            out.append(next(x for x in pset.terminals[Series] if x.name == n.name))
            return
        out.append(pset.mapping[n.name])
        for a in n.args:
            walk(a)

    walk(node)
    return cls(out)
