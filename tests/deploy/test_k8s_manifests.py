"""infra/k8s: the kustomize base and overlays, rendered and validated against the KubeRay v1.7.0 CRDs.

- Every overlay renders (infra/scripts/kustomize_lite.py; cross-checked against ``kubectl kustomize`` when
  kubectl is installed) and every object validates against its CRD's openAPIV3Schema with unknown keys
  rejected (Kubernetes would prune them silently: no CRD here sets x-kubernetes-preserve-unknown-fields).
- The committed renders (infra/k8s/rendered, applied by terraform) are up to date.
- The RayService's serveConfigV2 is serve/config.yaml, verbatim.
- What the deployment promises: autoscaler v2, head with num-cpus 0, spot and GPU groups, token auth, the
  sweep and quarterly entrypoints, pods that fit the node pools of terraform/modules/common/node_pools.
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from deploy_support import (
    K8S_DIR,
    REPO_ROOT,
    TERRAFORM_DIR,
    crd_schemas,
    kuberay_crd_dir,
    load_hcl,
    load_script,
    manifest_errors,
    pyproject,
)

kustomize_lite = load_script("kustomize_lite")
render_k8s = load_script("render_k8s")
sync_serve_config = load_script("sync_serve_config")

OVERLAYS = sorted(p.name for p in (K8S_DIR / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
SERVE_CONFIG = REPO_ROOT / "serve" / "config.yaml"


@pytest.fixture(scope="module")
def crd_dir() -> Path:
    path = kuberay_crd_dir()
    if not path.is_dir():
        pytest.skip(f"KubeRay CRDs not found at {path} (set QUANTRAY_KUBERAY_CRDS)")
    return path


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize_lite.render(K8S_DIR / "overlays" / request.param)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def cluster_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(owner, RayClusterSpec) of every RayCluster and RayService."""
    specs = [(f"RayCluster/{o['metadata']['name']}", o["spec"]) for o in by_kind(objects, "RayCluster")]
    specs += [
        (f"RayService/{o['metadata']['name']}", o["spec"]["rayClusterConfig"])
        for o in by_kind(objects, "RayService")
    ]
    return specs


def pod_templates(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if "containers" in node and isinstance(node["containers"], list):
            found.append(node)
        for value in node.values():
            found += pod_templates(value)
    elif isinstance(node, list):
        for item in node:
            found += pod_templates(item)
    return found


# ---------------------------------------------------------------------------------------------------------
# Schema validation
# ---------------------------------------------------------------------------------------------------------


def test_crds_are_the_kuberay_ones(crd_dir: Path) -> None:
    kinds = {kind for _, kind in crd_schemas(crd_dir)}
    assert {"RayCluster", "RayJob", "RayService", "RayCronJob"} <= kinds


def test_overlay_objects_validate_against_crds(
    rendered: tuple[str, list[dict[str, Any]]], crd_dir: Path
) -> None:
    overlay, objects = rendered
    assert {o["kind"] for o in objects} == {
        "ServiceAccount",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "RayCluster",
        "RayJob",
        "RayService",
        "RayCronJob",
    }
    problems = {f"{o['kind']}/{o['metadata']['name']}": manifest_errors(o, crd_dir) for o in objects}
    assert {k: v for k, v in problems.items() if v} == {}, overlay


@pytest.mark.parametrize(
    ("kind", "path", "bad_key"),
    [
        ("RayCluster", ["spec"], "enableInTreeAutoscalling"),
        ("RayCluster", ["spec", "workerGroupSpecs", 0], "minReplica"),
        ("RayCluster", ["spec", "headGroupSpec", "template", "spec", "containers", 0], "imagePullPolice"),
        ("RayService", ["spec", "rayClusterConfig", "autoscalerOptions"], "verison"),
        ("RayJob", ["spec"], "entrypoints"),
        ("RayCronJob", ["spec", "jobTemplate"], "clusterSelecter"),
        ("RayCluster", ["metadata"], "label"),
    ],
)
def test_misspelled_key_is_rejected_and_named(
    kind: str, path: list[Any], bad_key: str, crd_dir: Path
) -> None:
    objects = kustomize_lite.render(K8S_DIR / "overlays" / OVERLAYS[0])
    obj = copy.deepcopy(by_kind(objects, kind)[0])
    node = obj
    for step in path:
        node = node[step]
    node[bad_key] = "x"
    errors = manifest_errors(obj, crd_dir)
    assert any(bad_key in e for e in errors), errors


def test_wrong_type_is_rejected(crd_dir: Path) -> None:
    objects = kustomize_lite.render(K8S_DIR / "overlays" / OVERLAYS[0])
    cluster = copy.deepcopy(by_kind(objects, "RayCluster")[0])
    cluster["spec"]["workerGroupSpecs"][0]["maxReplicas"] = "eight"
    assert any("maxReplicas" in e for e in manifest_errors(cluster, crd_dir))


# ---------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl not on PATH (kustomize_lite is checked alone)"
)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_lite_matches_kubectl_kustomize(overlay: str) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])  # noqa: E731
    theirs = sorted(yaml.safe_load_all(result.stdout), key=key)
    ours = sorted(kustomize_lite.render(K8S_DIR / "overlays" / overlay), key=key)
    assert ours == theirs


