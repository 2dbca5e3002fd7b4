"""What `Storyteller.generate()` yields while it writes a part: the text as it comes, the
checkpoints, notes for the writer, and how the generation ended (core/generation/storyteller.py
describes the order)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storyterm.core.basics import PartState
from storyterm.core.views import Part, Session
from storyterm.errors import StorytermError

if TYPE_CHECKING:
    from storyterm.core.recovery import Recovered


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the part being written."""

    text: str


@dataclass(frozen=True)
class Saved:
    """The part was checkpointed with the text so far."""

    part: Part


@dataclass(frozen=True)
class Finished:
    """The generation ended and the part is saved (done, or interrupted when stopped)."""

    part: Part
    session: Session
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_per_second: float | None
    #: Why it ended: Ollama's "stop" (the model ended the part) or "length" (it filled the
    #: reply room), or "limit" (the part reached the most a part can hold, text.MAX_PART, and
    #: storyterm ended it there); for an interrupted part, "cancel", "paused" or "completed".
    done_reason: str | None = None
    #: What the writer should be told about how the part ended (empty: nothing unusual).
    message: str = ""

    @property
    def interrupted(self) -> bool:
        return self.part.state is PartState.INTERRUPTED


@dataclass(frozen=True)
class Failed:
    """The generation could not go on; what was written is kept in `part` (None: nothing)."""

    error: StorytermError
    part: Part | None
    #: The text written before the failure (also in `part` when it could be saved).
    text: str = ""
    #: The recovery file the text went to because its final save failed, with where the text
    #: belongs and why the save failed (core/recovery.py); None when the text was saved, or
    #: not even that file could be written (the error's message says so).
    recovery: Recovered | None = None

    @property
    def kept_in(self) -> Path | None:
        """The recovery file alone, for a front end that only names it."""
        return self.recovery.path if self.recovery is not None else None


@dataclass(frozen=True)
class Thinking:
    """The model is thinking before it writes (its thinking is not the part's text): sent when
    it starts and about once a second while it goes on."""

    #: Seconds since it started thinking.
    seconds: float


@dataclass(frozen=True)
class Progress:
    """A note for the writer before or between the streamed text."""

    message: str


Event = TextDelta | Saved | Finished | Failed | Progress | Thinking
