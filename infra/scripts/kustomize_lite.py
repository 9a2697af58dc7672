"""A small, strict subset of kustomize, in Python, for rendering ``infra/k8s`` where no kustomize binary exists.

It implements exactly the kustomization fields the quantray overlays use, with kustomize's semantics for custom
resources, and refuses anything else (naming the field) instead of silently ignoring it:

- ``resources``: files (one or more YAML documents) and directories holding a ``kustomization.yaml``;
- ``namespace``: set on every object except cluster-scoped kinds (Namespace, ClusterRole, ...);
- ``labels`` with ``includeSelectors: false``: added to ``metadata.labels``;
- ``images``: ``newName`` / ``newTag`` / ``digest`` for every ``containers`` / ``initContainers`` entry at any
  depth (kustomize's image transformer does the same for custom resources);
- ``patches`` (inline ``patch`` or ``path``; optional ``target`` by group/version/kind/name/namespace):
  JSON 6902 operations (add, remove, replace, test), or strategic-merge patches. Kustomize has no schema
  for custom resources, so a strategic merge on them merges maps and *replaces lists whole*; so does this.

``tests/deploy`` renders every overlay with it and, when ``kubectl`` is on the PATH, checks that
``kubectl kustomize`` produces the same objects. Command line::

    python infra/scripts/kustomize_lite.py infra/k8s/overlays/prod     # multi-document YAML on stdout
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
}


class KustomizeError(ValueError):
    """A kustomization this renderer cannot honour exactly (unsupported field, bad patch, missing target)."""


def render(directory: str | Path) -> list[Manifest]:
    """Render the kustomization in ``directory`` into a list of manifests (kustomize's semantics, see module)."""
    root = Path(directory)
    kfile = root / "kustomization.yaml"
    if not kfile.is_file():
        raise KustomizeError(f"no kustomization.yaml in {root}")
    kustomization = yaml.safe_load(kfile.read_text()) or {}
    unknown = sorted(set(kustomization) - SUPPORTED_FIELDS)
    if unknown:
        raise KustomizeError(
            f"{kfile}: unsupported kustomization field(s) {unknown}; supported: {sorted(SUPPORTED_FIELDS)}"
        )

    objects: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = root / entry
        if path.is_dir():
            objects.extend(render(path))
        elif path.is_file():
            objects.extend(_load_documents(path))
        else:
            raise KustomizeError(f"{kfile}: resource {entry!r} not found")

    for patch in kustomization.get("patches", []):
        _apply_patch(objects, patch, root)
    if "namespace" in kustomization:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = kustomization["namespace"]
    for label_set in kustomization.get("labels", []):
        _apply_labels(objects, label_set, kfile)
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                _retag(container, image)
    _check_unique(objects, kfile)
    return objects


def dump(objects: list[Manifest]) -> str:
    """Multi-document YAML, objects sorted by kind, namespace and name (stable, diff-friendly)."""
    ordered = sorted(objects, key=_identity)
    return "\n---\n".join(yaml.safe_dump(obj, sort_keys=False, width=120) for obj in ordered)


def _identity(obj: Manifest) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return (obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def _load_documents(path: Path) -> list[Manifest]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "name" not in doc.get("metadata", {}):
            raise KustomizeError(f"{path}: every document needs kind and metadata.name")
    return docs


def _check_unique(objects: list[Manifest], kfile: Path) -> None:
    seen: set[tuple[str, str, str]] = set()
    for obj in objects:
        key = _identity(obj)
        if key in seen:
            raise KustomizeError(f"{kfile}: duplicate object {key}")
        seen.add(key)


def _apply_labels(objects: list[Manifest], label_set: dict[str, Any], kfile: Path) -> None:
    unknown = sorted(set(label_set) - {"pairs", "includeSelectors"})
    if unknown or label_set.get("includeSelectors", False):
        raise KustomizeError(
            f"{kfile}: labels support only `pairs` with includeSelectors: false, got {sorted(label_set)}"
        )
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("labels", {}).update(label_set["pairs"])


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every entry of a ``containers`` or ``initContainers`` list, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _split_image(image: str) -> tuple[str, str]:
    """``name[:tag][@digest]`` -> (name, rest) where rest keeps its ``:`` or ``@``."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, "@" + digest
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def _retag(container: dict[str, Any], image: dict[str, Any]) -> None:
    unknown = sorted(set(image) - {"name", "newName", "newTag", "digest"})
    if unknown:
        raise KustomizeError(f"images: unsupported field(s) {unknown}")
    current = container.get("image")
    if not isinstance(current, str):
        return
    name, suffix = _split_image(current)
    if name != image["name"]:
        return
    new_name = image.get("newName", name)
    if "digest" in image:
        suffix = "@" + image["digest"]
    elif "newTag" in image:
        suffix = ":" + str(image["newTag"])
    container["image"] = new_name + suffix


def _apply_patch(objects: list[Manifest], spec: dict[str, Any], root: Path) -> None:
    unknown = sorted(set(spec) - {"path", "patch", "target"})
    if unknown:
        raise KustomizeError(f"patches: unsupported field(s) {unknown} (supported: path, patch, target)")
    if ("path" in spec) == ("patch" in spec):
        raise KustomizeError("patches: give exactly one of `path` and `patch`")
    text = (root / spec["path"]).read_text() if "path" in spec else spec["patch"]
    body = yaml.safe_load(text)
    target = spec.get("target")
    if isinstance(body, list):
        if target is None:
            raise KustomizeError("patches: a JSON 6902 patch needs a `target`")
        for obj in _select(objects, target):
            _json6902(obj, body)
    elif isinstance(body, dict):
        if target is None:
            target = {"kind": body.get("kind"), "name": body.get("metadata", {}).get("name")}
        for obj in _select(objects, target):
            merged = _strategic_merge(obj, body)
            obj.clear()
            obj.update(merged)
    else:
        raise KustomizeError(f"patches: cannot interpret patch {text[:60]!r}")


def _select(objects: list[Manifest], target: dict[str, Any]) -> list[Manifest]:
    unknown = sorted(set(target) - {"group", "version", "kind", "name", "namespace"})
    if unknown:
        raise KustomizeError(f"patches: unsupported target field(s) {unknown}")
    chosen = []
    for obj in objects:
        group, _, version = obj.get("apiVersion", "").rpartition("/")
        meta = obj.get("metadata", {})
        actual = {
            "group": group,
            "version": version,
            "kind": obj.get("kind"),
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
        }
        if all(actual[key] == value for key, value in target.items()):
            chosen.append(obj)
    if not chosen:
        raise KustomizeError(f"patches: target {target} matches no object")
    return chosen


def _strategic_merge(base: Any, patch: Any) -> Any:
    """Maps merge recursively, ``null`` deletes a key, anything else (lists included) replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if key.startswith("$"):
                raise KustomizeError(f"strategic-merge directive {key!r} is not supported")
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _strategic_merge(merged.get(key), value)
        return merged
    return copy.deepcopy(patch)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise KustomizeError(f"JSON pointer {path!r} must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise KustomizeError(f"JSON 6902 path {path!r} does not exist (at {part!r})") from error
    return node


def _json6902(obj: Manifest, operations: list[dict[str, Any]]) -> None:
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        parts = _pointer(path)
        parent = _walk(obj, parts[:-1], path)
        last = parts[-1]
        if kind == "test":
            if _walk(obj, parts, path) != op["value"]:
                raise KustomizeError(f"JSON 6902 test failed at {path!r}")
        elif kind in ("replace", "remove"):
            _walk(obj, parts, path)  # must exist
            if kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            else:
                parent[int(last) if isinstance(parent, list) else last] = copy.deepcopy(op["value"])
        elif kind == "add":
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if not 0 <= index <= len(parent):
                    raise KustomizeError(f"JSON 6902 add index out of range at {path!r}")
                parent.insert(index, copy.deepcopy(op["value"]))
            elif isinstance(parent, dict):
                parent[last] = copy.deepcopy(op["value"])
            else:
                raise KustomizeError(f"JSON 6902 add: parent of {path!r} is not a map or list")
        else:
            raise KustomizeError(f"JSON 6902 op {kind!r} is not supported (add, remove, replace, test)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: kustomize_lite.py DIR", file=sys.stderr)
        return 2
    sys.stdout.write(dump(render(args[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
