"""The live snapshot API used by Serve: :func:`get_live_snapshot` and :func:`get_signal_history`.

Both look for the graph's named hub actor (``quantray-live`` in Ray namespace ``quantray``) in the Ray cluster
this process is already connected to. They never start Ray: without a connection, or without a running
graph, they return None.

Example:
    >>> get_live_snapshot() is None  # not connected to Ray here
    True
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from quantray.live._records import Signal

__all__ = ["build_snapshot", "get_live_snapshot", "get_signal_history", "signal_dict"]


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).isoformat().replace("+00:00", "Z")


def _num(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def signal_dict(s: Signal) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "strategy": s.strategy,
        "params": dict(s.params),
        "position": int(s.position),
        "bar_ts": _iso(s.bar_ts_ns),
        "price": float(s.price),
    }


def build_snapshot(
    tops: list[dict[str, Any]], latest: list[Signal], view: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    """Assemble the snapshot dict (the contract with Serve)."""
    book_top = [
        {
            "symbol": t["symbol"],
            "ts": _iso(int(t["ts"])),
            "update_id": int(t["update_id"]),
            "bid": _num(t["bid"]),
            "bid_size": _num(t["bid_size"]),
            "ask": _num(t["ask"]),
            "ask_size": _num(t["ask_size"]),
        }
        for t in tops
    ]
    positions = [{k: _num(v) for k, v in p.items()} for p in view["positions"]]
    return {
        "as_of": datetime.now(tz=UTC).isoformat().replace("+00:00", "Z"),
        "signals": [signal_dict(s) for s in sorted(latest, key=lambda s: (s.symbol, s.strategy))],
        "positions": positions,
        "pnl": {k: float(view["pnl"][k]) for k in ("equity", "cash", "realized", "unrealized")},
        "book_top": book_top,
        "events": events[-100:],
    }


def _hub() -> Any:
    try:
        import ray
    except ImportError:  # pragma: no cover
        return None
    if not ray.is_initialized():
        return None
    try:
        return ray.get_actor("quantray-live", namespace="quantray")
    except ValueError:
        return None


def get_live_snapshot(*, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """Latest signals, positions, P&L, book tops and events of the running live graph, or None.

    Returns None when this process is not connected to Ray (it never starts Ray) or no live graph runs in
    the connected cluster. Keys: ``as_of`` (ISO-8601 UTC), ``signals`` (symbol, strategy, params, position,
    bar_ts, price), ``positions`` (strategy, symbol, qty, avg_price, mark, unrealized_pnl, realized_pnl),
    ``pnl`` (equity, cash, realized, unrealized), ``book_top`` (symbol, ts, update_id, bid, bid_size, ask,
    ask_size) and ``events`` (ts, kind, symbol, detail; the latest ≤ 100).
    """
    hub = _hub()
    if hub is None:
        return None
    import ray

    try:
        return dict(ray.get(hub.snapshot.remote(timeout_s), timeout=timeout_s))
    except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
        return None


def get_signal_history(symbol: str, strategy: str, *, limit: int = 100) -> list[dict[str, Any]] | None:
    """The last ``limit`` signals of ``strategy`` on ``symbol`` (oldest first), or None without a live graph."""
    hub = _hub()
    if hub is None:
        return None
    import ray

    try:
        return list(ray.get(hub.history.remote(symbol, strategy, int(limit)), timeout=5.0))
    except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
        return None
