"""A replay server: recorded exchange messages over a real websocket, speaking the exchange's protocol.

Binance (spot and USDⓈ-M, detected from the recording):

* websocket ``/ws`` (then ``{"method": "SUBSCRIBE" | "UNSUBSCRIBE" | "LIST_SUBSCRIPTIONS", "params": [...],
  "id": n}``), ``/ws/<stream>`` (raw payloads) and ``/stream?streams=a/b`` (combined ``{"stream", "data"}``);
* REST on the same port: ``GET /api/v3/depth`` or ``/fapi/v1/depth?symbol=&limit=`` (a snapshot) and
  ``/api/v3/historicalTrades`` or ``/fapi/v1/historicalTrades?symbol=&fromId=&limit=``.

Modes: ``live`` (default) behaves like an exchange — one shared clock; a client joining or reconnecting gets
the messages from "now" on, the depth snapshot is the server's own book at that moment (built from the
recorded snapshot and every diff since), and at ``speed="max"`` the clock only runs while somebody listens.
``session`` replays the whole recording to every new connection (for exactly repeatable runs; clients drop
what they already have by exchange ids), and its snapshot is the recorded one.

Faults (``FaultSpec.parse("drop=0.01,dup=0.01,reorder=0.01,disconnect=5000,stall=3000:0.5,seed=1")``) are
applied per connection to market messages: drop, duplicate, swap with the next, abort the TCP connection every
N messages, stall S seconds every N messages. At the end of the recording the server closes connections with
code 1000 and reason ``"end of replay"``.

Example:
    >>> FaultSpec.parse("drop=0.1,seed=3").drop
    0.1
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantray.errors import ConfigError
from quantray.live._book import OrderBook
from quantray.live._files import detect_binance_market, read_recording

__all__ = ["END_OF_REPLAY", "FaultSpec", "FaultState", "ReplayServer", "send_with_faults"]

log = logging.getLogger("quantray.live.replay")

END_OF_REPLAY = "end of replay"


@dataclass(frozen=True, kw_only=True)
class FaultSpec:
    """Fault injection: probabilities per message, and every-N-messages disconnects and stalls."""

    drop: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    disconnect: int = 0
    stall_every: int = 0
    stall_s: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for k in ("drop", "dup", "reorder"):
            if not 0.0 <= getattr(self, k) <= 1.0:
                raise ConfigError(f"--faults {k}={getattr(self, k)}: must be a probability in [0, 1]")
        if self.disconnect < 0 or self.stall_every < 0 or self.stall_s < 0:
            raise ConfigError("--faults disconnect, stall counts and seconds must be >= 0")

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """``key=value`` pairs separated by commas; keys drop, dup, reorder, disconnect, stall (N:SECONDS), seed."""
        if not spec:
            return cls()
        kw: dict[str, Any] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            key, sep, value = part.strip().partition("=")
            if not sep:
                raise ConfigError(f"--faults {part!r}: expected KEY=VALUE")
            if key not in ("drop", "dup", "reorder", "disconnect", "seed", "stall"):
                raise ConfigError(
                    f"--faults: unknown key {key!r}; valid: drop, dup, reorder, disconnect, stall, seed"
                )
            try:
                if key in ("drop", "dup", "reorder"):
                    kw[key] = float(value)
                elif key in ("disconnect", "seed"):
                    kw[key] = int(value)
                elif key == "stall":
                    n, _, s = value.partition(":")
                    kw["stall_every"], kw["stall_s"] = int(n), float(s or 1.0)
                else:
                    raise ConfigError(
                        f"--faults: unknown key {key!r}; valid: drop, dup, reorder, disconnect, stall, seed"
                    )
            except ValueError:
                raise ConfigError(f"--faults {key}={value!r}: not a number") from None
        return cls(**kw)

    @property
    def any(self) -> bool:
        return bool(self.drop or self.dup or self.reorder or self.disconnect or self.stall_every)


_CHUNK = 1 << 18  # bytes per transport write on the fast path
_HIGH_WATER = 1 << 22  # pause while this much is waiting in the transport


def _frame(payload: bytes) -> bytes:
    """An unmasked, final websocket text frame (server to client) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


