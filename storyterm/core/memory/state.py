"""What `session.memory` holds, its keys spelled once, and the one tolerant reader of it.

`session.memory` is JSON the storyteller writes (and, under OPTIONS, the writer's own sampling
options: core/sampling.py checks them; under NOTE, NOTE_DEPTH and INSTRUCTIONS the writer's
steering: core/memory/steering.py checks it), but anything can end up there: an imported
story.json, an older storyterm, a hand edit of the database. A value of the wrong type or out
of range is never trusted: `MemoryState.from_memory` treats it exactly as if it were absent
(a crash in every `continue` of a story is far worse than a summary rebuilt or a window size
asked again), and `well_formed` keeps only the keys and values this reader would use (what an
import stores).

Cheap to import (no LangChain): the import path and the TUI read these names too;
core/memory/prompt.py builds the prompt from a `MemoryState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from storyterm.core.basics import MAX_INSTRUCTIONS, MAX_MODEL_NAME, MAX_NOTE, MAX_NOTE_DEPTH
from storyterm.core.memory.lore import MAX_ENTRIES, MAX_NAME, LoreSettings
from storyterm.core.sampling import Sampling
from storyterm.core.text import scrub

# -- the keys ------------------------------------------------------------------------------
SUMMARY = "summary"
SUMMARY_THROUGH = "summary_through_seq"
STALE = "stale"
NUM_CTX = "num_ctx"
NUM_CTX_MODEL = "num_ctx_model"
TOKEN_RATIO = "token_ratio"
TOKENS = "tokens"
LAST_ESTIMATE = "last_prompt_tokens_estimated"
LAST_EVAL_COUNT = "last_prompt_eval_count"
LAST_PROMPT = "last_prompt"
#: What the model thought before it wrote the last part (a model that thinks; the context
#: viewer shows it): {"seq": the part, "model", "text": at most MAX_THINKING characters, its
#: end, "cut": whether there was more}.
LAST_THINKING = "last_thinking"
#: The writer's own sampling options for the story (core/sampling.py): only those set.
OPTIONS = "options"
#: The writer's steering (core/memory/steering.py): the author's note, the depth it goes in
#: at, and the story's own instructions (the system prompt; absent: the default).
NOTE = "note"
NOTE_DEPTH = "note_depth"
INSTRUCTIONS = "instructions"
#: The lorebook's settings for the story (core/memory/lore.py: LoreSettings), and which
#: entries the last prompt used and left out (LoreReport.record()).
LORE = "lore"
LAST_LORE = "last_lore"

# -- what a value may be ---------------------------------------------------------------------
#: A context window below this is not one storyterm can write in (the max_num_ctx setting's
#: own lower bound); above the upper bound it is not a window any model has.
MIN_NUM_CTX = 512
MAX_NUM_CTX = 1 << 24
#: calibrate() only ever records a ratio in this range.
MIN_TOKEN_RATIO = 0.3
MAX_TOKEN_RATIO = 4.0
#: Part numbers and token counts are stored as 32-bit integers (PostgreSQL's integer).
MAX_COUNT = 2**31 - 1
#: The summary is written by the model (or the writer); no real one comes near this.
MAX_SUMMARY = 1_000_000
#: The most thinking kept (core/generation/thinking.py keeps its end).
MAX_THINKING = 20_000
#: Room for the token estimates kept for the context viewer (about eight today).
MAX_TOKEN_ENTRIES = 64
_LAST_PROMPT_TEXTS = ("system", "direction", "digest", "note")
_LAST_PROMPT_SEQS = ("first_seq", "last_seq")
#: Where the last prompt's note went (parts after it), when it had one.
_LAST_PROMPT_NOTE_DEPTH = "note_depth"


def count(value: Any, low: int = 0, high: int = MAX_COUNT) -> int | None:
    """`value` when it is a whole number (not a bool, not a float) in [low, high], else None."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _text(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _ratio(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    ratio = float(value)
    if not math.isfinite(ratio) or not MIN_TOKEN_RATIO <= ratio <= MAX_TOKEN_RATIO:
        return None
    return ratio


