"""Storage: local and S3 (a moto server on loopback), newest wins, atomic replacement, unwritable targets."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quantray.reports import (
    ReportWriteError,
    StaleReportError,
    list_reports,
    load_latest_report,
    load_report,
    save_report,
)


def _files(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


def test_newest_generated_at_wins(sample_report, tmp_path) -> None:
    root = str(tmp_path)
    saved = save_report(sample_report, root)
    assert saved.url == f"{root}/reports/sample/2017/Q4" and saved.replaced is None
    older = dataclasses.replace(sample_report, generated_at=sample_report.generated_at - timedelta(days=1))
    with pytest.raises(StaleReportError, match="a newer report is stored"):
        save_report(older, root)
    assert load_report(saved.url).generated_at == sample_report.generated_at
    newer = dataclasses.replace(sample_report, generated_at=sample_report.generated_at + timedelta(hours=1))
    again = save_report(newer, root)
    assert again.replaced == sample_report.generated_at.isoformat()
    assert load_report(saved.url).generated_at == newer.generated_at
    # the superseded equity file is gone: one manifest, one equity file
    names = _files(Path(saved.url))
    assert names == {"report.json", Path(again.equity).name}


def test_failed_write_never_leaves_a_half_overwritten_report(sample_report, tmp_path, monkeypatch) -> None:
    root = str(tmp_path)
    saved = save_report(sample_report, root)
    before_manifest = Path(saved.manifest).read_bytes()
    before_files = _files(Path(saved.url))
    newer = dataclasses.replace(
        sample_report, generated_at=sample_report.generated_at + timedelta(days=1), notes=("replacement",)
    )
    real_replace = os.replace

    def failing_replace(src, dst):  # the disk fills up exactly when the manifest is committed
        if str(dst).endswith("report.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ReportWriteError, match=r"report\.json.*No space left on device"):
        save_report(newer, root)
    monkeypatch.setattr(os, "replace", real_replace)
    assert Path(saved.manifest).read_bytes() == before_manifest
    assert _files(Path(saved.url)) == before_files  # no temp file, no orphan equity file
    back = load_report(saved.url)
    assert back.notes == sample_report.notes and back.equity is not None
    assert back.equity.shape == sample_report.equity.shape


def test_unwritable_destination_is_a_clear_error(sample_report, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ReportWriteError, match=r"cannot write '.*file/reports/sample/2017/Q4/"):
        save_report(sample_report, str(blocker))


@pytest.fixture(scope="module")
def s3_server():
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="qr-reports")
    yield {"client_kwargs": {"endpoint_url": endpoint}, "key": "test", "secret": "test"}
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_s3_store_and_load_latest(sample_report, s3_server) -> None:
    import fsspec

    so = s3_server
    root = "s3://qr-reports/research"
    q3 = dataclasses.replace(sample_report, quarter=3, start="", end="")
    save_report(q3, root, storage_options=so)
    saved = save_report(sample_report, root, storage_options=so)
    assert saved.url == "s3://qr-reports/research/reports/sample/2017/Q4"
    assert [(y, q) for y, q, _ in list_reports(root, "sample", storage_options=so)] == [(2017, 3), (2017, 4)]
    latest = load_latest_report(root, "sample", storage_options=so)
    assert latest.label == "2017Q4" and latest.to_dict() == sample_report.to_dict()
    assert latest.equity is not None and latest.equity.shape == sample_report.equity.shape
    older = dataclasses.replace(sample_report, generated_at=datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(StaleReportError):
        save_report(older, root, storage_options=so)
    fs = fsspec.filesystem("s3", **so)
    assert sorted(
        p.rsplit("/", 1)[-1] for p in fs.ls("qr-reports/research/reports/sample/2017/Q4")
    ) == sorted(["report.json", saved.equity.rsplit("/", 1)[-1]])
