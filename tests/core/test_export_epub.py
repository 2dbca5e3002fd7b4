"""The EPUB's chapters: a part's Markdown rendered by markdown-it into XHTML that a strict XML
parser accepts, with the model's text always text (HTML in it is escaped, never markup)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from storyterm.core.export import export_session
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from tests.helpers import make_user

XHTML = {"x": "http://www.w3.org/1999/xhtml"}


@pytest.fixture
def service(sqlite_url: str) -> Iterator[SessionService]:
    store = Store.open(sqlite_url, None)
    yield SessionService(store)
    store.close()


class Chapter:
    """One chapter of the EPUB: its XHTML as written, and parsed strictly (no recovery: a
    document that is not well-formed XML fails the test right here)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw.decode("utf-8")
        parser = etree.XMLParser(recover=False, resolve_entities=False)
        self.root = etree.fromstring(raw, parser)

    def xpath(self, path: str) -> list[etree._Element]:
        return list(self.root.xpath(path, namespaces=XHTML))

    def texts(self, path: str) -> list[str]:
        return ["".join(e.itertext()) for e in self.xpath(path)]

    def tags(self) -> list[str]:
        """The body's elements by name, in document order (the part's own heading first)."""
        [body] = self.xpath("/x:html/x:body")
        return [etree.QName(e).localname for e in body.iterdescendants()]


def chapters(service: SessionService, tmp_path: Path, *contents: str) -> list[Chapter]:
    """The chapters of an EPUB exported from a story whose parts hold `contents`."""
    alice = make_user(service.store)
    s = service.start(alice, "Rendering")
    for content in contents:
        service.append_part(alice, s.id, direction="", content=content)
    result = export_session(service, alice, s.id, out_dir=tmp_path, formats=["epub"])
    with zipfile.ZipFile(result.folder / "story.epub") as zf:
        return [
            Chapter(zf.read(f"EPUB/part-{seq:04d}.xhtml")) for seq in range(1, len(contents) + 1)
        ]


def test_emphasis_headings_and_lists(service: SessionService, tmp_path: Path) -> None:
    [emphasis, headings, lists] = chapters(
        service,
        tmp_path,
        "**Mara** ran *fast*, ***faster***, and _then_ __stopped__.",
        "# The Harbour\n\nRain.\n\n### At night\n\nMore rain.",
        "- salt\n- rope\n\n1. first\n2. second",
    )
    assert emphasis.texts("//x:strong") == ["Mara", "faster", "stopped"]
    assert emphasis.texts("//x:em") == ["fast", "faster", "then"]
    assert headings.tags() == ["h2", "h1", "p", "h3", "p"]  # h2 is the part's own heading
    assert headings.texts("//x:h1") == ["The Harbour"]
    assert lists.texts("//x:ul/x:li") == ["salt", "rope"]
    assert lists.texts("//x:ol/x:li") == ["first", "second"]


def test_a_code_fence_is_code_and_its_text_stays_literal(
    service: SessionService, tmp_path: Path
) -> None:
    [chapter] = chapters(
        service, tmp_path, "Before.\n\n```python\nif a < b and *c*:\n    <tag> & more\n```\n"
    )
    [code] = chapter.xpath("//x:pre/x:code")
    assert code.text == "if a < b and *c*:\n    <tag> & more\n"
    assert code.get("class") == "language-python"
    assert len(code) == 0  # no child elements: no emphasis, no <tag>


def test_raw_html_in_a_part_is_escaped_text(service: SessionService, tmp_path: Path) -> None:
    hostile = (
        "<script>alert('x')</script>\n\n"
        "Inline <b>bold?</b> and <img src=x onerror=alert(1)>.\n\n"
        '<div class="x">\n\nblock\n\n</div>'
    )
    [chapter] = chapters(service, tmp_path, hostile)
    for tag in ("script", "b", "img", "div"):
        assert not chapter.xpath(f"//x:{tag}"), tag
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in chapter.raw
    assert chapter.texts("//x:p")[0] == "<script>alert('x')</script>"
    assert "Inline <b>bold?</b> and <img src=x onerror=alert(1)>." in chapter.texts("//x:p")


