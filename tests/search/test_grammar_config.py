"""GrammarConfig refuses, with a ConfigError naming the field, what used to crash (a scalar ``windows``/``levels``:
a TypeError from ``tuple(5)``) or run silently on nothing useful (an empty ``windows``/``levels`` dropping the
blocks that need them; a written grammar whose every rule compares a series with itself, a constant signal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from quantray.errors import ConfigError
from quantray.search import DiscoverConfig, GrammarConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
BARE: dict[str, Any] = {"series": ["close"], "indicators": [], "arithmetic": [], "logic": []}


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"windows": 5}, r"grammar `windows` must be a list of integers >= 1, got 5$"),
        ({"windows": "5"}, r"grammar `windows` must be a list of integers >= 1, got '5'"),
        ({"levels": 50}, r"grammar `levels` must be a list of numbers in \[0, 100\], got 50$"),
        ({"levels": 50.0}, r"grammar `levels` must be a list of numbers in \[0, 100\], got 50.0"),
    ],
)
def test_a_scalar_windows_or_levels_is_a_config_error(kw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        GrammarConfig(**kw)
    with pytest.raises(ConfigError, match=fragment):
        GrammarConfig.from_dict(kw)


def test_empty_windows_or_levels_with_blocks_that_need_them_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"grammar `windows` is empty but indicators \['sma', 'rsi'\] need a lookback; give windows or drop "
        r"the indicators",
    ):
        GrammarConfig(indicators=("sma", "rsi"), windows=())
    with pytest.raises(ConfigError, match=r"grammar `windows` is empty but indicators \['sma', 'ema', "):
        GrammarConfig.from_dict({"windows": []})  # the default indicators
    with pytest.raises(
        ConfigError,
        match=r"grammar `levels` is empty but comparisons \['above', 'below'\] need a threshold; give levels or "
        r"drop above/below",
    ):
        GrammarConfig(levels=())
    with pytest.raises(ConfigError, match=r"grammar `levels` is empty but comparisons \['above'\]"):
        GrammarConfig.from_dict({"comparisons": ["gt", "above"], "levels": []})
    # empty is fine where nothing needs it
    assert GrammarConfig(indicators=(), windows=()).windows == ()
    assert GrammarConfig(comparisons=("gt", "lt"), levels=()).levels == ()


@pytest.mark.parametrize(
    ("grammar", "leaves"),
    [
        ({**BARE, "comparisons": ["cross_above"]}, "cross_above(close,close)"),
        ({**BARE, "comparisons": ["gt"]}, "gt(close,close)"),
        (
            {**BARE, "comparisons": ["gt", "lt"], "logic": ["and", "or", "not"]},
            "gt(close,close), lt(close,close)",
        ),
        # rsi without above/below cannot be compared, and above/below without rsi cannot be built
        ({**BARE, "indicators": ["rsi"], "comparisons": ["cross_below"]}, "cross_below(close,close)"),
        ({**BARE, "comparisons": ["lt", "above", "below"]}, "lt(close,close)"),
    ],
)
def test_a_grammar_of_only_constant_rules_is_refused(grammar: dict[str, Any], leaves: str) -> None:
    want = (
        f"grammar: every rule it can build compares a series with itself ({leaves}), a constant signal; add "
        "series, indicators or arithmetic"
    )
    with pytest.raises(ConfigError) as err:
        GrammarConfig.from_dict(grammar)
    assert str(err.value).startswith(want)
    with pytest.raises(ConfigError, match=r"compares a series with itself"):
        DiscoverConfig.from_dict({"grammar": grammar})


@pytest.mark.parametrize(
    "grammar",
    [
        {},  # the default
        {**BARE, "indicators": ["sma"], "comparisons": ["gt"], "windows": [5, 20]},  # sma(close,5) vs close
        {**BARE, "indicators": ["lag"], "comparisons": ["cross_above"], "windows": [1]},
        {**BARE, "series": ["close", "open"], "comparisons": ["gt"]},  # two series
        {**BARE, "arithmetic": ["sub"], "comparisons": ["gt"]},  # sub(close,close) vs close
        {**BARE, "indicators": ["rsi"], "comparisons": ["above"], "windows": [14], "levels": [70]},
        {**BARE, "indicators": ["rsi"], "comparisons": ["gt", "below"], "windows": [14], "levels": [30]},
    ],
)
def test_grammars_that_can_build_a_varying_rule_still_construct(grammar: dict[str, Any]) -> None:
    cfg = GrammarConfig.from_dict(grammar)
    assert cfg.constant_rules() is None
    assert GrammarConfig(**{k: tuple(v) for k, v in grammar.items()}) == cfg


def test_the_job_refuses_a_scalar_windows_with_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "d.yaml"
    cfg.write_text("data: sample\ndiscover:\n  grammar: {windows: 5}\nregistry: none\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.discover", "--config", str(cfg)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"job error: {cfg}: discover: grammar `windows` must be a list of integers >= 1, got 5"
    ]
