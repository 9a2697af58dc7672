"""`quantray stream replay-server --venue coinbase|alpaca` serves a Binance recording rewritten into the venue's
protocol from a separate process; the venue adapters read it over a real websocket on loopback."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from quantray.live import MarketState
from quantray.live._venues import (
    AlpacaSession,
    CoinbaseSession,
    VenueFeed,
    VenueReplayServer,
    binance_to_venue,
)


def _head(src: Path, dst: Path, n: int) -> Path:
    with gzip.open(src, "rt") as fin, gzip.open(dst, "wt") as fout:
        for i, line in enumerate(fin):
            if i >= n:
                break
            fout.write(line)
    return dst


def _read(session, url):
    async def main():
        ms, trades = MarketState(), []

        async def emit(records, events):
            trades.extend(r for r in records if type(r).__name__ == "Trade")
            ms.apply(records)

        feed = VenueFeed(session, url, emit, backoff_initial_s=0.05, backoff_max_s=0.2, seed=1)
        await asyncio.wait_for(feed.run(), 60)
        ms.flush()
        return ms, trades

    return asyncio.run(main())


def _session(venue: str) -> CoinbaseSession | AlpacaSession:
    if venue == "coinbase":
        return CoinbaseSession(["ETH-USD"])
    return AlpacaSession(["ETH-USD"], key="test-key", secret="test-secret")


def _serve(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "quantray", "stream", "replay-server", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " on ws://" not in line:
        proc.kill()
        raise AssertionError(f"no server line: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split(" on ", 1)[1].split(";", 1)[0]


def _stop(proc: subprocess.Popen[str]) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.mark.parametrize("venue", ["coinbase", "alpaca"])
def test_replay_server_cli_speaks_the_venue_protocol(shared_data, tmp_path, venue):
    rec = _head(
        shared_data / "ticks" / "binance_spot_ethusdt_20240808.jsonl.gz", tmp_path / "eth.jsonl.gz", 4000
    )
    proc, url = _serve(["--file", str(rec), "--venue", venue])
    try:
        session = _session(venue)
        ms, trades = _read(session, url)
    finally:
        _stop(proc)
    # the same fixture served in-process is the reference: same trades, same book
    fx = binance_to_venue(rec, tmp_path / f"{venue}.jsonl.gz", venue=venue)
    ref_session = _session(venue)
    ref_srv = VenueReplayServer(fx, venue=venue)
    ref_ms, ref_trades = _read_with_server(ref_srv, ref_session)
    assert len(trades) > 100
    assert [(t.trade_id, t.price, t.qty, t.ts_ns) for t in trades] == [
        (t.trade_id, t.price, t.qty, t.ts_ns) for t in ref_trades
    ]
    sym = f"{venue}:ETH-USD"
    assert [(b.ts_ns, b.close, b.volume) for b in ms.bars(1)] == [
        (b.ts_ns, b.close, b.volume) for b in ref_ms.bars(1)
    ]
    if venue == "coinbase":
        assert ms.syms[sym].book.levels(20) == ref_srv.final_books["coinbase"].levels(20)


def _read_with_server(srv, session):
    async def main():
        await srv.start()
        ms, trades = MarketState(), []

        async def emit(records, events):
            trades.extend(r for r in records if type(r).__name__ == "Trade")
            ms.apply(records)

        feed = VenueFeed(session, srv.url, emit, backoff_initial_s=0.05, backoff_max_s=0.2, seed=1)
        try:
            await asyncio.wait_for(feed.run(), 60)
        finally:
            await srv.stop()
        ms.flush()
        return ms, trades

    return asyncio.run(main())


def test_replay_server_cli_refuses_a_file_that_is_no_recording(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('1 {"hello": 1}\n')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "quantray",
            "stream",
            "replay-server",
            "--file",
            str(bad),
            "--venue",
            "coinbase",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("quantray: error:") and str(bad) in proc.stderr and "Binance" in proc.stderr
