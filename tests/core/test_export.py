"""Export and import in the core: the files a writer gets, the round trip, names that are safe
from any title, and updating an export in place."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from storyterm.core.export import (
    FORMAT_MARKER,
    TEMP_PREFIX,
    export_session,
    folder_name,
    import_story,
    part_file_name,
    slugify,
)
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.core.views import Part, Session
from storyterm.errors import InvalidInput, NotFound
from tests.helpers import make_user

BIBLE = {
    "genre": "mystery",
    "tone": "dark, salt-stained",
    "premise": "A lighthouse keeper finds a letter\nthat was never posted.",
    "characters": ["Mara", "the keeper"],
    "style_notes": "Short sentences.",
    "language": "en-GB",
}
#: A memory as the storyteller writes it (an import keeps only well-formed memory).
MEMORY = {
    "summary": "Mara found the letter.",
    "summary_through_seq": 2,
    "stale": False,
    "num_ctx": 8192,
    "num_ctx_model": "gemma3:latest",
    "token_ratio": 1.12,
    "tokens": {"budget": 6000, "tail": 412},
    "last_prompt": {
        "system": "You are a novelist.",
        "first_seq": 3,
        "last_seq": 3,
        "cut": {"3": 120},
        "direction": "Continue the story.",
        "digest": "0123456789abcdef",
    },
}


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


@pytest.fixture
def sqlite_service(sqlite_url: str) -> Iterator[SessionService]:
    store = Store.open(sqlite_url, None)
    yield SessionService(store)
    store.close()


def write_story(service: SessionService, user: int, title: str = "The Keeper's Letter") -> Session:
    """A story with every kind of part: done with token counts, two models, a multi-line
    direction, an empty direction, an interrupted part, and a part still streaming."""
    s = service.start(user, title, BIBLE, "gemma3:latest")
    service.append_part(
        user,
        s.id,
        direction="The storm reaches the harbour\nand the lamp goes out",
        content="Rain hammered the lantern glass.\n\n***\n\n**Mara** ran *fast*.",
        model_name="gemma3:latest",
    )
    p = service.begin_part(user, s.id, direction="", model_name="mistral-small3.1:latest")
    service.checkpoint_part(
        user,
        s.id,
        p.seq,
        "She read it twice — «never again» — & <wept>.",
        state=PartState.DONE,
        prompt_tokens=812,
        completion_tokens=96,
    )
    p = service.begin_part(user, s.id, direction="Cut off here", model_name="gemma3:latest")
    service.checkpoint_part(
        user, s.id, p.seq, "The door opened and", state=PartState.INTERRUPTED, prompt_tokens=900
    )
    service.update_memory(user, s.id, MEMORY)
    return service.get(user, s.id)


PART_FIELDS = (
    "seq",
    "direction",
    "content",
    "model_name",
    "state",
    "word_count",
    "prompt_tokens",
    "completion_tokens",
    "created_at",
    "updated_at",
)


def part_fields(part: Part) -> dict[str, object]:
    return {name: getattr(part, name) for name in PART_FIELDS}


# -- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["active", "paused", "completed"])
def test_export_then_import_gives_the_same_story(
    service: SessionService, tmp_path: Path, status: str
) -> None:
    alice = make_user(service.store, "alice")
    original = write_story(service, alice)
    if status == "paused":
        original = service.pause(alice, original.id)
    elif status == "completed":
        original = service.complete(alice, original.id)

    result = export_session(service, alice, original.id, out_dir=tmp_path / "out")
    # Beside its original, the copy is asked for (--again); test_import_twice.py covers refusing.
    copy = import_story(service, alice, result.folder / "story.json", again=True)

    assert copy.id != original.id
    assert copy.user_id == alice
    for name in (
        "title",
        "status",
        "model_name",
        "session_metadata",
        "memory",
        "part_count",
        "word_count",
        "created_at",
        "paused_at",
        "completed_at",
    ):
        assert getattr(copy, name) == getattr(original, name), name
    before = [part_fields(p) for p in service.all_parts(alice, original.id)]
    after = [part_fields(p) for p in service.all_parts(alice, copy.id)]
    assert after == before
    assert [p["state"] for p in after] == [PartState.DONE, PartState.DONE, PartState.INTERRUPTED]
    assert after[1]["prompt_tokens"] == 812 and after[1]["completion_tokens"] == 96
    # The copy is a story of its own: it lists, opens, and follows its status's rules.
    assert {s.id for s in service.list(alice).items} == {original.id, copy.id}
    assert service.open(alice, copy.id).parts[-1].content == "The door opened and"
    if status == "completed":
        with pytest.raises(Exception, match="read-only"):
            service.append_part(alice, copy.id, direction="", content="more")


def test_import_of_a_story_exported_mid_generation(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Live")
    p = service.begin_part(alice, s.id, direction="go", model_name="gemma3:latest")
    service.checkpoint_part(alice, s.id, p.seq, "Half a sent")
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats=["md", "json"])
    assert "still being written" in (result.folder / "part-001.md").read_text()
    # The folder works as well as the file; beside its original, the copy is asked for.
    copy = import_story(service, alice, result.folder, again=True)
    [part] = service.all_parts(alice, copy.id)
    # Nobody is generating the copy: its unfinished part is interrupted, text kept.
    assert (part.state, part.content) == (PartState.INTERRUPTED, "Half a sent")


def test_import_belongs_to_the_importer_only(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    s = write_story(service, alice)
    result = export_session(service, alice, s.id, out_dir=tmp_path)
    copy = import_story(service, bob, result.folder / "story.json")
    assert copy.user_id == bob
    assert service.get(bob, copy.id).title == s.title
    with pytest.raises(NotFound):
        service.get(alice, copy.id)
    with pytest.raises(NotFound):
        export_session(service, bob, s.id, out_dir=tmp_path)


# -- the files -----------------------------------------------------------------------------


def test_the_files_a_writer_gets(sqlite_service: SessionService, tmp_path: Path) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = write_story(service, alice)
    result = export_session(
        service, alice, s.id, out_dir=tmp_path / "out", formats=("md", "txt", "json", "epub")
    )
    assert result.folder == (tmp_path / "out" / f"the-keepers-letter-{s.id[:8]}").resolve()
    assert [f.name for f in result.files] == [
        "story.md",
        "story.txt",
        "story.json",
        "story.epub",
        "part-001.md",
        "part-002.md",
        "part-003.md",
    ]
    assert sorted(p.name for p in result.folder.iterdir()) == sorted(f.name for f in result.files)
    assert (result.part_count, result.word_count) == (3, s.word_count)

    part1 = (result.folder / "part-001.md").read_text()
    assert part1 == (
        "# Part 1\n\n> The storm reaches the harbour\n> and the lamp goes out\n\n"
        "Rain hammered the lantern glass.\n\n***\n\n**Mara** ran *fast*.\n"
    )
    assert (result.folder / "part-003.md").read_text().startswith("# Part 3 (interrupted)\n")

    story = (result.folder / "story.md").read_text()
    head, _, body = story.partition("\n---\n")
    assert head.startswith("# The Keeper's Letter\n")
    for fact in (
        "**Genre:** mystery",
        "**Tone:** dark, salt-stained",
        "**Premise:** A lighthouse keeper finds a letter\n  that was never posted.",
        "**Characters:** Mara, the keeper",
        "**Models:** gemma3:latest, mistral-small3.1:latest",
        "**Created:** " + s.created_at.strftime("%Y-%m-%d"),
        "**Parts:** 3",
        f"**Words:** {s.word_count:,}",
    ):
        assert fact in head
    assert body.index("## Part 1") < body.index("## Part 2") < body.index("## Part 3")
    assert "> The storm reaches the harbour\n> and the lamp goes out" in body

    text = (result.folder / "story.txt").read_text()
    assert text.startswith("The Keeper's Letter\n===")
    assert "Genre: mystery" in text and "Part 2\n------" in text

    data = json.loads((result.folder / "story.json").read_text())
    assert (data["format"], data["version"]) == (FORMAT_MARKER, 1)
    assert data["session"]["memory"] == MEMORY
    assert data["session"]["metadata"] == BIBLE
    assert [p["seq"] for p in data["parts"]] == [1, 2, 3]
    assert data["totals"] == {"parts": 3, "words": s.word_count}


def test_the_epub_opens_with_one_chapter_per_part_in_order(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    from ebooklib import ITEM_DOCUMENT, epub

    service = sqlite_service
    alice = make_user(service.store)
    s = write_story(service, alice)
    for n in range(4, 13):
        service.append_part(alice, s.id, direction=f"step {n}", content=f"Part {n} text.")
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats=["epub"])
    assert [f.name for f in result.files] == ["story.epub"]

    book = epub.read_epub(str(result.folder / "story.epub"))
    assert book.get_metadata("DC", "title")[0][0] == "The Keeper's Letter"
    assert book.get_metadata("DC", "language")[0][0] == "en-GB"
    assert book.get_metadata("DC", "identifier")[0][0] == f"urn:uuid:{s.id}"
    chapters = [
        item
        for item in book.get_items_of_type(ITEM_DOCUMENT)
        if item.get_name().startswith("part-")
    ]
    assert len(chapters) == 12
    spine_ids = [idref for idref, _linear in book.spine]
    by_id = {item.get_id(): item for item in chapters}
    in_reading_order = [by_id[i] for i in spine_ids if i in by_id]
    assert [c.get_name() for c in in_reading_order] == [f"part-{n:04d}.xhtml" for n in range(1, 13)]
    first = in_reading_order[0].get_content().decode()
    assert "<h2>Part 1</h2>" in first
    assert "<strong>Mara</strong> ran <em>fast</em>." in first
    assert '<p class="break">' in first
    second = in_reading_order[1].get_content().decode()
    assert "&amp; &lt;wept&gt;" in second  # the model's text is text, never markup
    assert "interrupted" in in_reading_order[2].get_content().decode()
    # EPUB 3 with both tables of contents: the nav document and the NCX.
    names = {item.get_name() for item in book.get_items()}
    assert {"nav.xhtml", "toc.ncx"} <= names
    import zipfile

    with zipfile.ZipFile(result.folder / "story.epub") as zf:
        first_entry = zf.infolist()[0]
        assert first_entry.filename == "mimetype"
        assert first_entry.compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"application/epub+zip"
        opf = zf.read("EPUB/content.opf").decode()
        assert 'version="3.0"' in opf and 'properties="nav"' in opf


def test_an_empty_story_exports_too(sqlite_service: SessionService, tmp_path: Path) -> None:
    from ebooklib import epub

    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Blank Page")
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats="all")
    assert [f.name for f in result.files] == ["story.md", "story.txt", "story.json", "story.epub"]
    assert "No parts yet" in (result.folder / "story.md").read_text()
    assert json.loads((result.folder / "story.json").read_text())["parts"] == []
    epub.read_epub(str(result.folder / "story.epub"))
    copy = import_story(service, alice, result.folder / "story.json", again=True)
    assert (copy.title, copy.part_count) == ("Blank Page", 0)


def test_hostile_text_makes_a_valid_epub(sqlite_service: SessionService, tmp_path: Path) -> None:
    from ebooklib import epub

    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, '<b>Bold</b> & ]]> "quoted"', {"language": "not a language!"})
    tricky = [
        "Bell\x07 and null\x1b[31m, </body></html> ***x*",
        "**a *b** c*",
        "*a **b* c**",
        "***both***",
        "**bold\n\nnot closed** later*",
        "<![CDATA[ ]]> &amp; &#x0; \ufffe\uffff",
        "# Heading\n\n- list\n\n---\n\n* * *",
    ]
    for text in tricky:
        service.append_part(alice, s.id, direction=text, content=text)
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats=["epub"])
    book = epub.read_epub(str(result.folder / "story.epub"))
    assert book.get_metadata("DC", "title")[0][0] == s.title
    assert book.get_metadata("DC", "language")[0][0] == "en"
    [chapter] = [i for i in book.get_items() if i.get_name() == "part-0001.xhtml"]
    assert "&lt;/body&gt;&lt;/html&gt;" in chapter.get_content().decode()
    # Every document is well-formed XML (strict parsing, no HTML-style repair).
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(result.folder / "story.epub") as zf:
        documents = [n for n in zf.namelist() if n.endswith((".xhtml", ".opf", ".ncx"))]
        assert len(documents) == len(tricky) + 4  # + title page, nav, OPF, NCX
        for name in documents:
            etree.fromstring(zf.read(name))


#: Terminal controls a model (or an import, or an old row) can put in stored text: OSC that
#: sets the window title, clear screen, colours, bell, NUL, a C1 CSI, DEL, bidi overrides.
CONTROLS = ["\x1b", "\x07", "\x00", "\x9b", "\x7f", "\x08", "\u202e", "\u202d", "\u2066"]
HOSTILE_TEXT = (
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m bell\x07 nul\x00 csi\x9b31m del\x7f bs\x08"
    " \u202eevil\u202c \u2066iso\u2069 tab\there\r\nnext line\n\nnew paragraph"
)


def test_text_exports_drop_terminal_controls_and_json_keeps_them(
    service: SessionService, tmp_path: Path
) -> None:
    from storyterm.core.text import export_safe

    alice = make_user(service.store)
    hostile = HOSTILE_TEXT
    if service.database_backend != "sqlite":
        hostile = hostile.replace("\x00", "")  # PostgreSQL cannot hold NUL at all
    # Straight into the store: whatever the service's own rules are, text like this can come
    # from a model or an old row, and the exports must be safe for it.
    s = service.store.create_session(
        alice,
        "Title \x1b]0;pwned\x07 \u202eevil",
        {"genre": hostile, "cast": [hostile, "Mara"], "odd\x1b[2J key": "value"},
        "model\x1b[31m:latest",
    )
    service.store.parts.add(
        alice, s.id, direction=hostile, content=hostile, model_name="gemma\x07:latest"
    )
    service.store.parts.add(alice, s.id, direction="", content="\x1b[2J", model_name=None)
    stored = service.get(alice, s.id)
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats="all")
    texts = [f for f in result.files if f.suffix in (".md", ".txt")]
    assert {f.name for f in texts} == {"story.md", "story.txt", "part-001.md", "part-002.md"}
    for path in texts:
        data = path.read_bytes()
        text = data.decode("utf-8")  # valid UTF-8
        for control in CONTROLS:
            assert control not in text, (path.name, control)
        assert "\r" not in text
        assert not any(0x80 <= ord(ch) <= 0x9F for ch in text), path.name
        assert "\t" in text or path.name == "part-002.md"
    story_md = (result.folder / "story.md").read_text()
    assert "# Title ]0;pwned evil" in story_md
    assert "tab\there\nnext line" in story_md  # tabs and line breaks stay
    assert "- **Odd[2j key:** value" in story_md
    assert "model[31m:latest" in story_md and "gemma:latest" in story_md
    part = (result.folder / "part-001.md").read_text()
    assert export_safe(hostile).strip("\n") in part
    # story.json keeps the exact text.
    data = json.loads((result.folder / "story.json").read_text())
    assert data["session"]["title"] == stored.title
    assert data["session"]["metadata"] == stored.session_metadata
    assert data["session"]["model_name"] == stored.model_name
    [first, second] = service.all_parts(alice, s.id)
    assert data["parts"][0]["content"] == first.content == hostile
    assert data["parts"][0]["direction"] == first.direction
    assert data["parts"][0]["model_name"] == first.model_name == "gemma\x07:latest"
    assert data["parts"][1]["content"] == second.content == "\x1b[2J"
    # The EPUB is valid XML throughout and carries no control characters either.
    import zipfile

    from lxml import etree

    with zipfile.ZipFile(result.folder / "story.epub") as zf:
        for name in zf.namelist():
            if name.endswith((".xhtml", ".opf", ".ncx")):
                raw = zf.read(name)
                etree.fromstring(raw)
                text = raw.decode("utf-8")
                for control in CONTROLS:
                    assert control not in text, (name, control)


def test_an_old_row_with_a_lone_surrogate_still_exports(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    """SQLite's JSON column can hold a lone surrogate (an escape); UTF-8 cannot. The export
    writes it as the same escape in story.json and as U+FFFD in the text files."""
    service = sqlite_service
    alice = make_user(service.store)
    s = service.store.create_session(alice, "Old Row", {"genre": "a\ud800b"}, None)
    service.store.parts.add(alice, s.id, direction="", content="Text.")
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats="all")
    raw = (result.folder / "story.json").read_text()
    assert '"genre": "a\\ud800b"' in raw
    assert json.loads(raw)["session"]["metadata"] == {"genre": "a\ud800b"}
    assert "- **Genre:** a\ufffdb" in (result.folder / "story.md").read_text()
    copy = import_story(service, alice, result.folder, again=True)
    assert service.get(alice, copy.id).session_metadata == {"genre": "a\ufffdb"}


@pytest.mark.parametrize("formats", [[], ["pdf"], "md,docx", [""]])
def test_unknown_formats_are_refused_clearly(
    sqlite_service: SessionService, tmp_path: Path, formats: object
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Formats")
    with pytest.raises(InvalidInput, match="md, txt, json, epub"):
        export_session(service, alice, s.id, out_dir=tmp_path / "out", formats=formats)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


# -- names ---------------------------------------------------------------------------------

HOSTILE_TITLES = [
    ("The Keeper's Letter", "the-keepers-letter"),
    ("Café Noël à l'Hôtel", "cafe-noel-a-lhotel"),
    ("Straße der Œuvres", "strasse-der-oeuvres"),
    ("Ｆｕｌｌ ｗｉｄｔｈ", "full-width"),
    ("Ωμέγα Πόλη", "ωμέγα-πόλη"),
    ("夜の港", "夜の港"),
    ("🐉 Dragons 🔥 of Ice", "dragons-of-ice"),
    ("🐉🔥✨", "story"),
    ("../../etc/passwd", "etc-passwd"),
    ("/etc/passwd", "etc-passwd"),
    ("..\\..\\windows\\system32", "windows-system32"),
    ("nul\x00byte", "nul-byte"),
    ("esc\x1b[31mred", "esc-31mred"),
    ("CON", "con-story"),
    ("aux", "aux-story"),
    ("aux.txt", "aux-txt"),
    ("COM1", "com1-story"),
    ("lpt9", "lpt9-story"),
    ("...", "story"),
    (".hidden", "hidden"),
    ("trailing dots...   ", "trailing-dots"),
    ("", "story"),
    ("   ", "story"),
    ("\u202eevil\u202d", "evil"),
    ("\u2066iso\u2069late", "iso-late"),
    ("\x1b]0;pwned\x07title", "0-pwned-title"),
    ("csi\x9b31mred", "csi-31mred"),
    ("bell\x07ring", "bell-ring"),
    ("del\x7fete", "del-ete"),
    ("zero\u200bwidth\ufeff", "zero-width"),
    ("a\ud800b", "a-b"),
    ("\udfff", "story"),
    ("tab\there\nnew line", "tab-here-new-line"),
]


@pytest.mark.parametrize(("title", "slug"), HOSTILE_TITLES)
def test_slugs_are_safe_and_readable(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_long_titles_are_cut_at_a_word() -> None:
    slug = slugify("word " * 100)
    assert len(slug) <= 60 and slug.endswith("word") and not slug.startswith("-")
    assert len(slugify("x" * 500)) == 60
    assert len(slugify("ü" * 500)) == 60


@pytest.mark.parametrize(
    "title",
    # (Lone surrogates cannot be stored in a text column at all: slugify alone is tested.)
    [t for t, _ in HOSTILE_TITLES if not any("\ud800" <= ch <= "\udfff" for ch in t)]
    + ["x" * 500, "ü" * 500, "😀" * 300, "a/" * 250],
)
def test_hostile_titles_never_leave_the_export_directory(
    sqlite_service: SessionService, tmp_path: Path, title: str
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    # Straight into the store: a title that the service's own checks would refuse (NUL, 500
    # characters) must still export safely if it ever reaches the database.
    s = service.store.create_session(alice, title, {}, None)
    service.append_part(alice, s.id, direction="", content="text")
    out = tmp_path / "sandbox" / "exports"
    out.mkdir(parents=True)
    result = export_session(service, alice, s.id, out_dir=out, formats="all")
    assert result.folder.parent == out.resolve()
    assert result.folder.name == folder_name(s)
    assert result.folder.name.endswith(f"-{s.id[:8]}")
    assert len(result.folder.name.encode()) <= 255
    # Everything written is in that one folder: nothing beside it, nothing above it.
    assert os.listdir(tmp_path / "sandbox") == ["exports"]
    assert os.listdir(out) == [result.folder.name]
    assert sorted(os.listdir(result.folder)) == sorted(f.name for f in result.files)
    assert all(f.parent == result.folder for f in result.files)


def test_part_file_names_keep_sorting_past_999() -> None:
    assert part_file_name(7) == "part-007.md"
    assert part_file_name(7, 4) == "part-0007.md"
    assert part_file_name(1234, 3) == "part-1234.md"


# -- updating in place ---------------------------------------------------------------------


def test_exporting_again_updates_in_place(sqlite_service: SessionService, tmp_path: Path) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = write_story(service, alice)
    service.append_part(alice, s.id, direction="", content="A fourth part.")
    out = tmp_path / "out"
    first = export_session(service, alice, s.id, out_dir=out, formats=["md", "json", "epub"])
    folder = first.folder
    # The writer's own files in the folder, some with names close to ours.
    unrelated = {
        "notes.txt": "my notes",
        "part-notes.md": "not a part",
        "my-part-004.md": "mine",
        "part-004.md.bak": "backup",
        "part-4.txt": "also mine",
    }
    for name, text in unrelated.items():
        (folder / name).write_text(text)
    (folder / "drafts").mkdir()
    (folder / "drafts" / "part-004.md").write_text("draft")
    part1_mtime = (folder / "part-001.md").stat().st_mtime_ns

    service.remove_last_part(alice, s.id, 4)
    service.edit_part(alice, s.id, 2, content="She read it once.")
    second = export_session(service, alice, s.id, out_dir=out, formats=["md", "json", "epub"])

    assert second.folder == folder
    assert second.removed == [folder / "part-004.md"]
    assert not (folder / "part-004.md").exists()
    assert [f.name for f in second.files if f.name.startswith("part-")] == [
        "part-001.md",
        "part-002.md",
        "part-003.md",
    ]
    assert "She read it once." in (folder / "part-002.md").read_text()
    assert "A fourth part" not in (folder / "story.md").read_text()
    # An unchanged part is left alone (its file is not even rewritten).
    assert (folder / "part-001.md").stat().st_mtime_ns == part1_mtime
    assert second.unchanged >= 2
    for name, text in unrelated.items():
        assert (folder / name).read_text() == text
    assert (folder / "drafts" / "part-004.md").read_text() == "draft"
    assert not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]

    # Fewer formats: the folder is this export, with no stale copy of the story beside it
    # (an older story.epub or part files would still hold the text from before). The writer's
    # own files stay.
    service.remove_last_part(alice, s.id, 3)
    third = export_session(service, alice, s.id, out_dir=out, formats=["json"])
    assert sorted(p.name for p in third.removed) == [
        "part-001.md",
        "part-002.md",
        "part-003.md",
        "story.epub",
        "story.md",
    ]
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(
        ["story.json", *unrelated]
    )
    assert "She read it once." in (folder / "story.json").read_text()


def test_exported_files_get_the_usual_permissions(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = write_story(service, alice)
    old_mask = os.umask(0o022)
    try:
        result = export_session(service, alice, s.id, out_dir=tmp_path / "out", formats="all")
    finally:
        os.umask(old_mask)
    modes = {f.name: f.stat().st_mode & 0o777 for f in result.files}
    assert set(modes.values()) == {0o644}, modes


def test_stale_temporary_files_are_swept_fresh_ones_kept(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Sweep")
    folder = export_session(service, alice, s.id, out_dir=tmp_path).folder
    old = folder / f"{TEMP_PREFIX}abc.tmp"
    fresh = folder / f"{TEMP_PREFIX}def.tmp"
    old.write_text("left by a killed export")
    fresh.write_text("another export, right now")
    os.utime(old, (1, 1))
    export_session(service, alice, s.id, out_dir=tmp_path)
    assert not old.exists() and fresh.exists()


def test_a_link_in_place_of_the_folder_is_refused(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    from storyterm.errors import ExportError

    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Linked")
    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (out / folder_name(s)).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ExportError, match="is a link"):
        export_session(service, alice, s.id, out_dir=out, formats="all")
    assert list(outside.iterdir()) == []


def test_a_link_in_place_of_a_file_is_replaced_not_followed(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Planted")
    service.append_part(alice, s.id, direction="", content="story text")
    out = tmp_path / "out"
    folder = out / folder_name(s)
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("part-001.md", "story.md", "story.json", "part-002.md"):
        (folder / name).symlink_to(victim)
    result = export_session(service, alice, s.id, out_dir=out)
    assert victim.read_text() == "precious"
    for name in ("part-001.md", "story.md", "story.json"):
        assert not (folder / name).is_symlink()
    assert "story text" in (folder / "part-001.md").read_text()
    # A link named like a stale part file is removed (the link, not what it points to).
    assert result.removed == [folder / "part-002.md"]
    assert victim.exists()


def test_an_export_directory_that_is_a_link_is_followed(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Elsewhere")
    real = tmp_path / "real-exports"
    real.mkdir()
    link = tmp_path / "exports"
    link.symlink_to(real, target_is_directory=True)
    result = export_session(service, alice, s.id, out_dir=link)
    assert result.folder.parent == real.resolve()


def test_the_default_export_directory(
    sqlite_service: SessionService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storyterm folder in the user's documents folder, wherever storyterm was started."""
    service = sqlite_service
    alice = make_user(service.store)
    s = service.start(alice, "Default")
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # no user-dirs.dirs
    monkeypatch.chdir(tmp_path)
    result = export_session(service, alice, s.id)
    assert result.folder.parent == (home / "Documents" / "storyterm").resolve()
    assert not (tmp_path / "generated_stories").exists()


