"""``quantray report ...`` and ``quantray portfolios list``: quarterly portfolio reports.

* ``report quarterly --portfolio NAME --quarter 2017Q4 [--format html,pdf,xlsx,md] [--out URL] [--data PATH]
  [--branding FILE] [--template-dir DIR] [--ray] [--json]``: build the report from real backtests, store it under
  ``{out}/reports/{portfolio}/{YYYY}/Q{n}/`` (default ``out``: ``./results``) and render the formats there.
* ``report list --root URL [--portfolio NAME]``, ``report show PATH|--latest``: stored reports.
* ``portfolios list``: the bundled portfolios.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

DEFAULT_ROOT = "results"


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _render_config(args: argparse.Namespace) -> Any:
    from quantray.reports import RenderConfig

    raw: dict[str, Any] = {}
    if args.branding:
        import yaml

        from quantray.errors import ConfigError

        try:
            with open(args.branding, encoding="utf-8") as f:
                loaded = yaml.safe_load(f) or {}
        except OSError as exc:
            raise ConfigError(f"--branding: cannot read {args.branding!r}: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--branding: {args.branding!r} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--branding: {args.branding!r} must hold a mapping")
        render_keys = ("branding", "template_dir", "top", "metric")
        if "branding" in loaded:  # the full render form: {branding: {...}, template_dir, top, metric}
            raw = dict(loaded)
        else:  # flat branding keys
            raw = {"branding": {k: v for k, v in loaded.items() if k not in render_keys}}
            raw.update({k: loaded[k] for k in render_keys[1:] if k in loaded})
    if args.template_dir:
        raw["template_dir"] = args.template_dir
    if args.top:
        raw["top"] = args.top
    return RenderConfig.from_dict(raw, where="--branding" if args.branding else "render")


def _cmd_report_quarterly(args: argparse.Namespace) -> int:
    from quantray.reports import (
        build_quarterly_report,
        parse_formats,
        parse_quarter,
        render_report,
        save_report,
    )

    formats = parse_formats(args.format)
    cfg = _render_config(args)
    parse_quarter(args.quarter)
    report = build_quarterly_report(
        args.portfolio,
        args.quarter,
        data=args.data,
        symbols=args.symbol,
        use_ray=args.ray,
        address=args.address,
        num_cpus=args.num_cpus,
    )
    root = args.out or DEFAULT_ROOT
    # render first (a template error writes nothing), then store the manifest, then the rendered files
    rendered = render_report(report, formats, None, config=cfg)
    saved = save_report(report, root, force=args.force)
    from quantray.reports._render import FORMATS
    from quantray.reports._store import write_bytes_atomic

    files = {}
    for f, content in rendered.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        files[f] = write_bytes_atomic(f"{saved.url}/{FORMATS[f]}", data)
    top = report.get_top_performers(min(cfg.top, len(report.rows)), metric=cfg.metric)
    if args.json:
        print(
            json.dumps(
                {
                    "portfolio": report.portfolio,
                    "quarter": report.label,
                    "generated_at": report.generated_at.isoformat(),
                    "dir": saved.url,
                    "manifest": saved.manifest,
                    "replaced": saved.replaced,
                    "files": files,
                    "n_symbols": len(report.rows),
                    "portfolio_metrics": {k: _jsonable(v) for k, v in report.portfolio_metrics.items()},
                    "benchmark": {
                        "name": report.benchmark.get("name"),
                        "metrics": {k: _jsonable(v) for k, v in report.benchmark.get("metrics", {}).items()},
                    },
                    "top": [
                        {
                            "symbol": r.symbol,
                            "exchange": r.exchange,
                            "strategy": r.strategy,
                            "params": r.params,
                            "sharpe": _jsonable(r.metric("sharpe")),
                            "total_return": _jsonable(r.metric("total_return")),
                        }
                        for r in top
                    ],
                    "notes": list(report.notes),
                }
            )
        )
        return 0
    pm, bm = report.portfolio_metrics, report.benchmark.get("metrics", {})
    print(
        f"{report.portfolio} {report.label}: {len(report.rows)} symbols; portfolio return "
        f"{pm.get('total_return', math.nan):.2%} (Sharpe {pm.get('sharpe', math.nan):.2f}) vs "
        f"{report.benchmark.get('name')} {bm.get('total_return', math.nan):.2%}"
    )
    print(f"top {len(top)} by {cfg.metric}:")
    for i, r in enumerate(top, 1):
        params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "-"
        print(
            f"  {i:>2}. {r.tv_symbol:<14} {r.strategy:<18} {params:<34} return {r.metric('total_return'):>7.2%}  "
            f"Sharpe {r.metric('sharpe'):>5.2f}"
        )
    print(f"stored: {saved.manifest}")
    for f, url in files.items():
        print(f"{f}: {url}")
    for n in report.notes:
        print(f"note: {n}", file=sys.stderr)
    return 0


def _cmd_report_list(args: argparse.Namespace) -> int:
    from quantray.reports import list_portfolios, list_reports

    names = [args.portfolio] if args.portfolio else _stored_portfolios(args.root) or list_portfolios()
    found = [
        {"portfolio": p, "quarter": f"{y}Q{q}", "dir": d}
        for p in names
        for (y, q, d) in list_reports(args.root, p)
    ]
    if args.json:
        print(json.dumps({"root": args.root, "reports": found}))
        return 0
    if not found:
        print(f"no reports under {args.root}/reports/")
    for f in found:
        print(f"{f['portfolio']:<12} {f['quarter']}  {f['dir']}")
    return 0


def _stored_portfolios(root: str) -> list[str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(f"{root.rstrip('/')}/reports")
    try:
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
    except (FileNotFoundError, OSError):
        return []


def _cmd_report_show(args: argparse.Namespace) -> int:
    from quantray.errors import ConfigError
    from quantray.reports import load_latest_report, load_report

    if args.latest:
        if not args.portfolio:
            raise ConfigError("report show --latest needs --portfolio NAME")
        rep = load_latest_report(args.root, args.portfolio)
    elif args.path:
        rep = load_report(args.path)
    else:
        raise ConfigError(
            "report show: give PATH (a report directory or report.json) or --latest --portfolio NAME"
        )
    if args.json:
        print(json.dumps(rep.to_dict()))
        return 0
    print(f"{rep.portfolio} {rep.label} (generated {rep.generated_at.isoformat()}), {len(rep.rows)} symbols")
    for i, r in enumerate(rep.get_top_performers(min(args.top, max(1, len(rep.rows))), args.metric), 1):
        print(f"  {i:>2}. {r.tv_symbol:<14} {r.strategy:<18} {args.metric} {r.metric(args.metric):.3f}")
    return 0


def _cmd_portfolios_list(args: argparse.Namespace) -> int:
    from quantray.reports import list_portfolios, load_portfolio

    out = []
    for name in list_portfolios():
        p = load_portfolio(name)
        out.append(
            {
                "name": p.name,
                "description": p.description,
                "data": p.data,
                "symbols": list(p.symbols) if p.symbols else None,
                "benchmark": p.benchmark.name,
                "strategies": ", ".join(s.name for s in p.strategies),
            }
        )
    if args.json:
        print(json.dumps(out))
        return 0
    for o in out:
        print(f"{o['name']}: {o['description']}")
        print(f"    data: {o['data']}; benchmark: {o['benchmark']}; strategies: {o['strategies']}")
    return 0


def add_report_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``report quarterly|list|show`` and ``portfolios list``."""
    r = subparsers.add_parser("report", help="quarterly portfolio reports (HTML, PDF, Excel, Markdown)")
    rsub = r.add_subparsers(dest="report_verb", required=True, parser_class=parser_class)
    q = rsub.add_parser("quarterly", help="build, store and render a portfolio's quarterly report")
    q.add_argument(
        "--portfolio", required=True, help="a bundled portfolio (`quantray portfolios list`) or YAML path"
    )
    q.add_argument(
        "--quarter", required=True, help="e.g. 2017Q4, or `latest` (the newest complete quarter of the data)"
    )
    q.add_argument("--format", default="html,pdf,xlsx,md", help="comma-separated: html,pdf,xlsx,md")
    q.add_argument(
        "--out",
        help=f"root URL, local or s3:// (default ./{DEFAULT_ROOT}); the report goes under "
        "{out}/reports/{portfolio}/{YYYY}/Q{n}/",
    )
    q.add_argument("--data", help="override the portfolio's bars path/URL")
    q.add_argument("--symbol", action="append", help="restrict to this symbol (repeatable)")
    q.add_argument(
        "--branding", help="YAML with branding keys (name, logo, primary_color, accent_color, footer)"
    )
    q.add_argument(
        "--template-dir", help="directory whose report.html.j2 / report.md.j2 override the bundled ones"
    )
    q.add_argument("--top", type=int, help="rows in the top-performers table (default 10)")
    q.add_argument("--ray", action="store_true", help="run the selection sweeps on Ray (quantray.sweep)")
    q.add_argument("--address", help="Ray address (with --ray)")
    q.add_argument("--num-cpus", type=int, help="CPUs of an embedded local Ray (with --ray)")
    q.add_argument("--force", action="store_true", help="replace a stored report even if it is newer")
    q.add_argument("--json", action="store_true", help="print exactly one JSON object")
    q.set_defaults(func=_cmd_report_quarterly)
    ls = rsub.add_parser("list", help="stored reports under a root")
    ls.add_argument("--root", default=DEFAULT_ROOT)
    ls.add_argument("--portfolio")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_cmd_report_list)
    sh = rsub.add_parser("show", help="a stored report's top performers")
    sh.add_argument("path", nargs="?", help="report directory or report.json (local or s3://)")
    sh.add_argument("--latest", action="store_true", help="the newest quarter of --portfolio under --root")
    sh.add_argument("--root", default=DEFAULT_ROOT)
    sh.add_argument("--portfolio")
    sh.add_argument("--metric", default="sharpe")
    sh.add_argument("--top", type=int, default=10)
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=_cmd_report_show)

    p = subparsers.add_parser("portfolios", help="the bundled portfolios")
    psub = p.add_subparsers(dest="portfolios_verb", required=True, parser_class=parser_class)
    pl = psub.add_parser("list", help="list bundled portfolios")
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=_cmd_portfolios_list)
