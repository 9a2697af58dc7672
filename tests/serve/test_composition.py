"""The Serve app is really composed of separate deployments (scope item 1), on the shared Serve instance.

- ``serve.status()`` lists the ingress and the Signals, Reports, Models and Backtests deployments of the app,
  each with a running replica and HEALTHY (their check_health passes on a live replica).
- A signal read over HTTP is answered by the Signals deployment: its replica's read counter goes up by one for
  a request the ingress has not seen before, and the HTTP body equals what the Signals handle returns; the
  Signals replica is a different process from the ingress replica.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import httpx
from conftest import bearer

DEPLOYMENTS = {"QuantrayAPI", "Signals", "Reports", "Models", "Backtests"}


def test_status_lists_every_deployment_healthy(api: SimpleNamespace) -> None:
    from ray import serve

    deadline = time.monotonic() + 60
    while True:
        status = serve.status().applications["quantray"]
        states = {name: d.status.value for name, d in status.deployments.items()}
        if set(states) == DEPLOYMENTS and all(
            s.endswith("HEALTHY") and "UN" not in s for s in states.values()
        ):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    for name, d in status.deployments.items():
        assert sum(d.replica_states.values()) >= 1, (name, d.replica_states)


def test_signal_reads_go_through_the_signals_deployment(http: httpx.Client, api: SimpleNamespace) -> None:
    from ray import serve

    signals = serve.get_deployment_handle("Signals", app_name="quantray")
    before = signals.stats.remote().result(timeout_s=60)
    assert before["pid"] != os.getpid()
    # A filter no earlier request used, so the ingress's short read cache cannot answer it.
    r = http.get(
        "/v1/signals", params={"symbol": "MSFT", "strategy": "rsi_reversion"}, headers=bearer(api.admin)
    )
    assert r.status_code == 200, r.text
    after = signals.stats.remote().result(timeout_s=60)
    assert after["reads"] == before["reads"] + 1
    assert after["pid"] == before["pid"]
    direct = signals.current.remote("MSFT", "rsi_reversion").result(timeout_s=60)
    assert r.json()["signals"] == direct["signals"] and r.json()["as_of"] == direct["as_of"]
    assert [(s["symbol"], s["strategy"]) for s in direct["signals"]] == [("MSFT", "rsi_reversion")]

    whoami = http.get("/v1/whoami", headers=bearer(api.admin))
    assert whoami.status_code == 200  # the ingress answers routes that need no backend itself
