"""`quantray serve run` in the foreground with TLS (a self-signed certificate): an authenticated HTTPS request
answers, plain HTTP does not, and SIGINT (Ctrl-C) stops Serve and the embedded Ray cleanly (exit 0, nothing of
its process group left)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO_ROOT, bearer, free_port

from quantray.security import KeyStore


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_run_tls_then_ctrl_c(tmp_path: Path, stop: signal.Signals) -> None:
    """SIGTERM stops like Ctrl-C: ray.init's own SIGTERM handler used to abort the process and leave the
    embedded Ray's dashboard and runtime-env agents running."""
    home = tmp_path / "home"
    _, text = KeyStore(home).create(name="cli-tls", scope="read")
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "QUANTRAY_"))}
    # every QUANTRAY_* setting reaches the replicas (a fixed pass-through list missed new ones)
    env.update(QUANTRAY_HOME=str(home), RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1",
               QUANTRAY_TRADINGVIEW_SECRET="cli-secret", QUANTRAY_TRADINGVIEW_STRATEGIES="my_tv_rule",
               QUANTRAY_REPORTS_ROOT=str(tmp_path / "reports-here"))  # fmt: skip
    cmd = [
        sys.executable,
        "-m",
        "quantray",
        "serve",
        "run",
        "--port",
        str(port),
        "--num-cpus",
        "1",
        "--ssl-certfile",
        str(cert),
        "--ssl-keyfile",
        str(key),
    ]
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 150
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(
                    f"https://127.0.0.1:{port}/v1/whoami", headers=bearer(text), verify=str(cert), timeout=5
                )
                status = r.status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        log.seek(0)
        assert status == 200, log.read()[-3000:]
        assert r.json()["name"] == "cli-tls"
        assert (
            httpx.get(f"https://127.0.0.1:{port}/v1/whoami", verify=str(cert), timeout=5).status_code == 401
        )
        tv = {"secret": "cli-secret", "ticker": "AAPL", "action": "buy", "price": "10"}
        for strategy, code in (("my_tv_rule", 202), ("other_rule", 400)):
            r = httpx.post(f"https://127.0.0.1:{port}/v1/tradingview/webhook", json={**tv, "strategy": strategy},
                           verify=str(cert), timeout=10)  # fmt: skip
            assert r.status_code == code, (strategy, r.text)
        r = httpx.get(f"https://127.0.0.1:{port}/v1/reports/latest?portfolio=sample", headers=bearer(text),
                      verify=str(cert), timeout=10)  # fmt: skip
        assert r.status_code == 404 and "reports-here" in r.text, r.text
        try:
            plain = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code
        except httpx.HTTPError:
            plain = None
        assert plain != 200, "plain HTTP must not be served on the TLS port"

        os.kill(proc.pid, stop)
        rc = proc.wait(timeout=90)
        log.seek(0)
        out = log.read()
        assert rc == 0, out[-3000:]
        assert "quantray: stopped" in out
        for _ in range(100):
            if not _group_alive(proc.pid):
                break
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "processes of `serve run` survived Ctrl-C"
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_every_quantray_setting_reaches_the_replicas() -> None:
    """On a remote cluster the replicas see only the runtime_env: every QUANTRAY_* setting goes there (a fixed
    list of names missed QUANTRAY_TRADINGVIEW_STRATEGIES); empty values and other variables do not."""
    from quantray.cli._serve import replica_env

    env = replica_env(
        "/h", "/repo",
        {"QUANTRAY_TRADINGVIEW_STRATEGIES": "a,b", "QUANTRAY_REPORTS_ROOT": "/r", "QUANTRAY_HOME": "/other",
         "QUANTRAY_CORS_ORIGINS": "", "HOME": "/root", "PYTHONPATH": "/extra"},
    )  # fmt: skip
    assert env == {
        "PYTHONPATH": os.pathsep.join(["/repo", "/extra"]),
        "QUANTRAY_HOME": "/h",
        "QUANTRAY_TRADINGVIEW_STRATEGIES": "a,b",
        "QUANTRAY_REPORTS_ROOT": "/r",
    }
