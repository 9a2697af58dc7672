"""One Ray version, one KubeRay version, one image tag across pyproject, the Dockerfile, cluster/, infra/k8s
and terraform; and the Dockerfile's own rules (pinned base, non-root, every extra the shipped jobs need, each
imported at build time)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from deploy_support import (
    CLUSTER_DIR,
    INFRA_DIR,
    K8S_DIR,
    KUBERAY_VERSION,
    REPO_ROOT,
    TERRAFORM_DIR,
    blocks,
    pyproject,
)
from packaging.requirements import Requirement

DOCKERFILE = (INFRA_DIR / "Dockerfile").read_text()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerfile_arg(name: str) -> str:
    for instruction, rest in dockerfile_instructions():
        if instruction == "ARG" and rest.startswith(f"{name}="):
            return rest.split("=", 1)[1]
    raise AssertionError(f"infra/Dockerfile has no ARG {name}=<default>")


def test_installed_ray_satisfies_pyproject() -> None:
    requirement = next(Requirement(r) for r in pyproject()["project"]["dependencies"] if r.startswith("ray"))
    assert requirement.specifier.contains(ray.__version__), (str(requirement), ray.__version__)


def test_dockerfile_base_image_is_pinned_to_the_tested_ray() -> None:
    (base,) = [rest for instruction, rest in dockerfile_instructions() if instruction == "FROM"]
    assert base == "rayproject/ray:${RAY_IMAGE_TAG}"
    tag = dockerfile_arg("RAY_IMAGE_TAG")
    assert re.fullmatch(r"\d+\.\d+\.\d+-py3\d+", tag), f"base tag {tag!r} must pin an exact Ray release"
    assert tag == f"{ray.__version__}-py311", "the image must run the Ray the tests run, on Python 3.11"
    assert dockerfile_arg("RAY_VERSION") == ray.__version__
    assert "ray==${RAY_VERSION}" in DOCKERFILE, "pip must not move Ray off the base image's version"


def test_dockerfile_runs_as_non_root_and_copies_the_code() -> None:
    users = [rest for instruction, rest in dockerfile_instructions() if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the final USER must not be root"
    for path in ("jobs", "serve", "quantray"):
        assert any(i == "COPY" and f" {path} " in f" {rest} " for i, rest in dockerfile_instructions()), path
    assert not any(i == "ADD" for i, _ in dockerfile_instructions()), "use COPY (ADD fetches URLs, unpacks)"


def test_image_tags_agree_everywhere() -> None:
    tag = f"{pyproject()['project']['version']}-ray{ray.__version__}"
    kustomization = yaml.safe_load((K8S_DIR / "base" / "kustomization.yaml").read_text())
    assert {(i["name"], i["newName"], i["newTag"]) for i in kustomization["images"]} == {
        ("quantray", "ghcr.io/quantray/quantray", tag),
        ("quantray-gpu", "ghcr.io/quantray/quantray", f"{tag}-gpu"),
    }
    referenced = set(re.findall(r"ghcr\.io/quantray/quantray:([\w.-]+)", DOCKERFILE))
    for path in CLUSTER_DIR.glob("*.yaml"):
        referenced |= set(re.findall(r"ghcr\.io/quantray/quantray:([\w.-]+)", path.read_text()))
    assert referenced <= {tag, f"{tag}-gpu"}, referenced


def test_ray_version_of_every_ray_cluster_spec() -> None:
    for path in (K8S_DIR / "base").glob("ray*.yaml"):
        for match in re.findall(r'rayVersion:\s*"?([\d.]+)"?', path.read_text()):
            assert match == ray.__version__, path.name


def test_kuberay_chart_matches_the_crds() -> None:
    (chart,) = [
        body
        for name, body, _ in blocks(TERRAFORM_DIR / "modules" / "k8s" / "kuberay_operator", "variable")
        if name == "chart_version"
    ]
    assert chart["default"] == KUBERAY_VERSION


# ---------------------------------------------------------------------------------------------------------
# Extras: what the shipped job configs and the Serve app need is installed, and imported at build time
# ---------------------------------------------------------------------------------------------------------

# Import names where they differ from the distribution name (ray[serve] is checked as ray.serve).
IMPORT_NAMES = {"strawberry-graphql": "strawberry", "psycopg": "psycopg"}
# Always in the image: the RayService imports serve/ (serve), results go to s3/gs/abfs URLs (cloud).
ALWAYS = {"serve", "cloud"}


def extras_a_config_needs(config: dict[str, Any]) -> set[str]:
    """The pyproject extras a job config needs: report formats need ``reports`` (plotly, matplotlib,
    reportlab, openpyxl, jinja2), exchange feeds need ``live``, a PostgreSQL registry needs ``registry``."""
    needed = set()
    if config.get("formats"):
        needed.add("reports")
    if config.get("feeds"):
        needed.add("live")
    registry = config.get("registry")
    if isinstance(registry, str) and registry.startswith(("postgres://", "postgresql://")):
        needed.add("registry")
    return needed


def dockerfile_extras() -> set[str]:
    (match,) = re.findall(r'pip install [^\n]*"\.\[([a-z,]+)\]"', DOCKERFILE)
    return set(match.split(","))


def dockerfile_build_imports() -> set[str]:
    found = set()
    for statement in re.findall(r'python -c "import ([^";]+)"', DOCKERFILE):
        found |= {name.strip() for name in statement.split(",")}
    return found


def import_names(requirement: str) -> set[str]:
    req = Requirement(requirement)
    if req.name == "ray":
        return {f"ray.{extra}" for extra in req.extras if extra == "serve"}
    return {IMPORT_NAMES.get(req.name, req.name.replace("-", "_"))}


def test_dockerfile_installs_every_extra_the_shipped_jobs_need() -> None:
    """jobs/configs/quarterly.yaml renders html/pdf/xlsx/md (the ``reports`` extra): an image without it fails
    the quarterly RayCronJob at render time; live configs need ``live``."""
    extras = pyproject()["project"]["optional-dependencies"]
    needed = set(ALWAYS)
    for path in sorted((REPO_ROOT / "jobs" / "configs").glob("*.yaml")):
        needed |= extras_a_config_needs(yaml.safe_load(path.read_text()) or {})
    assert "reports" in needed, "jobs/configs/quarterly.yaml renders reports"
    installed = dockerfile_extras()
    assert installed <= set(extras), f"the Dockerfile names extras pyproject lacks: {installed - set(extras)}"
    assert needed <= installed, f"infra/Dockerfile must install the extras {sorted(needed - installed)}"


def test_dockerfile_imports_every_installed_extra_at_build_time() -> None:
    """A missing wheel or import-time failure breaks the build, not the first quarterly report."""
    extras = pyproject()["project"]["optional-dependencies"]
    expected = set()
    for extra in dockerfile_extras():
        for requirement in extras[extra]:
            expected |= import_names(requirement)
    imported = dockerfile_build_imports()
    assert expected <= imported, f"add to the Dockerfile's import check: {sorted(expected - imported)}"


@pytest.mark.parametrize(
    ("config", "extras"),
    [
        ({"formats": ["html", "pdf"]}, {"reports"}),
        ({"feeds": [{"venue": "binance"}]}, {"live"}),
        ({"registry": "postgresql://db/quantray"}, {"registry"}),
        ({"registry": "none", "formats": []}, set()),
    ],
)
def test_extras_a_config_needs(config: dict[str, Any], extras: set[str]) -> None:
    assert extras_a_config_needs(config) == extras


def test_the_old_image_would_be_caught() -> None:
    """The image the reviewer found (".[serve,cloud]") lacks what quarterly.yaml needs."""
    quarterly = yaml.safe_load((REPO_ROOT / "jobs" / "configs" / "quarterly.yaml").read_text())
    assert not extras_a_config_needs(quarterly) <= {"serve", "cloud"}


def test_workdir_is_created_for_the_image_user_before_use() -> None:
    """WORKDIR creates a missing directory owned by root; create it for uid 1000 first (as root), then
    switch to the non-root user before WORKDIR."""
    steps = dockerfile_instructions()
    (workdir,) = [i for i, (name, _) in enumerate(steps) if name == "WORKDIR"]
    path = steps[workdir][1]
    made = [
        i
        for i, (name, rest) in enumerate(steps[:workdir])
        if name == "RUN" and path in rest and re.search(r"(-o 1000|chown 1000)", rest)
    ]
    assert made, f"create {path} owned by 1000:100 before WORKDIR"
    users_before = [rest for name, rest in steps[:workdir] if name == "USER"]
    assert users_before and users_before[-1].split(":")[0] not in ("root", "0")
    assert Path(path).is_absolute()
