"""Property-based fuzzing of serve/openapi.json against the live Serve instance (schemathesis + hypothesis):
no generated request, valid or invalid, gets a 5xx. Bounded: a few examples per operation.

Admin-only routes are fuzzed with an admin key; everything else with a read key (so no Ray jobs pile up and
the signal cache is not recomputed for every example)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from conftest import REPO_ROOT, bearer
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

SCHEMA = schemathesis.openapi.from_path(str(REPO_ROOT / "serve" / "openapi.json"))
OPERATIONS = [r.ok() for r in SCHEMA.get_all_operations()]
ADMIN_PATHS = {
    "/v1/webhooks",
    "/v1/webhooks/{sub_id}",
    "/v1/webhooks/{sub_id}/ping",
    "/v1/webhooks/dead-letters",
    "/v1/audit",
}


@pytest.fixture(scope="module")
def keys(api: SimpleNamespace) -> dict[str, str]:
    _, read = api.store.create(name="fuzz-read", scope="read", rate_per_s=10_000, burst=10_000)
    _, admin = api.store.create(name="fuzz-admin", scope="admin", rate_per_s=10_000, burst=10_000)
    return {"read": read, "admin": admin}


def _has_inputs(op: Any) -> bool:
    definition = op.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


# invalid inputs exist only for operations that take some
CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in OPERATIONS if _has_inputs(op)
]


@pytest.mark.parametrize(("operation", "mode"), CASES, ids=[f"{op.label} {mode.value}" for op, mode in CASES])
def test_no_server_errors(
    operation: Any, mode: GenerationMode, api: SimpleNamespace, keys: dict[str, str]
) -> None:
    key = keys["admin"] if operation.path in ADMIN_PATHS else keys["read"]
    seen: list[int] = []

    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(base_url=api.base, headers=bearer(key), timeout=60)
        seen.append(response.status_code)
        assert response.status_code < 500, (case.method, case.formatted_path, case.body, response.text[:500])

    check()
    assert seen
