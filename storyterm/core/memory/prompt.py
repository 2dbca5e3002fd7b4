"""Story memory: the prompt for the next part, built from the stored story and fitted to the
model's context window.

The persisted story *is* the memory (DESIGN.md, "The model"). A prompt is:

1. a system message: the story's instructions (its own or the default: core/memory/steering.py),
   the story bible (title, genre, tone, premise, characters, style notes) and the rolling
   summary of older parts;
2. as many recent parts verbatim as fit, each as the writer's direction (HumanMessage) and the
   part (AIMessage), read from the end of the story a page at a time, with the author's note
   among them at its depth (counted in the budget);
3. the writer's direction for the new part.

It is fitted with langchain_core's `trim_messages` and a token estimate
(`count_tokens_approximately` scaled by a ratio calibrated against Ollama's
`prompt_eval_count`) to `num_ctx` minus room for the reply. When the verbatim tail no longer
fits, the oldest unsummarised parts are folded into the rolling summary by the model (the
summarisation chain: ChatPromptTemplate | chat model | StrOutputParser).

`session.memory` holds (keys below): the summary, the last part it covers, whether an edit made
it stale, the fixed num_ctx, the calibration ratio, token estimates, and a compact record of the
last prompt sent (enough to rebuild it exactly from the stored parts).

This module imports LangChain; only the storyteller loads it, when a generation is asked for.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

# What session.memory holds, and its reader (tolerant of any stored value), live in
# memory_state so that code without LangChain can use them; they are re-exported here.
from storyterm.core.basics import BibleField, field_label
from storyterm.core.memory import steering
from storyterm.core.memory.lore import LoreBook, LoreReport, plan_lore
from storyterm.core.memory.state import (  # noqa: F401 - re-exported
    LAST_ESTIMATE,
    LAST_EVAL_COUNT,
    LAST_PROMPT,
    NUM_CTX,
    NUM_CTX_MODEL,
    STALE,
    SUMMARY,
    SUMMARY_THROUGH,
    TOKEN_RATIO,
    TOKENS,
    MemoryState,
)
from storyterm.core.views import Part, Session

#: The human message for a part the writer gave no direction for.
CONTINUE = "Continue the story."
#: Ratio used before Ollama has reported a prompt size for this story: the approximate count
#: (4 characters a token) undercounts some tokenizers and most non-English text.
UNCALIBRATED_RATIO = 1.25
#: Headroom on a calibrated ratio (prompts vary; the template adds a few tokens).
CALIBRATED_HEADROOM = 1.05
#: Parts read per database round trip when walking back from the end of the story.
PAGE = 16
#: After a fold, the verbatim tail should use at most this share of its budget, so folding
#: happens every several parts rather than at every generation.
TAIL_AFTER_FOLD = 0.5
#: The system message (instructions, bible, summary) may take at most this share of the prompt.
SYSTEM_SHARE = 0.6

#: The default instructions (the story's own replace them: core/memory/steering.py).
INSTRUCTIONS = steering.DEFAULT_INSTRUCTIONS

SUMMARY_SYSTEM = (
    "You keep the running summary of a long story for its author. Merge the new parts into the "
    "summary so far. Keep every name, place, relationship, promise, secret, open thread and "
    "turning point, in the order they happened; leave out style and dialogue. Write plain "
    "past-tense prose paragraphs of at most {max_words} words. Reply with the updated summary "
    "only."
)
SUMMARY_HUMAN = (
    "{bible}\n\n"
    "# Summary so far ({covered})\n{summary}\n\n"
    "# New parts to fold in ({new_range})\n{parts}\n\n"
    "Write the updated summary of parts 1–{last_seq}."
)


def summary_prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", SUMMARY_SYSTEM), ("human", SUMMARY_HUMAN)])


def summary_chain(llm: BaseChatModel) -> Runnable[dict[str, Any], str]:
    """The summarisation chain: prompt | model | text."""
    return summary_prompt() | llm | StrOutputParser()


# -- the prompt budget ---------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How num_ctx is shared: the reply's room, a safety margin, and the prompt."""

    num_ctx: int
    reply_tokens: int
    margin: int

    @classmethod
    def for_num_ctx(cls, num_ctx: int, reply_length: int | None = None) -> Budget:
        """The shares for `num_ctx`. The reply gets a quarter of it (at most 2,048 tokens), or
        the writer's reply length (the num_predict option) up to half of it: the prompt is
        planned in what is left, so prompt and reply never outgrow the window together."""
        if reply_length is None:
            reply = max(128, min(2048, num_ctx // 4))
        else:
            reply = max(1, min(reply_length, num_ctx // 2))
        margin = max(32, num_ctx // 64)
        return cls(num_ctx=num_ctx, reply_tokens=reply, margin=margin)

    @property
    def prompt(self) -> int:
        return self.num_ctx - self.reply_tokens - self.margin

    @property
    def summary_tokens(self) -> int:
        """The most the rolling summary may grow to."""
        return max(96, self.prompt // 4)


class TokenEstimator:
    """count_tokens_approximately, scaled by the story's calibrated ratio (a token counter
    that trim_messages accepts)."""

    def __init__(self, ratio: float | None = None) -> None:
        self.calibrated = ratio is not None
        self.ratio = ratio * CALIBRATED_HEADROOM if ratio is not None else UNCALIBRATED_RATIO

    @staticmethod
    def raw(messages: Sequence[BaseMessage]) -> int:
        return count_tokens_approximately(messages)

    def __call__(self, messages: Sequence[BaseMessage]) -> int:
        return math.ceil(count_tokens_approximately(messages) * self.ratio)

    def text(self, text: str) -> int:
        return math.ceil((len(text) / 4.0) * self.ratio)


def calibrate(old: float | None, raw_estimate: int, observed: int | None) -> float | None:
    """A new ratio from Ollama's prompt_eval_count for a prompt estimated at `raw_estimate`.

    It rises at once (an undercount overflows the window) and falls slowly (a lower count can
    also mean Ollama reused a cached prefix and reported only the new tokens)."""
    if not observed or raw_estimate <= 0:
        return old
    seen = observed / raw_estimate
    if not 0.3 <= seen <= 4.0:
        return old
    if old is None or seen >= old:
        return round(seen, 4)
    return round(old * 0.8 + seen * 0.2, 4)


# -- messages -------------------------------------------------------------------------------


def bible_text(session: Session) -> str:
    meta = session.session_metadata or {}
    lines = [f"# Story bible\nTitle: {session.title}"]
    known = [field.value for field in BibleField]
    for key in known:
        value = meta.get(key)
        if value not in (None, "", []):
            lines.append(f"{field_label(key)}: {_as_text(value)}")
    for key, value in meta.items():
        if key not in known and value not in (None, "", []):
            lines.append(f"{field_label(key)}: {_as_text(value)}")
    return "\n".join(lines)


def summary_section(state: MemoryState) -> str:
    if not state.summary.strip() or state.summary_through_seq <= 0:
        return ""
    covered = "part 1" if state.summary_through_seq == 1 else f"parts 1–{state.summary_through_seq}"
    return f"# The story so far (summary of {covered})\n{state.summary.strip()}"


def system_message(
    session: Session, state: MemoryState, max_tokens: int, estimator: TokenEstimator
) -> tuple[SystemMessage, bool]:
    """The system message; cut to `max_tokens` when the instructions, bible and summary are
    that long (the second value says whether it was cut)."""
    instructions = steering.instructions_text(state)
    bible = bible_text(session)
    summary = summary_section(state)
    text = "\n\n".join(part for part in (instructions, bible, summary) if part)
    if estimator([SystemMessage(text)]) <= max_tokens:
        return SystemMessage(text), False
    # Too long: keep the instructions (their start, in at most half the room), then share the
    # rest between the bible (its start) and the summary (its end: the most recent events).
    instructions = clip_text(instructions, max_tokens // 2, estimator, keep="start")
    room = max(32, max_tokens - estimator([SystemMessage(instructions)]) - 8)
    summary_room = min(estimator.text(summary), room // 2) if summary else 0
    bible = clip_text(bible, room - summary_room, estimator, keep="start")
    if summary:
        summary = clip_text(summary, summary_room, estimator, keep="end")
    text = "\n\n".join(part for part in (instructions, bible, summary) if part)
    return SystemMessage(text), True


def clip_text(text: str, max_tokens: int, estimator: TokenEstimator, *, keep: str) -> str:
    """`text` cut to about `max_tokens` by the estimate, keeping its start or its end."""
    if estimator.text(text) <= max_tokens:
        return text
    chars = max(0, int(max_tokens / estimator.ratio * 4) - 2)
    if keep == "start":
        return text[:chars].rstrip() + "…"
    return "…" + text[len(text) - chars :].lstrip() if chars else "…"


def direction_text(direction: str) -> str:
    return direction.strip() or CONTINUE


def part_messages(part: Part, keep_chars: int | None = None) -> list[BaseMessage]:
    """A stored part as the exchange that produced it: direction, then the text."""
    content = part.content
    if keep_chars is not None and keep_chars < len(content):
        content = "…" + (content[len(content) - keep_chars :] if keep_chars > 0 else "")
    return [HumanMessage(direction_text(part.direction)), AIMessage(content)]


def _usable(part: Part) -> bool:
    return bool(part.content.strip())


def as_pairs(messages: Sequence[BaseMessage]) -> list[tuple[str, str]]:
    """Messages as (role, text) with Ollama's role names: what a context viewer shows."""
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [(roles.get(m.type, m.type), _content_text(m)) for m in messages]


def prompt_digest(messages: Sequence[BaseMessage]) -> str:
    digest = hashlib.sha256()
    for role, text in as_pairs(messages):
        digest.update(role.encode() + b"\x00" + text.encode() + b"\x01")
    return digest.hexdigest()[:16]


# -- planning a prompt ----------------------------------------------------------------------

#: Reads up to `limit` parts just before seq `before` (oldest first), like
#: SessionService.parts_before bound to one writer and session.
ReadBefore = Callable[[int, int], list[Part]]


@dataclass
class PromptPlan:
    """The prompt for the next part, and what did not fit."""

    messages: list[BaseMessage]
    estimated: int
    raw_estimate: int
    budget: Budget
    #: Seqs of the parts sent verbatim (None when none are).
    first_seq: int | None
    last_seq: int | None
    #: Parts after the summary that did not fit: fold parts up to this seq into the summary.
    fold_through: int | None
    #: seq -> characters kept, for a part too long to send whole (its end is sent).
    cut: dict[int, int]
    tokens: dict[str, int]
    system_cut: bool
    #: The author's note as sent, and before how many of the parts sent (None: no note).
    note: str | None = None
    note_depth: int | None = None
    #: Which lore entries went in, and which were left out for want of room.
    lore: LoreReport = field(default_factory=LoreReport)

    def record(self) -> dict[str, Any]:
        """What session.memory keeps to rebuild this prompt exactly from the stored parts."""
        record = {
            "system": _content_text(self.messages[0]),
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "cut": {str(k): v for k, v in self.cut.items()},
            "direction": _content_text(self.messages[-1]),
            "digest": prompt_digest(self.messages),
        }
        if self.note is not None:
            record.update(note=self.note, note_depth=self.note_depth)
        return record


def plan_prompt(
    session: Session,
    state: MemoryState,
    direction: str,
    new_seq: int,
    budget: Budget,
    estimator: TokenEstimator,
    read_before: ReadBefore,
    lore: LoreBook | None = None,
) -> PromptPlan:
    """Fit bible + summary + active lore + the newest unsummarised parts + the direction into
    the budget.

    Reads only the parts it can use, walking back from `new_seq` a page at a time, and stops
    at the budget or at the end of what the summary covers. The lore block ends the system
    message: it is fitted whole entry by whole entry to its own share (never clipped with the
    bible and summary), and it sits closest to the recent parts that brought it in.
    """
    through = min(state.summary_through_seq, new_seq - 1)
    final = HumanMessage(direction_text(direction))
    # The author's note goes in among the parts once they are fitted; its room is kept first.
    note = steering.note_message(state, budget.prompt, estimator)
    note_cost = estimator([note]) if note is not None else 0
    system_room = min(
        int(budget.prompt * SYSTEM_SHARE), budget.prompt - estimator([final]) - note_cost - 32
    )
    lore_text, lore_report = plan_lore(
        lore, direction, new_seq, budget.num_ctx, system_room // 2, estimator.text, read_before
    )
    system_room -= lore_report.tokens
    system, system_cut = system_message(session, state, max(64, system_room), estimator)
    if lore_text:
        system = SystemMessage(f"{_content_text(system)}\n\n{lore_text}")
    fixed = estimator([system, final]) + note_cost
    tail_budget = max(0, budget.prompt - fixed)

    kept, overflow_part = _newest_that_fit(new_seq, through, tail_budget, estimator, read_before)
    overflow_seq = overflow_part.seq if overflow_part is not None else None

    cut: dict[int, int] = {}
    if not kept and overflow_part is not None:
        # The newest part alone is larger than the room: send its end.
        newest = overflow_part
        room = tail_budget - estimator(part_messages(newest, keep_chars=0))
        keep_chars = max(0, int(room / estimator.ratio * 4) - 16)
        if keep_chars > 0:
            cut[newest.seq] = keep_chars
            kept.append((newest, estimator(part_messages(newest, keep_chars))))
            overflow_seq = newest.seq - 1 if newest.seq - 1 > through else None

    chronological = list(reversed(kept))
    history: list[BaseMessage] = []
    for part, _cost in chronological:
        history.extend(part_messages(part, cut.get(part.seq)))
    fitted = trim_messages(
        [system, *history, final],
        max_tokens=budget.prompt - note_cost,
        token_counter=estimator,
        strategy="last",
        include_system=True,
        start_on="human",
        allow_partial=False,
    )
    if (
        len(fitted) < 2
        or not isinstance(fitted[0], SystemMessage)
        or fitted[-1].content != final.content
    ):
        # Nothing but the essentials fits (a huge direction): send those and let the
        # length checks of the caller decide.
        fitted = [system, final]
    kept_pairs = (len(fitted) - 2) // 2
    dropped = chronological[: len(chronological) - kept_pairs]
    chronological = chronological[len(chronological) - kept_pairs :]
    if dropped:
        overflow_seq = max(overflow_seq or 0, dropped[-1][0].seq)
    fitted, note_at = steering.insert_note(fitted, note, steering.note_depth(state))

    fold_through = None
    if overflow_seq is not None and overflow_seq > through:
        fold_through = _fold_point(overflow_seq, chronological, tail_budget)

    estimated = estimator(fitted)
    return PromptPlan(
        messages=fitted,
        estimated=estimated,
        raw_estimate=TokenEstimator.raw(fitted),
        budget=budget,
        first_seq=chronological[0][0].seq if chronological else None,
        last_seq=chronological[-1][0].seq if chronological else None,
        fold_through=fold_through,
        cut={seq: n for seq, n in cut.items() if chronological and seq >= chronological[0][0].seq},
        tokens={
            "budget": budget.prompt,
            "num_ctx": budget.num_ctx,
            "reply": budget.reply_tokens,
            "system": estimator([system]),
            "summary": estimator.text(state.summary) if state.summary else 0,
            "tail": sum(cost for _, cost in chronological),
            "direction": estimator([final]),
            "note": note_cost,
            "parts_verbatim": len(chronological),
            "lore": lore_report.tokens,
        },
        system_cut=system_cut,
        note=_content_text(note) if note is not None else None,
        note_depth=note_at,
        lore=lore_report,
    )


def _newest_that_fit(
    new_seq: int,
    through: int,
    tail_budget: int,
    estimator: TokenEstimator,
    read_before: ReadBefore,
) -> tuple[list[tuple[Part, int]], Part | None]:
    """The unsummarised parts before `new_seq` that fit `tail_budget`, newest first with each
    one's estimated cost, read back a page at a time; and the first part that did not fit
    (None when every part after the summary fits)."""
    kept: list[tuple[Part, int]] = []
    used = 0
    before = new_seq
    while before - 1 > through:
        page = read_before(before, min(PAGE, before - 1 - through))
        if not page:
            break
        for part in reversed(page):
            if part.seq <= through:
                return kept, None
            if not _usable(part):
                continue
            cost = estimator(part_messages(part))
            if used + cost > tail_budget:
                return kept, part
            kept.append((part, cost))
            used += cost
        before = page[0].seq
    return kept, None


def _fold_point(overflow_seq: int, chronological: list[tuple[Part, int]], tail_budget: int) -> int:
    """How far to fold: the overflow and, for hysteresis, the older kept parts beyond
    TAIL_AFTER_FOLD of the room, but never the newest part."""
    fold_through = overflow_seq
    keep_room = tail_budget * TAIL_AFTER_FOLD
    running = 0
    for index, (part, cost) in enumerate(reversed(chronological)):
        running += cost
        if index > 0 and running > keep_room:
            return max(fold_through, part.seq)
    return fold_through


def rebuild_prompt(record: dict[str, Any], read_before: ReadBefore) -> list[tuple[str, str]]:
    """The prompt `PromptPlan.record()` describes, rebuilt from the stored parts."""
    messages: list[BaseMessage] = [SystemMessage(str(record.get("system", "")))]
    first, last = record.get("first_seq"), record.get("last_seq")
    cut = {int(k): int(v) for k, v in (record.get("cut") or {}).items()}
    if isinstance(first, int) and isinstance(last, int) and last >= first:
        for part in read_before(last + 1, last - first + 1):
            if part.seq >= first and _usable(part):
                messages.extend(part_messages(part, cut.get(part.seq)))
    messages.append(HumanMessage(str(record.get("direction", CONTINUE))))
    note = HumanMessage(str(record["note"])) if "note" in record else None
    messages, _ = steering.insert_note(messages, note, int(record.get("note_depth") or 0))
    return as_pairs(messages)


# -- folding into the summary ---------------------------------------------------------------


@dataclass
class FoldChunk:
    """The next parts to fold into the summary, as inputs for the summarisation chain."""

    first_seq: int
    last_seq: int
    inputs: dict[str, Any]


def next_fold_chunk(
    session: Session,
    state: MemoryState,
    fold_through: int,
    budget: Budget,
    estimator: TokenEstimator,
    read_before: ReadBefore,
) -> FoldChunk | None:
    """The oldest unsummarised parts (up to `fold_through`) that fit one summarisation call
    with the bible and the summary so far; None when there is nothing left to fold."""
    through = state.summary_through_seq
    if fold_through <= through:
        return None
    summary_tokens = budget.summary_tokens
    # The summarisation call shares the same num_ctx (no model reload) and keeps room for a
    # summary of up to summary_tokens.
    room = budget.num_ctx - budget.margin - summary_tokens
    bible = clip_text(bible_text(session), budget.num_ctx // 5, estimator, keep="start")
    state = MemoryState(
        summary=clip_text(state.summary, int(summary_tokens * 1.2), estimator, keep="end"),
        summary_through_seq=through,
    )
    base_inputs = _fold_inputs(bible, state, "", through + 1, through + 1, summary_tokens)
    base = estimator(summary_prompt().format_messages(**base_inputs))
    room_for_parts = max(256, room - base)

    blocks: list[str] = []
    used = 0
    first_seq = last_seq = None
    after = through
    while after < fold_through:
        limit = min(PAGE, fold_through - after)
        page = read_before(after + 1 + limit, limit)
        page = [p for p in page if after < p.seq <= fold_through]
        if not page:
            break
        full = False
        for part in page:
            block = _fold_block(part)
            cost = estimator.text(block) + 2
            if blocks and used + cost > room_for_parts:
                full = True
                break
            if not blocks and cost > room_for_parts:
                # One part larger than a whole call: fold its beginning and its end.
                keep = max(200, int(room_for_parts / estimator.ratio * 4) - 40)
                block = block[: keep // 2] + "\n[…]\n" + block[-keep // 2 :]
                cost = estimator.text(block) + 2
            blocks.append(block)
            used += cost
            first_seq = part.seq if first_seq is None else first_seq
            last_seq = part.seq
        after = page[-1].seq
        if full:
            break
    if first_seq is None or last_seq is None:
        return None
    inputs = _fold_inputs(bible, state, "\n\n".join(blocks), first_seq, last_seq, summary_tokens)
    return FoldChunk(first_seq=first_seq, last_seq=last_seq, inputs=inputs)


def _fold_inputs(
    bible: str, state: MemoryState, parts: str, first: int, last: int, summary_tokens: int
) -> dict[str, Any]:
    through = state.summary_through_seq
    return {
        "bible": bible,
        "covered": "nothing yet" if through <= 0 else f"parts 1–{through}",
        "summary": state.summary.strip() or "(none yet: this is the start of the story)",
        "new_range": f"part {first}" if first == last else f"parts {first}–{last}",
        "parts": parts,
        "last_seq": last,
        "max_words": max(60, int(summary_tokens * 0.7)),
    }


def _fold_block(part: Part) -> str:
    direction = f"(Direction: {part.direction.strip()})\n" if part.direction.strip() else ""
    return f"## Part {part.seq}\n{direction}{part.content.strip() or '(no text)'}"


# -- helpers --------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _content_text(message: BaseMessage) -> str:
    content = message.content
    return content if isinstance(content, str) else message.text
