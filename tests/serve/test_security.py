"""Security of the API over real HTTP: keys (Bearer and X-API-Key), scopes, rotation overlap, revocation,
per-key token buckets (429 + Retry-After), 413 body limits, CORS, and the hash-chained audit log; plus the
key store, rate limiter and audit log as libraries, and the `quantray keys` CLI against the running server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import CORS_ORIGIN, MAX_BODY, bearer

from quantray.cli import main
from quantray.errors import ConfigError, DataError
from quantray.security import AuditLog, KeyStore, RateLimiter, scope_allows, verify_audit_log

UNAUTHORIZED = {"detail": "invalid or missing credentials"}


# ------------------------------------------------------------------------------------------- libraries
def test_keys_are_hashed_at_rest_and_verified(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, text = store.create(name="svc", scope="trade")
    raw = (tmp_path / "keys.json").read_text()
    secret = text.split("_", 2)[2]
    assert secret not in raw and text not in raw
    assert (tmp_path / "keys.json").stat().st_mode & 0o077 == 0
    assert store.verify(text) == key
    for bad in (
        None,
        "",
        text[:-1] + ("A" if text[-1] != "A" else "B"),
        "qr_000000000000_" + secret,
        "garbage",
    ):
        assert store.verify(bad) is None
    assert (
        scope_allows("admin", "trade") and scope_allows("trade", "read") and not scope_allows("read", "trade")
    )
    with pytest.raises(ConfigError, match="scope"):
        store.create(name="x", scope="root")
    with pytest.raises(ConfigError, match="name"):
        store.create(name="bad name!", scope="read")


def test_rate_limiter_is_a_token_bucket() -> None:
    now = [0.0]
    rl = RateLimiter(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [rl.check("a")[0] for _ in range(4)] == [True, True, True, False]
    assert rl.check("b") == (True, 0)  # buckets are per key
    assert rl.check("a") == (False, 1)  # 1 token needs 0.5 s at 2/s: Retry-After rounds up to 1
    now[0] = 0.5
    assert rl.check("a") == (True, 0)
    assert rl.check("a")[0] is False
    now[0] = 100.0  # refills to the capacity, not beyond
    assert [rl.check("a")[0] for _ in range(4)] == [True, True, True, False]
    slow = RateLimiter(rate=0.1, burst=1, clock=lambda: 0.0)
    assert slow.check("k") == (True, 0) and slow.check("k") == (False, 10)


def test_audit_log_chain_detects_edits(tmp_path: Path) -> None:
    log = AuditLog(home=str(tmp_path))
    for i in range(3):
        log.append(key_id=f"k{i}", action="POST /v1/x", target=f"t{i}", outcome=200)
    assert verify_audit_log(log.path) == 3
    lines = log.path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["outcome"] = 403
    log.path.write_text("\n".join([lines[0], json.dumps(edited), lines[2]]) + "\n")
    with pytest.raises(DataError, match="line 2"):
        verify_audit_log(log.path)
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")  # a record removed
    with pytest.raises(DataError, match="line 2"):
        verify_audit_log(log.path)


# ------------------------------------------------------------------------------------------ over HTTP
def test_bearer_and_x_api_key_and_uniform_401(http: httpx.Client, api: SimpleNamespace) -> None:
    key, text = api.store.create(name="reader", scope="read")
    for headers in (bearer(text), {"X-API-Key": text}):
        r = http.get("/v1/whoami", headers=headers)
        assert r.status_code == 200
        assert r.json() == {"key_id": key.key_id, "name": "reader", "scope": "read"}
    revoked, revoked_text = api.store.create(name="gone", scope="admin")
    api.store.revoke(revoked.key_id)
    wrong_secret = text[: text.rindex("_") + 1] + "x" * 43
    unknown_id = "qr_ffffffffffff_" + text.rsplit("_", 1)[1]
    bodies = []
    for headers in (
        {},
        bearer("nonsense"),
        bearer(wrong_secret),
        bearer(unknown_id),
        bearer(revoked_text),
        {"X-API-Key": revoked_text},
        {"Authorization": f"Basic {text}"},
    ):
        r = http.get("/v1/whoami", headers=headers)
        assert r.status_code == 401, headers
        bodies.append((r.json(), r.headers.get("www-authenticate")))
    assert all(b == (UNAUTHORIZED, "Bearer") for b in bodies), bodies  # never says which part failed


def test_scopes_read_trade_admin(http: httpx.Client, api: SimpleNamespace) -> None:
    _, read = api.store.create(name="s-read", scope="read")
    _, trade = api.store.create(name="s-trade", scope="trade")
    job = {"strategy": "sma_cross", "symbols": ["AAPL"], "params": {"fast": 5, "slow": 20}}
    r = http.post("/v1/backtests", json=job, headers=bearer(read))
    assert r.status_code == 403 and r.json() == {"detail": "forbidden"}
    assert http.get("/v1/audit", headers=bearer(trade)).status_code == 403
    assert http.get("/v1/webhooks", headers=bearer(trade)).status_code == 403
    assert http.get("/v1/signals", headers=bearer(read)).status_code == 200
    r = http.post("/v1/backtests", json=job, headers=bearer(trade))
    assert r.status_code == 202, r.text
    assert http.get("/v1/audit", headers=bearer(api.admin)).status_code == 200


def test_rotation_overlap_then_expiry(http: httpx.Client, api: SimpleNamespace) -> None:
    old, old_text = api.store.create(name="rotating", scope="read")
    new, new_text = api.store.rotate(old.key_id, overlap_s=3600)
    assert new.name == old.name and new.scope == old.scope and new.key_id != old.key_id
    for text in (old_text, new_text):  # both work inside the overlap window
        assert http.get("/v1/whoami", headers=bearer(text)).json()["key_id"] in (old.key_id, new.key_id)
    newer, newer_text = api.store.rotate(new.key_id, overlap_s=0)  # no overlap: the old one stops at once
    assert http.get("/v1/whoami", headers=bearer(new_text)).status_code == 401
    assert http.get("/v1/whoami", headers=bearer(newer_text)).json()["key_id"] == newer.key_id
    assert http.get("/v1/whoami", headers=bearer(old_text)).status_code == 200  # its own window is still open
    statuses = {k.key_id: k.status() for k in api.store.list()}
    assert statuses[old.key_id] == "expiring" and statuses[new.key_id] == "expired"
    assert statuses[newer.key_id] == "active"


def test_rate_limit_429_with_retry_after_per_key(http: httpx.Client, api: SimpleNamespace) -> None:
    _, slow = api.store.create(name="slow", scope="read", rate_per_s=0.01, burst=3)
    codes = [http.get("/v1/whoami", headers=bearer(slow)).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = http.get("/v1/whoami", headers=bearer(slow))
    assert r.status_code == 429
    retry_after = int(r.headers["Retry-After"])
    assert 1 <= retry_after <= 100  # one token at 0.01/s takes at most 100 s
    # GraphQL draws on the same bucket
    assert (
        http.post("/v1/graphql", json={"query": "{ strategies { name } }"}, headers=bearer(slow)).status_code
        == 429
    )
    # another key is not affected
    assert http.get("/v1/whoami", headers=bearer(api.admin)).status_code == 200


def test_oversized_bodies_are_413_and_audited(http: httpx.Client, api: SimpleNamespace) -> None:
    already = len(AuditLog(home=str(api.home)).read())  # earlier tests (fuzzing) may have audited 413s too
    big = b"{" + b" " * (MAX_BODY + 10) + b"}"
    r = http.post(
        "/v1/backtest", content=big, headers={**bearer(api.admin), "Content-Type": "application/json"}
    )
    assert r.status_code == 413

    # streamed without a Content-Length: counted as it arrives
    def chunks():
        for _ in range(20):
            yield b" " * 8192

    r = http.post(
        "/v1/backtest", content=chunks(), headers={**bearer(api.admin), "Content-Type": "application/json"}
    )
    assert r.status_code == 413
    r = http.post("/v1/tradingview/webhook", content=b"x" * 9000, headers={"Content-Type": "text/plain"})
    assert r.status_code == 413
    records = AuditLog(home=str(api.home)).read()[already:]
    big_ones = [x for x in records if x["action"] == "POST /v1/backtest" and x["outcome"] == 413]
    assert len(big_ones) >= 2 and all(x["key_id"] == api.admin_id for x in big_ones)


def test_cors_allows_only_the_configured_origin(http: httpx.Client) -> None:
    pre = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    r = http.options("/v1/signals", headers={"Origin": CORS_ORIGIN, **pre})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == CORS_ORIGIN
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = http.options("/v1/signals", headers={"Origin": "https://evil.example.org", **pre})
    assert "access-control-allow-origin" not in r.headers
    r = http.get("/v1/health", headers={"Origin": CORS_ORIGIN})
    assert r.headers["access-control-allow-origin"] == CORS_ORIGIN


def test_every_mutating_call_is_audited(http: httpx.Client, api: SimpleNamespace) -> None:
    key, text = api.store.create(name="audited", scope="read")
    before = len(AuditLog(home=str(api.home)).read())
    http.post("/v1/backtest", json={"strategy": "sma_cross", "symbols": ["AAPL"]}, headers=bearer(text))
    http.post("/v1/backtests", json={"strategy": "sma_cross"}, headers=bearer(text))  # 403
    http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ["alert"]})  # 401
    http.get("/v1/signals", headers=bearer(text))  # not mutating: not audited
    deadline = time.monotonic() + 15  # a record is appended after its response is sent: wait, do not race
    while len(records := AuditLog(home=str(api.home)).read()[before:]) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    got = [(r["key_id"], r["action"], r["target"], r["outcome"]) for r in records]
    assert (key.key_id, "POST /v1/backtest", "/v1/backtest", 200) in got
    assert (key.key_id, "POST /v1/backtests", "/v1/backtests", 403) in got
    assert (None, "POST /v1/webhooks", "/v1/webhooks", 401) in got
    assert not any(a.startswith("GET") for _, a, _, _ in got)
    assert all(r["time"].endswith("+00:00") and r["client"] == "127.0.0.1" for r in records)
    assert verify_audit_log(api.home / "audit.log") >= len(records)
    r = http.get("/v1/audit", params={"limit": 3}, headers=bearer(api.admin))
    assert [x["hash"] for x in r.json()["records"]] == [
        x["hash"] for x in AuditLog(home=str(api.home)).read()[-3:]
    ]


def test_keys_cli_against_the_running_server(
    http: httpx.Client,
    api: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QUANTRAY_HOME", str(api.home))
    assert main(["keys", "create", "--scope", "trade", "--name", "cli-made", "--quiet"]) == 0
    text = capsys.readouterr().out.strip()
    assert text.startswith("qr_") and "\n" not in text
    who = http.get("/v1/whoami", headers=bearer(text)).json()
    assert who["name"] == "cli-made" and who["scope"] == "trade"
    assert main(["keys", "list", "--json"]) == 0
    listed = {k["key_id"]: k for k in json.loads(capsys.readouterr().out)["keys"]}
    assert listed[who["key_id"]]["status"] == "active" and "secret_sha256" not in listed[who["key_id"]]
    assert main(["keys", "rotate", who["key_id"], "--overlap", "0", "--quiet"]) == 0
    rotated = capsys.readouterr().out.strip()
    assert http.get("/v1/whoami", headers=bearer(text)).status_code == 401
    assert http.get("/v1/whoami", headers=bearer(rotated)).status_code == 200
    assert main(["keys", "revoke", "cli-made"]) == 0
    capsys.readouterr()
    assert http.get("/v1/whoami", headers=bearer(rotated)).status_code == 401
    assert main(["keys", "create", "--scope", "root", "--name", "x"]) == 2  # user error: one line, exit 2
    actions = [r["action"] for r in AuditLog(home=str(api.home)).read() if r["action"].startswith("cli keys")]
    assert actions[-3:] == ["cli keys create", "cli keys rotate", "cli keys revoke"]
