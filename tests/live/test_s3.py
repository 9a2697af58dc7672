"""Checkpoints and the WAL on a real S3 API (moto server on loopback), with actors killed mid-replay."""

from __future__ import annotations

import os
import socket

import pandas as pd
import pyarrow as pa
import pytest

from quantray.live._state import BOOK_TOP_COLUMNS

from ._util import in_process, pnl_frame, slice_recording

STRATEGIES = [{"name": "sma_cross", "params": {"fast": 3, "slow": 8}, "interval_s": 1}]


@pytest.fixture(scope="module")
def s3_options():
    import s3fs
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = {k: os.environ.pop(k, None) for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")}
    options = {
        "key": "testing",
        "secret": "testing",
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
    }
    s3fs.S3FileSystem(**options).mkdir("qr-live")
    try:
        yield options
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v


def test_checkpoint_store_on_s3(s3_options):
    from quantray.live import CheckpointStore, Trade

    store = CheckpointStore("s3://qr-live/unit", s3_options, keep=2)
    for seq in (5, 9, 12):
        store.save("a", seq, {"t": pa.table({"x": [seq]})})
    seq, tables = store.load_latest("a")
    assert seq == 12 and tables["t"].column("x").to_pylist() == [12]
    assert store._committed("a") == [9, 12]  # older checkpoints pruned
    recs = [Trade(i, "X", i, i, 1.0 + i, 2.0, i) for i in range(1, 7)]
    store.append_wal("feed", recs[:3])
    store.append_wal("feed", recs[3:])
    assert store.read_wal("feed", 2) == recs[2:]


def test_graph_checkpoints_to_s3_and_recovers(ray_local, shared_data, s3_options, tmp_path):
    from quantray.live import replay

    path = slice_recording(
        shared_data / "ticks" / "binance_spot_ethusdt_20240808.jsonl.gz", tmp_path / "eth.jsonl.gz", 5000
    )
    res = replay(
        [path],
        out=tmp_path / "out",
        strategies=STRATEGIES,
        kill=[("state", 2500), ("feed", 3000)],
        checkpoint_url="s3://qr-live/graph",
        storage_options=s3_options,
        checkpoint_every=1000,
    )
    ms, _, pf = in_process(path, STRATEGIES)
    top = res.frames["book_top"]
    assert top["update_id"].tolist() == [r[2] for r in ms.book_top]
    assert top[BOOK_TOP_COLUMNS[3:]].to_numpy().tolist() == [list(r[3:]) for r in ms.book_top]
    pd.testing.assert_frame_equal(res.frames["pnl"], pnl_frame(pf))
    import s3fs

    keys = s3fs.S3FileSystem(**s3_options).find("qr-live/graph")
    assert any("/wal/" in k for k in keys) and any(k.endswith("_COMMITTED") for k in keys)
    assert sum("killed-" in k for k in keys) == 2
