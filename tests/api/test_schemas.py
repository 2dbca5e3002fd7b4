"""The API's Part is the core's Part view in pydantic: the same fields, the same JSON, the same
document as when the view itself was a pydantic model."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from storyterm.api import schemas
from storyterm.core import views
from tests.core.test_views import PART_ROWS, SESSION_ROWS, RefPart


def test_the_apis_part_has_the_views_fields() -> None:
    ours = {name: field.annotation for name, field in schemas.Part.model_fields.items()}
    core = {field.name: field.type for field in msgspec.structs.fields(views.Part)}
    assert list(ours) == list(core)
    assert ours == core


@pytest.mark.parametrize("row", PART_ROWS)
def test_the_api_writes_a_part_as_the_old_model_did(row: dict[str, Any]) -> None:
    view = views.Part.model_validate(row)
    written = schemas.Part.model_validate(view).model_dump_json()
    assert written == RefPart.model_validate(row).model_dump_json()
    assert written.encode() == msgspec.json.encode(view)


def test_the_api_documents_a_part_as_the_old_model_did() -> None:
    assert schemas.Part.model_json_schema() == {**RefPart.model_json_schema(), "title": "Part"}


def test_responses_take_the_views_as_they_are() -> None:
    parts = [views.Part.model_validate(row) for row in PART_ROWS[:2]]
    session = views.Session.model_validate(SESSION_ROWS[1])  # a bible the API can show
    detail = schemas.SessionDetail(
        session=schemas.SessionOut.of(session), parts=parts, has_more_before=False
    )
    assert [type(p) for p in detail.parts] == [schemas.Part, schemas.Part]
    assert detail.model_dump(mode="json")["parts"] == [p.model_dump(mode="json") for p in parts]
    event = schemas.ErrorEvent(code="x", message="m", part=parts[0])
    assert event.part == schemas.Part.model_validate(parts[0])
