"""quantray.dist on a real local Ray cluster: put-once, retries after a worker dies, failure isolation,
the checkpointing sink and its refusal to overwrite another job's results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from quantray.dist import Chunk, ParquetSink, fan_out
from quantray.errors import ConfigError

pytestmark = pytest.mark.usefixtures("ray_local")


def _make_helpers():  # defined in a function: cloudpickle ships them by value to the workers
    def sum_slice(arr: np.ndarray, payload: tuple[int, int]) -> float:
        a, b = payload
        return float(arr[a:b].sum())

    def die_once(marker_dir: str, payload: int) -> int:
        marker = Path(marker_dir) / f"died-{payload}"
        if payload == 3 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies mid-task, as if it were killed or OOM
        return payload * payload

    def fail_on(payload: int) -> int:
        if payload == 2:
            raise ValueError("bad parameter set 2")
        return payload

    return sum_slice, die_once, fail_on


_sum_slice, _die_once, _fail_on = _make_helpers()


def test_fan_out_matches_in_process_and_puts_shared_once() -> None:
    arr = np.arange(1_000_000, dtype=np.float64)
    chunks = [Chunk(i, (i * 100_000, (i + 1) * 100_000)) for i in range(10)]
    got: dict[int, float] = {}
    rep = fan_out(
        _sum_slice, chunks, shared=(arr,), on_result=lambda c, r: got.__setitem__(c.id, r), progress=False
    )
    assert rep.completed == 10 and not rep.failures
    assert rep.shared_bytes == arr.nbytes  # one copy of the array, not one per task
    assert [got[i] for i in range(10)] == [_sum_slice(arr, c.payload) for c in chunks]


def test_worker_death_is_retried_and_nothing_is_lost(tmp_path: Path) -> None:
    got: dict[int, int] = {}
    rep = fan_out(
        _die_once,
        [Chunk(i, i) for i in range(6)],
        shared=(str(tmp_path),),
        on_result=lambda c, r: got.__setitem__(c.id, r),
        max_retries=2,
        progress=False,
    )
    assert (tmp_path / "died-3").exists(), "the worker really died once"
    assert not rep.failures
    assert got == {i: i * i for i in range(6)}


def test_a_failing_chunk_is_reported_and_the_others_are_kept() -> None:
    got: dict[int, int] = {}
    rep = fan_out(
        _fail_on,
        [Chunk(i, i, label=f"sym{i}") for i in range(5)],
        on_result=lambda c, r: got.__setitem__(c.id, r),
        progress=False,
    )
    assert sorted(got) == [0, 1, 3, 4]
    assert len(rep.failures) == 1
    f = rep.failures[0]
    assert f.chunk_id == 2 and f.label == "sym2" and "bad parameter set 2" in f.error


def test_sink_checkpoints_resumes_and_refuses_foreign_output(tmp_path: Path) -> None:
    out = str(tmp_path / "job")
    sink = ParquetSink(out, fingerprint={"job": "a"})
    for i in (0, 2):
        sink.write(i, pa.table({"x": [i, i]}))
    assert sink.done() == {0, 2}
    with pytest.raises(ConfigError, match="already holds a job"):
        ParquetSink(out, fingerprint={"job": "a"})
    with pytest.raises(ConfigError, match="different job"):
        ParquetSink(out, fingerprint={"job": "b"}, resume=True)
    again = ParquetSink(out, fingerprint={"job": "a"}, resume=True)
    assert again.done() == {0, 2}
    again.write(1, pa.table({"x": [1, 1]}))
    again.write(1, pa.table({"x": [1, 1]}))  # a chunk finished twice overwrites itself
    assert again.read_chunks().column("x").to_pylist() == [0, 0, 1, 1, 2, 2]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a quantray job output"):
        ParquetSink(str(tmp_path / "other"), fingerprint={"job": "a"})
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_a_run_that_wrote_no_chunk_does_not_block_a_rerun_and_a_damaged_part_is_named(tmp_path: Path) -> None:
    """A run that stopped before its first chunk (Ray unreachable) left only its manifest, and a plain rerun was
    refused as "already holds a job's results"; a part damaged outside quantray crashed the resume with
    ArrowInvalid. Now the rerun starts afresh (even as another job: there is nothing to lose) and the damaged
    part is one error naming the file and what to do."""
    out = str(tmp_path / "job")
    ParquetSink(out, fingerprint={"job": "a"})  # stopped before any chunk
    again = ParquetSink(out, fingerprint={"job": "b"})
    assert again.done() == set()
    assert json.loads((tmp_path / "job" / "manifest.json").read_text()) == {"fingerprint": {"job": "b"}}
    again.write(0, pa.table({"x": [0]}))
    again.write(1, pa.table({"x": [1]}))
    part = tmp_path / "job" / "chunks" / "part-000001.parquet"
    part.write_bytes(part.read_bytes()[:20])
    with pytest.raises(ConfigError, match=r"chunks/part-000001.parquet cannot be read .*delete that file"):
        ParquetSink(out, fingerprint={"job": "b"}, resume=True).read_chunks()
