"""The CLI verbs: discover on the bundled sample registers its survivors; strategies promote/retire/status walk
the lifecycle; refused moves and bad input are one clean line with exit status 2; abtest prints a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quantray.cli._main import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    doc = json.loads(cap.out) if "--json" in argv and rc == 0 else None
    return rc, doc, cap.err


def test_discover_registers_survivors_and_the_lifecycle_verbs_walk_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg = f"sqlite:///{tmp_path / 'r.db'}"
    rc, doc, _ = _run(
        ["discover", "--data", "sample", "--symbol", "AAPL", "--symbol", "JPM", "--population", "16",
         "--generations", "3", "--seed", "7", "--hall-of-fame", "5", "--local", "--registry", reg,
         "--min-dsr", "0.3", "--max-pbo", "1.0", "--min-oos-trades", "1", "--pine-dir", str(tmp_path / "pine"),
         "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and doc["seed"] == 7 and doc["n_evaluated"] >= 16
    assert doc["registered"] == doc["survivors"] and doc["survivors"]
    passed = [v["name"] for v in doc["validation"] if v["passed"]]
    assert passed == doc["survivors"]
    for name in doc["survivors"]:
        assert (tmp_path / "pine" / f"{name}.pine").read_text().startswith("//@version=6")
    name = doc["survivors"][0]
    rc, st, _ = _run(["strategies", "status", "--registry", reg, "--json"], capsys)
    assert rc == 0 and {s["name"] for s in st["strategies"]} == set(doc["survivors"])
    assert all(s["state"] == "validated" for s in st["strategies"])
    # retire before live: refused, one line, exit 2, nothing written
    rc, _, err = _run(["strategies", "retire", name, "--reason", "x", "--registry", reg], capsys)
    assert rc == 2 and err.startswith("quantray: error:") and "only live strategies are retired" in err
    assert err.count("\n") == 1
    rc, out, _ = _run(["strategies", "promote", name, "--registry", reg, "--json"], capsys)
    assert rc == 0 and out["state"] == "live"
    rc, out, _ = _run(
        ["strategies", "retire", name, "--reason", "decayed", "--registry", reg, "--json"], capsys
    )
    assert rc == 0 and out["state"] == "retired"
    rc, one, _ = _run(["strategies", "status", name, "--registry", reg, "--json"], capsys)
    assert [h["to"] for h in one["history"]] == ["candidate", "validated", "live", "retired"]
    # the gates a rule was validated under are shown (they were in the registry only)
    assert one["history"][1]["details"]["gates"]["min_dsr"] == 0.3
    assert main(["strategies", "status", name, "--registry", reg]) == 0
    assert "(gates dsr >= 0.3, pbo <= 1, oos_trades >= 1, oos_sharpe >= 0)" in capsys.readouterr().out
    assert one["history"][-1]["reason"] == "decayed" and one["rule"]
    # a fresh process knows the rule only through the registry: it backtests it by name, equal to rule_spec
    import os
    import subprocess
    import sys

    import quantray
    from quantray.data import sample_path
    from quantray.search import rule_spec

    env = {**os.environ, "QUANTRAY_HOME": str(tmp_path / "home")}
    argv = ["backtest", "--data", str(sample_path()), "--symbol", "JPM", "--strategy", name, "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "quantray", *argv, "--registry", reg], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)["results"][0]
    # at the costs discover validated it with (DiscoverConfig's 5 bp fees), not the flags' 0
    from quantray.engine import ExecutionConfig

    recorded = ExecutionConfig.from_dict(one["metrics"]["execution"])
    assert recorded.fees == 0.0005 and f"as recorded with {name}" in json.loads(proc.stdout)["costs_note"]
    ref = quantray.backtest(
        sample_path(), rule_spec(one["rule"], name=name), symbols=["JPM"], config=recorded
    ).table
    assert got["final_equity"] == pytest.approx(float(ref["final_equity"][0]), rel=1e-12)
    assert got["num_trades"] == int(ref["num_trades"][0])
    # without the registry the name is unknown: the usual one-line error listing the valid names
    proc = subprocess.run([sys.executable, "-m", "quantray", *argv], capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "sma_cross" in proc.stderr and proc.stderr.count("\n") == 1
    # a discovered rule is A/B-tested by name through the registry
    rc, ab, _ = _run(
        ["abtest", "--data", "sample", "--symbol", "JPM", "--a", name, "--b", "buy_and_hold", "--registry", reg,
         "--method", "jobson_korkie", "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and ab["n"] == 1259 and ab["sharpe_a"] == pytest.approx(float(ref["sharpe"][0]), rel=1e-9)
    # the same run again: nothing new to register, and it says why; the text table names each rule's failed gates
    argv = ["discover", "--data", "sample", "--symbol", "AAPL", "--symbol", "JPM", "--population", "16",
            "--generations", "3", "--seed", "7", "--hall-of-fame", "5", "--local", "--registry", reg,
            "--min-dsr", "0.3", "--max-pbo", "1.0", "--min-oos-trades", "1"]  # fmt: skip
    rc, again, _ = _run([*argv, "--json"], capsys)
    assert rc == 0 and again["registered"] == [] and again["already_registered"] == doc["survivors"]
    # under the default gates (and without registering) the table names each rule's failures
    assert main([*argv[:-6], "--no-register"]) == 0
    text = capsys.readouterr().out
    assert "passed the gates (dsr >= 0.95, pbo <= 0.5, oos_trades >= 5, oos_sharpe >= 0)" in text
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.startswith("gp_")}
    assert set(lines) == {v["name"] for v in doc["validation"]}
    for v in doc["validation"]:
        checks = (("dsr", v["dsr"] < 0.95), ("pbo", v["pbo"] > 0.5), ("oos_trades", v["oos_trades"] < 5),
                  ("oos_sharpe", v["oos_sharpe"] < 0))  # fmt: skip
        fails = [k for k, bad in checks if bad]
        assert lines[v["name"]].endswith(f"fails {', '.join(fails)}" if fails else "passed")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["tune", "--data", "sample", "--strategy", "nope"], "valid strategies"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--space", "fast=20:5"], "low <= high"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--space", "fast"], "KEY=LOW:HIGH"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--space", "fast=5:50:5", "--space",
          "fast=10:20:5"], "`fast` is given twice"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--space", "fast=5:inf:1"], "finite numbers"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--space", "fast=nan:9"], "finite numbers"),
        (["strategies", "promote", "ghost", "--registry", "sqlite:///:memory:"], "unknown strategy 'ghost'"),
        (["discover", "--data", "sample", "--population", "1"], "population"),
        (["discover", "--data", "sample", "--workers", "0"], "workers"),
        (["discover", "--data", "sample", "--cache-mb", "-1"], "`cache_mb` (--cache-mb)"),
        (["discover", "--data", "sample", "--min-oos-trades", "-1"], "gate `min_trades` (--min-oos-trades) must"),
        (["discover", "--data", "sample", "--min-trades", "-1"], "discover `min_trades` (--min-trades) must"),
        (["strategies", "promote", "s", "--max-pbo", "3"], "`max_pbo` (--max-pbo)"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--samples", "0"], "`num_samples` (--samples)"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--max-concurrent", "0"], "(--max-concurrent)"),
        (["tune", "--data", "sample", "--symbol", "MSFT", "--strategy", "sma_cross", "--folds", "700"],
         "MSFT: 1259 bars are too few for 700 folds (`folds`, --folds)"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--space", "fast=5:20:5", "--holdout", "0",
          "--register", "x", "--registry", "sqlite:///:memory:"], "register 'x' needs a holdout"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--register", ""], "must be a non-empty string"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--register", "x", "--registry",
          "sqlite:////etc/passwd/x.db"], "'/etc/passwd' is not a folder"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--register", "sma_cross"], "that is a strategy's name"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--storage-options", "[1]"], "JSON object"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--storage-options", "{x"], "invalid JSON"),
        (
            [
                "tune",
                "--data",
                "sample",
                "--strategy",
                "sma_cross",
                "--storage",
                "/tmp/qr-x",
                "--storage-options",
                '{"key": "a"}',
            ],
            "s3:// storage only",
        ),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--snapshot-s", "-1"], "snapshot_s"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--name", "../evil"], "`name` (--name) must be one folder name"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--name", "/tmp/abs"], "got '/tmp/abs'"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--name", "a/b"], "one folder name"),
        (["tune", "--data", "sample", "--strategy", "sma_cross", "--param", "fast=60", "--space", "slow=10:50"],
         "`slow > fast` must hold, got fast=60, slow=10): every trial would be invalid"),
        (["strategies", "retire", "ghost", "--reason", "x", "--registry", "sqlite:///:memory:"], "unknown"),
        (["strategies", "status", "--registry", "/tmp"], "is a directory"),
        (["strategies", "status", "--registry", "sqlite:///"], "names no file"),
        (["strategies", "status", "s", "--state", "live"], "not both"),
        (["strategies", "promote", "s", "--reason", " "], "--reason must not be empty"),
        (["strategies", "monitor", "s", "--data", "sample", "--last-bars", "0"], "--last-bars"),
        (["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "buy_and_hold", "--b", "sma_cross:fast=10,,slow=50"],
         "--b 'sma_cross:fast=10,,slow=50': empty parameter"),
        (["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "sma_cross:fast=abc", "--b", "buy_and_hold"],
         "--a 'sma_cross:fast=abc'"),
        (["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "sma_cross:fast=50,slow=10", "--b", "buy_and_hold"],
         "--a 'sma_cross:fast=50,slow=10'"),
        (["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "sma_cross", "--b", "buy_and_hold", "--block", "5000"],
         "--block must be in [1, n/4]"),
        (["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "buy_and_hold", "--b", "buy_and_hold"], "identical"),
        (["abtest", "--data", "sample", "--symbol", "MSFT", "--symbol", "AAPL", "--a", "sma_cross", "--b", "buy_and_hold"],
         "abtest: takes one --symbol, got 2: ['MSFT', 'AAPL']"),
        (["strategies", "monitor", "s", "--data", "sample", "--symbol", "MSFT", "--symbol", "AAPL"],
         "strategies monitor: takes one --symbol, got 2"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = _run(argv, capsys)
    assert rc == 2 and fragment in err and err.startswith("quantray: error:")


def test_abtest_prints_a_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, _ = _run(
        ["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "sma_cross:fast=10,slow=50", "--b",
         "buy_and_hold", "--boot", "300", "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and doc["symbol"] == "MSFT" and doc["n"] == 1259
    assert doc["verdict"] in {"A better", "B better", "no significant difference", "inconclusive"}
    assert 0 <= doc["jk_p"] <= 1 and doc["ci_low"] <= doc["diff"] <= doc["ci_high"]
    assert doc["boot_valid"] == 300 and doc["min_effect"] == 1.0 and doc["min_n"] < doc["min_n_observed"]
    # the text names a significant verdict's confidence, another's p-value against alpha (not "confidence 0.81")
    assert main(["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "sma_cross:fast=10,slow=50", "--b",
                 "buy_and_hold", "--boot", "300"]) == 0  # fmt: skip
    last = capsys.readouterr().out.strip().splitlines()[-1]
    if doc["verdict"] in ("A better", "B better"):
        assert f"(confidence {doc['confidence']:.3f}, by " in last
    else:
        assert f"(p={1 - doc['confidence']:.3f} >= alpha 0.05, by " in last and "confidence" not in last


def test_a_broken_registry_file_is_one_line_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database, and it stays this way")
    for argv in (["strategies", "status"], ["strategies", "retire", "x", "--reason", "y"]):
        rc, _, err = _run([*argv, "--registry", str(junk)], capsys)
        assert rc == 2 and "file is not a database" in err and err.count("\n") == 1
    assert junk.read_bytes() == b"not a database, and it stays this way"
    assert not (tmp_path / "new").exists()
    rc, _, _ = _run(["strategies", "status", "--registry", str(tmp_path / "new" / "r.db")], capsys)
    assert rc == 0 and not (tmp_path / "new").exists()  # reading never creates a registry


def test_verbs_on_a_registry_that_does_not_exist_create_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """promote/retire/monitor on a registry file that is not there (a fresh home, a mistyped --registry) say so
    and create nothing (they used to create an empty registry.db); discover creates the file only when it
    registers a survivor, and refuses an uncreatable registry before evolving."""
    home = tmp_path / "home"
    monkeypatch.setenv("QUANTRAY_HOME", str(home))
    typo = tmp_path / "regsitry.db"
    for argv in (["strategies", "promote", "x"], ["strategies", "retire", "x", "--reason", "y"],
                 ["strategies", "monitor", "x", "--data", "sample"],
                 ["strategies", "promote", "x", "--registry", str(typo)]):  # fmt: skip
        rc, _, err = _run(argv, capsys)
        assert rc == 2 and f"{argv[1]} 'x': no registry at" in err and err.count("\n") == 1
    assert not home.exists() and not typo.exists()
    small = ["discover", "--data", "sample", "--symbol", "AAPL", "--population", "8", "--generations", "1",
             "--local", "--json"]  # fmt: skip
    rc, doc, _ = _run(small, capsys)  # the default gates pass nothing here: nothing to register, no file
    assert rc == 0 and doc["registered"] == [] and not home.exists()
    (tmp_path / "f.txt").write_text("a file, not a folder")
    rc, _, err = _run([*small, "--registry", str(tmp_path / "f.txt" / "r.db")], capsys)
    assert rc == 2 and "is not a folder" in err and "gen 0" not in err  # refused before the evolution
    rc, doc, _ = _run([*small, "--min-dsr", "0", "--max-pbo", "1", "--min-oos-trades", "0",
                       "--min-oos-sharpe", "-100"], capsys)  # fmt: skip
    assert rc == 0 and doc["registered"] and (home / "registry.db").is_file()


def test_monitor_judges_the_portfolio_validation_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rule validated on several symbols is monitored on their equal-weight average (as validation measured
    it), not on whichever single symbol the data starts with; one symbol is judged only when asked, with a
    note."""
    import numpy as np

    import quantray
    from quantray.data import sample_path
    from quantray.search import Registry

    reg_url = f"sqlite:///{tmp_path / 'r.db'}"
    with Registry(reg_url) as reg:
        reg.add_candidate(
            "pair", strategy="sma_cross", params={"fast": 10, "slow": 50},
            metrics={"dsr": 1, "pbo": 0, "oos_trades": 9, "oos_sharpe": 0.5, "oos_max_drawdown": 0.5,
                     "symbols": ["AAPL", "MSFT"]},
        )  # fmt: skip
        reg.promote("pair")
        reg.promote("pair")
    rc, doc, _ = _run(
        ["strategies", "monitor", "pair", "--data", "sample", "--registry", reg_url, "--dry-run", "--json"],
        capsys,
    )
    assert rc == 0 and doc["symbols"] == ["AAPL", "MSFT"] and not doc["notes"]
    # the text shows the figures the verdict rests on (it said only "healthy")
    rc = main(["strategies", "monitor", "pair", "--data", "sample", "--registry", reg_url, "--dry-run"])
    text = capsys.readouterr().out
    assert (
        f"Sharpe {doc['realised_sharpe']:.2f} realised vs 0.50 expected (decay p={doc['decay_p_value']:.3f})"
        in text
        and f"max drawdown {doc['realised_max_drawdown']:.1%} (p={doc['drawdown_p_value']:.3f}" in text
    )
    # bad flags and a strategy that is not live are refused before any data is read
    for argv, fragment in (
        (["--drawdown-alpha", "2"], "(--drawdown-alpha)"),
        (["--alpha", "0"], "(--alpha)"),
    ):
        rc, _, err = _run(["strategies", "monitor", "pair", "--data", str(tmp_path / "none.parquet"),
                           "--registry", reg_url, *argv], capsys)  # fmt: skip
        assert rc == 2 and fragment in err and "none.parquet" not in err
    with Registry(reg_url) as reg:
        reg.add_candidate("cand", strategy="sma_cross", params={"fast": 10, "slow": 50})
    rc, _, err = _run(["strategies", "monitor", "cand", "--data", str(tmp_path / "none.parquet"), "--registry",
                       reg_url], capsys)  # fmt: skip
    assert rc == 2 and "strategy 'cand' is candidate: only live strategies are monitored" in err
    res = quantray.backtest(
        sample_path(), "sma_cross", params={"fast": 10, "slow": 50}, symbols=["AAPL", "MSFT"]
    )
    rets = []
    for sym in ("AAPL", "MSFT"):
        eq = res.detail(sym, {"fast": 10, "slow": 50}).equity.to_numpy()
        rets.append(eq / np.concatenate([[res.config.init_cash], eq[:-1]]) - 1.0)
    r = np.mean(rets, axis=0)
    eq = np.cumprod(1 + r)
    want_dd = float(np.max(1 - eq / np.maximum.accumulate(np.concatenate([[1.0], eq]))[1:]))
    assert doc["n_bars"] == r.size and doc["realised_max_drawdown"] == pytest.approx(want_dd, rel=1e-9)
    rc, doc, _ = _run(
        ["strategies", "monitor", "pair", "--data", "sample", "--symbol", "AAPL", "--registry", reg_url,
         "--dry-run", "--last-bars", "10", "--json"],
        capsys,
    )  # fmt: skip
    assert (
        rc == 0
        and doc["n_bars"] == 10
        and any("averaged; judged here on ['AAPL']" in n for n in doc["notes"])
    )
    assert any("min_bars" in n for n in doc["notes"])
    # one symbol of the two breaking a hard limit: reported, not retired (it is not what validation measured)
    rc, doc, _ = _run(
        ["strategies", "monitor", "pair", "--data", "sample", "--symbol", "AAPL", "--registry", reg_url,
         "--max-drawdown", "0.01", "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and doc["breaches"] and not doc["retired"]
    assert any("so not retired automatically" in n for n in doc["notes"])
    with Registry(reg_url) as reg:
        assert reg.get("pair").state == "live"
    rc, doc, _ = _run(
        ["strategies", "monitor", "pair", "--data", "sample", "--registry", reg_url, "--max-drawdown", "0.01",
         "--json"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and doc["retired"]  # the pair itself: retired
    rc, _, err = _run(
        ["strategies", "monitor", "pair", "--data", "sample", "--registry", reg_url, "--drawdown-alpha", "2"],
        capsys,
    )
    assert rc == 2 and "(--drawdown-alpha)" in err


def test_symbols_are_matched_by_date_in_discover_and_monitor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Discover refuses symbols whose holdouts share fewer than its 10-bar minimum, before evolving; the monitor
    refuses symbols that share no bar (it judged "0 bars: no breach") and, where one symbol lacks days, compounds
    the other's returns on them into its next shared day (they were dropped)."""
    import numpy as np
    import pandas as pd

    import quantray
    from quantray.data import load_sample
    from quantray.engine import sharpe_ratio
    from quantray.search import Registry

    bars = load_sample()
    bars = bars[bars["symbol"].isin(["AAPL", "MSFT"])]
    ts_all = np.sort(bars["ts"].unique())
    # MSFT's first 886 bars: its 30 % holdout (from bar 620) overlaps AAPL's (from bar 881) on 5 days
    few = tmp_path / "few.parquet"
    bars[(bars["symbol"] == "AAPL") | (bars["ts"] <= ts_all[885])].to_parquet(few)
    rc, _, err = _run(["discover", "--data", str(few), "--population", "8", "--generations", "2", "--local",
                       "--no-register"], capsys)  # fmt: skip
    assert rc == 2 and "discover holdout: the symbols share 5 bar(s) (at least 10" in err and "MSFT" in err

    reg_url = f"sqlite:///{tmp_path / 'r.db'}"
    params = {"fast": 10, "slow": 50}
    with Registry(reg_url) as reg:
        reg.add_candidate(
            "pair", strategy="sma_cross", params=params,
            metrics={"dsr": 1, "pbo": 0, "oos_trades": 9, "oos_sharpe": 0.5, "oos_max_drawdown": 0.9,
                     "symbols": ["AAPL", "MSFT"]},
        )  # fmt: skip
        reg.promote("pair")
        reg.promote("pair")
    apart = tmp_path / "apart.parquet"
    bars[((bars["symbol"] == "AAPL") & (bars["ts"] > ts_all[700])) | ((bars["symbol"] == "MSFT") & (bars["ts"] <= ts_all[600]))].to_parquet(apart)  # fmt: skip
    argv = ["strategies", "monitor", "pair", "--registry", reg_url, "--dry-run", "--json"]
    rc, _, err = _run([*argv, "--data", str(apart)], capsys)
    assert rc == 2 and "the symbols share no bar" in err

    gappy = tmp_path / "gappy.parquet"
    gone = ts_all[[300, 301, 302, 700, 900, 901, 1100]]
    bars[(bars["symbol"] == "AAPL") | ~bars["ts"].isin(gone)].to_parquet(gappy)
    rc, doc, _ = _run([*argv, "--data", str(gappy)], capsys)
    res = quantray.backtest(str(gappy), "sma_cross", params=params, symbols=["AAPL", "MSFT"])
    eq = pd.DataFrame({s: res.detail(s, params).equity for s in ("AAPL", "MSFT")}).dropna()
    want = (eq / eq.shift(1).fillna(res.config.init_cash) - 1.0).mean(axis=1).to_numpy()
    assert rc == 0 and doc["n_bars"] == 1259 - 7
    assert doc["realised_sharpe"] == pytest.approx(sharpe_ratio(want, res.periods_per_year), rel=1e-9)


def test_research_verbs_take_a_registered_candidate_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """regimes, montecarlo, walkforward and cpcv run a tuned candidate named by --strategy with its tuned
    parameters, exactly as the strategy with those parameters given (they failed with 'unknown strategy')."""
    from quantray.search import Registry

    reg_url = f"sqlite:///{tmp_path / 'r.db'}"
    with Registry(reg_url) as reg:
        reg.add_candidate("tuned_pair", strategy="sma_cross", params={"fast": 20, "slow": 40}, source="tune")
    common = ["--data", "sample", "--symbol", "AAPL", "--json"]
    for verb, extra in (
        ("regimes", []),
        ("montecarlo", ["--paths", "50", "--seed", "3"]),
        ("walkforward", ["--grid", "fast=5:20:5", "--train-bars", "500", "--test-bars", "250"]),
        ("cpcv", ["--grid", "fast=5:20:5", "--groups", "6", "--test-groups", "2"]),
    ):
        rc, by_name, err = _run(
            [verb, *common, "--strategy", "tuned_pair", "--registry", reg_url, *extra], capsys
        )
        assert rc == 0, err
        explicit = ["--strategy", "sma_cross", "--param", "slow=40"] + (
            [] if "--grid" in extra else ["--param", "fast=20"]
        )
        rc, want, err = _run([verb, *common, *explicit, *extra], capsys)
        assert rc == 0, err
        by_name.pop("strategy", None)
        want.pop("strategy", None)
        assert by_name == want, verb


def test_a_registered_candidate_runs_at_the_costs_it_was_validated_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """backtest, the research verbs and abtest run a candidate named by its registry name at the costs recorded
    with it (they ran it at the flags' 0 fees: a strategy validated at 10 bp looked better than it was); a flag
    given overrides its one field; abtest runs both sides at the same costs and refuses two candidates recorded
    with different ones unless a flag settles it."""
    import dataclasses

    import quantray
    from quantray.data import sample_path
    from quantray.engine import ExecutionConfig
    from quantray.search import Registry

    costs = ExecutionConfig(fees=0.001, slippage=0.0005)
    reg_url = f"sqlite:///{tmp_path / 'r.db'}"
    with Registry(reg_url) as reg:
        reg.add_candidate("pair_10bp", strategy="sma_cross", params={"fast": 10, "slow": 50}, source="tune",
                          metrics={"execution": dataclasses.asdict(costs)})  # fmt: skip
        reg.add_candidate("pair_5bp", strategy="sma_cross", params={"fast": 20, "slow": 50}, source="tune",
                          metrics={"execution": dataclasses.asdict(ExecutionConfig(fees=0.0005))})  # fmt: skip

    def table(**kw: Any) -> Any:
        return quantray.backtest(
            sample_path(), "sma_cross", params={"fast": 10, "slow": 50}, symbols=["MSFT"], **kw
        ).table

    at_costs, free = table(config=costs), table()
    assert float(at_costs["final_equity"][0]) < float(free["final_equity"][0])  # the costs matter here
    base = [
        "backtest",
        "--data",
        "sample",
        "--symbol",
        "MSFT",
        "--strategy",
        "pair_10bp",
        "--registry",
        reg_url,
    ]
    rc, doc, _ = _run([*base, "--json"], capsys)
    assert rc == 0 and doc["costs"]["fees"] == 0.001 and doc["costs"]["slippage"] == 0.0005
    assert doc["results"][0]["final_equity"] == pytest.approx(float(at_costs["final_equity"][0]), rel=1e-12)
    rc, _, err = _run(base, capsys)
    assert (
        rc == 0
        and "costs: fees=0.001 slippage=0.0005 fixed_fee=0 execution=next_open (as recorded with pair_10bp)"
        in err
    )
    # a flag overrides its one field; the others stay as recorded
    rc, doc, _ = _run([*base, "--fees", "0", "--json"], capsys)
    want = table(config=dataclasses.replace(costs, fees=0.0))
    assert rc == 0 and doc["costs"] == {
        "fees": 0.0,
        "slippage": 0.0005,
        "fixed_fee": 0.0,
        "init_cash": 100000.0,
    }
    assert doc["results"][0]["final_equity"] == pytest.approx(float(want["final_equity"][0]), rel=1e-12)
    # a research verb: the candidate by name equals the strategy with its parameters at the recorded costs
    rc, by_name, _ = _run(["regimes", "--data", "sample", "--symbol", "MSFT", "--strategy", "pair_10bp",
                           "--registry", reg_url, "--json"], capsys)  # fmt: skip
    rc2, explicit, _ = _run(["regimes", "--data", "sample", "--symbol", "MSFT", "--strategy", "sma_cross",
                             "--param", "fast=10", "--param", "slow=50", "--fees", "0.001", "--slippage", "0.0005",
                             "--json"], capsys)  # fmt: skip
    rc3, free_doc, _ = _run(["regimes", "--data", "sample", "--symbol", "MSFT", "--strategy", "sma_cross",
                             "--param", "fast=10", "--param", "slow=50", "--json"], capsys)  # fmt: skip
    assert rc == rc2 == rc3 == 0
    assert by_name["results"] == explicit["results"] != free_doc["results"]
    # abtest: both sides at the candidate's costs (buy_and_hold records none)
    rc, ab, _ = _run(["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "pair_10bp", "--b", "buy_and_hold",
                      "--registry", reg_url, "--method", "jobson_korkie", "--json"], capsys)  # fmt: skip
    bh = quantray.backtest(sample_path(), "buy_and_hold", symbols=["MSFT"], config=costs).table
    assert rc == 0 and ab["costs"]["fees"] == 0.001 and "as recorded with pair_10bp" in ab["costs_note"]
    assert ab["sharpe_a"] == pytest.approx(float(at_costs["sharpe"][0]), rel=1e-9)
    assert ab["sharpe_b"] == pytest.approx(float(bh["sharpe"][0]), rel=1e-9)
    # two candidates recorded with different fees: refused, one line, unless --fees settles it
    two = ["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "pair_10bp", "--b", "pair_5bp",
           "--registry", reg_url, "--method", "jobson_korkie"]  # fmt: skip
    rc, _, err = _run(two, capsys)
    assert rc == 2 and err.count("\n") == 1
    assert (
        "pair_10bp and pair_5bp were validated with different costs: fees 0.001 (pair_10bp) vs 0.0005 (pair_5bp); "
        "slippage 0.0005 (pair_10bp) vs 0.0 (pair_5bp); give --fees and --slippage" in err
    )
    rc, _, err = _run([*two, "--fees", "0.0005"], capsys)  # slippage still differs
    assert rc == 2 and "costs: slippage 0.0005 (pair_10bp) vs 0.0 (pair_5bp); give --slippage to" in err
    # a bad flag is the flag's error, not the record's; a record from another version names the candidate;
    # a difference no flag can settle says where to compare them instead
    rc, _, err = _run([*base, "--slippage", "2"], capsys)
    assert rc == 2 and "backtest: `fees` and `slippage` must be < 1" in err and "recorded" not in err
    with Registry(reg_url) as reg:
        reg.add_candidate("odd", strategy="sma_cross", params={"fast": 10, "slow": 50}, source="tune",
                          metrics={"execution": {**dataclasses.asdict(costs), "venue_fee_tier": 3}})  # fmt: skip
        reg.add_candidate("impact", strategy="sma_cross", params={"fast": 10, "slow": 50}, source="tune",
                          metrics={"execution": dataclasses.asdict(dataclasses.replace(costs, impact_k=0.1))})  # fmt: skip
    rc, _, err = _run(["backtest", "--data", "sample", "--symbol", "MSFT", "--strategy", "odd", "--registry", reg_url],
                      capsys)  # fmt: skip
    assert (
        rc == 2 and "the execution settings recorded with odd are not valid: unknown execution key(s)" in err
    )
    rc, _, err = _run(["abtest", "--data", "sample", "--symbol", "MSFT", "--a", "pair_10bp", "--b", "impact",
                       "--registry", reg_url], capsys)  # fmt: skip
    assert rc == 2 and "impact_k 0.0 (pair_10bp) vs 0.1 (impact); compare them in Python" in err
    rc, ab2, _ = _run([*two, "--fees", "0.0005", "--slippage", "0", "--json"], capsys)
    assert rc == 0 and ab2["costs"]["fees"] == 0.0005 and ab2["costs"]["slippage"] == 0.0
    assert ab2["costs_note"].endswith("(as recorded with pair_10bp and pair_5bp; --fees, --slippage given)")


def test_resuming_an_experiment_that_does_not_exist_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--resume with a mistyped --name is an error naming the experiments there (it started a new search)."""
    store = tmp_path / "st"
    base = ["tune", "--data", "sample", "--symbol", "MSFT", "--strategy", "sma_cross", "--space", "fast=5:10:5",
            "--space", "slow=50:100:50", "--searcher", "grid", "--scheduler", "none", "--storage", str(store)]  # fmt: skip
    rc, _, err = _run([*base, "--name", "nothere", "--resume"], capsys)
    assert rc == 2 and "resume: no experiment 'nothere' under" in err and "nothing there yet" in err
    assert not store.exists()  # nothing written
    rc, doc, _ = _run([*base, "--name", "real", "--json"], capsys)
    assert rc == 0 and doc["n_trials"] == 4 and doc["interrupted"] is False
    rc, _, err = _run([*base, "--name", "rael", "--resume"], capsys)
    assert (
        rc == 2
        and "(experiments there: real); check --storage and --name" in err
        and sorted(p.name for p in store.iterdir()) == ["real"]
    )
    rc, doc, _ = _run([*base, "--name", "real", "--resume", "--json"], capsys)
    assert rc == 0 and doc["restored"] is True and doc["n_trials"] == 4


def test_an_unusable_pine_dir_is_refused_before_the_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--pine-dir naming a file (or a folder under one) is one line before the evolution, nothing registered (it
    was a FileExistsError traceback after the survivors had been written to the registry)."""
    afile = tmp_path / "g.yaml"
    afile.write_text("a file")
    reg = tmp_path / "r.db"
    argv = ["discover", "--data", "sample", "--symbol", "AAPL", "--population", "8", "--generations", "1", "--local",
            "--min-dsr", "0", "--max-pbo", "1", "--min-oos-trades", "0", "--min-oos-sharpe", "-100",
            "--registry", str(reg)]  # fmt: skip
    for bad, fragment in (
        (afile, "it is a file, not a folder"),
        (afile / "sub", f"{str(afile)!r} is a file"),
    ):
        rc, _, err = _run([*argv, "--pine-dir", str(bad)], capsys)
        assert rc == 2 and fragment in err and err.count("\n") == 1 and "gen 0" not in err
    assert not reg.exists() and afile.read_text() == "a file"
    rc, doc, _ = _run([*argv, "--pine-dir", str(tmp_path / "new" / "pine"), "--json"], capsys)
    assert rc == 0 and doc["registered"]
    assert sorted(p.stem for p in (tmp_path / "new" / "pine").iterdir()) == sorted(doc["survivors"])
