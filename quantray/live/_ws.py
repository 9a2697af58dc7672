"""Batched websocket receive for the fast feed: frames land in a list, the feed takes them in batches.

Two transports: ``"websockets"`` (the ``websockets`` library's sans-I/O ``ClientProtocol`` driven from an
``asyncio.Protocol``: no task, future or queue per message) and ``"picows"`` (a Cython websocket client,
optional). Both give the same thing: the payloads of complete text/binary messages in order, with a receipt
time, the close reason the server sent, and back-pressure (reading pauses while too many frames wait).

Example:
    >>> sink = FrameSink()
    >>> sink.push(b"{}", 5)
    >>> sink.push(b"[]", 6)
    >>> sink.take(1), sink.take()
    (([b'{}'], [5]), ([b'[]'], [6]))
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from typing import Any

from quantray.errors import ConfigError

__all__ = ["TRANSPORTS", "FrameSink", "open_connection"]

TRANSPORTS = ("websockets", "picows")
_HIGH_WATER = 50_000


class FrameSink:
    """Complete messages received and not yet taken, plus the connection's fate."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []
        self.recv: list[int] = []
        self.done = False
        self.close_reason: str | None = None
        self.error: BaseException | None = None
        self.opened: asyncio.Future[None] | None = None
        self._event: asyncio.Event | None = None
        self._paused = False
        self._transport: Any = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.opened = loop.create_future()
        self._event = asyncio.Event()

    def push(self, payload: bytes, recv_ns: int) -> None:
        self.payloads.append(payload)
        self.recv.append(recv_ns)

    def wake(self) -> None:
        if self._event is not None:
            self._event.set()
        if len(self.payloads) > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def set_open(self, exc: BaseException | None = None) -> None:
        if self.opened is not None and not self.opened.done():
            if exc is None:
                self.opened.set_result(None)
            else:
                self.opened.set_exception(exc)

    def set_done(self, exc: BaseException | None = None) -> None:
        self.done = True
        self.error = self.error or exc
        self.set_open(exc or ConnectionError("connection closed during the handshake"))
        self.wake()

    async def wait(self, timeout: float) -> None:
        """Until frames are waiting, the connection ended, or ``timeout`` seconds passed."""
        if self.payloads or self.done or self._event is None:
            return
        self._event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    def take(self, limit: int | None = None) -> tuple[list[bytes], list[int]]:
        """Up to ``limit`` waiting messages (all by default) and their receipt times."""
        if limit is not None and len(self.payloads) > limit:
            p, r = self.payloads[:limit], self.recv[:limit]
            del self.payloads[:limit], self.recv[:limit]
        else:  # the same list objects stay (the picows listener holds their bound append methods)
            p, r = self.payloads.copy(), self.recv.copy()
            self.payloads.clear()
            self.recv.clear()
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return p, r


class _SansIO(asyncio.Protocol):
    """``websockets.client.ClientProtocol`` (sans-I/O) over an asyncio transport."""

    def __init__(self, url: str, sink: FrameSink) -> None:
        from websockets.client import ClientProtocol
        from websockets.frames import Frame, Opcode
        from websockets.uri import parse_uri

        self.ws = ClientProtocol(parse_uri(url), max_size=None)
        self.sink = sink
        self.transport: Any = None
        self.frag: list[bytes] = []
        self._Frame, self._op = Frame, Opcode

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.sink._transport = transport
        self.ws.send_request(self.ws.connect())
        self._flush()

    def _flush(self) -> None:
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def data_received(self, data: bytes) -> None:
        ws, sink, op = self.ws, self.sink, self._op
        ws.receive_data(data)
        now = time.time_ns()
        for ev in ws.events_received():
            if isinstance(ev, self._Frame):
                if ev.opcode is op.TEXT or ev.opcode is op.BINARY:
                    if ev.fin:
                        sink.push(bytes(ev.data), now)
                    else:
                        self.frag = [bytes(ev.data)]
                elif ev.opcode is op.CONT:
                    self.frag.append(bytes(ev.data))
                    if ev.fin:
                        sink.push(b"".join(self.frag), now)
                        self.frag = []
                elif ev.opcode is op.CLOSE and ws.close_rcvd is not None:
                    sink.close_reason = ws.close_rcvd.reason
            else:  # the handshake response
                sink.set_open(ws.handshake_exc)
        self._flush()
        sink.wake()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.set_done(exc)

    def send_text(self, text: str) -> None:
        self.ws.send_text(text.encode())
        self._flush()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _picows_listener(sink: FrameSink) -> Any:
    from picows import WSListener, WSMsgType

    TEXT, BINARY, CONT, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE
    pay, rcv, now = sink.payloads.append, sink.recv.append, time.time_ns

    class Listener(WSListener):
        def __init__(self) -> None:
            self.frag: list[bytes] = []
            self.transport: Any = None

        def on_ws_connected(self, transport: Any) -> None:
            self.transport = transport
            sink._transport = transport.underlying_transport
            sink.set_open()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            t = frame.msg_type
            if t == TEXT and frame.fin:  # the hot path: one complete text message
                pay(frame.get_payload_as_bytes())
                rcv(now())
                if frame.last_in_buffer:
                    sink.wake()
                return
            if t == TEXT or t == BINARY:
                if frame.fin:
                    sink.push(frame.get_payload_as_bytes(), time.time_ns())
                else:
                    self.frag = [frame.get_payload_as_bytes()]
            elif t == CONT:
                self.frag.append(frame.get_payload_as_bytes())
                if frame.fin:
                    sink.push(b"".join(self.frag), time.time_ns())
                    self.frag = []
            elif t == CLOSE:
                msg = frame.get_close_message()
                sink.close_reason = msg.decode(errors="replace") if isinstance(msg, bytes) else (msg or "")
                transport.send_close(frame.get_close_code())
                transport.disconnect()
            if frame.last_in_buffer:
                sink.wake()

        def on_ws_disconnected(self, transport: Any) -> None:
            sink.set_done()

        def send_text(self, text: str) -> None:
            self.transport.send(TEXT, text.encode())

        def close(self) -> None:
            if self.transport is not None:
                self.transport.disconnect()

    return Listener


async def open_connection(url: str, transport: str, sink: FrameSink, *, timeout: float = 5.0) -> Any:
    """Connect and finish the websocket handshake; returns an object with ``send_text`` and ``close``."""
    loop = asyncio.get_running_loop()
    sink.bind(loop)
    if transport == "websockets":
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("ws", "wss"):
            raise ConfigError(f"feed url {url!r}: expected ws:// or wss://")
        ssl: Any = None
        if u.scheme == "wss":
            import ssl as _ssl

            ssl = _ssl.create_default_context()
        port = u.port or (443 if u.scheme == "wss" else 80)
        _, proto = await asyncio.wait_for(
            loop.create_connection(lambda: _SansIO(url, sink), u.hostname or "127.0.0.1", port, ssl=ssl),
            timeout,
        )
        await asyncio.wait_for(sink.opened, timeout)  # type: ignore[arg-type]
        return proto
    if transport == "picows":
        from picows import ws_connect

        _, listener = await asyncio.wait_for(
            ws_connect(_picows_listener(sink), url, max_frame_size=1 << 30), timeout
        )
        return listener
    raise ConfigError(f"feed `transport` must be one of {list(TRANSPORTS)}, got {transport!r}")
