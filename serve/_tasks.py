"""Ray tasks the API hands work to: webhook deliveries (retries with backoff, dead letters) for alerts and
signal changes. I/O bound, so they take no CPU slot and never wait behind backtests."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import ray

__all__ = ["deliver_events", "deliver_to", "run_backtest_now"]


@ray.remote(num_cpus=0, max_retries=0)
def deliver_events(home: str, event: str, payloads: list[dict[str, Any]], alert_id: str | None = None) -> int:
    """Deliver each payload as one ``event`` to every matching subscription; returns the deliveries made."""
    from quantray.webhooks import dispatch

    results = []
    for payload in payloads:
        results.extend(dispatch(event, payload, home=home))
    if alert_id is not None:
        from serve._runtime import AlertStore

        AlertStore(home).mark_processed(alert_id, [asdict(r) for r in results])
    return len(results)


@ray.remote(num_cpus=0, max_retries=0)
def deliver_to(home: str, sub_id: str, event: str, payload: dict[str, Any]) -> bool:
    """Deliver one event to one subscription (dead-lettered on failure)."""
    import time

    from quantray.webhooks import DeadLetters, SubscriptionStore, deliver

    for sub in SubscriptionStore(home).list():
        if sub.sub_id == sub_id:
            res = deliver(sub, event, payload)
            if not res.ok:
                DeadLetters(home).add(
                    {
                        "ts": time.time(),
                        "sub_id": sub_id,
                        "url": sub.url,
                        "event": event,
                        "delivery_id": res.delivery_id,
                        "attempts": res.attempts,
                        "statuses": res.statuses,
                        "error": res.error,
                        "data": payload,
                    }
                )
            return res.ok
    return False


@ray.remote(num_cpus=1, max_retries=1)
def run_backtest_now(request: dict[str, Any], data_path: str) -> dict[str, Any]:
    """A synchronous ``POST /v1/backtest`` request, run on Ray and awaited by the route."""
    from serve._backtest import backtest_response

    return backtest_response(request, data_path)
