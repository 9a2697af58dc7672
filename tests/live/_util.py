"""Independent references for the live tests: raw recordings parsed with json + pandas only."""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import pandas as pd


@functools.lru_cache(maxsize=4)
def raw_messages(path: Path) -> list[dict]:
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            _, raw = line.split(" ", 1)
            out.append(json.loads(raw))
    return out


def offline_bars(path: Path, freq: str) -> pd.DataFrame:
    """OHLCV/VWAP/count of the recorded trades per ``freq`` interval, by pandas groupby."""
    rows = [m["data"] for m in raw_messages(path) if m.get("stream", "").endswith("@trade")]
    t = pd.DataFrame(
        {
            "ts": pd.to_datetime([r["T"] for r in rows], unit="ms", utc=True),
            "p": [float(r["p"]) for r in rows],
            "q": [float(r["q"]) for r in rows],
        }
    )
    t["pq"] = t["p"] * t["q"]
    g = t.groupby(t["ts"].dt.floor(freq))
    out = pd.DataFrame(
        {
            "open": g["p"].first(),
            "high": g["p"].max(),
            "low": g["p"].min(),
            "close": g["p"].last(),
            "volume": g["q"].sum(),
            "pv": g["pq"].sum(),
            "trades": g["p"].size(),
        }
    )
    out["vwap"] = out["pv"] / out["volume"]
    return out.drop(columns="pv").reset_index(names="ts")


def recorded_book_tickers(path: Path) -> pd.DataFrame:
    rows = [m["data"] for m in raw_messages(path) if m.get("stream", "").endswith("@bookTicker")]
    return pd.DataFrame(
        {
            "update_id": [int(r["u"]) for r in rows],
            "bid": [float(r["b"]) for r in rows],
            "bid_size": [float(r["B"]) for r in rows],
            "ask": [float(r["a"]) for r in rows],
            "ask_size": [float(r["A"]) for r in rows],
        }
    )


def assert_bars_equal(live: pd.DataFrame, ref: pd.DataFrame) -> None:
    live = live.sort_values("ts").reset_index(drop=True)
    assert list(live["ts"]) == list(ref["ts"])
    for c in ("open", "high", "low", "close"):
        assert (live[c].to_numpy() == ref[c].to_numpy()).all(), c
    for c in ("volume", "vwap"):
        assert abs(live[c].to_numpy() - ref[c].to_numpy()).max() <= 1e-9 * ref[c].abs().max(), c
    assert (live["trades"].to_numpy() == ref["trades"].to_numpy()).all()


def slice_recording(path: Path, out: Path, n: int) -> Path:
    with gzip.open(path, "rt") as src, gzip.open(out, "wt") as dst:
        for i, line in enumerate(src):
            if i >= n:
                break
            dst.write(line)
    return out


def in_process(path: Path, strategies: list[dict], symbol: str = "ETHUSDT", market: str = "spot"):
    """The same work without Ray, actors, sockets or restarts: the uninterrupted reference."""
    from quantray.live import (
        BinanceSession,
        LiveStrategy,
        MarketState,
        Portfolio,
        SignalEngine,
        read_recording,
    )

    s = BinanceSession([symbol], market=market)
    ms = MarketState()
    snap = None
    for r in read_recording(path):
        out = []
        if r.snapshot:
            snap = json.loads(r.raw)
        else:
            out = s.on_message(r.raw, r.recv_ns)
        if snap is not None:
            for sym in s.symbols_needing_snapshot():
                out += s.on_snapshot(sym, snap, 0)
        ms.apply(out)
    ms.flush()
    eng = SignalEngine([LiveStrategy.from_dict(d) for d in strategies])
    pf = Portfolio()
    for b in ms.bars_since(0):
        for sig in eng.on_bar(b):
            pf.on_signal(sig)
    return ms, eng, pf


def pnl_frame(pf) -> pd.DataFrame:
    ref = pf.pnl_table().to_pandas()
    ref["ts"] = pd.to_datetime(ref["ts"], unit="ns", utc=True)
    return ref.sort_values(["strategy", "params", "symbol", "ts"], kind="stable").reset_index(drop=True)
