"""The Textual Markdown a part streams into (imported when a part starts streaming).

Textual's Markdown widget module loads its code highlighter (pygments) and more: a story opened
at start-up shows Prose widgets only, so this module, and Markdown with it, loads with the first
generation, not with the first frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownStream

from storyterm.tui.widgets.stream_layout import MeasuringStreamLayout

if TYPE_CHECKING:
    from textual.layout import Layout

__all__ = ["MarkdownStream", "StreamMarkdown"]


class StreamMarkdown(Markdown):
    """A streaming part's Markdown, laid out as a stream that re-measures every block whose
    size changed (see stream_layout: Textual's own stream layout can miss one)."""

    def __init__(self, markdown: str | None = None, *, classes: str | None = None) -> None:
        # The part names the class its text widgets carry (part_view.BODY): imported from
        # there, the two modules would import each other.
        super().__init__(markdown, open_links=False, classes=classes)
        self._stream_layout = MeasuringStreamLayout()

    @property
    def layout(self) -> Layout:
        return self._stream_layout

    def open_stream(self) -> MarkdownStream:
        return Markdown.get_stream(self)


def warm_parser() -> None:
    """Parse a line as a streaming part's Markdown does (Textual's "gfm-like" markdown-it, with
    linkify), in the warm-up thread: the first parse of the process compiles its patterns
    (linkify-it's are large; Python keeps compiled patterns for the whole process), ~10 ms on
    the event loop at the first words of the first part otherwise (bench/FINDINGS.md)."""
    MarkdownIt("gfm-like").parse("Warm *words*, **bold**, `code` and www.example.com.\n\n- one\n")
