"""One Serve instance for tests/serve (Serve is slow to start on two cores): the app deployed on the session's
local Ray, on a free loopback port, with its own QUANTRAY_HOME; plus a loopback webhook receiver."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TV_SECRET = "tv-shared-secret-123"
CORS_ORIGIN = "https://dash.example.com"
MAX_BODY = 65536


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def synthetic_bars(n: int, *, symbol: str = "TST", seed: int = 7, end_trend: float = 0.0) -> pd.DataFrame:
    """Daily bars of one symbol: a random walk, with ``end_trend`` added per bar over the last 30 bars."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1.0, n)
    steps[-30:] += end_trend
    close = 100 + np.cumsum(steps)
    ts = pd.date_range("2020-01-01", periods=n, freq="B", tz="UTC")
    return pd.DataFrame(
        {
            "ts": ts,
            "symbol": symbol,
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": 1000.0,
        }
    )


@pytest.fixture(scope="session")
def serve_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="qr-serve-home-"))
    bars = synthetic_bars(300, end_trend=0.0)
    bars.to_parquet(home / "tst.parquet")
    (home / "serve.json").write_text(
        json.dumps(
            {
                "max_body_bytes": MAX_BODY,
                "data_sources": {"tst": str(home / "tst.parquet")},
                "signals": [
                    {"strategy": "sma_cross"},
                    {"strategy": "rsi_reversion", "symbols": ["AAPL", "MSFT"]},
                    {
                        "strategy": "ema_cross",
                        "params": {"fast": 3, "slow": 12},
                        "symbols": ["TST"],
                        "data": "tst",
                    },
                ],
            }
        )
    )
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def api(ray_local: Any, serve_home: Path) -> Iterator[SimpleNamespace]:
    from ray import serve

    from serve import app as serve_app

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    env = {
        "PYTHONPATH": str(REPO_ROOT),
        "QUANTRAY_HOME": str(serve_home),
        "QUANTRAY_TRADINGVIEW_SECRET": TV_SECRET,
        "QUANTRAY_CORS_ORIGINS": CORS_ORIGIN,
    }
    try:
        # The composed app (the ingress and its Signals/Reports/Models/Backtests deployments), one replica each;
        # the backends reserve no CPU so the 2-CPU session Ray keeps room for backtest tasks.
        runtime_env = {"env_vars": env}
        application = serve_app.compose(
            ingress_options={
                "ray_actor_options": {"num_cpus": 0.5, "runtime_env": runtime_env},
                "autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
            },
            backend_options={
                "ray_actor_options": {"num_cpus": 0, "runtime_env": runtime_env},
                "autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
            },
        )
        serve.run(application, name="quantray", route_prefix="/")
        base = f"http://127.0.0.1:{port}"
        from quantray.security import KeyStore

        store = KeyStore(serve_home)
        admin, admin_text = store.create(name="test-admin", scope="admin", rate_per_s=1000, burst=1000)
        yield SimpleNamespace(
            base=base, home=serve_home, store=store, admin=admin_text, admin_id=admin.key_id
        )
    finally:
        serve.shutdown()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def http(api: SimpleNamespace) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.base, timeout=120) as client:
        yield client


class Receiver:
    """A webhook receiver on loopback. ``secrets[path]`` is the signing secret expected on that path; each
    request is recorded with whether its signature verified (checked with hashlib/hmac here, independently of
    quantray.webhooks). ``/flaky*`` paths answer 503 to their first two requests, ``/down*`` always 500."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                import hashlib
                import hmac

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get("X-Quantray-Signature", "")
                parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
                secret = receiver.secrets.get(self.path, "")
                expected = hmac.new(
                    secret.encode(), parts.get("t", "").encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                verified = bool(secret) and hmac.compare_digest(expected, parts.get("v1", ""))
                fresh = abs(time.time() - int(parts.get("t", "0"))) < 300
                with receiver.lock:
                    n = receiver.counts.get(self.path, 0) + 1
                    receiver.counts[self.path] = n
                    receiver.received.append(
                        {
                            "path": self.path,
                            "event": self.headers.get("X-Quantray-Event"),
                            "verified": verified and fresh,
                            "json": json.loads(body),
                            "attempt": n,
                        }
                    )
                if self.path.startswith("/down"):
                    status = 500
                elif self.path.startswith("/flaky") and n <= 2:
                    status = 503
                else:
                    status = 200 if verified else 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, pred: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = [r for r in self.received if pred(r)]
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"no matching webhook delivery within {timeout} s; got {self.received}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
