"""Models that think before they answer (qwen3, deepseek-r1, gpt-oss): what they can do, what
Ollama is sent for a story's thinking setting, and the thinking kept out of the story's text.

Ollama lists "thinking" in /api/show's `capabilities` for such a model and takes `think` with a
chat: true or false, or for gpt-oss a level ("low", "medium", "high"). A newer Ollama streams
the thinking in a field of its own (langchain_ollama hands it over as
`additional_kwargs["reasoning_content"]` when `reasoning` is set); an older one, or a model
asked nothing, writes it into the reply between `<think>` and `</think>`. Either way the
thinking never enters the part: `ThinkSplitter` takes the tags out of the streamed text, tags
split across chunks included, and a `<think>` that never closes keeps everything after it out.

A story's setting (core/sampling.py's THINK: off, on, low, medium, high; unset is off) is
checked against the model when it is set (`think_refusal`) and again when a part is written,
where a setting the model cannot follow is not sent and the writer is told (`think_request`):
a part is not refused for a setting that only this model cannot honour (the story may have
switched models since).

Cheap to import: no LangChain, no ollama.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storyterm.core.memory.state import MAX_THINKING
from storyterm.core.sampling import THINK, THINK_LEVELS, clean_think
from storyterm.core.text import scrub
from storyterm.errors import InvalidTransition, StorytermError

if TYPE_CHECKING:
    from storyterm.core.generation.catalog import ModelCatalog
    from storyterm.core.generation.run import Run
    from storyterm.core.service import SessionService
    from storyterm.core.views import Session

OPEN = "<think>"
CLOSE = "</think>"
#: Families (and name stems) of models that take a thinking level rather than on/off.
_LEVEL_FAMILIES = ("gptoss", "gpt-oss")
_TAGS = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)


@dataclass(frozen=True)
class ThinkingTraits:
    """What a model can do about thinking, as Ollama's /api/show says."""

    #: It thinks ("thinking" in capabilities); None when Ollama lists no capabilities at all
    #: (an older Ollama), so nobody knows.
    thinks: bool | None = None
    #: It takes a level (low, medium, high) rather than on/off (gpt-oss).
    levels: bool = False

    @classmethod
    def from_show(cls, name: str, capabilities: Any, family: Any) -> ThinkingTraits:
        caps = [str(c) for c in capabilities] if isinstance(capabilities, (list, tuple)) else []
        thinks = ("thinking" in caps) if caps else None
        stem = name.split(":", 1)[0].split("/")[-1].lower()
        levels = bool(thinks) and (
            str(family or "").lower() in _LEVEL_FAMILIES or stem.startswith(_LEVEL_FAMILIES)
        )
        return cls(thinks=thinks, levels=levels)


def think_refusal(choice: str | None, model: str, traits: ThinkingTraits) -> str | None:
    """Why `model` cannot follow the thinking setting `choice` (None: it can, or Ollama does
    not say, or the setting is off)."""
    if choice in (None, "off") or traits.thinks is None:
        return None
    if not traits.thinks:
        return (
            f"{model} does not think before it answers (Ollama lists no thinking capability "
            "for it); models that do: qwen3, deepseek-r1, gpt-oss."
        )
    if choice in THINK_LEVELS and not traits.levels:
        return (
            f"{model} thinks or does not, it takes no level: use on (or off) rather than "
            f"{choice}. Levels (low, medium, high) are for gpt-oss."
        )
    return None


def think_request(choice: str | None, model: str, traits: ThinkingTraits) -> tuple[str | None, str]:
    """What is sent for the story's setting `choice` with `model`, in the setting's words
    (None: `think` is not sent; `wire_think` turns it into Ollama's value), and a note for the
    writer when the setting cannot be followed as it is."""
    choice = choice or "off"
    if traits.thinks is False:
        # A model that cannot think is sent nothing (Ollama refuses `think` for it).
        refused = think_refusal(choice, model, traits)
        return None, f"{refused} This part is written without thinking." if refused else ""
    if choice == "off":
        # Unknown (an older Ollama): leave it to the model; thinking in tags is taken out.
        return ("off" if traits.thinks else None), ""
    if choice in THINK_LEVELS and traits.thinks and not traits.levels:
        return "on", f"{model} takes no thinking level, so it thinks without one ({choice})."
    if choice == "on" and traits.levels:
        return "medium", ""  # a level model takes levels (true is its middle one)
    return choice, ""


def wire_think(choice: str | None) -> bool | str | None:
    """Ollama's `think` (ChatOllama's `reasoning`) for a sent setting (think_request's)."""
    if choice is None:
        return None
    return {"off": False, "on": True}.get(choice, choice)


async def check_setting(catalog: ModelCatalog, model: str | None, changes: Any) -> str:
    """Refuse (InvalidTransition, saying why) a thinking setting in `changes` that the story's
    `model` cannot follow, as Ollama's /api/show tells; returns a note when that could not be
    asked (the setting is then kept, and a part written with a model that cannot follow it is
    written without, saying so)."""
    if not isinstance(changes, Mapping):
        return ""  # set_options refuses it, saying the shape
    key = next((k for k in changes if isinstance(k, str) and k.strip().lower() == THINK), None)
    if key is None or changes[key] is None:
        return ""
    choice = clean_think(changes[key])
    if choice == "off":
        return ""
    if not model:
        return "The story has no model yet: whether it can think is checked when it has one."
    try:
        traits = await catalog.thinking(model)
    except StorytermError as exc:
        return (
            f"Whether {model} can think could not be asked ({exc.message}); thinking is set to "
            f"{choice}, and a part is written without it if {model} cannot."
        )
    # A good value the story's model cannot follow: refused for the story as it stands (the
    # same value is fine with another model), like a move its status does not allow.
    if refused := think_refusal(choice, model, traits):
        if traits.thinks:  # a level for a model without levels: the words say what to use
            raise InvalidTransition(refused)
        raise InvalidTransition(
            f"{refused} Switch the story to one of those first, or leave thinking off."
        )
    return ""


