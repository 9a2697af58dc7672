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
import re
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from deploy_support import CLUSTER_DIR, load_script, pyproject, schema_errors, strict_schema
from ray.autoscaler._private.util import prepare_config, validate_config

CLOUDS = ("aws", "gcp", "azure")
RAY_SCHEMA_PATH = Path(ray.autoscaler.__file__).parent / "ray-schema.json"


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((CLUSTER_DIR / f"{name}.yaml").read_text())


def expected_image(gpu: bool = False) -> str:
    tag = f"{pyproject()['project']['version']}-ray{ray.__version__}"
    return f"ghcr.io/quantray/quantray:{tag}{'-gpu' if gpu else ''}"


def provider_keys_read_by_ray() -> set[str]:
    """provider keys that Ray's own node providers read but ray-schema.json does not list (e.g. the Azure
    provider's msi_name / msi_resource_group), taken from the installed Ray's source, so a misspelling of one
    of them still fails."""
    source_dir = Path(ray.autoscaler.__file__).parent / "_private"
    keys: set[str] = set()
    pattern = re.compile(r"""(?:provider_config|\["provider"\])(?:\.get\(|\[)\s*["']([a-z_]+)["']""")
    for path in [*source_dir.glob("_azure/*.py"), *source_dir.glob("aws/*.py"), *source_dir.glob("gcp/*.py")]:
        keys |= set(pattern.findall(path.read_text()))
    return keys


@pytest.fixture(scope="module")
def strict_ray_schema() -> dict[str, Any]:
    schema = strict_schema(json.loads(RAY_SCHEMA_PATH.read_text()))
    provider = schema["properties"]["provider"]["properties"]
    for key in provider_keys_read_by_ray() - set(provider):
        provider[key] = {}
    return schema


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
            "networkInterfaces": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "network": {"type": "string"},
                        "subnetwork": {"type": "string"},
                        "accessConfigs": {"type": "array"},
                    },
                },
            },
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


# ---------------------------------------------------------------------------------------------------------
# Terraform-made network, firewall, identities and image (nothing falls back to Ray's defaults)
# ---------------------------------------------------------------------------------------------------------

launcher_config = load_script("launcher_config")

# What `terraform output -json` of each root gives (shapes of modules/<cloud>/ray_launcher output "launcher").
FAKE_OUTPUTS: dict[str, dict[str, Any]] = {
    "aws": {
        "ray_launcher": {
            "region": "us-east-1",
            "ami_id": "ami-0123456789abcdef0",
            "subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
            "security_group_id": "sg-0bbbbbbbbbbbbbbb1",
            "head_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/quantray-dev-us-east-1-ray-launcher-head",
            "worker_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/quantray-dev-us-east-1-ray-launcher-worker",
        }
    },
    "gcp": {
        "ray_launcher": {
            "project_id": "my-quant-project",
            "region": "us-central1",
            "zone": "us-central1-a",
            "subnetwork": "https://www.googleapis.com/compute/v1/projects/my-quant-project/regions/us-central1/subnetworks/quantray-dev-nodes",
            "head_service_account": "quantray-dev-rl-head@my-quant-project.iam.gserviceaccount.com",
            "worker_service_account": "quantray-dev-rl-worker@my-quant-project.iam.gserviceaccount.com",
        }
    },
    "azure": {
        "ray_launcher": {
            "location": "eastus",
            "subscription_id": "00000000-0000-0000-0000-000000000000",
            "resource_group": "quantray-dev-ray-launcher",
            "msi_name": "quantray-dev-ray-launcher",
            "msi_resource_group": "quantray-dev-ray-launcher",
        }
    },
}


def filled(cloud: str) -> dict[str, Any]:
    text = launcher_config.render(CLUSTER_DIR / f"{cloud}.yaml", FAKE_OUTPUTS[cloud])
    return yaml.safe_load(text)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_filled_config_passes_ray_validator_and_strict_checks(cloud: str, strict_ray_schema: Any) -> None:
    config = filled(cloud)
    assert launcher_config.placeholders(config) == []
    assert all_errors(config, strict_ray_schema) == []


def test_aws_nodes_use_terraforms_network_roles_and_image() -> None:
    """Without these keys Ray's AWS bootstrap creates a head role with AmazonEC2FullAccess and
    AmazonS3FullAccess, a security group with SSH from 0.0.0.0/0, public IPs, and the EOL Ubuntu 18.04 DLAMI
    (CUDA 11.2, too old for the CUDA 12 image)."""
    config = filled("aws")
    out = FAKE_OUTPUTS["aws"]["ray_launcher"]
    assert config["provider"]["use_internal_ips"] is True
    for name, node_type in config["available_node_types"].items():
        node = node_type["node_config"]
        profile = "head" if name == config["head_node_type"] else "worker"
        assert node["IamInstanceProfile"] == {"Arn": out[f"{profile}_instance_profile_arn"]}, name
        assert node["SecurityGroupIds"] == [out["security_group_id"]], name
        assert node["SubnetIds"] == out["subnet_ids"], name
        assert node["ImageId"] == out["ami_id"], name
    raw = (CLUSTER_DIR / "aws.yaml").read_text()
    assert not re.search(r"\bami-[0-9a-f]{8,}", raw), "no AMI id in git: it comes from terraform per region"


