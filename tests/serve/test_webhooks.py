"""Webhooks both ways over real HTTP on loopback.

Incoming: TradingView alerts at /v1/tradingview/webhook as JSON or text bodies with the shared secret inside;
accepted ones answer 202 and are handed to Ray, which delivers them to `alert` subscribers; a duplicate delivery
answers 200 "duplicate" and is not delivered again; a wrong secret answers the uniform 401 and is audited; the
source-IP allowlist refuses loopback when it lists TradingView's addresses.
Outgoing: a loopback receiver verifies each HMAC-SHA256 signature (hashlib/hmac, independently of
quantray.webhooks); a receiver that answers 503 twice gets the event on the third attempt; one that always
fails ends in the dead-letter list; signal changes found by a refresh are delivered as `signal` events.
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import TV_SECRET, Receiver, bearer, synthetic_bars

from quantray.reports.tradingview import TRADINGVIEW_SOURCE_IPS, parse_tradingview_alert
from quantray.security import AuditLog
from quantray.webhooks import Subscription, deliver, signature_header, verify_signature


def _subscribe(
    http: httpx.Client, api: SimpleNamespace, receiver: Receiver, path: str, events: list[str]
) -> str:
    r = http.post(
        "/v1/webhooks", json={"url": receiver.url + path, "events": events}, headers=bearer(api.admin)
    )
    assert r.status_code == 201, r.text
    body = r.json()
    receiver.secrets[path] = body["secret"]
    listed = http.get("/v1/webhooks", headers=bearer(api.admin)).json()
    assert any(s["sub_id"] == body["sub_id"] and "secret" not in s for s in listed)
    return str(body["sub_id"])


def test_signature_roundtrip_and_delivery_retries_in_process(receiver: Receiver) -> None:
    body = b'{"a": 1}'
    header = signature_header("k" * 16, body, timestamp=1_700_000_000)
    assert verify_signature("k" * 16, header, body, now=1_700_000_100)
    assert not verify_signature("k" * 16, header, body, now=1_700_000_000 + 301)  # stale: replay refused
    assert not verify_signature("k" * 16, header, body + b" ", now=1_700_000_000)
    receiver.secrets["/flaky-lib"] = "s" * 20
    sub = Subscription(
        sub_id="lib", url=receiver.url + "/flaky-lib", events=("ping",), secret="s" * 20, created_at=0
    )
    sleeps: list[float] = []
    res = deliver(sub, "ping", {"x": 1}, attempts=4, backoff_s=0.01, sleep=sleeps.append)
    assert res.ok and res.attempts == 3 and res.statuses == [503, 503, 200]
    assert len(sleeps) == 2 and 0.008 <= sleeps[0] <= 0.012 and 0.016 <= sleeps[1] <= 0.024  # exponential


def test_tradingview_json_and_text_alerts_reach_subscribers(
    http: httpx.Client, api: SimpleNamespace, receiver: Receiver
) -> None:
    _subscribe(http, api, receiver, "/alerts", ["alert"])
    alert = {
        "v": 1,
        "secret": TV_SECRET,
        "ticker": "AAPL",
        "exchange": "NASDAQ",
        "strategy": "sma_cross",
        "action": "long",
        "price": "187.25",
        "time": "2026-01-02T15:30:00Z",
        "alert_id": "AAPL-sma_cross",
    }
    r = http.post(
        "/v1/tradingview/webhook", content=json.dumps(alert), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 202, r.text
    expected_id = parse_tradingview_alert(json.dumps(alert)).idempotency_key()
    assert r.json() == {"status": "accepted", "id": expected_id}
    text = (
        f"secret={TV_SECRET} ticker=BTCUSDT strategy=macd action=exit price=43000.5 time=2026-01-02T16:00:00Z"
    )
    r = http.post("/v1/tradingview/webhook", content=text, headers={"Content-Type": "text/plain"})
    assert r.status_code == 202, r.text
    text_id = r.json()["id"]

    got = receiver.wait_for(lambda d: d["path"] == "/alerts" and d["json"]["data"]["id"] == expected_id)
    first = got[0]
    assert first["verified"] and first["event"] == "alert" and first["json"]["event"] == "alert"
    data = first["json"]["data"]
    assert data["ticker"] == "AAPL" and data["action"] == "buy" and data["price"] == 187.25
    assert "secret" not in data and TV_SECRET not in json.dumps(first["json"])
    got = receiver.wait_for(lambda d: d["path"] == "/alerts" and d["json"]["data"]["id"] == text_id)
    assert got[0]["json"]["data"]["action"] == "flat" and got[0]["json"]["data"]["ticker"] == "BTCUSDT"

    # a duplicate delivery is recognised and not delivered again
    r = http.post(
        "/v1/tradingview/webhook", content=json.dumps(alert), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200 and r.json() == {"status": "duplicate", "id": expected_id}
    time.sleep(1.0)
    assert len([d for d in receiver.received if d["json"]["data"].get("id") == expected_id]) == 1
    # the intake's own record, with the deliveries made by the Ray task
    deadline = time.monotonic() + 30
    while True:
        alerts = http.get("/v1/alerts", headers=bearer(api.admin)).json()["alerts"]
        mine = [a for a in alerts if a["id"] == expected_id]
        if mine and mine[0]["processed"]:
            break
        assert time.monotonic() < deadline, alerts
        time.sleep(0.2)
    assert [d["ok"] for d in mine[0]["deliveries"]] == [True]


def test_tradingview_wrong_secret_bad_payload_and_allowlist(http: httpx.Client, api: SimpleNamespace) -> None:
    before = len(AuditLog(home=str(api.home)).read())
    r = http.post(
        "/v1/tradingview/webhook",
        content="secret=not-the-secret ticker=MSFT strategy=macd action=buy",
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 401 and r.json() == {"detail": "invalid or missing credentials"}
    r = http.post(
        "/v1/tradingview/webhook", content="ticker=MSFT action=buy", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 400 and "secret" in r.json()["detail"]
    # the audit record is appended after the response is sent: wait for it rather than race it
    records = _audit_after(api, before, lambda recs: any(x.get("detail") == "wrong secret" for x in recs))
    wrong = [x for x in records if x.get("detail") == "wrong secret"]
    assert len(wrong) == 1
    assert wrong[0]["action"] == "POST /v1/tradingview/webhook" and wrong[0]["target"] == "MSFT/macd"
    assert wrong[0]["outcome"] == 401 and "not-the-secret" not in json.dumps(records)

    settings_path = api.home / "serve.json"
    original = settings_path.read_text()
    try:
        settings_path.write_text(json.dumps({**json.loads(original), "tradingview_allow_ips": "tradingview"}))
        ok = f"secret={TV_SECRET} ticker=MSFT strategy=macd action=buy time=allowlist-check"
        r = http.post("/v1/tradingview/webhook", content=ok, headers={"Content-Type": "text/plain"})
        assert r.status_code == 403  # loopback is not one of TradingView's addresses
        assert "127.0.0.1" not in TRADINGVIEW_SOURCE_IPS
        settings_path.write_text(json.dumps({**json.loads(original), "tradingview_allow_ips": ["127.0.0.1"]}))
        r = http.post("/v1/tradingview/webhook", content=ok, headers={"Content-Type": "text/plain"})
        assert r.status_code == 202
    finally:
        settings_path.write_text(original)
    recs = _audit_after(api, before, lambda recs: [x["outcome"] for x in recs][-2:] == [403, 202])
    assert (recs[-2]["outcome"], recs[-2].get("detail")) == (403, "source address not allowed")


def _audit_after(api: SimpleNamespace, before: int, done: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The audit records after the first ``before``, once ``done(records)`` holds: the server appends a
    request's record after sending its response, so a client reading at once can miss the last ones (the full
    suite, on 2 busy cores, did)."""
    deadline = time.monotonic() + timeout
    while True:
        recs = AuditLog(home=str(api.home)).read()[before:]
        if done(recs) or time.monotonic() > deadline:
            return recs
        time.sleep(0.1)