def set_options(
    sessions: SessionService, catalog: ModelCatalog, user_id: int, session_id: str, changes: Any
) -> tuple[Session, str]:
    """`SessionService.set_options` with the thinking setting checked against the story's
    model first (`check_setting`); returns the story and the note. Called from a thread
    without an event loop (the CLI, a TUI worker, a synchronous API route)."""
    session = sessions.get(user_id, session_id)
    note = asyncio.run(check_setting(catalog, session.model_name, changes)) if changes else ""
    return sessions.set_options(user_id, session_id, changes), note


async def prepare(run: Run) -> list[str]:
    """Set what the part and a summary send as `think` for the story's setting and model;
    returns a note for the writer when the setting cannot be followed."""
    try:
        traits = await run.catalog.thinking(run.model)
    except StorytermError:  # the model was found a moment ago: say nothing, send as set
        traits = ThinkingTraits()
    sent, note = think_request(run.sampling.think, run.model, traits)
    run.sampling = dataclasses.replace(run.sampling, think=sent)
    run.summary_think = "off" if traits.thinks else None
    return [note] if note else []


def record(run: Run) -> dict[str, Any] | None:
    """What is kept of the part's thinking (memory's LAST_THINKING; None: it did not think)."""
    thoughts = run.reply.thoughts
    text = thoughts.thinking
    if not text or run.part is None:
        return None
    return {"seq": run.part.seq, "model": run.model, "text": text, "cut": thoughts.cut}


def only_thought(run: Run) -> str:
    """What the writer is told of a reply that was all thinking ("" when it did not think)."""
    if run.reply.thoughts.started_at is None:
        return ""
    room = (
        "filled its reply length with thinking"
        if run.reply.done_reason == "length"
        else ("only thought")
    )
    return (
        f"{run.model} {room} and wrote nothing of the part. Give parts "
        "more room (Reply length, m), or set thinking off or lower, and try again."
    )


def strip_thinking(text: str) -> str:
    """`text` without its `<think>...</think>` blocks (a summary written by a thinking model)."""
    return _TAGS.sub("", text).strip() if OPEN in text else text


def _held_back(text: str, tag: str) -> int:
    """How many characters at the end of `text` could be the start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Splits a streamed reply into the story's text and the model's thinking, a chunk at a
    time: the thinking field, and `<think>...</think>` in the text (a tag split across chunks
    is held back until it is whole)."""

    def __init__(self) -> None:
        self._inside = False
        self._held = ""  # text that may be the start of a tag
        self._answered = False  # a word of the answer has come
        self._lead = ""  # whitespace before the first word
        self._thinking: list[str] = []
        self._size = 0
        #: time.monotonic() of the first and the latest piece of thinking (None: none yet).
        self.started_at: float | None = None
        self.last_at: float | None = None
        #: The model is thinking now (its latest piece was thinking, no answer since).
        self.active = False

    def feed(self, content: str, thinking: Any = None) -> str:
        """The story text in the next chunk (`content`), its thinking kept aside."""
        if isinstance(thinking, str) and thinking:
            self._think(thinking)
        text = self._held + content
        self._held = ""
        out: list[str] = []
        while text:
            tag = CLOSE if self._inside else OPEN
            at = text.find(tag)
            if at < 0:
                keep = _held_back(text, tag)
                self._held = text[len(text) - keep :] if keep else ""
                self._take(text[: len(text) - keep], out)
                break
            self._take(text[:at], out)
            text = text[at + len(tag) :]
            self._inside = not self._inside
        return "".join(out)

    def flush(self) -> str:
        """What was held back at the end of the reply (never a whole tag: it is text)."""
        held, self._held = self._held, ""
        if self._inside:
            if held:
                self._think(held)
            return ""
        out: list[str] = []
        self._take(held, out)
        if not self._answered and self.started_at is None:
            out.append(self._lead)  # a reply of only whitespace stays as it was
            self._lead = ""
        return "".join(out)

    @property
    def pending(self) -> str:
        """Text held back in case it starts a tag (part of the text if the reply ends here)."""
        return "" if self._inside else self._held

    def _take(self, piece: str, out: list[str]) -> None:
        if not piece:
            return
        if self._inside:
            self._think(piece)
            return
        if not self._answered:
            # Whitespace before the first word waits: it is the text's when the model did not
            # think, and the blank lines after its thinking when it did (not the story's).
            if not piece.strip():
                self._lead += piece
                return
            lead, self._lead = self._lead, ""
            piece = lead + piece if self.started_at is None else piece.lstrip()
            self._answered = True
        self.active = False
        out.append(piece)

    def _think(self, piece: str) -> None:
        now = time.monotonic()
        if self.started_at is None:
            self.started_at = now
        self.last_at = now
        self.active = True
        piece = scrub(piece)
        self._thinking.append(piece)
        self._size += len(piece)
        if self._size > 2 * MAX_THINKING:  # keep memory bounded on a very long think
            kept = "".join(self._thinking)[-MAX_THINKING:]
            self._thinking, self._size = [kept], len(kept)

    @property
    def thinking(self) -> str:
        """The thinking so far, at most MAX_THINKING characters (its end)."""
        text = "".join(self._thinking).strip()
        return text[-MAX_THINKING:] if len(text) > MAX_THINKING else text

    @property
    def cut(self) -> bool:
        return len("".join(self._thinking).strip()) > MAX_THINKING
