"""Coinbase Advanced Trade and Alpaca through their protocol replay server (fixtures rewritten from a real
Binance recording in each venue's documented message format), with every fault of the --faults syntax: drops,
duplicates, reordering, disconnects and stalls."""

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


def _run(server, session, *, stale_s=5.0, events_out=None):
    async def main():
        await server.start()
        ms = MarketState()
        trades = []
        feed = None

        async def emit(records, events):
            trades.extend(r for r in records if type(r).__name__ == "Trade")
            if events_out is not None:
                events_out.extend(events)
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


def test_coinbase_reorder_breaks_the_sequence_resyncs_the_book_and_loses_no_trade(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "cb.jsonl.gz", venue="coinbase", limit=6000)
    srv = VenueReplayServer(fx, venue="coinbase", faults="reorder=0.02,seed=7", speed=40)
    session = CoinbaseSession(["ETH-USD"])
    events = []
    _, ms, trades = _run(srv, session, events_out=events)
    c = session.counters
    assert srv.stats["reordered"] > 0 and srv.stats["aborted"] == 0
    # a swapped pair is a jump in sequence_num (a gap: level2 resubscribed, a fresh snapshot) followed by a
    # late message (dropped if a book update, delivered if trades)
    assert c["gaps"] > 0 and c["late"] > 0 and c["resyncs"] >= c["gaps"] and c["snapshots"] > 1
    assert sum(e.kind == "gap" for e in events) == c["gaps"]
    assert ms.syms["coinbase:ETH-USD"].book.levels(40) == srv.final_books["coinbase"].levels(40)
    ids = [t.trade_id for t in trades]
    ref = _fixture_trades(fx, "coinbase")
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(ref["id"])  # reordered, none lost, none twice


def test_coinbase_stall_means_missing_heartbeats_stale_feed_and_reconnect(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "cb.jsonl.gz", venue="coinbase", limit=5000)
    srv = VenueReplayServer(fx, venue="coinbase", faults="stall=400:1.0,seed=3", speed=40)
    session = CoinbaseSession(["ETH-USD"])
    events = []
    feed, ms, _ = _run(srv, session, stale_s=0.3, events_out=events)
    assert srv.stats["stalls"] >= 1 and srv.stats["aborted"] == 0
    assert feed.stats["stale"] >= 1 and feed.stats["reconnects"] >= feed.stats["stale"]
    stale = [e for e in events if e.kind == "stale_feed"]
    assert len(stale) == feed.stats["stale"]
    assert all(e.detail["last_heartbeat_s_ago"] >= 0.3 for e in stale)  # the heartbeats stopped with the rest
    assert session.counters["heartbeats"] > 0 and session.counters["snapshots"] >= 2  # resubscribed after it
    assert ms.syms["coinbase:ETH-USD"].book.levels(40) == srv.final_books["coinbase"].levels(40)


def test_alpaca_stall_reconnects_and_reauthenticates_reordered_trades_kept(eth, tmp_path):
    fx = binance_to_venue(eth, tmp_path / "al.jsonl.gz", venue="alpaca", limit=6000)
    srv = VenueReplayServer(fx, venue="alpaca", faults="stall=1200:1.0,reorder=0.02,seed=4", speed=40)
    session = AlpacaSession(["ETH-USD"], key="test-key", secret="test-secret")
    events = []
    feed, ms, trades = _run(srv, session, stale_s=0.3, events_out=events)
    assert srv.stats["stalls"] >= 1 and srv.stats["reordered"] > 0
    assert feed.stats["stale"] >= 1 and feed.stats["reconnects"] >= 1
    assert sum(e.kind == "stale_feed" for e in events) == feed.stats["stale"]
    assert srv.stats["auths"] == feed.stats["connects"] >= 2  # every connection authenticated again
    assert session.counters["acks"] == feed.stats["connects"]  # and subscribed again
    ref = _fixture_trades(fx, "alpaca").set_index("id")
    ids = [t.trade_id for t in trades]
    assert len(ids) == len(set(ids)) and session.counters["late"] > 0
    assert [t.price for t in trades] == ref.loc[ids, "price"].tolist()
    # only what a stalled connection still held is lost: the message it stalled on and one held back
    assert len(ref) - len(ids) <= 2 * srv.stats["stalls"]
    assert ms.syms["alpaca:ETH-USD"].quote is not None
