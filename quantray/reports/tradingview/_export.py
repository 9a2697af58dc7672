"""``export_tradingview``: Pine Script, alerts and a watchlist for a quarterly report's top performers.

Output layout (``out``)::

    manifest.json                            what was exported, from which report, with file hashes
    watchlist.txt                            one EXCHANGE:SYMBOL per line, best first (TradingView import)
    alerts.json                              every alert: symbol, condition, message, frequency, thresholds
    pine/{SYMBOL}_{strategy}_indicator.pine  indicator: quantray's target, alertcondition() + alert() calls
    pine/{SYMBOL}_{strategy}_strategy.pine   strategy: the template's orders + threshold alert() calls

Everything is written to a temporary directory next to ``out`` and renamed into place at the end, so ``out``
holds either the previous export or the complete new one, never a mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import secrets as _secrets
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantray.errors import ConfigError, DataError, ParameterError, StrategyError
from quantray.reports.tradingview._payload import MAX_BODY_BYTES
from quantray.reports.tradingview._pine import (
    FREQUENCY,
    ORDER_FILL,
    alert_message,
    conditions,
    make_scripts,
    target_rule,
)
from quantray.reports.tradingview._thresholds import AlertThresholds, derive_thresholds

MANIFEST_KIND = "quantray.tradingview_export"
EXPORT_VERSION = 1
WEBHOOK_PATH = "/v1/tradingview/webhook"

_SECRET_RE = re.compile(r"^[A-Za-z0-9._~+/=-]{8,200}$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9._:/!-]{1,64}$")
_CRYPTO_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD")


@dataclass(frozen=True)
class SymbolExport:
    """What was exported for one symbol."""

    rank: int
    symbol: str
    tv_symbol: str
    strategy: str
    params: dict[str, Any]
    timeframe: str
    metric_value: float
    thresholds: AlertThresholds
    indicator_file: str
    strategy_file: str
    conditions: tuple[str, ...]
    bars_start: str
    bars_end: str


@dataclass(frozen=True)
class ExportResult:
    """Result of :func:`export_tradingview` (paths are relative to ``out`` unless said otherwise).

    Attributes:
        out: the export directory (absolute).
        report: ``"{portfolio} {YYYY}Q{n}"``.
        metric, top: the ranking used.
        symbols: one :class:`SymbolExport` per exported symbol, best first.
        files: every file written.
        watchlist, alerts, manifest: the three index files.
        secret_generated: True when no secret was given and a random one was generated.
        secret: the webhook secret embedded in the alert messages (configure the Serve intake with it).
    """

    out: str
    report: str
    metric: str
    top: int
    symbols: tuple[SymbolExport, ...]
    files: tuple[str, ...]
    watchlist: str = "watchlist.txt"
    alerts: str = "alerts.json"
    manifest: str = "manifest.json"
    secret_generated: bool = False
    secret: str = field(default="", repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the secret)."""
        return {
            "out": self.out,
            "report": self.report,
            "metric": self.metric,
            "top": self.top,
            "secret_generated": self.secret_generated,
            "files": list(self.files),
            "symbols": [
                {
                    "rank": s.rank,
                    "symbol": s.symbol,
                    "tv_symbol": s.tv_symbol,
                    "strategy": s.strategy,
                    "params": s.params,
                    "metric_value": _finite(s.metric_value),
                    "thresholds": s.thresholds.to_dict(),
                    "indicator": s.indicator_file,
                    "strategy_script": s.strategy_file,
                    "conditions": list(s.conditions),
                }
                for s in self.symbols
            ],
        }


def _finite(x: float) -> float | None:
    return x if isinstance(x, float) and math.isfinite(x) else (None if isinstance(x, float) else x)


# ------------------------------------------------------------------------------------------------ inputs
def _resolve_report(report: Any) -> Any:
    from quantray.reports import QuarterlyReport, load_report

    if isinstance(report, QuarterlyReport):
        return report
    if isinstance(report, str | os.PathLike):
        where = os.fspath(report)
        if "://" not in where and not os.path.exists(where):
            raise DataError(f"report {where!r} does not exist (give a report directory or its report.json)")
        try:
            return load_report(where)
        except (DataError, ConfigError) as exc:
            raise DataError(f"{where!r} is not a quantray quarterly report: {exc}") from None
    raise DataError(f"`report` must be a QuarterlyReport or a path/URL, got {type(report).__name__}")


