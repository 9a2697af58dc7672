"""A real quarterly report served over HTTP (reviewer findings 1 and 2), on the shared Serve instance.

The README's flow: ``quantray report quarterly --portfolio sample --quarter 2017Q4 --out results``, then the
server pointed at ``results`` with ``reports_root`` (serve.json, re-read on change). Top performers of that report
hold NaN metrics (``win_rate``/``profit_factor`` of a symbol with one open trade): they answer 200 with null, the
rows equal report.json's, and GraphQL ``topPerformers`` gives the same rows. A portfolio without a report is a 404
that names the portfolio and the reports root looked in, and nothing else of the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from conftest import bearer

from quantray.cli._main import main
from quantray.data import sample_path
from quantray.reports import load_report

ROW_KEYS = ("symbol", "strategy", "params", "timeframe", "exchange", "sector", "metrics")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``quantray report quarterly --portfolio sample --quarter 2017Q4 --out results`` (Markdown only)."""
    out = tmp_path_factory.mktemp("served") / "results"
    argv = ["report", "quarterly", "--portfolio", "sample", "--quarter", "2017Q4", "--format", "md"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    assert (out / "reports" / "sample" / "2017" / "Q4" / "report.json").is_file()
    return out


@pytest.fixture(scope="module")
def served(api: SimpleNamespace, results: Path) -> Iterator[Path]:
    """serve.json's ``reports_root`` set to ``results`` for this module, then restored."""
    path = api.home / "serve.json"
    original = path.read_text()
    path.write_text(json.dumps({**json.loads(original), "reports_root": str(results)}))
    try:
        yield results
    finally:
        path.write_text(original)


def _stored_rows(results: Path) -> dict[str, dict[str, object]]:
    """report.json's rows by symbol, as stored (NaN written as null)."""
    doc = json.loads((results / "reports" / "sample" / "2017" / "Q4" / "report.json").read_text())
    return {r["symbol"]: {k: r.get(k) for k in ROW_KEYS} for r in doc["rows"]}


@pytest.mark.parametrize("n", [5, 20])
def test_top_performers_of_a_real_report_answer_nan_as_null(
    http: httpx.Client, api: SimpleNamespace, served: Path, n: int
) -> None:
    r = http.get(
        "/v1/reports/latest/top", params={"portfolio": "sample", "n": n}, headers={"X-API-Key": api.admin}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["portfolio"] == "sample" and body["metric"] == "sharpe"
    order = [row.symbol for row in load_report(str(served / "reports/sample/2017/Q4")).get_top_performers(n)]
    stored = _stored_rows(served)
    assert body["rows"] == [stored[s] for s in order]
    nulls = [(row["symbol"], k) for row in body["rows"] for k, v in row["metrics"].items() if v is None]
    assert nulls  # the case the reviewer hit: NaN metrics in the top rows
    assert "NaN" not in r.text


def test_graphql_top_performers_gives_the_rows(
    http: httpx.Client, api: SimpleNamespace, served: Path
) -> None:
    r = http.post(
        "/v1/graphql",
        json={"query": '{ topPerformers(n: 3, portfolio: "sample") }'},
        headers=bearer(api.admin),
    )
    assert r.status_code == 200 and "errors" not in r.json(), r.text[:500]
    rest = http.get(
        "/v1/reports/latest/top", params={"portfolio": "sample", "n": 3}, headers=bearer(api.admin)
    ).json()["rows"]
    assert r.json()["data"]["topPerformers"] == rest
    assert any(v is None for row in rest for v in row["metrics"].values())


def test_latest_report_is_report_json(http: httpx.Client, api: SimpleNamespace, served: Path) -> None:
    r = http.get("/v1/reports/latest", params={"portfolio": "sample"}, headers=bearer(api.admin))
    assert r.status_code == 200
    stored = json.loads((served / "reports" / "sample" / "2017" / "Q4" / "report.json").read_text())
    stored.pop("equity_file", None)
    assert r.json() == stored


def test_404_names_the_portfolio_and_the_reports_root(
    http: httpx.Client, api: SimpleNamespace, served: Path
) -> None:
    for route in ("/v1/reports/latest/top", "/v1/reports/latest"):
        r = http.get(route, params={"portfolio": "nobody"}, headers=bearer(api.admin))
        assert r.status_code == 404
        detail = r.json()["detail"]
        assert "'nobody'" in detail and str(served) in detail, detail
        assert "reports_root" in detail and "QUANTRAY_REPORTS_ROOT" in detail
        assert str(api.home) not in detail and str(sample_path()) not in detail  # no other server path


def test_404_with_the_default_root_names_quantray_home(
    http: httpx.Client, api: SimpleNamespace, served: Path
) -> None:
    path = api.home / "serve.json"
    with_root = path.read_text()
    settings = json.loads(with_root)
    settings.pop("reports_root")
    path.write_text(json.dumps(settings))
    try:
        r = http.get("/v1/reports/latest/top", params={"portfolio": "sample"}, headers=bearer(api.admin))
    finally:
        path.write_text(with_root)
    assert r.status_code == 404
    assert "'sample'" in r.json()["detail"] and str(api.home) in r.json()["detail"]


def test_an_unreadable_report_is_500_without_internals(
    http: httpx.Client, api: SimpleNamespace, served: Path
) -> None:
    broken = served / "reports" / "broken" / "2017" / "Q4"
    broken.mkdir(parents=True)
    (broken / "report.json").write_text('{"portfolio": "broken", "rows": [')
    r = http.get("/v1/reports/latest/top", params={"portfolio": "broken"}, headers=bearer(api.admin))
    assert r.status_code == 500
    detail = r.json()["detail"]
    assert "'broken'" in detail and "cannot be read" in detail and "Traceback" not in detail
    r = http.post(
        "/v1/graphql", json={"query": '{ topPerformers(portfolio: "broken") }'}, headers=bearer(api.admin)
    )
    [error] = r.json()["errors"]
    assert "cannot be read" in error["message"] and "Traceback" not in r.text