# -- bad imports ---------------------------------------------------------------------------


def _exported(service: SessionService, user: int, tmp_path: Path) -> dict:
    s = write_story(service, user)
    result = export_session(service, user, s.id, out_dir=tmp_path / "out", formats=["json"])
    return json.loads((result.folder / "story.json").read_text())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not a storyterm export .it is not UTF-8"),
        (b"title: not json", "not a storyterm export .it is not JSON"),
        (b'{"name": "package.json", "version": "1.0.0"}', 'no "format": "storyterm-story"'),
        (b"[1, 2, 3]", "not a storyterm export"),
        (b'{"format": "storyterm-story", "version": 99}', "newer storyterm"),
        (b'{"format": "storyterm-story", "version": "one"}', "damaged"),
        (b'{"format": "storyterm-story", "version": 1, "session": {"tit', "damaged .broken JSON"),
        (b'{"format": "storyterm-story", "version": 1, "parts": []}', "session.*missing"),
    ],
)
def test_files_that_are_not_storyterm_exports(
    sqlite_service: SessionService, tmp_path: Path, content: bytes, message: str
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    path = tmp_path / "story.json"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message):
        import_story(service, alice, path)
    assert service.count(alice) == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d["parts"][1].update(state="exploded"), "part 2, field 'state'"),
        (lambda d: d["parts"][0].pop("content"), "part 1, field 'content': is missing"),
        (lambda d: d["parts"][2].update(prompt_tokens=-5), "part 3, field 'prompt_tokens'"),
        (lambda d: d["parts"].pop(1), "part 2 in the list says it is part 3"),
        (lambda d: d["totals"].update(parts=7), "holds 7 parts but holds 3"),
        (lambda d: d["session"].update(title=""), "needs a title"),
        (lambda d: d["session"].update(status="archived"), "the session, field 'status'"),
        (lambda d: d["session"].update(metadata=["x"]), "the session, field 'metadata'"),
        (lambda d: d["parts"][0].update(content="x" * 1_000_001), "at most 1,000,000"),
    ],
)
def test_damaged_exports_are_refused_with_what_is_wrong(
    sqlite_service: SessionService, tmp_path: Path, damage, message: str
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    data = _exported(service, alice, tmp_path)
    damage(data)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInput, match=message):
        import_story(service, alice, path)
    assert service.count(alice) == 1  # only the original: nothing half-imported


