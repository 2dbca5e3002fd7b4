"""Reading a story.json back in: the whole file checked before anything is written.

`read_story_file` turns a file into a `StoryFile` or raises InvalidInput saying which file,
which field and what to do; no input reaches the database (or a traceback) unchecked:

- the file itself: a regular file, at most MAX_IMPORT_BYTES, UTF-8, JSON, nested no deeper
  than a story.json ever is, with the storyterm marker and a format version this one reads;
- every field's type (strictly: no number where text goes, no text or true where a count
  goes), every count within what the database holds (32-bit), every date a real date that
  stays one in UTC, the session's details (`metadata`) by the same rules as a writer's;
- text storyterm did not type itself is *scrubbed* (core/text.py): NUL and lone surrogates
  become U+FFFD, so one file imports the same on SQLite and PostgreSQL (which refuses U+0000);
- every take of a part comes back (`take`, `take_kind`, `take_from` and the `takes` list of
  the others, numbered 1 to n with the chosen one); a file from before takes has none of
  these, and each of its parts is its own first take;
- `memory` is derived data: only the keys and values the story memory would use are kept
  (memory_state.well_formed), so a damaged memory never makes a story that cannot continue;
  the story's sampling options travel in it, each value out of its range left unset.

`import_story` hands the checked story to SessionService, which writes it in one go. No
LangChain, and no database access of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from storyterm.core.basics import MAX_MODEL_NAME, MAX_PART
from storyterm.core.lorebook import BadLore, lore_from_file
from storyterm.core.memory.lore import LoreDraft
from storyterm.core.memory.state import MAX_COUNT, well_formed
from storyterm.core.service import (
    SessionService,
    clean_direction,
    clean_metadata,
    clean_title,
)
from storyterm.core.storage.imports import ImportSource
from storyterm.core.storage.parts import NewPart, NewTake
from storyterm.core.storage.tables import PartState, SessionStatus, TakeKind
from storyterm.core.text import scrub, scrub_json
from storyterm.core.views import Session
from storyterm.errors import InvalidInput

#: The marker that says "this JSON file is a storyterm story", and the layout version of it.
FORMAT_MARKER = "storyterm-story"
FORMAT_VERSION = 1
#: The biggest story.json read. A 1,000-part, 500,000-word story is ~4 MB; parsing a file
#: costs up to ~15 times its size in memory when it is all tiny values, so this is a bound on
#: memory too.
MAX_IMPORT_BYTES = 64 * 1024 * 1024
#: story.json is nested 5 levels deep (story > session > memory > last_prompt > cut); this
#: leaves room for what a future version adds.
MAX_DEPTH = 16
#: The longest session id (a UUID is 36 characters), as the story_sessions columns hold it.
MAX_SESSION_ID = 36
#: Dates are kept in this range of years (UTC): far from the ends of what a date can hold,
#: so no date arithmetic on an imported story can overflow.
MIN_YEAR, MAX_YEAR = 1900, 9000

REDO = "Export the story again, or use a story.json that storyterm exported."
FIX = "Correct that in the file, or export the story again."


@dataclass(frozen=True)
class StoryFile:
    """Everything an import needs, checked; text scrubbed of what no database can store."""

    title: str
    status: SessionStatus
    model_name: str | None
    metadata: dict[str, Any]
    memory: dict[str, Any]
    created_at: datetime | None
    paused_at: datetime | None
    completed_at: datetime | None
    parts: list[NewPart]
    #: The id of the session the file was exported from; None when it gives none that could
    #: be one (a file written by hand).
    source_id: str | None = None
    #: The story's lorebook (a file from before lorebooks has none).
    lore: tuple[LoreDraft, ...] = ()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what makes the story this story: its title, its story bible and the
        text of every take of every part, with which take is chosen. Dates, counts, status,
        model names and memory are left out: they differ between two exports of one story (a
        copy's export keeps the text, not the dates of its import) or are derived."""
        parts = [
            {
                "take": part.take,
                "takes": sorted(
                    [
                        [part.take, part.direction, part.content],
                        *([t.number, t.direction, t.content] for t in part.other_takes),
                    ]
                ),
            }
            for part in self.parts
        ]
        what = {"title": self.title, "metadata": self.metadata, "parts": parts}
        text = json.dumps(what, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("ascii")).hexdigest()