def _tokens(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, int] = {}
    for key, number in value.items():
        if len(out) >= MAX_TOKEN_ENTRIES:
            break
        if isinstance(key, str) and len(key) <= 64 and (n := count(number, 0, 2**53)) is not None:
            out[key] = n
    return out


def _last_prompt(value: Any) -> dict[str, Any] | None:
    """The record of the last prompt (PromptPlan.record()) when every piece of it has its
    shape; a record with any piece wrong is no record (the context viewer rebuilds nothing)."""
    if not isinstance(value, dict):
        return None
    record: dict[str, Any] = {}
    for key in _LAST_PROMPT_TEXTS:
        if key in value:
            if _text(value[key], MAX_SUMMARY) is None:
                return None
            record[key] = value[key]
    for key in _LAST_PROMPT_SEQS:
        seq = value.get(key)
        if seq is not None and count(seq, 1) is None:
            return None
        record[key] = seq
    if _LAST_PROMPT_NOTE_DEPTH in value:
        depth = count(value[_LAST_PROMPT_NOTE_DEPTH], 0, MAX_NOTE_DEPTH)
        if depth is None:
            return None
        record[_LAST_PROMPT_NOTE_DEPTH] = depth
    cut = value.get("cut") or {}
    if not isinstance(cut, dict):
        return None
    record["cut"] = {}
    for key, chars in cut.items():
        digits = isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 10
        if not digits or count(int(key), 1) is None or count(chars) is None:
            return None
        record["cut"][key] = chars
    return record


def _last_lore(value: Any) -> dict[str, Any] | None:
    """Which lore entries the last prompt used and left out, when every piece has its shape:
    {"used": [[id, name], ...], "left_out": [...], "tokens": n}."""
    if not isinstance(value, dict) or count(value.get("tokens")) is None:
        return None
    record: dict[str, Any] = {"tokens": value["tokens"]}
    for key in ("used", "left_out"):
        items = value.get(key)
        if not isinstance(items, list) or len(items) > MAX_ENTRIES:
            return None
        pairs = []
        for item in items:
            ok = isinstance(item, list) and len(item) == 2
            if not ok or count(item[0], 1) is None or _text(item[1], MAX_NAME) is None:
                return None
            pairs.append((item[0], item[1]))
        record[key] = pairs
    return record


def _last_lore_json(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "used": [[i, scrub(n)] for i, n in record["used"]],
        "left_out": [[i, scrub(n)] for i, n in record["left_out"]],
        "tokens": record["tokens"],
    }


def _last_thinking(value: Any) -> dict[str, Any] | None:
    """The record of the last part's thinking when every piece has its shape."""
    if not isinstance(value, dict):
        return None
    seq, text, model = value.get("seq"), value.get("text"), value.get("model")
    if count(seq, 1) is None or _text(text, MAX_THINKING) is None:
        return None
    if model is not None and _text(model, MAX_MODEL_NAME) is None:
        return None
    return {"seq": seq, "model": model, "text": text, "cut": value.get("cut") is True}


@dataclass
class MemoryState:
    """session.memory, typed; every value of the wrong type or out of range reads as absent."""

    summary: str = ""
    summary_through_seq: int = 0
    stale: bool = False
    num_ctx: int | None = None
    num_ctx_model: str | None = None
    token_ratio: float | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    last_prompt_tokens_estimated: int | None = None
    last_prompt_eval_count: int | None = None
    last_prompt: dict[str, Any] | None = None
    last_thinking: dict[str, Any] | None = None
    options: Sampling = field(default_factory=Sampling)
    note: str = ""
    note_depth: int | None = None
    instructions: str | None = None
    lore: LoreSettings = field(default_factory=LoreSettings)
    last_lore: dict[str, Any] | None = None

    @classmethod
    def from_memory(cls, memory: Any) -> MemoryState:
        if not isinstance(memory, dict):
            return cls()
        return cls(
            summary=_text(memory.get(SUMMARY), MAX_SUMMARY) or "",
            summary_through_seq=count(memory.get(SUMMARY_THROUGH)) or 0,
            stale=memory.get(STALE) is True,
            num_ctx=count(memory.get(NUM_CTX), MIN_NUM_CTX, MAX_NUM_CTX),
            num_ctx_model=_text(memory.get(NUM_CTX_MODEL), MAX_MODEL_NAME) or None,
            token_ratio=_ratio(memory.get(TOKEN_RATIO)),
            tokens=_tokens(memory.get(TOKENS)),
            last_prompt_tokens_estimated=count(memory.get(LAST_ESTIMATE), 0, 2**53),
            last_prompt_eval_count=count(memory.get(LAST_EVAL_COUNT), 0, 2**53),
            last_prompt=_last_prompt(memory.get(LAST_PROMPT)),
            last_thinking=_last_thinking(memory.get(LAST_THINKING)),
            options=Sampling.stored(memory.get(OPTIONS)),
            note=_text(memory.get(NOTE), MAX_NOTE) or "",
            note_depth=count(memory.get(NOTE_DEPTH), 0, MAX_NOTE_DEPTH),
            instructions=_text(memory.get(INSTRUCTIONS), MAX_INSTRUCTIONS) or None,
            lore=LoreSettings.stored(memory.get(LORE)),
            last_lore=_last_lore(memory.get(LAST_LORE)),
        )