def _check_top(top: Any) -> int:
    if isinstance(top, bool) or not isinstance(top, int | np.integer) or int(top) < 1:
        raise ParameterError(f"top: must be an integer >= 1, got {top!r}")
    return int(top)


def _check_secret(secret: str | None) -> tuple[str, bool]:
    if secret is None:
        return _secrets.token_urlsafe(24), True
    if not isinstance(secret, str) or not _SECRET_RE.match(secret):
        raise ConfigError(
            "secret: must be 8-200 characters of letters, digits and . _ ~ + / = - (it is embedded in JSON "
            "inside Pine string literals); got a value that is not"
        )
    return secret, False


def _tv_symbol(row: Any) -> str:
    if not _SYMBOL_RE.match(row.symbol):
        raise DataError(
            f"symbol {row.symbol!r} cannot be exported (allowed: letters, digits and . _ : / ! -)"
        )
    if row.exchange:
        return f"{row.exchange}:{row.symbol}"
    if row.symbol.endswith(_CRYPTO_QUOTES):
        return f"BINANCE:{row.symbol}"
    return str(row.symbol)


def _check_out(out: str | os.PathLike[str]) -> Path:
    path = Path(os.fspath(out)).expanduser().absolute()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"out: {str(path)!r} exists and is not a directory")
        entries = list(path.iterdir())
        if entries:
            manifest = path / "manifest.json"
            kind = None
            if manifest.is_file():
                try:
                    kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
                except (OSError, ValueError, AttributeError):
                    kind = None
            if kind != MANIFEST_KIND:
                raise ConfigError(
                    f"out: {str(path)!r} is a non-empty directory that is not a previous TradingView export; "
                    "refusing to replace it (choose an empty or new directory)"
                )
    ancestor = path.parent  # missing parents are created when the export is written (as `report` does)
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"out: {str(ancestor)!r} exists and is not a directory")
    return path


def _bars_source(report: Any, data: str | None) -> str:
    src = data or report.data
    if not src:
        raise DataError(
            f"report {report.portfolio} {report.label} does not say which bars it used (`data` is empty); "
            "pass data=URL"
        )
    if src == "sample":
        from quantray.data import sample_path

        return sample_path()
    return str(src)


def _execution(report: Any) -> Any:
    from quantray.engine import ExecutionConfig

    names = {f.name for f in dataclasses.fields(ExecutionConfig)}
    kw = {k: v for k, v in (report.execution or {}).items() if k in names}
    return ExecutionConfig(**kw)


# ------------------------------------------------------------------------------------------------ export
def _symbol_thresholds(detail: Any) -> AlertThresholds:
    equity = detail.equity
    trades = detail.trades
    closed = trades[trades["exit_time"].notna()]
    index = pd.DatetimeIndex(equity.index)
    hold = index.get_indexer(pd.DatetimeIndex(closed["exit_time"])) - index.get_indexer(
        pd.DatetimeIndex(closed["entry_time"])
    )
    return derive_thresholds(
        np.asarray(detail.close, dtype=np.float64),
        closed["direction"].to_numpy(np.float64),
        closed["entry_price"].to_numpy(np.float64),
        closed["exit_price"].to_numpy(np.float64),
        hold.astype(np.float64),
    )


