"""Checkov over terraform/, the Dockerfile and the rendered Kubernetes manifests: zero failed checks.

Skips are allowed only inline with a reason (``#checkov:skip=CKV_...:why``; test_terraform checks every skip
carries one). Checkov runs from its own virtual environment (infra/scripts/checkov.sh creates .venv-checkov
on first use, pinned), because its pinned dependencies would fight the project's.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from deploy_support import INFRA_DIR, REPO_ROOT

CHECKOV = INFRA_DIR / "scripts" / "checkov.sh"
TARGETS = {
    "terraform": ["-d", "terraform", "--framework", "terraform"],
    "dockerfile": ["-f", "infra/Dockerfile", "--framework", "dockerfile"],
    "kubernetes": ["-d", "infra/k8s/rendered", "--framework", "kubernetes"],
}


@pytest.fixture(scope="module")
def reports() -> dict[str, list[dict[str, Any]]]:
    # The venv is created once (first use), then the three scans run side by side.
    setup = subprocess.run(
        [str(CHECKOV), "--version"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900
    )
    if setup.returncode != 0:
        pytest.fail(f"could not set up checkov:\n{setup.stderr[-3000:]}")
    running = {
        name: subprocess.Popen(
            [str(CHECKOV), *args, "-o", "json", "--quiet", "--compact"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in TARGETS.items()
    }
    out = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        if not stdout.strip():
            pytest.fail(f"checkov {name} printed nothing (exit {process.returncode}):\n{stderr[-3000:]}")
        parsed = json.loads(stdout)
        out[name] = parsed if isinstance(parsed, list) else [parsed]
    return out


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_checkov_finds_nothing(target: str, reports: dict[str, list[dict[str, Any]]]) -> None:
    failed = []
    scanned = 0
    for report in reports[target]:
        summary = report.get("summary", {})
        scanned += summary.get("passed", 0) + summary.get("failed", 0)
        assert summary.get("parsing_errors", 0) == 0, report.get("results", {}).get("parsing_errors")
        for check in report.get("results", {}).get("failed_checks", []):
            failed.append(
                f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
            )
    assert scanned > 0, f"checkov scanned nothing for {target}"
    assert failed == []
