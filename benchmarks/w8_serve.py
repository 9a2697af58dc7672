"""W8: the signal endpoint over HTTP — Ray Serve vs a bare FastAPI app under uvicorn serving the same function.

Both servers run the very same ASGI app (``serve.app.build_app``: auth, rate limiter, audit/413 middleware,
cached signals) on loopback with one replica / one worker. Under Serve the app is the composed one
(``serve.app.compose``): the ingress reads signals from the Signals deployment through its handle, keeping them for
``SIGNAL_CACHE_TTL_S``; under bare uvicorn the same classes run in-process. The difference is Serve's HTTP proxy,
the replica hop and the handle calls on a cache miss. Serve is measured twice: through its HTTP proxy (the default) and through direct ingress
(``RAY_SERVE_ENABLE_DIRECT_INGRESS=1``, Ray >= 2.5x: the ingress replica listens on its own port and the proxy hop
disappears; set the variable to 0 to skip that row). Concurrent keep-alive clients (aiohttp, in this process) call
``GET /v1/signals/AAPL/sma_cross`` with a valid key for a fixed time after a warm-up; the table gives p50/p99
latency and throughput of each, and Serve's overhead ratio. Bounded to about a minute; writes
``benchmarks/results/w8.json``.

    python -m benchmarks.w8_serve                # or: make bench
    python -m benchmarks.w8_serve --seconds 5 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PATH = "/v1/signals/AAPL/sma_cross"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _drive(url: str, key: str, *, seconds: float, warmup: float, concurrency: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop:
                    return
                async with session.get(url + PATH, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    lat = np.array(latencies) * 1000.0
    return {
        "requests": int(lat.size),
        "errors": errors,
        "rps": lat.size / seconds,
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "mean_ms": float(lat.mean()) if lat.size else None,
    }


def _wait_http(url: str, key: str, timeout: float = 90.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url + PATH, headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per server")
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "w8.json"))
    args = ap.parse_args(argv)
    t_start = time.monotonic()

    home = tempfile.mkdtemp(prefix="qr-w8-")
    os.environ["QUANTRAY_HOME"] = home
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Run the replica's user code on its own event loop rather than a separate thread (one hop fewer per request;
    # measured ~1.3x throughput on 2 cores). Set it to 1 to measure Serve's default.
    os.environ.setdefault("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0")
    sys.path.insert(0, str(ROOT))
    from quantray.security import KeyStore

    _, key = KeyStore(home).create(name="bench", scope="read", rate_per_s=1e8, burst=1e8)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QUANTRAY_HOME": home}

    # 1) bare FastAPI under uvicorn (one worker), in its own process group
    bare_port = _free_port()
    bare = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "serve.app:build_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(bare_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        bare_url = f"http://127.0.0.1:{bare_port}"
        _wait_http(bare_url, key)
        res_bare = asyncio.run(
            _drive(bare_url, key, seconds=args.seconds, warmup=args.warmup, concurrency=args.concurrency)
        )
    finally:
        os.killpg(bare.pid, signal.SIGTERM)
        bare.wait(timeout=30)

    # 2) Ray Serve on an embedded local Ray (one replica), same app
    # Serve's direct ingress (Ray >= 2.5x, RAY_SERVE_ENABLE_DIRECT_INGRESS=1): the ingress replica also listens
    # on its own HTTP port, so a load balancer can skip the proxy hop. Its ports are pinned to free ones here.
    direct = os.environ.get("RAY_SERVE_ENABLE_DIRECT_INGRESS", "1") == "1"
    direct_port = _free_port()
    if direct:
        grpc_port = _free_port()
        os.environ.update(
            RAY_SERVE_ENABLE_DIRECT_INGRESS="1",
            RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT=str(direct_port),
            RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT=str(direct_port + 1),
            RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT=str(grpc_port),
            RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT=str(grpc_port + 1),
        )
    from quantray import dist

    dist.connect(num_cpus=2, object_store_memory_mb=200)
    from ray import serve

    from serve.app import compose

    serve_port = _free_port()
    serve.start(
        http_options={"host": "127.0.0.1", "port": serve_port}, logging_config={"enable_access_log": False}
    )
    try:
        # The composed app (ingress + Signals/Reports/Models/Backtests deployments), one replica each.
        runtime_env = {"env_vars": {"PYTHONPATH": str(ROOT), "QUANTRAY_HOME": home}}
        application = compose(
            ingress_options={
                "ray_actor_options": {"num_cpus": 1, "runtime_env": runtime_env},
                "autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
            },
            backend_options={
                "ray_actor_options": {"num_cpus": 0.1, "runtime_env": runtime_env},
                "autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
            },
        )
        serve.run(application, name="w8", route_prefix="/", logging_config={"enable_access_log": False})
        serve_url = f"http://127.0.0.1:{serve_port}"
        _wait_http(serve_url, key)
        res_serve = asyncio.run(
            _drive(serve_url, key, seconds=args.seconds, warmup=args.warmup, concurrency=args.concurrency)
        )
        res_direct = None
        if direct:
            direct_url = f"http://127.0.0.1:{direct_port}"
            _wait_http(direct_url, key)
            res_direct = asyncio.run(
                _drive(
                    direct_url, key, seconds=args.seconds, warmup=args.warmup, concurrency=args.concurrency
                )
            )
    finally:
        serve.shutdown()
        dist.shutdown()

    ratio = {
        "p50": res_serve["p50_ms"] / res_bare["p50_ms"],
        "p99": res_serve["p99_ms"] / res_bare["p99_ms"],
        "throughput": res_bare["rps"] / res_serve["rps"],
    }
    print(
        f"W8 signal endpoint GET {PATH}: {args.concurrency} concurrent clients, {args.seconds:g} s each "
        f"(cores: {os.cpu_count()}; clients share them)"
    )
    print(f"{'server':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    rows = [("bare FastAPI + uvicorn", res_bare), ("Ray Serve via proxy", res_serve)]
    if res_direct is not None:
        rows.append(("Ray Serve direct ingress", res_direct))
    for name, r in rows:
        print(f"{name:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8d}")
    if res_direct is not None:
        print(
            f"direct ingress vs bare: p50 x{res_direct['p50_ms'] / res_bare['p50_ms']:.2f}, "
            f"throughput x{res_bare['rps'] / res_direct['rps']:.2f} lower"
        )
    print(
        f"Serve overhead: p50 x{ratio['p50']:.2f}, p99 x{ratio['p99']:.2f}, throughput x{ratio['throughput']:.2f} "
        f"lower; target >= 1000 req/s and p99 <= 20 ms on Serve"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "workload": "w8_serve",
                "path": PATH,
                "concurrency": args.concurrency,
                "seconds": args.seconds,
                "cpu_count": os.cpu_count(),
                "bare": res_bare,
                "serve": res_serve,
                "serve_direct_ingress": res_direct,
                "overhead": ratio,
                "target": {"rps": 1000, "p99_ms": 20},
                "wall_s": time.monotonic() - t_start,
            },
            indent=2,
        )
    )
    print(f"wrote {out} ({time.monotonic() - t_start:.0f} s; load average {os.getloadavg()[0]:.1f})")
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