def test_rendered_files_are_current() -> None:
    stale = render_k8s.write_all(check=True)
    assert stale == [], f"run `python infra/scripts/render_k8s.py` (stale: {stale})"


def test_kustomize_lite_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(kustomize_lite.KustomizeError, match="namePrefix"):
        kustomize_lite.render(tmp_path)


def test_json6902_test_op_guards_group_order(tmp_path: Path) -> None:
    base = K8S_DIR / "base"
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{base}]\n"
        "patches:\n"
        "  - target: {kind: RayCluster, name: quantray}\n"
        "    patch: '[{op: test, path: /spec/workerGroupSpecs/0/groupName, value: gpu}]'\n"
    )
    with pytest.raises(kustomize_lite.KustomizeError, match="test failed"):
        kustomize_lite.render(tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Serve config
# ---------------------------------------------------------------------------------------------------------


def test_rayservice_serve_config_is_serve_config_yaml() -> None:
    assert SERVE_CONFIG.is_file(), (
        "serve/config.yaml is missing (serve build serve.app:app -o serve/config.yaml)"
    )
    manifest = yaml.safe_load((K8S_DIR / "base" / "rayservice.yaml").read_text())
    assert manifest["spec"]["serveConfigV2"] == SERVE_CONFIG.read_text(), (
        "run `python infra/scripts/sync_serve_config.py`"
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydantic deprecations inside ray.serve
def test_serve_config_v2_is_a_valid_serve_deploy_config() -> None:
    from ray.serve.schema import ServeDeploySchema

    manifest = yaml.safe_load((K8S_DIR / "base" / "rayservice.yaml").read_text())
    ServeDeploySchema.model_validate(yaml.safe_load(manifest["spec"]["serveConfigV2"]))


@pytest.mark.parametrize(
    "config",
    [
        "applications:\n- name: signals\n  import_path: serve.signals:app\n",
        "# comment\nproxy_location: EveryNode\n\napplications: []\n",
        "applications: []",
        "applications: []\n\n\n",
        "  applications: []\n",
    ],
)
def test_sync_embeds_any_config_verbatim_and_idempotently(config: str) -> None:
    manifest = (K8S_DIR / "base" / "rayservice.yaml").read_text()
    once = sync_serve_config.embed(manifest, config)
    assert yaml.safe_load(once)["spec"]["serveConfigV2"] == config
    assert sync_serve_config.embed(once, config) == once
    # Only the block changed: everything before it is byte-identical.
    head = manifest[: manifest.index("serveConfigV2:")]
    assert once.startswith(head)


# ---------------------------------------------------------------------------------------------------------
# What the manifests promise
# ---------------------------------------------------------------------------------------------------------


def test_autoscaler_v2_head_without_cpus_and_token_auth(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for owner, spec in cluster_specs(objects):
        assert spec["rayVersion"] == ray.__version__, owner
        assert spec["enableInTreeAutoscaling"] is True, owner
        assert spec["autoscalerOptions"]["version"] == "v2", owner
        assert spec["authOptions"] == {"mode": "token", "secretName": "quantray-ray-token"}, owner
        head = spec["headGroupSpec"]
        assert head["rayStartParams"]["num-cpus"] == "0", owner
        env = {e["name"]: e.get("value") for e in head["template"]["spec"]["containers"][0]["env"]}
        assert env.get("RAY_enable_autoscaler_v2") == "1", owner
        for group in spec["workerGroupSpecs"]:
            assert group["minReplicas"] <= group["maxReplicas"], (owner, group["groupName"])
            assert "replicas" not in group, f"{owner}/{group['groupName']}: the autoscaler owns replicas"
            assert group["template"]["spec"]["restartPolicy"] == "Never", (
                "autoscaler v2 needs restartPolicy Never"
            )


def test_research_cluster_has_cpu_spot_and_gpu_groups(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    (cluster,) = by_kind(objects, "RayCluster")
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "cpu-spot", "gpu"}
    spot = groups["cpu-spot"]["template"]["spec"]
    assert spot["nodeSelector"] == {"quantray.io/pool": "spot"}
    assert {t["key"] for t in spot["tolerations"]} >= {"quantray.io/spot"}
    gpu = groups["gpu"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["containers"][0]["image"].endswith("-gpu")


def test_jobs_run_on_the_research_cluster(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    (cluster,) = by_kind(objects, "RayCluster")
    (job,) = by_kind(objects, "RayJob")
    (cron,) = by_kind(objects, "RayCronJob")
    assert job["spec"]["entrypoint"].startswith("python -m jobs.sweep --config jobs/configs/sample.yaml ")
    assert cron["spec"]["jobTemplate"]["entrypoint"].startswith("python -m jobs.quarterly")
    for spec in (job["spec"], cron["spec"]["jobTemplate"]):
        assert spec["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
        env = spec["submitterPodTemplate"]["spec"]["containers"][0]["env"]
        assert {"name": "RAY_AUTH_MODE", "value": "token"} in env


def _entrypoint_flags(entrypoint: str) -> list[str]:
    return [word for word in entrypoint.split() if word.startswith("--")]


def test_sweep_entrypoint_matches_jobs_sweep() -> None:
    sweep = REPO_ROOT / "jobs" / "sweep.py"
    assert sweep.is_file(), "jobs/sweep.py (the RayJob entrypoint) is missing"
    job = yaml.safe_load((K8S_DIR / "base" / "rayjob-sweep.yaml").read_text())
    entrypoint = job["spec"]["entrypoint"]
    config = entrypoint.split("--config", 1)[1].split()[0]
    assert (REPO_ROOT / config).is_file(), f"{config} (RayJob entrypoint) does not exist"
    for flag in _entrypoint_flags(entrypoint):
        assert f'"{flag}"' in sweep.read_text(), f"jobs/sweep.py has no {flag} option"


def test_quarterly_entrypoint_matches_jobs_quarterly() -> None:
    quarterly = REPO_ROOT / "jobs" / "quarterly.py"
    assert quarterly.is_file(), "jobs/quarterly.py (the RayCronJob entrypoint) is missing"
    cron = yaml.safe_load((K8S_DIR / "base" / "raycronjob-quarterly.yaml").read_text())
    entrypoint = cron["spec"]["jobTemplate"]["entrypoint"]
    for flag in _entrypoint_flags(entrypoint):
        assert f'"{flag}"' in quarterly.read_text(), f"jobs/quarterly.py has no {flag} option"
    if "--config" in entrypoint:
        config = entrypoint.split("--config", 1)[1].split()[0]
        assert (REPO_ROOT / config).is_file(), f"{config} (RayCronJob entrypoint) does not exist"


def test_images_are_the_quantray_image(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    tag = f"{pyproject()['project']['version']}-ray{ray.__version__}"
    images = {c["image"] for o in objects for t in pod_templates(o) for c in t["containers"]}
    assert images == {f"ghcr.io/quantray/quantray:{tag}", f"ghcr.io/quantray/quantray:{tag}-gpu"}


def test_pods_are_hardened(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = rendered
    for obj in objects:
        for template in pod_templates(obj):
            assert template["securityContext"]["runAsNonRoot"] is True
            assert template["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for container in template["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
                assert container["resources"]["limits"], container["name"]


def _quantity_cpu(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _quantity_gib(value: Any) -> float:
    text = str(value)
    units = {"Gi": 1.0, "Mi": 1 / 1024, "G": 1e9 / 2**30, "M": 1e6 / 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text) / 2**30


def test_pods_fit_node_pools_and_pools_hold_max_replicas(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    """Every Ray pod fits its pool's default machine, and the pool's max nodes hold every group at max."""
    overlay, objects = rendered
    pools_tf = load_hcl(TERRAFORM_DIR / "modules" / "common" / "node_pools" / "main.tf")["locals"][0]
    env = {"dev": "dev", "prod": "prod"}[overlay]
    demand: dict[str, int] = {}
    for cloud, catalogue in pools_tf["catalogue"].items():
        needed: dict[str, float] = {}
        for owner, spec in cluster_specs(objects):
            groups = [("head", spec["headGroupSpec"], 1)] + [
                (g["groupName"], g, g["maxReplicas"]) for g in spec["workerGroupSpecs"]
            ]
            for name, group, count in groups:
                pod = group["template"]["spec"]
                pool = pod["nodeSelector"]["quantray.io/pool"]
                machine = catalogue[pool]
                requests = pod["containers"][0]["resources"]["requests"]
                # Allocatable after kubelet/system reservations and daemonsets (conservative).
                cpu_free, mem_free = machine["vcpus"] - 0.5, machine["memory_gib"] * 0.85 - 1
                if name == "head":  # the autoscaler sidecar runs in the head pod
                    sidecar = spec["autoscalerOptions"]["resources"]["requests"]
                    cpu_free -= _quantity_cpu(sidecar["cpu"])
                    mem_free -= _quantity_gib(sidecar["memory"])
                per_node = min(
                    math.floor(cpu_free / _quantity_cpu(requests["cpu"])),
                    math.floor(mem_free / _quantity_gib(requests["memory"])),
                    machine["gpus"] // int(requests.get("nvidia.com/gpu", 0))
                    if requests.get("nvidia.com/gpu")
                    else 99,
                )
                assert per_node >= 1, (
                    f"{cloud}: {owner}/{name} does not fit on {pool} ({machine['types'][0]})"
                )
                needed[pool] = needed.get(pool, 0) + count / per_node
        for pool, nodes in needed.items():
            demand[f"{cloud}/{pool}"] = math.ceil(nodes)
            bound = pools_tf["bounds"][env][pool][1]
            assert math.ceil(nodes) <= bound, (
                f"{cloud} {env}: pool {pool} max {bound} < {math.ceil(nodes)} nodes needed"
            )
    assert demand


# ---------------------------------------------------------------------------------------------------------
# Identities: the autoscaler's token on the heads only
# ---------------------------------------------------------------------------------------------------------


def _token_mounted(pod: dict[str, Any], accounts: dict[str, dict[str, Any]]) -> bool:
    """Whether Kubernetes mounts the service account token into ``pod`` (pod field wins over the account's)."""
    if "automountServiceAccountToken" in pod:
        return bool(pod["automountServiceAccountToken"])
    return bool(accounts[pod["serviceAccountName"]].get("automountServiceAccountToken", True))


def test_heads_mount_the_autoscaler_token_and_nothing_else_does(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """KubeRay binds the autoscaler Role to the head's service account and Ray's KubeRay node provider reads
    /var/run/secrets/kubernetes.io/serviceaccount/token: without the token no worker is ever added (every
    research group has minReplicas 0 and the head num-cpus 0, so jobs would hang). Workers and submitters
    never call the Kubernetes API, so they get neither the token nor the head's account."""
    _, objects = rendered
    accounts = {o["metadata"]["name"]: o for o in by_kind(objects, "ServiceAccount")}
    head_accounts = set()
    for owner, spec in cluster_specs(objects):
        assert spec["enableInTreeAutoscaling"] is True, owner
        head = spec["headGroupSpec"]["template"]["spec"]
        # KubeRay creates no account when the head names one: it must be among the manifests.
        assert head["serviceAccountName"] in accounts, owner
        assert _token_mounted(head, accounts), f"{owner}: the head (autoscaler sidecar) needs its token"
        head_accounts.add(head["serviceAccountName"])
        for group in spec["workerGroupSpecs"]:
            pod = group["template"]["spec"]
            assert pod["serviceAccountName"] in accounts, (owner, group["groupName"])
            assert not _token_mounted(pod, accounts), f"{owner}/{group['groupName']} mounts a token"
    submitters = [o["spec"]["submitterPodTemplate"]["spec"] for o in by_kind(objects, "RayJob")]
    submitters += [
        o["spec"]["jobTemplate"]["submitterPodTemplate"]["spec"] for o in by_kind(objects, "RayCronJob")
    ]
    for pod in submitters:
        assert pod["serviceAccountName"] not in head_accounts
        assert not _token_mounted(pod, accounts)
    worker_accounts = {
        g["template"]["spec"]["serviceAccountName"]
        for _, spec in cluster_specs(objects)
        for g in spec["workerGroupSpecs"]
    }
    assert head_accounts.isdisjoint(worker_accounts), "workers must not share the autoscaler's account"


def test_old_head_account_without_token_is_caught() -> None:
    """The check above fails on the layout the reviewer found (one account, token unmounted)."""
    pod = {"serviceAccountName": "quantray-ray"}
    assert not _token_mounted(pod, {"quantray-ray": {"automountServiceAccountToken": False}})


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_workload_identity_trusts_every_ray_service_account(cloud: str) -> None:
    """IRSA / GKE Workload Identity / Entra federation name each Kubernetes account: the heads run the job
    drivers (they write results), so their account must be trusted as well as the workers'."""
    from deploy_support import blocks

    (variable,) = [
        body
        for name, body, _ in blocks(TERRAFORM_DIR / "modules" / cloud / "identity", "variable")
        if name == "ray_service_accounts"
    ]
    for overlay in OVERLAYS:
        objects = kustomize_lite.render(K8S_DIR / "overlays" / overlay)
        used = {t["serviceAccountName"] for o in objects for t in pod_templates(o)}
        assert used <= set(variable["default"]), (cloud, overlay, used)


# ---------------------------------------------------------------------------------------------------------
# Results: jobs write to the data bucket, not into the head container
# ---------------------------------------------------------------------------------------------------------

SETTINGS_REF = {"name": "quantray-settings", "key": "QUANTRAY_OUT"}


def _job_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    specs = [(f"RayJob/{o['metadata']['name']}", o["spec"]) for o in by_kind(objects, "RayJob")]
    specs += [
        (f"RayCronJob/{o['metadata']['name']}", o["spec"]["jobTemplate"])
        for o in by_kind(objects, "RayCronJob")
    ]
    return specs


def _expand_like_the_submitter(entrypoint: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """KubeRay (K8sJobMode) runs `ray job submit ... -- <entrypoint>` inside `bash -c` in the submitter pod:
    expand the entrypoint the same way and print the words the job receives."""
    return subprocess.run(
        ["bash", "-c", f'set -- {entrypoint}; printf "%s\\n" "$@"'],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=10,
    )


def test_jobs_write_results_to_the_bucket_from_the_settings_config_map(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """Without --out, jobs.sweep/jobs.quarterly write to ./results in the head container (lost on restart,
    never in the bucket terraform built). The entrypoints pass --out ${QUANTRAY_OUT:?}..., and the submitter
    (where KubeRay's bash expands it) reads QUANTRAY_OUT from the ConfigMap terraform fills with the bucket."""
    _, objects = rendered
    for owner, spec in _job_specs(objects):
        words = spec["entrypoint"].split()
        assert "--out" in words, f"{owner}: no --out, results stay in the head container"
        out = words[words.index("--out") + 1]
        assert out.startswith("${QUANTRAY_OUT:?}"), (owner, out)
        env = spec["submitterPodTemplate"]["spec"]["containers"][0]["env"]
        (entry,) = [e for e in env if e["name"] == "QUANTRAY_OUT"]
        assert entry["valueFrom"]["configMapKeyRef"] == SETTINGS_REF, owner
        expanded = _expand_like_the_submitter(spec["entrypoint"], {"QUANTRAY_OUT": "s3://qr-data-a1b2c3"})
        assert expanded.returncode == 0, expanded.stderr
        argv = expanded.stdout.split("\n")
        assert argv[argv.index("--out") + 1].startswith("s3://qr-data-a1b2c3"), (owner, argv)
        unset = _expand_like_the_submitter(spec["entrypoint"], {})
        assert unset.returncode != 0 and "QUANTRAY_OUT" in unset.stderr, f"{owner}: an unset URL must fail"


def test_results_config_map_is_what_terraform_creates() -> None:
    main = load_hcl(TERRAFORM_DIR / "modules" / "k8s" / "ray_workloads" / "main.tf")
    variables = {
        name: body
        for entry in load_hcl(TERRAFORM_DIR / "modules" / "k8s" / "ray_workloads" / "variables.tf")[
            "variable"
        ]
        for name, body in entry.items()
    }
    (config_map,) = [
        r["kubernetes_config_map_v1"]["settings"] for r in main["resource"] if "kubernetes_config_map_v1" in r
    ]
    assert "${var.settings_config_map_name}" in str(config_map["metadata"])
    assert variables["settings_config_map_name"]["default"] == SETTINGS_REF["name"]
    assert config_map["data"] == {SETTINGS_REF["key"]: "${var.results_url}"}
    assert "default" not in variables["results_url"], "every environment must say where its bucket is"
    for cloud, scheme in (("aws", "s3://"), ("gcp", "gs://"), ("azure", "abfs://")):
        root = TERRAFORM_DIR / "envs" / f"{cloud}-dev"
        (local_block,) = load_hcl(root / "main.tf")["locals"]
        assert local_block["results_url"].startswith(scheme), (cloud, local_block["results_url"])
        (workloads,) = [
            body
            for entry in load_hcl(root / "main.tf")["module"]
            for name, body in entry.items()
            if name == "ray_workloads"
        ]
        assert workloads["results_url"] == "${local.results_url}", cloud


# ---------------------------------------------------------------------------------------------------------
# Serve: shared QUANTRAY_HOME, reports from the bucket, secrets from a Secret
# ---------------------------------------------------------------------------------------------------------


def _serve_pods(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    (service,) = by_kind(objects, "RayService")
    spec = service["spec"]["rayClusterConfig"]
    pods = [("head", spec["headGroupSpec"]["template"]["spec"])]
    pods += [(g["groupName"], g["template"]["spec"]) for g in spec["workerGroupSpecs"]]
    return pods


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_serve_pods_share_quantray_home_on_a_read_write_many_volume(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """docs/api.md: replicas need QUANTRAY_HOME (keys.json, audit log, alert state) on a shared volume.
    Without it every authenticated route answers 401 on replicas that did not create the key, and each replica
    keeps its own audit log. The head mounts it too: deployments with num_cpus 0 may be placed there."""
    _, objects = rendered
    claims = {o["metadata"]["name"]: o for o in by_kind(objects, "PersistentVolumeClaim")}
    for group, pod in _serve_pods(objects):
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        env = _env(container)
        assert "QUANTRAY_HOME" in env, f"serve {group}: QUANTRAY_HOME is not set"
        home = env["QUANTRAY_HOME"]["value"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == home]
        claim_name = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
        claim = claims[claim_name]
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"], claim_name
        assert claim["spec"]["storageClassName"], (
            "a ReadWriteMany class must be named (no default class is RWX)"
        )


def test_serve_reads_reports_where_the_quarterly_job_writes_them(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """The quarterly job writes {out}/reports/<portfolio>/<YYYY>/Q<n>/ to the bucket; Serve reads
    <QUANTRAY_REPORTS_ROOT>/reports/... (default $QUANTRAY_HOME, where no report ever lands)."""
    _, objects = rendered
    (cron,) = by_kind(objects, "RayCronJob")
    words = cron["spec"]["jobTemplate"]["entrypoint"].split()
    assert words[words.index("--out") + 1] == "${QUANTRAY_OUT:?}", "reports must land at the root Serve reads"
    for group, pod in _serve_pods(objects):
        env = _env(pod["containers"][0])
        assert env["QUANTRAY_REPORTS_ROOT"]["valueFrom"]["configMapKeyRef"] == SETTINGS_REF, group


def test_serve_secrets_come_from_a_secret_never_from_plain_text(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objects = rendered
    for group, pod in _serve_pods(objects):
        env = _env(pod["containers"][0])
        ref = env["QUANTRAY_TRADINGVIEW_SECRET"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "quantray-serve-secrets" and ref["key"] == "QUANTRAY_TRADINGVIEW_SECRET", group
    for obj in objects:
        for template in pod_templates(obj):
            for container in template["containers"]:
                for entry in container.get("env", []):
                    if "SECRET" in entry["name"] or "TOKEN" in entry["name"] or "PASSWORD" in entry["name"]:
                        assert "value" not in entry, f"{entry['name']} in plain text ({obj['kind']})"
    (service,) = by_kind(objects, "RayService")
    for app in yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]:
        env_vars = (app.get("runtime_env") or {}).get("env_vars", {})
        assert not [k for k in env_vars if "SECRET" in k], "secrets in serveConfigV2 are plain text in git"


def test_terraform_creates_what_the_serve_pods_reference() -> None:
    module = TERRAFORM_DIR / "modules" / "k8s" / "ray_workloads"
    variables = {
        name: body for entry in load_hcl(module / "variables.tf")["variable"] for name, body in entry.items()
    }
    main = (module / "main.tf").read_text()
    assert variables["serve_secrets_name"]["default"] == "quantray-serve-secrets"
    assert re.search(r"QUANTRAY_TRADINGVIEW_SECRET\s*=", main)
    assert variables["shared_storage_class_name"]["default"] == "quantray-shared"
    assert 'resource "kubernetes_storage_class_v1" "shared"' in main
    assert "PersistentVolumeClaim" in variables["kinds"]["default"]
    claim = yaml.safe_load((K8S_DIR / "base" / "pvc-quantray-home.yaml").read_text())
    assert claim["spec"]["storageClassName"] == variables["shared_storage_class_name"]["default"]
    rwx = {"efs.csi.aws.com", "filestore.csi.storage.gke.io", "file.csi.azure.com"}
    for cloud in ("aws", "gcp", "azure"):
        root = TERRAFORM_DIR / "envs" / f"{cloud}-dev"
        (workloads,) = [
            body
            for entry in load_hcl(root / "main.tf")["module"]
            for name, body in entry.items()
            if name == "ray_workloads"
        ]
        storage = workloads["shared_storage"]
        if isinstance(storage, dict):
            assert storage["provisioner"] in rwx, cloud
        else:  # AWS: from modules/aws/shared_fs
            assert storage == "${module.shared_fs.storage_class}", cloud
            outputs = load_hcl(TERRAFORM_DIR / "modules" / "aws" / "shared_fs" / "outputs.tf")["output"]
            (sc,) = [
                body["value"] for entry in outputs for name, body in entry.items() if name == "storage_class"
            ]
            assert sc["provisioner"] in rwx
            assert (sc["parameters"]["uid"], sc["parameters"]["gid"]) == ("1000", "100"), "the image's user"


# ---------------------------------------------------------------------------------------------------------
# Network: GCS, dashboard and every other Ray port only from the namespace's Ray pods
# ---------------------------------------------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_network_policy_keeps_gcs_and_dashboard_inside_the_namespace(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """Without a policy any pod of the cluster can reach GCS (6379) and the dashboard / job API (8265) of
    every Ray cluster. The policy selects every Ray pod; its only rules that admit other sources are port-bound:
    the KubeRay operator to the dashboard (8265) and agent (52365), anyone to Serve (8000)."""
    _, objects = rendered
    (policy,) = by_kind(objects, "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress"]
    pods = []
    for owner, cluster in cluster_specs(objects):
        pods.append((owner, cluster["headGroupSpec"]["template"]["metadata"]["labels"]))
        pods += [(owner, g["template"]["metadata"]["labels"]) for g in cluster["workerGroupSpecs"]]
    for owner, labels in pods:
        assert _selects(spec["podSelector"], labels), f"{owner}: a Ray pod outside the policy"
    from deploy_support import blocks

    operator_namespace = next(
        body["default"]
        for name, body, _ in blocks(TERRAFORM_DIR / "modules" / "k8s" / "kuberay_operator", "variable")
        if name == "namespace"
    )
    for rule in spec["ingress"]:
        sources = rule.get("from")
        ports = {p["port"] for p in rule.get("ports", [])}
        if sources and all("podSelector" in s and "namespaceSelector" not in s for s in sources):
            # Same namespace: only the Ray pods and submitters (they carry the same label).
            assert all(_selects(s["podSelector"], {"app.kubernetes.io/name": "quantray"}) for s in sources)
            assert all(s["podSelector"]["matchLabels"] for s in sources), "an empty selector admits every pod"
            continue
        assert ports, f"a rule admitting other sources on every port: {rule}"
        assert 6379 not in ports and 10001 not in ports, rule
        if sources:
            (source,) = sources
            assert source["namespaceSelector"]["matchLabels"] == {
                "kubernetes.io/metadata.name": operator_namespace
            }
            assert ports <= {8265, 52365}, rule
        else:
            assert ports == {8000}, rule


def test_eks_enforces_network_policy() -> None:
    """The VPC CNI ignores NetworkPolicy unless its network policy agent is on."""
    main = load_hcl(TERRAFORM_DIR / "modules" / "aws" / "eks" / "main.tf")
    (addon,) = [
        body
        for entry in main["resource"]
        for name, body in entry.get("aws_eks_addon", {}).items()
        if name == "vpc_cni"
    ]
    assert addon["addon_name"] == "vpc-cni"
    assert "enableNetworkPolicy" in addon["configuration_values"]