@dataclass(slots=True)
class _Line:
    recv_ns: int
    stream: str
    symbol: str
    combined: str
    raw: str
    snapshot: dict[str, Any] | None = None
    depth: dict[str, Any] | None = None
    trade: dict[str, Any] | None = None


def _load(path: str | Path) -> tuple[str, list[_Line]]:
    rec = read_recording(path)
    market, _, _ = detect_binance_market(rec)
    lines: list[_Line] = []
    for r in rec:
        if r.snapshot:
            lines.append(_Line(r.recv_ns, "", "", "", "", snapshot=json.loads(r.raw)))
            continue
        text = r.raw
        if text.startswith('{"stream":"'):
            end = text.index('"', 11)
            stream = text[11:end]
            raw = text[text.index('"data":', end) + 7 : -1]
        else:
            d = json.loads(text)
            stream = f"{str(d.get('s', '')).lower()}@{d.get('e', 'bookTicker')}"
            raw = text
            text = json.dumps({"stream": stream, "data": d})
        line = _Line(r.recv_ns, stream, stream.split("@", 1)[0].upper(), text, raw)
        if "@depth" in stream:
            line.depth = json.loads(raw)
        elif stream.endswith("@trade"):
            line.trade = json.loads(raw)
        lines.append(line)
    # a snapshot belongs to the symbol whose next depth update ids are nearest its lastUpdateId (recordings
    # may hold several symbols)
    for i, x in enumerate(lines):
        if x.snapshot is None:
            continue
        lid, best = int(x.snapshot.get("lastUpdateId", 0)), None
        seen: set[str] = set()
        for y in lines[i + 1 :]:
            if y.depth is not None and y.symbol not in seen:
                seen.add(y.symbol)
                dist = abs(int(y.depth.get("u", 0)) - lid)
                if best is None or dist < best[0]:
                    best = (dist, y.symbol)
        x.symbol = best[1] if best is not None else next((y.symbol for y in lines if y.symbol), "")
    return market, lines


