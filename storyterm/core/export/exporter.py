"""export_session: one story written (or updated in place) to its folder, in the formats
asked for."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from storyterm.core.export.epub import EpubBuilder
from storyterm.core.export.folder import export_error, prepare_folder
from storyterm.core.export.formats import (
    iso,
    lore_json,
    markdown_head,
    part_json,
    part_markdown,
    part_text,
    session_json,
    text_head,
    to_json,
    with_author,
)
from storyterm.core.export.naming import PART_FILE, part_file_name
from storyterm.core.export.staging import TEMP_PREFIX, Stage, fsync_dir, scan
from storyterm.core.export.story_file import FORMAT_MARKER, FORMAT_VERSION
from storyterm.core.service import SessionService
from storyterm.core.views import LoreEntry, Part, Session, Take
from storyterm.errors import InvalidInput
from storyterm.settings import DEFAULT_EXPORT_FORMATS, EXPORT_FORMATS, default_export_dir

#: Every format `export_session` can write, in the order files are listed (spelled once, in the
#: settings, which check export_formats against it).
FORMATS = EXPORT_FORMATS
#: What export_session writes when its caller names no formats: the export_formats setting's
#: default (the front ends pass the setting itself).
DEFAULT_FORMATS = DEFAULT_EXPORT_FORMATS
#: story.md/story.txt bodies are kept in memory up to this many characters, then on disk.
SCRATCH_IN_MEMORY = 16 * 1024 * 1024
#: Parts read as a page, their other takes together (story.json keeps every take of a part).
TAKES_BATCH = 200


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the folder, every file of this export in it (rewritten or already
    up to date), and the older files it removed (parts that no longer exist, formats not asked
    for this time)."""

    folder: Path
    files: list[Path]
    removed: list[Path] = field(default_factory=list)
    part_count: int = 0
    word_count: int = 0
    #: How many of `files` already held exactly this content and were left alone.
    unchanged: int = 0


def export_session(
    sessions: SessionService,
    user_id: int,
    session_id: str,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    formats: Iterable[str] = DEFAULT_FORMATS,
    author: str | None = None,
) -> ExportResult:
    """Write (or update in place) the export folder of one story and say what is in it.

    `out_dir` is the export directory (callers pass `settings.export_dir`; None means the
    settings' default, a storyterm folder in the user's documents). `formats` is any of "md"
    (story.md and one part-NNN.md per part), "txt" (story.txt), "json" (story.json, which
    `import_story` reads back) and "epub" (story.epub). `author` (the writer's name) is the
    author the title blocks and the EPUB name when the story names none of its own.
    """
    wanted = _parse_formats(formats)
    session = sessions.get(user_id, session_id)
    folder = prepare_folder(_default_out_dir() if out_dir is None else Path(out_dir), session)

    try:
        stage = Stage(folder)
    except OSError as exc:
        raise export_error(folder, exc, []) from exc
    part_names: list[str] = []
    count = 0
    words = 0
    models: list[str] = []
    # Part files are named with at least 3 digits, more once a story passes 999 parts, so
    # they always sort in order in a file browser.
    width = max(3, len(str(session.part_count)))
    try:
        lore = sessions.lore.list(user_id, session_id) if "json" in wanted else []
        with _Writers(stage, session, wanted, author, lore) as writers:
            # Only story.json keeps the other takes: read for a page of parts at once.
            keeps_takes = "json" in wanted
            for batch in sessions.part_pages(user_id, session_id, TAKES_BATCH):
                several = [part.seq for part in batch if keeps_takes and part.takes > 1]
                takes = sessions.history.takes_of(user_id, session_id, several) if several else {}
                for part in batch:
                    count += 1
                    words += part.word_count
                    if part.model_name and part.model_name not in models:
                        models.append(part.model_name)
                    if "md" in wanted:
                        if part.seq >= 10**width:  # the story grew while it was being exported
                            width = len(str(part.seq))
                        name = part_file_name(part.seq, width)
                        stage.put_bytes(name, part_markdown(part, level=1).encode())
                        part_names.append(name)
                    writers.add(part, takes.get(part.seq, []))
            written = writers.finish(count, words, models)
        stage.commit()
    except OSError as exc:
        stage.abort()
        raise export_error(folder, exc, stage.committed) from exc
    except BaseException:
        stage.abort()
        raise

    removed = _remove_older_files(folder, {*written, *part_names}, len(stage.committed) or 1)
    return ExportResult(
        folder=folder,
        files=[folder / name for name in [*written, *part_names]],
        removed=removed,
        part_count=count,
        word_count=words,
        unchanged=stage.unchanged,
    )


def _remove_older_files(folder: Path, keep: set[str], committed: int) -> list[Path]:
    """Make the folder hold this export and nothing older: part files of parts that are gone,
    and the files of formats not asked for this time (an older story.epub would be a stale
    copy of the story beside the fresh ones). Only storyterm's own file names are touched."""
    stale = {f"story.{name}" for name in FORMATS} - keep
    removed: list[Path] = []
    for entry in scan(folder):
        if entry.name in keep or not (entry.name in stale or PART_FILE.match(entry.name)):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise export_error(folder, exc, committed) from exc
        removed.append(folder / entry.name)
    if removed:
        fsync_dir(folder)
    return sorted(removed)


