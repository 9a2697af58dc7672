"""The whole actor graph on local Ray against the replay server: a whole recorded file, every actor killed
mid-replay, results equal to independent references and to an uninterrupted in-process run; snapshot API."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quantray.live._state import BOOK_TOP_COLUMNS

from ._util import assert_bars_equal, in_process, offline_bars, recorded_book_tickers

STRATEGIES = [
    {"name": "sma_cross", "params": {"fast": 5, "slow": 20}, "interval_s": 1},
    {"name": "ema_cross", "params": {"fast": 10, "slow": 30}, "interval_s": 1},
]


def test_whole_file_with_every_actor_killed_equals_uninterrupted_run(ray_local, shared_data, tmp_path):
    from quantray.live import get_live_snapshot, get_signal_history, replay

    assert get_live_snapshot() is None  # Ray is connected but no graph runs
    path = shared_data / "ticks" / "binance_spot_ethusdt_20240808.jsonl.gz"

    def inspect(graph):
        from quantray.live import CheckpointStore

        store = CheckpointStore(graph.store["url"])
        names = [
            graph.feed_names[0],
            graph.shard_names[graph.feed_names[0]][0],
            graph.signal_name,
            graph.portfolio_name,
        ]
        killed = [store.marker(f"killed-{n}") for n in names]
        return (
            get_live_snapshot(timeout_s=10),
            get_signal_history("binance:ETHUSDT", "sma_cross", limit=5),
            killed,
        )

    kills = [("feed", 12000), ("state", 20000), ("signal", 300), ("portfolio", 500)]
    res = replay(
        [path], out=tmp_path, strategies=STRATEGIES, kill=kills, checkpoint_every=4000, inspect=inspect
    )
    ms, eng, pf = in_process(path, STRATEGIES)

    bars = pd.read_parquet(tmp_path / "bars_1m.parquet")
    assert list(bars.columns) == ["ts", "symbol", "open", "high", "low", "close", "volume", "vwap", "trades"]
    assert_bars_equal(bars, offline_bars(path, "1min"))
    assert_bars_equal(res.frames["bars_1s"], offline_bars(path, "1s"))

    top = pd.read_parquet(tmp_path / "book_top.parquet")
    assert list(top.columns) == BOOK_TOP_COLUMNS
    ref_top = pd.DataFrame(ms.book_top, columns=BOOK_TOP_COLUMNS)
    assert top["update_id"].tolist() == ref_top["update_id"].tolist()
    for c in ("bid", "bid_size", "ask", "ask_size"):
        assert np.array_equal(top[c].to_numpy(), ref_top[c].to_numpy()), c
    j = top.merge(recorded_book_tickers(path), on="update_id", suffixes=("", "_ex"))
    assert len(j) > 200 and all((j[c] == j[f"{c}_ex"]).all() for c in ("bid", "bid_size", "ask", "ask_size"))

    pnl = pd.read_parquet(tmp_path / "pnl.parquet")
    ref = pf.pnl_table().to_pandas()
    ref["ts"] = pd.to_datetime(ref["ts"], unit="ns", utc=True)
    ref = ref.sort_values(["strategy", "params", "symbol", "ts"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(pnl, ref)
    assert pnl["position"].abs().sum() > 0 and pnl["realized_pnl"].abs().sum() > 0

    snap, hist, killed = res.inspected
    assert killed == [True, True, True, True]  # each actor really died mid-replay and was restarted
    assert set(snap) == {"as_of", "signals", "positions", "pnl", "book_top", "events"}
    totals = pf.totals()
    assert snap["pnl"] == {k: totals[k] for k in ("equity", "cash", "realized", "unrealized")}
    assert snap["book_top"][0]["update_id"] == int(ref_top["update_id"].iloc[-1])
    latest = {s.strategy: s.position for s in eng.latest()}
    assert {s["strategy"]: s["position"] for s in snap["signals"]} == latest
    ref_hist = [s for s in eng.history if s.strategy == "sma_cross"][-5:]
    assert [h["position"] for h in hist] == [s.position for s in ref_hist]
    assert [h["price"] for h in hist] == [s.price for s in ref_hist]


def test_two_shards_equal_one_shard_and_the_reference_path(ray_local, shared_data, tmp_path):
    """One feed carrying two symbols split over two market-state shards (fast path) gives exactly the
    outputs of one shard running the record-based reference path end to end."""
    import gzip

    from quantray.live import replay
    from quantray.live._actors import shard_of

    assert shard_of("binance:BTCUSDT", 2) != shard_of("binance:ETHUSDT", 2)
    rows = []
    for name in ("binance_spot_btcusdt_20240808", "binance_spot_ethusdt_20240808"):
        with gzip.open(shared_data / "ticks" / f"{name}.jsonl.gz", "rt") as fh:
            lines = [next(fh) for _ in range(5000)]
        first = int(lines[1].split(" ", 1)[0])
        # each file's REST snapshot line right before its first message
        rows += [
            (
                first - 0.5
                if ln.split(" ", 1)[1].startswith('{"lastUpdateId"')
                else int(ln.split(" ", 1)[0]),
                ln,
            )
            for ln in lines
        ]
    path = tmp_path / "two.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(ln for _, ln in sorted(rows, key=lambda r: r[0]))
    two = replay([path], strategies=STRATEGIES, shards_per_feed=2)
    ref = replay([path], strategies=STRATEGIES, shards_per_feed=1, fast=False)
    counters = two.frames["counters"]
    assert len(counters) == 2 and (counters["records"] > 2000).all()  # both shards really got work
    assert int(counters["records"].sum()) == int(ref.frames["counters"]["records"].sum())
    assert set(two.frames["bars_1m"]["symbol"]) == {"binance:BTCUSDT", "binance:ETHUSDT"}
    for key in ("bars_1m", "bars_1s", "book_top", "pnl"):
        pd.testing.assert_frame_equal(two.frames[key], ref.frames[key], check_exact=True)
    assert len(two.frames["book_top"]) > 500 and len(two.frames["pnl"]) > 10
