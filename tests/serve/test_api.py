"""The REST API's data routes, GraphQL and the Python client, over real HTTP on the shared Serve instance.

- Signals equal a slow pandas reference of the strategy on the bundled sample (latest position and the history
  of position changes); unknown pairs are 404.
- Reports: 404 naming the portfolio and the reports root for a portfolio without one; a real QuarterlyReport saved under QUANTRAY_HOME is
  served (top performers equal QuarterlyReport.get_top_performers; the manifest equals to_dict()); the signal
  universe follows a report's top performers when one exists.
- Backtest jobs: 202 + job id → status → result equal to quantray.backtest in-process; unknown ids are 404.
- P&L snapshot: 404 while no live graph runs.
- GraphQL answers the same signals and strategies as REST, behind the same keys.
- quantray.client covers exactly the OpenAPI operations and works against the server.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT, bearer

import quantray
from quantray.client import ApiError, QuantrayClient
from quantray.data import read_bars, sample_path


def _sma_cross_reference(close: pd.Series, fast: int, slow: int) -> np.ndarray:
    """Slow, obvious sma_cross: +1 from a cross of SMA(fast) above SMA(slow) until the cross below."""
    d = (close.rolling(fast).mean() - close.rolling(slow).mean()).to_numpy()
    pos, out = 0, []
    for t in range(len(d)):
        if t >= slow and not (math.isnan(d[t]) or math.isnan(d[t - 1])):
            if d[t] > 0 >= d[t - 1]:
                pos = 1
            elif d[t] < 0 <= d[t - 1]:
                pos = 0
        out.append(pos)
    return np.array(out)


@pytest.fixture(scope="module")
def sample_bars() -> pd.DataFrame:
    return read_bars(sample_path(), on_bad="repair")


@pytest.mark.parametrize("symbol", ["AAPL", "XOM"])
def test_signals_equal_a_pandas_reference(
    http: httpx.Client, api: SimpleNamespace, sample_bars: pd.DataFrame, symbol: str
) -> None:
    bars = sample_bars[sample_bars["symbol"] == symbol].sort_values("ts").reset_index(drop=True)
    ref = _sma_cross_reference(bars["close"], 10, 50)
    r = http.get(f"/v1/signals/{symbol}/sma_cross", headers=bearer(api.admin))
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "bars" and body["universe"] == "config"
    [sig] = body["signals"]
    assert sig["params"] == {"fast": 10, "slow": 50}
    assert sig["position"] == ref[-1]
    assert sig["bar_ts"] == bars["ts"].iloc[-1].isoformat() and sig["price"] == bars["close"].iloc[-1]
    changes = np.flatnonzero(np.diff(np.concatenate([[0], ref])))
    r = http.get(f"/v1/signals/{symbol}/sma_cross/history", params={"limit": 5}, headers=bearer(api.admin))
    hist = r.json()["history"]
    assert [h["bar_ts"] for h in hist] == [bars["ts"].iloc[i].isoformat() for i in changes[-5:]]
    assert [h["position"] for h in hist] == [int(ref[i]) for i in changes[-5:]]
    assert sig["since"] == hist[-1]["bar_ts"]


def test_signal_listing_filters_and_404(http: httpx.Client, api: SimpleNamespace) -> None:
    every = http.get("/v1/signals", headers=bearer(api.admin)).json()["signals"]
    pairs = {(s["symbol"], s["strategy"]) for s in every}
    assert ("AAPL", "rsi_reversion") in pairs and (
        "IP",
        "rsi_reversion",
    ) not in pairs  # config: AAPL, MSFT only
    assert len([p for p in pairs if p[1] == "sma_cross"]) == 20
    only = http.get("/v1/signals", params={"strategy": "rsi_reversion"}, headers=bearer(api.admin)).json()
    assert {s["symbol"] for s in only["signals"]} == {"AAPL", "MSFT"}
    assert all(s["position"] in (-1, 0, 1) for s in every)
    r = http.get("/v1/signals/NOPE/sma_cross", headers=bearer(api.admin))
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]
    assert http.get("/v1/signals/NOPE/sma_cross/history", headers=bearer(api.admin)).status_code == 404


def test_portfolio_snapshot_is_404_without_a_live_graph(http: httpx.Client, api: SimpleNamespace) -> None:
    r = http.get("/v1/portfolio", headers=bearer(api.admin))
    assert r.status_code == 404 and r.json() == {"detail": "no live graph is running"}


def _report(portfolio: str) -> object:
    from quantray.reports import QuarterlyReport, ReportRow

    rows = [
        ReportRow(
            symbol=sym,
            strategy=strat,
            params=params,
            timeframe="1d",
            metrics={"sharpe": sharpe, "total_return": tr, "max_drawdown": 0.1},
            exchange="NASDAQ",
            sector="Tech",
        )
        for sym, strat, params, sharpe, tr in [
            ("AAPL", "sma_cross", {"fast": 5, "slow": 40}, 1.8, 0.12),
            ("MSFT", "ema_cross", {"fast": 8, "slow": 30}, 2.4, 0.09),
            ("XOM", "macd", {"fast": 12, "slow": 26, "signal": 9}, float("nan"), 0.01),
            ("IP", "momentum", {"lookback": 20}, 0.7, 0.03),
        ]
    ]
    return QuarterlyReport(
        portfolio=portfolio, year=2017, quarter=4, generated_at="2018-01-03", rows=tuple(rows)
    )


def test_reports_404_then_a_real_report(http: httpx.Client, api: SimpleNamespace) -> None:
    from quantray.reports import load_latest_report, save_report

    r = http.get("/v1/reports/latest/top", params={"portfolio": "served"}, headers=bearer(api.admin))
    assert r.status_code == 404
    assert r.json()["detail"].startswith(f"no report for portfolio 'served' under reports root {api.home} ")
    assert (
        http.get("/v1/reports/latest", params={"portfolio": "served"}, headers=bearer(api.admin)).status_code
        == 404
    )
    report = _report("served")
    save_report(report, str(api.home))  # type: ignore[arg-type]
    r = http.get("/v1/reports/latest/top", params={"portfolio": "served", "n": 3}, headers=bearer(api.admin))
    assert r.status_code == 200, r.text
    want = load_latest_report(str(api.home), "served").get_top_performers(3, metric="sharpe")
    got = r.json()["rows"]
    assert [(g["symbol"], g["strategy"], g["params"]) for g in got] == [
        (w.symbol, w.strategy, w.params) for w in want
    ]
    assert [g["symbol"] for g in got] == ["MSFT", "AAPL", "IP"]  # NaN sharpe last, then cut at 3
    assert got[0]["metrics"]["sharpe"] == 2.4 and got[0]["exchange"] == "NASDAQ"
    r = http.get("/v1/reports/latest", params={"portfolio": "served"}, headers=bearer(api.admin))
    assert r.json() == json.loads(json.dumps(report.to_dict(), default=str))  # type: ignore[attr-defined]


def test_signal_universe_follows_the_latest_report(tmp_path: Path) -> None:
    from quantray.reports import save_report
    from serve._settings import Settings
    from serve._signals import SignalBook

    save_report(_report("sample"), str(tmp_path))  # type: ignore[arg-type]
    book = SignalBook(Settings(home=str(tmp_path), signal_top_n=2))
    assert book.universe == "report"
    assert {(s["symbol"], s["strategy"], tuple(s["params"].items())) for s in book.latest()} == {
        ("MSFT", "ema_cross", (("fast", 8), ("slow", 30))),
        ("AAPL", "sma_cross", (("fast", 5), ("slow", 40))),
    }


def test_backtest_job_status_then_result(http: httpx.Client, api: SimpleNamespace) -> None:
    request = {
        "strategy": "sma_cross",
        "symbols": ["AAPL", "JPM"],
        "grid": {"fast": [5, 10, 20], "slow": [50, 100]},
    }
    r = http.post("/v1/backtests", json=request, headers=bearer(api.admin))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("running", "done") and len(job["job_id"]) == 32
    deadline = time.monotonic() + 120
    while True:
        status = http.get(f"/v1/backtests/{job['job_id']}", headers=bearer(api.admin)).json()
        if status["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert status["status"] == "done" and status["finished"] >= status["submitted"]
    result = http.get(f"/v1/backtests/{job['job_id']}/result", headers=bearer(api.admin)).json()["result"]
    expected = quantray.backtest(sample_path(), "sma_cross", grid=request["grid"], symbols=request["symbols"])
    want = expected.ranked("sharpe")
    assert [(r["symbol"], r["fast"], r["slow"]) for r in result["rows"]] == list(
        zip(want["symbol"], want["fast"], want["slow"], strict=True)
    )
    assert [r["final_equity"] for r in result["rows"]] == pytest.approx(list(want["final_equity"]), rel=1e-12)
    missing = "0" * 32
    assert http.get(f"/v1/backtests/{missing}", headers=bearer(api.admin)).status_code == 404
    assert http.get(f"/v1/backtests/{missing}/result", headers=bearer(api.admin)).status_code == 404
    bad = http.post("/v1/backtests", json={"strategy": "nope"}, headers=bearer(api.admin))
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]


def test_graphql_matches_rest_behind_the_same_keys(http: httpx.Client, api: SimpleNamespace) -> None:
    query = """query($s: String!) {
        signals(symbol: $s) { symbol strategy position barTs params }
        strategies { name params { name low high } }
        signalHistory(symbol: $s, strategy: "sma_cross", limit: 3) { barTs position }
        topPerformers(n: 2, portfolio: "nobody")
    }"""
    body = {"query": query, "variables": {"s": "AAPL"}}
    assert http.post("/v1/graphql", json=body).status_code == 401
    r = http.post("/v1/graphql", json=body, headers={"X-API-Key": api.admin})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    data = r.json()["data"]
    rest = http.get("/v1/signals", params={"symbol": "AAPL"}, headers=bearer(api.admin)).json()["signals"]
    assert [
        (s["symbol"], s["strategy"], s["position"], s["barTs"], s["params"]) for s in data["signals"]
    ] == [(s["symbol"], s["strategy"], s["position"], s["bar_ts"], s["params"]) for s in rest]
    hist = http.get(
        "/v1/signals/AAPL/sma_cross/history", params={"limit": 3}, headers=bearer(api.admin)
    ).json()
    assert [(h["barTs"], h["position"]) for h in data["signalHistory"]] == [
        (h["bar_ts"], h["position"]) for h in hist["history"]
    ]
    assert {s["name"] for s in data["strategies"]} == {s.name for s in quantray.strategies.list_strategies()}
    assert data["topPerformers"] == []
    r = http.get("/v1/graphql", params={"query": "{ strategies { name } }"}, headers=bearer(api.admin))
    assert r.status_code in (400, 404, 405)  # no queries over GET (no CSRF through links), no IDE page


def test_client_covers_the_openapi_document() -> None:
    doc = json.loads((REPO_ROOT / "serve" / "openapi.json").read_text())
    operations = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert set(QuantrayClient.OPERATIONS) == operations


def test_client_against_the_server(api: SimpleNamespace, receiver: object) -> None:
    _, read = api.store.create(name="client-read", scope="read")
    with QuantrayClient(api.base, api_key=api.admin) as admin, QuantrayClient(api.base, api_key=read) as qc:
        assert qc.health()["status"] == "ok"
        assert qc.whoami()["scope"] == "read"
        assert {s["name"] for s in qc.strategies()} >= {"sma_cross", "macd"}
        sig = qc.signal("AAPL", "sma_cross")["signals"][0]
        with pytest.raises(
            ApiError
        ) as err:  # path segments are encoded: the unknown symbol, not another route
            qc.signal("ZZ?Z#1", "sma_cross")
        assert err.value.status == 422 and "ZZ?Z#1" in str(err.value)  # the whole symbol reached it
        assert sig in qc.signals(symbol="AAPL")["signals"]
        assert qc.signal_history("AAPL", "sma_cross", limit=2)[-1]["bar_ts"] == sig["since"]
        res = qc.backtest("sma_cross", symbols=["AAPL"], params={"fast": 5, "slow": 20})
        assert res["rows"][0]["symbol"] == "AAPL"
        with pytest.raises(ApiError) as err:
            qc.submit_backtest("sma_cross", symbols=["AAPL"])
        assert err.value.status == 403
        job = admin.submit_backtest("sma_cross", symbols=["MSFT"], params={"fast": 5, "slow": 20})
        done = admin.wait_for_job(job["job_id"], timeout=120)
        want = quantray.backtest(sample_path(), "sma_cross", params={"fast": 5, "slow": 20}, symbols=["MSFT"])
        assert done["rows"][0]["final_equity"] == pytest.approx(
            float(want.table["final_equity"].iloc[0]), rel=1e-12
        )
        with pytest.raises(ApiError) as err:
            qc.top_performers(portfolio="nobody")
        assert err.value.status == 404 and err.value.detail.startswith("no report for portfolio 'nobody'")
        hook = admin.create_webhook("http://127.0.0.1:9/never", ["ping"])
        assert any(h["sub_id"] == hook["sub_id"] for h in admin.webhooks())
        admin.delete_webhook(hook["sub_id"])
        assert qc.graphql("{ strategies { name } }")["strategies"]
        deadline = time.monotonic() + 15  # appended after the DELETE's response was sent
        while (
            not (last := admin.audit(limit=1)[0]["action"]).startswith("DELETE")
            and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert last.startswith("DELETE /v1/webhooks/")


def test_models_registry(http: httpx.Client, api: SimpleNamespace) -> None:
    folder = api.home / "models"
    folder.mkdir(exist_ok=True)
    (folder / "regime.json").write_text(
        json.dumps({"name": "regime", "version": "3", "kind": "classifier", "metrics": {"auc": 0.61}})
    )
    (folder / "broken.json").write_text("{not json")
    with QuantrayClient(api.base, api_key=api.admin) as qc:
        assert [m["name"] for m in qc.models()] == ["regime"]
        assert qc.model("regime")["metrics"] == {"auc": 0.61} and qc.model("regime")["version"] == "3"
        with pytest.raises(ApiError) as err:
            qc.model("nope")
        assert err.value.status == 404 and "regime" in err.value.detail
