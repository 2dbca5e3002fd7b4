"""/api/langchain/sessions/{id}/bible: a story's bible, author's note and instructions, read
and changed.

The bible (genre, tone, premise, characters, style notes, ...) is the session's `metadata`, as
the session shows it and start sets it; the note, its depth and the instructions (the system
prompt) are the writer's steering (core/memory/steering.py), kept in the story's memory. Both
are checked by the core as the CLI and the TUI check them; a change to either is heard by
every listener as the bible or the memory changing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.routes.sessions import SessionId
from storyterm.api.rules import NO_NUL_PATTERN, rule
from storyterm.api.schemas import MetadataInput, MetadataValue, _check_keys, _Request
from storyterm.core.basics import (
    DEFAULT_NOTE_DEPTH,
    MAX_INSTRUCTIONS,
    MAX_NOTE,
    MAX_NOTE_DEPTH,
)
from storyterm.core.memory.state import INSTRUCTIONS, NOTE, NOTE_DEPTH
from storyterm.core.memory.steering import DEFAULT_INSTRUCTIONS, Steering, clean_steering
from storyterm.core.service import clean_metadata
from storyterm.core.views import Session

router = APIRouter(prefix="/api/langchain/sessions", tags=["sessions"])

NO_NUL = "must not contain NUL characters (U+0000)"

if TYPE_CHECKING:
    NoteText = str
    InstructionsText = str
else:
    NoteText = rule(NO_NUL_PATTERN, NO_NUL, max_length=MAX_NOTE)
    InstructionsText = rule(NO_NUL_PATTERN, NO_NUL, max_length=MAX_INSTRUCTIONS)


class BibleOut(BaseModel):
    """A story's bible, its author's note and the instructions its model is given."""

    session_id: str
    title: str
    metadata: dict[str, MetadataValue] = Field(
        description="The story bible: genre, tone, premise, characters, style_notes, ..."
    )
    note: str = Field(
        description="The author's note, put into every prompt among the recent parts (empty: "
        "none).",
        examples=["tense, rain, Mara is lying"],
    )
    note_depth: int = Field(
        description="Where the note goes: before the last N parts sent (0: right before the "
        "direction).",
        examples=[DEFAULT_NOTE_DEPTH],
    )
    instructions: str = Field(
        description="The instructions the model is given (the system prompt): the story's own, "
        "else the default."
    )
    instructions_default: bool = Field(
        description="Whether `instructions` is the default (the story has none of its own)."
    )


class BibleChange(_Request):
    """What to change; a field left out stays as it is."""

    metadata: Annotated[dict[str, MetadataInput] | None, AfterValidator(_check_keys)] = Field(
        default=None,
        description="Story-bible fields to set, merged into the bible: a value sets that field "
        "(text up to 20,000 characters, numbers, true or false, lists of text), null removes "
        "it; fields not named stay.",
        examples=[{"premise": "A letter forty years late.", "tone": None}],
    )
    note: NoteText | None = Field(
        default=None,
        description=f"The author's note, up to {MAX_NOTE:,} characters; null or empty text "
        "removes it.",
        examples=["tense, rain, Mara is lying"],
    )
    note_depth: int | None = Field(
        default=None,
        ge=0,
        le=MAX_NOTE_DEPTH,
        description=f"Before how many of the last parts the note goes, 0 to {MAX_NOTE_DEPTH}; "
        f"null goes back to {DEFAULT_NOTE_DEPTH}.",
    )
    instructions: InstructionsText | None = Field(
        default=None,
        description=f"The story's own instructions to the model, up to {MAX_INSTRUCTIONS:,} "
        "characters; null, empty text or the default's text goes back to the default.",
    )


def _answer(session: Session) -> BibleOut:
    return BibleOut(
        session_id=session.id,
        title=session.title,
        metadata=session.session_metadata,
        **Steering.of(session.memory).as_json(),
    )


@router.get(
    "/{session_id}/bible",
    summary="Read a story's bible, author's note and instructions",
    description="The instructions are the default's text until the story has its own:\n\n"
    + DEFAULT_INSTRUCTIONS,
    response_model=BibleOut,
    responses=errors(401, 404, 503),
)
def get_bible(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> BibleOut:
    return _answer(runtime.sessions.get(account.id, session_id))


@router.patch(
    "/{session_id}/bible",
    summary="Change a story's bible, author's note or instructions",
    description=(
        "Changes the fields given and keeps the others; everything is checked before anything "
        "is kept. 409 for a completed story (reopen it first)."
    ),
    response_model=BibleOut,
    responses=errors(401, 404, 409, 503),
)
def change_bible(
    session_id: SessionId, body: BibleChange, account: AccountDep, runtime: RuntimeDep
) -> BibleOut:
    given = body.model_fields_set
    steering: dict[str, Any] = {
        key: getattr(body, key) for key in (NOTE, NOTE_DEPTH, INSTRUCTIONS) if key in given
    }
    session = runtime.sessions.get(account.id, session_id)
    metadata = dict(session.session_metadata)
    for key, value in (body.metadata or {}).items():
        if value is None:
            metadata.pop(key.strip(), None)
        else:
            metadata[key.strip()] = value
    # Both checked before either is written.
    metadata = clean_metadata(metadata)
    clean_steering(steering)
    if metadata != session.session_metadata:
        session = runtime.sessions.update_metadata(account.id, session_id, metadata)
    if steering:
        session = runtime.sessions.set_steering(account.id, session_id, steering)
    return _answer(session)
