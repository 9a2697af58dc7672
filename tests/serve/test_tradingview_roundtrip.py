"""The TradingView export and the Serve intake agree: every alert message that ``quantray tradingview export``
writes for a real quarterly report, once TradingView has substituted its placeholders, is accepted by
``POST /v1/tradingview/webhook`` (202), and a second delivery of the same alert is recognised as a duplicate."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import TV_SECRET

from quantray.reports import build_quarterly_report
from quantray.reports.tradingview import PLACEHOLDERS, export_tradingview

# What TradingView puts in place of each placeholder when an alert fires on a daily NASDAQ chart.
FIRED = {
    "{{ticker}}": None,  # the alert's own ticker
    "{{exchange}}": None,  # the alert's own exchange
    "{{close}}": "187.25",
    "{{timenow}}": "2026-01-02T21:00:00Z",
    "{{interval}}": "1D",
    "{{strategy.order.action}}": "buy",
    "{{strategy.order.contracts}}": "12",
}


def fired(alert: dict[str, str]) -> str:
    """The body TradingView posts when ``alert`` fires: its message with every placeholder substituted."""
    exchange, _, ticker = alert["symbol"].partition(":")
    body = alert["message"]
    for placeholder, value in FIRED.items():
        body = body.replace(placeholder, value or (ticker if "ticker" in placeholder else exchange))
    return body


def test_every_exported_alert_is_accepted_by_the_intake(http: httpx.Client, tmp_path: Path) -> None:
    assert set(PLACEHOLDERS) <= set(FIRED)
    report = build_quarterly_report("sample", "2017Q4", symbols=["AAPL", "MSFT", "JPM"])
    result = export_tradingview(report, top=3, out=tmp_path / "tv", secret=TV_SECRET)
    alerts = json.loads((Path(result.out) / "alerts.json").read_text())["alerts"]
    tickers = {a["ticker"] for a in alerts}
    assert tickers == {"AAPL", "MSFT", "JPM"}

    ids = []
    for alert in alerts:
        body = fired(alert)
        assert "{{" not in body, body
        r = http.post("/v1/tradingview/webhook", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 202, (alert["condition"], r.status_code, r.text)
        ids.append(r.json()["id"])
    assert len(set(ids)) == len(ids)  # distinct conditions are distinct alerts

    r = http.post(
        "/v1/tradingview/webhook", content=fired(alerts[0]), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200 and r.json() == {"status": "duplicate", "id": ids[0]}
