"""Portfolios: named collections of symbols in YAML with costs, benchmark, strategies to sweep and exchanges.

Bundled portfolios live in ``quantray/reports/portfolios/*.yaml`` (package data). ``sample`` runs on the bundled
sample only; ``sp500`` and ``crypto`` point at data that cannot be bundled, through ``${VAR:-default}``
references expanded from the environment (``QUANTRAY_DATA``, else ``QUANTRAY_TEST_DATA``), or an explicit
``data=`` override.

YAML keys (all validated; unknown keys are rejected with the valid ones)::

    name: sample
    description: ...
    data: sample                      # "sample" = the bundled sample; else a path/URL (env refs allowed)
    symbols: [AAPL, MSFT]             # omit for every symbol of the data
    sectors: {AAPL: Information Technology}   # or sectors_file: a CSV with Symbol and Sector columns
    exchanges: {AAPL: NASDAQ}         # TradingView prefix per symbol; default_exchange for the rest
    default_exchange: NYSE
    costs: {execution: next_open, fees: 0.0005, slippage: 0.0005}   # ExecutionConfig keys
    benchmark: {name: "...", kind: equal_weight}   # or kind: file, path: ..., column: Adj Close
    strategies:
      - {name: sma_cross, grid: {fast: [5, 10, 20], slow: [50, 100]}}
    selection: {metric: sharpe, train_bars: 252, min_trades: 1}

Example:
    >>> p = load_portfolio("sample")
    >>> p.name, len(p.symbols)
    ('sample', 20)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from quantray.engine import ExecutionConfig
from quantray.errors import ConfigError

__all__ = [
    "BenchmarkSpec",
    "Portfolio",
    "SelectionConfig",
    "StrategyGrid",
    "expand_env",
    "list_portfolios",
    "load_portfolio",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^${}]*))?\}")


def expand_env(text: str, *, where: str = "data") -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` (nesting allowed, innermost first).

    Example:
        >>> import os
        >>> os.environ["QR_DOC_X"] = "/d"
        >>> expand_env("${QR_DOC_X}/a.parquet"), expand_env("${QR_DOC_UNSET:-/e}/b")
        ('/d/a.parquet', '/e/b')
    """
    out = str(text)
    for _ in range(20):
        m = _ENV.search(out)
        if m is None:
            return out
        var, default = m.group(1), m.group(2)
        val = os.environ.get(var)
        if val is None or val == "":
            if default is None:
                raise ConfigError(
                    f"{where}: {text!r} needs the environment variable {var} (unset); set it or pass --data PATH"
                )
            val = default
        out = out[: m.start()] + val + out[m.end() :]
    raise ConfigError(f"{where}: {text!r}: too deeply nested ${{...}} references")


def _reject(cls: type, data: Mapping[str, Any], where: str) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")


@dataclass(frozen=True, kw_only=True)
class StrategyGrid:
    """One strategy to consider: its registered ``name``, a ``grid`` to sweep and fixed ``params``."""

    name: str
    grid: Mapping[str, list[Any]] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from quantray.strategies import get_strategy

        spec = get_strategy(self.name)  # unknown name: StrategyError listing the valid ones
        for k in list(self.grid) + list(self.params):
            if k not in spec.params:
                raise ConfigError(
                    f"strategies.{self.name}: unknown parameter {k!r}; valid: {list(spec.params)}"
                )

    def param_sets(self) -> list[dict[str, Any]]:
        """Every valid combination of the grid (constraints such as fast < slow applied)."""
        from quantray.strategies import get_strategy

        spec = get_strategy(self.name)
        if self.grid:
            return [dict(p) for p in spec.expand_grid(dict(self.grid), fixed=dict(self.params) or None)]
        return [dict(spec.validate_params(dict(self.params) or None))]


