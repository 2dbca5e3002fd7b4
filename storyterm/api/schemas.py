"""The API's request and response bodies (pydantic), built from the core's views.

A part is shown as the core's `Part` view holds it (`Part` here: the same fields, in pydantic,
which FastAPI documents and writes; the views are msgspec Structs). A session is shown without
its owner's user id and without the internal story memory (`SessionOut`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from storyterm.api.rules import (
    MODEL_PATTERN,
    NAME_PATTERN,
    NO_NUL_PATTERN,
    TITLE_PATTERN,
    USERNAME_PATTERN,
    Text,
    check_pattern,
    rule,
)
from storyterm.core.basics import (
    MAX_DIRECTION,
    MAX_METADATA_VALUE,
    MAX_MODEL_NAME,
    MAX_PART,
    MAX_TITLE,
    PASSWORD_MAX,
    USERNAME_MAX,
)
from storyterm.core.storage.tables import PartState, SessionStatus, TakeKind
from storyterm.core.views import Part as PartView
from storyterm.core.views import Session, TrashItem

#: The highest part, take or trash number there can be (32-bit integer columns).
MAX_NUMBER = 2**31 - 1


def _whole(value: Any) -> Any:
    # JSON (and JSON Schema) make no difference between 2 and 2.0: both are the integer 2. The
    # request models are strict (no "2" for 2, no true for 1), so 2.0 is let through by hand.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A part's number in a request body, written as JSON may write one (2 or 2.0).
# (The bounds before the validator: after it, pydantic writes them into the document as "ge"
# and "le", which JSON Schema does not know.)
PartNumber = Annotated[int, Field(ge=1, le=MAX_NUMBER), BeforeValidator(_whole)]
#: What a story-bible value may be (the core checks the rest: lengths, empty names).
MetadataValue = str | int | float | bool | list[str] | None

if TYPE_CHECKING:
    # pydantic applies each rule at run time (rules.rule); to a type checker each is text.
    MetadataText = str
    NoNulText = str
    Username = str
    Title = str
    ModelName = str
    DirectionText = str
    PartText = str
else:
    #: Story-bible text: no NUL, and within the core's length for a value.
    MetadataText = rule(
        NO_NUL_PATTERN,
        "must not contain NUL characters (U+0000)",
        max_length=MAX_METADATA_VALUE,
    )
    NoNulText = rule(NO_NUL_PATTERN, "must not contain NUL characters (U+0000)")
    Username = rule(
        USERNAME_PATTERN,
        f"must be 1 to {USERNAME_MAX} letters, digits, dots, dashes or underscores",
        min_length=1,
        max_length=USERNAME_MAX,
        description="As registered (upper and lower case are the same account).",
        examples=["alice"],
    )
    Title = rule(
        TITLE_PATTERN,
        "must have words in it, without control characters (tabs, escapes) or invisible marks",
        min_length=1,
        max_length=MAX_TITLE,
        description=f"1 to {MAX_TITLE} characters of plain text (spaces around it are trimmed).",
        examples=["The Keeper's Letter"],
    )
    ModelName = rule(
        MODEL_PATTERN,
        "must be an Ollama model name, like gemma3:latest",
        max_length=MAX_MODEL_NAME,
    )
    DirectionText = rule(
        NO_NUL_PATTERN,
        "must not contain NUL characters (U+0000)",
        max_length=MAX_DIRECTION,
    )
    PartText = rule(
        NO_NUL_PATTERN,
        "must not contain NUL characters (U+0000)",
        max_length=MAX_PART,
    )
#: The same on the way in, where NaN and Infinity (which Python's JSON reader accepts) are
#: refused rather than stored as something no JSON client can read back.
MetadataInput = (
    MetadataText
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | list[NoNulText]
    | None
)

KEY_MESSAGE = "must have a name: a key with something besides spaces, and no NUL characters"


def _check_keys(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    for key in metadata or {}:
        check_pattern(key, NAME_PATTERN, KEY_MESSAGE)
    return metadata


class _Request(BaseModel):
    # A misspelt field is an error a writer can fix, not something silently ignored; and a
    # value is taken as the type the document states (0 is not false, "1" is not a number).
    model_config = ConfigDict(extra="forbid", strict=True)


# -- auth -----------------------------------------------------------------------------------


class LoginRequest(_Request):
    username: Username
    password: Text = Field(
        min_length=1, max_length=PASSWORD_MAX, examples=["correct horse battery staple"]
    )


class LoginResponse(BaseModel):
    """A bearer token for `Authorization: Bearer <token>` on every other call."""

    token: str
    token_type: Literal["bearer"] = "bearer"
    username: str


# -- sessions -------------------------------------------------------------------------------


class Part(BaseModel):
    """One part of a story: what the writer asked for and what the model wrote."""

    # tests/api/test_schemas.py keeps the fields the view's.
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    session_id: str
    seq: int
    direction: str
    content: str
    model_name: str | None
    state: PartState
    word_count: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime
    updated_at: datetime
    # The chosen take (what the story is), how many takes the part has, what made the chosen
    # one and the take it was made from (an edit's source).
    take: int = 1
    takes: int = 1
    take_kind: TakeKind = TakeKind.GENERATED
    take_from: int | None = None

    @classmethod
    def of(cls, part: PartView) -> Part:
        return cls.model_validate(part)


class SessionOut(BaseModel):
    """A story session (its parts are fetched with GET /api/langchain/sessions/{id})."""

    id: str = Field(examples=["6f1c2a9e-3b4d-4c8e-9a7b-1d2e3f4a5b6c"])
    title: str = Field(examples=["The Keeper's Letter"])
    status: SessionStatus
    model_name: str | None = Field(
        description="The Ollama model this story is written with (None: chosen at the first part)."
    )
    metadata: dict[str, MetadataValue] = Field(
        description="The story bible: genre, tone, premise, characters, style notes, ..."
    )
    part_count: int
    word_count: int
    version: int = Field(description="Goes up by one with every change to the session.")
    created_at: datetime
    updated_at: datetime
    paused_at: datetime | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = Field(
        default=None,
        description="When the story went to the trash (null: it is not in the trash).",
    )

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            id=session.id,
            title=session.title,
            status=session.status,
            model_name=session.model_name,
            metadata=session.session_metadata,
            part_count=session.part_count,
            word_count=session.word_count,
            version=session.version,
            created_at=session.created_at,
            updated_at=session.updated_at,
            paused_at=session.paused_at,
            completed_at=session.completed_at,
            deleted_at=session.deleted_at,
        )


class StartRequest(_Request):
    title: Title
    metadata: Annotated[dict[str, MetadataInput] | None, AfterValidator(_check_keys)] = Field(
        default=None,
        description="The story bible (genre, tone, premise, characters, style_notes, ...): "
        f"text (up to {MAX_METADATA_VALUE:,} characters), numbers, true or false, lists of "
        "text, or null (left out). Every key needs a name.",
        examples=[{"genre": "mystery", "tone": "quiet, salt-stung", "characters": ["Mara"]}],
        json_schema_extra={"propertyNames": {"minLength": 1, "pattern": NAME_PATTERN}},
    )
    model: ModelName | None = Field(
        default=None,
        description="An Ollama model name; left out, the first installed preferred model is "
        "chosen when the first part is written.",
        examples=["gemma3:latest"],
    )


class SessionPage(BaseModel):
    """One page of sessions, newest change first."""

    items: list[SessionOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null at the end."
    )


class SessionDetail(BaseModel):
    """A session with a page of its parts, counted from the end of the story."""

    session: SessionOut
    parts: list[Part] = Field(description="Oldest first.")
    has_more_before: bool = Field(description="Whether older parts exist before parts[0].")
    next_before: int | None = Field(
        default=None,
        description="Pass as `before` for the page of older parts; null when there are none.",
    )


# -- writing --------------------------------------------------------------------------------


class ContinueRequest(_Request):
    direction: DirectionText = Field(
        default="",
        description=f"What happens next, in the writer's words (may be empty; up to "
        f"{MAX_DIRECTION:,} characters).",
        examples=["Mara reads the letter aloud"],
    )
    regenerate: bool = Field(
        default=False,
        description="Write a part again instead of adding one after it: a new take of it (the "
        "takes it had are kept; see the part's versions).",
    )
    finish: bool = Field(
        default=False,
        description="Finish an interrupted part instead of adding one: the model goes on from "
        "where its text stops, and the text with the continuation becomes a new take of it (the "
        "interrupted take is kept; see the part's versions). Refused (409) for a part that "
        "ended normally, with `regenerate`, or with a `direction` (the part keeps its own).",
    )
    part: PartNumber | None = Field(
        default=None,
        description="With `regenerate` or `finish`: the part to write again or to finish (its "
        "seq); left out, the newest. Without either it is refused (409): a new part always goes "
        "at the end.",
        examples=[2],
    )


class ProgressEvent(BaseModel):
    """`event: progress`: a note before the text starts (older parts being folded into the
    story's summary, a model chosen for the story)."""

    message: str


class DeltaEvent(BaseModel):
    """`event: delta`: the text the model wrote since the last one (up to 25 a second)."""

    text: str


class SavedEvent(BaseModel):
    """`event: saved`: the text so far is checkpointed in the database (about once a second)."""

    seq: int
    state: PartState
    word_count: int


class DoneEvent(BaseModel):
    """`event: done`: the part is saved: `done`, or `interrupted` when the generation was
    stopped (the story paused elsewhere, or the client went away) with the text kept."""

    part: Part
    session: SessionOut
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_per_second: float | None
    done_reason: str | None = Field(
        default=None,
        description="stop or length (the model ended the part or filled its room), or limit "
        "(the part reached the most a part can hold and was ended there); for an interrupted "
        "part, cancel, paused or completed.",
    )
    message: str = Field(
        default="",
        description="Why the part ended, in words, when the writer should be told (limit); "
        "empty otherwise.",
    )


class ErrorEvent(BaseModel):
    """`event: error`: the generation stopped; what was written so far is kept in `part`."""

    code: str
    message: str
    part: Part | None = None


def _data_is_json_text(schema: dict[str, Any]) -> None:
    """On the wire `data` is one line of JSON text, so the document says that: a string whose
    content is JSON of the event's schema (OpenAPI 3.2's way of describing SSE data)."""
    data = schema["properties"]["data"]
    schema["properties"]["data"] = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": data,
    }


