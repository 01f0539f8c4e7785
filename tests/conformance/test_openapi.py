"""The OpenAPI contracts are valid OpenAPI 3.1, and say what the facts file says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def load(dialect: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CONTRACTS / f"openapi-{dialect}.yaml").read_text()))


@pytest.mark.parametrize("dialect", ["rest", "documented"])
def test_contract_is_valid_openapi(dialect: str) -> None:
    spec = load(dialect)
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_rest_contract_states_the_servers_behaviour() -> None:
    spec = load("rest")
    put = spec["paths"]["/zstack/v1/images/{uuid}/actions"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "changeImageState" in spec["components"]["schemas"][body]["properties"]
    assert set(put["responses"]) == {"202", "400", "500"}
    job = spec["paths"]["/zstack/v1/api-jobs/{uuid}"]["get"]["responses"]
    assert set(job) == {"200", "202", "404", "405", "503"}
    inventory = spec["components"]["schemas"]["ImageInventory"]["properties"]
    assert inventory["state"]["enum"] == ["Enabled", "Disabled"]
    assert "Deleted" in inventory["status"]["enum"]


def test_documented_contract_is_the_page() -> None:
    spec = load("documented")
    put = spec["paths"]["/zstack/v1/images/{uuid}/actions"]["put"]
    assert "params" in put["requestBody"]["content"]["application/json"]["schema"]["properties"]
    envelope = spec["components"]["schemas"]["Envelope"]
    assert envelope["required"] == ["success", "error", "inventory"]
    assert "200" in put["responses"] and "202" not in put["responses"]
