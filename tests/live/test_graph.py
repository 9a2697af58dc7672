"""The whole actor graph on local Ray against the replay server: results, snapshot API, kills, webhook."""

from __future__ import annotations

import http.server
import json
import threading

import pandas as pd
import pytest

from ._util import assert_bars_equal, offline_bars, recorded_book_tickers, slice_recording


def test_whole_recording_through_actor_graph(ray_local, shared_data, tmp_path):
    from quantray.live import replay

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
    path = shared_data / "ticks" / "binance_spot_ethusdt_20240808.jsonl.gz"
    try:
        res = replay(
            [path],
            out=tmp_path,
            strategies=[{"name": "sma_cross", "params": {"fast": 5, "slow": 20}, "interval_s": 1}],
        )
    finally:
        srv.shutdown()
    bars = pd.read_parquet(tmp_path / "bars_1m.parquet")
    assert list(bars.columns) == ["ts", "symbol", "open", "high", "low", "close", "volume", "vwap", "trades"]
    assert_bars_equal(bars, offline_bars(path, "1min"))
    top = pd.read_parquet(tmp_path / "book_top.parquet")
    assert list(top.columns) == ["ts", "symbol", "update_id", "bid", "bid_size", "ask", "ask_size"]
    j = top.merge(recorded_book_tickers(path), on="update_id", suffixes=("", "_ex"))
    assert len(j) > 200 and all((j[c] == j[f"{c}_ex"]).all() for c in ("bid", "bid_size", "ask", "ask_size"))
    pnl = pd.read_parquet(tmp_path / "pnl.parquet")
    assert len(pnl) == len(res.frames["bars_1s"])  # one row per 1 s bar for the one strategy


@pytest.mark.parametrize("actor", ["feed", "state", "signal", "portfolio"])
def test_killing_an_actor_changes_no_final_figure(ray_local, shared_data, tmp_path_factory, actor):
    from quantray.live import replay

    base = tmp_path_factory.getbasetemp() / "slice.jsonl.gz"
    if not base.exists():
        slice_recording(shared_data / "ticks" / "binance_spot_btcusdt_20240808.jsonl.gz", base, 6000)
    ref_dir = tmp_path_factory.getbasetemp() / "ref"
    if not (ref_dir / "pnl.parquet").exists():
        replay([base], out=ref_dir, checkpoint_every=1000)
    n = {"feed": 3000, "state": 3000, "signal": 40, "portfolio": 60}[actor]
    out = tmp_path_factory.mktemp(actor)
    replay([base], out=out, kill=(actor, n), checkpoint_every=1000)
    for name in ("bars_1m", "book_top", "pnl"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{name}.parquet"), pd.read_parquet(ref_dir / f"{name}.parquet")
        )
