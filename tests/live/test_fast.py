"""The compiled fast path against the record-based reference (BinanceSession.on_message, MarketState.apply,
OrderBook, BarBuilder): identical records, sequence numbers, counters, bars, book tops and events on the three
recordings, under faults, and on bad input; the decimal parser against Python's float()."""

from __future__ import annotations

import itertools
import json
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantray.live import BinanceSession, MarketState, read_recording
from quantray.live._fast import FastBinanceParser, FastMarketState
from quantray.live._kernels import parse_decimal
from quantray.live._records import records_to_table

FILES = ["binance_spot_btcusdt_20240808", "binance_spot_ethusdt_20240808", "binance_usdm_btcusdt_20240808"]


class _Exchange:
    """What a feed asks the exchange for: depth snapshots (the recorded one, then the book after every diff
    up to now, rebuilt here with plain dicts) and trades from an id (the recorded trades)."""

    def __init__(self, lines: list[tuple[int, str]], snapshot: dict) -> None:
        self.snapshot = snapshot
        self.trades = [json.loads(r)["data"] for _, r in lines if "@trade" in r[:40]]
        self.lines = lines
        self.book: tuple[dict, dict, int] | None = None
        self.pos = 0

    def snapshot_at(self, pos: int, market: str) -> dict:
        if self.book is None:
            s = self.snapshot
            self.book = ({p: q for p, q in s["bids"]}, {p: q for p, q in s["asks"]}, s["lastUpdateId"])
        bids, asks, lid = self.book
        for _, raw in self.lines[self.pos : pos]:
            d = json.loads(raw).get("data", {})
            if d.get("e") == "depthUpdate" and d["u"] > lid:
                for side, levels in ((bids, d["b"]), (asks, d["a"])):
                    for p, q in levels:
                        if float(q) == 0:
                            side.pop(p, None)
                        else:
                            side[p] = q
                lid = d["u"]
        self.book, self.pos = (bids, asks, lid), max(self.pos, pos)
        # the exchange's REST snapshot: the best 1000 levels per side, best first
        top_b = sorted(bids.items(), key=lambda x: -float(x[0]))[:1000]
        top_a = sorted(asks.items(), key=lambda x: float(x[0]))[:1000]
        return {"lastUpdateId": lid, "bids": [list(x) for x in top_b], "asks": [list(x) for x in top_a]}

    def trades_from(self, from_id: int) -> list[dict]:
        rows = [t for t in self.trades if t["t"] >= from_id][:2000]
        return [
            {"id": t["t"], "price": t["p"], "qty": t["q"], "time": t["T"], "isBuyerMaker": t["m"]}
            for t in rows
        ]


def _fixups(s: BinanceSession, ex: _Exchange, pos: int, out: list) -> None:
    for sym in s.symbols_needing_snapshot():
        out += s.on_snapshot(sym, ex.snapshot_at(pos, s.market), 0)
    for sym, from_id in s.pending_backfill():
        out += s.on_backfill(sym, ex.trades_from(from_id), 0)


def _reference(msgs, market, symbol, ex, disconnect_at=()):
    s = BinanceSession([symbol], market=market)
    out: list = []
    for i, (recv, raw) in enumerate(msgs):
        if i in disconnect_at:
            s.on_disconnect()
        out += s.on_message(raw, recv)
        if s.symbols_needing_snapshot() or s.pending_backfill():
            _fixups(s, ex, i + 1, out)
    return s, records_to_table(out)


def _fast(msgs, market, symbol, ex, batch=1500, disconnect_at=()):
    s = BinanceSession([symbol], market=market)
    p = FastBinanceParser(s)
    parts: list[pa.Table] = []
    cuts = sorted({0, len(msgs), *range(0, len(msgs), batch), *disconnect_at})
    for a, b in itertools.pairwise(cuts):
        if a in disconnect_at:
            s.on_disconnect()
        chunk = msgs[a:b]
        payloads = [raw.encode() for _, raw in chunk]
        recv = np.array([r for r, _ in chunk], dtype=np.int64)
        buf, starts, ends = p.concat(payloads)
        i = 0
        while i < len(chunk):
            table, i = p.run(buf, starts, ends, recv, i)
            if table is not None:
                parts.append(table)
            if i < len(chunk):
                out = s.on_message(chunk[i][1], int(recv[i]))
                if s.symbols_needing_snapshot() or s.pending_backfill():
                    _fixups(s, ex, a + i + 1, out)
                parts.append(records_to_table(out))
                i += 1
    return s, pa.concat_tables(parts)


def _load(path):
    rec = read_recording(path)
    snap = next(json.loads(r.raw) for r in rec if r.snapshot)
    return [(r.recv_ns, r.raw) for r in rec if not r.snapshot], snap


def _assert_sessions_equal(s1, t1, s2, t2):
    assert t1.equals(t2)  # every record, its sequence number and every field
    assert s1.counters == s2.counters and s1.seq == s2.seq
    assert s1.checkpoint() == s2.checkpoint()
    assert [(e.kind, e.symbol, e.detail) for e in s1.events] == [
        (e.kind, e.symbol, e.detail) for e in s2.events
    ]