def test_missing_big_and_odd_paths(
    sqlite_service: SessionService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyterm.core.export import story_file

    service = sqlite_service
    alice = make_user(service.store)
    with pytest.raises(InvalidInput, match=r"no file .*story.json that storyterm exported"):
        import_story(service, alice, tmp_path / "nope.json")
    with pytest.raises(InvalidInput, match="There is no file"):
        import_story(service, alice, tmp_path)  # a folder without a story.json
    data = _exported(service, alice, tmp_path)
    path = tmp_path / "story.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(story_file, "MAX_IMPORT_BYTES", 1000)
    with pytest.raises(InvalidInput, match="imports story files of up to"):
        import_story(service, alice, path)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInput, match="is not a file"):
        import_story(service, alice, fifo)


def test_an_older_file_without_optional_fields_imports(
    sqlite_service: SessionService, tmp_path: Path
) -> None:
    service = sqlite_service
    alice = make_user(service.store)
    path = tmp_path / "story.json"
    path.write_text(
        json.dumps(
            {
                "format": "storyterm-story",
                "version": 1,
                "session": {"title": "Minimal"},
                "parts": [{"seq": 1, "content": "Only text."}],
                "future_field": {"ignored": True},
            }
        )
    )
    copy = import_story(service, alice, path)
    assert (copy.title, copy.status, copy.part_count, copy.word_count) == (
        "Minimal",
        SessionStatus.ACTIVE,
        1,
        2,
    )
    [part] = service.all_parts(alice, copy.id)
    assert (part.direction, part.state, part.model_name) == ("", PartState.DONE, None)


def test_ebooklib_loads_only_for_an_epub() -> None:
    import subprocess
    import sys

    code = (
        "import sys, storyterm.cli, storyterm.core.export; "
        "print(sorted(m for m in ('ebooklib', 'lxml') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert done.stdout.strip() == "[]"
