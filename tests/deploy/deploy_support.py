"""Helpers shared by the tests/deploy tests: paths, strict JSON-schema validation, HCL loading."""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO_ROOT / "cluster"
INFRA_DIR = REPO_ROOT / "infra"
K8S_DIR = INFRA_DIR / "k8s"
TERRAFORM_DIR = REPO_ROOT / "terraform"

# The KubeRay release whose CRDs (shared/kuberay-crds) the manifests are validated against; the operator chart
# installed by terraform must be the same release.
KUBERAY_VERSION = "1.7.0"


def kuberay_crd_dir() -> Path:
    env = os.environ.get("QUANTRAY_KUBERAY_CRDS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "kuberay-crds"


def load_script(name: str, folder: str = "scripts") -> ModuleType:
    """Import ``infra/<folder>/<name>.py`` (they are scripts, not a package)."""
    directory = str(INFRA_DIR / folder)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, INFRA_DIR / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


# --------------------------------------------------------------------------------------------------------
# Strict JSON schema
# --------------------------------------------------------------------------------------------------------


def strict_schema(schema: Any) -> Any:
    """A copy of ``schema`` in which every object that lists ``properties`` rejects keys it does not list.

    Kubernetes prunes unknown fields of a structural CRD schema silently (unless
    ``x-kubernetes-preserve-unknown-fields``), and Ray's schema leaves some sections open; either way a
    misspelled key would be ignored. Maps (``additionalProperties`` with a schema) stay maps.
    """

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: visit(value) for key, value in node.items()}
            if (
                "properties" in out
                and not out.get("x-kubernetes-preserve-unknown-fields", False)
                and not isinstance(out.get("additionalProperties"), dict)
                and "patternProperties" not in out
            ):
                out["additionalProperties"] = False
            return out
        if isinstance(node, list):
            return [visit(item) for item in node]
        return node

    return visit(copy.deepcopy(schema))


FORMAT_CHECKER = jsonschema.FormatChecker()


@FORMAT_CHECKER.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@FORMAT_CHECKER.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def schema_errors(instance: Any, schema: Any) -> list[str]:
    """Every violation, as ``path: message`` (empty when valid)."""
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator = validator_cls(schema, format_checker=FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


# Root metadata is an unconstrained object in every CRD; this is the part of ObjectMeta a manifest may set.
OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "generateName": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}

LABEL_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
    "additionalProperties": False,
}

# Core kinds the kustomize base uses besides the Ray CRDs (the fields of the Kubernetes API that we set).
CORE_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("v1", "ServiceAccount"): {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "v1"},
            "kind": {"const": "ServiceAccount"},
            "metadata": OBJECT_META,
            "automountServiceAccountToken": {"type": "boolean"},
            "imagePullSecrets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
        },
        "required": ["apiVersion", "kind", "metadata"],
        "additionalProperties": False,
    },
    ("v1", "PersistentVolumeClaim"): {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "v1"},
            "kind": {"const": "PersistentVolumeClaim"},
            "metadata": OBJECT_META,
            "spec": {
                "type": "object",
                "properties": {
                    "accessModes": {
                        "type": "array",
                        "items": {
                            "enum": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
                        },
                    },
                    "storageClassName": {"type": "string"},
                    "volumeMode": {"enum": ["Filesystem", "Block"]},
                    "resources": {
                        "type": "object",
                        "properties": {
                            "requests": {
                                "type": "object",
                                "properties": {"storage": {"type": ["string", "integer"]}},
                                "required": ["storage"],
                                "additionalProperties": False,
                            }
                        },
                        "additionalProperties": False,
                    },
                },
                "required": ["accessModes", "resources"],
                "additionalProperties": False,
            },
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
    },
    ("networking.k8s.io/v1", "NetworkPolicy"): {
        "type": "object",
        "properties": {
            "apiVersion": {"const": "networking.k8s.io/v1"},
            "kind": {"const": "NetworkPolicy"},
            "metadata": OBJECT_META,
            "spec": {
                "type": "object",
                "properties": {
                    "podSelector": LABEL_SELECTOR,
                    "policyTypes": {"type": "array", "items": {"enum": ["Ingress", "Egress"]}},
                    "ingress": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "from": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "podSelector": LABEL_SELECTOR,
                                            "namespaceSelector": LABEL_SELECTOR,
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                                "ports": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "protocol": {"enum": ["TCP", "UDP", "SCTP"]},
                                            "port": {"type": ["integer", "string"]},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["podSelector"],
                "additionalProperties": False,
            },
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
    },
}


@functools.cache
def crd_schemas(crd_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Strict schemas of the served versions of every CRD in ``crd_dir``, by (apiVersion, kind)."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are ~4 MB of YAML
        for crd in yaml.load_all(path.read_text(), Loader=loader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", False):
                    continue
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                schema["properties"]["metadata"] = OBJECT_META
                schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
                schema["properties"]["kind"] = {"const": kind}
                schema.setdefault("required", [])
                schema["required"] = sorted(
                    set(schema["required"]) | {"apiVersion", "kind", "metadata", "spec"}
                )
                schemas[(f"{group}/{version['name']}", kind)] = strict_schema(schema)
    return schemas


def manifest_errors(manifest: dict[str, Any], crd_dir: Path) -> list[str]:
    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    schema = crd_schemas(crd_dir).get(key) or CORE_SCHEMAS.get(key)
    if schema is None:
        return [f"no schema for {key}: add the CRD or a core schema to tests/deploy"]
    return schema_errors(manifest, schema)


# --------------------------------------------------------------------------------------------------------
# HCL
# --------------------------------------------------------------------------------------------------------


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean_hcl(node: Any) -> Any:
    """python-hcl2 output without its bookkeeping keys and with string quotes removed."""
    if isinstance(node, dict):
        return {
            _unquote(key): clean_hcl(value)
            for key, value in node.items()
            if key not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(node, list):
        return [clean_hcl(item) for item in node]
    return _unquote(node)


@functools.cache
def load_hcl(path: Path) -> dict[str, Any]:
    import hcl2

    with path.open() as handle:
        return clean_hcl(hcl2.load(handle))


def terraform_dirs(root: Path) -> list[Path]:
    """Every directory under ``root`` holding ``*.tf`` files (a module or a root)."""
    return sorted({p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts})


def blocks(directory: Path, kind: str) -> Iterator[tuple[str, dict[str, Any], Path]]:
    """(label, body, file) of every ``kind`` block (variable, output, module, ...) in a directory."""
    for path in sorted(directory.glob("*.tf")):
        for entry in load_hcl(path).get(kind, []):
            for label, body in entry.items():
                yield label, body, path


def typed_blocks(directory: Path, kind: str) -> Iterator[tuple[str, str, Path]]:
    """(type, name, file) of every resource or data block in a directory."""
    for path in sorted(directory.glob("*.tf")):
        for entry in load_hcl(path).get(kind, []):
            for type_name, named in entry.items():
                for name in named:
                    yield type_name, name, path


VERSION_CONSTRAINT = re.compile(r"^\s*(>=|~>)\s*\d+(\.\d+){1,2}\s*(,\s*<\s*\d+(\.\d+){0,2}\s*)?$")
