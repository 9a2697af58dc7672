"""Sans-IO parts against the real recordings: bars vs pandas, book vs the exchange's bookTicker, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantray.live import BinanceSession, LiveStrategy, MarketState, SignalEngine, read_recording
from quantray.live._state import BOOK_TOP_COLUMNS
from quantray.strategies import get_strategy

from ._util import assert_bars_equal, offline_bars, recorded_book_tickers

FILES = ["binance_spot_btcusdt_20240808", "binance_spot_ethusdt_20240808", "binance_usdm_btcusdt_20240808"]


def _run(path, market, symbol):
    s = BinanceSession([symbol], market=market)
    ms = MarketState()
    for r in read_recording(path):
        out = [] if r.snapshot else s.on_message(r.raw, r.recv_ns)
        if r.snapshot:
            snap = (json.loads(r.raw), r.recv_ns)
            s.snapshot_seen = snap  # type: ignore[attr-defined]
        if getattr(s, "snapshot_seen", None):
            for sym in s.symbols_needing_snapshot():
                out += s.on_snapshot(sym, *s.snapshot_seen)  # type: ignore[attr-defined]
        res = ms.apply(out)
        assert not res.resync
    ms.flush()
    return s, ms


@pytest.mark.parametrize("name", FILES)
def test_bars_and_book_match_independent_references(shared_data, name):
    path = shared_data / "ticks" / f"{name}.jsonl.gz"
    market = "usdm" if "usdm" in name else "spot"
    symbol = "ETHUSDT" if "eth" in name else "BTCUSDT"
    s, ms = _run(path, market, symbol)
    assert s.counters["malformed"] == s.counters["gaps"] == 0
    for iv, freq in ((60, "1min"), (1, "1s")):
        bars = ms.bars(iv)
        live = pd.DataFrame(
            {
                "ts": pd.to_datetime([b.ts_ns for b in bars], unit="ns", utc=True),
                **{
                    c: [getattr(b, c) for b in bars]
                    for c in ("open", "high", "low", "close", "volume", "vwap", "trades")
                },
            }
        )
        assert_bars_equal(live, offline_bars(path, freq))
    # best bid/ask after each applied depth update equals the exchange's bookTicker carrying the same update id
    tops = pd.DataFrame(ms.book_top, columns=BOOK_TOP_COLUMNS)
    joined = tops.merge(recorded_book_tickers(path), on="update_id", suffixes=("", "_ex"))
    assert len(joined) > 200
    for c in ("bid", "bid_size", "ask", "ask_size"):
        assert (joined[c] == joined[f"{c}_ex"]).all(), c


def test_bad_input_is_counted_and_resynced():
    s = BinanceSession(["BTCUSDT"], market="spot")
    assert s.on_message("{not json", 1) == []
    assert s.on_message('{"stream":"xrpusdt@trade","data":{"e":"trade","s":"XRPUSDT"}}', 1) == []
    snap = {"lastUpdateId": 10, "bids": [["100", "1"]], "asks": [["101", "1"]]}
    s.on_message('{"e":"depthUpdate","s":"BTCUSDT","U":9,"u":11,"b":[["100","2"]],"a":[]}', 1)
    out = s.on_snapshot("BTCUSDT", snap, 2)
    assert [r.snapshot for r in out] == [True, False] and s.is_synced("BTCUSDT")
    # negative size: rejected, counted, book resynced
    assert s.on_message('{"e":"depthUpdate","s":"BTCUSDT","U":12,"u":12,"b":[["100","-1"]],"a":[]}', 3) == []
    assert s.counters["bad_values"] == 1 and not s.is_synced("BTCUSDT")
    # a gap after a fresh snapshot: resync again
    s.on_snapshot("BTCUSDT", {"lastUpdateId": 12, "bids": [["100", "1"]], "asks": [["101", "1"]]}, 4)
    assert s.on_message('{"e":"depthUpdate","s":"BTCUSDT","U":13,"u":13,"b":[],"a":[]}', 5)
    assert s.on_message('{"e":"depthUpdate","s":"BTCUSDT","U":15,"u":16,"b":[],"a":[]}', 5) == []
    assert s.counters["gaps"] == 1 and s.symbols_needing_snapshot() == ["BTCUSDT"]
    assert s.counters["malformed"] == 1 and s.counters["unknown_stream"] == 1
    # a crossed book downstream: the state invalidates the book and asks for a resync, never raises
    ms = MarketState()
    ms.apply(out[:1])
    from quantray.live import BookUpdate

    res = ms.apply([BookUpdate(99, out[0].symbol, 0, 0, 11, 11, [(102.0, 1.0)], [], False)])
    assert res.resync == [out[0].symbol] and ms.counters["crossed"] == 1


def test_live_signals_equal_backtest_signal_array(shared_data):
    path = shared_data / "ticks" / "binance_spot_btcusdt_20240808.jsonl.gz"
    _, ms = _run(path, "spot", "BTCUSDT")
    bars = ms.bars(1)
    strategies = [
        LiveStrategy(name=n, params=p, interval_s=1)
        for n, p in [
            ("sma_cross", {"fast": 5, "slow": 20}),
            ("ema_cross", {"fast": 8, "slow": 21}),
            ("rsi_reversion", {"window": 14}),
            ("donchian_breakout", {"window": 20, "exit_window": 10}),
            ("macd", {}),
            ("bollinger_reversion", {"window": 20}),
        ]
    ]
    eng = SignalEngine(strategies)
    live: dict[str, list[int]] = {}
    for b in bars:
        for sig in eng.on_bar(b):
            live.setdefault(sig.strategy, []).append(sig.position)
    o, h, l, c, v = (
        np.array([getattr(b, f) for b in bars]) for f in ("open", "high", "low", "close", "volume")
    )
    for st in strategies:
        ref = get_strategy(st.name).signal(o, h, l, c, v, st.params)
        assert live[st.name] == ref.tolist(), st.name
        assert len(set(ref.tolist())) > 1, f"{st.name} never changes position on these bars"


def test_webhook_sink_posts_to_a_real_http_receiver():
    import http.server
    import threading

    from quantray.live import Event, EventBus, WebhookSink

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        bus = EventBus([WebhookSink(f"http://127.0.0.1:{srv.server_port}/hook")])
        ev = Event(1_723_161_600_000_000_000, "large_move", "binance:BTCUSDT", {"bps": 61.0}, "state", 3)
        assert bus.publish([ev, ev]) == 1
    finally:
        srv.shutdown()
    assert received == [
        {
            "events": [
                {
                    "ts": "2024-08-09T00:00:00Z",
                    "kind": "large_move",
                    "symbol": "binance:BTCUSDT",
                    "detail": {"bps": 61.0},
                }
            ]
        }
    ]
