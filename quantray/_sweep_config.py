"""The sweep job's configuration: frozen, keyword-only, validated; unknown keys rejected with the valid ones.

YAML is parsed only at the edges (``jobs/``); this is the typed form both ``jobs/sweep.py`` and the CLI use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from quantray.engine import ExecutionConfig
from quantray.errors import ConfigError


def _reject_unknown(cls: type, data: Mapping[str, Any], where: str) -> None:
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")


def parse_grid_value(name: str, value: Any) -> list[Any]:
    """A grid axis from YAML: a list of values, a scalar, or a ``"START:STOP:STEP"`` string (STOP inclusive)."""
    from quantray.cli._main import parse_grid

    if isinstance(value, str):
        return parse_grid(f"{name}={value}")[1]
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(f"grid.{name}: empty list")
        return list(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value]
    raise ConfigError(f"grid.{name}: expected a list, a number or 'START:STOP:STEP', got {value!r}")


@dataclass(frozen=True, kw_only=True)
class RayConfig:
    """Where to run: ``address`` (None = embedded local Ray unless RAY_ADDRESS is set) and its size."""

    address: str | None = None
    num_cpus: int | None = None
    object_store_memory_mb: int | None = None

    def __post_init__(self) -> None:
        if self.num_cpus is not None and (not isinstance(self.num_cpus, int) or self.num_cpus < 1):
            raise ConfigError(f"ray.num_cpus must be a positive integer, got {self.num_cpus!r}")


@dataclass(frozen=True, kw_only=True)
class RankConfig:
    """How results are printed: by ``metric``, ``top`` rows."""

    metric: str = "sharpe"
    top: int = 20


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """A sweep job (``jobs/sweep.py --config FILE``).

    Attributes:
        data: a path/URL of bars, or ``"sample"`` for the bundled S&P 500 sample.
        strategy: a registered strategy name.
        grid: parameter → list | number | "START:STOP:STEP" (STOP inclusive).
        params: fixed parameters.
        symbols: restrict to these symbols; ``universe``: a file with one symbol per line (or a CSV with a
            ``symbol``/``Symbol`` column).
        execution: keys of :class:`quantray.engine.ExecutionConfig`.
        out: output URL (local or s3://); None keeps results in memory only.
        resume / overwrite: continue a previous run of the same job / replace an output.
        chunk_seconds: target work per task.
        storage_options: fsspec options for ``data`` and ``out`` (e.g. an S3 endpoint).
    """

    data: str
    strategy: str
    grid: Mapping[str, list[Any]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    symbols: tuple[str, ...] | None = None
    universe: str | None = None
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    out: str | None = None
    resume: bool = False
    overwrite: bool = False
    chunk_seconds: float = 0.25
    ray: RayConfig = field(default_factory=RayConfig)
    rank: RankConfig = field(default_factory=RankConfig)
    storage_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.data, str) or not self.data:
            raise ConfigError(f"data: expected a path/URL or 'sample', got {self.data!r}")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ConfigError(f"strategy: expected a strategy name, got {self.strategy!r}")
        if self.symbols is not None and self.universe is not None:
            raise ConfigError("give either `symbols` or `universe`, not both")
        if self.symbols is not None and len(self.symbols) == 0:
            raise ConfigError("symbols: the universe is empty")
        if self.resume and self.overwrite:
            raise ConfigError("`resume` and `overwrite` exclude each other")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "config") -> SweepConfig:
        """Validate a mapping (e.g. parsed YAML); every error names the key and the value."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping at the top level, got {type(data).__name__}")
        _reject_unknown(cls, data, where)
        for required in ("data", "strategy"):
            if required not in data:
                raise ConfigError(f"{where}: missing required key `{required}`")
        d = dict(data)
        grid = d.get("grid") or {}
        if not isinstance(grid, Mapping):
            raise ConfigError(f"{where}: grid must be a mapping of parameter -> values, got {grid!r}")
        d["grid"] = {str(k): parse_grid_value(str(k), v) for k, v in grid.items()}
        params = d.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where}: params must be a mapping, got {params!r}")
        d["params"] = dict(params)
        if d.get("symbols") is not None:
            if not isinstance(d["symbols"], list | tuple) or not all(
                isinstance(s, str) for s in d["symbols"]
            ):
                raise ConfigError(f"{where}: symbols must be a list of strings, got {d['symbols']!r}")
            d["symbols"] = tuple(d["symbols"])
        ex = d.get("execution") or {}
        if not isinstance(ex, Mapping):
            raise ConfigError(f"{where}: execution must be a mapping, got {ex!r}")
        try:
            d["execution"] = ExecutionConfig.from_dict(dict(ex))
        except ConfigError as exc:
            raise ConfigError(f"{where}: execution: {exc}") from None
        for key, sub in (("ray", RayConfig), ("rank", RankConfig)):
            val = d.get(key) or {}
            if not isinstance(val, Mapping):
                raise ConfigError(f"{where}: {key} must be a mapping, got {val!r}")
            _reject_unknown(sub, val, f"{where}: {key}")
            d[key] = sub(**val)
        so = d.get("storage_options") or {}
        d["storage_options"] = dict(so)
        try:
            return cls(**d)
        except TypeError as exc:  # a wrong type that slipped through
            raise ConfigError(f"{where}: {exc}") from None

    def resolve_symbols(self) -> list[str] | None:
        """The symbols to sweep (from ``symbols`` or the ``universe`` file)."""
        if self.symbols is not None:
            return list(self.symbols)
        if self.universe is None:
            return None
        import fsspec
        import pandas as pd

        try:
            with fsspec.open(self.universe, "rt", **dict(self.storage_options)) as f:
                text = f.read()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"universe: cannot read {self.universe!r}: {exc}") from None
        first = text.splitlines()[0] if text.strip() else ""
        if "," in first:
            import io

            df = pd.read_csv(io.StringIO(text))
            col = next((c for c in df.columns if str(c).lower() in ("symbol", "ticker")), None)
            if col is None:
                raise ConfigError(
                    f"universe: {self.universe!r} has no `symbol` column (columns: {list(df.columns)})"
                )
            syms = [str(s).strip() for s in df[col].dropna()]
        else:
            syms = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not syms:
            raise ConfigError(f"universe: {self.universe!r} lists no symbols")
        return syms


def run_sweep_config(cfg: SweepConfig, *, progress: bool = True) -> Any:
    """Run the sweep a :class:`SweepConfig` describes (``data: sample`` is the bundled sample)."""
    from quantray._sweep import sweep
    from quantray.data import sample_path

    data = sample_path() if cfg.data == "sample" else cfg.data
    return sweep(
        data,
        cfg.strategy,
        grid=cfg.grid or None,
        params=cfg.params or None,
        symbols=cfg.resolve_symbols(),
        config=cfg.execution,
        out=cfg.out,
        resume=cfg.resume,
        overwrite=cfg.overwrite,
        address=cfg.ray.address,
        num_cpus=cfg.ray.num_cpus,
        chunk_seconds=cfg.chunk_seconds,
        storage_options=cfg.storage_options or None,
        progress=progress,
    )
