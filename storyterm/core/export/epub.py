"""story.epub: EPUB 3 built with EbookLib, a title page and one chapter per part, each part's
Markdown rendered to XHTML by markdown-it."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from storyterm.core.basics import BibleField
from storyterm.core.export.formats import state_note, title_facts
from storyterm.core.text import export_safe
from storyterm.core.views import Part, Session
from storyterm.errors import ExportError

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

#: Characters XML 1.0 (so XHTML, so EPUB) cannot hold at all.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


class EpubBuilder:
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
        self.markdown = _markdown()
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
        premise = meta.get(BibleField.PREMISE)
        if isinstance(premise, str) and premise.strip():
            self.book.add_metadata("DC", "description", _xml_text(premise.strip()))
        genre = meta.get(BibleField.GENRE)
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
        note = state_note(part).strip(" ()")
        if note:
            body.append(f'<p class="note">{_esc(note)}</p>')
        body.append(self._prose(part.content))
        name = f"part-{part.seq:04d}"
        self.chapters.append(self._document(name, f"{name}.xhtml", title, "\n".join(body)))

    def _prose(self, content: str) -> str:
        """A part's Markdown as XHTML."""
        # export_safe before parsing, so the Markdown read is the text story.md holds; and
        # again on the XHTML, because markdown-it decodes character references, and
        # `&#x202e;` would bring back the override export_safe dropped.
        return _xml_text(self.markdown.render(_xml_text(content)))

    def build(self, parts: int, words: int, models: list[str]) -> bytes:
        import io

        epub = self.epub
        rows = "".join(
            f"<dt>{_esc(label)}</dt><dd>{_esc(value)}</dd>"
            for label, value in title_facts(self.session, parts, words, models)
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
    story; ours is well-formed by construction (text escaped, markdown-it's tags nested and
    closed XHTML-style)."""
    from ebooklib import epub

    class PrebuiltHtml(epub.EpubHtml):
        def get_content(self, default: Any = None) -> bytes:
            return self.content

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
li p, blockquote p { text-indent: 0; }
pre { white-space: pre-wrap; }
"""


def _xml_text(text: str) -> str:
    """Text for the EPUB: export_safe (no terminal controls, like every text export), and
    nothing XML 1.0 cannot hold."""
    return _XML_INVALID.sub("", export_safe(text))


def _esc(text: str) -> str:
    return html.escape(_xml_text(text), quote=True)


def _markdown() -> MarkdownIt:
    """A CommonMark parser for a part's prose whose output a strict XML parser accepts."""
    # Imported here: markdown-it is needed only once an EPUB is asked for, and importing
    # storyterm.core.export stays as cheap as the text formats need.
    from markdown_it import MarkdownIt

    markdown = MarkdownIt(
        "commonmark",
        {
            # A model's output is data: HTML in a part is text, escaped, never markup.
            "html": False,
            # Void tags closed the XHTML way (<br />, <hr />): an EPUB is XML.
            "xhtmlOut": True,
            # A line break in a part stays one in the book, as on screen and in story.txt
            # (a letter, a verse), not folded into the paragraph.
            "breaks": True,
        },
    )
    # Writers indent paragraphs (a tab, four spaces) and mean prose, not an indented code
    # block; fenced code still renders as code.
    markdown.disable("code")
    markdown.add_render_rule("hr", _scene_break)
    markdown.add_render_rule("image", _image_as_words)
    return markdown


def _scene_break(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # In prose a thematic break (***, ---) is a scene break: centred asterisks, as books set
    # them, not a rule each reading app draws its own way.
    return '<p class="break">* * *</p>\n'


def _image_as_words(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # A book must not make a reading app fetch a picture from a server a model named, nor
    # point at a file the EPUB does not hold: a picture is shown as its description.
    return renderer.renderInline(tokens[idx].children or [], options, env)
