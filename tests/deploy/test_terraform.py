"""terraform/: offline checks.

- ``terraform fmt -check -recursive`` and ``terraform test`` of the provider-free modules (they need no provider
  download, so ``terraform init`` works offline) when terraform is on the PATH.
- HCL structure (python-hcl2): every module and root pins Terraform and every provider it uses; variables are
  typed and described, and the ones users get wrong (regions, machine types, sizes, versions, CIDRs, names)
  are validated; outputs are described; providers are configured only in roots; roots document remote state;
  roots deploy the overlay namespace they claim.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_support import (
    K8S_DIR,
    TERRAFORM_DIR,
    VERSION_CONSTRAINT,
    blocks,
    load_hcl,
    terraform_dirs,
    typed_blocks,
)

MODULE_DIRS = terraform_dirs(TERRAFORM_DIR / "modules")
ROOT_DIRS = terraform_dirs(TERRAFORM_DIR / "envs")
ALL_DIRS = MODULE_DIRS + ROOT_DIRS
PROVIDER_FREE = [d for d in MODULE_DIRS if (d / "tests").is_dir()]
ids = [str(d.relative_to(TERRAFORM_DIR)) for d in ALL_DIRS]

# Variables whose names say users pick them, and get them wrong: each needs a validation block.
NEEDS_VALIDATION = re.compile(
    r"(region|location|zone|cidr|machine_type|max_nodes|disk|_version$|bucket_name|account_name|project_id"
    r"|subscription_id|^environment$|^cloud$|suffix|_days$|replication|^project$|namespace|sku|kinds)"
)


def terraform_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        TF_IN_AUTOMATION="1", TF_INPUT="0", TF_DATA_DIR=str(tmp_path / "tfdata"), CHECKPOINT_DISABLE="1"
    )
    if not Path(env.get("TF_CLI_CONFIG_FILE", "/nonexistent")).is_file():
        env["TF_CLI_CONFIG_FILE"] = os.devnull
    return env


@pytest.fixture(scope="module")
def terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform not on PATH")
    return path


def test_terraform_fmt(terraform: str) -> None:
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (
        f"run `terraform fmt -recursive terraform`:\n{result.stdout}{result.stderr}"
    )


@pytest.mark.parametrize(
    "module", PROVIDER_FREE, ids=[str(d.relative_to(TERRAFORM_DIR)) for d in PROVIDER_FREE]
)
def test_terraform_test_provider_free_modules(terraform: str, module: Path, tmp_path: Path) -> None:
    env = terraform_env(tmp_path)
    init = subprocess.run(
        [terraform, "init", "-backend=false", "-no-color"],
        cwd=module,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    result = subprocess.run(
        [terraform, "test", "-no-color"], cwd=module, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Success! \d+ passed, 0 failed", result.stdout), result.stdout


def test_there_are_provider_free_modules_with_tests() -> None:
    names = {d.name for d in PROVIDER_FREE}
    assert {"naming", "node_pools"} <= names
    for module in PROVIDER_FREE:
        assert list((module / "tests").glob("*.tftest.hcl")), module
        assert not list(typed_blocks(module, "resource")), f"{module} must stay provider-free"


# ---------------------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------------------


def used_providers(directory: Path) -> set[str]:
    """Provider local names used by resources and data sources (the type's prefix)."""
    used = {t.split("_", 1)[0] for kind in ("resource", "data") for t, _, _ in typed_blocks(directory, kind)}
    used.discard("terraform")  # terraform_data is built in
    return used


def required_providers(directory: Path) -> dict[str, dict[str, str]]:
    versions = directory / "versions.tf"
    assert versions.is_file(), f"{directory} has no versions.tf"
    (terraform_block,) = load_hcl(versions)["terraform"]
    assert "required_version" in terraform_block, f"{versions}: no required_version"
    assert VERSION_CONSTRAINT.match(terraform_block["required_version"]), terraform_block["required_version"]
    providers: dict[str, dict[str, str]] = {}
    for entry in terraform_block.get("required_providers", []):
        providers.update(entry)
    return providers


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ids)
def test_versions_tf_pins_every_provider(directory: Path) -> None:
    providers = required_providers(directory)
    needed = used_providers(directory)
    if directory in ROOT_DIRS:  # a root also declares what its modules use, so one lock file pins them all
        for _, module, _ in blocks(directory, "module"):
            needed |= set(required_providers((directory / module["source"]).resolve()))
    assert needed <= set(providers), f"undeclared providers: {sorted(needed - set(providers))}"
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}", (name, spec)
        assert VERSION_CONSTRAINT.match(spec["version"]), f"{name}: {spec['version']!r} is not a bounded pin"
        assert "<" in spec["version"] or "~>" in spec["version"], f"{name}: no upper bound"


