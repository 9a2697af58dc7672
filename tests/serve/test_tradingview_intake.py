"""The TradingView intake refuses alerts that cannot be valid (reviewer finding 3), over real HTTP.

A price of 0 or -5 was accepted (202) and forwarded to subscribers; so was a strategy the server has never heard
of. Now: 400 naming the field and the value for a non-positive price or contracts, a ticker or strategy that breaks
its pattern, and (once the secret is right) a strategy that is neither registered on the server nor listed in
``tradingview_strategies``. Tickers are checked for form only: TradingView can fire on any chart's symbol.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from conftest import TV_SECRET

from quantray.security import AuditLog

TV = "/v1/tradingview/webhook"


def _post(http: httpx.Client, alert: dict[str, Any] | str) -> httpx.Response:
    if isinstance(alert, str):
        return http.post(TV, content=alert, headers={"Content-Type": "text/plain"})
    return http.post(TV, content=json.dumps(alert), headers={"Content-Type": "application/json"})


def _alert(**fields: Any) -> dict[str, Any]:
    return {"secret": TV_SECRET, "ticker": "AAPL", "strategy": "sma_cross", "action": "buy", **fields}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "0"}, "field 'price': must be > 0, got '0'"),
        ({"price": "-5"}, "field 'price': must be > 0, got '-5'"),
        ({"price": -5}, "field 'price': must be > 0, got -5"),
        ({"contracts": "0"}, "field 'contracts': must be > 0, got '0'"),
        ({"ticker": "ZZ ZZ"}, "field 'ticker': expected 1-64 letters, digits or . _ : / ! -, got 'ZZ ZZ'"),
        ({"strategy": "nope-strategy"}, "field 'strategy': expected a strategy name"),
        ({"exchange": "NY SE"}, "field 'exchange': expected 1-32 letters, digits or . _ -, got 'NY SE'"),
    ],
)
def test_impossible_values_are_400_naming_field_and_value(
    http: httpx.Client, api: SimpleNamespace, fields: dict[str, Any], message: str
) -> None:
    r = _post(http, _alert(**fields))
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(message), r.json()


def test_the_reviewers_alerts_are_refused(http: httpx.Client, api: SimpleNamespace) -> None:
    before = len(AuditLog(home=str(api.home)).read())
    r = _post(http, _alert(ticker="ZZZZ", strategy="nope_strategy", price="0"))
    assert r.status_code == 400 and r.json()["detail"] == "field 'price': must be > 0, got '0'"
    r = _post(http, _alert(ticker="ZZZZ", strategy="nope_strategy", price="-5"))
    assert r.status_code == 400 and "'-5'" in r.json()["detail"]
    r = _post(http, _alert(ticker="ZZZZ", strategy="nope_strategy", price="10"))
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("field 'strategy': unknown strategy 'nope_strategy'") and "sma_cross" in detail
    r = _post(http, f"secret={TV_SECRET} ticker=ZZZZ strategy=nope_strategy action=buy price=10")
    assert r.status_code == 400 and "nope_strategy" in r.json()["detail"]
    records = AuditLog(home=str(api.home)).read()[before:]
    assert [x["outcome"] for x in records] == [400, 400, 400, 400]
    assert [x["detail"] for x in records][-2:] == ["unknown strategy", "unknown strategy"]


def test_an_unknown_strategy_with_a_wrong_secret_is_401_and_lists_nothing(http: httpx.Client) -> None:
    r = _post(http, _alert(secret="not-the-secret", strategy="nope_strategy"))
    assert r.status_code == 401 and r.json() == {"detail": "invalid or missing credentials"}


def test_a_well_formed_unknown_ticker_is_accepted(http: httpx.Client) -> None:
    """The server has no list of TradingView's tickers: any well-formed one is taken."""
    r = _post(http, _alert(ticker="ZZZZ", price="12.5", time="intake-unknown-ticker"))
    assert r.status_code == 202, r.text
    r = _post(http, _alert(ticker="ES1!", exchange="CME_MINI", price="5000.25", contracts=2))
    assert r.status_code == 202, r.text


def test_tradingview_strategies_extends_the_known_names(http: httpx.Client, api: SimpleNamespace) -> None:
    path = api.home / "serve.json"
    original = path.read_text()
    alert = _alert(strategy="my_pine_only_rule", price="3.5", time="intake-extra-strategy")
    assert _post(http, alert).status_code == 400
    try:
        path.write_text(json.dumps({**json.loads(original), "tradingview_strategies": ["my_pine_only_rule"]}))
        r = _post(http, alert)
        assert r.status_code == 202, r.text
    finally:
        path.write_text(original)