class _Bad(Exception):
    """A field that does not hold up: where it is, and what is wrong with it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where
        self.problem = problem


def read_story_file(source: Path) -> StoryFile:
    """The story in `source` (a story.json), checked whole; InvalidInput if any of it is not
    what storyterm writes."""
    data = _load(source)
    try:
        return _story(data)
    except _Bad as bad:
        problem = bad.problem.rstrip(".")
        raise InvalidInput(f"{source} is damaged: {bad.where}: {problem}. {FIX}") from None


# -- the file --------------------------------------------------------------------------------


def _load(source: Path) -> dict[str, Any]:
    """The story file's JSON object: a regular, readable UTF-8 file of a sane size, JSON, ours,
    not nested deeper than a story is, of a format version this storyterm reads."""
    text = _read_text(source)
    data = _parse(source, text)
    version = data.get("version")
    version = _count(version, 1, MAX_COUNT)
    if version is None:
        raise InvalidInput(
            f"{source} is damaged: its format version ({_show(data.get('version'))}) is not "
            f"valid. {REDO}"
        )
    if version > FORMAT_VERSION:
        raise InvalidInput(
            f"{source} was written by a newer storyterm (story format {version}; this one "
            f"reads up to {FORMAT_VERSION}). Update storyterm and import it again."
        )
    return data


def _read_text(source: Path) -> str:
    try:
        info = source.stat()
    except FileNotFoundError:
        raise InvalidInput(
            f"There is no file {source}. Give the path of a story.json that storyterm "
            "exported (or the export folder holding it)."
        ) from None
    except OSError as exc:
        raise InvalidInput(f"{source} cannot be read: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{source} is not a file. Give the path of a story.json.")
    if info.st_size > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"{source} is {info.st_size / 1024 / 1024:,.0f} MB; storyterm imports story files "
            f"of up to {MAX_IMPORT_BYTES // 1024 // 1024} MB. Is it really a story.json?"
        )
    try:
        with source.open("rb") as file:
            raw = file.read(MAX_IMPORT_BYTES + 1)  # it may have grown since the stat
    except OSError as exc:
        raise InvalidInput(f"{source} cannot be read: {exc.strerror or exc}.") from exc
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            f"{source} is more than {MAX_IMPORT_BYTES // 1024 // 1024} MB; storyterm imports "
            "story files up to that size. Is it really a story.json?"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{source} is not a storyterm export (it is not UTF-8 text: byte {exc.start:,} is "
            f"not valid). {REDO}"
        ) from None


def _parse(source: Path, text: str) -> dict[str, Any]:
    ours = FORMAT_MARKER in text[:2000]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if ours:
            raise InvalidInput(
                f"{source} is damaged (broken JSON at line {exc.lineno}, column {exc.colno}: "
                f"{exc.msg}); perhaps it was cut short. {REDO}"
            ) from None
        raise InvalidInput(f"{source} is not a storyterm export (it is not JSON). {REDO}") from None
    except RecursionError:
        raise InvalidInput(_too_deep(source)) from None
    except ValueError:  # a number of more than 4,300 digits
        what = "damaged" if ours else "not a storyterm export"
        raise InvalidInput(
            f"{source} is {what}: it holds a number thousands of digits long, which no story "
            f"has. {REDO}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT_MARKER:
        raise InvalidInput(
            f'{source} is not a storyterm export: it has no "format": "{FORMAT_MARKER}" '
            f"marker. {REDO}"
        )
    if _depth(data) > MAX_DEPTH:
        raise InvalidInput(_too_deep(source))
    return data


def _too_deep(source: Path) -> str:
    return (
        f"{source} is not a story storyterm wrote: its JSON is nested more than {MAX_DEPTH} "
        f"levels deep, deeper than any story.json. {REDO}"
    )


def _depth(value: Any) -> int:
    """How deeply `value` nests (a scalar is 0), without recursion: stops counting a little
    past MAX_DEPTH."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((child, level) for child in children if isinstance(child, (dict, list)))
    return deepest