class _Frame(BaseModel):
    """One server-sent event: `event: <event>` then `data: <JSON>`."""

    model_config = ConfigDict(json_schema_extra=_data_is_json_text)


class ProgressFrame(_Frame):
    event: Literal["progress"]
    data: ProgressEvent


class DeltaFrame(_Frame):
    event: Literal["delta"]
    data: DeltaEvent


class SavedFrame(_Frame):
    event: Literal["saved"]
    data: SavedEvent


class DoneFrame(_Frame):
    event: Literal["done"]
    data: DoneEvent


class ErrorFrame(_Frame):
    event: Literal["error"]
    data: ErrorEvent


StreamFrame = ProgressFrame | DeltaFrame | SavedFrame | DoneFrame | ErrorFrame


# -- takes, undo, the trash -----------------------------------------------------------------


class Version(BaseModel):
    """One take of a part (a version of it): the model's, a regenerate's, or the writer's edit.
    The chosen one is what the story tells (shown, exported, sent to the model)."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    number: int = Field(description="The take's number within its part, from 1.")
    kind: TakeKind = Field(description="generated, edited or continued.")
    take_from: int | None = Field(
        default=None, description="The take this one was made from (an edit's source)."
    )
    chosen: bool
    direction: str
    content: str
    model_name: str | None
    state: PartState
    word_count: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    created_at: datetime
    updated_at: datetime


class PartVersions(BaseModel):
    """Every take of one part, by number."""

    session_id: str
    seq: int
    chosen: int = Field(description="The number of the chosen take.")
    versions: list[Version]


class EditRequest(_Request):
    """An edit of a part: a new take with this text and/or direction (what is left out stays as
    it is); the take it is made from is kept."""

    content: PartText | None = Field(
        default=None,
        description=f"The part's new text (up to {MAX_PART:,} characters).",
        examples=["Mara broke the seal and read the first line aloud."],
    )
    direction: DirectionText | None = Field(
        default=None,
        description=f"The part's new direction (up to {MAX_DIRECTION:,} characters).",
        examples=["Mara reads the letter aloud"],
    )


class HistoryStep(BaseModel):
    """What an undo or a redo did, and the story as it is now."""

    message: str = Field(examples=["Part 2 shows take 1 again."])
    session: SessionOut


class PartTrashed(BaseModel):
    """A part moved to the trash; restore it with POST /api/langchain/trash/parts/{trash_id}/
    restore."""

    trash_id: int
    session: SessionOut


class TrashedStory(BaseModel):
    """A story in the trash: restore it with POST /api/langchain/trash/sessions/{session_id}/
    restore, or delete it for good with DELETE /api/langchain/sessions/{session_id}?forever=true."""

    session_id: str
    title: str
    word_count: int
    deleted_at: datetime
    preview: str = Field(description="The first few words of its premise, if it has one.")

    @classmethod
    def of(cls, item: TrashItem) -> TrashedStory:
        return cls(
            session_id=item.session_id,
            title=item.title,
            word_count=item.word_count,
            deleted_at=item.deleted_at,
            preview=item.preview,
        )


class TrashedPart(BaseModel):
    """A part in the trash (with all its takes): restore it with POST /api/langchain/trash/
    parts/{trash_id}/restore, or delete it for good with DELETE on that part's trash URL."""

    trash_id: int = Field(description="The part's number in the trash.")
    session_id: str = Field(description="The story it was deleted from.")
    title: str = Field(description="That story's title.")
    seq: int = Field(description="Where the part stood in its story.")
    word_count: int
    deleted_at: datetime
    preview: str = Field(description="The first few words, to recognise it by.")

    @classmethod
    def of(cls, item: TrashItem) -> TrashedPart:
        assert item.part_id is not None and item.seq is not None
        return cls(
            trash_id=item.part_id,
            session_id=item.session_id,
            title=item.title,
            seq=item.seq,
            word_count=item.word_count,
            deleted_at=item.deleted_at,
            preview=item.preview,
        )


