"""serve/app.py: the quantray Serve API, deployed on the session's local Ray and called over real HTTP.

- serve/config.yaml is what `serve build serve.app:app` writes today; serve/openapi.json is the app's OpenAPI
  document today (both regenerated here and compared).
- The deployment declares check_health and autoscaling (1..4 replicas on ongoing requests).
- On loopback: GET /v1/health, GET /v1/strategies (the 8 built-ins with their parameter spaces),
  POST /v1/backtest on the bundled sample whose rows equal quantray.backtest in-process, a bad strategy
  answers 422 naming it, an oversize grid or symbol list answers 413, a malformed body answers 422.
Serve is shut down at the end of the module (the Ray session itself is shared with other tests).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import quantray  # noqa: E402
from quantray.data import sample_path  # noqa: E402
from quantray.strategies import list_strategies  # noqa: E402
from serve import app as serve_app  # noqa: E402

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


# ---------------------------------------------------------------------------------------------------------
# Generated files are in sync (no Ray needed)
# ---------------------------------------------------------------------------------------------------------


def test_config_yaml_is_what_serve_build_writes(tmp_path: Path) -> None:
    out = tmp_path / "config.yaml"
    serve_cli = Path(sys.executable).with_name("serve")
    env = {**os.environ, "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
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


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_config_yaml_is_a_valid_deploy_config_with_autoscaling() -> None:
    from ray.serve.schema import ServeDeploySchema

    config = yaml.safe_load((SERVE_DIR / "config.yaml").read_text())
    ServeDeploySchema.model_validate(config)
    [application] = config["applications"]
    assert application["import_path"] == "serve.app:app"
    [deployment] = application["deployments"]
    assert deployment["autoscaling_config"]["min_replicas"] == 1
    assert deployment["autoscaling_config"]["max_replicas"] == 4
    assert deployment["autoscaling_config"]["target_ongoing_requests"] > 0


def test_openapi_json_is_generated_from_the_app() -> None:
    committed = (SERVE_DIR / "openapi.json").read_text()
    assert committed == serve_app.openapi_json(), "serve/openapi.json is stale: run `python -m serve.app`"
    doc = json.loads(committed)
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/v1/health", "/v1/strategies", "/v1/backtest"}
    assert "BacktestRequest" in doc["components"]["schemas"]
    post = doc["paths"]["/v1/backtest"]["post"]
    assert "413" in post["responses"]
    body_schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/BacktestRequest"}  # a JSON body, not a query param


def test_deployment_declares_health_check() -> None:
    assert callable(getattr(serve_app.Ingress.func_or_class, "check_health", None))
    check_health = serve_app.Ingress.func_or_class.check_health
    check_health(SimpleNamespace(_strategies=serve_app._strategy_infos()))  # healthy with the built-ins
    with pytest.raises(RuntimeError, match="no strategies"):
        check_health(SimpleNamespace(_strategies=[]))


# ---------------------------------------------------------------------------------------------------------
# Over real HTTP on loopback
# ---------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(ray_local: Any) -> Any:
    from ray import serve

    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    try:
        # Replicas import serve.app by name: make the repository root importable there too.
        deployment = serve_app.Ingress.options(
            ray_actor_options={"num_cpus": 1, "runtime_env": {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}}}
        )
        serve.run(deployment.bind(), name="quantray", route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()


def _call(url: str, body: dict[str, Any] | None = None, timeout: float = 120) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_health(base_url: str) -> None:
    status, body = _call(f"{base_url}/v1/health")
    assert status == 200
    assert body == {"status": "ok", "version": quantray.__version__, "strategies": len(list_strategies())}


def test_strategies_lists_the_builtins_with_their_params(base_url: str) -> None:
    status, body = _call(f"{base_url}/v1/strategies")
    assert status == 200
    by_name = {s["name"]: s for s in body["strategies"]}
    assert set(by_name) >= BUILTINS
    sma = by_name["sma_cross"]
    assert sma["description"]
    assert set(sma["params"]) == {"fast", "slow"}
    fast = sma["params"]["fast"]
    assert fast["kind"] == "int" and fast["low"] == 1 and fast["high"] == 500 and fast["default"] == 10
    assert fast["doc"]
    assert by_name["buy_and_hold"]["params"] == {}


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, float) and math.isnan(b):
        return a is None
    return a == b


def test_backtest_equals_quantray_backtest_in_process(base_url: str) -> None:
    body = {
        "data": "sample",
        "symbols": ["AAPL", "MSFT"],
        "strategy": "sma_cross",
        "grid": {"fast": [5, 10], "slow": [50, 100]},
        "fees": 0.001,
        "slippage": 0.0005,
        "execution": "next_open",
    }
    status, got = _call(f"{base_url}/v1/backtest", body)
    assert status == 200, got
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
    assert {r["symbol"] for r in got["rows"]} == {"AAPL", "MSFT"}
    for row, exp in zip(got["rows"], expected, strict=True):
        assert set(row) == set(exp) == set(got["columns"])
        bad = {k: (row[k], v) for k, v in exp.items() if not _same(row[k], v)}
        assert not bad, bad


def test_unknown_strategy_is_422_naming_it(base_url: str) -> None:
    status, body = _call(f"{base_url}/v1/backtest", {"strategy": "no_such_strategy", "symbols": ["AAPL"]})
    assert status == 422
    assert isinstance(body["detail"], str) and "no_such_strategy" in body["detail"]


def test_malformed_body_is_422(base_url: str) -> None:
    status, body = _call(f"{base_url}/v1/backtest", {"symbols": ["AAPL"]})  # no strategy
    assert status == 422
    assert any(e["loc"][-1] == "strategy" for e in body["detail"])


def test_oversize_requests_are_413(base_url: str) -> None:
    grid = {"fast": list(range(1, 42)), "slow": list(range(100, 400, 10))}  # 41 x 30 = 1230 combinations
    status, body = _call(f"{base_url}/v1/backtest", {"strategy": "sma_cross", "grid": grid})
    assert status == 413
    assert "1230" in body["detail"]
    many = [f"S{i}" for i in range(serve_app.MAX_SYMBOLS + 1)]
    status, body = _call(f"{base_url}/v1/backtest", {"strategy": "sma_cross", "symbols": many})
    assert status == 413