# -- the story ------------------------------------------------------------------------------


def _story(data: dict[str, Any]) -> StoryFile:
    session = data.get("session")
    if session is None:
        raise _Bad('field "session"', "is missing; it holds the story's title and details")
    _object(session, 'field "session"')
    parts_data = data.get("parts")
    if parts_data is None:
        raise _Bad('field "parts"', "is missing; it holds the story's parts (a list)")
    if not isinstance(parts_data, list):
        raise _Bad('field "parts"', f"must be a list of parts, not {_show(parts_data)}")
    where = "the session"
    title = _text(session, "title", where, required=True)
    try:
        title = clean_title(title)
    except InvalidInput as exc:
        raise _Bad(f"{where}, field 'title'", exc.message) from None
    story = StoryFile(
        title=title,
        status=_status(session, where),
        model_name=_model_name(session, where),
        metadata=_metadata(session.get("metadata"), where),
        memory=_memory(session.get("memory"), where),
        created_at=_date(session, "created_at", where),
        paused_at=_date(session, "paused_at", where),
        completed_at=_date(session, "completed_at", where),
        parts=[],
        source_id=_source_id(session.get("id")),
        lore=_lore(data.get("lore")),
    )
    now = datetime.now(UTC)
    story.parts.extend(_part(index, item, now) for index, item in enumerate(parts_data, start=1))
    totals = data.get("totals")
    if totals is not None:
        _object(totals, 'field "totals"')
        declared = _count(totals.get("parts"), 0, MAX_COUNT)
        if declared is None:
            raise _Bad("the totals, field 'parts'", _count_rule(totals.get("parts"), 0))
        if declared != len(parts_data):
            raise _Bad(
                "the totals",
                f"the file says it holds {declared:,} parts but holds {len(parts_data):,}",
            )
    return story


def _lore(value: Any) -> tuple[LoreDraft, ...]:
    try:
        return lore_from_file(value)
    except BadLore as bad:
        raise _Bad(bad.where, bad.problem) from None


