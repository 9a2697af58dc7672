"""Readiness checks for infra/local/up.sh (standard library only).

    wait_ready.py ports --base N      # the stack's 200 ports N..N+199 are free (exit 1 naming the busy ones)
    wait_ready.py gcs                 # the head's GCS accepts TCP connections
    wait_ready.py all --nodes 2       # dashboard + job API answer with the token, N nodes ALIVE,
                                      # moto answers and the bucket exists (created if missing)

Reads the stack's coordinates from the environment written by up.sh (``$QR_STATE_DIR/env.sh``).
Exits 0 when ready, 1 with the last error after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

PORT_SPAN = 200  # ports a stack uses: QR_PORT_BASE .. QR_PORT_BASE + 199 (see up.sh's port map)


def busy_ports(base: int, span: int = PORT_SPAN) -> list[int]:
    """Ports in ``[base, base + span)`` that cannot be bound on all interfaces (Ray's gRPC servers bind there)."""
    busy = []
    for port in range(base, base + span):
        if not 1024 <= port <= 65535:
            busy.append(port)
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Like the servers themselves: a port held only by TIME_WAIT connections of a stopped stack is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                busy.append(port)
    return busy


def _token_headers() -> dict[str, str]:
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token" or not path:
        return {}
    return {"Authorization": "Bearer " + Path(path).read_text().strip()}


def _get_json(url: str) -> object:
    request = urllib.request.Request(url, headers=_token_headers())
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def gcs_ready() -> None:
    host, port = os.environ["QR_GCS_ADDRESS"].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2):
        pass


def nodes_ready(expected: int) -> None:
    base = f"http://127.0.0.1:{os.environ['QR_DASHBOARD_PORT']}"
    _get_json(f"{base}/api/version")
    _get_json(f"{base}/api/jobs/")  # the job API (what `ray job submit` talks to) is up
    payload = _get_json(f"{base}/api/v0/nodes?limit=100&detail=false")
    result = payload["data"]["result"]["result"]  # type: ignore[index]
    alive = [node for node in result if node.get("state") == "ALIVE"]
    if len(alive) < expected:
        raise RuntimeError(f"{len(alive)} of {expected} Ray nodes ALIVE")


def s3_ready() -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
    bucket = os.environ["QR_S3_BUCKET"]
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="HEAD"), timeout=5)
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        # moto accepts unsigned requests; this creates the bucket.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=5)


def wait(check: Callable[[], None], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except Exception as error:
            if time.monotonic() > deadline:
                sys.exit(f"wait_ready: {what} not ready after {timeout:.0f}s: {error!r}")
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["ports", "gcs", "all"])
    parser.add_argument("--base", type=int, default=int(os.environ.get("QR_PORT_BASE", "26300")))
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.what == "ports":
        busy = busy_ports(args.base)
        if busy:
            sys.exit(
                f"wait_ready: ports in use in {args.base}..{args.base + PORT_SPAN - 1}: {busy}; set QR_PORT_BASE"
            )
        return
    deadline = time.monotonic() + args.timeout
    wait(gcs_ready, "Ray GCS", args.timeout)
    if args.what == "all":
        wait(s3_ready, "S3 (moto)", max(1.0, deadline - time.monotonic()))
        wait(lambda: nodes_ready(args.nodes), "Ray nodes", max(1.0, deadline - time.monotonic()))


if __name__ == "__main__":
    main()
