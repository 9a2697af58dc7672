"""One Ray version, one KubeRay version, one image tag across pyproject, the Dockerfile, cluster/, infra/k8s
and terraform; and the Dockerfile's own rules (pinned base, non-root, the serve and cloud extras)."""

from __future__ import annotations

import re

import ray
import yaml
from deploy_support import (
    CLUSTER_DIR,
    INFRA_DIR,
    K8S_DIR,
    KUBERAY_VERSION,
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


def test_dockerfile_runs_as_non_root_and_installs_the_extras() -> None:
    users = [rest for instruction, rest in dockerfile_instructions() if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the final USER must not be root"
    assert '".[serve,cloud]"' in DOCKERFILE
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