def test_provider_versions_agree_across_directories() -> None:
    seen: dict[str, set[str]] = {}
    for directory in ALL_DIRS:
        for name, spec in required_providers(directory).items():
            seen.setdefault(name, set()).add(spec["version"])
    assert {name: v for name, v in seen.items() if len(v) > 1} == {}


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ids)
def test_variables_are_typed_described_and_validated(directory: Path) -> None:
    problems = []
    for name, body, path in blocks(directory, "variable"):
        where = f"{path.relative_to(TERRAFORM_DIR)}: variable {name}"
        if "type" not in body:
            problems.append(f"{where} has no type")
        if len(str(body.get("description", "")).strip()) < 10:
            problems.append(f"{where} has no real description")
        if NEEDS_VALIDATION.search(name) and not body.get("validation"):
            problems.append(f"{where} needs a validation block (users get {name} wrong)")
        for validation in body.get("validation", []):
            if len(str(validation.get("error_message", ""))) < 20:
                problems.append(f"{where}: validation needs an error_message that says what is expected")
    assert problems == []


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ids)
def test_outputs_are_described(directory: Path) -> None:
    missing = [name for name, body, _ in blocks(directory, "output") if not body.get("description")]
    assert missing == []


@pytest.mark.parametrize("module", MODULE_DIRS, ids=[str(d.relative_to(TERRAFORM_DIR)) for d in MODULE_DIRS])
def test_modules_do_not_configure_providers(module: Path) -> None:
    assert not list(blocks(module, "provider")), "configure providers in the environment roots only"


@pytest.mark.parametrize("root", ROOT_DIRS, ids=[d.name for d in ROOT_DIRS])
def test_roots_document_remote_state(root: Path) -> None:
    backend = (root / "backend.tf").read_text()
    assert re.search(r"^#\s*backend \"(s3|gcs|azurerm)\"", backend, re.MULTILINE), "commented backend block"
    assert "-backend-config=backend.hcl" in backend
    assert (root / "backend.hcl.example").is_file()
    assert (root / "terraform.tfvars.example").is_file()
    assert not load_hcl(root / "backend.tf").get("terraform"), (
        "keep the backend commented (offline init works)"
    )


@pytest.mark.parametrize("root", ROOT_DIRS, ids=[d.name for d in ROOT_DIRS])
def test_roots_deploy_the_overlay_they_name(root: Path) -> None:
    (local_block,) = [entry for entry in load_hcl(root / "main.tf")["locals"]]
    namespace = local_block["ray_namespace"]
    (workloads,) = [body for name, body, _ in blocks(root, "module") if name == "ray_workloads"]
    manifests = workloads["manifests_file"].replace("${path.module}", str(root))
    rendered = Path(os.path.normpath(manifests))
    assert rendered.is_file(), rendered
    namespaces = {doc["metadata"].get("namespace") for doc in yaml.safe_load_all(rendered.read_text())}
    assert namespaces == {namespace}, (rendered.name, namespaces)
    overlay = yaml.safe_load((K8S_DIR / "overlays" / rendered.stem / "kustomization.yaml").read_text())
    assert overlay["namespace"] == namespace