@dataclass(frozen=True, kw_only=True)
class BenchmarkSpec:
    """The benchmark: ``kind="equal_weight"`` (equal-weight buy-and-hold of the portfolio's symbols, computable
    from the portfolio's own data) or ``kind="file"`` (a CSV/Parquet of index levels: ``path``, a date column
    and ``column`` with the level, e.g. ``Adj Close``)."""

    name: str = "Equal-weight buy and hold"
    kind: str = "equal_weight"
    path: str | None = None
    column: str = "Adj Close"
    date_column: str = "Date"

    def __post_init__(self) -> None:
        if self.kind not in ("equal_weight", "file"):
            raise ConfigError(f"benchmark.kind: must be 'equal_weight' or 'file', got {self.kind!r}")
        if self.kind == "file" and not self.path:
            raise ConfigError("benchmark.path: required when benchmark.kind is 'file'")


@dataclass(frozen=True, kw_only=True)
class SelectionConfig:
    """How each symbol's strategy is chosen without look-ahead.

    Every candidate (strategy × parameter set) is backtested on the ``train_bars`` bars that end just before the
    quarter starts; the best by ``metric`` (ties: higher total_return, then candidate order) among candidates
    with at least ``min_trades`` trades is traded over the quarter, out of sample.
    """

    metric: str = "sharpe"
    train_bars: int = 252
    min_trades: int = 1

    def __post_init__(self) -> None:
        from quantray.reports._model import REPORT_METRICS

        if self.metric not in REPORT_METRICS:
            raise ConfigError(
                f"selection.metric: unknown metric {self.metric!r}; valid: {list(REPORT_METRICS)}"
            )
        if isinstance(self.train_bars, bool) or not isinstance(self.train_bars, int) or self.train_bars < 20:
            raise ConfigError(f"selection.train_bars: must be an integer >= 20, got {self.train_bars!r}")
        if isinstance(self.min_trades, bool) or not isinstance(self.min_trades, int) or self.min_trades < 0:
            raise ConfigError(f"selection.min_trades: must be an integer >= 0, got {self.min_trades!r}")


