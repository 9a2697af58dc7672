"""serve/_settings.py without a server: where reports are read from, and the TradingView strategy names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantray.errors import ConfigError
from serve._settings import Settings, SettingsSource


def test_reports_root_from_env_then_serve_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUANTRAY_REPORTS_ROOT", raising=False)
    assert SettingsSource(str(tmp_path)).get().reports_dir == str(tmp_path)  # default: QUANTRAY_HOME
    monkeypatch.setenv("QUANTRAY_REPORTS_ROOT", str(tmp_path / "results"))
    assert SettingsSource(str(tmp_path)).get().reports_dir == str(tmp_path / "results")
    (tmp_path / "serve.json").write_text(json.dumps({"reports_root": "/srv/reports"}))
    assert SettingsSource(str(tmp_path)).get().reports_dir == "/srv/reports"  # serve.json wins


def test_reports_root_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings(home="/h", reports_root="results").reports_dir_display() == str(tmp_path / "results")
    s = Settings(home="/h", reports_root="s3://key:pw@bucket/quantray")
    assert s.reports_dir_display() == "s3://bucket/quantray"


def test_tradingview_strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTRAY_TRADINGVIEW_STRATEGIES", "my_rule, other_rule")
    assert SettingsSource(str(tmp_path)).get().tradingview_strategies == ("my_rule", "other_rule")
    with pytest.raises(ConfigError, match=r"tradingview_strategies.*'not-a-name'"):
        Settings(home=str(tmp_path), tradingview_strategies=("not-a-name",))


def test_sources_name_every_data_source(tmp_path: Path) -> None:
    s = Settings(home=str(tmp_path), data_sources={"tst": "/data/tst.parquet"})
    assert set(s.sources()) == {"sample", "tst"} and s.sources()["tst"] == "/data/tst.parquet"
