"""Storing reports under ``{root}/reports/{portfolio}/{YYYY}/Q{n}/``, locally or on ``s3://``, atomically.

The manifest ``report.json`` is the commit point: the equity curves go to a new, uniquely named Parquet file
first, then the manifest that names it replaces the old one in one step (a local ``os.replace`` of a temporary
file; one S3 PUT, written last). A failure at any step leaves the previous report complete and loadable.
Among reports of one portfolio and quarter, the newest ``generated_at`` wins: saving an older one is refused.

Example:
    >>> import tempfile
    >>> from quantray.reports import QuarterlyReport, load_report
    >>> rep = QuarterlyReport(portfolio="demo", year=2017, quarter=4, generated_at="2018-01-02", rows=())
    >>> saved = save_report(rep, tempfile.mkdtemp())
    >>> load_report(saved.url).label
    '2017Q4'
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quantray.errors import DataError, QuantrayError
from quantray.reports._model import QuarterlyReport, ReportNotFoundError, load_report, report_dir

__all__ = ["ReportWriteError", "SavedReport", "StaleReportError", "save_report", "write_bytes_atomic"]


class ReportWriteError(QuantrayError):
    """A report (or a rendered file) cannot be written where asked (names the destination and the cause)."""


class StaleReportError(QuantrayError):
    """A newer report of the same portfolio and quarter is already stored (the newest wins)."""


@dataclass(frozen=True)
class SavedReport:
    """Where a report went: ``url`` (its directory), ``manifest`` and ``equity`` (file URLs), ``replaced``
    (the ``generated_at`` of the report it replaced, or None)."""

    url: str
    manifest: str
    equity: str | None
    replaced: str | None


def _is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def _fs(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url, **dict(storage_options or {}))


def write_bytes_atomic(url: str, data: bytes, *, storage_options: Mapping[str, Any] | None = None) -> str:
    """Write ``data`` to ``url`` so that readers see the old file or the new one, never a part.

    Local: a temporary file in the same directory, fsync, then ``os.replace``. ``s3://``: one PUT (atomic per
    object). Errors become :class:`ReportWriteError` naming the destination.
    """
    try:
        if not _is_remote(url):
            path = Path(url[len("file://") :] if url.startswith("file://") else url)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
            return str(path)
        fs, path_s = _fs(url, storage_options)
        with fs.open(path_s, "wb") as f:
            f.write(data)
        return url
    except QuantrayError:
        raise
    except Exception as exc:
        raise ReportWriteError(f"cannot write {url!r}: {type(exc).__name__}: {exc}") from None


def _read_existing(
    base: str, storage_options: Mapping[str, Any] | None
) -> tuple[QuarterlyReport | None, Any]:
    try:
        fs, path = _fs(f"{base}/report.json", storage_options)
        with fs.open(path, "rb") as f:
            raw = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError):
        return None, None
    try:
        return QuarterlyReport.from_dict(raw), raw
    except QuantrayError:
        return None, raw


def save_report(
    report: QuarterlyReport,
    root: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    force: bool = False,
) -> SavedReport:
    """Store ``report`` (manifest + equity curves) under ``{root}/reports/{portfolio}/{YYYY}/Q{n}/``.

    Args:
        report: the report; its ``equity`` (if any) is written as Parquet.
        root: a local directory or an ``s3://bucket/prefix`` URL.
        storage_options: fsspec options (e.g. ``{"client_kwargs": {"endpoint_url": ...}}``).
        force: replace a stored report even when it is newer.

    Raises:
        StaleReportError: a report with a later ``generated_at`` is stored (and ``force`` is false).
        ReportWriteError: the destination cannot be written; the previous report is left intact.
    """
    base = report_dir(root, report.portfolio, report.year, report.quarter)
    old, old_raw = _read_existing(base, storage_options)
    if old is not None and old.generated_at > report.generated_at and not force:
        raise StaleReportError(
            f"{base}: a newer report is stored (generated_at {old.generated_at.isoformat()} > "
            f"{report.generated_at.isoformat()}); the newest wins (use force=True to replace it)"
        )
    manifest = report.to_dict()
    eq_url: str | None = None
    if report.equity is not None:
        name = f"equity-{report.generated_at.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
        buf = io.BytesIO()
        try:
            frame = report.equity.copy()
            frame.index.name = "ts"
            frame.reset_index().to_parquet(buf, index=False)
        except Exception as exc:
            raise ReportWriteError(f"{base}: cannot serialise the equity curves: {exc}") from None
        eq_url = write_bytes_atomic(f"{base}/{name}", buf.getvalue(), storage_options=storage_options)
        manifest["equity_file"] = name
    body = json.dumps(manifest, indent=2, allow_nan=False).encode("utf-8")
    try:
        man_url = write_bytes_atomic(f"{base}/report.json", body, storage_options=storage_options)
    except ReportWriteError:
        if eq_url is not None:  # the new equity file is unreferenced: remove it, keep the old report
            _remove(eq_url, storage_options)
        raise
    old_eq = old_raw.get("equity_file") if isinstance(old_raw, dict) else None
    if old_eq and old_eq != manifest.get("equity_file"):
        _remove(f"{base}/{old_eq}", storage_options)
    return SavedReport(
        url=base,
        manifest=man_url,
        equity=eq_url,
        replaced=old.generated_at.isoformat() if old is not None else None,
    )


def _remove(url: str, storage_options: Mapping[str, Any] | None) -> None:
    try:
        fs, path = _fs(url, storage_options)
        fs.rm(path)
    except Exception:  # cleanup only: an orphan file never changes what the manifest says
        pass


def load_or_none(url: str, *, storage_options: Mapping[str, Any] | None = None) -> QuarterlyReport | None:
    """:func:`load_report`, or None when nothing is stored there."""
    try:
        return load_report(url, storage_options=storage_options)
    except ReportNotFoundError:
        return None
    except DataError:
        raise
