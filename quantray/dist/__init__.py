"""quantray.dist: the only place that knows Ray (connect, fan-out with chunking/progress/retries, sinks).

Example:
    >>> from quantray.dist import Chunk, fan_out
    >>> report = fan_out(pow, [Chunk(i, i) for i in range(4)], shared=(2,))  # doctest: +SKIP
"""

from __future__ import annotations

from quantray.dist._connect import ClusterInfo, connect, is_connected, shutdown
from quantray.dist._fanout import (
    Chunk,
    ChunkFailure,
    FanOutReport,
    ProgressLine,
    fan_out,
    ray_map,
    ray_mapper,
)
from quantray.dist._sink import ParquetSink

__all__ = [
    "Chunk",
    "ChunkFailure",
    "ClusterInfo",
    "FanOutReport",
    "ParquetSink",
    "ProgressLine",
    "connect",
    "fan_out",
    "is_connected",
    "ray_map",
    "ray_mapper",
    "shutdown",
]
