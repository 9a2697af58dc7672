"""serve/app.py: generated files in sync, and the basic routes over real HTTP on the shared Serve instance.

- serve/config.yaml is what `serve build serve.app:app` writes today; serve/openapi.json is the app's OpenAPI
  document today (both regenerated here and compared), with the key security schemes and the routes.
- The app is composed of the ingress and the Signals/Reports/Models/Backtests deployments, each declaring
  check_health and autoscaling (the ingress 1..4 replicas on ongoing requests).
- On loopback: GET /v1/health (no key), GET /v1/strategies (the 8 built-ins with their parameter spaces),
  POST /v1/backtest on the bundled sample whose rows equal quantray.backtest in-process, a bad strategy
  answers 422 naming it, an oversize grid or symbol list answers 413, a malformed body answers 422, and a data
  path the server was not configured with is refused (the API never opens a client's path).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from conftest import REPO_ROOT, bearer

import quantray
from quantray.data import sample_path
from quantray.strategies import list_strategies
from serve import app as serve_app

SERVE_DIR = REPO_ROOT / "serve"
BUILTINS = {
    "bollinger_reversion",
    "buy_and_hold",
    "donchian_breakout",
    "ema_cross",
    "macd",
    "momentum",
    "rsi_reversion",
    "sma_cross",
}
EXPECTED_PATHS = {
    "/v1/health",
    "/v1/whoami",
    "/v1/strategies",
    "/v1/signals",
    "/v1/signals/{symbol}/{strategy}",
    "/v1/signals/{symbol}/{strategy}/history",
    "/v1/signals/refresh",
    "/v1/portfolio",
    "/v1/reports/latest",
    "/v1/reports/latest/top",
    "/v1/backtest",
    "/v1/backtests",
    "/v1/backtests/{job_id}",
    "/v1/backtests/{job_id}/result",
    "/v1/tradingview/webhook",
    "/v1/alerts",
    "/v1/webhooks",
    "/v1/webhooks/{sub_id}",
    "/v1/webhooks/{sub_id}/ping",
    "/v1/webhooks/dead-letters",
    "/v1/audit",
    "/v1/models",
    "/v1/models/{name}",
}


def test_config_yaml_is_what_serve_build_writes(tmp_path: Path) -> None:
    out = tmp_path / "config.yaml"
    serve_cli = Path(sys.executable).with_name("serve")
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["QUANTRAY_HOME"] = str(tmp_path / "home")
    proc = subprocess.run(
        [str(serve_cli), "build", "serve.app:app", "-o", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_text() == (SERVE_DIR / "config.yaml").read_text(), (
        "serve/config.yaml is stale: run `serve build serve.app:app -o serve/config.yaml` "
        "then `python infra/scripts/sync_serve_config.py`"
    )
    assert not (tmp_path / "home").exists(), "building the app must not create server state"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_config_yaml_is_a_valid_deploy_config_with_autoscaling() -> None:
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((SERVE_DIR / "config.yaml").read_text())
    ServeDeploySchema.model_validate(config)
    [application] = config["applications"]
    assert application["import_path"] == "serve.app:app"
    by_name = {d["name"]: d for d in application["deployments"]}
    assert set(by_name) == {"QuantrayAPI", "Signals", "Reports", "Models", "Backtests"}
    ingress = by_name["QuantrayAPI"]["autoscaling_config"]
    assert ingress["min_replicas"] == 1 and ingress["max_replicas"] == 4
    for name, deployment in by_name.items():
        scaling = deployment["autoscaling_config"]
        assert 1 <= scaling["min_replicas"] <= scaling["max_replicas"], name
        assert scaling["target_ongoing_requests"] > 0, name
        assert deployment["health_check_period_s"] > 0, name


def test_openapi_json_is_generated_from_the_app() -> None:
    committed = (SERVE_DIR / "openapi.json").read_text()
    assert committed == serve_app.openapi_json(), "serve/openapi.json is stale: run `python -m serve.app`"
    doc = json.loads(committed)
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == EXPECTED_PATHS
    schemes = doc["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyHeader"] == {**schemes["APIKeyHeader"], "in": "header", "name": "X-API-Key"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            secured = bool(op.get("security"))
            public = path in ("/v1/health", "/v1/tradingview/webhook")
            assert secured != public, (method, path)
            if secured:
                assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
    post = doc["paths"]["/v1/backtest"]["post"]
    assert "413" in post["responses"]
    body_schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/BacktestRequest"}
    tv = doc["paths"]["/v1/tradingview/webhook"]["post"]["requestBody"]["content"]
    assert set(tv) == {"application/json", "text/plain"}


def test_every_deployment_declares_health_check() -> None:
    for deployment in (serve_app.Signals, serve_app.Reports, serve_app.Models, serve_app.Backtests):
        assert callable(getattr(deployment.func_or_class, "check_health", None)), deployment.name


def test_deployment_declares_health_check() -> None:
    assert callable(getattr(serve_app.Ingress.func_or_class, "check_health", None))
    check_health = serve_app.Ingress.func_or_class.check_health
    check_health(SimpleNamespace(_strategies=serve_app._strategy_infos()))  # healthy with the built-ins
    with pytest.raises(RuntimeError, match="no strategies"):
        check_health(SimpleNamespace(_strategies=[]))


# ---------------------------------------------------------------------------------------------------------
# Over real HTTP on loopback
# ---------------------------------------------------------------------------------------------------------


def test_health_needs_no_key(http: httpx.Client) -> None:
    r = http.get("/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "version": quantray.__version__, "strategies": len(list_strategies())}


def test_strategies_lists_the_builtins_with_their_params(http: httpx.Client, api: SimpleNamespace) -> None:
    assert http.get("/v1/strategies").status_code == 401
    r = http.get("/v1/strategies", headers=bearer(api.admin))
    assert r.status_code == 200
    by_name = {s["name"]: s for s in r.json()["strategies"]}
    assert set(by_name) >= BUILTINS
    sma = by_name["sma_cross"]
    assert set(sma["params"]) == {"fast", "slow"}
    fast = sma["params"]["fast"]
    assert fast["kind"] == "int" and fast["low"] == 1 and fast["high"] == 500 and fast["default"] == 10
    assert by_name["buy_and_hold"]["params"] == {}


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, float) and math.isnan(b):
        return a is None
    return a == b


def test_backtest_equals_quantray_backtest_in_process(http: httpx.Client, api: SimpleNamespace) -> None:
    body = {
        "data": "sample",
        "symbols": ["AAPL", "MSFT"],
        "strategy": "sma_cross",
        "grid": {"fast": [5, 10], "slow": [50, 100]},
        "fees": 0.001,
        "slippage": 0.0005,
        "execution": "next_open",
    }
    r = http.post("/v1/backtest", json=body, headers=bearer(api.admin))
    assert r.status_code == 200, r.text
    got = r.json()
    expected = (
        quantray.backtest(
            sample_path(),
            "sma_cross",
            grid={"fast": [5, 10], "slow": [50, 100]},
            symbols=["AAPL", "MSFT"],
            fees=0.001,
            slippage=0.0005,
            execution="next_open",
        )
        .ranked("sharpe")
        .to_dict(orient="records")
    )
    assert got["strategy"] == "sma_cross" and got["rank_by"] == "sharpe"
    assert len(got["rows"]) == len(expected) == 8
    for row, exp in zip(got["rows"], expected, strict=True):
        assert set(row) == set(exp) == set(got["columns"])
        bad = {k: (row[k], v) for k, v in exp.items() if not _same(row[k], v)}
        assert not bad, bad


def test_unknown_strategy_is_422_naming_it(http: httpx.Client, api: SimpleNamespace) -> None:
    r = http.post(
        "/v1/backtest", json={"strategy": "no_such_strategy", "symbols": ["AAPL"]}, headers=bearer(api.admin)
    )
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], str) and "no_such_strategy" in r.json()["detail"]


def test_client_paths_are_refused(http: httpx.Client, api: SimpleNamespace) -> None:
    body = {"strategy": "sma_cross", "data": "/etc/passwd"}
    r = http.post("/v1/backtest", json=body, headers=bearer(api.admin))
    assert r.status_code == 422
    assert "not configured" in r.json()["detail"] and "sample" in r.json()["detail"]


def test_malformed_body_is_422(http: httpx.Client, api: SimpleNamespace) -> None:
    r = http.post("/v1/backtest", json={"symbols": ["AAPL"]}, headers=bearer(api.admin))  # no strategy
    assert r.status_code == 422
    assert any(e["loc"][-1] == "strategy" for e in r.json()["detail"])


def test_oversize_requests_are_413(http: httpx.Client, api: SimpleNamespace) -> None:
    grid = {"fast": list(range(1, 42)), "slow": list(range(100, 400, 10))}  # 41 x 30 = 1230 combinations
    r = http.post("/v1/backtest", json={"strategy": "sma_cross", "grid": grid}, headers=bearer(api.admin))
    assert r.status_code == 413
    assert "1230" in r.json()["detail"]
    many = [f"S{i}" for i in range(serve_app.MAX_SYMBOLS + 1)]
    r = http.post("/v1/backtest", json={"strategy": "sma_cross", "symbols": many}, headers=bearer(api.admin))
    assert r.status_code == 413
