"""``quantray tradingview export``: Pine Script, alerts and a watchlist for a report's top performers.

Example::

    quantray tradingview export --report reports/sample/2017/Q4 --top 10 --out tv/2017Q4
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

__all__ = ["add_tradingview_parsers"]

SECRET_ENV = "QUANTRAY_TRADINGVIEW_SECRET"
"""The environment variable the Serve intake reads its secret from; the export uses it when --secret is absent."""


def _cmd_export(args: argparse.Namespace) -> int:
    from quantray.cli._research import _clean
    from quantray.reports.tradingview import export_tradingview

    secret = args.secret or os.environ.get(SECRET_ENV) or None
    res = export_tradingview(
        args.report, top=args.top, out=args.out, secret=secret, metric=args.metric, data=args.data
    )
    if args.json:
        payload: dict[str, Any] = res.to_dict()
        if res.secret_generated:
            payload["secret"] = res.secret
        print(json.dumps(_clean(payload)))
        return 0
    lines = [f"TradingView export of {res.report}: top {len(res.symbols)} by {res.metric} -> {res.out}"]
    for s in res.symbols:
        th = s.thresholds
        lines.append(
            f"  {s.rank:>2}. {s.tv_symbol:<18} {s.strategy:<20} {res.metric}={s.metric_value:.4g}  "
            f"stop={th.stop_loss_pct:.4g} target={th.take_profit_pct:.4g} large_move={th.large_move_pct:.4g} "
            f"({th.source})"
        )
    lines.append(f"  files: {', '.join(['watchlist.txt', 'alerts.json', 'manifest.json'])} and pine/*.pine")
    if res.secret_generated:
        lines.append(
            f"  webhook secret (generated; set {SECRET_ENV} on the Serve intake to the same): {res.secret}"
        )
    print("\n".join(lines))
    return 0


def add_tradingview_parsers(subparsers: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``tradingview export`` to the main parser's sub-parsers."""
    tv = subparsers.add_parser(
        "tradingview", help="TradingView export of a quarterly report's top performers"
    )
    tsub = tv.add_subparsers(dest="tradingview_verb", required=True, parser_class=parser_class)
    ex = tsub.add_parser(
        "export",
        help="Pine Script v6 indicator + strategy per symbol, alerts JSON, watchlist and manifest",
    )
    ex.add_argument(
        "--report", required=True, help="a stored report: its directory or report.json (local/s3)"
    )
    ex.add_argument("--top", type=int, default=10, help="how many top performers (default 10)")
    ex.add_argument("--out", required=True, help="export directory (replaced atomically)")
    ex.add_argument(
        "--secret",
        help=f"webhook shared secret embedded in the alert messages (default ${SECRET_ENV}, else generated)",
    )
    ex.add_argument("--metric", default="sharpe", help="ranking metric (default sharpe)")
    ex.add_argument("--data", help="bars URL overriding the report's (for the thresholds' backtests)")
    ex.add_argument("--json", action="store_true", help="print one JSON object")
    ex.set_defaults(func=_cmd_export)