class TrashList(BaseModel):
    """The writer's trash, each list most recently deleted first."""

    stories: list[TrashedStory]
    parts: list[TrashedPart]
    trash_days: int = Field(
        description="Days a story or part stays in the trash before it is deleted for good."
    )


# -- export ---------------------------------------------------------------------------------


ExportFormat = Literal["md", "txt", "json", "epub", "all"]


class SaveRequest(_Request):
    formats: Annotated[list[ExportFormat], Field(min_length=1)] | None = Field(
        default=None,
        description="Which files to write: md (story.md and one part-NNN.md per part), txt "
        "(story.txt), json (story.json, which `storyterm import` reads back), epub "
        "(story.epub), or all. Left out: the server's export_formats setting (md, json and "
        "epub unless it says otherwise).",
        examples=[["md", "json"], ["all"]],
    )


class SaveResponse(BaseModel):
    """What was written, on the machine the API runs on."""

    folder: str = Field(description="The story's export folder (absolute path).")
    files: list[str] = Field(description="Every file of this export in the folder.")
    removed: list[str] = Field(
        default_factory=list,
        description=(
            "Older files removed from the folder: part files of parts that no longer exist, "
            "and the files of formats not asked for this time."
        ),
    )
    part_count: int
    word_count: int


# -- models ---------------------------------------------------------------------------------


