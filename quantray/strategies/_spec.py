"""Strategy specs, parameter spaces, the registry and the ``@strategy`` decorator.

A strategy is data, not a class hierarchy (DESIGN.md §3): a name, a parameter space, a numba signal kernel
``(open, high, low, close, volume, *params) -> int8 target per bar`` and an optional Pine Script v6 template.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from quantray.errors import ParameterError, StrategyError

ParamValue = int | float
Constraint = Callable[[Mapping[str, ParamValue]], str | None]


@dataclass(frozen=True, kw_only=True, slots=True)
class ParamSpace:
    """The space of one strategy parameter.

    Attributes:
        kind: ``"int"`` or ``"float"``.
        low, high: inclusive bounds.
        default: the value used when the parameter is not given.
        step: grid step (``grid()`` enumerates low..high by step); None for a float searched continuously.
        log: sample on a log scale (search only).
        doc: one line saying what the parameter means and its unit.

    Example:
        >>> ParamSpace.int(5, 50, default=10, step=5).grid()
        [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    """

    kind: Literal["int", "float"]
    low: float
    high: float
    default: float
    step: float | None = None
    log: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float"):
            raise ParameterError(f"ParamSpace.kind must be 'int' or 'float', got {self.kind!r}")
        if not self.low <= self.default <= self.high:
            raise ParameterError(f"default {self.default} outside [{self.low}, {self.high}]")
        if self.step is not None and not self.step > 0:
            raise ParameterError(f"step must be > 0, got {self.step}")

    @classmethod
    def int(cls, low: int, high: int, *, default: int, step: int = 1, doc: str = "") -> ParamSpace:
        """An integer parameter on [low, high] with a grid step."""
        return cls(kind="int", low=low, high=high, default=default, step=step, doc=doc)

    @classmethod
    def float(
        cls,
        low: float,
        high: float,
        *,
        default: float,
        step: float | None = None,
        log: bool = False,
        doc: str = "",
    ) -> ParamSpace:
        """A float parameter on [low, high]."""
        return cls(kind="float", low=low, high=high, default=default, step=step, log=log, doc=doc)

    def grid(self) -> list[ParamValue]:
        """All grid values from low to high inclusive (ints for int parameters)."""
        step = self.step if self.step is not None else (self.high - self.low) / 10 or 1.0
        count = math.floor((self.high - self.low) / step + 1e-9) + 1
        values = [self.low + i * step for i in range(count)]
        if self.kind == "int":
            return [round(v) for v in values]
        return [float(round(v, 12)) for v in values]

    def coerce(self, name: str, value: Any, *, strategy: str) -> ParamValue:
        """Check one value against the space and return it with the right type."""
        where = f"strategy {strategy!r} parameter `{name}`"
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ParameterError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ParameterError(f"{where} must be finite, got {value!r}")
        if self.kind == "int":
            if float(value) != int(value):
                raise ParameterError(f"{where} must be an integer, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if not self.low <= value <= self.high:
            raise ParameterError(f"{where} must be in [{self.low:g}, {self.high:g}], got {value!r}")
        return value


@dataclass(frozen=True, kw_only=True)
class StrategySpec:
    """A strategy as data.

    Attributes:
        name: registry key (snake_case).
        params: parameter name → ParamSpace, in the kernel's positional order.
        signal_kernel: numba function ``(open, high, low, close, volume, *params) -> int8[n]`` with values in
            {-1, 0, +1}: the target position decided on each bar's close, using bars up to t only.
        pine_template: Pine Script v6 source with ``{{param}}`` placeholders, or None.
        description: one paragraph for ``quantray strategies list`` and the docs.
        constraints: callables returning an error message (or None) for a full parameter set.
        builtin_id: id of the fused engine kernel for built-ins; None for user strategies (simulated from
            their signal array, still in numba).
    """

    name: str
    params: Mapping[str, ParamSpace]
    signal_kernel: Callable[..., NDArray[np.int8]]
    pine_template: str | None = None
    description: str = ""
    constraints: tuple[Constraint, ...] = ()
    builtin_id: int | None = None
    _frozen_params: Mapping[str, ParamSpace] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise StrategyError(f"strategy name must be an identifier, got {self.name!r}")
        object.__setattr__(self, "_frozen_params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "params", self._frozen_params)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.params)

    def defaults(self) -> dict[str, ParamValue]:
        return {k: (int(p.default) if p.kind == "int" else float(p.default)) for k, p in self.params.items()}

    def validate_params(self, params: Mapping[str, Any] | None = None) -> dict[str, ParamValue]:
        """Fill defaults, reject unknown names (listing valid ones), coerce types, check constraints."""
        given = dict(params or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) {unknown} for strategy {self.name!r}; valid: {list(self.params) or 'none'}"
            )
        out = self.defaults()
        for k, v in given.items():
            out[k] = self.params[k].coerce(k, v, strategy=self.name)
        for check in self.constraints:
            msg = check(out)
            if msg:
                raise ParameterError(f"strategy {self.name!r}: {msg}")
        return out

    def expand_grid(
        self, grid: Mapping[str, Iterable[Any]], fixed: Mapping[str, Any] | None = None
    ) -> list[dict[str, ParamValue]]:
        """All combinations of ``grid`` (plus ``fixed`` values), each validated; combinations that break a
        constraint (e.g. fast >= slow) are dropped, and an empty result is an error."""
        fixed = dict(fixed or {})
        names = list(grid)
        unknown = sorted((set(names) | set(fixed)) - set(self.params))
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) {unknown} for strategy {self.name!r}; valid: {list(self.params) or 'none'}"
            )
        value_lists = [list(grid[k]) for k in names]
        for k, vals in zip(names, value_lists, strict=True):
            if not vals:
                raise ParameterError(f"grid for `{k}` is empty")
        combos: list[dict[str, ParamValue]] = []
        first_error: str | None = None
        base = self.defaults()
        for k, v in fixed.items():
            base[k] = self.params[k].coerce(k, v, strategy=self.name)
        for values in itertools.product(*value_lists):
            candidate = dict(base)
            for k, v in zip(names, values, strict=True):
                candidate[k] = self.params[k].coerce(k, v, strategy=self.name)
            msg = next((m for m in (c(candidate) for c in self.constraints) if m), None)
            if msg:
                first_error = first_error or msg
                continue
            combos.append(candidate)
        if not combos:
            raise ParameterError(
                f"strategy {self.name!r}: no valid parameter set in the grid; e.g. {first_error}"
            )
        return combos

    def signal(
        self,
        open_: NDArray[np.float64],
        high: NDArray[np.float64],
        low: NDArray[np.float64],
        close: NDArray[np.float64],
        volume: NDArray[np.float64],
        params: Mapping[str, Any] | None = None,
    ) -> NDArray[np.int8]:
        """Target position per bar for one parameter set (validated)."""
        p = self.validate_params(params)
        out = self.signal_kernel(open_, high, low, close, volume, *p.values())
        arr = np.asarray(out)
        if arr.shape != np.shape(close):
            raise StrategyError(
                f"strategy {self.name!r}: signal kernel returned shape {arr.shape}, expected {np.shape(close)}"
            )
        return arr.astype(np.int8, copy=False)


class _Registry:
    def __init__(self) -> None:
        self._specs: dict[str, StrategySpec] = {}

    def register(self, spec: StrategySpec, *, replace: bool = False) -> StrategySpec:
        if spec.name in self._specs and not replace:
            raise StrategyError(
                f"strategy {spec.name!r} is already registered (pass replace=True to override)"
            )
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> StrategySpec:
        try:
            return self._specs[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._specs), n=3)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise StrategyError(
                f"unknown strategy {name!r}{hint or ';'} valid strategies: {sorted(self._specs)}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._specs)

    def __iter__(self) -> Iterator[StrategySpec]:
        return iter(self._specs[k] for k in sorted(self._specs))

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def unregister(self, name: str) -> None:
        self._specs.pop(name, None)


REGISTRY = _Registry()


def register(spec: StrategySpec, *, replace: bool = False) -> StrategySpec:
    """Add a spec to the registry (an existing name is an error unless ``replace``)."""
    return REGISTRY.register(spec, replace=replace)


def get_strategy(name: str | StrategySpec) -> StrategySpec:
    """Look a strategy up by name (unknown names list the valid ones); a spec is returned as is."""
    if isinstance(name, StrategySpec):
        return name
    return REGISTRY.get(name)


def list_strategies() -> list[StrategySpec]:
    """Every registered strategy, sorted by name."""
    return list(REGISTRY)


def strategy(
    name: str | None = None,
    *,
    params: Mapping[str, ParamSpace] | None = None,
    pine_template: str | None = None,
    description: str = "",
    constraints: Iterable[Constraint] = (),
    replace: bool = False,
) -> Callable[[Callable[..., NDArray[np.int8]]], StrategySpec]:
    """Decorator registering a user strategy from its numba signal kernel.

    Example:
        >>> import numpy as np
        >>> from numba import njit
        >>> @strategy("close_above_open", params={}, replace=True)
        ... @njit
        ... def close_above_open(o, h, l, c, v):
        ...     return (c > o).astype(np.int8)
        >>> close_above_open.name
        'close_above_open'
    """

    def wrap(fn: Callable[..., NDArray[np.int8]]) -> StrategySpec:
        spec = StrategySpec(
            name=str(name or getattr(fn, "__name__", "strategy")),
            params=dict(params or {}),
            signal_kernel=fn,
            pine_template=pine_template,
            description=description or (fn.__doc__ or "").strip().split("\n")[0],
            constraints=tuple(constraints),
        )
        return register(spec, replace=replace)

    return wrap
