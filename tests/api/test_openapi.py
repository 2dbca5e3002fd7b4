"""The OpenAPI document is complete: every request and answer has a schema."""

from __future__ import annotations

from fastapi import FastAPI

PUBLIC = {("post", "/api/auth/login"), ("get", "/api/health")}


def test_every_operation_is_documented(app: FastAPI) -> None:
    doc = app.openapi()
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The token from POST /api/auth/login (the same accounts as the app).",
    }
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    operations = [
        (method, path, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]
    assert operations
    for method, path, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op.get("tags"), where
        assert op.get("operationId"), where
        if "requestBody" in op:
            for content in op["requestBody"]["content"].values():
                assert content.get("schema"), where
        statuses = set(op["responses"])
        if path == "/api/health":
            # No parameters to get wrong, and it never fails: 200 or 503 with its own body.
            assert statuses == {"200", "503"}
        else:
            assert {"422", "500"} <= statuses, where
        for status, response in op["responses"].items():
            assert response.get("description"), (where, status)
            if status == "204":
                assert "content" not in response, where
                continue
            schemas = [c.get("schema") for c in response.get("content", {}).values()]
            assert schemas and all(schemas), (where, status)
            if status.startswith(("4", "5")) and (method, path) != ("get", "/api/health"):
                assert response["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                }, where
        if (method, path) in PUBLIC:
            assert "security" not in op, where
        else:
            assert op["security"] == [{"HTTPBearer": []}], where
            assert "401" in statuses, where
        if "{session_id}" in path:
            assert "404" in statuses, where


def test_the_document_is_served(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "storyterm"
    assert client.get("/docs").status_code == 200


def test_continue_documents_its_event_stream(app: FastAPI) -> None:
    doc = app.openapi()
    op = doc["paths"]["/api/langchain/story/{session_id}/continue"]["post"]
    ok = op["responses"]["200"]["content"]
    assert list(ok) == ["text/event-stream"]
    frames = ok["text/event-stream"]["schema"]
    assert "type" not in frames
    refs = {item["$ref"].rsplit("/", 1)[1] for item in frames["anyOf"]}
    assert refs == {"ProgressFrame", "DeltaFrame", "SavedFrame", "DoneFrame", "ErrorFrame"}
    for name in ("DeltaEvent", "DoneEvent", "ErrorEvent", "SavedEvent", "ProgressEvent"):
        assert name in doc["components"]["schemas"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ContinueRequest"
    }