def _scrubbed(record: dict[str, Any]) -> dict[str, Any]:
    return {k: scrub(v) if isinstance(v, str) else v for k, v in record.items()}


def well_formed(memory: Any) -> dict[str, Any]:
    """The part of `memory` that `MemoryState.from_memory` would use, as JSON: unknown keys and
    values of the wrong shape are left out, text is scrubbed of what no database can store.
    What an import keeps of a story file's memory."""
    state = MemoryState.from_memory(memory)
    out: dict[str, Any] = {}
    if state.summary:
        out[SUMMARY] = scrub(state.summary)
    if state.summary_through_seq:
        out[SUMMARY_THROUGH] = state.summary_through_seq
    if isinstance(memory, dict) and isinstance(memory.get(STALE), bool):
        out[STALE] = state.stale
    if state.num_ctx is not None:
        out[NUM_CTX] = state.num_ctx
    if state.num_ctx_model is not None:
        out[NUM_CTX_MODEL] = scrub(state.num_ctx_model)
    if state.token_ratio is not None:
        out[TOKEN_RATIO] = state.token_ratio
    if state.tokens:
        out[TOKENS] = {scrub(k): v for k, v in state.tokens.items()}
    if state.last_prompt_tokens_estimated is not None:
        out[LAST_ESTIMATE] = state.last_prompt_tokens_estimated
    if state.last_prompt_eval_count is not None:
        out[LAST_EVAL_COUNT] = state.last_prompt_eval_count
    out.update(_records(state))
    return out | _writer_settings(state)


def _records(state: MemoryState) -> dict[str, Any]:
    """The records of the last prompt and the last thinking, scrubbed."""
    out: dict[str, Any] = {}
    if state.last_prompt is not None:
        record = state.last_prompt
        out[LAST_PROMPT] = {
            **{k: scrub(record[k]) for k in _LAST_PROMPT_TEXTS if k in record},
            **{k: record[k] for k in _LAST_PROMPT_SEQS},
            **{k: record[k] for k in (_LAST_PROMPT_NOTE_DEPTH,) if k in record},
            "cut": dict(record["cut"]),
        }
    if state.last_thinking is not None:
        out[LAST_THINKING] = _scrubbed(state.last_thinking)
    return out


def _writer_settings(state: MemoryState) -> dict[str, Any]:
    """The writer's own settings for the story (options, lore), and the last lore report."""
    out: dict[str, Any] = {}
    if options := state.options.values():
        out[OPTIONS] = options
    if lore := state.lore.values():
        out[LORE] = lore
    if state.last_lore is not None:
        out[LAST_LORE] = _last_lore_json(state.last_lore)
    out.update(_steering(state))
    return out


def _steering(state: MemoryState) -> dict[str, Any]:
    """The writer's steering as well_formed keeps it (only what is set)."""
    out: dict[str, Any] = {}
    if state.note:
        out[NOTE] = scrub(state.note)
    if state.note_depth is not None:
        out[NOTE_DEPTH] = state.note_depth
    if state.instructions is not None:
        out[INSTRUCTIONS] = scrub(state.instructions)
    return out