def test_node_pool_labels_match_the_ray_node_selectors() -> None:
    locals_ = load_hcl(TERRAFORM_DIR / "modules" / "common" / "node_pools" / "main.tf")["locals"][0]
    assert locals_["label_key"] == "quantray.io/pool"
    selectors = set(re.findall(r"quantray\.io/pool: (\w+)", (K8S_DIR / "rendered" / "prod.yaml").read_text()))
    pools = set(locals_["bounds"]["prod"])
    assert selectors <= pools, selectors - pools
    spot_taint = locals_["taints"]["spot"][0]
    assert f"key: {spot_taint['key']}" in (K8S_DIR / "rendered" / "prod.yaml").read_text()


def test_every_checkov_skip_is_justified() -> None:
    from deploy_support import REPO_ROOT

    pattern = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")
    skips = []
    for directory in (TERRAFORM_DIR, REPO_ROOT / "infra", REPO_ROOT / "cluster"):
        for path in directory.rglob("*"):
            if path.is_file() and ".terraform" not in path.parts:
                for match in pattern.finditer(path.read_text(errors="ignore")):
                    skips.append((path.name, match.group(1), (match.group(2) or "").strip()))
    assert skips, "expected the documented skips"
    unjustified = [s for s in skips if len(s[2]) < 30]
    assert unjustified == []


# ---------------------------------------------------------------------------------------------------------
# Variable validations, exercised offline: a directory's variables.tf alone needs no provider, so it can be
# validated and planned in a scratch module.
# ---------------------------------------------------------------------------------------------------------


def _variables_only(directory: Path, scratch: Path) -> Path:
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copy(directory / "variables.tf", scratch / "variables.tf")
    (scratch / "versions.tf").write_text('terraform {\n  required_version = ">= 1.9.0"\n}\n')
    return scratch


def _run(terraform: str, args: list[str], cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [terraform, *args], cwd=cwd, env=terraform_env(tmp_path), capture_output=True, text=True, timeout=120
    )


def test_variable_blocks_are_valid_terraform(terraform: str, tmp_path: Path) -> None:
    failures = []
    for directory in ALL_DIRS:
        if not (directory / "variables.tf").is_file():
            continue
        scratch = _variables_only(directory, tmp_path / directory.relative_to(TERRAFORM_DIR))
        init = _run(terraform, ["init", "-backend=false", "-no-color"], scratch, tmp_path / directory.name)
        result = _run(terraform, ["validate", "-no-color"], scratch, tmp_path / directory.name)
        if init.returncode or result.returncode:
            failures.append(f"{directory}: {init.stderr}{result.stdout}{result.stderr}")
    assert failures == []


ROOT_VARS = {
    "aws-dev": {"api_allowed_cidrs": '["203.0.113.7/32"]'},
    "gcp-dev": {"api_allowed_cidrs": '["203.0.113.7/32"]', "project_id": "my-quant-project"},
    "azure-dev": {
        "api_allowed_cidrs": '["203.0.113.7/32"]',
        "subscription_id": "00000000-0000-0000-0000-000000000000",
    },
}
BAD_ROOT_VALUES = [
    ("aws-dev", "region", "us-east-1a"),
    ("aws-dev", "availability_zones", '["us-west-2a", "us-west-2b"]'),
    ("aws-dev", "api_allowed_cidrs", '["0.0.0.0/0"]'),
    ("aws-dev", "machine_types", '{cpu = "Standard_F16s_v2"}'),
    ("aws-dev", "kubernetes_version", "1.33.2"),
    ("gcp-dev", "region", "us-central1-a"),
    ("gcp-dev", "project_id", "My_Project"),
    ("gcp-dev", "max_nodes", "{spot = 2.5}"),
    ("azure-dev", "location", "East US"),
    ("azure-dev", "subscription_id", "not-a-guid"),
    ("azure-dev", "machine_types", '{gpu = "g5.2xlarge"}'),
    ("aws-dev", "launcher_ssh_cidrs", '["0.0.0.0/0"]'),
    ("aws-dev", "launcher_ami_id", "ubuntu-22.04"),
    ("gcp-dev", "launcher_ssh_cidrs", '["10.0.0.0/8", "0.0.0.0/0"]'),
]


