"""`serve deploy serve/config.yaml` on the local stack's head (infra/local/up.sh: a head and a worker node on
loopback, pinned ports, Ray token authentication on) answers an authenticated request.

The deployed config is serve/config.yaml with only what a shared machine needs changed: HTTP on 127.0.0.1 and a
free port (instead of 0.0.0.0:8000), the proxy on the head only (two nodes on one host cannot both bind the
port), and a runtime_env that makes the checkout importable and points QUANTRAY_HOME at a test directory.
Ray's own token authentication is checked too: the head's Serve REST API refuses requests without the token."""

from __future__ import annotations

import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import REPO_ROOT, bearer, free_port

from quantray.security import KeyStore

UP = REPO_ROOT / "infra" / "local" / "up.sh"
DOWN = REPO_ROOT / "infra" / "local" / "down.sh"


def _wait_ready() -> object:
    spec = importlib.util.spec_from_file_location(
        "qr_wait_ready", REPO_ROOT / "infra" / "local" / "wait_ready.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _port_base() -> int:
    busy = _wait_ready().busy_ports  # type: ignore[attr-defined]
    for _ in range(50):
        base = random.randrange(20000, 40000, 200)
        if not busy(base):
            return base
    pytest.fail("no free block of 200 ports for the local stack")


def _read_env(state: Path) -> dict[str, str]:
    env = {}
    for line in (state / "env.sh").read_text().splitlines():
        m = re.match(r"export (\w+)='?([^']*)'?$", line)
        if m and "$" not in m.group(2):
            env[m.group(1)] = m.group(2)
    return env


def test_serve_deploy_on_the_local_head_answers_an_authenticated_request(tmp_path: Path) -> None:
    state = Path(tempfile.mkdtemp(prefix="qrs-", dir="/tmp"))  # short: Ray's socket paths live under it
    home = tmp_path / "home"
    _, text = KeyStore(home).create(name="deployed", scope="read")
    port = free_port()
    config = yaml.safe_load((REPO_ROOT / "serve" / "config.yaml").read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    config["proxy_location"] = "HeadOnly"
    config["grpc_options"] = {"port": free_port(), "grpc_servicer_functions": []}
    [application] = config["applications"]
    application["runtime_env"] = {"env_vars": {"PYTHONPATH": str(REPO_ROOT), "QUANTRAY_HOME": str(home)}}
    deploy_file = tmp_path / "config.yaml"
    deploy_file.write_text(yaml.safe_dump(config))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "QUANTRAY_"))}
    env.update(QR_STATE_DIR=str(state), QR_PORT_BASE=str(_port_base()), QR_PYTHON=sys.executable)
    serve_cli = str(Path(sys.executable).with_name("serve"))
    try:
        up = subprocess.run([str(UP)], env=env, capture_output=True, text=True, timeout=180)
        assert up.returncode == 0, f"up.sh failed:\n{up.stdout}\n{up.stderr}"
        stack = _read_env(state)
        client = {**env, **stack}
        address = stack["RAY_ADDRESS"]

        # Ray's token authentication is on: the head's Serve REST API (what `serve deploy` PUTs to) refuses a
        # request without the token, and accepts the stack's token.
        token = Path(stack["RAY_AUTH_TOKEN_PATH"]).read_text().strip()
        refused = httpx.get(f"{address}/api/serve/applications/", timeout=30)
        assert refused.status_code in (401, 403), refused.status_code
        allowed = httpx.get(f"{address}/api/serve/applications/", headers=bearer(token), timeout=30)
        assert allowed.status_code == 200, allowed.text[:300]

        deploy = subprocess.run(
            [serve_cli, "deploy", str(deploy_file), "--address", address],
            env=client,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deploy.returncode == 0, f"serve deploy failed:\n{deploy.stdout}\n{deploy.stderr}"
        deadline = time.monotonic() + 180
        last: object = None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/whoami", headers=bearer(text), timeout=10)
                last = (r.status_code, r.text[:200])
                if r.status_code == 200:
                    break
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(1.0)
        assert last is not None and isinstance(last, tuple) and last[0] == 200, (
            last,
            subprocess.run(
                [serve_cli, "status", "--address", address],
                env=client,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout[-3000:],
        )
        assert r.json()["name"] == "deployed"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/whoami", timeout=10).status_code == 401
        sig = httpx.get(
            f"http://127.0.0.1:{port}/v1/signals/AAPL/sma_cross", headers=bearer(text), timeout=30
        )
        assert sig.status_code == 200 and sig.json()["signals"][0]["symbol"] == "AAPL"
    finally:
        down = subprocess.run([str(DOWN)], env=env, capture_output=True, text=True, timeout=120)
        shutil.rmtree(state, ignore_errors=True)
    assert down.returncode == 0, f"down.sh failed:\n{down.stdout}\n{down.stderr}"
