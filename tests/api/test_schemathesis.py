"""Schemathesis against the OpenAPI document: no 500s, and answers that match the document."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import Login

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_headers(app: FastAPI, login: Login) -> dict[str, str]:
    """A writer with a few sessions, so listings and reads have something to return."""
    headers = login("alice")
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        for title in ("The Keeper's Letter", "Salt Roads"):
            client.post("/api/langchain/story/start", json={"title": title}, headers=headers)
    return headers


@pytest.fixture
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_server_errors(case: Any, api_headers: dict[str, str]) -> None:
    case.call_and_validate(headers=api_headers, checks=CHECKS)
