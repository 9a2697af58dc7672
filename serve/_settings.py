"""Server settings: environment variables, overridden by ``$QUANTRAY_HOME/serve.json`` (reloaded when it changes).

| key (serve.json)        | environment                         | default                                  |
|-------------------------|-------------------------------------|------------------------------------------|
| ``rate_per_s``          | ``QUANTRAY_RATE_PER_S``             | 50 requests/s per key (token refill)     |
| ``burst``               | ``QUANTRAY_RATE_BURST``             | 100 (bucket capacity)                    |
| ``max_body_bytes``      | ``QUANTRAY_MAX_BODY_BYTES``         | 1 MiB (413 above)                        |
| ``cors_origins``        | ``QUANTRAY_CORS_ORIGINS`` (a,b,...) | none (no CORS headers)                   |
| ``tradingview_secret``  | ``QUANTRAY_TRADINGVIEW_SECRET``     | none: the intake answers 503             |
| ``tradingview_allow_ips`` | ``QUANTRAY_TRADINGVIEW_ALLOW_IPS`` ("tradingview" or a,b) | none: any source |
| ``tradingview_strategies`` | ``QUANTRAY_TRADINGVIEW_STRATEGIES`` (a,b) | none: alerts must name a strategy registered on the server |
| ``data_sources``        | —                                   | ``{"sample": <bundled sample>}``         |
| ``signals``             | —                                   | see :class:`Settings`                    |
| ``reports_root``        | ``QUANTRAY_REPORTS_ROOT``           | ``$QUANTRAY_HOME``: reports are read from ``<root>/reports/<portfolio>/<YYYY>/Q<n>/``, so the root is the ``--out`` of ``quantray report quarterly`` |
| ``portfolio``           | ``QUANTRAY_PORTFOLIO``              | ``sample``                               |

Only the data sources named here can be read by requests (``"data": "<name>"``): the API never opens a path or
URL a client sends.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from quantray.errors import ConfigError
from quantray.reports.tradingview import TRADINGVIEW_SOURCE_IPS
from quantray.security import quantray_home
from quantray.security._home import read_json

__all__ = ["DEFAULT_SIGNAL_STRATEGIES", "Settings", "SettingsSource"]

DEFAULT_SIGNAL_STRATEGIES: tuple[str, ...] = ("sma_cross", "ema_cross", "macd", "rsi_reversion")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Validated server settings (see the module docstring for sources and defaults).

    ``signals`` lists what is computed from bars when no live graph runs and no report is available: each item
    ``{"strategy": name, "params": {...}, "symbols": [...] | None, "data": source name}``; the default is every
    symbol of the bundled sample with each of ``DEFAULT_SIGNAL_STRATEGIES`` at its default parameters.
    """

    home: str
    rate_per_s: float = 50.0
    burst: float = 100.0
    max_body_bytes: int = 1 << 20
    cors_origins: tuple[str, ...] = ()
    tradingview_secret: str | None = None
    tradingview_allow_ips: tuple[str, ...] | None = None
    tradingview_strategies: tuple[str, ...] = ()
    data_sources: dict[str, str] = field(default_factory=dict)
    signals: tuple[dict[str, Any], ...] = ()
    signal_top_n: int = 20
    reports_root: str | None = None
    portfolio: str = "sample"

    def __post_init__(self) -> None:
        for name in ("rate_per_s", "burst"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and v > 0):
                raise ConfigError(f"serve setting `{name}` must be a positive number, got {v!r}")
        if not (isinstance(self.max_body_bytes, int) and 1024 <= self.max_body_bytes <= 1 << 30):
            raise ConfigError(
                f"serve setting `max_body_bytes` must be in [1024, 2**30], got {self.max_body_bytes!r}"
            )
        if self.tradingview_secret is not None and len(self.tradingview_secret) < 8:
            raise ConfigError("serve setting `tradingview_secret` must be at least 8 characters")
        for name in self.tradingview_strategies:
            if not (isinstance(name, str) and name.isidentifier() and len(name) <= 64):
                raise ConfigError(
                    f"serve setting `tradingview_strategies`: {name!r} is not a strategy name "
                    "(a Python identifier of at most 64 characters)"
                )
        for item in self.signals:
            unknown = set(item) - {"strategy", "params", "symbols", "data"}
            if "strategy" not in item or unknown:
                raise ConfigError(
                    f"serve setting `signals` item {item!r}: needs `strategy`; allowed keys are "
                    "strategy, params, symbols, data"
                )

    @property
    def reports_dir(self) -> str:
        """Where reports are read from: ``reports_root``, else ``home``."""
        return self.reports_root or self.home

    def reports_dir_display(self) -> str:
        """``reports_dir`` as an error may name it: a local path made absolute (as this process resolves it),
        a URL without any ``user:password@``."""
        root = self.reports_dir
        if "://" in root:
            return re.sub(r"(://)[^/@]*@", r"\1", root)
        return os.path.abspath(os.path.expanduser(root))

    def sources(self) -> dict[str, str]:
        """Every data source a request may name, name -> server path (``sample`` is always there)."""
        return {"sample": _sample(), **self.data_sources}

    def data_path(self, name: str) -> str:
        """The path of a named data source; unknown names are a :class:`ConfigError` listing valid ones."""
        sources = self.sources()
        if name not in sources:
            raise ConfigError(
                f"data source {name!r} is not configured on this server; valid: {sorted(sources)}"
            )
        return sources[name]


