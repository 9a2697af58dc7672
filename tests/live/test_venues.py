"""Coinbase Advanced Trade and Alpaca through their protocol replay server (fixtures rewritten from a real
Binance recording in each venue's documented message format)."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from quantray.errors import ConfigError
from quantray.live import MarketState
from quantray.live._venues import (
    AlpacaSession,
    CoinbaseSession,
    VenueFeed,
    VenueReplayServer,
    binance_to_venue,
)


def _run(server, session, *, stale_s=5.0):
    async def main():
        await server.start()
        ms = MarketState()
        trades = []
        feed = None

        async def emit(records, events):
            trades.extend(r for r in records if type(r).__name__ == "Trade")
            for sym in ms.apply(records).resync:
                feed.request_resync(sym, "test")

        feed = VenueFeed(
            session, server.url, emit, stale_s=stale_s, backoff_initial_s=0.02, backoff_max_s=0.2, seed=1
        )
        try:
            await asyncio.wait_for(feed.run(), 60)
        finally:
            await server.stop()
        ms.flush()
        return feed, ms, trades

    return asyncio.run(main())


def _fixture_trades(path, venue):
    import gzip

    rows = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            m = json.loads(line.split(" ", 1)[1])
            if venue == "alpaca":
                rows += [(x["i"], x["t"], x["p"], x["s"]) for x in m if x["T"] == "t"]
            elif m["channel"] == "market_trades":
                rows += [
                    (int(t["trade_id"]), t["time"], float(t["price"]), float(t["size"]))
                    for ev in m["events"]
                    for t in ev["trades"]
                ]
    return pd.DataFrame(rows, columns=["id", "time", "price", "qty"])


@pytest.fixture(scope="module")
def eth(shared_data):
    return shared_data / "ticks" / "binance_spot_ethusdt_20240808.jsonl.gz"


def test_coinbase_level2_with_faults_resubscribes_and_ends_with_the_true_book(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "cb.jsonl.gz", venue="coinbase", limit=8000)
    srv = VenueReplayServer(fx, venue="coinbase", faults="drop=0.01,dup=0.01,disconnect=500,seed=5", speed=40)
    session = CoinbaseSession(["ETH-USD"])
    feed, ms, trades = _run(srv, session)
    c = session.counters
    assert srv.stats["aborted"] >= 1 and feed.stats["reconnects"] >= 1
    assert c["gaps"] > 0 and c["snapshots"] > 1 and c["heartbeats"] > 0 and c["duplicates"] > 0
    truth = srv.final_books["coinbase"]
    assert ms.syms["coinbase:ETH-USD"].book.levels(40) == truth.levels(40)
    ids = [t.trade_id for t in trades]
    assert ids == sorted(set(ids))  # never a duplicate, always in order
    ref = _fixture_trades(fx, "coinbase")
    assert set(ids) <= set(ref["id"]) and len(ids) > 0.9 * len(ref)


def test_coinbase_clean_run_bars_equal_pandas(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "cb.jsonl.gz", venue="coinbase", limit=5000)
    _, ms, _ = _run(VenueReplayServer(fx, venue="coinbase"), CoinbaseSession(["ETH-USD"]))
    ref = _fixture_trades(fx, "coinbase")
    ref["ts"] = pd.to_datetime(ref["time"], utc=True).dt.floor("1s")
    g = ref.groupby("ts")
    bars = ms.bars(1)
    assert [pd.Timestamp(b.ts_ns, unit="ns", tz="UTC") for b in bars] == list(g.size().index)
    assert [b.close for b in bars] == g["price"].last().tolist()
    assert [b.trades for b in bars] == g.size().tolist()


def test_alpaca_auth_handshake_trades_quotes_and_reconnect(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "al.jsonl.gz", venue="alpaca", limit=6000)
    srv = VenueReplayServer(fx, venue="alpaca", faults="dup=0.02,disconnect=600,seed=2", speed=40)
    session = AlpacaSession(["ETH-USD"], key="test-key", secret="test-secret")
    feed, ms, trades = _run(srv, session)
    assert feed.stats["reconnects"] >= 1 and session.counters["acks"] >= 2  # re-auth + resubscribe each time
    ref = _fixture_trades(fx, "alpaca").set_index("id")
    ids = [t.trade_id for t in trades]
    assert ids == sorted(set(ids)) and len(ids) > 0.8 * len(ref)  # duplicates dropped, order kept
    assert [t.price for t in trades] == ref.loc[ids, "price"].tolist()  # (a drop is undetectable on Alpaca)
    assert session.counters["quotes"] > 0 and ms.syms["alpaca:ETH-USD"].quote is not None


def test_alpaca_bad_credentials_fail_cleanly(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "al.jsonl.gz", venue="alpaca", limit=200)
    srv = VenueReplayServer(fx, venue="alpaca")
    with pytest.raises(ConfigError, match="alpaca error 402: auth failed"):
        _run(srv, AlpacaSession(["ETH-USD"], key="test-key", secret="wrong"))
    assert srv.stats["auth_failures"] == 1
