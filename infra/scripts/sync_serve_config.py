"""Copy serve/config.yaml into the RayService's spec.serveConfigV2 (infra/k8s/base/rayservice.yaml).

    python infra/scripts/sync_serve_config.py           # update the manifest (and infra/k8s/rendered/*)
    python infra/scripts/sync_serve_config.py --check   # exit 1 if the manifest differs from serve/config.yaml

serve/config.yaml (written by `serve build`, owned by serve/) is the one source of truth for the Serve apps; the
RayService must carry exactly that text. Kustomize cannot read files outside its directory tree, so this script
copies it in, verbatim, as a YAML block scalar, and leaves the rest of the manifest (comments included) alone.
tests/deploy fails while the two differ.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "serve" / "config.yaml"
RAYSERVICE = REPO / "infra" / "k8s" / "base" / "rayservice.yaml"
KEY = re.compile(r"^(?P<indent> *)serveConfigV2:\s*(\|[-+0-9]*)?\s*$")


def embed(manifest: str, config: str) -> str:
    """Return ``manifest`` with the block under ``serveConfigV2:`` replaced by ``config`` (exact round trip)."""
    lines = manifest.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if KEY.match(line.rstrip("\n"))]
    if len(starts) != 1:
        raise ValueError(f"{RAYSERVICE}: expected one `serveConfigV2: |` line, found {len(starts)}")
    start = starts[0]
    indent = len(KEY.match(lines[start].rstrip("\n"))["indent"])  # type: ignore[index]
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip(" ")) > indent
    ):
        end += 1

    body_indent = " " * (indent + 2)
    if config.endswith("\n\n"):
        chomp = "+"
    elif config.endswith("\n"):
        chomp = ""
    else:
        chomp = "-"
    indicator = "2" if config[:1] in (" ", "\n") else ""
    header = f"{' ' * indent}serveConfigV2: |{indicator}{chomp}\n"
    body = [(body_indent + line) if line.strip() else "\n" for line in config.splitlines(keepends=True)]
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    result = "".join([*lines[:start], header, *body, *lines[end:]])

    embedded = yaml.safe_load(result)["spec"]["serveConfigV2"]
    if embedded != config:
        raise ValueError("serve/config.yaml does not survive embedding as a YAML block scalar unchanged")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare (exit 1 if they differ)")
    args = parser.parse_args()
    if not SERVE_CONFIG.is_file():
        print(f"{SERVE_CONFIG.relative_to(REPO)} not built yet (run `serve build` first)", file=sys.stderr)
        return 1
    config = SERVE_CONFIG.read_text()
    if not isinstance(yaml.safe_load(config), dict):
        print(f"{SERVE_CONFIG.relative_to(REPO)} is not a YAML mapping", file=sys.stderr)
        return 1
    manifest = RAYSERVICE.read_text()
    updated = embed(manifest, config)
    if args.check:
        if updated != manifest:
            print(f"{RAYSERVICE.relative_to(REPO)} differs from serve/config.yaml; run {Path(__file__).name}")
            return 1
        return 0
    if updated != manifest:
        RAYSERVICE.write_text(updated)
        print(f"updated {RAYSERVICE.relative_to(REPO)}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from render_k8s import write_all

    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
