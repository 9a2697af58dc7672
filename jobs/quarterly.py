"""The quarterly job: sweep → report → TradingView export → notification, for one or more portfolios.

Run locally (embedded Ray), on a cluster, or on a schedule (infra/k8s/base/raycronjob-quarterly.yaml, or cron)::

    python -m jobs.quarterly --config jobs/configs/quarterly.yaml
    python -m jobs.quarterly --config jobs/configs/quarterly.yaml --quarter 2017Q4 --out s3://bucket/research
    ray job submit --working-dir . -- python -m jobs.quarterly --config jobs/configs/quarterly.yaml

Per portfolio: the selection sweeps run on Ray (``quantray.sweep``), the report is stored under
``{out}/reports/{portfolio}/{YYYY}/Q{n}/`` with its rendered formats, then the top N are exported for
TradingView into ``.../tradingview/`` (when ``quantray.reports.tradingview.export_tradingview`` exists). When
every portfolio is done (or one failed) a JSON summary is POSTed to the webhook and an email is sent over SMTP.
Exit status: 0 when every portfolio succeeded, 1 when one failed, 2 for a configuration error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs._common import load_yaml, reject_unknown, run_main
from quantray.errors import ConfigError, QuantrayError

log = logging.getLogger("jobs.quarterly")

KEYS = [
    "portfolios",
    "quarter",
    "data",
    "out",
    "formats",
    "use_ray",
    "ray",
    "render",
    "tradingview",
    "notify",
    "storage_options",
    "force",
]


def _portfolio_items(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"portfolios: expected a non-empty list of names or {{name, data}} mappings, got {raw!r}"
        )
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append({"name": item, "data": None})
        elif isinstance(item, Mapping):
            d = reject_unknown(dict(item), ["name", "data", "symbols"], f"portfolios[{i}]")
            if "name" not in d:
                raise ConfigError(f"portfolios[{i}]: missing `name`")
            out.append({"name": str(d["name"]), "data": d.get("data"), "symbols": d.get("symbols")})
        else:
            raise ConfigError(f"portfolios[{i}]: expected a name or a mapping, got {item!r}")
    return out


def _export_tradingview(
    report: Any, top: int, out_dir: str, *, secret_env: str | None = None, storage_options: Any = None
) -> dict[str, Any]:
    """Call the TradingView export when it is installed (a logged note otherwise).

    The webhook secret embedded in the alerts comes from the environment variable ``secret_env`` (else the
    exporter generates one; it is never written to the summary). An ``s3://`` destination is exported to a
    local temporary directory first, then uploaded file by file.
    """
    import os
    import tempfile

    try:
        from quantray.reports import tradingview
    except ImportError as exc:  # pragma: no cover - the package is part of quantray
        return {"skipped": f"quantray.reports.tradingview not importable: {exc}"}
    fn = getattr(tradingview, "export_tradingview", None)
    if fn is None:
        note = "TradingView export skipped: quantray.reports.tradingview.export_tradingview is not available"
        log.warning(note)
        return {"skipped": note}
    secret = os.environ.get(secret_env) if secret_env else None
    if secret_env and not secret:
        raise ConfigError(f"tradingview.secret_env: environment variable {secret_env} is not set")
    remote = "://" in out_dir and not out_dir.startswith("file://")
    local = tempfile.mkdtemp(prefix="qr-tv-") + "/tradingview" if remote else out_dir
    result = fn(report, top=top, out=local, secret=secret)
    files = [str(f) for f in getattr(result, "files", ())]
    if remote:
        import fsspec

        fs, base = fsspec.core.url_to_fs(out_dir, **dict(storage_options or {}))
        for rel in files:
            fs.put_file(os.path.join(local, rel), f"{base.rstrip('/')}/{rel}")
    return {
        "out": out_dir,
        "files": files,
        "symbols": [getattr(s, "symbol", str(s)) for s in getattr(result, "symbols", ())],
        "secret_generated": bool(getattr(result, "secret_generated", False)),
    }


def run_job(cfg: Mapping[str, Any], *, where: str = "config") -> dict[str, Any]:
    """Run the job a validated mapping describes; returns the summary that the notification carries."""
    from quantray.reports import (
        NotifyConfig,
        RenderConfig,
        build_quarterly_report,
        parse_formats,
        render_report,
        save_report,
    )

    reject_unknown(dict(cfg), KEYS, where)
    items = _portfolio_items(cfg.get("portfolios", ["sample"]))
    quarter = str(cfg.get("quarter", "latest"))
    out = str(cfg.get("out") or "results")
    formats = parse_formats(cfg.get("formats") or "html,pdf,xlsx,md")
    render = RenderConfig.from_dict(cfg.get("render"), where=f"{where}: render")
    tv = reject_unknown(
        dict(cfg.get("tradingview") or {}), ["enabled", "top", "secret_env"], f"{where}: tradingview"
    )
    notify = NotifyConfig.from_dict(cfg.get("notify"), where=f"{where}: notify")
    ray_cfg = reject_unknown(
        dict(cfg.get("ray") or {}), ["address", "num_cpus", "object_store_memory_mb"], f"{where}: ray"
    )
    use_ray = bool(cfg.get("use_ray", True))
    so = cfg.get("storage_options") or None
    if use_ray:
        from quantray.dist import connect

        connect(
            ray_cfg.get("address"),
            num_cpus=ray_cfg.get("num_cpus"),
            object_store_memory_mb=ray_cfg.get("object_store_memory_mb"),
        )
    summary: dict[str, Any] = {
        "job": "quarterly",
        "started_at": datetime.now(UTC).isoformat(),
        "quarter": quarter,
        "out": out,
        "reports": [],
        "errors": [],
    }
    for item in items:
        t0 = time.perf_counter()
        try:
            report = build_quarterly_report(
                item["name"],
                quarter,
                data=item.get("data") or cfg.get("data"),
                symbols=item.get("symbols"),
                use_ray=use_ray,
                address=ray_cfg.get("address"),
                num_cpus=ray_cfg.get("num_cpus"),
            )
            rendered = render_report(report, formats, None, config=render)
            saved = save_report(report, out, storage_options=so, force=bool(cfg.get("force", False)))
            from quantray.reports._render import FORMATS
            from quantray.reports._store import write_bytes_atomic

            files = {}
            for f, content in rendered.items():
                data = content.encode("utf-8") if isinstance(content, str) else content
                files[f] = write_bytes_atomic(f"{saved.url}/{FORMATS[f]}", data, storage_options=so)
            entry: dict[str, Any] = {
                "portfolio": report.portfolio,
                "quarter": report.label,
                "dir": saved.url,
                "files": files,
                "n_symbols": len(report.rows),
                "total_return": report.portfolio_metrics.get("total_return"),
                "sharpe": report.portfolio_metrics.get("sharpe"),
                "benchmark_return": report.benchmark.get("metrics", {}).get("total_return"),
                "top": [
                    {
                        "symbol": r.tv_symbol,
                        "strategy": r.strategy,
                        "params": r.params,
                        "sharpe": r.metric("sharpe"),
                    }
                    for r in report.get_top_performers(min(render.top, len(report.rows)), render.metric)
                ],
            }
            if tv.get("enabled", True):
                tv_dir = f"{saved.url}/tradingview"
                try:
                    entry["tradingview"] = _export_tradingview(
                        report,
                        int(tv.get("top", 10)),
                        tv_dir,
                        secret_env=tv.get("secret_env"),
                        storage_options=so,
                    )
                except QuantrayError as exc:
                    entry["tradingview"] = {"error": str(exc)}
                    summary["errors"].append(f"{item['name']}: TradingView export: {exc}")
            entry["elapsed_s"] = round(time.perf_counter() - t0, 2)
            summary["reports"].append(entry)
            print(
                f"{report.portfolio} {report.label}: {len(report.rows)} symbols, return "
                f"{report.portfolio_metrics.get('total_return', float('nan')):.2%} -> {saved.url} "
                f"({entry['elapsed_s']}s)"
            )
        except QuantrayError as exc:
            summary["errors"].append(f"{item['name']}: {exc}")
            print(f"FAILED {item['name']}: {exc}", file=sys.stderr)
        except Exception as exc:  # an unexpected failure still notifies
            summary["errors"].append(f"{item['name']}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
    summary["status"] = "failed" if summary["errors"] else "succeeded"
    summary["finished_at"] = datetime.now(UTC).isoformat()
    summary["notifications"] = _notify(notify, summary)
    return summary


def _fmt(x: Any, spec: str) -> str:
    try:
        return format(float(x), spec)
    except (TypeError, ValueError):
        return "-"


def _notify(notify: Any, summary: dict[str, Any]) -> dict[str, str]:
    from quantray.reports import NotificationError, send_email, send_webhook

    sent: dict[str, str] = {}
    if notify.webhook is not None:
        try:
            sent["webhook"] = f"HTTP {send_webhook(notify.webhook, summary)}"
        except NotificationError as exc:
            sent["webhook"] = f"failed: {exc}"
            print(f"notification: {exc}", file=sys.stderr)
    if notify.email is not None:
        lines = [f"quantray quarterly job {summary['status']} ({summary['quarter']})", ""]
        attachments: list[str] = []
        for r in summary["reports"]:
            lines.append(
                f"{r['portfolio']} {r['quarter']}: {r['n_symbols']} symbols, return {_fmt(r['total_return'], '.2%')}, "
                f"Sharpe {_fmt(r['sharpe'], '.2f')}; benchmark {_fmt(r['benchmark_return'], '.2%')}; "
                f"stored at {r['dir']}"
            )
            for t in r["top"][:10]:
                lines.append(f"    {t['symbol']:<14} {t['strategy']:<18} Sharpe {_fmt(t['sharpe'], '.2f')}")
            pdf = r["files"].get("pdf")
            if pdf and "://" not in str(pdf) and Path(pdf).is_file():
                attachments.append(str(pdf))
        for e in summary["errors"]:
            lines.append(f"ERROR {e}")
        subject = f"[quantray] quarterly reports {summary['quarter']}: {summary['status']}"
        try:
            send_email(notify.email, subject, "\n".join(lines), attachments=attachments)
            sent["email"] = f"sent to {', '.join(notify.email.to)}"
        except NotificationError as exc:
            sent["email"] = f"failed: {exc}"
            print(f"notification: {exc}", file=sys.stderr)
    return sent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="jobs.quarterly", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--config", required=True, help="YAML file (see jobs/configs/quarterly.yaml)")
    ap.add_argument("--quarter", help="override `quarter` (YYYYQn or latest)")
    ap.add_argument("--portfolio", action="append", help="override `portfolios` (repeatable)")
    ap.add_argument("--data", help="override `data` (bars path/URL for every portfolio)")
    ap.add_argument("--out", help="override `out` (local path or s3:// URL)")
    ap.add_argument("--address", help="Ray address (default: RAY_ADDRESS, else an embedded local cluster)")
    ap.add_argument("--no-ray", action="store_true", help="run the selection in process (no Ray)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    raw = load_yaml(args.config)
    if not isinstance(raw, dict):
        raise ConfigError(f"{args.config}: expected a mapping at the top level")
    if args.quarter:
        raw["quarter"] = args.quarter
    if args.portfolio:
        raw["portfolios"] = args.portfolio
    if args.data:
        raw["data"] = args.data
    if args.out:
        raw["out"] = args.out
    if args.address:
        raw.setdefault("ray", {})["address"] = args.address
    if args.no_ray:
        raw["use_ray"] = False
    summary = run_job(raw, where=args.config)
    print(f"status: {summary['status']}; notifications: {summary['notifications'] or 'none configured'}")
    return 0 if summary["status"] == "succeeded" else 1


if __name__ == "__main__":
    run_main(main)
