"""cluster/*.yaml: Ray cluster launcher configs, checked the way `ray up` checks them, and stricter.

- Ray's own path: ``prepare_config`` (merge with the provider's defaults.yaml) then ``validate_config``
  (the ``ray/autoscaler/ray-schema.json`` shipped in the installed wheel), exactly what ``ray up`` runs before
  it calls any cloud API.
- Strict unknown keys: the same schema with every listed-properties object closed (Ray leaves ``provider``
  open), so a misspelled key fails with the key named.
- Provider-specific ``node_config``: AWS against botocore's EC2 RunInstances input model, Azure against the ARM
  template parameters Ray's Azure provider fills, GCP against the compute v1 Instance fields used here.
- The shape the deployment promises: head with CPU 0, on-demand CPU, spot CPU and GPU worker types, bounds,
  idle timeout, the quantray image, token auth.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from deploy_support import CLUSTER_DIR, pyproject, schema_errors, strict_schema
from ray.autoscaler._private.util import prepare_config, validate_config

CLOUDS = ("aws", "gcp", "azure")
RAY_SCHEMA_PATH = Path(ray.autoscaler.__file__).parent / "ray-schema.json"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CLUSTER_DIR / f"{name}.yaml").read_text())


def expected_image(gpu: bool = False) -> str:
    tag = f"{pyproject()['project']['version']}-ray{ray.__version__}"
    return f"ghcr.io/quantray/quantray:{tag}{'-gpu' if gpu else ''}"


@pytest.fixture(scope="module")
def strict_ray_schema() -> dict[str, Any]:
    return strict_schema(json.loads(RAY_SCHEMA_PATH.read_text()))


# ---------------------------------------------------------------------------------------------------------
# Provider node_config validators
# ---------------------------------------------------------------------------------------------------------


def aws_node_config_errors(node_config: dict[str, Any]) -> list[str]:
    """Validate against the EC2 RunInstances request model bundled with botocore (offline)."""
    import botocore.session
    from botocore.validate import ParamValidator

    shape = (
        botocore.session.get_session().get_service_model("ec2").operation_model("RunInstances").input_shape
    )
    params = {key: value for key, value in node_config.items() if key != "SubnetIds"}  # Ray-only key
    params.update(MinCount=1, MaxCount=1)
    report = ParamValidator().validate(params, shape)
    return [report.generate_report()] if report.has_errors() else []


def azure_node_config_errors(node_config: dict[str, Any]) -> list[str]:
    """Keys and types against the ARM template Ray's Azure provider deploys (azure-vm-template.json)."""
    template_path = Path(ray.autoscaler.__file__).parent / "_private" / "_azure" / "azure-vm-template.json"
    parameters = json.loads(template_path.read_text())["parameters"]
    filled_by_ray = {"vmName", "vmTags", "vmCount", "msi", "nsg", "subnet", "provisionPublicIp", "zones"}
    json_types = {"string": str, "int": int, "bool": bool, "object": dict, "array": list, "securestring": str}
    errors = [
        f"node_config: unknown key {key!r}"
        for key in node_config
        if key not in ("azure_arm_parameters", "tags")
    ]
    for key, value in node_config.get("azure_arm_parameters", {}).items():
        if key == "availability_zone":  # Ray-only key, popped before the deployment
            continue
        if key in filled_by_ray or key not in parameters:
            errors.append(f"azure_arm_parameters: unknown or Ray-owned key {key!r}")
        elif not isinstance(value, json_types[parameters[key]["type"].lower()]):
            errors.append(f"azure_arm_parameters.{key}: expected {parameters[key]['type']}, got {value!r}")
        elif "allowedValues" in parameters[key] and value not in parameters[key]["allowedValues"]:
            errors.append(f"azure_arm_parameters.{key}: {value!r} not in {parameters[key]['allowedValues']}")
    return errors


