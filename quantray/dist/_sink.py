"""A checkpointing Parquet sink: one part file per chunk, a manifest, and the final table.

Layout under the output URL (local path or any fsspec URL such as ``s3://bucket/sweeps/x``)::

    manifest.json              what was asked (a fingerprint of the job and its chunk plan)
    chunks/part-000042.parquet one file per finished chunk, written atomically
    results.parquet            the whole table, parts concatenated in chunk order (written by finalize)

A rerun with ``resume=True`` recomputes only chunks without a part file and yields exactly the table of an
uninterrupted run: parts are keyed by chunk id, so a chunk finished twice overwrites itself and never adds a
duplicate row. An output that holds a different job is never overwritten unless ``overwrite=True``.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import Mapping
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from quantray.errors import ConfigError

PART_FMT = "part-{:06d}.parquet"


class ParquetSink:
    """Checkpointed Parquet output of a chunked job.

    Args:
        url: output directory (local path or fsspec URL).
        fingerprint: JSON-serialisable description of the job (config + chunk plan); a resume must match it.
        resume: keep the finished chunks of a previous run of the same job.
        overwrite: delete whatever is at ``url`` first (an explicit request, never the default).
        storage_options: fsspec options (e.g. an S3 endpoint).
    """

    def __init__(
        self,
        url: str,
        *,
        fingerprint: Mapping[str, Any],
        resume: bool = False,
        overwrite: bool = False,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **dict(storage_options or {}))
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        self.chunks_dir = posixpath.join(self.root, "chunks")
        manifest = posixpath.join(self.root, "manifest.json")
        existing = self._read_manifest(manifest)
        if existing is not None and overwrite:
            self.fs.rm(self.root, recursive=True)
            existing = None
        # a run that stopped before its first chunk (Ray unreachable, an import error) left only its manifest:
        # no result to protect, so a plain rerun starts afresh instead of demanding --resume
        stale = existing is not None and not resume and self._only_manifest()
        if stale:
            existing = None
        if existing is not None:
            if not resume:
                raise ConfigError(
                    f"output {self.url!r} already holds a job's results; pass --resume to continue it or "
                    f"--overwrite to replace it (nothing was changed)"
                )
            if existing.get("fingerprint") != self.fingerprint:
                diff = sorted(
                    k
                    for k in set(existing.get("fingerprint", {})) | set(self.fingerprint)
                    if existing.get("fingerprint", {}).get(k) != self.fingerprint.get(k)
                )
                raise ConfigError(
                    f"cannot resume into {self.url!r}: it holds a different job (differs in {diff}); "
                    f"use a new --out or --overwrite"
                )
        elif not stale and not overwrite and self._has_files():
            raise ConfigError(
                f"output {self.url!r} exists and is not a quantray job output; choose another --out"
            )
        try:
            self.fs.makedirs(self.chunks_dir, exist_ok=True)
            if existing is None:
                self._write_bytes(manifest, json.dumps({"fingerprint": self.fingerprint}, indent=2).encode())
        except OSError as exc:
            raise ConfigError(f"cannot write to output {self.url!r}: {exc}") from exc

    def _read_manifest(self, path: str) -> dict[str, Any] | None:
        try:
            if not self.fs.exists(path):
                return None
            with self.fs.open(path, "rb") as f:
                data: dict[str, Any] = json.loads(f.read().decode())
                return data
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.url}/manifest.json: {exc}") from exc

    def _only_manifest(self) -> bool:
        """Nothing at the output but the manifest and an empty ``chunks`` folder."""
        names = {posixpath.basename(str(x).rstrip("/")) for x in self.fs.ls(self.root, detail=False)}
        return names <= {"manifest.json", "chunks"} and not self.done()

    def _has_files(self) -> bool:
        try:
            return bool(self.fs.exists(self.root) and self.fs.ls(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return False

    def _write_bytes(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.mv(tmp, path)

    def done(self) -> set[int]:
        """Ids of the chunks that already have a part file."""
        try:
            names = self.fs.ls(self.chunks_dir, detail=False)
        except FileNotFoundError:
            return set()
        out = set()
        for name in names:
            base = posixpath.basename(str(name))
            if base.startswith("part-") and base.endswith(".parquet"):
                out.add(int(base[5:11]))
        return out

    def write(self, chunk_id: int, table: pa.Table) -> None:
        """Checkpoint one chunk (atomic: a killed writer leaves no partial part)."""
        path = posixpath.join(self.chunks_dir, PART_FMT.format(chunk_id))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self._write_bytes(path, sink.getvalue().to_pybytes())

    def read_chunks(self) -> pa.Table:
        """All finished parts concatenated in chunk order."""
        ids = sorted(self.done())
        tables = []
        for i in ids:
            path = posixpath.join(self.chunks_dir, PART_FMT.format(i))
            try:
                with self.fs.open(path, "rb") as f:
                    tables.append(pq.read_table(f))
            # damaged outside quantray (parts are written atomically): name it, and how to recompute it
            except (pa.ArrowInvalid, OSError) as exc:
                raise ConfigError(
                    f"{self.url}/chunks/{PART_FMT.format(i)} cannot be read ({str(exc).splitlines()[0][:200]}); "
                    "delete that file and run again with --resume to recompute its chunk"
                ) from None
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="default")

    def finalize(self, table: pa.Table | None = None) -> str:
        """Write ``results.parquet`` (the concatenated parts unless ``table`` is given); returns its URL."""
        final = table if table is not None else self.read_chunks()
        sink = pa.BufferOutputStream()
        pq.write_table(final, sink, compression="zstd")
        path = posixpath.join(self.root, "results.parquet")
        self._write_bytes(path, sink.getvalue().to_pybytes())
        return f"{self.url}/results.parquet"
