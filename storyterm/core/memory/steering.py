"""The writer's steering of the model: the story's instructions (the system prompt) and the
author's note (a few words, "tense, rain, Mara is lying", put into every prompt at a depth
among the recent parts until the writer changes it).

Both live in `session.memory` (keys in core/memory/state.py) and travel with it in story.json
and its import; a change is heard by other windows as the story bible changing. The default
instructions are spelled here, once, so that every front end can show them. Cheap to import
(no LangChain at module level): the CLI, the API and the TUI's bible screen check and show
steering with it; the prompt (core/memory/prompt.py) asks it for the system text and where the
note goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from storyterm.core.basics import (
    DEFAULT_NOTE_DEPTH,
    MAX_INSTRUCTIONS,
    MAX_NOTE,
    MAX_NOTE_DEPTH,
)
from storyterm.core.memory.state import INSTRUCTIONS, NOTE, NOTE_DEPTH, MemoryState
from storyterm.core.text import refuse_unstorable
from storyterm.errors import InvalidInput

if TYPE_CHECKING:
    from langchain_core.messages import HumanMessage

    from storyterm.core.memory.prompt import TokenEstimator

DEFAULT_INSTRUCTIONS = (
    "You are a novelist writing a long story together with its author, one part at a time. "
    "Write the next part of the story in vivid, polished prose that continues naturally from "
    "where the story stands, and follow the author's direction for it. Keep names, facts, "
    "voice and tone consistent with the story bible and with everything that happened before. "
    "Write only the story itself: no title, no part number, no notes or commentary."
)

#: The note may take at most this share of the prompt (a longer one is cut at its end), so a
#: long note in a small window still leaves room for the story.
NOTE_SHARE = 0.15
#: How the note reads to the model: the writer's words, framed as an aside, not a part.
NOTE_FRAME = "[Author's note for what comes next; do not write it into the story: {note}]"

DEPTH_RULE = (
    f"a whole number from 0 (right before your direction) to {MAX_NOTE_DEPTH} (before the "
    f"last {MAX_NOTE_DEPTH} parts)"
)
NAMES = (NOTE, NOTE_DEPTH, INSTRUCTIONS)


@dataclass(frozen=True)
class Steering:
    """A story's steering as a writer sees it: the note (empty: none), the depth it goes in
    at, and the instructions the model gets (the story's own, else the default)."""

    note: str
    note_depth: int
    instructions: str
    own_instructions: bool

    @classmethod
    def of(cls, memory: Any) -> Steering:
        return cls.of_state(MemoryState.from_memory(memory))

    @classmethod
    def of_state(cls, state: MemoryState) -> Steering:
        return cls(
            note=state.note,
            note_depth=DEFAULT_NOTE_DEPTH if state.note_depth is None else state.note_depth,
            instructions=state.instructions or DEFAULT_INSTRUCTIONS,
            own_instructions=state.instructions is not None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            NOTE: self.note,
            NOTE_DEPTH: self.note_depth,
            INSTRUCTIONS: self.instructions,
            "instructions_default": not self.own_instructions,
        }


# -- checking what the writer gives ---------------------------------------------------------


def clean_steering(changes: Any) -> dict[str, Any]:
    """`changes` (note, note_depth, instructions: a value, or None to go back to the default:
    no note, depth 3, the default instructions) checked, as the memory values to store (None:
    remove the key). Empty text is None too, and so are instructions equal to the default."""
    if not isinstance(changes, Mapping):
        raise InvalidInput(
            'The steering must be an object, like {"note": "rain", "note_depth": 2}.'
        )
    cleaned: dict[str, Any] = {}
    for name, value in changes.items():
        if name == NOTE:
            cleaned[NOTE] = clean_note(value)
        elif name == NOTE_DEPTH:
            cleaned[NOTE_DEPTH] = clean_note_depth(value)
        elif name == INSTRUCTIONS:
            cleaned[INSTRUCTIONS] = clean_instructions(value)
        else:
            raise InvalidInput(
                f"{str(name)[:40]!r} is not something a story is steered by: use "
                f"{', '.join(NAMES)}."
            )
    return cleaned


def _text(value: Any, what: str, limit: int, advice: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text.")
    text = refuse_unstorable(value, what).strip()
    if len(text) > limit:
        raise InvalidInput(
            f"{what} is {len(text):,} characters long; keep it to {limit:,} or fewer{advice}."
        )
    return text or None


def clean_note(value: Any) -> str | None:
    return _text(
        value,
        "The author's note",
        MAX_NOTE,
        " (lasting facts belong in the story bible)",
    )


def clean_instructions(value: Any) -> str | None:
    text = _text(value, "The instructions", MAX_INSTRUCTIONS, "")
    return None if text == DEFAULT_INSTRUCTIONS else text


def clean_note_depth(value: Any) -> int | None:
    """A depth typed (text of digits) or sent (a whole number); None goes back to the
    default."""
    if value is None:
        return None
    if isinstance(value, str):
        typed = value.strip()
        if not typed:
            return None
        if typed.isascii() and typed.isdigit() and len(typed) <= 4:
            value = int(typed)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NOTE_DEPTH:
        shown = repr(value)[:40]
        raise InvalidInput(f"The note's depth is {DEPTH_RULE}, not {shown}.")
    return value


# -- the prompt -----------------------------------------------------------------------------


def instructions_text(state: MemoryState) -> str:
    """What the system message starts with: the story's instructions, else the default."""
    return state.instructions or DEFAULT_INSTRUCTIONS


def note_message(
    state: MemoryState, prompt_tokens: int, estimator: TokenEstimator
) -> HumanMessage | None:
    """The note as the message that goes among the parts (None without a note), cut at its end
    to NOTE_SHARE of a prompt of `prompt_tokens`."""
    from langchain_core.messages import HumanMessage

    note = state.note.strip()
    if not note:
        return None
    room = max(16, int(prompt_tokens * NOTE_SHARE))
    message = HumanMessage(NOTE_FRAME.format(note=note))
    if estimator([message]) > room:
        frame = estimator([HumanMessage(NOTE_FRAME.format(note=""))])
        chars = max(1, int((room - frame) / estimator.ratio * 4) - 2)
        message = HumanMessage(NOTE_FRAME.format(note=note[:chars].rstrip() + "…"))
    return message


M = TypeVar("M")


def insert_note(messages: list[M], note: M | None, depth: int) -> tuple[list[M], int | None]:
    """`messages` (the system message, pairs of direction and part, the direction last) with
    the note before the last `depth` parts among them (before the first part when fewer were
    sent); and the depth it went in at (None: no note)."""
    if note is None:
        return messages, None
    pairs = max(0, (len(messages) - 2) // 2)
    at = min(depth, pairs)
    index = len(messages) - 1 - 2 * at
    return [*messages[:index], note, *messages[index:]], at


def note_depth(state: MemoryState) -> int:
    return DEFAULT_NOTE_DEPTH if state.note_depth is None else state.note_depth
