"""W7: live ingest — recorded Binance sessions through FeedActor → MarketStateActor → SignalActor on local Ray,
side by side with a single-process asyncio baseline doing the same work (same replay server, same parsing,
book, bars and strategies). Prints messages/s, p50/p99 receipt → signal latency and the ratios; writes JSON to
benchmarks/results/w7_stream.json.

    RAY_AUTH_MODE=disabled .venv/bin/python -m benchmarks.w7_stream [--files ../shared/data/ticks/*.jsonl.gz]
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

STRATEGIES = [
    {"name": "sma_cross", "params": {"fast": 5, "slow": 20}, "interval_s": 1},
    {"name": "ema_cross", "params": {"fast": 10, "slow": 30}, "interval_s": 1},
    {"name": "rsi_reversion", "params": {"window": 14}, "interval_s": 1},
]


def baseline(files: list[str]) -> dict:
    """One process, one asyncio loop: replay servers + feeds + market state + signals, no actors."""
    from quantray.live import BinanceFeed, FeedConfig, LiveStrategy, MarketState, ReplayServer, SignalEngine
    from quantray.live._files import detect_binance_market, read_recording

    lat: list[int] = []
    msgs = 0

    async def one(path: str) -> None:
        nonlocal msgs
        market, symbols, _ = detect_binance_market(read_recording(path)[:2000])
        srv = await ReplayServer(path, mode="session").start()
        ms = MarketState()
        eng = SignalEngine([LiveStrategy.from_dict(s) for s in STRATEGIES])

        async def emit(records, events):
            out = ms.apply(records)
            for b in out.bars:
                sigs = eng.on_bar(b)
                now = time.time_ns()
                lat.extend(now - s.recv_ns for s in sigs if s.recv_ns)

        cfg = FeedConfig(market=market, symbols=tuple(symbols), ws_url=srv.url, rest_url=srv.rest_url)
        feed = BinanceFeed(cfg, emit)
        await feed.run()
        msgs += feed.session.counters["messages"]
        await srv.stop()

    async def main() -> None:
        await asyncio.gather(*(one(f) for f in files))

    t0 = time.perf_counter()
    asyncio.run(main())
    secs = time.perf_counter() - t0
    return {"messages": msgs, "seconds": secs, "lat_ns": lat}


def on_ray(files: list[str]) -> dict:
    from quantray import dist
    from quantray.live import replay

    dist.connect(num_cpus=2, object_store_memory_mb=300, temp_dir=tempfile.mkdtemp(prefix="qrb-", dir="/tmp"))
    import ray

    try:
        res = replay(
            files,
            strategies=STRATEGIES,
            checkpoint_every=20_000,
            inspect=lambda g: ray.get(g.signal.latencies.remote()),
        )
    finally:
        dist.shutdown()
    msgs = sum(int(f["session"]["messages"]) for f in res.feeds)
    return {"messages": msgs, "seconds": res.seconds, "lat_ns": res.inspected}


def _summary(name: str, r: dict, span_s: float) -> dict:
    lat = np.array(r["lat_ns"], dtype=np.float64) / 1e6
    out = {
        "mode": name,
        "messages": r["messages"],
        "seconds": round(r["seconds"], 3),
        "messages_per_s": round(r["messages"] / r["seconds"], 1),
        "x_real_time": round(span_s / r["seconds"], 1),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 3) if lat.size else None,
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 3) if lat.size else None,
        "signals": int(lat.size),
    }
    return out


def main() -> None:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--files", nargs="*", default=sorted(glob.glob("../shared/data/ticks/*.jsonl.gz")))
    args = ap.parse_args()
    from quantray.live._files import read_recording

    spans = []
    for f in args.files:
        rec = read_recording(f)
        spans.append((rec[-1].recv_ns - rec[0].recv_ns) / 1e9)
    span = max(spans)
    rows = [
        _summary("asyncio, one process", baseline(args.files), span),
        _summary("Ray actors (feed -> state -> signal -> portfolio, checkpointed)", on_ray(args.files), span),
    ]
    print(
        f"W7 live ingest: {len(args.files)} recorded sessions, {rows[0]['messages']:,} messages, "
        f"{span:.0f} s of market time"
    )
    print(f"{'mode':<64} {'msg/s':>10} {'x real time':>12} {'p50 ms':>9} {'p99 ms':>9}")
    for r in rows:
        print(
            f"{r['mode']:<64} {r['messages_per_s']:>10,.0f} {r['x_real_time']:>12,.1f} "
            f"{r['latency_ms_p50']!s:>9} {r['latency_ms_p99']!s:>9}"
        )
    ratio = rows[1]["messages_per_s"] / rows[0]["messages_per_s"]
    print(f"Ray / asyncio throughput ratio: {ratio:.2f} (target 200,000 msg/s on 2 cores)")
    out = Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "w7_stream.json").write_text(json.dumps({"rows": rows, "ratio_ray_over_asyncio": ratio}, indent=2))
    print(f"results: {out / 'w7_stream.json'}")


if __name__ == "__main__":
    main()