# The compute v1 Instance fields used in cluster/gcp.yaml (names and enums from the Compute Engine REST
# reference, instances.insert); sourceInstanceTemplate is Ray's own extension.
GCP_INSTANCE_SCHEMA = strict_schema(
    {
        "type": "object",
        "properties": {
            "machineType": {"type": "string"},
            "minCpuPlatform": {"type": "string"},
            "sourceInstanceTemplate": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "tags": {
                "type": "object",
                "properties": {"items": {"type": "array", "items": {"type": "string"}}},
            },
            "disks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "boot": {"type": "boolean"},
                        "autoDelete": {"type": "boolean"},
                        "type": {"enum": ["PERSISTENT", "SCRATCH"]},
                        "initializeParams": {
                            "type": "object",
                            "properties": {
                                "diskSizeGb": {"type": ["integer", "string"]},
                                "diskType": {"type": "string"},
                                "sourceImage": {"type": "string"},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                        },
                    },
                },
            },
            "scheduling": {
                "type": "object",
                "properties": {
                    "preemptible": {"type": "boolean"},
                    "provisioningModel": {"enum": ["SPOT", "STANDARD"]},
                    "instanceTerminationAction": {"enum": ["STOP", "DELETE"]},
                    "automaticRestart": {"type": "boolean"},
                    "onHostMaintenance": {"enum": ["MIGRATE", "TERMINATE"]},
                },
            },
            "guestAccelerators": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "acceleratorType": {"type": "string"},
                        "acceleratorCount": {"type": "integer"},
                    },
                },
            },
            "metadata": {
                "type": "object",
                "properties": {
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                        },
                    }
                },
            },
            "shieldedInstanceConfig": {
                "type": "object",
                "properties": {
                    "enableSecureBoot": {"type": "boolean"},
                    "enableVtpm": {"type": "boolean"},
                    "enableIntegrityMonitoring": {"type": "boolean"},
                },
            },
            "serviceAccounts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"email": {"type": "string"}, "scopes": {"type": "array"}},
                },
            },
            "networkInterfaces": {"type": "array"},
        },
        "required": ["machineType", "disks"],
    }
)


def gcp_node_config_errors(node_config: dict[str, Any]) -> list[str]:
    errors = schema_errors(node_config, GCP_INSTANCE_SCHEMA)
    if node_config.get("guestAccelerators") and node_config.get("scheduling", {}).get(
        "onHostMaintenance"
    ) != ("TERMINATE"):
        errors.append(
            "GPU instances must set scheduling.onHostMaintenance: TERMINATE (GCE cannot live-migrate them)"
        )
    return errors


NODE_CONFIG_VALIDATORS = {
    "aws": aws_node_config_errors,
    "gcp": gcp_node_config_errors,
    "azure": azure_node_config_errors,
}


def all_errors(config: dict[str, Any], strict: dict[str, Any]) -> list[str]:
    """Every problem: Ray's prepare/validate path, the strict schema, and the provider node configs."""
    errors = schema_errors(config, strict)
    try:
        validate_config(prepare_config(copy.deepcopy(config)))
    except Exception as error:  # Ray raises jsonschema.ValidationError, ValueError, RuntimeError, ...
        errors.append(f"ray validate_config: {error}")
    validator = NODE_CONFIG_VALIDATORS.get(config.get("provider", {}).get("type"))
    if validator:
        for name, node_type in config.get("available_node_types", {}).items():
            errors += [f"{name}.node_config: {e}" for e in validator(node_type.get("node_config", {}))]
    return errors


# ---------------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*CLOUDS, "local"])
def test_config_passes_ray_validator_and_strict_checks(name: str, strict_ray_schema: dict[str, Any]) -> None:
    assert all_errors(load(name), strict_ray_schema) == []


def test_every_cluster_file_is_tested() -> None:
    assert sorted(p.stem for p in CLUSTER_DIR.glob("*.yaml")) == sorted([*CLOUDS, "local"])


