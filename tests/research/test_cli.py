"""The research verbs of the CLI: each prints exactly one JSON object with --json, and user errors are clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quantray.cli._main import _Parser
from quantray.cli._research import add_research_parsers
from quantray.data import sample_path
from quantray.errors import ConfigError, QuantrayError


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    p = _Parser(prog="quantray")
    add_research_parsers(p.add_subparsers(dest="verb", required=True, parser_class=_Parser), _Parser)
    args = p.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr().out
    return rc, json.loads(out) if "--json" in argv else out


@pytest.fixture(scope="module")
def sample() -> str:
    return str(sample_path())


def test_walkforward_json(sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc = _run(
        ["walkforward", "--data", sample, "--symbol", "AAPL", "--symbol", "MSFT", "--strategy", "sma_cross",
         "--grid", "fast=5:20:5", "--grid", "slow=50:100:50", "--train-bars", "500", "--test-bars", "250",
         "--fees", "0.001", "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0
    assert [s["symbol"] for s in doc["summary"]] == ["AAPL", "MSFT"]
    assert len(doc["windows"]) == 8 and doc["windows"][0]["test_start"].startswith("20")
    assert {"wfe", "modal_fraction", "cv_fast", "oos_sharpe"} <= set(doc["summary"][0])
    assert all(w["qualified"] for w in doc["windows"]) and "warnings" not in doc
    # no set can make 1,000 entries in 500 bars: said (payload and stderr), not shown as a stable choice
    argv = ["walkforward", "--data", sample, "--symbol", "AAPL", "--strategy", "sma_cross", "--grid",
            "fast=5:20:5", "--grid", "slow=50:100:50", "--train-bars", "500", "--test-bars", "250",
            "--min-trades", "1000", "--json"]  # fmt: skip
    p = _Parser(prog="quantray")
    add_research_parsers(p.add_subparsers(dest="verb", required=True, parser_class=_Parser), _Parser)
    args = p.parse_args(argv)
    assert args.func(args) == 0
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert not any(w["qualified"] for w in doc["windows"])
    assert doc["warnings"] == [cap.err.strip()] and "in 4 of 4 windows no parameter set made" in cap.err


def test_cpcv_json_includes_the_overfitting_statistics(
    sample: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, doc = _run(
        ["cpcv", "--data", sample, "--symbol", "MSFT", "--strategy", "sma_cross", "--grid", "fast=5,10,20",
         "--grid", "slow=50,100", "--groups", "5", "--test-groups", "2", "--partitions", "8", "--boot", "100",
         "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0
    assert len(doc["splits"]) == 10 and len(doc["paths"]) == 4 and doc["n_trials"] == 6
    ov = doc["overfitting"]
    assert 0 <= ov["pbo"] <= 1 and 0 <= ov["dsr"] <= ov["psr"] <= 1
    assert set(ov["best_params"]) == {"fast", "slow"}


@pytest.mark.parametrize(
    ("target", "method"), [("prices", "stationary"), ("returns", "iid"), ("trades", "shuffle")]
)
def test_montecarlo_json(sample: str, target: str, method: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc = _run(
        ["montecarlo", "--data", sample, "--symbol", "AAPL", "--strategy", "sma_cross", "--param", "fast=10",
         "--param", "slow=50", "--target", target, "--method", method, "--paths", "40", "--seed", "3",
         "--batch", "16", "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and doc["n_paths"] == 40 and doc["method"] == method
    dd = doc["summary"]["max_drawdown"]
    assert dd["ci_low"] <= dd["median"] <= dd["ci_high"]
    assert 0 <= doc["risk_of_ruin"] <= 1


def test_regimes_text_and_json(sample: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["regimes", "--data", sample, "--symbol", "AAPL", "--strategy", "sma_cross", "--kind", "trend"]
    rc, text = _run(argv, capsys)
    assert rc == 0 and "bull" in text
    rc, doc = _run([*argv, "--json"], capsys)
    assert [r["regime"] for r in doc["results"]] == ["bear", "sideways", "bull"]


def test_user_errors_are_quantray_errors(
    sample: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="one --symbol"):
        _run(["cpcv", "--data", sample, "--symbol", "A", "--symbol", "B", "--strategy", "sma_cross",
              "--grid", "fast=5,10"], capsys)  # fmt: skip
    with pytest.raises(ConfigError, match="--grid"):
        _run(["walkforward", "--data", sample, "--strategy", "sma_cross", "--train-bars", "100",
              "--test-bars", "50"], capsys)  # fmt: skip
    with pytest.raises(QuantrayError, match="train_bars"):
        _run(["walkforward", "--data", sample, "--symbol", "AAPL", "--strategy", "sma_cross", "--grid",
              "fast=5,10", "--train-bars", "5000", "--test-bars", "50"], capsys)  # fmt: skip


def test_the_walkforward_job_keeps_each_row_s_symbol(ray_local, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """jobs.walkforward printed and wrote its summary without the symbol (it is the summary's index), so the
    persisted rows could not be told apart."""
    import pandas as pd

    from jobs import walkforward as job

    cfg = tmp_path / "wf.yaml"
    cfg.write_text(
        "data: sample\nsymbols: [AAPL, MSFT]\nstrategy: sma_cross\ngrid: {fast: '5:10:5', slow: '50:100:50'}\n"
        f"train_bars: 504\ntest_bars: 252\nout: {tmp_path / 'out'}\n",
        encoding="utf-8",
    )
    assert job.main(["--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    summary = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert sorted(summary["symbol"]) == ["AAPL", "MSFT"]
    table = out[out.index("symbol") :].splitlines()
    assert table[0].split()[0] == "symbol" and {ln.split()[0] for ln in table[1:3]} == {"AAPL", "MSFT"}
