"""TradingView export: Pine parses (pynescript), conditions agree with quantray's signals on real bars, alert
messages pass the webhook payload parser, index files, thresholds, atomic writes and bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pynescript import ast

from quantray.data import read_bars, sample_path
from quantray.errors import ConfigError, DataError, ParameterError, StrategyError
from quantray.reports.tradingview import export_tradingview, parse_tradingview_alert
from quantray.strategies import get_strategy, render_pine

from .conftest import COMBOS, EXECUTION, build_report
from .pine_eval import PineEvaluator, parse

SAMPLE = {
    "{{ticker}}": "AAPL",
    "{{exchange}}": "NASDAQ",
    "{{close}}": "187.25",
    "{{timenow}}": "2026-01-02T15:30:00Z",
    "{{interval}}": "1D",
    "{{strategy.order.action}}": "sell",
    "{{strategy.order.contracts}}": "12",
}
# what the Pine built-ins in qrFill() evaluate to on the same sample bar
PINE_VALUES = {
    "syminfo.ticker": "AAPL",
    "syminfo.prefix": "NASDAQ",
    "str.tostring(close)": "187.25",
    'str.format_time(timenow, "yyyy-MM-dd\'T\'HH:mm:ssZ", "UTC")': "2026-01-02T15:30:00+0000",
    "timeframe.period": "1D",
}
ACTIONS = {
    "long_entry": "buy",
    "long_exit": "flat",
    "short_entry": "sell",
    "short_exit": "flat",
    "stop_loss": "flat",
    "take_profit": "flat",
    "large_move": "notify",
}


def _substitute(msg: str, values: dict[str, str]) -> str:
    for k, v in values.items():
        msg = msg.replace(k, v)
    assert "{{" not in msg, msg
    return msg


def _bars(symbol: str, end: str, source: str | None = None) -> pd.DataFrame:
    bars = read_bars(source or sample_path(), symbols=[symbol], on_bad="repair")
    return bars[bars["ts"] < pd.Timestamp(end, tz="UTC")].reset_index(drop=True)


def _manifest(exported) -> dict:
    return json.loads((Path(exported.out) / "manifest.json").read_text())


def test_every_generated_pine_file_parses(exported):
    with pytest.raises(Exception, match=r"(?i)syntax|mismatched|extraneous|input"):
        parse("//@version=6\nindicator('x')\nx = (close +\n")  # the parser does reject broken scripts
    files = sorted((Path(exported.out) / "pine").glob("*.pine"))
    assert len(files) == 2 * len(COMBOS)
    for f in files:
        src = f.read_text()
        tree = parse(src)  # pynescript 0.3.0 (ast.parse, cached for the later tests)
        assert src.startswith("//@version=6\n")
        decl = tree.body[0].value.func.id
        if f.name.endswith("_indicator.pine"):
            assert decl == "indicator" and "strategy." not in src
        else:
            assert (
                (decl == "strategy" and "strategy.entry(" in src)
                or "strategy.entry" in src
                or "buy_and_hold" in f.name
            )


def _signal_conditions(sig: np.ndarray) -> dict[str, np.ndarray]:
    prev = np.concatenate([[0], sig[:-1]])
    return {
        "qrEnterLong": (sig == 1) & (prev != 1),
        "qrExitLong": (sig != 1) & (prev == 1),
        "qrEnterShort": (sig == -1) & (prev != -1),
        "qrExitShort": (sig != -1) & (prev == -1),
    }


def _threshold_alerts(sig: np.ndarray, close: np.ndarray, stop: float, take: float) -> tuple[np.ndarray, ...]:
    """Stop/target alerts from quantray's signal: levels from the close of the bar the position was entered."""
    n = len(sig)
    stop_hit = np.zeros(n, bool)
    take_hit = np.zeros(n, bool)
    entry = np.nan
    for t in range(n):
        prev = sig[t - 1] if t else 0
        if sig[t] != 0 and sig[t] != prev:
            entry = close[t]
        elif sig[t] == 0:
            entry = np.nan
        if sig[t] == 1:
            stop_hit[t] = close[t] <= entry * (1 - stop)
            take_hit[t] = close[t] >= entry * (1 + take)
        elif sig[t] == -1:
            stop_hit[t] = close[t] >= entry * (1 + stop)
            take_hit[t] = close[t] <= entry * (1 - take)
    first = lambda h: h & ~np.concatenate([[False], h[:-1]])  # noqa: E731
    return first(stop_hit), first(take_hit)


