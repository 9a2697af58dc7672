"""The alert payload parser (the Serve intake's first check): what it refuses, naming the field and the value,
and what it still accepts (every message the export writes is accepted in test_export.py)."""

from __future__ import annotations

import json

import pytest

from quantray.reports.tradingview import AlertPayloadError, parse_tradingview_alert

BASE = {"secret": "s3cr3t-123", "ticker": "AAPL", "strategy": "sma_cross", "action": "buy"}


def _parse(**fields):
    return parse_tradingview_alert(json.dumps({**BASE, **fields}))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "0"}, "field 'price': must be > 0, got '0'"),
        ({"price": "-5"}, "field 'price': must be > 0, got '-5'"),
        ({"price": -0.01}, "field 'price': must be > 0, got -0.01"),
        ({"price": "NaN"}, "field 'price': expected a finite number, got 'NaN'"),
        ({"price": "abc"}, "field 'price': expected a number, got 'abc'"),
        ({"price": True}, "field 'price': expected a number, got True"),
        ({"contracts": "0"}, "field 'contracts': must be > 0, got '0'"),
        ({"ticker": "ZZ ZZ"}, "field 'ticker': expected 1-64 letters, digits or . _ : / ! -, got 'ZZ ZZ'"),
        ({"ticker": "A" * 65}, "field 'ticker': expected 1-64 letters"),
        ({"ticker": "<script>"}, "field 'ticker'"),
        ({"strategy": "nope-strategy"}, "field 'strategy': expected a strategy name"),
        ({"strategy": "1abc"}, "field 'strategy'"),
        ({"strategy": "s" * 65}, "field 'strategy'"),
        ({"exchange": "NY SE"}, "field 'exchange'"),
        ({"condition": "x" * 300}, "field 'condition': at most 256 characters"),
        ({"note": "bell\x07"}, "field 'note': at most 256 characters without control characters"),
        ({"secret": "s" * 300}, "field 'secret': at most 256 characters"),
        ({"action": "hodl"}, "field 'action': unknown value 'hodl'"),
    ],
)
def test_refused_naming_the_field_and_the_value(fields, message):
    with pytest.raises(AlertPayloadError) as err:
        _parse(**fields)
    assert str(err.value).startswith(message), str(err.value)
    assert len(str(err.value)) < 200  # a long value is not echoed whole


def test_text_form_is_checked_the_same_way():
    with pytest.raises(AlertPayloadError, match=r"field 'price': must be > 0, got '0'"):
        parse_tradingview_alert("secret=s ticker=ZZZZ strategy=nope_strategy action=buy price=0")


@pytest.mark.parametrize("ticker", ["AAPL", "BRK.B", "BTCUSDT", "ES1!", "NYSE:BA", "EUR/USD", "6E1!", "ZZZZ"])
def test_real_ticker_forms_are_accepted(ticker):
    a = _parse(ticker=f" {ticker} ", exchange="CME_MINI", price="0.0001", contracts="1")
    assert a.ticker == ticker and a.price == 0.0001 and a.contracts == 1.0 and a.exchange == "CME_MINI"


def test_the_parser_does_not_know_which_strategies_exist():
    """Well-formed unknown names pass the parser; the Serve intake checks them against its registry."""
    assert _parse(strategy="nope_strategy").strategy == "nope_strategy"