def test_retries_and_dead_letters_through_the_api(
    http: httpx.Client, api: SimpleNamespace, receiver: Receiver
) -> None:
    flaky = _subscribe(http, api, receiver, "/flaky-api", ["ping"])
    down = _subscribe(http, api, receiver, "/down-api", ["ping"])
    for sub_id in (flaky, down):
        assert http.post(f"/v1/webhooks/{sub_id}/ping", headers=bearer(api.admin)).status_code == 202
    got = receiver.wait_for(lambda d: d["path"] == "/flaky-api" and d["attempt"] == 3)
    assert got[0]["verified"] and got[0]["event"] == "ping"
    deadline = time.monotonic() + 60
    while True:
        dead = http.get("/v1/webhooks/dead-letters", headers=bearer(api.admin)).json()["records"]
        mine = [d for d in dead if d["sub_id"] == down]
        if mine:
            break
        assert time.monotonic() < deadline, dead
        time.sleep(0.3)
    assert mine[0]["attempts"] == 4 and mine[0]["statuses"] == [500] * 4 and mine[0]["event"] == "ping"
    assert receiver.counts["/down-api"] == 4
    assert not any(d["sub_id"] == flaky for d in dead)
    assert http.delete(f"/v1/webhooks/{down}", headers=bearer(api.admin)).status_code == 204
    assert http.delete(f"/v1/webhooks/{down}", headers=bearer(api.admin)).status_code == 404