@dataclass(frozen=True)
class _Detail:
    equity: pd.Series
    trades: pd.DataFrame
    close: np.ndarray


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def export_tradingview(
    report: Any,
    *,
    top: int = 10,
    out: str | os.PathLike[str],
    secret: str | None = None,
    metric: str = "sharpe",
    data: str | None = None,
) -> ExportResult:
    """Export a quarterly report's ``top`` performers to TradingView.

    Per symbol: a Pine Script v6 indicator and strategy generated from the strategy's template with the
    report's parameters as ``input.*`` defaults, symbol-specific alert thresholds derived from the symbol's
    backtest (see :mod:`quantray.reports.tradingview._thresholds`), ``alertcondition()`` and ``alert()``
    calls whose messages are JSON in the webhook payload schema (:func:`parse_tradingview_alert`) with
    TradingView placeholders. Plus ``watchlist.txt``, ``alerts.json`` and ``manifest.json``.

    Args:
        report: a :class:`~quantray.reports.QuarterlyReport`, or the path/URL of a stored one.
        top: how many symbols (best first by ``metric``, ties as in ``get_top_performers``).
        out: the export directory; replaced atomically (a non-empty directory that is not a previous export
            is refused); missing parent directories are created.
        secret: the webhook shared secret to embed in the messages; None generates a random one (returned in
            :attr:`ExportResult.secret`).
        metric: ranking metric (``sharpe`` by default).
        data: bars URL overriding ``report.data`` (for thresholds: the symbol's bars up to the quarter's end).

    Returns:
        An :class:`ExportResult`.

    Raises:
        DataError: the report is missing or not a report, or its bars cannot be read.
        ParameterError: ``top < 1`` or an unknown metric.
        StrategyError: a top strategy is unknown or has no Pine template.
        ConfigError: a bad secret or ``out``.

    Example:
        >>> export_tradingview("/nonexistent/report", out="/tmp/tv")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        quantray.errors.DataError: report '/nonexistent/report' does not exist ...
    """
    from quantray import backtest
    from quantray.data import read_bars
    from quantray.strategies import get_strategy, render_pine

    n_top = _check_top(top)
    rep = _resolve_report(report)
    rows = rep.get_top_performers(n_top, metric=metric)
    if not rows:
        raise DataError(f"report {rep.portfolio} {rep.label} has no rows to export")
    specs = {}
    for row in rows:
        spec = get_strategy(row.strategy)
        if spec.pine_template is None:
            raise StrategyError(
                f"strategy {row.strategy!r} (top performer {row.symbol}) has no Pine Script template; "
                "TradingView export needs one (StrategySpec.pine_template)"
            )
        spec.validate_params(row.params)
        specs[row.symbol] = spec
    secret_value, generated = _check_secret(secret)
    out_path = _check_out(out)
    tv_symbols = {row.symbol: _tv_symbol(row) for row in rows}
    source = _bars_source(rep, data)
    end = pd.Timestamp(rep.end, tz="UTC") if rep.end else None
    bars = read_bars(source, symbols=[r.symbol for r in rows], on_bad="repair")
    if end is not None:
        bars = bars[bars["ts"] < end]
    cfg = _execution(rep)
    fees = float(cfg.fees)

    staged: dict[str, str] = {}
    exported: list[SymbolExport] = []
    alerts: list[dict[str, Any]] = []
    for rank, row in enumerate(rows, start=1):
        spec = specs[row.symbol]
        sym_bars = bars[bars["symbol"] == row.symbol]
        if len(sym_bars) < 2:
            raise DataError(
                f"{source!r}: symbol {row.symbol} has {len(sym_bars)} bar(s) before {rep.end}; cannot derive "
                "alert thresholds"
            )
        res = backtest(sym_bars, spec, params=row.params, config=cfg)
        det = res.detail(row.symbol, row.params)
        detail = _Detail(det.equity, det.trades, sym_bars["close"].to_numpy(np.float64))
        thresholds = _symbol_thresholds(detail)
        tv = tv_symbols[row.symbol]
        conds_meta: dict[str, str] = {}
        messages: dict[str, str] = {}
        titles: dict[str, str] = {}
        rendered = render_pine(
            spec,
            row.params,
            title=f"quantray {row.symbol} {spec.name} {rep.label}",
            symbol=tv,
            fees=fees,
            init_cash=float(cfg.init_cash),
            execution=str(cfg.execution),
            slippage=float(cfg.slippage),
        )
        _, can_short = target_rule(rendered, spec.name)
        for c in [*conditions(can_short), ORDER_FILL]:
            alert_id = f"{row.symbol}-{spec.name}-{c.name}"
            messages[c.name] = alert_message(
                secret=secret_value, strategy=spec.name, condition=c, alert_id=alert_id
            )
            titles[c.name] = f"{row.symbol} {spec.name} {c.name.replace('_', ' ')}"
            conds_meta[c.name] = c.variable
            if len(messages[c.name].encode()) > MAX_BODY_BYTES // 2:
                raise ConfigError(f"alert message for {alert_id} is too long ({len(messages[c.name])} bytes)")
        metric_value = row.metric(metric)
        notes = [
            f"Generated by quantray from report {rep.portfolio} {rep.label} (generated {rep.generated_at.isoformat()}).",
            f"Rank {rank} by {metric} = {metric_value:.6g}; strategy {spec.name} "
            + ", ".join(f"{k}={v}" for k, v in row.params.items()),
            f"Thresholds ({thresholds.source}): stop {thresholds.stop_loss_pct:.6g}, target "
            f"{thresholds.take_profit_pct:.6g}, large move {thresholds.large_move_pct:.6g} "
            f"from {thresholds.n_bars} bars, {thresholds.n_closed_trades} closed trades.",
            "The alert messages carry the webhook secret: keep this file private.",
        ]
        indicator_src, strategy_src, conds = make_scripts(
            rendered=rendered,
            strategy=spec.name,
            title=f"quantray {row.symbol} {spec.name} {rep.label}",
            thresholds=thresholds,
            messages=messages,
            titles=titles,
            notes=notes,
        )
        stem = f"{_safe(row.symbol)}_{spec.name}"
        ind_file = f"pine/{stem}_indicator.pine"
        strat_file = f"pine/{stem}_strategy.pine"
        staged[ind_file] = indicator_src
        staged[strat_file] = strategy_src
        th = thresholds.to_dict()
        for c in conds:
            alerts.append(
                {
                    "symbol": tv,
                    "ticker": row.symbol,
                    "strategy": spec.name,
                    "condition": c.name,
                    "description": c.description,
                    "script": ind_file,
                    "pine_condition": c.variable,
                    "title": titles[c.name],
                    "message": messages[c.name],
                    "frequency": FREQUENCY,
                    "thresholds": th,
                }
            )
        alerts.append(
            {
                "symbol": tv,
                "ticker": row.symbol,
                "strategy": spec.name,
                "condition": ORDER_FILL.name,
                "description": "paste as the message of an alert on the strategy (Order fills and alert() calls)",
                "script": strat_file,
                "pine_condition": "",
                "title": titles[ORDER_FILL.name],
                "message": messages[ORDER_FILL.name],
                "frequency": FREQUENCY,
                "thresholds": th,
            }
        )
        ts = sym_bars["ts"]
        exported.append(
            SymbolExport(
                rank=rank,
                symbol=row.symbol,
                tv_symbol=tv,
                strategy=spec.name,
                params=dict(row.params),
                timeframe=row.timeframe,
                metric_value=metric_value,
                thresholds=thresholds,
                indicator_file=ind_file,
                strategy_file=strat_file,
                conditions=tuple(c.name for c in conds),
                bars_start=pd.Timestamp(ts.iloc[0]).isoformat(),
                bars_end=pd.Timestamp(ts.iloc[-1]).isoformat(),
            )
        )

    staged["watchlist.txt"] = "".join(f"{s.tv_symbol}\n" for s in exported)
    report_meta = {
        "portfolio": rep.portfolio,
        "year": rep.year,
        "quarter": rep.quarter,
        "label": rep.label,
        "generated_at": rep.generated_at.isoformat(),
        "source": os.fspath(report) if isinstance(report, str | os.PathLike) else None,
        "data": source,
    }
    staged["alerts.json"] = (
        json.dumps(
            {
                "version": EXPORT_VERSION,
                "report": report_meta,
                "webhook": {"path": WEBHOOK_PATH, "content_type": "application/json", "payload_version": 1},
                "alerts": alerts,
            },
            indent=2,
        )
        + "\n"
    )
    result = ExportResult(
        out=str(out_path),
        report=f"{rep.portfolio} {rep.label}",
        metric=metric,
        top=n_top,
        symbols=tuple(exported),
        files=tuple(sorted([*staged, "manifest.json"])),
        secret_generated=generated,
        secret=secret_value,
    )
    manifest = {
        "kind": MANIFEST_KIND,
        "version": EXPORT_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "report": report_meta,
        "metric": metric,
        "top": n_top,
        "secret": "generated" if generated else "given",
        "execution": {k: getattr(cfg, k) for k in ("execution", "fees", "slippage", "init_cash")},
        "symbols": result.to_dict()["symbols"],
        "files": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sorted(staged.items())},
    }
    staged["manifest.json"] = json.dumps(manifest, indent=2, default=str) + "\n"
    _write_atomically(out_path, staged)
    return result


def _write_atomically(out_path: Path, files: Mapping[str, str]) -> None:
    """Write ``files`` into a temporary sibling of ``out_path``, then swap it into place. Missing parent
    directories are created first and removed again if the write fails."""
    created: list[Path] = []
    parent = out_path.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.tmp-", dir=out_path.parent))
    except BaseException:
        _remove_empty(created)
        raise
    old: Path | None = None
    try:
        for rel, text in files.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if out_path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.old-", dir=out_path.parent))
            old.rmdir()
            os.replace(out_path, old)
        os.replace(tmp, out_path)
    except BaseException:
        if old is not None and old.exists() and not out_path.exists():
            os.replace(old, out_path)
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_empty(dirs: list[Path]) -> None:
    """Remove the directories this export created (deepest first), where they are still empty."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            break