def _plan(
    terraform: str, root: str, overrides: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    scratch = _variables_only(TERRAFORM_DIR / "envs" / root, tmp_path / root)
    _run(terraform, ["init", "-backend=false", "-no-color"], scratch, tmp_path)
    values = {**ROOT_VARS[root], **overrides}
    args = [arg for key, value in values.items() for arg in ("-var", f"{key}={value}")]
    return _run(terraform, ["plan", "-no-color", "-input=false", "-lock=false", *args], scratch, tmp_path)


@pytest.mark.parametrize("root", sorted(ROOT_VARS))
def test_root_defaults_pass_their_validations(terraform: str, root: str, tmp_path: Path) -> None:
    result = _plan(terraform, root, {}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("root", "name", "value"), BAD_ROOT_VALUES, ids=[f"{r}-{n}" for r, n, _ in BAD_ROOT_VALUES]
)
def test_roots_reject_values_users_get_wrong(
    terraform: str, root: str, name: str, value: str, tmp_path: Path
) -> None:
    result = _plan(terraform, root, {name: value}, tmp_path)
    assert result.returncode != 0, f"{root}: {name}={value} was accepted"
    assert f"var.{name}" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------------------
# KubeRay operator: the RayCronJob controller must run
# ---------------------------------------------------------------------------------------------------------

KUBERAY_MODULE = TERRAFORM_DIR / "modules" / "k8s" / "kuberay_operator"
# Gates of KubeRay 1.7 (an unknown name in --feature-gates stops the operator at start-up).
KUBERAY_1_7_GATES = {
    "RayClusterStatusConditions",
    "RayJobDeletionPolicy",
    "RayMultiHostIndexing",
    "RayServiceIncrementalUpgrade",
    "RayCronJob",
    "RayClusterMTLS",
    "RayClusterNetworkPolicy",
    "RayClusterHistoryServer",
}


def _feature_gates_default() -> list[dict[str, object]]:
    (body,) = [body for name, body, _ in blocks(KUBERAY_MODULE, "variable") if name == "feature_gates"]
    return body["default"]


def test_kuberay_operator_enables_the_raycronjob_controller() -> None:
    """RayCronJob is alpha and off by default in KubeRay 1.7: without the gate the quarterly RayCronJob of
    infra/k8s is accepted and ignored. Helm replaces the chart's whole featureGates list, so the chart's
    default-on gates are repeated."""
    gates = {g["name"]: g["enabled"] for g in _feature_gates_default()}
    assert gates.get("RayCronJob") is True
    for name in ("RayClusterStatusConditions", "RayJobDeletionPolicy", "RayMultiHostIndexing"):
        assert gates.get(name) is True, name
    assert set(gates) <= KUBERAY_1_7_GATES, set(gates) - KUBERAY_1_7_GATES
    main = (KUBERAY_MODULE / "main.tf").read_text()
    assert re.search(r"featureGates\s*=\s*var\.feature_gates", main), "the chart must receive the gates"
    rendered = (K8S_DIR / "rendered" / "prod.yaml").read_text()
    assert "kind: RayCronJob" in rendered  # the reason the gate is needed


def test_docs_helm_route_sets_the_same_feature_gates() -> None:
    from deploy_support import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    match = re.search(r"-f - <<'EOF'\n(featureGates:.*?)\nEOF", docs, re.DOTALL)
    assert match, "docs/deploy.md: the helm install of the operator must set featureGates"
    assert yaml.safe_load(match.group(1))["featureGates"] == _feature_gates_default()


def test_feature_gates_without_raycronjob_are_refused(terraform: str, tmp_path: Path) -> None:
    scratch = _variables_only(KUBERAY_MODULE, tmp_path / "kuberay")
    _run(terraform, ["init", "-backend=false", "-no-color"], scratch, tmp_path)
    bad = '[{name = "RayClusterStatusConditions", enabled = true}, {name = "RayCronJob", enabled = false}]'
    result = _run(
        terraform,
        ["plan", "-no-color", "-input=false", "-lock=false", "-var", f"feature_gates={bad}"],
        scratch,
        tmp_path,
    )
    assert result.returncode != 0 and "RayCronJob" in result.stderr, result.stdout + result.stderr
    good = _run(terraform, ["plan", "-no-color", "-input=false", "-lock=false"], scratch, tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("s3://quantray-dev-data-a1b2c3", True),
        ("gs://quantray-dev-data-a1b2c3", True),
        ("abfs://data@qrdeva1b2c3.dfs.core.windows.net", True),
        ("results", False),
        ("/tmp/results", False),
        ("s3://quantray-dev-data-a1b2c3/", False),
    ],
)
def test_results_url_must_be_a_bucket_url(terraform: str, url: str, ok: bool, tmp_path: Path) -> None:
    """A local path as QUANTRAY_OUT would put results back into the head container."""
    scratch = _variables_only(TERRAFORM_DIR / "modules" / "k8s" / "ray_workloads", tmp_path / "rw")
    _run(terraform, ["init", "-backend=false", "-no-color"], scratch, tmp_path)
    args = ["-var", "manifests_file=x.yaml", "-var", "namespace=quantray-dev", "-var", f"results_url={url}"]
    args += ["-var", 'shared_storage={provisioner = "efs.csi.aws.com", parameters = {}}']
    result = _run(terraform, ["plan", "-no-color", "-input=false", "-lock=false", *args], scratch, tmp_path)
    assert (result.returncode == 0) is ok, result.stdout + result.stderr


