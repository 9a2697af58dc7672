"""serve/_errors.py and json_safe without a server: clipping, path redaction, NaN as null."""

from __future__ import annotations

import json
import math

import numpy as np

from serve._deployments import json_safe
from serve._errors import MAX_DETAIL, clip, clip_value, public_detail, redact_paths


def test_json_safe_is_strict_json_with_nan_as_null() -> None:
    data = {"a": float("nan"), "b": [1.5, float("inf"), -math.inf], "c": np.float64("nan"), "d": np.int64(3)}
    out = json_safe(data)
    assert out == {"a": None, "b": [1.5, None, None], "c": None, "d": 3}
    json.dumps(out, allow_nan=False)  # strict
    assert json_safe(None) is None and json_safe({"t": np.float32(0.5)}) == {"t": 0.5}


def test_clip_keeps_short_text_and_shortens_long_runs() -> None:
    assert clip("unknown strategy 'nope'") == "unknown strategy 'nope'"
    text = clip("got " + "9" * 309 + " and more")
    assert text.startswith("got 9") and "…[309 chars] and more" in text and len(text) < 100
    assert len(clip("word " * 1000)) == MAX_DETAIL


def test_clip_value() -> None:
    assert clip_value("AAPL") == "AAPL" and clip_value([1, 2]) == [1, 2] and clip_value(True) is True
    assert clip_value("A" * 100_000).endswith("…[100000 chars]") and len(clip_value("A" * 100_000)) < 100
    assert clip_value([float("nan")]) == ["nan"]  # strict JSON
    assert len(clip_value(list(range(10_000)))) < 100


def test_paths_are_named_as_the_client_named_them() -> None:
    sources = {"sample": "/srv/q/data/sample.parquet", "big": "/srv/q/data"}
    msg = "/srv/q/data/sample.parquet: symbols not found: ZZZZ"
    assert redact_paths(msg, sources) == "data source 'sample': symbols not found: ZZZZ"
    assert public_detail("line one\n  /srv/q/data/x.parquet bad", sources) == (
        "line one data source 'big'/x.parquet bad"
    )