class ModelOut(BaseModel):
    """One model installed in Ollama."""

    name: str = Field(examples=["gemma3:latest"])
    size: int | None = Field(default=None, description="Bytes on disk.")
    family: str | None = None
    parameter_size: str | None = Field(default=None, examples=["4.3B"])
    quantization: str | None = Field(default=None, examples=["Q4_K_M"])
    context_length: int | None = Field(
        default=None, description="The model's context window, when already looked up."
    )
    can_write: bool = Field(description="False for embedding-only models.")


class ModelsResponse(BaseModel):
    models: list[ModelOut]
    default: str | None = Field(
        description="The model a new story without one gets (the first installed of the "
        "preferences, gemma3 then mistral-small3.1); null when no model can write.",
        examples=["gemma3:latest"],
    )


# -- health ---------------------------------------------------------------------------------


class ComponentHealth(BaseModel):
    state: str = Field(examples=["online"])
    detail: str | None = Field(default=None, description="Why, when it is not online.")


class DatabaseHealth(ComponentHealth):
    backend: str | None = Field(default=None, examples=["sqlite"])


class HealthResponse(BaseModel):
    """`ok`: everything answers; `degraded`: the cache, live events or Ollama does not (stories
    still open, list and export); `unavailable`: the database does not."""

    status: Literal["ok", "degraded", "unavailable"]
    database: DatabaseHealth
    cache: ComponentHealth
    ollama: ComponentHealth
    events: ComponentHealth = Field(
        description="Live events: `live` (a probe went through Redis and came back), "
        "`database_watch` (Redis is set up but the probe did not come back: windows watch the "
        "database every few seconds), `off` (no Redis set up), `unknown` (the database is not "
        "open).",
        examples=[{"state": "live", "detail": "changes reach every window as they happen"}],
    )