def test_line_breaks_and_scene_breaks(service: SessionService, tmp_path: Path) -> None:
    [chapter] = chapters(
        service,
        tmp_path,
        "Dear Mara,\nthe lamp is out.\nYours, K.\n\n***\n\nHard break  \nhere.\n\n---\n\nEnd.",
    )
    [letter, _, hard, _, end] = chapter.xpath("//x:p")
    assert [len(p) for p in (letter, hard, end)] == [2, 1, 0]  # a <br /> per line break
    assert {br.tag for p in (letter, hard) for br in p} == {f"{{{XHTML['x']}}}br"}
    assert "".join(letter.itertext()) == "Dear Mara,\nthe lamp is out.\nYours, K."
    assert "Dear Mara,<br />\nthe lamp is out.<br />" in chapter.raw  # XHTML, not <br>
    breaks = chapter.xpath("//x:p[@class='break']")
    assert [b.text for b in breaks] == ["* * *", "* * *"]
    assert not chapter.xpath("//x:hr")


def test_prose_habits_stay_prose(service: SessionService, tmp_path: Path) -> None:
    """An indented paragraph is not a code block, a picture is its description (nothing for a
    reading app to fetch), and a character reference cannot bring back a bidi override."""
    [chapter] = chapters(
        service,
        tmp_path,
        "\tThe first paragraph, indented.\n\n    The second, with four spaces.\n\n"
        "![a *small* boat](http://tracker.example/boat.png)\n\n"
        "Evil &#x202e;reversed&#x202c; and &amp; kept.",
    )
    assert not chapter.xpath("//x:pre | //x:code | //x:img")
    paragraphs = chapter.texts("//x:p")
    assert paragraphs[:3] == [
        "The first paragraph, indented.",
        "The second, with four spaces.",
        "a small boat",
    ]
    assert chapter.texts("//x:p/x:em") == ["small"]
    assert "tracker.example" not in chapter.raw
    assert "\u202e" not in chapter.raw and "\u202c" not in chapter.raw
    assert paragraphs[3] == "Evil reversed and & kept."


def test_markdown_it_loads_only_for_an_epub() -> None:
    code = "import sys, storyterm.core.export; print('markdown_it' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert done.stdout.strip() == "False"


def _opf(folder: Path) -> etree._Element:
    with zipfile.ZipFile(folder / "story.epub") as zf:
        name = next(n for n in zf.namelist() if n.endswith(".opf"))
        return etree.fromstring(zf.read(name))


def _creators(folder: Path) -> list[str]:
    dc = {"dc": "http://purl.org/dc/elements/1.1/"}
    return [e.text or "" for e in _opf(folder).xpath("//dc:creator", namespaces=dc)]


def test_the_writer_is_the_author_of_the_epub_and_the_title_blocks(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store)
    story = service.start(alice, "Salt Roads")
    service.append_part(alice, story.id, direction="", content="The tide came in.")
    result = export_session(
        service,
        alice,
        story.id,
        out_dir=tmp_path,
        formats=["epub", "md", "txt", "json"],
        author="Mara Quill",
    )
    assert _creators(result.folder) == ["Mara Quill"]
    md = (result.folder / "story.md").read_text()
    assert md.splitlines()[2] == "- **Author:** Mara Quill"  # first, under the title
    assert "Author: Mara Quill" in (result.folder / "story.txt").read_text()
    # story.json keeps the story as stored: importing it does not make the name its own.
    assert "Mara Quill" not in (result.folder / "story.json").read_text()


def test_a_story_that_names_its_own_author_keeps_it(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store)
    story = service.start(alice, "Salt Roads", {"author": "A. Pen Name"})
    result = export_session(
        service, alice, story.id, out_dir=tmp_path, formats=["epub", "md"], author="alice"
    )
    assert _creators(result.folder) == ["A. Pen Name"]
    assert "- **Author:** A. Pen Name" in (result.folder / "story.md").read_text()
    assert "alice" not in (result.folder / "story.md").read_text()