def _spot(cloud: str, node_config: dict[str, Any]) -> bool:
    if cloud == "aws":
        return node_config.get("InstanceMarketOptions", {}).get("MarketType") == "spot"
    if cloud == "gcp":
        scheduling = node_config.get("scheduling", {})
        return scheduling.get("provisioningModel") == "SPOT" or scheduling.get("preemptible") is True
    return node_config.get("azure_arm_parameters", {}).get("priority") == "Spot"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_cloud_config_shape(cloud: str) -> None:
    config = load(cloud)
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}

    assert head["resources"].get("CPU") == 0, "the head must advertise CPU: 0 (no tasks on the control plane)"
    assert head.get("max_workers", 0) == 0 and head.get("min_workers", 0) == 0

    cpu = [
        n for n, t in workers.items() if not t["resources"].get("GPU") and not _spot(cloud, t["node_config"])
    ]
    spot = [n for n, t in workers.items() if not t["resources"].get("GPU") and _spot(cloud, t["node_config"])]
    gpu = [n for n, t in workers.items() if t["resources"].get("GPU", 0) >= 1]
    assert cpu and spot and gpu, f"need on-demand CPU, spot CPU and GPU worker types, got {sorted(workers)}"

    for name, node_type in workers.items():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"] <= config["max_workers"], name
        assert node_type["resources"].get("CPU", 0) > 0, f"{name} must advertise its CPUs for the autoscaler"
    assert sum(t["min_workers"] for t in workers.values()) == 0, "idle clusters should shrink to the head"
    assert config["idle_timeout_minutes"] > 0 and config["upscaling_speed"] > 0

    assert config["docker"]["image"] == expected_image()
    for name in gpu:
        assert workers[name]["docker"]["worker_image"] == expected_image(gpu=True), name
    assert "--env RAY_AUTH_MODE=token" in config["docker"]["run_options"]
    assert config["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"
    assert config["setup_commands"], "setup_commands check the image before Ray starts"


def test_local_config_shape() -> None:
    config = load("local")
    assert config["provider"]["type"] == "local"
    assert "available_node_types" not in config, "Ray's on-prem provider rejects available_node_types"
    assert config["provider"]["head_ip"] and config["provider"]["worker_ips"]
    assert config["docker"]["image"] == expected_image()
    prepared = prepare_config(copy.deepcopy(config))
    node_type = prepared["available_node_types"][prepared["head_node_type"]]
    assert node_type["max_workers"] == len(config["provider"]["worker_ips"])


MISSPELLINGS = [
    ("top level", lambda c: c.__setitem__("idle_timeout_minute", 5), "idle_timeout_minute"),
    ("node type", lambda c: c["available_node_types"]["cpu"].__setitem__("max_worker", 3), "max_worker"),
    ("provider", lambda c: c["provider"].__setitem__("regoin", "us-east-1"), "regoin"),
    ("docker", lambda c: c["docker"].__setitem__("imagee", "x"), "imagee"),
    ("auth", lambda c: c["auth"].__setitem__("ssh_usr", "ubuntu"), "ssh_usr"),
    (
        "aws node_config",
        lambda c: c["available_node_types"]["cpu"]["node_config"].__setitem__("InstanceTyp", "c6i.8xlarge"),
        "InstanceTyp",
    ),
    (
        "aws nested node_config",
        lambda c: c["available_node_types"]["head"]["node_config"]["BlockDeviceMappings"][0][
            "Ebs"
        ].__setitem__("VolumeSzie", 10),
        "VolumeSzie",
    ),
]


@pytest.mark.parametrize(("where", "mutate", "key"), MISSPELLINGS, ids=[m[0] for m in MISSPELLINGS])
def test_misspelled_key_fails_and_is_named(where: str, mutate: Any, key: str, strict_ray_schema: Any) -> None:
    config = load("aws")
    mutate(config)
    errors = all_errors(config, strict_ray_schema)
    assert errors, f"a misspelled {where} key was accepted"
    assert any(key in error for error in errors), errors


@pytest.mark.parametrize(
    ("cloud", "mutate", "key"),
    [
        (
            "gcp",
            lambda c: c["available_node_types"]["cpu_spot"]["node_config"]["scheduling"].__setitem__(
                "provisioningModle", "SPOT"
            ),
            "provisioningModle",
        ),
        (
            "azure",
            lambda c: c["available_node_types"]["gpu"]["node_config"]["azure_arm_parameters"].__setitem__(
                "vmSzie", "Standard_NC4as_T4_v3"
            ),
            "vmSzie",
        ),
    ],
    ids=["gcp", "azure"],
)
def test_misspelled_provider_key_fails_on_gcp_and_azure(
    cloud: str, mutate: Any, key: str, strict_ray_schema: Any
) -> None:
    config = load(cloud)
    mutate(config)
    errors = all_errors(config, strict_ray_schema)
    assert any(key in error for error in errors), errors