def _bars(ms):
    return [
        (
            b.seq,
            b.symbol,
            b.interval_s,
            b.ts_ns,
            b.open,
            b.high,
            b.low,
            b.close,
            b.volume,
            b.vwap,
            b.trades,
            b.recv_ns,
        )
        for b in ms.bars_since(0)
    ]


def _assert_states_equal(table, batch=3000):
    ref = MarketState()
    ref_out = ref.apply(_records(table))
    ref_flush = ref.flush()
    fast = FastMarketState()
    outs = [fast.apply(table.slice(i, batch)) for i in range(0, table.num_rows, batch)]
    fast_flush = fast.flush()
    assert _bars(fast) == _bars(ref) and len(_bars(ref)) > 0
    assert fast.book_top == ref.book_top
    assert fast.counters == ref.counters
    ev = [e for o in outs for e in o.events] + fast_flush.events
    assert ev == ref_out.events + ref_flush.events
    assert [x for o in outs for x in o.resync] == ref_out.resync
    assert fast.summary() == ref.summary() and fast.top() == ref.top()
    a, b = ref.to_tables(), fast.to_tables()
    for k in ("bars", "book_top", "meta"):
        assert a[k].equals(b[k]), k
    for k in ("book", "recent_quotes"):
        assert sorted(a[k].to_pylist(), key=str) == sorted(b[k].to_pylist(), key=str), k
    # a checkpoint restores into the fast state and continues identically
    back = FastMarketState.from_tables(b)
    assert back.summary() == fast.summary() and back.book_top == fast.book_top
    return ref


def _records(table):
    from quantray.live._records import table_to_records

    return table_to_records(table)


@pytest.mark.parametrize("name", FILES)
def test_fast_path_equals_reference_on_recordings(shared_data, name):
    path = shared_data / "ticks" / f"{name}.jsonl.gz"
    market = "usdm" if "usdm" in name else "spot"
    symbol = "ETHUSDT" if "eth" in name else "BTCUSDT"
    msgs, snap = _load(path)
    s1, t1 = _reference(msgs, market, symbol, _Exchange(msgs, snap))
    s2, t2 = _fast(msgs, market, symbol, _Exchange(msgs, snap))
    _assert_sessions_equal(s1, t1, s2, t2)
    assert s2.counters["messages"] == len(msgs) and t2.num_rows > 0.99 * len(msgs)
    ref = _assert_states_equal(t2)
    assert ref.counters["aligned_checks"] > 200 and ref.counters["aligned_mismatch"] == 0


def test_fast_path_equals_reference_under_faults(shared_data):
    """Dropped, duplicated and swapped messages and dropped connections: gaps, resyncs from newer snapshots,
    trade backfills, stale and duplicate updates all go the same way on both paths."""
    path = shared_data / "ticks" / "binance_usdm_btcusdt_20240808.jsonl.gz"
    msgs, snap = _load(path)
    msgs = msgs[:20000]
    rng = random.Random(5)
    faulty: list[tuple[int, str]] = []
    held = None
    for m in msgs:
        u = rng.random()
        if u < 0.004:
            continue  # drop
        out = [m, m] if u < 0.012 else [m]  # duplicate
        if held is not None:
            out.append(held)
            held = None
        elif rng.random() < 0.004:
            held = out.pop(0)  # swap with the next
        faulty += out
    disconnect_at = {7000, 15000}
    s1, t1 = _reference(faulty, "usdm", "BTCUSDT", _Exchange(msgs, snap), disconnect_at)
    s2, t2 = _fast(faulty, "usdm", "BTCUSDT", _Exchange(msgs, snap), batch=997, disconnect_at=disconnect_at)
    _assert_sessions_equal(s1, t1, s2, t2)
    c = s2.counters
    assert c["gaps"] > 3 and c["trade_gaps"] > 3 and c["backfilled_trades"] > 0 and c["duplicates"] > 50
    assert c["snapshots"] > 3 and c["stale_updates"] > 0
    _assert_states_equal(t2, batch=2500)


