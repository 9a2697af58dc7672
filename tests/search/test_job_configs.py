"""The tune and discover jobs refuse a wrongly typed YAML value with one ConfigError naming it (before any Ray
work), take ``symbols`` as one name or a list, and print valid JSON (NaN as null)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jobs import discover as discover_job
from jobs import tune as tune_job
from jobs._common import symbols_of, to_json
from quantray.errors import ConfigError

TUNE = "data: sample\ntune:\n  strategy: sma_cross\n  space: {fast: '5:20:5', slow: '50:100:50'}\n"


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("  seed: abc\n", "`seed` must be an integer"),
        ("  seed: 1.5\n", "`seed` must be an integer"),
        ("  execution: 0.1\n", "`execution` must be a mapping"),
        ("  name: 123\n", "`name` must be a non-empty string"),
        ("  fixed: [1]\n", "`fixed` must be a mapping"),
        ("  metric: [sharpe]\n", "`metric` must be a metric name"),
        ("  min_trades: abc\n", "`min_trades` must be a number"),
        ("symbols: {a: 1}\n", "`symbols` must be a symbol or a list"),
        ("register: 5\n", "`register` must be a string"),
        ("registry: [x]\n", "`registry` must be a string"),
        ("  holdout: 0\nregister: tuned\n", "register 'tuned' needs a holdout"),
        (
            "  objectives: 'sharpe:max,max_drawdown:min'\nregister: tuned\n",
            "multi-objective search has a Pareto",
        ),
    ],
)
def test_tune_job_refuses_wrong_types(extra: str, fragment: str, tmp_path: Path) -> None:
    cfg = tmp_path / "t.yaml"
    cfg.write_text(TUNE + extra, encoding="utf-8")
    with pytest.raises(ConfigError, match=fragment):
        tune_job.main(["--config", str(cfg)])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("data: sample\ntune: sma_cross\n", "`tune` must be a mapping"),
        ("data: sample\ndiscover: [1]\n", "`discover` must be a mapping"),
        ("data: sample\ndiscover: {gates: 0.5}\n", "`gates` must be a mapping"),
        ("data: sample\ndiscover: {execution: 0.5}\n", "`execution` must be a mapping"),
        ("data: sample\nregistry: 5\ndiscover: {backend: local}\n", "`registry` must be a URL"),
    ],
)
def test_job_sections_must_be_mappings(body: str, fragment: str, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(body, encoding="utf-8")
    job = tune_job if "tune:" in body else discover_job
    with pytest.raises(ConfigError, match=fragment):
        job.main(["--config", str(cfg)])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (TUNE + "  num_sample: 3\n", "t.yaml: tune: unknown tune key(s) ['num_sample']"),
        (TUNE + "  execution: {fee: 0.1}\n", "t.yaml: tune: unknown execution key(s) ['fee']"),
        (TUNE + "ray: {cpus: 2}\n", "t.yaml: ray: unknown key(s) ['cpus']"),
        ("data: sample\ndiscover: {gates: {min_dsr: 2}}\n", "t.yaml: discover: gate `min_dsr` must be"),
        ("data: sample\ndiscover: {population: 1}\n", "t.yaml: discover: "),
    ],
)
def test_errors_inside_a_section_name_the_file(body: str, fragment: str, tmp_path: Path) -> None:
    """A job's error inside a section names the YAML file and the section (it named only the key before)."""
    cfg = tmp_path / "t.yaml"
    cfg.write_text(body, encoding="utf-8")
    job = tune_job if "tune:" in body else discover_job
    with pytest.raises(ConfigError) as err:
        job.main(["--config", str(cfg)])
    assert str(err.value).startswith(f"{cfg}: ") and fragment in str(err.value)


def test_symbols_and_json_output() -> None:
    assert symbols_of({"symbols": "AAPL"}, "f") == ["AAPL"]  # one name, not its letters
    assert symbols_of({"symbols": ["AAPL", "MSFT"]}, "f") == ["AAPL", "MSFT"]
    assert symbols_of({}, "f") is None
    doc = json.loads(to_json({"holdout": {"sharpe": math.nan, "dsr": math.inf, "bars": 9}}))
    assert doc == {"holdout": {"sharpe": None, "dsr": None, "bars": 9}}


def test_an_unreachable_s3_store_is_one_error(ray_local, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from quantray.data import sample_path
    from quantray.search import SearchConfig, tune

    cfg = SearchConfig(
        strategy="sma_cross", space={"fast": (5, 10, 5), "slow": (50, 50, 50)}, searcher="grid", scheduler="none",
        storage_path="s3://bucket/tune", storage_options={"endpoint_url": "http://127.0.0.1:9", "key": "a",
                                                          "secret": "b"},
    )  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"tune storage s3://bucket/tune/tune-sma_cross: cannot be read.*Could not connect"
    ):
        tune(sample_path(), cfg, symbols=["MSFT"])
