"""Feed ↔ replay server over real websockets and HTTP on loopback: faults, reconnects, resync, backfill."""

from __future__ import annotations

import asyncio
import random

import pandas as pd

from quantray.live import BinanceFeed, FaultSpec, FeedConfig, MarketState, ReplayServer, backoff_delays

from ._util import assert_bars_equal, offline_bars, slice_recording


def _run(path, *, faults, mode, combined, stale_s=5.0, symbol="ETHUSDT"):
    async def main():
        srv = await ReplayServer(path, faults=faults, mode=mode).start()
        ms = MarketState()
        feed = None

        async def emit(records, events):
            for sym in ms.apply(records).resync:
                feed.request_resync(sym, "test")

        cfg = FeedConfig(
            market=srv.market,
            symbols=(symbol,),
            ws_url=srv.url,
            rest_url=srv.rest_url,
            combined=combined,
            stale_s=stale_s,
            backoff_initial_s=0.02,
            backoff_max_s=0.5,
        )
        feed = BinanceFeed(cfg, emit, seed=7)
        try:
            await asyncio.wait_for(feed.run(), 120)
        finally:
            await srv.stop()
        ms.flush()
        return srv, feed, ms

    return asyncio.run(main())


def _bars(ms, iv):
    bars = ms.bars(iv)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([b.ts_ns for b in bars], unit="ns", utc=True),
            **{
                c: [getattr(b, c) for b in bars]
                for c in ("open", "high", "low", "close", "volume", "vwap", "trades")
            },
        }
    )


def test_faulty_live_server_final_book_and_bars_still_correct(shared_data):
    path = shared_data / "ticks" / "binance_spot_ethusdt_20240808.jsonl.gz"
    faults = "drop=0.005,dup=0.01,reorder=0.005,disconnect=6000,seed=3"
    srv, feed, ms = _run(path, faults=faults, mode="live", combined=True)
    st = feed.session.counters
    assert srv.stats["aborted"] >= 4 and feed.stats["reconnects"] >= 4  # connections really dropped
    assert srv.stats["dropped"] > 0 and srv.stats["duplicated"] > 0 and srv.stats["reordered"] > 0
    assert st["gaps"] > 0 and st["trade_gaps"] > 0 and st["duplicates"] > 0  # faults were seen...
    assert feed.stats["snapshots_fetched"] >= 2 and st["backfilled_trades"] > 0  # ...and repaired
    sym = "binance:ETHUSDT"
    book = ms.syms[sym].book
    truth = srv.books["ETHUSDT"]  # the server's own book after every recorded diff
    assert book.last_update_id == truth.last_update_id
    assert book.levels(50) == truth.levels(50)
    # bars are exact: lost trades were backfilled over REST in id order
    assert_bars_equal(_bars(ms, 60), offline_bars(path, "1min"))
    assert ms.counters["aligned_mismatch"] == 0
    # exponential backoff with jitter, capped
    assert all(0.01 <= d <= 0.5 for d in feed.delays)


def test_subscribe_protocol_and_stall_reconnect(shared_data, tmp_path):
    """``/ws`` + SUBSCRIBE; the server stalls longer than ``stale_s``: the feed reconnects and resubscribes,
    and from the first trade it saw on, no trade is missing or doubled and the book ends equal to the server's."""
    path = slice_recording(
        shared_data / "ticks" / "binance_spot_btcusdt_20240808.jsonl.gz", tmp_path / "s.jsonl.gz", 6000
    )
    srv, feed, ms = _run(
        path, faults="stall=1500:1.0", mode="live", combined=False, stale_s=0.3, symbol="BTCUSDT"
    )
    assert srv.stats["stalls"] >= 1 and feed.stats["stale"] >= 1 and feed.stats["reconnects"] >= 1
    assert feed.session.counters["acks"] >= 2  # SUBSCRIBE answered on every (re)connection
    bars = ms.bars(1)
    ref = offline_bars(path, "1s")
    live = _bars(ms, 1)
    first = live["ts"].iloc[1]  # the first bar may be partial: the feed joined mid-second
    assert_bars_equal(
        live[live["ts"] >= first].reset_index(drop=True), ref[ref["ts"] >= first].reset_index(drop=True)
    )
    assert len(bars) > 10
    truth = srv.books["BTCUSDT"]
    assert ms.syms["binance:BTCUSDT"].book.levels(50) == truth.levels(50)


def test_backoff_and_fault_spec():
    d = backoff_delays(0.1, 2.0, 8, random.Random(1))
    caps = [min(2.0, 0.1 * 2**k) for k in range(8)]
    assert all(c / 2 <= x <= c for x, c in zip(d, caps, strict=True))
    f = FaultSpec.parse("drop=0.1,dup=0.2,reorder=0.3,disconnect=10,stall=5:0.5,seed=2")
    assert (f.drop, f.dup, f.reorder, f.disconnect, f.stall_every, f.stall_s, f.seed) == (
        0.1,
        0.2,
        0.3,
        10,
        5,
        0.5,
        2,
    )
    import pytest

    from quantray.errors import ConfigError

    with pytest.raises(ConfigError, match="drop"):
        FaultSpec.parse("drop=2")
    with pytest.raises(ConfigError, match="unknown key"):
        FaultSpec.parse("explode=1")
