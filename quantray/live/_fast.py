"""The fast path of the live graph: compiled parsing/sequencing of Binance messages and a compiled market state.

Per message nothing runs in Python: a batch of websocket payloads is concatenated and parsed by one numba kernel
(:func:`quantray.live._kernels.binance_batch`) straight into the columnar record format of
:func:`~quantray.live._records.records_to_table` (the WAL and inter-actor batch format), and a market-state shard
applies such a batch with another kernel (:func:`quantray.live._kernels.state_batch`).

The record-based classes stay the reference: :class:`FastBinanceParser` hands every message its kernel cannot
handle with certainty (malformed, unknown streams, bad values, unsynced books, gaps, held trades, acks...) to
:meth:`BinanceSession.on_message <quantray.live._binance.BinanceSession.on_message>` and resumes after it, over the
same per-symbol state; :class:`FastMarketState` is a :class:`~quantray.live._state.MarketState` whose books, bars
and quotes live in arrays and produce identical bars, book tops, counters and events.

Example:
    >>> from quantray.live import BinanceSession
    >>> p = FastBinanceParser(BinanceSession(["BTCUSDT"], market="spot"))
    >>> msgs = [b'{"e":"trade","s":"BTCUSDT","t":1,"p":"10.5","q":"2","T":1000,"m":true}']
    >>> table, stop = p.run(*p.concat(msgs), np.array([5]), 0)
    >>> (table.column("f0").to_pylist(), stop)
    ([10.5], 1)
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pyarrow as pa

from quantray.live import _kernels as K  # noqa: N812
from quantray.live._binance import BinanceSession, binance_symbol
from quantray.live._records import _SCHEMA, Bar, Event, Record, records_to_table
from quantray.live._state import (
    _BOOK_SCHEMA,
    _BOOK_TOP_SCHEMA,
    _RQ_SCHEMA,
    MarketState,
    MarketStateConfig,
    StateOutput,
)

__all__ = ["FEED_COUNTERS", "STATE_COUNTERS", "FastBinanceParser", "FastMarketState", "as_table", "warm_up"]

log = logging.getLogger("quantray.live.state")

FEED_COUNTERS = ("messages", "trades", "quotes", "book_updates", "duplicates", "stale_updates")
STATE_COUNTERS = (
    "records",
    "skipped_seq",
    "crossed",
    "bad_book",
    "aligned_checks",
    "aligned_mismatch",
    "late_trades",
    "updates_while_unsynced",
)


_EMPTY_RO = np.zeros(1)
_EMPTY_RO.flags.writeable = False


def as_table(batch: pa.Table | list[Record]) -> pa.Table:
    """A record batch in its columnar form (a list of records is converted)."""
    return batch if isinstance(batch, pa.Table) else records_to_table(batch)


def warm_up() -> None:
    """Load (or compile) the fast-path kernels now rather than on the first live batch."""
    s = BinanceSession(["BTCUSDT"], market="spot")
    p = FastBinanceParser(s)
    msg = b'{"e":"trade","s":"BTCUSDT","t":1,"p":"1.5","q":"2","T":1,"m":true}'
    table, _ = p.run(*p.concat([msg]), np.array([1], np.int64), 0)
    if table is not None:
        FastMarketState().apply(table)


class FastBinanceParser:
    """Compiled parsing and sequencing of Binance messages over a :class:`BinanceSession`'s state."""

    def __init__(self, session: BinanceSession) -> None:
        self.session = session
        self.names = list(session._state)
        self.canon = pa.array([binance_symbol(session.market, s) for s in self.names], pa.string())
        raw = [s.encode() for s in self.names]
        self.sym_buf = np.frombuffer(b"".join(raw) or b"\0", dtype=np.uint8)
        self.sym_off = np.concatenate([[0], np.cumsum([len(r) for r in raw])]).astype(np.int64)
        self.usdm = session.market == "usdm"

    @staticmethod
    def concat(payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bytes, starts, ends) of a batch of payloads."""
        lens = np.fromiter(map(len, payloads), dtype=np.int64, count=len(payloads))
        ends = np.cumsum(lens)
        buf = np.frombuffer(b"".join(payloads) or b"\0", dtype=np.uint8)
        return buf, ends - lens, ends

    def _load(self) -> np.ndarray:
        st = np.zeros((len(self.names), K.ST_N), dtype=np.int64)
        for i, name in enumerate(self.names):
            s = self.session._state[name]
            st[i] = (
                s.synced,
                s.first_after_snapshot,
                s.last_u,
                s.last_trade,
                s.last_agg,
                s.last_quote,
                1 if s.held else 0,
            )
        return st

    def _store(self, st: np.ndarray) -> None:
        for i, name in enumerate(self.names):
            s = self.session._state[name]
            s.first_after_snapshot = bool(st[i, K.ST_FIRST])
            s.last_u = int(st[i, K.ST_LAST_U])
            s.last_trade = int(st[i, K.ST_LAST_TRADE])
            s.last_agg = int(st[i, K.ST_LAST_AGG])
            s.last_quote = int(st[i, K.ST_LAST_QUOTE])

    def run(
        self, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, recv: np.ndarray, i0: int
    ) -> tuple[pa.Table | None, int]:
        """Parse messages ``i0..`` until the first one the kernel cannot handle; (records table, its index).

        The caller runs the message at the returned index (if any is left) through
        :meth:`BinanceSession.on_message` (then its snapshot/backfill fixups) and calls again with the next
        index. While a symbol waits for a snapshot or a backfill, every message takes that path.
        """
        n = len(starts) - i0
        if n <= 0:
            return None, len(starts)
        if self.session.symbols_needing_snapshot() or self.session.pending_backfill():
            # while a resync or a backfill is pending the feed checks for it after every message: reference path
            return None, i0
        nbytes = int(ends[-1] - starts[i0])
        st = self._load()
        seqa = np.array([self.session.seq], dtype=np.int64)
        cnt = np.zeros(K.C_N, dtype=np.int64)
        o_kind = np.empty(n, np.int8)
        o_seq = np.empty(n, np.int64)
        o_sym = np.empty(n, np.int32)
        o_ts = np.empty(n, np.int64)
        o_recv = np.empty(n, np.int64)
        o_id0 = np.empty(n, np.int64)
        o_id1 = np.empty(n, np.int64)
        o_f = np.empty((n, 4), np.float64)
        o_flag = np.empty(n, np.bool_)
        o_boff = np.empty(n + 1, np.int32)
        o_aoff = np.empty(n + 1, np.int32)
        cap = nbytes // 4 + 8
        bv = np.empty(cap, np.float64)
        av = np.empty(cap, np.float64)
        rows, nbv, nav, stop = K.binance_batch(
            buf,
            starts[i0:],
            ends[i0:],
            recv[i0:],
            0,
            self.usdm,
            self.sym_buf,
            self.sym_off,
            st,
            seqa,
            cnt,
            o_kind,
            o_seq,
            o_sym,
            o_ts,
            o_recv,
            o_id0,
            o_id1,
            o_f,
            o_flag,
            o_boff,
            o_aoff,
            bv,
            av,
        )
        self._store(st)
        self.session.seq = int(seqa[0])
        c = self.session.counters
        for name, v in zip(FEED_COUNTERS, cnt.tolist(), strict=True):
            c[name] += v
        table = None
        if rows:
            kind = o_kind[:rows]
            not_book = pa.array(kind != 2)
            sym = pa.DictionaryArray.from_arrays(pa.array(o_sym[:rows]), self.canon).cast(pa.string())
            zeros = np.zeros(rows)
            cols = [
                pa.array(kind),
                pa.array(o_seq[:rows]),
                sym,
                pa.array(o_ts[:rows]),
                pa.array(o_recv[:rows]),
                pa.array(o_id0[:rows]),
                pa.array(o_id1[:rows]),
                pa.array(o_f[:rows, 0]),
                pa.array(o_f[:rows, 1]),
                pa.array(o_f[:rows, 2]),
                pa.array(o_f[:rows, 3]),
                pa.array(zeros),
                pa.array(o_flag[:rows]),
                pa.ListArray.from_arrays(pa.array(o_boff[: rows + 1]), pa.array(bv[:nbv]), mask=not_book),
                pa.ListArray.from_arrays(pa.array(o_aoff[: rows + 1]), pa.array(av[:nav]), mask=not_book),
            ]
            table = pa.Table.from_arrays(cols, schema=_SCHEMA)
        return table, i0 + int(stop)


class FastMarketState(MarketState):
    """A :class:`MarketState` applying columnar batches with a numba kernel (identical outputs).

    The arrays are the state; the per-symbol Python objects of the reference (order books, bar builders) are
    refreshed from them only when a view, a checkpoint or an end-of-stream flush needs them.
    """

    def __init__(self, config: MarketStateConfig | None = None) -> None:
        self._tops: list[tuple[np.ndarray, ...]] = []
        self._top_tables: list[pa.Table] = []
        super().__init__(config)
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._iv_ns = np.array([i * 1_000_000_000 for i in self.config.bar_intervals], dtype=np.int64)
        self._cap = 1024
        self._alloc(0)
        self._py_fresh = True
        self._py_fresh_but_books = True

    # ------------------------------------------------------------------ arrays
    def _alloc(self, n: int) -> None:
        ni, cap = len(self._iv_ns), self._cap
        self.si = np.zeros((n, K.SI_N), np.int64)
        self.sf = np.zeros((n, K.SF_N), np.float64)
        self.sf[:, K.SF_LAST_PRICE] = math.nan
        self.bpx = np.zeros((n, cap))
        self.bsz = np.zeros((n, cap))
        self.apx = np.zeros((n, cap))
        self.asz = np.zeros((n, cap))
        self.nb = np.zeros(n, np.int64)
        self.na = np.zeros(n, np.int64)
        self.rq_id = np.zeros((n, K.RQ_CAP), np.int64)
        self.rq_v = np.zeros((n, K.RQ_CAP, 4))
        self.rq_n = np.zeros(n, np.int64)
        self.bi = np.zeros((n, ni, K.BI_NI), np.int64)
        self.bi[:, :, K.BI_START] = -1
        self.bf = np.zeros((n, ni, K.BF_N))

    def _grow_symbols(self) -> None:
        old = {k: getattr(self, k) for k in ("si", "sf", "bpx", "bsz", "apx", "asz", "nb", "na")}
        old.update({k: getattr(self, k) for k in ("rq_id", "rq_v", "rq_n", "bi", "bf")})
        n = len(self._names)
        self._alloc(n)
        for k, v in old.items():
            getattr(self, k)[: len(v)] = v

    def _grow_capacity(self, need: int) -> None:
        cap = self._cap
        while cap < need:
            cap *= 2
        for k in ("bpx", "bsz", "apx", "asz"):
            old = getattr(self, k)
            new = np.zeros((old.shape[0], cap))
            new[:, : old.shape[1]] = old
            setattr(self, k, new)
        self._cap = cap

    def _sym(self, symbol: str) -> Any:
        s = self.syms.get(symbol)
        if s is None:
            s = super()._sym(symbol)
            self._index[symbol] = len(self._names)
            self._names.append(symbol)
            self._grow_symbols()
        return s

    # ------------------------------------------------------------------ arrays <-> reference objects
    def _to_py(self, *, books: bool = True) -> None:
        """Refresh the reference objects (books, builders, last trade...) from the arrays (``books=False``:
        everything but the price levels and waiting quotes, which the caller reads from the arrays)."""
        if self._py_fresh or (not books and self._py_fresh_but_books):
            return
        for i, name in enumerate(self._names):
            s = self.syms[name]
            if books:
                nb, na = int(self.nb[i]), int(self.na[i])
                bpx = self.bpx[i, :nb].tolist()
                apx = (-self.apx[i, :na][::-1]).tolist()
                s.book.bids = dict(zip(bpx, self.bsz[i, :nb].tolist(), strict=True))
                s.book.asks = dict(zip(apx, self.asz[i, :na][::-1].tolist(), strict=True))
                s.book._bid_px, s.book._ask_px = bpx, apx
            si, sf = self.si[i].tolist(), self.sf[i].tolist()
            s.book.last_update_id = si[K.SI_LUID]
            s.book_valid = bool(si[K.SI_VALID])
            s.last_price, s.last_qty = sf[K.SF_LAST_PRICE], sf[K.SF_LAST_QTY]
            s.pv, s.vol = sf[K.SF_PV], sf[K.SF_VOL]
            s.last_trade_ts, s.last_recv = si[K.SI_LAST_TS], si[K.SI_LAST_RECV]
            s.spread_alert, s.stale_alert = bool(si[K.SI_SPREAD_ALERT]), bool(si[K.SI_STALE_ALERT])
            s.quote = (
                (si[K.SI_Q_UID], sf[K.SF_Q_BID], sf[K.SF_Q_BQ], sf[K.SF_Q_ASK], sf[K.SF_Q_AQ])
                if si[K.SI_HAS_QUOTE]
                else None
            )
            if books:
                m = int(self.rq_n[i])
                s.recent_quotes = {
                    k: tuple(v)
                    for k, v in zip(self.rq_id[i, :m].tolist(), self.rq_v[i, :m].tolist(), strict=True)
                }
            for j, iv in enumerate(self.config.bar_intervals):
                b = s.builders[iv]
                bi, bf = self.bi[i, j].tolist(), self.bf[i, j].tolist()
                b._start, b._n, b._recv, b.late = bi[K.BI_START], bi[K.BI_N], bi[K.BI_RECV], bi[K.BI_LATE]
                b._o, b._h, b._l, b._c = bf[K.BF_O], bf[K.BF_H], bf[K.BF_L], bf[K.BF_C]
                b._v, b._pv = bf[K.BF_V], bf[K.BF_PV]
        self._py_fresh = books
        self._py_fresh_but_books = True

    def _from_py(self, *, books: bool = True) -> None:
        """Load the arrays from the reference objects (after a restore or a Python-side change); ``books=False``
        leaves the price levels alone."""
        need = max(
            [len(s.book.bids) for s in self.syms.values()]
            + [len(s.book.asks) for s in self.syms.values()]
            + [1]
        )
        if need > self._cap:
            self._grow_capacity(need)
        for i, name in enumerate(self._names):
            s = self.syms[name]
            if books:
                bids = sorted(s.book.bids.items())
                asks = sorted(s.book.asks.items(), reverse=True)
                self.nb[i], self.na[i] = len(bids), len(asks)
                if bids:
                    self.bpx[i, : len(bids)] = [p for p, _ in bids]
                    self.bsz[i, : len(bids)] = [q for _, q in bids]
                if asks:
                    self.apx[i, : len(asks)] = [-p for p, _ in asks]
                    self.asz[i, : len(asks)] = [q for _, q in asks]
            si, sf = self.si[i], self.sf[i]
            si[K.SI_LUID], si[K.SI_VALID] = s.book.last_update_id, int(s.book_valid)
            sf[K.SF_LAST_PRICE], sf[K.SF_LAST_QTY], sf[K.SF_PV], sf[K.SF_VOL] = (
                s.last_price,
                s.last_qty,
                s.pv,
                s.vol,
            )
            si[K.SI_LAST_TS], si[K.SI_LAST_RECV] = s.last_trade_ts, s.last_recv
            si[K.SI_SPREAD_ALERT], si[K.SI_STALE_ALERT] = int(s.spread_alert), int(s.stale_alert)
            si[K.SI_HAS_QUOTE] = s.quote is not None
            if s.quote is not None:
                si[K.SI_Q_UID] = s.quote[0]
                sf[K.SF_Q_BID], sf[K.SF_Q_BQ], sf[K.SF_Q_ASK], sf[K.SF_Q_AQ] = s.quote[1:]
            if books:
                rq = sorted(s.recent_quotes.items())
                self.rq_n[i] = len(rq)
                for k, (uid, v) in enumerate(rq):
                    self.rq_id[i, k] = uid
                    self.rq_v[i, k] = v
            for j, iv in enumerate(self.config.bar_intervals):
                b = s.builders[iv]
                self.bi[i, j] = (b._start, b._n, b._recv, b.late)
                self.bf[i, j] = (b._o, b._h, b._l, b._c, b._v, b._pv)
        self._py_fresh = books  # the reference objects hold everything only if their books were loaded
        self._py_fresh_but_books = True

    # ------------------------------------------------------------------ book tops (columnar)
    def _book_top_table(self) -> pa.Table:
        self._flush_tops()
        if not self._top_tables:
            return _BOOK_TOP_SCHEMA.empty_table()
        return pa.concat_tables(self._top_tables)

    def _set_book_top_table(self, table: pa.Table) -> None:
        self._tops = []
        self._top_tables = [table.cast(_BOOK_TOP_SCHEMA)] if table.num_rows else []

    def _flush_tops(self) -> None:
        if not self._tops:
            return
        names = pa.array(self._names, pa.string())
        ts, symi, uid, f = (np.concatenate(x) for x in zip(*self._tops, strict=True))
        self._tops = []
        sym = pa.DictionaryArray.from_arrays(pa.array(symi.astype(np.int32)), names).cast(pa.string())
        self._top_tables.append(
            pa.Table.from_arrays(
                [pa.array(ts), sym, pa.array(uid), *(pa.array(f[:, k]) for k in range(4))],
                schema=_BOOK_TOP_SCHEMA,
            )
        )

    @property
    def book_top(self) -> list[tuple[int, str, int, float, float, float, float]]:
        t = self._book_top_table().to_pydict()
        return list(zip(*(t[c] for c in _BOOK_TOP_SCHEMA.names), strict=True))

    @book_top.setter
    def book_top(self, rows: list[tuple[int, str, int, float, float, float, float]]) -> None:
        self._tops = []
        self._top_tables = []
        if rows:
            cols = list(zip(*rows, strict=True))
            self._top_tables = [
                pa.table(dict(zip(_BOOK_TOP_SCHEMA.names, cols, strict=True)), schema=_BOOK_TOP_SCHEMA)
            ]

    def _last_top_ts(self) -> int:
        if self._tops:
            return int(self._tops[-1][0][-1])
        if self._top_tables and self._top_tables[-1].num_rows:
            return int(self._top_tables[-1].column("ts")[-1].as_py())
        return 0

    # ------------------------------------------------------------------ applying batches
    def apply(self, records: pa.Table | list[Record]) -> StateOutput:
        """Apply a columnar batch (or a list of records) in ``seq`` order; same result as the reference."""
        out = StateOutput()
        t = as_table(records)
        n = t.num_rows
        if n == 0:
            return out
        t = t.combine_chunks()
        col = {name: t.column(name).chunk(0) for name in t.column_names}
        enc = col["symbol"].dictionary_encode()
        names = enc.dictionary.to_pylist()
        for name in names:
            if name not in self._index:
                self._sym(name)
        self._to_py_stale()
        mapping = np.array([self._index[x] for x in names], dtype=np.int64)
        symi = mapping[enc.indices.to_numpy(zero_copy_only=False)]
        kind = col["kind"].to_numpy(zero_copy_only=False)
        seq = col["seq"].to_numpy(zero_copy_only=False)
        ts = col["ts_ns"].to_numpy(zero_copy_only=False)
        recv = col["recv_ns"].to_numpy(zero_copy_only=False)
        id0 = col["id0"].to_numpy(zero_copy_only=False)
        id1 = col["id1"].to_numpy(zero_copy_only=False)
        f = np.column_stack([col[f"f{k}"].to_numpy(zero_copy_only=False) for k in range(4)])
        flag = col["flag"].to_numpy(zero_copy_only=False)
        bids, asks = col["bids"], col["asks"]
        boff = bids.offsets.to_numpy().astype(np.int64)
        aoff = asks.offsets.to_numpy().astype(np.int64)
        # read-only like Arrow's zero-copy views, so every batch hits the one compiled specialisation
        bvals = bids.values.to_numpy(zero_copy_only=False) if len(bids.values) else _EMPTY_RO
        avals = asks.values.to_numpy(zero_copy_only=False) if len(asks.values) else _EMPTY_RO
        last = np.array([self.last_seq], np.int64)
        cnt = np.zeros(K.SC_N, np.int64)
        ocap = 64 + 4 * len(self._iv_ns)
        okind = np.zeros(ocap, np.int64)
        orow = np.zeros(ocap, np.int64)
        oi = np.zeros((ocap, 5), np.int64)
        of = np.zeros((ocap, 8))
        top_row = np.empty(n, np.int64)
        top_f = np.empty((n, 4))
        i = 0
        while i < n:
            stop, reason, nt, no = K.state_batch(
                i,
                kind,
                seq,
                symi,
                ts,
                recv,
                id0,
                id1,
                f,
                flag,
                boff,
                bvals,
                aoff,
                avals,
                last,
                cnt,
                self.si,
                self.sf,
                self.bpx,
                self.bsz,
                self.nb,
                self.apx,
                self.asz,
                self.na,
                self.rq_id,
                self.rq_v,
                self.rq_n,
                self._iv_ns,
                self.bi,
                self.bf,
                float(self.config.spread_bps),
                top_row,
                top_f,
                okind,
                orow,
                oi,
                of,
            )
            if nt:
                rows = top_row[:nt]
                self._tops.append((ts[rows], symi[rows], id1[rows], top_f[:nt].copy()))
            self.last_seq = int(last[0])
            for k in range(no):
                self._output(int(okind[k]), int(orow[k]), oi[k].tolist(), of[k].tolist(), col, out)
            i = int(stop)
            if reason == K.STOP_RECORD:
                self.last_seq = int(seq[i])
                last[0] = self.last_seq
                cnt[K.SC_RECORDS] += 1
                fi = f[i].tolist()
                bar = Bar(
                    int(seq[i]),
                    self._names[symi[i]],
                    int(id0[i]),
                    int(ts[i]),
                    fi[0],
                    fi[1],
                    fi[2],
                    fi[3],
                    float(col["f4"][i].as_py()),
                    float(bids[i].as_py()[0]),
                    int(id1[i]),
                    int(recv[i]),
                )
                self._emit_bar(bar, out)
                i += 1
            elif reason == K.STOP_CAPACITY:
                s = int(symi[i])
                need = max(
                    self.nb[s] + (boff[i + 1] - boff[i]) // 2, self.na[s] + (aoff[i + 1] - aoff[i]) // 2
                )
                self._grow_capacity(int(need))
        for name, v in zip(STATE_COUNTERS, cnt.tolist(), strict=True):
            self.counters[name] += v
        return out

    def _to_py_stale(self) -> None:
        self._py_fresh = False
        self._py_fresh_but_books = False

    def _output(
        self, kind: int, row: int, oi: list[int], of: list[float], col: dict[str, Any], out: StateOutput
    ) -> None:
        name = self._names[oi[0]]
        ts, seq, lid = (int(col[c][row].as_py()) for c in ("ts_ns", "seq", "id1"))
        if kind == K.OUT_BAR:
            iv = self.config.bar_intervals[oi[1]]
            bar = Bar(0, name, iv, oi[2], of[0], of[1], of[2], of[3], of[4], of[5], oi[3], oi[4])
            self._emit_bar(bar, out)
            return
        if kind == K.OUT_SPREAD:
            out.events.append(
                Event(
                    ts,
                    "spread_blowout",
                    name,
                    {"spread_bps": round(of[0], 3), "bid": of[1], "ask": of[2]},
                    "state",
                    seq,
                )
            )
            return
        if kind == K.OUT_MISMATCH:
            top, q = tuple(of[:4]), tuple(of[4:8])
            log.warning(
                "book %s top %s differs from the exchange's best bid/ask %s at update id %d",
                name,
                top,
                q,
                oi[1],
            )
            out.events.append(
                Event(
                    ts,
                    "book_mismatch",
                    name,
                    {"book": list(top), "exchange": list(q), "update_id": oi[1]},
                    "state",
                    seq,
                )
            )
            out.resync.append(name)
            return
        if kind == K.OUT_CROSSED:
            reason = f"crossed book: best bid {of[0]} >= best ask {of[1]}"
        else:
            side = "bid" if oi[1] == 0 else "ask"
            lp, lq = of[0], of[1]
            if oi[2] == 1:
                reason = f"{side} level {lp}: size {lq} is negative or not finite"
            else:
                reason = f"{side} level price {lp} is not a positive finite number"
        first = int(col["id0"][row].as_py())
        bl, al = col["bids"][row].as_py() or [], col["asks"][row].as_py() or []
        log.warning(
            "book %s invalid after update %d-%d: %s; update: bids=%s asks=%s",
            name,
            first,
            lid,
            reason,
            [(bl[k], bl[k + 1]) for k in range(0, min(len(bl), 10), 2)],
            [(al[k], al[k + 1]) for k in range(0, min(len(al), 10), 2)],
        )
        out.events.append(Event(ts, "book_invalid", name, {"reason": reason, "update_id": lid}, "state", seq))
        out.resync.append(name)

    # ------------------------------------------------------------------ views and lifecycle (reference code)
    def flush(self) -> StateOutput:
        self._to_py(books=False)
        out = super().flush()
        self._from_py(books=False)
        return out

    def check_stale(self, now_ns: int) -> list[Event]:
        self._to_py(books=False)
        out = super().check_stale(now_ns)
        self._from_py(books=False)
        return out

    def top(self) -> list[dict[str, Any]]:
        self._to_py()
        return super().top()

    def summary(self) -> dict[str, Any]:
        self._to_py()
        return super().summary()

    def to_tables(self) -> dict[str, pa.Table]:
        self._to_py(books=False)
        return super().to_tables()

    def _recent_quotes_table(self) -> pa.Table:
        """Exchange quotes waiting for their aligned book update, straight from the arrays."""
        n = [int(x) for x in self.rq_n]
        names = [name for i, name in enumerate(self._names) for _ in range(n[i])]
        ids = np.concatenate([self.rq_id[i, : n[i]] for i in range(len(n))]) if n else np.zeros(0, np.int64)
        v = np.concatenate([self.rq_v[i, : n[i]] for i in range(len(n))]) if n else np.zeros((0, 4))
        return pa.Table.from_arrays(
            [pa.array(names, pa.string()), pa.array(ids), *(pa.array(v[:, k]) for k in range(4))],
            schema=_RQ_SCHEMA,
        )

    def _book_table(self) -> pa.Table:
        """The levels straight from the arrays (bids ascending, asks descending by price)."""
        names, sides, px, sz = [], [], [], []
        for i, name in enumerate(self._names):
            nb, na = int(self.nb[i]), int(self.na[i])
            names += [name] * (nb + na)
            sides += ["b"] * nb + ["a"] * na
            px += [self.bpx[i, :nb], -self.apx[i, :na]]
            sz += [self.bsz[i, :nb], self.asz[i, :na]]
        cat = (lambda xs: np.concatenate(xs)) if px else (lambda xs: np.zeros(0))
        return pa.Table.from_arrays(
            [
                pa.array(names, pa.string()),
                pa.array(sides, pa.string()),
                pa.array(cat(px)),
                pa.array(cat(sz)),
            ],
            schema=_BOOK_SCHEMA,
        )

    @classmethod
    def from_tables(cls, tables: dict[str, pa.Table], config: MarketStateConfig | None = None) -> MarketState:
        ms = super().from_tables(tables, config)
        if not isinstance(ms, FastMarketState):  # pragma: no cover - defensive
            return ms
        ms._from_py()
        return ms
