"""`quantray report ...` and `quantray portfolios list`: one JSON object, one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantray.cli._main import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_quarterly_json_writes_every_requested_format(capsys, tmp_path) -> None:
    code, out, _ = _run(
        capsys,
        "report",
        "quarterly",
        "--portfolio",
        "sample",
        "--quarter",
        "2017Q4",
        "--format",
        "md,xlsx,html",
        "--symbol",
        "AAPL",
        "--symbol",
        "MSFT",
        "--symbol",
        "XOM",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["quarter"] == "2017Q4" and doc["n_symbols"] == 3
    assert doc["dir"] == f"{tmp_path}/reports/sample/2017/Q4"
    assert set(doc["files"]) == {"md", "xlsx", "html"}
    for f in doc["files"].values():
        assert Path(f).is_file() and Path(f).stat().st_size > 0
    from quantray.reports import load_report

    rep = load_report(doc["dir"])
    assert [t["symbol"] for t in doc["top"]] == [r.symbol for r in rep.get_top_performers(3)]
    code, out, _ = _run(capsys, "report", "list", "--root", str(tmp_path), "--json")
    assert json.loads(out)["reports"] == [{"portfolio": "sample", "quarter": "2017Q4", "dir": doc["dir"]}]
    code, out, _ = _run(
        capsys, "report", "show", "--latest", "--portfolio", "sample", "--root", str(tmp_path), "--json"
    )
    assert json.loads(out)["generated_at"] == doc["generated_at"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["--portfolio", "nope", "--quarter", "2017Q4"],
            r"unknown portfolio 'nope'; valid: \['crypto', 'sample', 'sp500'\]",
        ),
        (["--portfolio", "sample", "--quarter", "2019Q1"], r"quarter 2019Q1 has no bars"),
        (["--portfolio", "sample", "--quarter", "17Q4"], r"expected YYYYQn"),
        (["--portfolio", "sample", "--quarter", "2017Q4", "--format", "docx"], r"unknown format"),
    ],
)
def test_report_quarterly_user_errors(capsys, tmp_path, argv, message) -> None:
    code, out, err = _run(capsys, "report", "quarterly", *argv, "--out", str(tmp_path))
    assert code == 2 and out == ""
    lines = [ln for ln in err.splitlines() if ln.startswith("quantray: error:")]
    assert len(lines) == 1 and __import__("re").search(message, lines[0]), err
    assert not (tmp_path / "reports").exists()


def test_malformed_template_dir_and_branding(capsys, tmp_path) -> None:
    tdir = tmp_path / "t"
    tdir.mkdir()
    (tdir / "report.md.j2").write_text("{% if %}")
    code, _, err = _run(
        capsys,
        "report",
        "quarterly",
        "--portfolio",
        "sample",
        "--quarter",
        "2017Q4",
        "--format",
        "md",
        "--symbol",
        "KO",
        "--template-dir",
        str(tdir),
        "--out",
        str(tmp_path / "o"),
    )
    assert code == 2 and "report.md.j2" in err and "line 1" in err
    assert not (tmp_path / "o").exists()  # nothing half-written
    brand = tmp_path / "b.yaml"
    brand.write_text("name: Acme\nprimary_color: red\n")
    code, _, err = _run(
        capsys,
        "report",
        "quarterly",
        "--portfolio",
        "sample",
        "--quarter",
        "2017Q4",
        "--branding",
        str(brand),
    )
    assert code == 2 and "branding.primary_color" in err


def test_portfolios_list(capsys) -> None:
    _code, out, _ = _run(capsys, "portfolios", "list", "--json")
    names = {p["name"]: p for p in json.loads(out)}
    assert set(names) == {"crypto", "sample", "sp500"}
    assert names["sample"]["data"] == "sample"
