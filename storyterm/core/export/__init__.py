"""Export a story to a folder of files a writer can use (Markdown, text, JSON, EPUB) and import
an exported story.json back as a new session.

Layout: `<export dir>/<slug>-<first 8 characters of the id>/` holding `part-001.md`, ... (one per
part), `story.md`, `story.txt`, `story.json` and `story.epub` as asked. Every file is staged as
a hidden temporary file in that folder, flushed to disk, and only then renamed over the old one,
all files after all writes succeeded: a full disk or a read-only folder leaves the earlier export
exactly as it was and no temporary file behind. Nothing is ever written outside the export
directory, whatever the title and whatever links sit in the way.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import html
import json
import os
import re
import secrets
import stat
import sys
import tempfile
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from storyterm.core.errors import ExportError, InvalidInput
from storyterm.core.export.story_file import FORMAT_MARKER, FORMAT_VERSION, read_story_file
from storyterm.core.models import PartState, SessionStatus
from storyterm.core.service import BIBLE_FIELDS, SessionService
from storyterm.core.text import export_safe
from storyterm.core.views import Part, Session

#: Every format `export_session` can write, in the order files are listed.
FORMATS = ("md", "txt", "json", "epub")
DEFAULT_FORMATS = ("md", "json")
#: The readable part of a folder name is cut to this many characters (the id follows it).
MAX_SLUG = 60
#: Temporary files of an export start with this; leftovers of a killed export are swept.
TEMP_PREFIX = ".storyterm-"
TEMP_SUFFIX = ".tmp"
STALE_TEMP_AGE = 600.0
#: story.md/story.txt bodies are kept in memory up to this many characters, then on disk.
SCRATCH_IN_MEMORY = 16 * 1024 * 1024

_PART_FILE = re.compile(r"^part-(\d+)\.md$")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{n}" for n in [*range(10), "¹", "²", "³"]}
    | {f"lpt{n}" for n in [*range(10), "¹", "²", "³"]}
)
#: Letters NFKD does not take apart but that have a usual ASCII spelling.
_ASCII_SPELLING = {
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "Th",
    "ł": "l",
    "Ł": "L",
    "ı": "i",
    "ŧ": "t",
    "ħ": "h",
}
_APOSTROPHES = "'’ʼ`´"
#: Characters XML 1.0 (so XHTML, so EPUB) cannot hold at all.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


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


# -- names ---------------------------------------------------------------------------------


def slugify(title: str, max_length: int = MAX_SLUG) -> str:
    """A folder-name-safe, readable form of any title.

    Latin letters become plain ASCII ("Café Noël" -> "cafe-noel", "Straße" -> "strasse"); letters
    with no ASCII spelling (Greek, Cyrillic, CJK, ...) are kept; everything else (emoji,
    punctuation, slashes, dots, control characters) separates words. Never empty ("story"),
    never a Windows device name, never longer than `max_length`.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", title or ""):
        if ch in _APOSTROPHES:
            continue  # "Keeper's" -> "keepers", not "keeper-s"
        if ch in _ASCII_SPELLING:
            out.append(_ASCII_SPELLING[ch])
            continue
        decomposed = unicodedata.normalize("NFKD", ch)
        ascii_part = "".join(c for c in decomposed if c.isascii())
        rest = [c for c in decomposed if not c.isascii()]
        if ascii_part and all(unicodedata.category(c).startswith("M") for c in rest):
            out.append(ascii_part if ascii_part.isalnum() else "-")
        elif unicodedata.category(ch)[0] in "LN" and ch.isprintable():
            out.append(ch)
        elif unicodedata.category(ch)[0] == "M" and out and out[-1] != "-":
            out.append(ch)  # a vowel sign or accent on a kept letter (Devanagari, Thai, ...)
        else:
            out.append("-")
    slug = re.sub(r"-+", "-", "".join(out).lower()).strip("-")
    # Characters of other scripts take up to 4 bytes each; file names are limited in bytes.
    limit = max_length
    while len(slug[:limit].encode()) > 3 * max_length:
        limit -= 1
    if len(slug) > limit:
        cut = slug[:limit]
        # End on a word boundary when one is reasonably close to the limit.
        if "-" in cut[limit // 2 :]:
            cut = cut[: cut.rindex("-")]
        slug = cut.strip("-")
    if not slug:
        return "story"
    if slug.split(".")[0] in _WINDOWS_RESERVED:
        slug = f"{slug}-story"
    return slug


def folder_name(session: Session) -> str:
    """`<slug>-<first 8 characters of the id>`: readable, and unique per session."""
    short_id = re.sub(r"[^0-9a-z]", "", session.id.lower())[:8] or "00000000"
    return f"{slugify(session.title)}-{short_id}"


def part_file_name(seq: int, width: int = 3) -> str:
    return f"part-{seq:0{width}d}.md"


# -- export --------------------------------------------------------------------------------


def export_session(
    sessions: SessionService,
    user_id: int,
    session_id: str,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    formats: Iterable[str] = DEFAULT_FORMATS,
) -> ExportResult:
    """Write (or update in place) the export folder of one story and say what is in it.

    `out_dir` is the export directory (callers pass `settings.export_dir`; None means the
    settings' default, `generated_stories` in the current folder). `formats` is any of "md"
    (story.md and one part-NNN.md per part), "txt" (story.txt), "json" (story.json, which
    `import_story` reads back) and "epub" (story.epub).
    """
    wanted = _parse_formats(formats)
    session = sessions.get(user_id, session_id)
    folder = _prepare_folder(_default_out_dir() if out_dir is None else Path(out_dir), session)

    try:
        stage = _Stage(folder)
    except OSError as exc:
        raise _export_error(folder, exc, []) from exc
    part_names: list[str] = []
    count = 0
    words = 0
    models: list[str] = []
    # Part files are named with at least 3 digits, more once a story passes 999 parts, so
    # they always sort in order in a file browser.
    width = max(3, len(str(session.part_count)))
    try:
        with _Writers(stage, session, wanted) as writers:
            for part in sessions.iter_parts(user_id, session_id):
                count += 1
                words += part.word_count
                if part.model_name and part.model_name not in models:
                    models.append(part.model_name)
                if "md" in wanted:
                    if part.seq >= 10**width:  # the story grew while it was being exported
                        width = len(str(part.seq))
                    name = part_file_name(part.seq, width)
                    stage.put_bytes(name, _part_markdown(part, level=1).encode())
                    part_names.append(name)
                writers.add(part)
            written = writers.finish(count, words, models)
        stage.commit()
    except OSError as exc:
        stage.abort()
        raise _export_error(folder, exc, stage.committed) from exc
    except BaseException:
        stage.abort()
        raise

    # The folder holds this export and nothing older: part files of parts that are gone, and
    # the files of formats not asked for this time (an older story.epub would be a stale copy
    # of the story beside the fresh ones). Only storyterm's own file names are touched.
    keep = {*written, *part_names}
    stale = {f"story.{name}" for name in FORMATS} - keep
    removed: list[Path] = []
    for entry in _scan(folder):
        if entry.name in keep or not (entry.name in stale or _PART_FILE.match(entry.name)):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _export_error(folder, exc, len(stage.committed) or 1) from exc
        removed.append(folder / entry.name)
    if removed:
        _fsync_dir(folder)
    return ExportResult(
        folder=folder,
        files=[folder / name for name in [*written, *part_names]],
        removed=sorted(removed),
        part_count=count,
        word_count=words,
        unchanged=stage.unchanged,
    )


def _default_out_dir() -> Path:
    # The settings' own default, without reading any setting: the core never looks at the
    # environment; callers that have settings pass settings.export_dir.
    from storyterm.settings import DEFAULT_EXPORT_DIR

    return DEFAULT_EXPORT_DIR


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


def _prepare_folder(out_dir: Path, session: Session) -> Path:
    """Create `<out_dir>/<slug>-<id>` and prove it lies inside `out_dir` (no link escapes)."""
    root = out_dir.expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
        root = root.resolve(strict=True)
    except OSError as exc:
        raise _export_error(root, exc, []) from exc
    if not root.is_dir():
        raise ExportError(
            f"The export folder {root} is a file, not a folder. Choose another export folder "
            "(`storyterm export ID --out DIR`, or export_dir in config.toml)."
        )
    folder = root / folder_name(session)
    # The folder must be exactly root/name: a link there (even one pointing back inside) is
    # refused, so a planted link can never redirect an export.
    if folder.is_symlink():
        raise ExportError(
            f"{folder} is a link (to {os.readlink(folder)}), not a folder of its own; storyterm "
            f"only writes inside {root}. Remove the link and export again."
        )
    try:
        folder.mkdir(exist_ok=True)
        resolved = folder.resolve(strict=True)
    except OSError as exc:
        raise _export_error(folder, exc, []) from exc
    if resolved != folder or not resolved.is_relative_to(root):
        raise ExportError(
            f"{folder} leads to {resolved}, outside the export folder {root}; storyterm only "
            "writes inside it. Remove whatever redirects it and export again."
        )
    if not resolved.is_dir():
        raise ExportError(
            f"{folder} is a file, not a folder, so the story cannot be exported there. Move "
            "that file away, or choose another export folder (`storyterm export ID --out DIR`)."
        )
    return resolved


class _Stage:
    """Files of one export, written as temporary files in the folder and renamed into place
    only once every one of them is safely on disk.

    Flushing each file to disk (fsync) costs a millisecond or more, so a 1,000-part story would
    spend most of its export waiting on the disk one file at a time. Files are written by a few
    threads side by side, then flushed together with one syncfs() of the folder's filesystem
    (Linux) before any of them is renamed into place: still "on disk before it replaces
    anything", for one flush instead of a thousand. Elsewhere each file is fsynced.
    """

    WORKERS = 8
    #: Files handed to the writer threads and not yet written (bounds memory on huge stories).
    MAX_IN_FLIGHT = 64

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pending: list[tuple[str, str]] = []  # (temp path, final name)
        self.committed: list[str] = []
        self.unchanged = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: deque[Future[None]] = deque()
        #: Regular files already in the folder and their sizes: one directory scan instead of
        #: a stat per part when deciding whether a file is already up to date.
        self.existing: dict[str, int] = {}
        now = time.time()
        for entry in _scan(folder):
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                # Left behind by a killed export (never a fresh one: another export of the
                # same story may be running right now).
                if now - info.st_mtime > STALE_TEMP_AGE:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
            elif stat.S_ISREG(info.st_mode):
                self.existing[entry.name] = info.st_size

    def _temp(self, name: str) -> tuple[int, str]:
        # Not tempfile.mkstemp: its files are private (0600), and these become the writer's
        # files; O_CREAT|O_EXCL with 0666 gets the usual umask-based permissions, and it never
        # follows a link planted at the name.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        while True:
            temp = str(self.folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
            try:
                fd = os.open(temp, flags, 0o666)
                break
            except FileExistsError:
                continue
        with self._lock:
            self.pending.append((temp, name))
        return fd, temp

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="storyterm-export")
        while len(self._in_flight) >= self.MAX_IN_FLIGHT:
            self._in_flight.popleft().result()  # a failed write stops the export right here
        self._in_flight.append(self._pool.submit(job, *args))

    def put_bytes(self, name: str, data: bytes) -> None:
        """Stage `name` with `data`, unless the file already holds exactly that."""
        if self.existing.get(name) == len(data) and _same_content(self.folder / name, data):
            self.unchanged += 1
            return
        self._submit(self._write, name, data)

    def _write(self, name: str, data: bytes) -> None:
        fd, _temp = self._temp(name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[str]]:
        """A text file to stream into; it replaces `name` at commit unless the content is the
        same as what is there."""
        fd, temp = self._temp(name)
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
        if name in self.existing and _same_file(self.folder / name, temp):
            with self._lock:
                self.pending.remove((temp, name))
            os.unlink(temp)
            self.unchanged += 1

    def _drain(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def commit(self) -> None:
        self._drain()
        _flush(self.folder, [temp for temp, _name in self.pending])
        for temp, name in self.pending:
            os.replace(temp, self.folder / name)
            self.committed.append(name)
        self.pending = []
        _fsync_dir(self.folder)

    def abort(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._in_flight.clear()
        for temp, _name in self.pending:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        self.pending = []


def _flush(folder: Path, temps: list[str]) -> None:
    """Put every staged file on disk: one syncfs() where the platform has it, else an fsync a
    file. An error (a full disk, a failing device) raises before anything is renamed."""
    if not temps:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _syncfs(fd):
            return
    finally:
        os.close(fd)
    for temp in temps:
        _fsync_path(temp)


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the filesystem holding `fd`: True when done, False where unavailable."""
    libc = _libc()
    if libc is None:
        return False
    if libc.syncfs(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return True


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs  # noqa: B018 (present since glibc 2.14 / musl)
    except (OSError, AttributeError):
        return None
    return libc


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _same_content(path: Path, data: bytes) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        with open(path, "rb") as existing:
            return existing.read() == data
    except OSError:
        return False


def _same_file(path: Path, temp: str) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size != os.stat(temp).st_size:
            return False
        with open(path, "rb") as a, open(temp, "rb") as b:
            while True:
                chunk = a.read(1 << 20)
                if chunk != b.read(1 << 20):
                    return False
                if not chunk:
                    return True
    except OSError:
        return False


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return [e for e in entries if not e.is_dir(follow_symlinks=False)]


def _fsync_dir(folder: Path) -> None:
    """Make the renames themselves durable (where the platform allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _export_error(folder: Path, exc: OSError, committed: list[str] | int) -> ExportError:
    where = f"{folder}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = f"The disk is full: the story could not be exported to {where}."
        fix = "Free some space, or choose another export folder"
    elif exc.errno == errno.EROFS:
        what = f"{where} is on a read-only disk, so the story could not be exported there."
        fix = "Choose another export folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        what = f"storyterm may not write to {where} (permission denied)."
        fix = "Give yourself write access to it, or choose another export folder"
    elif exc.errno in (errno.ENOTDIR, errno.EEXIST):
        bad = _first_file_on(Path(exc.filename)) if exc.filename else None
        what = (
            f"{bad or where} is a file, not a folder, so the story cannot be exported to {where}."
        )
        fix = "Move that file away, or choose another export folder"
    elif exc.errno == errno.ENAMETOOLONG:
        what = f"The path {where} is too long for this system."
        fix = "Choose a shorter export folder"
    else:
        what = f"The story could not be exported to {where}: {exc.strerror or exc}."
        fix = "Check the folder, or choose another export folder"
    if committed:
        done = "Every file there is either the earlier or the new version; none is half-written."
    else:
        done = "Nothing there was changed."
    return ExportError(
        f"{what} {done} {fix} (`storyterm export ID --out DIR`, or export_dir in config.toml)."
    )


def _first_file_on(path: Path) -> Path | None:
    """The file standing where a folder of `path` should be (/etc/passwd for /etc/passwd/x)."""
    for candidate in reversed([path, *path.parents]):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return None


# -- the formats ---------------------------------------------------------------------------


def _state_note(part: Part) -> str:
    if part.state is PartState.INTERRUPTED:
        return " (interrupted)"
    if part.state is PartState.STREAMING:
        return " (still being written when exported)"
    return ""


def _quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines())


def _line(text: str | None) -> str:
    """`export_safe` text on one line (a title, a model name, a label)."""
    return " ".join(export_safe(text).split())


def _part_markdown(part: Part, level: int) -> str:
    lines = [f"{'#' * level} Part {part.seq}{_state_note(part)}", ""]
    direction = export_safe(part.direction)
    if direction:
        lines += [_quote(direction), ""]
    body = export_safe(part.content).strip("\n")
    if body:
        lines += [body, ""]
    return "\n".join(lines)


def _part_text(part: Part) -> str:
    heading = f"Part {part.seq}{_state_note(part)}"
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


def _facts(session: Session, parts: int, words: int, models: list[str]) -> list[tuple[str, str]]:
    """The title block: the story bible, then model, status, dates and size. Every stored
    text in it is export_safe: no terminal control reaches a file a writer may `cat`."""
    meta = session.session_metadata
    facts: list[tuple[str, str]] = []
    order = [k for k in BIBLE_FIELDS if k in meta] + [k for k in meta if k not in BIBLE_FIELDS]
    for key in order:
        value = export_safe(_detail_value(meta[key])).strip()
        label = _line(str(key).replace("_", " ")).capitalize()
        if value and label:
            facts.append((label, value))
    shown_models = models or ([session.model_name] if session.model_name else [])
    if session.model_name and session.model_name not in shown_models:
        shown_models = [session.model_name, *shown_models]
    shown_models = [name for name in map(_line, shown_models) if name]
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


def _markdown_head(session: Session, parts: int, words: int, models: list[str]) -> str:
    lines = [f"# {_line(session.title)}", ""]
    for label, value in _facts(session, parts, words, models):
        first, *more = value.splitlines() or [""]
        lines.append(f"- **{label}:** {first}")
        lines += [f"  {line}".rstrip() for line in more]
    lines += ["", "---", "", ""]
    if not parts:
        lines += ["*No parts yet.*", "", ""]
    return "\n".join(lines)


def _text_head(session: Session, parts: int, words: int, models: list[str]) -> str:
    title = _line(session.title)
    lines = [title, "=" * min(len(title), 72), ""]
    for label, value in _facts(session, parts, words, models):
        first, *more = value.splitlines() or [""]
        lines.append(f"{label}: {first}")
        lines += [f"    {line}".rstrip() for line in more]
    lines += ["", ""]
    if not parts:
        lines += ["No parts yet.", ""]
    return "\n".join(lines)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _json(value: Any, **kwargs: Any) -> str:
    """JSON for story.json: the exact text, non-ASCII letters as they are, except for lone
    surrogates (an old row may hold one; UTF-8 cannot): those are written as \\uXXXX escapes,
    which read back as the same text (and which an import then scrubs)."""
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def _session_json(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "title": session.title,
        "status": session.status.value,
        "model_name": session.model_name,
        "metadata": session.session_metadata,
        "memory": session.memory,
        "created_at": _iso(session.created_at),
        "updated_at": _iso(session.updated_at),
        "paused_at": _iso(session.paused_at),
        "completed_at": _iso(session.completed_at),
    }


def _part_json(part: Part) -> dict[str, Any]:
    return {
        "seq": part.seq,
        "direction": part.direction,
        "content": part.content,
        "model_name": part.model_name,
        "state": part.state.value,
        "word_count": part.word_count,
        "prompt_tokens": part.prompt_tokens,
        "completion_tokens": part.completion_tokens,
        "created_at": _iso(part.created_at),
        "updated_at": _iso(part.updated_at),
    }


class _Writers:
    """The whole-story files, fed one part at a time (parts are never all in memory, except
    for the EPUB, which EbookLib builds in memory)."""

    def __init__(self, stage: _Stage, session: Session, wanted: list[str]) -> None:
        self.stage = stage
        self.session = session
        self.wanted = wanted
        # First, before any file is open: EbookLib missing is an error of its own.
        self.epub = _EpubBuilder(session) if "epub" in wanted else None
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
            dir=self.stage.folder,
            prefix=TEMP_PREFIX,
        )
        return self._stack.enter_context(scratch)  # type: ignore[arg-type]

    def _json_head(self) -> None:
        assert self.json is not None
        from storyterm import __version__

        head = {
            "format": FORMAT_MARKER,
            "version": FORMAT_VERSION,
            "generator": f"storyterm {__version__}",
            "exported_at": _iso(datetime.now(UTC)),
        }
        self.json.write("{\n")
        for key, value in head.items():
            self.json.write(f"  {json.dumps(key)}: {json.dumps(value)},\n")
        session = _json(_session_json(self.session), indent=2)
        self.json.write('  "session": ' + session.replace("\n", "\n  ") + ",\n")
        self.json.write('  "parts": [')

    def add(self, part: Part) -> None:
        if self.md is not None:
            self.md.write(_part_markdown(part, level=2) + "\n")
        if self.txt is not None:
            self.txt.write(_part_text(part) + "\n")
        if self.json is not None:
            self.json.write("\n    " if self.first_json_part else ",\n    ")
            self.json.write(_json(_part_json(part)))
            self.first_json_part = False
        if self.epub is not None:
            self.epub.add(part)

    def finish(self, parts: int, words: int, models: list[str]) -> list[str]:
        names: list[str] = []
        if self.md is not None:
            self._join("story.md", _markdown_head(self.session, parts, words, models), self.md)
            names.append("story.md")
        if self.txt is not None:
            self._join("story.txt", _text_head(self.session, parts, words, models), self.txt)
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


class _EpubBuilder:
    """story.epub with EbookLib: EPUB 3, a title page, one chapter per part, nav and NCX."""

    def __init__(self, session: Session) -> None:
        try:
            from ebooklib import epub
        except ImportError as exc:  # pragma: no cover - EbookLib is a dependency
            raise ExportError(
                "EPUB export needs the EbookLib package: install it with "
                "`pip install EbookLib`, or export without epub."
            ) from exc
        self.epub = epub
        self.session = session
        meta = session.session_metadata
        language = meta.get("language")
        self.language = (
            language if isinstance(language, str) and _LANGUAGE_TAG.match(language) else "en"
        )
        self.book = epub.EpubBook()
        self.book.set_identifier(f"urn:uuid:{session.id}")
        self.book.set_title(_xml_text(session.title))
        self.book.set_language(self.language)
        author = meta.get("author")
        if isinstance(author, str) and author.strip():
            self.book.add_author(_xml_text(author.strip()))
        premise = meta.get("premise")
        if isinstance(premise, str) and premise.strip():
            self.book.add_metadata("DC", "description", _xml_text(premise.strip()))
        genre = meta.get("genre")
        if isinstance(genre, str) and genre.strip():
            self.book.add_metadata("DC", "subject", _xml_text(genre.strip()))
        self.css = epub.EpubItem(
            uid="style",
            file_name="style/story.css",
            media_type="text/css",
            content=_EPUB_CSS.encode(),
        )
        self.book.add_item(self.css)
        self.chapters: list[Any] = []

    def _document(self, uid: str, file_name: str, title: str, body: str) -> Any:
        document = _prebuilt_html_class()(
            uid=uid, title=_xml_text(title), file_name=file_name, lang=self.language
        )
        document.content = _XHTML.format(lang=self.language, title=_esc(title), body=body).encode()
        self.book.add_item(document)
        return document

    def add(self, part: Part) -> None:
        title = f"Part {part.seq}"
        body = [f"<h2>{title}</h2>"]
        note = _state_note(part).strip(" ()")
        if note:
            body.append(f'<p class="note">{_esc(note)}</p>')
        body += _paragraphs(part.content)
        name = f"part-{part.seq:04d}"
        self.chapters.append(self._document(name, f"{name}.xhtml", title, "\n".join(body)))

    def build(self, parts: int, words: int, models: list[str]) -> bytes:
        import io

        epub = self.epub
        rows = "".join(
            f"<dt>{_esc(label)}</dt><dd>{_esc(value)}</dd>"
            for label, value in _facts(self.session, parts, words, models)
            if label != "Status"
        )
        title_page = self._document(
            "title-page",
            "title.xhtml",
            self.session.title,
            f'<h1 class="title">{_esc(self.session.title)}</h1>\n<dl class="facts">{rows}</dl>',
        )
        self.book.toc = [title_page, *self.chapters]
        self.book.add_item(epub.EpubNcx())
        self.book.add_item(epub.EpubNav())
        self.book.spine = [title_page, "nav", *self.chapters]
        buffer = io.BytesIO()
        # No page-list: parts carry no print page numbers, and looking for them parses every
        # chapter once more.
        epub.write_epub(buffer, self.book, {"raise_exceptions": True, "epub3_pages": False})
        return buffer.getvalue()


@functools.cache
def _prebuilt_html_class() -> type:
    """An EbookLib document whose XHTML we write whole. EbookLib's own EpubHtml parses every
    chapter with lxml and serialises it again, which is most of an EPUB's cost on a long
    story; ours is well-formed by construction (escaped text, tags that never overlap)."""
    from ebooklib import epub

    class PrebuiltHtml(epub.EpubHtml):  # type: ignore[misc]
        def get_content(self, default: Any = None) -> bytes:
            return self.content  # type: ignore[no-any-return]

    return PrebuiltHtml


_XHTML = """\
<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" \
lang="{lang}" xml:lang="{lang}">
<head>
<title>{title}</title>
<link href="style/story.css" rel="stylesheet" type="text/css"/>
</head>
<body>
{body}
</body>
</html>
"""

_EPUB_CSS = """\
body { font-family: serif; line-height: 1.5; }
h1.title { text-align: center; margin-top: 30%; }
dl.facts dt { font-weight: bold; margin-top: 0.6em; }
dl.facts dd { margin-left: 1em; }
h2 { margin-top: 2em; }
p { text-indent: 1.2em; margin: 0; }
p.break { text-align: center; text-indent: 0; margin: 1em 0; }
p.note { font-style: italic; text-indent: 0; }
"""


def _xml_text(text: str) -> str:
    """Text for the EPUB: export_safe (no terminal controls, like every text export), and
    nothing XML 1.0 cannot hold."""
    return _XML_INVALID.sub("", export_safe(text))


def _esc(text: str) -> str:
    return html.escape(_xml_text(text), quote=True)


# Emphasis never spans a tag (the text between the marks holds no < or >), so the tags this
# makes are always properly nested: <strong>..<em>..</em>..</strong>, never crossed.
_BOLD = re.compile(r"\*\*(?=[^\s<>])([^<>]+?)(?<=[^\s<>])\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*<>])([^<>]+?)(?<=[^\s*<>])\*(?![*\w])")
_SCENE_BREAK = re.compile(r"^\s*([*\-_#~]\s*){3,}$")


def _paragraphs(content: str) -> list[str]:
    """Prose as XHTML paragraphs: blank lines separate them, a line of *** is a scene break,
    and the model's **bold** and *italic* become real emphasis."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", content.strip()):
        if not block.strip():
            continue
        if _SCENE_BREAK.match(block):
            out.append('<p class="break">* * *</p>')
            continue
        text = _esc(block.strip())
        if "*" in text:
            text = _BOLD.sub(r"<strong>\1</strong>", text)
            text = _ITALIC.sub(r"<em>\1</em>", text)
        out.append("<p>" + text.replace("\n", "<br/>") + "</p>")
    return out


# -- import ---------------------------------------------------------------------------------


def import_story(sessions: SessionService, user_id: int, path: str | os.PathLike[str]) -> Session:
    """Bring an exported story (its story.json, or the export folder holding one) back as a
    new session of `user_id`: new id, same title, story bible, memory, status and every part
    exactly as exported. The whole file is checked first (core/export/story_file.py): a file that
    does not hold up is refused with what is wrong in it, and nothing is written."""
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
        )
    except InvalidInput as exc:
        raise InvalidInput(f"{source} cannot be imported: {exc.message}") from exc