def _check_agreement(exported, symbol_export, bars: pd.DataFrame) -> None:
    s = symbol_export
    src = (Path(exported.out) / s.indicator_file).read_text()
    arrays = {k: bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")}
    ev = PineEvaluator(arrays).run(src)
    spec = get_strategy(s.strategy)
    sig = spec.signal(*(arrays[k] for k in ("open", "high", "low", "close", "volume")), s.params).astype(int)

    target = ev.env["qrTarget"]
    mismatch = np.flatnonzero(target != sig)
    assert mismatch.size == 0, f"{s.symbol} {s.strategy}: target differs at bars {mismatch[:5]}"
    expected = _signal_conditions(sig)
    th = _manifest(exported)["symbols"][s.rank - 1]["thresholds"]
    stop_alert, take_alert = _threshold_alerts(
        sig, arrays["close"], th["stop_loss_pct"], th["take_profit_pct"]
    )
    expected["qrStopAlert"] = stop_alert
    expected["qrTakeAlert"] = take_alert
    move = np.abs(arrays["close"][1:] / arrays["close"][:-1] - 1)
    expected["qrLargeMove"] = np.concatenate([[False], move >= th["large_move_pct"]])
    seen = set()
    for var, _title, _msg in ev.alertconditions:
        got = np.asarray(ev.env[var], dtype=bool)
        bad = np.flatnonzero(got != expected[var])
        assert bad.size == 0, f"{s.symbol} {s.strategy} {var}: differs at bars {bad[:5]}"
        seen.add(var)
    assert {"qrEnterLong", "qrExitLong", "qrStopAlert", "qrTakeAlert", "qrLargeMove"} <= seen
    assert expected["qrEnterLong"].sum() >= 1  # the conditions are exercised on these bars
    if s.strategy not in ("buy_and_hold",):
        assert expected["qrExitLong"].sum() >= 1
    if s.params.get("allow_short"):
        assert {"qrEnterShort", "qrExitShort"} <= seen and expected["qrEnterShort"].sum() >= 1
    # large moves: by construction about 1 % of bars
    assert 0.002 < expected["qrLargeMove"].mean() < 0.03


@pytest.mark.parametrize("rank", range(1, len(COMBOS) + 1))
def test_exported_conditions_agree_with_quantray_signals(exported, sample_report, rank):
    s = exported.symbols[rank - 1]
    _check_agreement(exported, s, _bars(s.symbol, sample_report.end))


def test_input_defaults_are_the_report_parameters(exported, sample_report):
    for s in exported.symbols:
        spec = get_strategy(s.strategy)
        rendered = render_pine(spec, sample_report.row(s.symbol).params)
        inputs = [ln for ln in rendered.splitlines() if " = input." in ln]
        for name in (Path(exported.out) / s.indicator_file, Path(exported.out) / s.strategy_file):
            text = name.read_text()
            for ln in inputs:
                assert ln in text, (name, ln)
        # and the numbers in them are the report's
        tree = parse((Path(exported.out) / s.strategy_file).read_text())
        defaults = [
            n.value.args[0].value.value
            for n in tree.body
            if isinstance(n, ast.Assign)
            and isinstance(n.value, ast.Call)
            and isinstance(n.value.func, ast.Attribute)
            and getattr(n.value.func.value, "id", "") == "input"
            and not str(n.target.id).startswith("qr")
        ]
        expected = [
            bool(v) if k == "allow_short" else v for k, v in sample_report.row(s.symbol).params.items()
        ]
        assert defaults == expected


def test_alert_messages_are_accepted_by_the_payload_parser(exported, secret, sample_report):
    alerts = json.loads((Path(exported.out) / "alerts.json").read_text())["alerts"]
    assert {"symbol", "condition", "message", "frequency", "thresholds"} <= set(alerts[0])
    for a in alerts:
        body = _substitute(a["message"], SAMPLE)
        alert = parse_tradingview_alert(body)
        assert alert.secret_matches(secret)
        assert alert.strategy == a["strategy"] and alert.ticker == "AAPL" and alert.price == 187.25
        assert alert.condition == a["condition"]
        if a["condition"] == "order_fill":
            assert alert.action == "sell" and alert.contracts == 12.0
            assert (
                "{{strategy.order.action}}" in a["message"] and "{{strategy.order.contracts}}" in a["message"]
            )
        else:
            assert alert.action == ACTIONS[a["condition"]]
        assert a["frequency"] == "once_per_bar_close"
        assert a["symbol"].endswith(":" + a["ticker"])
    for s in exported.symbols:
        for path in (s.indicator_file, s.strategy_file):
            tree = parse((Path(exported.out) / path).read_text())
            ev = PineEvaluator({"close": np.zeros(1)})
            ev.functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
            calls = [n.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
            conds = [c for c in calls if getattr(c.func, "id", "") == "alertcondition"]
            assert bool(conds) == path.endswith("_indicator.pine"), path
            for call in conds:  # alertcondition(): TradingView substitutes the placeholders
                msg = call.args[2].value.value
                assert {"{{ticker}}", "{{close}}", "{{timenow}}"} <= {p for p in SAMPLE if p in msg}
                assert parse_tradingview_alert(_substitute(msg, SAMPLE)).secret_matches(secret)
            ifs = [
                n.value
                for n in tree.body
                if isinstance(n, ast.Expr)
                and isinstance(n.value, ast.If)
                and PineEvaluator._is_alert_if(n.value)
            ]
            assert ifs, path
            for node in ifs:  # alert(): qrFill() substitutes them in Pine
                call = node.body[0].value
                assert call.args[1].value.attr == "freq_once_per_bar_close"
                template = call.args[0].value.args[0].value.value
                a = parse_tradingview_alert(ev.fill_message(template, PINE_VALUES))
                assert a.ticker == "AAPL" and a.exchange == "NASDAQ" and a.price == 187.25
                assert a.time == "2026-01-02T15:30:00+0000" and a.secret_matches(secret)


def test_watchlist_alerts_and_manifest(exported, sample_report):
    out = Path(exported.out)
    top = sample_report.get_top_performers(10)
    assert (out / "watchlist.txt").read_text().splitlines() == [f"{r.exchange}:{r.symbol}" for r in top]
    man = _manifest(exported)
    assert man["kind"] == "quantray.tradingview_export" and man["report"]["label"] == "2017Q4"
    assert [s["symbol"] for s in man["symbols"]] == [r.symbol for r in top]
    assert "test-secret" not in json.dumps(man)  # the manifest never holds the secret
    for name, digest in man["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert on_disk == sorted(exported.files)


def test_thresholds_follow_the_documented_derivation(exported, sample_report):
    import quantray

    for s in exported.symbols:
        bars = _bars(s.symbol, sample_report.end)
        det = quantray.backtest(bars, s.strategy, params=s.params, **EXECUTION).detail(s.symbol, s.params)
        closed = det.trades.dropna(subset=["exit_time"])
        r = closed["direction"] * (closed["exit_price"] / closed["entry_price"] - 1)
        c = bars["close"].to_numpy()
        bar_ret = c[1:] / c[:-1] - 1
        th = s.thresholds
        assert th.large_move_pct == pytest.approx(np.percentile(np.abs(bar_ret), 99), rel=1e-5)
        assert th.n_closed_trades == len(closed)
        if len(r) >= 5 and np.percentile(r, 10) < 0 < np.percentile(r, 90):
            assert th.source == "trades"
            assert th.stop_loss_pct == pytest.approx(-np.percentile(r, 10), rel=1e-5)
            assert th.take_profit_pct == pytest.approx(np.percentile(r, 90), rel=1e-5)
        else:
            idx = pd.DatetimeIndex(det.equity.index)
            hold = idx.get_indexer(closed["exit_time"]) - idx.get_indexer(closed["entry_time"])
            h = min(max(1.0, float(np.median(hold))), 21.0) if len(hold) else 1.0  # clipped to [1, 21] bars
            sd = np.std(bar_ret, ddof=1)
            assert th.source == "volatility"
            assert th.stop_loss_pct == pytest.approx(2 * sd * np.sqrt(h), rel=1e-5)
            assert th.take_profit_pct == pytest.approx(3 * sd * np.sqrt(h), rel=1e-5)
    assert {s.thresholds.source for s in exported.symbols} == {"trades", "volatility"}


# ------------------------------------------------------------------------------------------------ bad input
def _listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_bad_inputs_are_clear_errors_and_write_nothing(tmp_path, sample_report, stored_report):
    out = tmp_path / "tv"
    with pytest.raises(DataError, match="does not exist"):
        export_tradingview(tmp_path / "missing", out=out)
    not_report = tmp_path / "not_report.json"
    not_report.write_text(json.dumps({"hello": 1}))
    with pytest.raises(DataError, match="is not a quantray quarterly report"):
        export_tradingview(not_report, out=out)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(DataError, match="is not a quantray quarterly report"):
        export_tradingview(empty_dir, out=out)
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ParameterError, match="top"):
            export_tradingview(stored_report, top=bad, out=out)
    with pytest.raises(ConfigError, match="secret"):
        export_tradingview(sample_report, out=out, secret="short")
    with pytest.raises(ParameterError, match="unknown metric"):
        export_tradingview(sample_report, out=out, metric="nope")
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty", "not_report.json"]


def test_strategy_without_pine_template(tmp_path):
    from numba import njit

    from quantray.strategies import REGISTRY, strategy

    @strategy("close_above_open_tv", params={}, replace=True)
    @njit
    def close_above_open_tv(o, h, l, c, v):
        return (c > o).astype(np.int8)

    try:
        report = build_report([("AAPL", "close_above_open_tv", {}, "NASDAQ"), COMBOS[0]])
        out = tmp_path / "tv"
        with pytest.raises(StrategyError, match=r"'close_above_open_tv'.*no Pine Script template"):
            export_tradingview(report, out=out)
        assert list(tmp_path.iterdir()) == []
    finally:
        REGISTRY.unregister("close_above_open_tv")


def test_replaces_a_previous_export_atomically(tmp_path, stored_report, secret):
    out = tmp_path / "tv"
    first = export_tradingview(stored_report, top=3, out=out, secret=secret)
    before = {p: (out / p).read_bytes() for p in first.files}
    # a later export that fails midway (a symbol missing from the bars) leaves the previous one intact
    broken = build_report(COMBOS[:1])
    from dataclasses import replace

    from quantray.reports import ReportRow

    ghost = ReportRow(symbol="ZZZZ", strategy="sma_cross", params={}, timeframe="1d", metrics={"sharpe": 9.0})
    broken = replace(broken, rows=(*broken.rows, ghost))
    with pytest.raises(DataError, match="ZZZZ"):
        export_tradingview(broken, top=2, out=out, secret=secret)
    assert {p: (out / p).read_bytes() for p in first.files} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tv"]  # no temporary directory left behind
    # a successful re-export replaces it completely (no stale files of the old top 3)
    second = export_tradingview(stored_report, top=1, out=out, secret=secret)
    assert _listing(out) == sorted({*second.files, "pine"})
    # a directory that is not an export is never replaced
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a previous TradingView export"):
        export_tradingview(stored_report, top=1, out=other, secret=secret)
    assert _listing(other) == ["notes.txt"]


def test_missing_parent_folders_are_created(tmp_path, stored_report, secret):
    out = tmp_path / "tv" / "2017" / "Q4"
    res = export_tradingview(stored_report, top=2, out=out, secret=secret)
    assert res.out == str(out) and _listing(out) == sorted({*res.files, "pine"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tv"]  # no temporary directory left beside it
    # an ancestor that is a file is refused before anything is written
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match=r"afile' exists and is not a directory"):
        export_tradingview(stored_report, top=1, out=tmp_path / "afile" / "tv", secret=secret)
    # a directory that is not an export is still refused, wherever it is
    mine = tmp_path / "deep" / "mine"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a previous TradingView export"):
        export_tradingview(stored_report, top=1, out=mine, secret=secret)
    assert _listing(mine) == ["notes.txt"]


def test_a_failed_write_removes_the_parent_folders_it_created(tmp_path, stored_report, secret, monkeypatch):
    import quantray.reports.tradingview._export as export_mod

    def refuse(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(export_mod.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        export_tradingview(stored_report, top=1, out=tmp_path / "new" / "deeper" / "tv", secret=secret)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_readme_flow_on_a_fresh_checkout(tmp_path, capsys, monkeypatch):
    """The README's two commands, relative paths, in a folder with neither results/ nor tv/."""
    from quantray.cli._main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANTRAY_TRADINGVIEW_SECRET", "readme-secret-123")
    quarterly = ["report", "quarterly", "--portfolio", "sample", "--quarter", "2017Q4", "--format", "md"]
    assert main([*quarterly, "--out", "results"]) == 0
    argv = ["tradingview", "export", "--report", "results/reports/sample/2017/Q4", "--top", "10"]
    capsys.readouterr()
    assert main([*argv, "--out", "tv/2017Q4"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.startswith("TradingView export of sample 2017Q4: top 10 by sharpe -> ")
    export = tmp_path / "tv" / "2017Q4"
    assert len((export / "watchlist.txt").read_text().splitlines()) == 10
    assert sorted(p.name for p in (tmp_path / "tv").iterdir()) == ["2017Q4"]


def test_cli_export(tmp_path, stored_report, capsys, monkeypatch):
    from quantray.cli._main import main

    monkeypatch.delenv("QUANTRAY_TRADINGVIEW_SECRET", raising=False)
    out = tmp_path / "tv"
    assert (
        main(
            [
                "tradingview",
                "export",
                "--report",
                str(stored_report),
                "--top",
                "3",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["symbols"]) == 3 and payload["secret_generated"] is True
    alerts = json.loads((out / "alerts.json").read_text())["alerts"]
    assert parse_tradingview_alert(_substitute(alerts[0]["message"], SAMPLE)).secret_matches(
        payload["secret"]
    )

    monkeypatch.setenv("QUANTRAY_TRADINGVIEW_SECRET", "from-the-env-123")
    assert (
        main(
            [
                "tradingview",
                "export",
                "--report",
                str(stored_report / "report.json"),
                "--top",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "top 2 by sharpe" in text and "secret (generated" not in text
    alerts = json.loads((out / "alerts.json").read_text())["alerts"]
    assert parse_tradingview_alert(_substitute(alerts[0]["message"], SAMPLE)).secret_matches(
        "from-the-env-123"
    )

    assert (
        main(
            [
                "tradingview",
                "export",
                "--report",
                str(stored_report),
                "--top",
                "0",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("quantray: error: top: must be an integer >= 1")
    assert (
        main(["tradingview", "export", "--report", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------------ crypto
def test_crypto_export_agrees_on_hourly_bars(tmp_path, crypto_path, secret):
    combos = [
        ("BTCUSDT", "ema_cross", {"fast": 24, "slow": 168}, None),
        ("ETHUSDT", "rsi_reversion", {"window": 24, "lower": 25.0, "upper": 75.0}, None),
    ]
    report = build_report(combos, data=str(crypto_path), year=2024, quarter=4)
    res = export_tradingview(report, top=2, out=tmp_path / "tv", secret=secret)
    assert (tmp_path / "tv" / "watchlist.txt").read_text().splitlines() == [
        f"BINANCE:{r.symbol}" for r in report.get_top_performers(2)
    ]
    for s in res.symbols:
        parse((Path(res.out) / s.indicator_file).read_text())
        parse((Path(res.out) / s.strategy_file).read_text())
        # the last 4,000 hourly bars (~5.5 months): quantray's signal and the Pine script start on the same bar
        bars = _bars(s.symbol, report.end, str(crypto_path)).iloc[-4000:].reset_index(drop=True)
        _check_agreement(res, s, bars)
