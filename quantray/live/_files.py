"""Recorded sessions: ``<local_receive_ns> <raw JSON>`` lines (gzip or plain), as in ``shared/data/ticks``.

A REST depth snapshot is a line whose JSON has ``lastUpdateId`` (Binance); every other line is a websocket
message, combined-stream form (``{"stream": ..., "data": ...}``) or raw.

Example:
    >>> import gzip, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> _ = open(p, "w").write('5 {"e":"trade"}\\n')
    >>> [(r.recv_ns, r.raw) for r in read_recording(p)]
    [(5, '{"e":"trade"}')]
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantray.errors import DataError

__all__ = ["Recorded", "detect_binance_market", "iter_recording", "read_recording"]


@dataclass(slots=True)
class Recorded:
    """One recorded line: receipt time, raw text, and whether it is a REST snapshot."""

    recv_ns: int
    raw: str
    snapshot: bool = False


def iter_recording(path: str | Path) -> Iterator[Recorded]:
    """Lines of a recording in file order; a malformed line raises :class:`DataError` naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such recording")
    opener: Any = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            head, sep, raw = line.partition(" ")
            if not sep or not head.isdigit():
                raise DataError(f"{path}:{i}: expected '<local_receive_ns> <raw JSON>', got {line[:80]!r}")
            yield Recorded(int(head), raw, raw.startswith('{"lastUpdateId"'))


def read_recording(path: str | Path) -> list[Recorded]:
    return list(iter_recording(path))


def detect_binance_market(lines: list[Recorded]) -> tuple[str, list[str], list[str]]:
    """(market, symbols, stream names) of a Binance recording: USDⓈ-M when depth events carry ``pu``."""
    market = "spot"
    symbols: list[str] = []
    streams: list[str] = []
    for r in lines[:5000]:
        if r.snapshot:
            continue
        try:
            msg = json.loads(r.raw)
        except ValueError:
            continue
        data = msg.get("data", msg)
        if "stream" in msg and msg["stream"] not in streams:
            streams.append(msg["stream"])
        if data.get("e") == "depthUpdate" and "pu" in data:
            market = "usdm"
        s = data.get("s")
        if s and s not in symbols:
            symbols.append(s)
    return market, symbols, streams