def _source_id(value: Any) -> str | None:
    """The exported session's id, when the file has one that could be a session id. It only
    says where the story came from, so a file without one (or with a strange one) still
    imports: it is then known by its text alone."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_SESSION_ID or not value.isprintable():
        return None
    return value


def _part(index: int, item: Any, now: datetime) -> NewPart:
    where = f"part {index}"
    _object(item, where)
    seq = item.get("seq")
    if seq is None:
        raise _Bad(f"{where}, field 'seq'", "is missing")
    if _count(seq, 1, MAX_COUNT) is None:
        raise _Bad(f"{where}, field 'seq'", _count_rule(seq, 1))
    if seq != index:
        raise _Bad(
            f"part {index} in the list says it is part {seq}",
            "parts must be numbered 1, 2, 3, ... in order",
        )
    takes = item.get("takes")
    if takes is None:  # a file from before takes: the part is its own first take
        takes = []
    if not isinstance(takes, list):
        raise _Bad(f"{where}, field 'takes'", f"must be a list of takes, not {_show(takes)}")
    part = NewPart(
        **_take_text(item, where, now),
        take=_optional_count(item, "take", where, low=1) or 1,
        take_kind=_take_kind(item, "take_kind", where),
        take_from=_optional_count(item, "take_from", where, low=1),
        other_takes=tuple(_other_take(where, n, take, now) for n, take in enumerate(takes, 1)),
    )
    _check_numbers(part, where)
    return part


def _other_take(part_where: str, index: int, item: Any, now: datetime) -> NewTake:
    """A take of the part that is not its chosen one (the part's `takes` list)."""
    where = f"{part_where}, take {index} in its 'takes'"
    _object(item, where)
    number = _optional_count(item, "number", where, low=1)
    if number is None:
        raise _Bad(f"{where}, field 'number'", "is missing")
    return NewTake(
        number=number,
        kind=_take_kind(item, "kind", where),
        take_from=_optional_count(item, "take_from", where, low=1),
        **_take_text(item, where, now),
    )


def _check_numbers(part: NewPart, where: str) -> None:
    numbers = sorted([part.take, *(take.number for take in part.other_takes)])
    if numbers != list(range(1, len(numbers) + 1)):
        shown = ", ".join(f"{n:,}" for n in numbers)
        raise _Bad(
            f"{where}, its takes",
            f"must be numbered 1 to {len(numbers):,} (the chosen 'take' and those in 'takes'), "
            f"each once, not {shown}",
        )
    for take_from in (part.take_from, *(take.take_from for take in part.other_takes)):
        if take_from is not None and take_from > len(numbers):
            raise _Bad(
                f"{where}, its takes",
                f"one says it was made from take {take_from:,}, which the part does not have",
            )


def _take_text(item: dict[str, Any], where: str, now: datetime) -> dict[str, Any]:
    """What a part and each of its takes hold: the direction, the text, the model, the state,
    the token counts and the dates."""
    direction = _text(item, "direction", where) or ""
    try:
        direction = clean_direction(direction)
    except InvalidInput as exc:
        raise _Bad(f"{where}, field 'direction'", exc.message) from None
    content = _text(item, "content", where, required=True)
    if len(content) > MAX_PART:
        raise _Bad(
            f"{where}, field 'content'",
            f"is {len(content):,} characters long; a part can hold at most {MAX_PART:,}",
        )
    created = _date(item, "created_at", where) or now
    return {
        "direction": direction,
        "content": content,
        "model_name": _model_name(item, where),
        "state": _choice(item, "state", where, PartState, PartState.DONE),
        "prompt_tokens": _optional_count(item, "prompt_tokens", where),
        "completion_tokens": _optional_count(item, "completion_tokens", where),
        "created_at": created,
        "updated_at": _date(item, "updated_at", where) or created,
    }


def _take_kind(item: dict[str, Any], key: str, where: str) -> TakeKind:
    return _choice(item, key, where, TakeKind, TakeKind.GENERATED)


_E = TypeVar("_E", PartState, TakeKind, SessionStatus)


def _choice(item: dict[str, Any], key: str, where: str, kind: type[_E], default: _E) -> _E:
    """The enum value in field `key` (`default` when it is absent or null)."""
    value = item.get(key)
    if value is None:
        return default
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(s.value) for s in kind)
        raise _Bad(
            f"{where}, field {key!r}", f"must be one of {choices}, not {_show(value)}"
        ) from None


def _status(session: dict[str, Any], where: str) -> SessionStatus:
    return _choice(session, "status", where, SessionStatus, SessionStatus.ACTIVE)


def _metadata(value: Any, where: str) -> dict[str, Any]:
    where = f"{where}, field 'metadata'"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(
            where,
            f'must be an object of story details, like {{"genre": "mystery"}}, not {_show(value)}',
        )
    for key, item in value.items():
        if isinstance(item, dict) or (
            isinstance(item, list) and not all(isinstance(x, str) for x in item)
        ):
            raise _Bad(
                where,
                f"the story detail {_show(key)} must be text, a number or a list of text, "
                f"not {_show(item)}",
            )
        if isinstance(item, float) and not math.isfinite(item):
            raise _Bad(where, f"the story detail {_show(key)} must be a real number")
    try:
        return clean_metadata(scrub_json(value))
    except InvalidInput as exc:
        raise _Bad(where, exc.message) from None