@dataclass(frozen=True, kw_only=True)
class Portfolio:
    """A named portfolio (see the module docstring for the YAML form)."""

    name: str
    description: str = ""
    data: str = "sample"
    symbols: tuple[str, ...] | None = None
    sectors: Mapping[str, str] = field(default_factory=dict)
    sectors_file: str | None = None
    exchanges: Mapping[str, str] = field(default_factory=dict)
    default_exchange: str | None = None
    costs: ExecutionConfig = field(default_factory=ExecutionConfig)
    benchmark: BenchmarkSpec = field(default_factory=BenchmarkSpec)
    strategies: tuple[StrategyGrid, ...] = ()
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    factors: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name or ""):
            raise ConfigError(f"portfolio name: letters, digits, '_', '-', '.' only, got {self.name!r}")
        if not self.strategies:
            raise ConfigError(f"portfolio {self.name!r}: `strategies` lists no strategy to sweep")
        if self.symbols is not None and not self.symbols:
            raise ConfigError(f"portfolio {self.name!r}: `symbols` is empty")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "portfolio") -> Portfolio:
        """Validate a mapping (parsed YAML); every error names the key and the value."""
        _reject(cls, data, where)
        if "name" not in data:
            raise ConfigError(f"{where}: missing required key `name`")
        d = dict(data)
        if d.get("symbols") is not None:
            syms = d["symbols"]
            if not isinstance(syms, list | tuple) or not all(isinstance(s, str) for s in syms):
                raise ConfigError(f"{where}: symbols must be a list of strings, got {syms!r}")
            d["symbols"] = tuple(syms)
        for key in ("sectors", "exchanges"):
            val = d.get(key) or {}
            if not isinstance(val, Mapping):
                raise ConfigError(f"{where}: {key} must be a mapping symbol -> text, got {val!r}")
            d[key] = {str(k): str(v) for k, v in val.items()}
        try:
            d["costs"] = ExecutionConfig.from_dict(dict(d.get("costs") or {}))
        except ConfigError as exc:
            raise ConfigError(f"{where}: costs: {exc}") from None
        bm = d.get("benchmark") or {}
        _reject(BenchmarkSpec, bm, f"{where}: benchmark")
        d["benchmark"] = BenchmarkSpec(**bm)
        sel = d.get("selection") or {}
        _reject(SelectionConfig, sel, f"{where}: selection")
        d["selection"] = SelectionConfig(**sel)
        strategies = d.get("strategies") or []
        if not isinstance(strategies, list):
            raise ConfigError(
                f"{where}: strategies must be a list of {{name, grid, params}}, got {strategies!r}"
            )
        parsed = []
        from quantray._sweep_config import parse_grid_value

        for i, s in enumerate(strategies):
            _reject(StrategyGrid, s, f"{where}: strategies[{i}]")
            if "name" not in s:
                raise ConfigError(f"{where}: strategies[{i}]: missing `name`")
            grid = s.get("grid") or {}
            if not isinstance(grid, Mapping):
                raise ConfigError(f"{where}: strategies[{i}].grid must be a mapping, got {grid!r}")
            parsed.append(
                StrategyGrid(
                    name=str(s["name"]),
                    grid={str(k): parse_grid_value(str(k), v) for k, v in grid.items()},
                    params=dict(s.get("params") or {}),
                )
            )
        d["strategies"] = tuple(parsed)
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    # ------------------------------------------------------------------ resolution
    def data_url(self, override: str | None = None) -> str:
        """The bars URL: ``override`` if given, the bundled sample for ``sample``, else ``data`` expanded."""
        from quantray.data import sample_path

        raw = override or self.data
        if raw == "sample":
            return sample_path()
        return expand_env(raw, where=f"portfolio {self.name!r} data")

    def sector_map(self) -> dict[str, str]:
        """Symbol → sector (``sectors`` over ``sectors_file``; ``sample`` reads the bundled sectors)."""
        out: dict[str, str] = {}
        if self.sectors_file:
            import pandas as pd

            if self.sectors_file == "sample":
                from quantray.data._sample import sectors_path

                path = sectors_path()
            else:
                path = expand_env(self.sectors_file, where=f"portfolio {self.name!r} sectors_file")
            try:
                df = pd.read_csv(path)
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"portfolio {self.name!r}: cannot read sectors_file {path!r}: {exc}"
                ) from None
            sym = next((c for c in df.columns if str(c).lower() in ("symbol", "ticker")), None)
            sec = next((c for c in df.columns if "sector" in str(c).lower()), None)
            if sym is None or sec is None:
                raise ConfigError(
                    f"portfolio {self.name!r}: sectors_file {path!r} needs Symbol and Sector columns, "
                    f"has {list(df.columns)}"
                )
            out.update({str(a): str(b) for a, b in zip(df[sym], df[sec], strict=True)})
        out.update(self.sectors)
        return out

    def exchange(self, symbol: str) -> str | None:
        """The TradingView exchange prefix of ``symbol``."""
        return self.exchanges.get(symbol, self.default_exchange)


def _bundled_dir() -> Any:
    return resources.files("quantray.reports").joinpath("portfolios")


def list_portfolios() -> list[str]:
    """Names of the bundled portfolios.

    Example:
        >>> "sample" in list_portfolios()
        True
    """
    d = _bundled_dir()
    return sorted(p.name[: -len(".yaml")] for p in d.iterdir() if p.name.endswith(".yaml"))


def load_portfolio(name_or_path: str | Portfolio) -> Portfolio:
    """A bundled portfolio by name, or a YAML file by path.

    Raises:
        ConfigError: an unknown name (listing the valid ones), a missing file, invalid YAML or keys.
    """
    import yaml

    if isinstance(name_or_path, Portfolio):
        return name_or_path
    text_ref = str(name_or_path)
    if text_ref.endswith((".yaml", ".yml")) or "/" in text_ref:
        p = Path(text_ref)
        if not p.is_file():
            raise ConfigError(f"portfolio file {text_ref!r} does not exist")
        text, where = p.read_text(encoding="utf-8"), text_ref
    else:
        names = list_portfolios()
        if text_ref not in names:
            raise ConfigError(f"unknown portfolio {text_ref!r}; valid: {names} (or a path to a YAML file)")
        text, where = _bundled_dir().joinpath(f"{text_ref}.yaml").read_text(encoding="utf-8"), text_ref
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"portfolio {where!r}: invalid YAML: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"portfolio {where!r}: expected a mapping at the top level")
    return Portfolio.from_dict({**raw, "source": where}, where=f"portfolio {where!r}")