def test_shared_storage_must_be_read_write_many(terraform: str, tmp_path: Path) -> None:
    """A block-storage class (EBS, PD, Azure Disk) cannot be mounted by several Serve pods at once."""
    scratch = _variables_only(TERRAFORM_DIR / "modules" / "k8s" / "ray_workloads", tmp_path / "rw")
    _run(terraform, ["init", "-backend=false", "-no-color"], scratch, tmp_path)
    args = ["-var", "manifests_file=x.yaml", "-var", "namespace=quantray-dev", "-var", "results_url=s3://b"]
    args += ["-var", 'shared_storage={provisioner = "ebs.csi.aws.com", parameters = {}}']
    result = _run(terraform, ["plan", "-no-color", "-input=false", "-lock=false", *args], scratch, tmp_path)
    assert result.returncode != 0 and "shared_storage" in result.stderr, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------
# AKS: Azure RBAC on and local accounts off, so the deployer needs a role before Helm can install anything
# ---------------------------------------------------------------------------------------------------------

AKS_MODULE = TERRAFORM_DIR / "modules" / "azure" / "aks"


def test_aks_makes_the_deployer_rbac_cluster_admin() -> None:
    """Without a role assignment (admin_group_object_ids defaults to []), the same apply's helm_release of the
    KubeRay operator fails with 403 against a cluster that has Azure RBAC on and local accounts off."""
    main = load_hcl(AKS_MODULE / "main.tf")
    (cluster,) = [
        r["azurerm_kubernetes_cluster"]["this"] for r in main["resource"] if "azurerm_kubernetes_cluster" in r
    ]
    (rbac,) = cluster["azure_active_directory_role_based_access_control"]
    assert rbac["azure_rbac_enabled"] is True and cluster["local_account_disabled"] is True
    assignments = [
        body
        for entry in main["resource"]
        for name, bodies in entry.get("azurerm_role_assignment", {}).items()
        for body in [bodies]
    ]
    admin = [
        a for a in assignments if a["role_definition_name"] == "Azure Kubernetes Service RBAC Cluster Admin"
    ]
    assert len(admin) == 1, "the deployer needs Azure Kubernetes Service RBAC Cluster Admin on the cluster"
    assert admin[0]["principal_id"] == "${data.azurerm_client_config.current.object_id}"
    assert admin[0]["scope"] == "${azurerm_kubernetes_cluster.this.id}"
    (grant,) = [
        body for name, body, _ in blocks(AKS_MODULE, "variable") if name == "grant_deployer_cluster_admin"
    ]
    assert grant["default"] is True
    # The roots' Helm/Kubernetes resources wait for the assignment (they depend on module.aks).
    root = TERRAFORM_DIR / "envs" / "azure-dev"
    for name, body, _ in blocks(root, "module"):
        if name in ("kuberay_operator", "gpu_device_plugin"):
            assert "${module.aks}" in body["depends_on"], name