def _default_out_dir() -> Path:
    # The settings' own default, without reading any setting: the core never looks at the
    # environment; callers that have settings pass settings.export_dir.
    return default_export_dir()


def _parse_formats(formats: Iterable[str]) -> list[str]:
    if isinstance(formats, str):
        formats = formats.split(",")
    wanted: list[str] = []
    for raw in formats:
        name = str(raw).strip().lower().lstrip(".")
        if not name:
            continue
        if name == "all":
            return list(FORMATS)
        if name == "markdown":
            name = "md"
        if name not in FORMATS:
            raise InvalidInput(
                f"{raw!r} is not an export format. Use any of: {', '.join(FORMATS)} "
                "(comma-separated, like md,epub), or all."
            )
        if name not in wanted:
            wanted.append(name)
    if not wanted:
        raise InvalidInput(f"Name at least one export format: {', '.join(FORMATS)}.")
    return [name for name in FORMATS if name in wanted]


class _Writers:
    """The whole-story files, fed one part at a time (parts are never all in memory, except
    for the EPUB, which EbookLib builds in memory)."""

    def __init__(
        self,
        stage: Stage,
        session: Session,
        wanted: list[str],
        author: str | None,
        lore: list[LoreEntry],
    ) -> None:
        self.stage = stage
        self.session = session
        #: The story as its title blocks and the EPUB show it (with its author).
        self.shown = with_author(session, author)
        self.lore = lore
        self.wanted = wanted
        # First, before any file is open: EbookLib missing is an error of its own.
        self.epub = EpubBuilder(self.shown) if "epub" in wanted else None
        self._stack = contextlib.ExitStack()
        # story.md and story.txt open with a title block that counts words: their bodies are
        # streamed to scratch files and joined behind the block at the end.
        self.md = self._scratch() if "md" in wanted else None
        self.txt = self._scratch() if "txt" in wanted else None
        self.json: IO[str] | None = None
        self.first_json_part = True
        if "json" in wanted:
            self.json = self._stack.enter_context(stage.open("story.json"))
            self._json_head()

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)

    def _scratch(self) -> IO[str]:
        # In memory up to a size no ordinary story reaches, on disk (in the export folder, so
        # a full disk shows up here like everywhere else) beyond it.
        scratch = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by the exit stack
            max_size=SCRATCH_IN_MEMORY,
            mode="w+",
            encoding="utf-8",
            newline="\n",
            dir=str(self.stage.folder),
            prefix=TEMP_PREFIX,
        )
        return self._stack.enter_context(scratch)

    def _json_head(self) -> None:
        assert self.json is not None
        from storyterm import __version__

        head = {
            "format": FORMAT_MARKER,
            "version": FORMAT_VERSION,
            "generator": f"storyterm {__version__}",
            "exported_at": iso(datetime.now(UTC)),
        }
        self.json.write("{\n")
        for key, value in head.items():
            self.json.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
        session = to_json(session_json(self.session), indent=2)
        self.json.write('  "session": ' + session.replace("\n", "\n  ") + ",\n")
        lore = to_json([lore_json(e) for e in self.lore], indent=2)
        self.json.write('  "lore": ' + lore.replace("\n", "\n  ") + ",\n")
        self.json.write('  "parts": [')

    def add(self, part: Part, takes: list[Take]) -> None:
        """One part (its chosen take); story.json also keeps its other `takes`."""
        if self.md is not None:
            self.md.write(part_markdown(part, level=2) + "\n")
        if self.txt is not None:
            self.txt.write(part_text(part) + "\n")
        if self.json is not None:
            self.json.write("\n    " if self.first_json_part else ",\n    ")
            self.json.write(to_json(part_json(part, takes)))
            self.first_json_part = False
        if self.epub is not None:
            self.epub.add(part)

    def finish(self, parts: int, words: int, models: list[str]) -> list[str]:
        names: list[str] = []
        if self.md is not None:
            self._join("story.md", markdown_head(self.shown, parts, words, models), self.md)
            names.append("story.md")
        if self.txt is not None:
            self._join("story.txt", text_head(self.shown, parts, words, models), self.txt)
            names.append("story.txt")
        if self.json is not None:
            totals = json.dumps({"parts": parts, "words": words})
            self.json.write(("\n  " if parts else "") + f'],\n  "totals": {totals}\n}}\n')
            names.append("story.json")
        # Closes (and so stages) story.json, and drops the scratch files.
        self._stack.close()
        if self.epub is not None:
            self.stage.put_bytes("story.epub", self.epub.build(parts, words, models))
            names.append("story.epub")
        return names

    def _join(self, name: str, head: str, body: IO[str]) -> None:
        body.seek(0)
        with self.stage.open(name) as out:
            out.write(head)
            while chunk := body.read(1 << 20):
                out.write(chunk)