def _memory(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(
            f"{where}, field 'memory'",
            f"must be an object (the story's rolling summary and its numbers), not "
            f"{_show(value)}; leave it out and the story memory starts afresh",
        )
    return well_formed(value)


# -- fields ---------------------------------------------------------------------------------


def _object(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _Bad(where, f"must be an object, not {_show(value)}")


def _text(item: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    """The text field `key` (scrubbed); "" when it is absent or null and not required."""
    value = item.get(key)
    if value is None:
        if required:
            raise _Bad(f"{where}, field {key!r}", "is missing")
        return ""
    if not isinstance(value, str):
        raise _Bad(f"{where}, field {key!r}", f"must be text, not {_show(value)}")
    return scrub(value)


def _model_name(item: dict[str, Any], where: str) -> str | None:
    name = _text(item, "model_name", where).strip()
    if len(name) > MAX_MODEL_NAME:
        raise _Bad(
            f"{where}, field 'model_name'",
            f"is {len(name):,} characters long; a model name has at most {MAX_MODEL_NAME}",
        )
    return name or None


def _count(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def _count_rule(value: Any, low: int) -> str:
    return f"must be a whole number from {low} to {MAX_COUNT:,}, not {_show(value)}"


def _optional_count(item: dict[str, Any], key: str, where: str, *, low: int = 0) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    counted = _count(value, low, MAX_COUNT)
    if counted is None:
        raise _Bad(f"{where}, field {key!r}", _count_rule(value, low))
    return counted


def _date(item: dict[str, Any], key: str, where: str) -> datetime | None:
    """A date as storyterm writes it (ISO 8601, like 2026-11-03T10:00:00+00:00), in UTC."""
    value = item.get(key)
    if value is None:
        return None
    where = f"{where}, field {key!r}"
    rule = "must be a date like 2026-11-03T10:00:00+00:00"
    if not isinstance(value, str):
        raise _Bad(where, f"{rule}, not {_show(value)}")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(where, f"{rule}, not {_show(value)}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # storyterm writes UTC
    try:
        in_utc: datetime | None = when.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not MIN_YEAR <= in_utc.year <= MAX_YEAR:
        raise _Bad(
            where,
            f"{_show(value)} is out of range: dates must lie between the years {MIN_YEAR} and "
            f"{MAX_YEAR}",
        )
    return in_utc


def _show(value: Any) -> str:
    """`value` as the file spells it, cut short: what an error message quotes."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = json.dumps(value[:40], ensure_ascii=True)
        return shown[:-1] + '..."' if len(value) > 40 else shown
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        return f"a number of {len(str(abs(value))):,} digits"
    return json.dumps(value)


def import_story(
    sessions: SessionService,
    user_id: int,
    path: str | os.PathLike[str],
    *,
    again: bool = False,
) -> Session:
    """Bring an exported story (its story.json, or the export folder holding one) back as a
    new session of `user_id`: new id, same title, story bible, memory, status and every part
    exactly as exported. The whole file is checked first (`read_story_file`): a file that does
    not hold up is refused with what is wrong in it, and nothing is written.

    A story the writer has already (this file's text imported before, another export of the
    same session imported before, or that session itself) is refused with AlreadyImported
    naming the session, and nothing is written; `again` imports it anyway."""
    source = Path(path).expanduser()
    if source.is_dir():
        source = source / "story.json"
    story = read_story_file(source)
    try:
        return sessions.import_session(
            user_id,
            title=story.title,
            metadata=story.metadata,
            memory=story.memory,
            model_name=story.model_name,
            status=story.status,
            created_at=story.created_at,
            paused_at=story.paused_at,
            completed_at=story.completed_at,
            parts=story.parts,
            lore=story.lore,
            source=ImportSource(story.source_id, story.fingerprint if story.parts else None),
            again=again,
        )
    except InvalidInput as exc:
        raise InvalidInput(f"{source} cannot be imported: {exc.message}") from exc
