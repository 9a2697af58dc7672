#!/usr/bin/env bash
# Run checkov (pinned) from its own virtual environment, created on first use.
#
# Checkov pins many heavy dependencies that would conflict with the project's .venv, so it lives in
# <repo>/.venv-checkov. The first run creates it (measure: ~1-3 min with a warm pip cache); later runs
# reuse it. Every argument is passed to checkov, e.g.
#
#   infra/scripts/checkov.sh -d terraform --framework terraform
#   infra/scripts/checkov.sh --version
#
# Environment:
#   CHECKOV_VENV     where the venv lives (default: <repo>/.venv-checkov)
#   CHECKOV_PYTHON   interpreter used to create it (default: python3.11, else python3)
set -euo pipefail

CHECKOV_VERSION="3.3.30"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${CHECKOV_VENV:-$repo_root/.venv-checkov}"

if [[ ! -x "$venv/bin/checkov" ]] || [[ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
  py="${CHECKOV_PYTHON:-}"
  if [[ -z "$py" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then py=python3.11; else py=python3; fi
  fi
  echo "checkov.sh: creating $venv with checkov==$CHECKOV_VERSION (first use only)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi

# Checkov phones home for its policy metadata only when an API key is given; keep it offline either way.
export BC_SKIP_MAPPING=TRUE
export CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
exec "$venv/bin/checkov" "$@"
