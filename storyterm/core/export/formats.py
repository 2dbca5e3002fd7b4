"""The pieces of the text formats: part files and story.md, story.txt, the story.json
records, and the title block every format opens with. Pure functions; no files."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from msgspec import structs

from storyterm.core.basics import BibleField
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.core.text import export_safe
from storyterm.core.views import LoreEntry, Part, Session, Take


def state_note(part: Part) -> str:
    if part.state is PartState.INTERRUPTED:
        return " (interrupted)"
    if part.state is PartState.CUT:
        return " (cut short)"
    if part.state is PartState.STREAMING:
        return " (still being written when exported)"
    return ""


def _quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _one_line(text: str | None) -> str:
    """`export_safe` text on one line (a title, a model name, a label)."""
    return " ".join(export_safe(text).split())


def part_markdown(part: Part, level: int) -> str:
    lines = [f"{'#' * level} Part {part.seq}{state_note(part)}", ""]
    direction = export_safe(part.direction)
    if direction:
        lines += [_quote(direction), ""]
    body = export_safe(part.content).strip("\n")
    if body:
        lines += [body, ""]
    return "\n".join(lines)


def part_text(part: Part) -> str:
    heading = f"Part {part.seq}{state_note(part)}"
    lines = [heading, "-" * len(heading), ""]
    direction = export_safe(part.direction)
    if direction:
        lines += [_quote(direction), ""]
    body = export_safe(part.content).strip("\n")
    if body:
        lines += [body, ""]
    return "\n".join(lines)


def _date(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if when else ""


def _detail_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


#: The metadata key of the story's author: set in the story (story.json's metadata, an
#: import), else the writer's name (`with_author`). EPUB's dc:creator and the title block.
AUTHOR = "author"


def with_author(session: Session, author: str | None) -> Session:
    """`session` as the title block and the EPUB show it: by `author` (the writer's name) when
    the story names no author of its own. story.json keeps the story as stored."""
    meta = session.session_metadata
    named = meta.get(AUTHOR)
    if not author or (isinstance(named, str) and named.strip()):
        return session
    return structs.replace(session, session_metadata={AUTHOR: author, **meta})


def title_facts(
    session: Session, parts: int, words: int, models: list[str]
) -> list[tuple[str, str]]:
    """The title block: the story bible, then model, status, dates and size. Every stored
    text in it is export_safe: no terminal control reaches a file a writer may `cat`."""
    meta = session.session_metadata
    facts: list[tuple[str, str]] = []
    known = [AUTHOR, *(field.value for field in BibleField)]
    order = [k for k in known if k in meta] + [k for k in meta if k not in known]
    for key in order:
        value = export_safe(_detail_value(meta[key])).strip()
        label = _one_line(str(key).replace("_", " ")).capitalize()
        if value and label:
            facts.append((label, value))
    shown_models = models or ([session.model_name] if session.model_name else [])
    if session.model_name and session.model_name not in shown_models:
        shown_models = [session.model_name, *shown_models]
    shown_models = [name for name in map(_one_line, shown_models) if name]
    if shown_models:
        facts.append(("Model" if len(shown_models) == 1 else "Models", ", ".join(shown_models)))
    facts.append(("Status", session.status.value))
    facts.append(("Created", _date(session.created_at)))
    if session.status is SessionStatus.PAUSED and session.paused_at:
        facts.append(("Paused", _date(session.paused_at)))
    if session.completed_at:
        facts.append(("Completed", _date(session.completed_at)))
    facts.append(("Parts", f"{parts:,}"))
    facts.append(("Words", f"{words:,}"))
    return facts


def markdown_head(session: Session, parts: int, words: int, models: list[str]) -> str:
    lines = [f"# {_one_line(session.title)}", ""]
    for label, value in title_facts(session, parts, words, models):
        first, *more = value.splitlines() or [""]
        lines.append(f"- **{label}:** {first}")
        lines += [f"  {line}".rstrip() for line in more]
    lines += ["", "---", "", ""]
    if not parts:
        lines += ["*No parts yet.*", "", ""]
    return "\n".join(lines)


def text_head(session: Session, parts: int, words: int, models: list[str]) -> str:
    title = _one_line(session.title)
    lines = [title, "=" * min(len(title), 72), ""]
    for label, value in title_facts(session, parts, words, models):
        first, *more = value.splitlines() or [""]
        lines.append(f"{label}: {first}")
        lines += [f"    {line}".rstrip() for line in more]
    lines += ["", ""]
    if not parts:
        lines += ["No parts yet.", ""]
    return "\n".join(lines)


_SURROGATE = re.compile("[\ud800-\udfff]")


def to_json(value: Any, **kwargs: Any) -> str:
    """JSON for story.json: the exact text, non-ASCII letters as they are, except for lone
    surrogates (an old row may hold one; UTF-8 cannot): those are written as \\uXXXX escapes,
    which read back as the same text (and which an import then scrubs)."""
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "title": session.title,
        "status": session.status.value,
        "model_name": session.model_name,
        "metadata": session.session_metadata,
        "memory": session.memory,
        "created_at": iso(session.created_at),
        "updated_at": iso(session.updated_at),
        "paused_at": iso(session.paused_at),
        "completed_at": iso(session.completed_at),
    }


def lore_json(entry: LoreEntry) -> dict[str, Any]:
    """A lorebook entry as story.json keeps it (core/export/story_file.py reads it back)."""
    return {
        "name": entry.name,
        "keys": list(entry.keys),
        "content": entry.content,
        "priority": entry.priority,
        "always_on": entry.always_on,
        "enabled": entry.enabled,
        "regex": entry.regex,
        "case_sensitive": entry.case_sensitive,
    }


def _take_text(take: Part | Take) -> dict[str, Any]:
    return {
        "direction": take.direction,
        "content": take.content,
        "model_name": take.model_name,
        "state": take.state.value,
        "word_count": take.word_count,
        "prompt_tokens": take.prompt_tokens,
        "completion_tokens": take.completion_tokens,
        "created_at": iso(take.created_at),
        "updated_at": iso(take.updated_at),
    }


def part_json(part: Part, takes: Sequence[Take] = ()) -> dict[str, Any]:
    """A part as story.json holds it: the chosen take's text (what the story is), its number
    and kind, and every other take of the part in `takes` (by number)."""
    return {
        "seq": part.seq,
        **_take_text(part),
        "take": part.take,
        "take_kind": part.take_kind.value,
        "take_from": part.take_from,
        "takes": [
            {
                "number": take.number,
                "kind": take.kind.value,
                "take_from": take.take_from,
                **_take_text(take),
            }
            for take in takes
            if take.number != part.take
        ],
    }
