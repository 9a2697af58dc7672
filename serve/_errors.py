"""What error answers may say: long values clipped, server paths replaced by the names clients use.

Every error the API returns echoes at most :data:`MAX_TOKEN` characters of any one value and :data:`MAX_DETAIL`
characters in all (a 100,000-character symbol or a 309-digit integer is not sent back whole), and never names a
data source by its server path: the client named it ``"sample"`` (or a ``data_sources`` key), so that is what the
answer says.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DETAIL", "MAX_TOKEN", "clip", "clip_value", "public_detail", "redact_paths"]

MAX_TOKEN = 80
"""Longest run of non-blank characters an error message keeps whole (longer: head + length)."""
MAX_DETAIL = 1000
"""Longest error message sent to a client."""

_TOKEN = re.compile(r"\S{" + str(MAX_TOKEN + 1) + ",}")


def _shorten(token: str) -> str:
    return f"{token[: MAX_TOKEN - 20]}…[{len(token)} chars]"


def clip(text: str, *, limit: int = MAX_DETAIL) -> str:
    """``text`` with every run of more than :data:`MAX_TOKEN` non-blank characters shortened, then cut at
    ``limit`` characters.

    Example:
        >>> clip("got " + "9" * 309)
        'got 999999999999999999999999999999999999999999999999999999999999…[309 chars]'
    """
    out = _TOKEN.sub(lambda m: _shorten(m.group(0)), text)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _strict(value: Any) -> Any:
    """``value`` with non-finite floats as strings (strict JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    return value


def clip_value(value: Any) -> Any:
    """A value echoed in an error, as strict JSON data: as it is when its JSON is short, else a shortened string
    of that JSON.

    Example:
        >>> clip_value("A" * 100_000)[-16:]
        'A…[100000 chars]'
    """
    if isinstance(value, str):
        return value if len(value) <= MAX_TOKEN else _shorten(value)
    try:
        value = json.loads(json.dumps(value, default=str))
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        value = text = repr(value)
    if len(text) <= MAX_TOKEN:
        return _strict(value)
    return _shorten(text)


def redact_paths(text: str, sources: Mapping[str, str]) -> str:
    """``text`` with each data source's server path replaced by ``data source '<name>'`` (longest paths first,
    so that a path that contains another is replaced whole).

    Example:
        >>> redact_paths("/srv/d/bars.parquet: symbols not found: ZZZZ", {"sample": "/srv/d/bars.parquet"})
        "data source 'sample': symbols not found: ZZZZ"
    """
    for name, path in sorted(sources.items(), key=lambda kv: -len(kv[1])):
        if path:
            text = text.replace(path, f"data source {name!r}")
    return text


def public_detail(message: str, sources: Mapping[str, str] | None = None) -> str:
    """An error message as a client may see it: paths redacted, long values clipped, one line."""
    text = redact_paths(message, sources or {})
    return clip(" ".join(text.split()))