def test_gcp_vms_use_terraforms_service_accounts_and_private_subnet() -> None:
    config = filled("gcp")
    out = FAKE_OUTPUTS["gcp"]["ray_launcher"]
    assert config["provider"]["use_internal_ips"] is True
    for name, node_type in config["available_node_types"].items():
        node = node_type["node_config"]
        who = "head" if name == config["head_node_type"] else "worker"
        assert [a["email"] for a in node["serviceAccounts"]] == [out[f"{who}_service_account"]], name
        (nic,) = node["networkInterfaces"]
        assert nic["subnetwork"] == out["subnetwork"] and "accessConfigs" not in nic, f"{name}: external IP"


def test_azure_vms_use_terraforms_identity_without_public_ips() -> None:
    config = filled("azure")
    out = FAKE_OUTPUTS["azure"]["ray_launcher"]
    provider = config["provider"]
    assert provider["use_internal_ips"] is True and not provider.get("use_external_head_ip")
    assert (provider["msi_name"], provider["msi_resource_group"]) == (
        out["msi_name"],
        out["msi_resource_group"],
    )
    assert provider["resource_group"] == out["resource_group"]


@pytest.mark.parametrize("cloud", CLOUDS)
def test_placeholders_name_keys_of_the_terraform_output(cloud: str) -> None:
    """Every `terraform:ray_launcher.<key>` of cluster/<cloud>.yaml is a key of the module's output, and the
    root exports that output, so the fill step cannot fail on a committed name."""
    from deploy_support import TERRAFORM_DIR, load_hcl

    outputs = load_hcl(TERRAFORM_DIR / "modules" / cloud / "ray_launcher" / "outputs.tf")["output"]
    (launcher,) = [body["value"] for entry in outputs for name, body in entry.items() if name == "launcher"]
    root_outputs = load_hcl(TERRAFORM_DIR / "envs" / f"{cloud}-dev" / "outputs.tf")["output"]
    (root,) = [
        body["value"] for entry in root_outputs for name, body in entry.items() if name == "ray_launcher"
    ]
    assert root == "${module.ray_launcher.launcher}"
    used = launcher_config.placeholders(load(cloud))
    assert used, f"cluster/{cloud}.yaml references nothing terraform made"
    for where, placeholder in used:
        output, _, key = placeholder.removeprefix("terraform:").partition(".")
        assert output == "ray_launcher" and key in launcher, (where, placeholder, sorted(launcher))
    assert set(FAKE_OUTPUTS[cloud]["ray_launcher"]) == set(launcher)


def test_launcher_config_refuses_what_it_cannot_fill(tmp_path: Path) -> None:
    outputs = {"ray_launcher": {"region": "us-east-1"}}
    with pytest.raises(launcher_config.LauncherConfigError, match="no key 'ami_id'"):
        launcher_config.fill({"ImageId": "terraform:ray_launcher.ami_id"}, outputs)
    with pytest.raises(launcher_config.LauncherConfigError, match="output 'nope'"):
        launcher_config.fill({"x": "terraform:nope.x"}, outputs)
    with pytest.raises(launcher_config.LauncherConfigError, match="empty"):
        launcher_config.fill({"x": "terraform:ray_launcher.ids"}, {"ray_launcher": {"ids": []}})
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps({k: {"value": v} for k, v in FAKE_OUTPUTS["aws"].items()}))
    target = tmp_path / "aws.yaml"
    assert (
        launcher_config.main([str(CLUSTER_DIR / "aws.yaml"), "--outputs-json", str(saved), "-o", str(target)])
        == 0
    )
    assert yaml.safe_load(target.read_text())["provider"]["region"] == "us-east-1"
    assert (
        launcher_config.main(
            [str(CLUSTER_DIR / "aws.yaml"), "--outputs-json", str(tmp_path / "outputs.json")]
        )
        == 0
    )
    saved.write_text(json.dumps({"ray_launcher": {"value": {"region": "us-east-1"}}}))
    assert launcher_config.main([str(CLUSTER_DIR / "aws.yaml"), "--outputs-json", str(saved)]) == 1


@pytest.mark.parametrize("cloud", CLOUDS)
def test_launcher_gpu_machines_match_the_kubernetes_gpu_pool(cloud: str) -> None:
    """The same GPU machine on both routes (CPU workers differ on purpose: a launcher VM is one Ray node of 32
    vCPUs, a Kubernetes node holds one 14-CPU worker pod; docs/deploy.md 3 says so)."""
    from deploy_support import TERRAFORM_DIR, load_hcl

    catalogue = load_hcl(TERRAFORM_DIR / "modules" / "common" / "node_pools" / "main.tf")["locals"][0][
        "catalogue"
    ]
    pool = catalogue[cloud]["gpu"]
    config = load(cloud)
    for name, node_type in config["available_node_types"].items():
        if not node_type["resources"].get("GPU"):
            continue
        node = node_type["node_config"]
        machine = (
            node.get("InstanceType") or node.get("machineType") or node["azure_arm_parameters"]["vmSize"]
        )
        assert machine == pool["types"][0], (cloud, name, machine)
        assert node_type["resources"]["CPU"] == pool["vcpus"], (cloud, name)