BAD = [
    "{not json",
    '{"stream":"xrpusdt@trade","data":{"e":"trade","E":1,"s":"XRPUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":12,"p":"-1","q":"1","T":1}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":13,"p":"0","q":"1","T":1}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":14,"p":"1e3","q":"1","T":1}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":15,"p":"10.5","q":"0.1","T":1,"m":null}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade", "E":1,"s":"BTCUSDT","t":16,"p":"10","q":"1","T":1}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTC\\u0055SDT","t":17,"p":"10","q":"1","T":1}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":18,"p":"10","q":"1","T":1,"t":19}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":20.0,"p":"10","q":"1","T":1}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":21,"p":"10","q":"1","T":01}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","t":25,"p":"10","q":"1","T":5}}',
    '{"stream":"btcusdt@trade","data":{"e":"weird","s":"BTCUSDT","t":26,"p":"10","q":"1","T":5}}',
    '{"result":null,"id":1}',
    '{"error":{"code":2,"msg":"Invalid request"},"id":3}',
    '{"stream":"btcusdt@bookTicker","data":{"u":40,"s":"BTCUSDT","b":"10","B":"-1","a":"11","A":"1"}}',
    '{"stream":"btcusdt@bookTicker","data":{"u":41,"s":"BTCUSDT","b":"10.00000000000000001","B":"1","a":"11","A":"1"}}',
    '{"stream":"btcusdt@bookTicker","data":{"u":42,"s":"BTCUSDT","b":"10","B":"1","a":"11","A":"1","id":7}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":101,"u":101,"b":[["10","-2"]],"a":[]}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":101,"u":102,"b":[["10","2","x"]],"a":[]}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":105,"u":106,"b":[],"a":[]}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":103,"u":104,"b":[["12.5","1"]],"a":[]}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":3,"s":"BTCUSDT","U":105,"u":105,"b":[["0","1"]],"a":[]}}',
    '{"stream":"btcusdt@depth","data":[1,2]}',
    "[1,2,3]",
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":27,"p":"10","q":"1","T":1}} ',
]
GOOD = [
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":10,"p":"10.50","q":"1.000","T":1,"m":true}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":99,"u":100,"b":[["10","1"]],"a":[["11","1"]]}}',
    '{"stream":"btcusdt@bookTicker","data":{"u":100,"s":"BTCUSDT","b":"10","B":"1","a":"11","A":"1"}}',
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":11,"p":"10.6","q":"2","T":1200,"m":false}}',
    '{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":2,"s":"BTCUSDT","U":101,"u":101,"b":[["11.5","1"]],"a":[]}}',
]


def test_bad_input_goes_to_the_reference_path_never_misparsed():
    """Malformed JSON, unknown streams, negative/zero/odd numbers, escapes, whitespace, repeated keys, acks,
    errors, gaps, crossed books: the kernel hands each to BinanceSession (same counters, events, resyncs and
    records as the reference), and the market state flags the crossed book exactly like MarketState."""
    snap = {"lastUpdateId": 99, "bids": [["10", "1"]], "asks": [["11", "1"]]}
    rng = random.Random(2)
    msgs = []
    for k in range(400):
        msgs.append(GOOD[k % len(GOOD)] if rng.random() < 0.6 else rng.choice(BAD))
    msgs = [(1000 + i, m) for i, m in enumerate(msgs)]

    class Ex(_Exchange):
        def snapshot_at(self, pos, market):
            return snap

        def trades_from(self, from_id):
            return []

    ex = Ex([], snap)
    s1, t1 = _reference(msgs, "spot", "BTCUSDT", ex)
    s2, t2 = _fast(msgs, "spot", "BTCUSDT", ex, batch=37)
    _assert_sessions_equal(s1, t1, s2, t2)
    c = s2.counters
    for k in ("malformed", "unknown_stream", "bad_values", "gaps", "acks", "errors", "duplicates", "resyncs"):
        assert c[k] > 0, k
    ref = MarketState()
    ref_out = ref.apply(_records(t2))
    fast = FastMarketState()
    out = fast.apply(t2)
    assert ref.counters["crossed"] > 0 and fast.counters == ref.counters
    assert out.events == ref_out.events and out.resync == ref_out.resync
    assert fast.book_top == ref.book_top and _bars(fast) == _bars(ref)


_DEC = st.one_of(
    st.from_regex(r"\A[0-9]{1,20}(\.[0-9]{0,25})?\Z"),
    st.from_regex(r"\A\.[0-9]{1,12}\Z"),
    st.from_regex(r"\A[0-9]{0,6}\.?[0-9]{0,9}[eE+\- _]?[0-9]{0,3}\Z"),
    st.floats(min_value=0, max_value=1e12, allow_nan=False).map(repr),
    st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False).map(str),
)


@settings(max_examples=1500, deadline=None)
@given(_DEC)
def test_decimal_parser_equals_python_float(text):
    b = np.frombuffer(text.encode() or b"\0", dtype=np.uint8)
    ok, value = parse_decimal(b, 0, len(text))
    if ok:
        assert value == float(text) and str(value) == str(float(text))
    try:
        ref = float(text)
    except ValueError:
        assert not ok  # never a number where Python sees none
        return
    plain = all(ch in "0123456789." for ch in text) and text.count(".") <= 1
    if not plain:
        assert not ok  # signs, exponents, spaces, underscores, inf/nan: always Python's float()
        return
    digits = text.rstrip("0") if "." in text else text
    mantissa = int(digits.replace(".", "") or "0")
    scale = len(digits.split(".")[1]) if "." in digits else 0
    if mantissa < 2**53 and scale <= 22:
        assert ok and value == ref  # the fast path must take every string it can do exactly