def _sample() -> str:
    from quantray.data import sample_path

    return str(sample_path())


def _env_settings() -> dict[str, Any]:
    env = os.environ
    out: dict[str, Any] = {}
    for key, var, conv in (
        ("rate_per_s", "QUANTRAY_RATE_PER_S", float),
        ("burst", "QUANTRAY_RATE_BURST", float),
        ("max_body_bytes", "QUANTRAY_MAX_BODY_BYTES", int),
    ):
        if env.get(var):
            try:
                out[key] = conv(env[var])
            except ValueError:
                raise ConfigError(f"{var}={env[var]!r}: not a number") from None
    if env.get("QUANTRAY_CORS_ORIGINS"):
        out["cors_origins"] = [o.strip() for o in env["QUANTRAY_CORS_ORIGINS"].split(",") if o.strip()]
    if env.get("QUANTRAY_TRADINGVIEW_SECRET"):
        out["tradingview_secret"] = env["QUANTRAY_TRADINGVIEW_SECRET"]
    if env.get("QUANTRAY_TRADINGVIEW_ALLOW_IPS"):
        out["tradingview_allow_ips"] = env["QUANTRAY_TRADINGVIEW_ALLOW_IPS"]
    if env.get("QUANTRAY_TRADINGVIEW_STRATEGIES"):
        out["tradingview_strategies"] = env["QUANTRAY_TRADINGVIEW_STRATEGIES"]
    if env.get("QUANTRAY_REPORTS_ROOT"):
        out["reports_root"] = env["QUANTRAY_REPORTS_ROOT"]
    if env.get("QUANTRAY_PORTFOLIO"):
        out["portfolio"] = env["QUANTRAY_PORTFOLIO"]
    return out


def _build(home: Path, raw: dict[str, Any]) -> Settings:
    known = {f.name for f in fields(Settings)} - {"home"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{home / 'serve.json'}: unknown key(s) {unknown}; valid: {sorted(known)}")
    d = dict(raw)
    ips = d.get("tradingview_allow_ips")
    if isinstance(ips, str):
        d["tradingview_allow_ips"] = (
            TRADINGVIEW_SOURCE_IPS
            if ips == "tradingview"
            else tuple(i.strip() for i in ips.split(",") if i.strip())
        )
    elif ips is not None:
        d["tradingview_allow_ips"] = tuple(ips)
    if "cors_origins" in d:
        d["cors_origins"] = tuple(d["cors_origins"])
    names = d.get("tradingview_strategies")
    if isinstance(names, str):
        d["tradingview_strategies"] = tuple(n.strip() for n in names.split(",") if n.strip())
    elif names is not None:
        d["tradingview_strategies"] = tuple(names)
    if "signals" in d:
        d["signals"] = tuple(d["signals"])
    if "data_sources" in d:
        d["data_sources"] = {str(k): str(v) for k, v in dict(d["data_sources"]).items()}
    return Settings(home=str(home), **d)


class SettingsSource:
    """Current :class:`Settings`, re-read when ``serve.json`` changes (one ``stat`` per call)."""

    def __init__(self, home: str | None = None) -> None:
        self.home = quantray_home(home)
        self.path = self.home / "serve.json"
        self._stamp: tuple[int, int] | None = None
        self._settings: Settings | None = None

    def get(self) -> Settings:
        try:
            st = self.path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._settings is None or stamp != self._stamp:
            raw = {**_env_settings(), **(read_json(self.path, {}) if stamp else {})}
            self._settings = _build(self.home, raw)
            self._stamp = stamp
        return self._settings