def test_aks_refuses_a_cluster_nobody_can_administer(terraform: str, tmp_path: Path) -> None:
    scratch = _variables_only(AKS_MODULE, tmp_path / "aks")
    _run(terraform, ["init", "-backend=false", "-no-color"], scratch, tmp_path)
    pools = (
        '{system = {name = "system", machine_types = ["Standard_D4s_v5"], gpus = 0, spot = false, '
        "min_nodes = 1, max_nodes = 2, disk_gib = 100, labels = {}, taints = []}}"
    )
    base = [
        *(
            "-var",
            "cluster_name=quantray-dev-ray",
            "-var",
            "resource_group_name=rg",
            "-var",
            "location=eastus",
        ),
        *(
            "-var",
            "subnet_id=x",
            "-var",
            'authorized_cidrs=["203.0.113.7/32"]',
            "-var",
            f"node_pools={pools}",
        ),
    ]
    plan = ["plan", "-no-color", "-input=false", "-lock=false", *base]
    bad = _run(terraform, [*plan, "-var", "grant_deployer_cluster_admin=false"], scratch, tmp_path)
    assert bad.returncode != 0 and "grant_deployer_cluster_admin" in bad.stderr, bad.stdout + bad.stderr
    group = '["00000000-0000-0000-0000-000000000001"]'
    ok = _run(
        terraform,
        [*plan, "-var", "grant_deployer_cluster_admin=false", "-var", f"admin_group_object_ids={group}"],
        scratch,
        tmp_path,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    default = _run(terraform, plan, scratch, tmp_path)
    assert default.returncode == 0, default.stdout + default.stderr


# ---------------------------------------------------------------------------------------------------------
# Cluster launcher resources (cluster/*.yaml): least privilege instead of Ray's defaults
# ---------------------------------------------------------------------------------------------------------


def _resources(path: Path, kind: str) -> dict[str, dict[str, object]]:
    return {
        name: body
        for entry in load_hcl(path).get("resource", [])
        for name, body in entry.get(kind, {}).items()
    }


def test_aws_launcher_head_may_only_autoscale_its_own_cluster() -> None:
    """Ray's default head role carries AmazonEC2FullAccess and AmazonS3FullAccess; ours may launch only
    instances tagged as this Ray cluster's, terminate only those, pass only the worker role."""
    module = TERRAFORM_DIR / "modules" / "aws" / "ray_launcher"
    text = "\n".join(
        line for line in (module / "main.tf").read_text().splitlines() if not line.lstrip().startswith("#")
    )
    assert "FullAccess" not in text and '"ec2:*"' not in text and '"s3:*"' not in text
    (policy,) = [
        body
        for entry in load_hcl(module / "main.tf")["data"]
        for name, body in entry.get("aws_iam_policy_document", {}).items()
        if name == "autoscaler"
    ]
    statements = {s["sid"]: s for s in policy["statement"]}
    launch = statements["LaunchOnlyTaggedInstancesOfThisCluster"]
    assert launch["condition"][0]["variable"] == "aws:RequestTag/ray-cluster-name"
    manage = statements["ManageOnlyThisClustersInstances"]
    assert "ec2:TerminateInstances" in manage["actions"]
    assert manage["condition"][0]["variable"] == "ec2:ResourceTag/ray-cluster-name"
    assert statements["PassOnlyTheWorkerRole"]["resources"] == ["${aws_iam_role.worker.arn}"]
    rules = _resources(module / "main.tf", "aws_vpc_security_group_ingress_rule")
    assert rules["ssh"]["from_port"] == 22 and rules["ssh"]["cidr_ipv4"] == "${each.value}"
    (ssh_var,) = [body for name, body, _ in blocks(module, "variable") if name == "ssh_cidrs"]
    assert "0.0.0.0/0" in ssh_var["validation"][0]["condition"]


def test_aws_launcher_image_is_the_regions_ubuntu_22_04_dlami() -> None:
    """Ray's default is the EOL Ubuntu 18.04 DLAMI with CUDA 11.2; the image needs CUDA 12 drivers."""
    module = TERRAFORM_DIR / "modules" / "aws" / "ray_launcher"
    (param,) = [body for name, body, _ in blocks(module, "variable") if name == "ami_ssm_parameter"]
    assert param["default"].startswith("/aws/service/deeplearning/ami/x86_64/")
    assert "ubuntu-22.04" in param["default"] and "nvidia-driver" in param["default"]
    (ami,) = [body for name, body, _ in blocks(module, "variable") if name == "ami_id"]
    assert ami["default"] is None, "no AMI id is invented: it is resolved per region or pinned by the user"


def test_gcp_launcher_head_is_not_a_project_compute_admin() -> None:
    module = TERRAFORM_DIR / "modules" / "gcp" / "ray_launcher"
    text = (module / "main.tf").read_text()
    roles = set(re.findall(r'role\s*=\s*"(roles/[^"]+)"', text)) | set(re.findall(r'"(roles/[^"]+)"', text))
    assert "roles/compute.admin" not in roles and "roles/storage.objectAdmin" not in roles, roles
    assert "roles/compute.instanceAdmin.v1" in roles
    (ssh,) = _resources(module / "main.tf", "google_compute_firewall").values()
    assert ssh["allow"][0]["ports"] == ["22"] and "0.0.0.0/0" not in str(ssh["source_ranges"])
    users = _resources(module / "main.tf", "google_service_account_iam_member")
    assert users["head_uses_worker"]["service_account_id"] == "${google_service_account.worker.name}"


def test_azure_launcher_identity_reaches_the_data_container_only() -> None:
    module = TERRAFORM_DIR / "modules" / "azure" / "ray_launcher"
    assignments = _resources(module / "main.tf", "azurerm_role_assignment")
    assert [(a["scope"], a["role_definition_name"]) for a in assignments.values()] == [
        ("${var.container_id}", "Storage Blob Data Contributor")
    ]


def test_aws_iam_names_carry_the_region() -> None:
    """IAM role and instance-profile names are global to the account: "quantray-dev-ray-pods" in us-east-1
    and in eu-west-1 would collide (the second apply fails with EntityAlreadyExists)."""
    named = {"aws/identity", "aws/shared_fs", "aws/ray_launcher"}
    root = TERRAFORM_DIR / "envs" / "aws-dev"
    seen = set()
    for name, body, _ in blocks(root, "module"):
        source = body["source"].removeprefix("../../modules/")
        if source in named:
            assert "${var.region}" in body["name"], f"module {name}: IAM names need the region"
            seen.add(source)
    assert seen == named
    for module in named:
        for kind in ("aws_iam_role", "aws_iam_instance_profile"):
            for role, body in _resources(TERRAFORM_DIR / "modules" / module / "main.tf", kind).items():
                assert "${var.name}" in str(body.get("name", body.get("name_prefix"))), (module, role)
