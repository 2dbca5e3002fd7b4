"""/api/langchain/sessions/{id}/options: a story's sampling options, read and changed.

The request and answer bodies are made from core/sampling.py's OPTIONS, so each option's name,
meaning and bounds are spelled there once and stated in the OpenAPI document as they are
checked. A bad value is the API's 422 in its error shape, saying the range as the CLI does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.routes.sessions import SessionId
from storyterm.core.memory.state import MemoryState
from storyterm.core.sampling import (
    OPTIONS,
    THINK,
    THINK_CHOICES,
    THINK_MEANING,
    Option,
    clean_think,
    clean_value,
    rows_json,
    story_rows,
)
from storyterm.errors import InvalidInput

router = APIRouter(prefix="/api/langchain/sessions", tags=["sessions"])


class OptionValue(BaseModel):
    """The value one option has for the story, and where it comes from."""

    value: int | float | None = Field(
        description="What the story is written with; null: not sent, so the model's own (the "
        "reply length: a quarter of the context window; the seed: a new one each time).",
    )
    source: Literal["story", "default", "unset"] = Field(
        description="story: the story's own value; default: the server's setting "
        "(config.toml or STORYTERM_*); unset: neither sets it."
    )


def _value_type(spec: Option) -> Any:
    """A JSON number (40.0 is the integer 40) checked by the core, whose refusal says the whole
    range; the bounds are stated in the document (and never reached: the check comes first)."""

    def checked(value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return clean_value(spec.name, value)
            except InvalidInput:
                pass
        raise PydanticCustomError("sampling", spec.refusal(value))

    low_open, low, high = spec.low_open, spec.low, spec.high
    bounds = Field(gt=low, le=high) if low_open else Field(ge=low, le=high)
    kind = int if spec.whole else float
    return Annotated[kind, bounds, BeforeValidator(checked)]


class ThinkValue(BaseModel):
    """Whether the story's model thinks before it writes."""

    value: Literal[THINK_CHOICES] | None = Field(  # type: ignore[valid-type]
        description="off, on, or a level (low, medium, high: gpt-oss); null: not set, so off."
    )
    source: Literal["story", "unset"] = Field(description="story: the story's own; unset: off.")


def _think_type() -> Any:
    """off, on or a level, in any case, checked by the core (which says the choices)."""

    def checked(value: Any) -> Any:
        try:
            return clean_think(value if isinstance(value, str) else object())
        except InvalidInput as exc:
            raise PydanticCustomError("think", exc.message) from None

    return Annotated[Literal[THINK_CHOICES], BeforeValidator(checked)]


_THINK_DESCRIPTION = (
    f"Thinking: {THINK_MEANING}; one of off, on, low, medium, high. A model that cannot do "
    "it is a 409 when Ollama can say so. null: off again."
)


def _description(spec: Option) -> str:
    return f"{spec.label}: {spec.meaning}; {spec.rule}. null: use the default again."


OptionsChange: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "OptionsChange",
    __config__=ConfigDict(extra="forbid", strict=True),
    __doc__="The options to change: a value sets the story's own, null goes back to the "
    "default, an option left out stays as it is.",
    **{
        **{
            name: (_value_type(spec) | None, Field(default=None, description=_description(spec)))
            for name, spec in OPTIONS.items()
        },
        THINK: (_think_type() | None, Field(default=None, description=_THINK_DESCRIPTION)),
    },
)

OptionValues: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "OptionValues",
    __doc__="Every option, in Ollama's names.",
    **{
        **{
            name: (
                OptionValue,
                Field(description=f"{spec.label}: {spec.meaning} ({spec.rule})."),
            )
            for name, spec in OPTIONS.items()
        },
        THINK: (ThinkValue, Field(description=f"Thinking: {THINK_MEANING}.")),
    },
)


class OptionsOut(BaseModel):
    """A story's sampling options: sent to Ollama with each of its parts."""

    session_id: str
    options: OptionValues  # type: ignore[valid-type]
    note: str = Field(
        default="",
        description="What the writer should know about the change (whether the model can "
        "think could not be asked of Ollama, for one); empty when nothing.",
    )


def _answer(runtime: Any, session: Any, note: str = "") -> OptionsOut:
    own = MemoryState.from_memory(session.memory).options
    shown = rows_json(story_rows(own, runtime.settings), own)
    return OptionsOut(session_id=session.id, options=OptionValues.model_validate(shown), note=note)


@router.get(
    "/{session_id}/options",
    summary="Read a story's sampling options",
    description="Each option's value and whether it is the story's own or the default.",
    response_model=OptionsOut,
    responses=errors(401, 404, 503),
)
def get_options(session_id: SessionId, account: AccountDep, runtime: RuntimeDep) -> OptionsOut:
    return _answer(runtime, runtime.sessions.get(account.id, session_id))


@router.patch(
    "/{session_id}/options",
    summary="Change a story's sampling options",
    description=(
        "Sets the options given (null: back to the default) and keeps the others. Every value "
        "is checked before any is kept. 409 for a completed story (reopen it first), or for "
        "a think the story's model cannot follow (Ollama's capabilities say so)."
    ),
    response_model=OptionsOut,
    responses=errors(401, 404, 409, 503),
)
def change_options(
    session_id: SessionId,
    body: OptionsChange,  # type: ignore[valid-type]
    account: AccountDep,
    runtime: RuntimeDep,
) -> OptionsOut:
    from storyterm.core.generation import thinking

    changes = {name: getattr(body, name) for name in body.model_fields_set}  # type: ignore[attr-defined]
    session, note = thinking.set_options(
        runtime.sessions, runtime.models, account.id, session_id, changes
    )
    return _answer(runtime, session, note)
