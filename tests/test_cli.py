"""The ``quantray`` command, run in-process through ``main(argv)`` (plus one subprocess for the console script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import quantray
from quantray.cli import main
from quantray.data import SAMPLE_SYMBOLS, load_sample, sample_path

SAMPLE = sample_path()
RESULT_KEYS = {
    "symbol",
    "params",
    "final_equity",
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "max_drawdown",
    "num_trades",
    "win_rate",
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _json_backtest(capsys, *extra: str) -> dict:
    code, out, err = run(capsys, "backtest", "--data", SAMPLE, "--strategy", "sma_cross", "--json", *extra)
    assert code == 0, err
    assert out.endswith("\n") and out.count("\n") == 1, "stdout must be exactly one JSON object"
    return json.loads(out)


# -------------------------------------------------------------------------------------------- backtest


def test_backtest_json_is_one_object_with_the_documented_keys(capsys) -> None:
    doc = _json_backtest(
        capsys, "--symbol", "AAPL", "--symbol", "KO", "--param", "fast=10", "--param", "slow=50"
    )
    assert doc["strategy"] == "sma_cross"
    assert isinstance(doc["results"], list) and len(doc["results"]) == 2
    for r in doc["results"]:
        assert set(r) >= RESULT_KEYS, RESULT_KEYS - set(r)
        assert r["params"] == {"fast": 10, "slow": 50}
        assert isinstance(r["num_trades"], int)
    # the numbers are the library's
    table = quantray.backtest(
        SAMPLE, "sma_cross", params={"fast": 10, "slow": 50}, symbols=["AAPL", "KO"]
    ).table
    for r in doc["results"]:
        row = table[table.symbol == r["symbol"]].iloc[0]
        assert r["final_equity"] == pytest.approx(row.final_equity, rel=1e-12)
        assert r["num_trades"] == row.num_trades
        assert r["sharpe"] == pytest.approx(row.sharpe, rel=1e-12)
    # ranked by sharpe, best first
    sharpes = [r["sharpe"] for r in doc["results"]]
    assert sharpes == sorted(sharpes, reverse=True)


def test_grid_stop_is_inclusive(capsys) -> None:
    doc = _json_backtest(capsys, "--symbol", "AAPL", "--grid", "fast=5:20:5", "--param", "slow=50")
    assert sorted(r["params"]["fast"] for r in doc["results"]) == [5, 10, 15, 20]
    assert {r["params"]["slow"] for r in doc["results"]} == {50}


def test_grid_list_form_and_two_axes_drop_invalid_combos(capsys) -> None:
    doc = _json_backtest(capsys, "--symbol", "MSFT", "--grid", "fast=10,30", "--grid", "slow=20:40:20")
    combos = sorted((r["params"]["fast"], r["params"]["slow"]) for r in doc["results"])
    assert combos == [(10, 20), (10, 40), (30, 40)]


def test_all_symbols_and_non_finite_metrics_become_null(capsys) -> None:
    doc = _json_backtest(
        capsys, "--param", "fast=5", "--param", "slow=10", "--execution", "close", "--fees", "0.001"
    )
    assert sorted(r["symbol"] for r in doc["results"]) == sorted(SAMPLE_SYMBOLS)
    code, out, _err = run(
        capsys,
        "backtest",
        "--data",
        SAMPLE,
        "--strategy",
        "rsi_reversion",
        "--symbol",
        "KO",
        "--param",
        "lower=1",
        "--param",
        "upper=99",
        "--json",
    )
    r = json.loads(out)["results"][0]
    assert code == 0 and r["num_trades"] == 0 and r["sharpe"] is None and r["win_rate"] is None
    assert "NaN" not in out and "Infinity" not in out


def test_backtest_costs_and_execution_flags_reach_the_engine(capsys) -> None:
    args = ("--symbol", "AAPL", "--param", "fast=10", "--param", "slow=50")
    free = _json_backtest(capsys, *args, "--execution", "close")["results"][0]
    paid = _json_backtest(
        capsys,
        *args,
        "--execution",
        "close",
        "--fees",
        "0.001",
        "--slippage",
        "0.0005",
        "--fixed-fee",
        "1",
        "--init-cash",
        "50000",
    )["results"][0]
    lib = quantray.backtest(
        SAMPLE,
        "sma_cross",
        params={"fast": 10, "slow": 50},
        symbols=["AAPL"],
        execution="close",
        fees=0.001,
        slippage=0.0005,
        fixed_fee=1.0,
        init_cash=50_000.0,
    ).table.iloc[0]
    assert paid["final_equity"] == pytest.approx(lib.final_equity, rel=1e-12)
    assert paid["total_return"] < free["total_return"]


def test_backtest_table_output(capsys) -> None:
    code, out, _err = run(
        capsys,
        "backtest",
        "--data",
        SAMPLE,
        "--strategy",
        "sma_cross",
        "--symbol",
        "AAPL",
        "--symbol",
        "KO",
        "--grid",
        "fast=5:20:5",
        "--param",
        "slow=50",
        "--top",
        "3",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("sma_cross: 8 backtests, 2 symbols, execution=next_open")
    assert lines[1].split()[:4] == ["rank", "symbol", "fast", "slow"]
    assert len(lines) == 2 + 3 + 1 and "5 more rows" in lines[-1]


def test_table_title_names_the_sort_metric(capsys) -> None:
    code, out, _ = run(
        capsys, "backtest", "--data", SAMPLE, "--strategy", "sma_cross", "--symbol", "AAPL", "--sort", "cagr"
    )
    assert code == 0 and "ranked by cagr" in out.splitlines()[0]


# ------------------------------------------------------------------------------------------ user errors


def _empty_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "empty.parquet": b"",
        "empty.csv": b"",
        "header.csv": b"date,ticker,open,high,low,close,volume\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    return {k: tmp_path / k for k in files}


BAD = [
    (["--strategy", "sma_crss"], "sma_cross"),  # unknown strategy: suggestion
    (["--strategy", "sma_cross", "--param", "fats=5"], "fats"),
    (["--strategy", "sma_cross", "--top", "0"], "--top: must be an integer >= 1, got 0"),
    (["--strategy", "sma_cross", "--top", "-1"], "--top: must be an integer >= 1, got -1"),
    (["--strategy", "sma_cross", "--param", "fast=60", "--param", "slow=50"], "slow > fast"),
    (["--strategy", "sma_cross", "--param", "fast"], "KEY=VALUE"),
    (["--strategy", "sma_cross", "--param", "fast=x"], "not a number"),
    (["--strategy", "sma_cross", "--grid", "fast=5:1:1"], "STOP must be >= START"),
    (["--strategy", "sma_cross", "--grid", "fast=a:b:c"], "not a number"),
    (["--strategy", "sma_cross", "--grid", "fast=1:2"], "START:STOP:STEP"),
    (["--strategy", "sma_cross", "--grid", "fast=1:5:0"], "STEP must be > 0"),
    (["--strategy", "sma_cross", "--grid", "fast=50:60:5", "--param", "slow=20"], "no valid parameter set"),
    (["--strategy", "sma_cross", "--execution", "open"], "invalid choice"),
    (["--strategy", "sma_cross", "--fees", "-0.1"], "fees"),
    (["--strategy", "sma_cross", "--fees", "abc"], "--fees"),
    (["--strategy", "sma_cross", "--symbol", "NOPE"], "NOPE"),
    (["--strategy", "sma_cross", "--sort", "sharp"], "unknown metric"),
]


@pytest.mark.parametrize(("argv", "needle"), BAD, ids=[" ".join(a[2:]) or a[1] for a, _ in BAD])
def test_bad_backtest_arguments_exit_2_with_one_line(capsys, argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, "backtest", "--data", SAMPLE, *argv)
    _assert_one_line_error(code, out, err, needle)


@pytest.mark.parametrize("which", ["missing", "empty.parquet", "empty.csv", "header.csv", "directory"])
def test_bad_data_sources_exit_2_with_one_line(capsys, tmp_path: Path, which: str) -> None:
    files = _empty_files(tmp_path)
    path = {"missing": tmp_path / "nope.parquet", "directory": tmp_path / "emptydir"}.get(which) or files[
        which
    ]
    if which == "directory":
        path.mkdir()
    code, out, err = run(capsys, "backtest", "--data", str(path), "--strategy", "sma_cross")
    _assert_one_line_error(code, out, err, path.name)


@pytest.mark.parametrize(
    "argv",
    [[], ["backtest"], ["backtest", "--strategy", "sma_cross"], ["nope"], ["data"], ["strategies", "show"]],
)
def test_usage_errors_exit_2_with_one_line(capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    _assert_one_line_error(code, out, err, "quantray")


def _assert_one_line_error(code: int, out: str, err: str, needle: str) -> None:
    assert code == 2, (code, err)
    assert out == ""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("quantray: error:")]
    assert len(errors) == 1, err
    assert err.rstrip("\n").splitlines()[-1] == errors[0]  # the error is the last thing said
    assert needle in errors[0], errors[0]


# ------------------------------------------------------------------------------------------------ data


def test_data_validate_reports_every_defect_of_the_real_panel(capsys, sp500_path: Path) -> None:
    code, out, _err = run(capsys, "data", "validate", str(sp500_path), "--max-issues", "100")
    assert code == 1
    assert "40 problems" in out and "warnings" in out
    # a known defect (DATA README: CHD 2014-05-19 inconsistent OHLC) named by file, symbol, ts, column, rule
    line = next(ln for ln in out.splitlines() if "symbol=CHD" in ln)
    assert (
        sp500_path.name in line
        and "ts=2014-05-19" in line
        and "column=low" in line
        and "[rule ohlc_low]" in line
    )
    assert "LNT" in out and "SPG" in out and "rule nan" in out


def test_data_validate_json(capsys, sp500_path: Path) -> None:
    code, out, _ = run(capsys, "data", "validate", str(sp500_path), "--json", "--max-issues", "1000")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["rows"] == 619_040
    assert doc["errors"] == 40 == sum(1 for i in doc["issues"] if i["severity"] == "error")
    rules = {i["rule"] for i in doc["issues"]}
    assert {"nan", "ohlc_low", "ohlc_high"} <= rules
    for issue in doc["issues"]:
        assert {"symbol", "row", "ts", "column", "rule", "message"} <= set(issue)
    nan_cells = [i for i in doc["issues"] if i["rule"] == "nan"]
    assert len(nan_cells) == 27  # DATA README: 27 blank cells


def test_data_validate_clean_file_exits_0(capsys, tmp_path: Path) -> None:
    bars = load_sample()
    ko = bars[bars["symbol"] == "KO"]
    path = tmp_path / "ko.csv"
    ko.to_csv(path, index=False)
    code, out, _ = run(capsys, "data", "validate", str(path))
    assert code == 0, out


def test_data_info(capsys) -> None:
    code, out, _ = run(capsys, "data", "info", SAMPLE, "--json")
    info = json.loads(out)
    assert code == 0
    assert info["rows"] == 25_180 and info["symbols"] == 20
    assert info["calendar"] == "equities" and info["periods_per_year"] == 252.0
    assert info["start"].startswith("2013-02-08") and info["end"].startswith("2018-02-07")
    assert info["first_symbols"][:3] == ["AAPL", "AMZN", "BA"]
    code, out, _ = run(capsys, "data", "info", SAMPLE)
    assert code == 0 and "periods_per_year: 252.0" in out


def test_data_info_crypto(capsys, crypto_path: Path) -> None:
    code, out, _ = run(capsys, "data", "info", str(crypto_path), "--json")
    info = json.loads(out)
    assert code == 0 and info["calendar"] == "crypto" and info["periods_per_year"] == 8760.0
    assert info["symbols"] == 8 and "BTCUSDT" in info["first_symbols"]


def test_data_errors_exit_2(capsys, tmp_path: Path) -> None:
    code, out, err = run(capsys, "data", "info", str(tmp_path / "missing.csv"))
    _assert_one_line_error(code, out, err, "missing.csv")
    code, out, err = run(capsys, "data", "validate", str(tmp_path / "missing.csv"))
    _assert_one_line_error(code, out, err, "missing.csv")


# ------------------------------------------------------------------------------------------ strategies


def test_strategies_list(capsys) -> None:
    code, out, _ = run(capsys, "strategies", "list")
    assert code == 0
    names = [ln.split(":")[0] for ln in out.splitlines() if not ln.startswith(" ")]
    assert names == sorted(names)
    for name in (
        "buy_and_hold",
        "sma_cross",
        "ema_cross",
        "rsi_reversion",
        "bollinger_reversion",
        "donchian_breakout",
        "macd",
        "momentum",
    ):
        assert name in names
    assert "fast (int, 1..500, default 10)" in out


def test_strategies_list_json(capsys) -> None:
    code, out, _ = run(capsys, "strategies", "list", "--json")
    doc = json.loads(out)
    by_name = {s["name"]: s for s in doc}
    assert code == 0 and len(by_name) >= 8
    assert by_name["sma_cross"]["params"]["slow"]["default"] == 50 and by_name["macd"]["pine"] is True
    assert by_name["buy_and_hold"]["params"] == {}


# ----------------------------------------------------------------------------------------- the script


def test_console_script_runs_a_backtest(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("quantray")
    assert exe.exists(), f"console script missing at {exe}"
    proc = subprocess.run(
        [
            str(exe),
            "backtest",
            "--data",
            SAMPLE,
            "--strategy",
            "sma_cross",
            "--symbol",
            "AAPL",
            "--grid",
            "fast=5:20:5",
            "--param",
            "slow=50",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["results"]) == 4 and all(set(r) >= RESULT_KEYS for r in doc["results"])


def test_an_s3_url_without_credentials_is_one_line(capsys, monkeypatch) -> None:
    """The README's `--data s3://bucket/bars/` on a machine with no AWS credentials printed botocore's
    NoCredentialsError as a 60-line traceback (exit 1); it is one line naming the URL (exit 2)."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup
    code, out, err = run(
        capsys, "backtest", "--data", "s3://bucket/bars/", "--symbol", "AAPL", "--strategy", "macd"
    )
    _assert_one_line_error(code, out, err, "s3://bucket/bars/: cannot access: Unable to locate credentials")