class FaultState:
    """Per-connection fault state: its random stream, messages sent, a message held back for reordering.

    :meth:`step` decides what one message becomes; the caller does the I/O (and counts stalls and aborts when
    it acts on them), so the Binance server's per-message and pre-framed paths and the venue server inject
    the same faults with the same random draws.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sent = 0
        self.held: Any = None

    def step(self, f: FaultSpec, item: Any, stats: dict[str, int]) -> tuple[bool, bool, list[Any]]:
        """(stall first, abort the connection, the items to send in order) for the next message ``item``."""
        self.sent += 1
        stall = bool(f.stall_every and self.sent % f.stall_every == 0)
        if f.disconnect and self.sent % f.disconnect == 0:
            return stall, True, []
        if f.drop and self.rng.random() < f.drop:
            stats["dropped"] += 1
            return stall, False, []
        out = [item]
        if f.dup and self.rng.random() < f.dup:
            stats["duplicated"] += 1
            out.append(item)
        if self.held is not None:
            out.append(self.held)
            self.held = None
        elif f.reorder and self.rng.random() < f.reorder:
            stats["reordered"] += 1
            self.held = out.pop(0)
        return stall, False, out


async def send_with_faults(
    ws: Any, state: FaultState, f: FaultSpec, text: str, stats: dict[str, int]
) -> bool:
    """Send one message over a websocket with the faults of ``f`` (see :meth:`FaultState.step`): stall (the
    connection stays open and silent), disconnect (abort the TCP connection), drop, duplicate, reorder. False
    when the connection was aborted."""
    stall, abort, out = state.step(f, text, stats)
    if stall:
        stats["stalls"] += 1
        await asyncio.sleep(f.stall_s)
    if abort:
        stats["aborted"] += 1
        ws.transport.abort()
        return False
    for t in out:
        await ws.send(t)
        stats["sent"] += 1
    return True


class _Conn(FaultState):
    def __init__(self, ws: Any, combined: bool, streams: set[str], index: int, faults: FaultSpec) -> None:
        super().__init__(random.Random(faults.seed * 1_000_003 + index))
        self.ws = ws
        self.combined = combined
        self.streams = streams
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=256)


class ReplayServer:
    """Serve one Binance recording on ``host:port`` (port 0 picks a free one; see :attr:`port`).

    Args:
        path: a ``.jsonl[.gz]`` recording (``<local_receive_ns> <raw JSON>`` lines).
        speed: ``"max"`` or a positive factor of real time.
        faults: fault injection (live mode; a :class:`FaultSpec` or its string form).
        mode: ``"live"`` or ``"session"`` (see the module docstring).
        fast: in session mode at ``speed="max"``, write each connection's pre-built frames to the transport
            in large chunks (faults applied identically); ``False`` sends message by message.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        speed: str | float = "max",
        faults: FaultSpec | str | None = None,
        mode: str = "live",
        host: str = "127.0.0.1",
        port: int = 0,
        fast: bool = True,
    ) -> None:
        if mode not in ("live", "session"):
            raise ConfigError(f"replay server `mode` must be 'live' or 'session', got {mode!r}")
        if speed != "max":
            try:
                speed = float(speed)
            except (TypeError, ValueError):
                raise ConfigError(f"--speed must be 'max' or a positive number, got {speed!r}") from None
            if not speed > 0:
                raise ConfigError(f"--speed must be 'max' or a positive number, got {speed!r}")
        self.path = str(path)
        self.speed = speed
        self.faults = faults if isinstance(faults, FaultSpec) else FaultSpec.parse(faults)
        self.mode = mode
        self.fast = fast
        self.host = host
        self.port = port
        self.market, self.lines = _load(path)
        self.books: dict[str, OrderBook] = {}
        self.trades: dict[str, list[dict[str, Any]]] = {}
        self.recorded_snapshot = next((x.snapshot for x in self.lines if x.snapshot), None)
        self.recorded_snapshots: dict[str, dict[str, Any]] = {}
        for x in self.lines:
            if x.snapshot is not None and x.symbol not in self.recorded_snapshots:
                self.recorded_snapshots[x.symbol] = x.snapshot
        self.cursor = 0
        self.high_water = 0
        self.conns: list[_Conn] = []
        self.n_conns = 0
        self.finished: asyncio.Event | None = None  # created in start(), inside the event loop
        self.stats = {
            "connections": 0,
            "sent": 0,
            "dropped": 0,
            "duplicated": 0,
            "reordered": 0,
            "aborted": 0,
            "stalls": 0,
            "rest": 0,
        }
        self._server: Any = None
        self._frames_combined: list[bytes | None] | None = None
        self._frames_raw: list[bytes | None] | None = None
        self._stream_codes: Any = None
        self._stream_names: list[str] = []
        self._clean_cache: dict[tuple[bool, frozenset[str]], tuple[list[int], list[bytes], list[int]]] = {}
        self._pump: asyncio.Task[None] | None = None
        self._listening: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> ReplayServer:
        from websockets.asyncio.server import serve

        self._listening = asyncio.Event()
        self.finished = asyncio.Event()
        self._server = await serve(
            self._handler,
            self.host,
            self.port,
            process_request=self._http,
            compression=None,
            max_queue=None,
            ping_interval=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.mode == "session" and self.speed == "max" and self.fast:
            self._framed(True)  # build the frames now, not while a client waits
        if self.mode == "live":
            self._pump = asyncio.create_task(self._run_live())
        return self

    async def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ the exchange's own state
    def _advance_state(self, line: _Line) -> None:
        if line.snapshot is not None:
            snap = line.snapshot
            sym = line.symbol  # the symbol of the market messages that follow the snapshot
            b = OrderBook()
            b.reset(
                [(float(p), float(q)) for p, q in snap["bids"]],
                [(float(p), float(q)) for p, q in snap["asks"]],
                last_update_id=int(snap["lastUpdateId"]),
            )
            self.books[sym] = b
        elif line.depth is not None:
            cur = self.books.get(line.symbol)
            d = line.depth
            if cur is not None and int(d["u"]) > cur.last_update_id:
                cur.apply(
                    [(float(p), float(q)) for p, q in d["b"]],
                    [(float(p), float(q)) for p, q in d["a"]],
                    last_update_id=int(d["u"]),
                )
        elif line.trade is not None:
            self.trades.setdefault(line.symbol, []).append(line.trade)

    # ------------------------------------------------------------------ REST
    def _http(self, connection: Any, request: Any) -> Any:
        parsed = urllib.parse.urlsplit(request.path)
        if parsed.path in ("/ws", "/stream") or parsed.path.startswith("/ws/"):
            return None
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        self.stats["rest"] += 1
        q = dict(urllib.parse.parse_qsl(parsed.query))

        def reply(status: int, payload: Any) -> Any:
            body = json.dumps(payload).encode()
            headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return Response(status, "OK" if status == 200 else "Error", headers, body)

        prefix = "/api/v3/" if self.market == "spot" else "/fapi/v1/"
        sym = q.get("symbol", "").upper()
        if parsed.path == prefix + "depth":
            limit = int(q.get("limit", "100"))
            snap = self._snapshot(sym, limit)
            if snap is None:
                return reply(400, {"code": -1121, "msg": "Invalid symbol."})
            return reply(200, snap)
        if parsed.path == prefix + "historicalTrades":
            from_id = int(q.get("fromId", "0"))
            limit = min(int(q.get("limit", "500")), 1000)
            rows = self._trades_from(sym, from_id, limit)
            return reply(200, rows)
        return reply(404, {"code": -1, "msg": f"unknown endpoint {parsed.path}"})

    def _snapshot(self, sym: str, limit: int) -> dict[str, Any] | None:
        if self.mode == "session" or sym not in self.books:
            return self.recorded_snapshots.get(sym)
        b = self.books[sym]
        bids, asks = b.levels(limit)
        out: dict[str, Any] = {
            "lastUpdateId": b.last_update_id,
            "bids": [[repr(p), repr(q)] for p, q in bids],
            "asks": [[repr(p), repr(q)] for p, q in asks],
        }
        if self.market == "usdm":
            now = int(time.time() * 1000)
            out = {
                "lastUpdateId": b.last_update_id,
                "E": now,
                "T": now,
                "bids": out["bids"],
                "asks": out["asks"],
            }
        return out

    def _trades_from(self, sym: str, from_id: int, limit: int) -> list[dict[str, Any]]:
        if self.mode == "session":
            src = [
                x.trade
                for x in self.lines[: max(self.high_water, 1)]
                if x.trade is not None and x.symbol == sym
            ]
        else:
            src = self.trades.get(sym, [])
        out = []
        for t in src:
            if t is None or int(t["t"]) < from_id:
                continue
            out.append(
                {
                    "id": int(t["t"]),
                    "price": t["p"],
                    "qty": t["q"],
                    "quoteQty": repr(float(t["p"]) * float(t["q"])),
                    "time": int(t["T"]),
                    "isBuyerMaker": bool(t.get("m", False)),
                    "isBestMatch": True,
                }
            )
            if len(out) >= limit:
                break
        return out

    # ------------------------------------------------------------------ websocket
    async def _handler(self, ws: Any) -> None:
        parsed = urllib.parse.urlsplit(ws.request.path)
        q = dict(urllib.parse.parse_qsl(parsed.query))
        if parsed.path == "/stream":
            streams, combined = {s for s in q.get("streams", "").split("/") if s}, True
        elif parsed.path.startswith("/ws/"):
            streams, combined = {s for s in parsed.path[4:].split("/") if s}, False
        else:
            streams, combined = set(), False
        self.n_conns += 1
        self.stats["connections"] += 1
        conn = _Conn(ws, combined, streams, self.n_conns, self.faults)
        reader = asyncio.create_task(self._read_control(conn))
        try:
            if self.mode == "session":
                await self._run_session(conn)
            else:
                if self.finished is not None and self.finished.is_set():
                    await ws.close(1000, END_OF_REPLAY)
                    return
                self.conns.append(conn)
                if self._listening is not None:
                    self._listening.set()
                await self._drain(conn)
        except Exception as exc:  # a dropped client is normal; never crash the server
            log.debug("replay connection ended: %r", exc)
        finally:
            reader.cancel()
            if conn in self.conns:
                self.conns.remove(conn)
            if not self.conns and self._listening is not None:
                self._listening.clear()

    async def _read_control(self, conn: _Conn) -> None:
        try:
            async for text in conn.ws:
                try:
                    msg = json.loads(text)
                    method, params, mid = msg.get("method"), msg.get("params") or [], msg.get("id")
                except (ValueError, AttributeError):
                    await conn.ws.send(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}))
                    continue
                if method == "SUBSCRIBE":
                    conn.streams.update(params)
                    await conn.ws.send(json.dumps({"result": None, "id": mid}))
                elif method == "UNSUBSCRIBE":
                    conn.streams.difference_update(params)
                    await conn.ws.send(json.dumps({"result": None, "id": mid}))
                elif method == "LIST_SUBSCRIPTIONS":
                    await conn.ws.send(json.dumps({"result": sorted(conn.streams), "id": mid}))
                else:
                    await conn.ws.send(
                        json.dumps({"error": {"code": 2, "msg": f"Invalid request: {method}"}, "id": mid})
                    )
        except Exception:
            return

    def _stream_probe(self, stream: str) -> _Line:
        """A line of that stream (what :meth:`_wanted` looks at is the stream name only)."""
        return _Line(0, stream, "", "", "")

    def _wanted(self, conn: _Conn, line: _Line) -> bool:
        if line.stream in conn.streams:
            return True
        # depth@100ms / depth@0ms / depth: a client may name any speed of the same depth stream
        if "@depth" in line.stream:
            base = line.stream.split("@depth")[0] + "@depth"
            return any(s.startswith(base) for s in conn.streams)
        return False

    async def _send(self, conn: _Conn, line: _Line) -> bool:
        """Send one market message with faults; False when the connection was aborted."""
        text = line.combined if conn.combined else line.raw
        return await send_with_faults(conn.ws, conn, self.faults, text, self.stats)

    async def _pace(self, t0_wall: float, t0_rec: int, line: _Line) -> None:
        if self.speed == "max":
            return
        due = t0_wall + (line.recv_ns - t0_rec) / 1e9 / float(self.speed)
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _framed(self, combined: bool) -> list[bytes | None]:
        """Every line as a complete websocket text frame (built once per server and form)."""
        cache = self._frames_combined if combined else self._frames_raw
        if cache is None:
            cache = [
                None if x.snapshot is not None else _frame((x.combined if combined else x.raw).encode())
                for x in self.lines
            ]
            if combined:
                self._frames_combined = cache
            else:
                self._frames_raw = cache
        return cache

    async def _run_session_fast(self, conn: _Conn) -> None:
        """``speed="max"``: the frames of the whole session, faults applied exactly as :meth:`_send` does (same
        random draws), written to the transport in large chunks with flow control."""
        framed = self._framed(conn.combined)
        tr = conn.ws.transport
        f, stats = self.faults, self.stats
        chunk: list[bytes] = []
        size = 0

        async def flush() -> bool:
            nonlocal chunk, size
            if tr.is_closing():
                return False
            if chunk:
                tr.write(b"".join(chunk))
                chunk, size = [], 0
            while tr.get_write_buffer_size() > _HIGH_WATER and not tr.is_closing():
                await asyncio.sleep(0.0005)
            return not tr.is_closing()

        if not (f.drop or f.dup or f.reorder or f.disconnect or f.stall_every):
            await self._run_session_clean(conn, framed)
            return
        for i, line in enumerate(self.lines):
            self.high_water = max(self.high_water, i + 1)
            fr = framed[i]
            if fr is None or not self._wanted(conn, line):
                continue
            stall, abort, out = conn.step(f, fr, stats)
            if stall:
                if not await flush():
                    return
                stats["stalls"] += 1
                await asyncio.sleep(f.stall_s)
            if abort:
                await flush()
                stats["aborted"] += 1
                tr.abort()
                return
            for x in out:
                chunk.append(x)
                size += len(x)
            stats["sent"] += len(out)
            if size >= _CHUNK and not await flush():
                return
        if await flush():
            await conn.ws.close(1000, END_OF_REPLAY)

    async def _run_session_clean(self, conn: _Conn, framed: list[bytes | None]) -> None:
        """No faults: the connection's frames (cached per stream set) go out in slices of ~``_CHUNK`` bytes;
        ``high_water`` (what the REST snapshot reflects) advances to each slice's last line before it is sent,
        exactly as the per-message loop does."""
        import numpy as np

        key = (conn.combined, frozenset(conn.streams))
        hit = self._clean_cache.get(key)
        if hit is None:
            if self._stream_codes is None:  # once per server: each line's stream as a code
                names = sorted({line.stream for line in self.lines})
                code = {n: k for k, n in enumerate(names)}
                self._stream_names = names
                self._stream_codes = np.fromiter(
                    (code[line.stream] for line in self.lines), dtype=np.int64, count=len(self.lines)
                )
            ok = [k for k, n in enumerate(self._stream_names) if self._wanted(conn, self._stream_probe(n))]
            has = np.fromiter((fr is not None for fr in framed), dtype=bool, count=len(framed))
            idx = np.flatnonzero(np.isin(self._stream_codes, ok) & has).tolist()
            frames = [fr for fr in (framed[i] for i in idx) if fr is not None]
            ends = np.cumsum([len(x) for x in frames], dtype=np.int64) if frames else np.zeros(0, np.int64)
            cuts = [0]
            while cuts[-1] < len(frames):
                base = int(ends[cuts[-1] - 1]) if cuts[-1] else 0
                cuts.append(max(cuts[-1] + 1, int(np.searchsorted(ends, base + _CHUNK, side="left")) + 1))
                cuts[-1] = min(cuts[-1], len(frames))
            hit = (idx, frames, cuts)
            self._clean_cache[key] = hit
        idx, sent_frames, cuts = hit
        tr = conn.ws.transport
        for a, b in itertools.pairwise(cuts):
            if tr.is_closing():
                return
            self.high_water = max(self.high_water, idx[b - 1] + 1)
            tr.write(b"".join(sent_frames[a:b]))
            conn.sent += b - a
            self.stats["sent"] += b - a
            while tr.get_write_buffer_size() > _HIGH_WATER and not tr.is_closing():
                await asyncio.sleep(0.0005)
        self.high_water = max(self.high_water, len(self.lines))
        if not tr.is_closing():
            await conn.ws.close(1000, END_OF_REPLAY)

    async def _run_session(self, conn: _Conn) -> None:
        while not conn.streams:  # /ws: the session starts with the first SUBSCRIBE
            await asyncio.sleep(0.001)
        if self.speed == "max" and self.fast:
            await self._run_session_fast(conn)
            return
        t0_wall = time.monotonic()
        t0_rec = self.lines[0].recv_ns if self.lines else 0
        for i, line in enumerate(self.lines):
            self.high_water = max(self.high_water, i + 1)
            if line.snapshot is not None:
                continue
            await self._pace(t0_wall, t0_rec, line)
            if self._wanted(conn, line) and not await self._send(conn, line):
                return
            if i % 256 == 0:
                await asyncio.sleep(0)
        await conn.ws.close(1000, END_OF_REPLAY)

    async def _drain(self, conn: _Conn) -> None:
        while True:
            item = await conn.queue.get()
            if item is None:
                await conn.ws.close(1000, END_OF_REPLAY)
                return
            line = self.lines[int(item)]
            if not await self._send(conn, line):
                return

    async def _enqueue(self, c: _Conn, item: str) -> None:
        while c in self.conns:
            try:
                c.queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                await asyncio.sleep(0.001)

    async def _run_live(self) -> None:
        if self._listening is None or self.finished is None:
            raise RuntimeError("replay server: _run_live() runs only after start() created its events")
        await self._listening.wait()
        t0_wall = time.monotonic()
        t0_rec = self.lines[0].recv_ns if self.lines else 0
        paused = 0.0
        for i, line in enumerate(self.lines):
            if self.speed == "max" and not self._listening.is_set():
                await self._listening.wait()
            elif not self._listening.is_set():
                p0 = time.monotonic()
                await self._listening.wait()
                paused += time.monotonic() - p0
            await self._pace(t0_wall + paused, t0_rec, line)
            self._advance_state(line)
            self.cursor = i + 1
            self.high_water = self.cursor
            if line.snapshot is not None:
                continue
            for c in list(self.conns):
                if self._wanted(c, line):
                    await self._enqueue(c, str(i))
            if i % 256 == 0:
                await asyncio.sleep(0)
        self.finished.set()
        for c in list(self.conns):
            c.queue.put_nowait(None) if not c.queue.full() else await self._enqueue_end(c)

    async def _enqueue_end(self, c: _Conn) -> None:
        while c in self.conns and c.queue.full():
            await asyncio.sleep(0.001)
        if c in self.conns:
            c.queue.put_nowait(None)