def _ema_cross_reference(close: pd.Series, fast: int, slow: int) -> list[int]:
    """Slow, obvious reference of ema_cross: +1 from a cross of EMA(fast) above EMA(slow), 0 from one below."""
    ef = close.ewm(span=fast, adjust=False).mean()
    es = close.ewm(span=slow, adjust=False).mean()
    d = (ef - es).to_numpy()
    pos, out = 0, []
    for t in range(len(d)):
        if t >= slow:
            if d[t] > 0 >= d[t - 1]:
                pos = 1
            elif d[t] < 0 <= d[t - 1]:
                pos = 0
        out.append(pos)
    return out


def test_signal_changes_are_delivered_as_signal_events(
    http: httpx.Client, api: SimpleNamespace, receiver: Receiver
) -> None:
    _subscribe(http, api, receiver, "/signals", ["signal"])
    r = http.get("/v1/signals/TST/ema_cross", headers=bearer(api.admin))
    assert r.status_code == 200
    before = r.json()["signals"][0]["position"]
    # new bars: the same history, then 30 bars trending hard against the current position
    bars = synthetic_bars(300)
    extra = synthetic_bars(330, end_trend=-3.0 if before == 1 else 3.0)
    extra = pd.concat(
        [
            bars,
            extra.iloc[300:].assign(close=lambda f: f["close"] - f["close"].iloc[0] + bars["close"].iloc[-1]),
        ]
    )
    extra = extra.assign(open=extra["close"], high=extra["close"] + 0.5, low=extra["close"] - 0.5)
    extra.to_parquet(api.home / "tst.parquet")
    want = _ema_cross_reference(extra["close"].reset_index(drop=True), 3, 12)[-1]
    assert want != before
    r = http.post("/v1/signals/refresh", headers=bearer(api.admin))
    assert r.status_code == 200
    changed = {(s["symbol"], s["strategy"]): s["position"] for s in r.json()["signals"]}
    assert changed == {("TST", "ema_cross"): want}
    got = receiver.wait_for(lambda d: d["path"] == "/signals")
    assert got[0]["verified"] and got[0]["event"] == "signal"
    assert got[0]["json"]["data"]["symbol"] == "TST" and got[0]["json"]["data"]["position"] == want
    assert (
        http.get("/v1/signals/TST/ema_cross", headers=bearer(api.admin)).json()["signals"][0]["position"]
        == want
    )


@pytest.mark.parametrize("url", ["ftp://x/y", "not a url"])
def test_bad_subscription_urls_are_422(http: httpx.Client, api: SimpleNamespace, url: str) -> None:
    r = http.post("/v1/webhooks", json={"url": url, "events": ["alert"]}, headers=bearer(api.admin))
    assert r.status_code == 422 and "url" in r.json()["detail"]
