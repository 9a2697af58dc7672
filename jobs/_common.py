"""Shared edge code of the jobs: YAML loading and one-line user errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from quantray.errors import ConfigError, ParameterError, QuantrayError


def load_yaml(path: str) -> Any:
    """Parse a YAML config file; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None


@contextlib.contextmanager
def in_config(path: str, section: str) -> Iterator[None]:
    """Re-raise a config error raised while reading ``section`` of the YAML file ``path`` naming both
    (``t.yaml: tune: unknown tune key(s) ['num_sample']``), so a job's error says which file to fix."""
    try:
        yield
    except (ConfigError, ParameterError) as exc:
        msg = str(exc)
        if msg.startswith(f"{path}:"):
            raise
        raise type(exc)(f"{path}: {section}: {msg}") from None


def run_main(fn: Callable[[], int]) -> None:
    """Run a job's main, turning quantray errors into one line on stderr and exit status 2."""
    try:
        code = fn()
    except QuantrayError as exc:
        print(f"job error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


def reject_unknown(data: Any, valid: list[str], where: str) -> dict[str, Any]:
    """A mapping whose keys are all in ``valid`` (else a ConfigError listing them)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(valid)}")
    return data


def resolve_data(data: str) -> str:
    """``sample`` means the bundled S&P 500 sample."""
    from quantray.data import sample_path

    return sample_path() if data == "sample" else data


def write_parquet(df: Any, url: str) -> None:
    """Write a DataFrame as Parquet to a local path or fsspec URL (creating local parents)."""
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(url, index=False)


def section(raw: Any, key: str, where: str) -> dict[str, Any]:
    """The mapping under ``key`` (absent or empty: {}); anything else is a ConfigError naming the file."""
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `{key}` must be a mapping, got {value!r}")
    return dict(value)


def symbols_of(raw: Any, where: str) -> list[str] | None:
    """``symbols``: absent (all), one name, or a list of names."""
    value = raw.get("symbols")
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    raise ConfigError(f"{where}: `symbols` must be a symbol or a list of symbols, got {value!r}")


def to_json(payload: Any) -> str:
    """One JSON object; NaN and infinities (not JSON) become null."""
    import json

    from quantray.cli._research import _clean

    return json.dumps(_clean(payload), default=str)
