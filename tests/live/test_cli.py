"""``quantray stream ...`` and ``jobs.stream``: outputs, one JSON object, one-line user errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from quantray.cli._main import main

from ._util import assert_bars_equal, offline_bars, slice_recording


@pytest.mark.parametrize("transport", [[], ["--transport", "picows"]], ids=["websockets", "picows"])
def test_stream_replay_cli_writes_the_three_tables(ray_local, shared_data, tmp_path, capsys, transport):
    path = slice_recording(
        shared_data / "ticks" / "binance_usdm_btcusdt_20240808.jsonl.gz", tmp_path / "usdm.jsonl.gz", 8000
    )
    out = tmp_path / "out"
    assert (
        main(
            [
                "stream",
                "replay",
                "--file",
                str(path),
                "--speed",
                "max",
                "--out",
                str(out),
                "--kill",
                "signal:20",
                "--json",
                *transport,
            ]
        )
        == 0
    )
    # Ray forwards worker logs to the driver's stdout; the command's own output is one JSON line
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    assert len(lines) == 1
    payload = json.loads(lines[0])
    assert payload["messages"] == 7999  # every websocket line of the slice (its snapshot line is REST)
    assert_bars_equal(pd.read_parquet(out / "bars_1m.parquet"), offline_bars(path, "1min"))
    top = pd.read_parquet(out / "book_top.parquet")
    assert (top["symbol"] == "binance-usdm:BTCUSDT").all() and top["update_id"].is_monotonic_increasing
    assert (top["bid"] < top["ask"]).all()
    pnl = pd.read_parquet(out / "pnl.parquet")
    assert {"ts", "strategy", "symbol", "position", "realized_pnl", "unrealized_pnl", "pnl"} <= set(
        pnl.columns
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["stream", "replay", "--file", "nope.jsonl.gz", "--out", "x"], "nope.jsonl.gz: no such recording"),
        (["stream", "replay", "--file", "f", "--out", "x", "--kill", "feed"], "expected ACTOR:N"),
        (["stream", "replay-server", "--file", "f", "--faults", "drop=7"], "probability"),
    ],
)
def test_stream_user_errors_are_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text('1 {"e":"trade","s":"BTCUSDT"}\n')
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quantray: error:") and needle in err[0]


def test_live_config_rejects_unknown_keys_and_bad_values(tmp_path):
    from quantray.errors import ConfigError, QuantrayError
    from quantray.live import LiveConfig

    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['feedz'\]"):
        LiveConfig.from_dict({"feedz": []})
    with pytest.raises(ConfigError, match="market"):
        LiveConfig.from_dict({"feeds": [{"market": "options", "symbols": ["X"]}]})
    with pytest.raises(QuantrayError, match="unknown strategy 'nope'"):
        LiveConfig.from_dict({"feeds": [{"symbols": ["X"]}], "strategies": [{"name": "nope"}]})
    import subprocess
    import sys
    from pathlib import Path

    cfg = tmp_path / "c.yaml"
    cfg.write_text("feeds: [{symbols: [BTCUSDT]}]\nbogus: 1\n")
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.run(
        [sys.executable, "-m", "jobs.stream", "--config", str(cfg)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "unknown key(s) ['bogus']" in p.stderr
