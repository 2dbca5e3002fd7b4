"""A finished part's text as ONE widget: its Markdown laid out into lines by hand.

Textual's `Markdown` widget mounts a widget per block (a 470-word part is ~20 paragraphs, each
styled, laid out and composited on its own), which is what made opening a long story slow.
`Prose` parses the same Markdown (markdown-it's "gfm-like", as `Markdown` does) into a small
tree of blocks and renders it as one Visual: paragraphs, *em*, **strong**, `code`, ~~strike~~,
headings, bullet and numbered lists (hanging indent), block quotes (bar and tint), fenced code,
rules, tables and line breaks, with the spacing `Markdown` gives them (a blank line under a
paragraph, margins that collapse). A streaming part keeps the `Markdown` widget while it streams.

Plain prose is parsed by `prose_subset` (markdown-it loads only for the rest).

The text is data: it is never parsed as Textual/Rich markup (styles come from the Markdown
structure only), and the caller passes it through `safe` first (control characters).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.segment import Segment
from textual.content import Content, Span
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, RulesMap, Visual
from textual.widget import Widget

from storyterm.tui.compat import divide_line
from storyterm.tui.widgets import prose_subset as subset

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypedDict, Unpack

    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from markdown_it.tree import SyntaxTreeNode

    class _LeafOptions(TypedDict, total=False):
        """Leaf's keyword arguments (what _Builder.leaf passes on)."""

        top: int
        bottom: int
        style: str
        center: bool
        fold: bool
        rule: bool


#: Unordered list bullets by depth (as Textual's Markdown widget draws them).
BULLETS = ("• ", "▪ ", "‣ ", "⭑ ", "◦ ")
_SPACES = re.compile(r"\s+")

_parser: MarkdownIt | None = None


def _markdown_parser() -> MarkdownIt:
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt

        # What textual.widgets.Markdown parses with, less linkify (a bare URL becomes a link):
        # links are not opened here, and it was four fifths of the parsing time.
        _parser = MarkdownIt("gfm-like").disable("linkify")
    return _parser


# -- the document: blocks with margins -------------------------------------------------------


# Plain classes, not dataclasses: creating a dataclass compiles its methods from source at
# import (bench/FINDINGS.md), and this module loads with every start-up.


class Leaf:
    """Lines of text laid out together (a paragraph, a heading, a code block's code)."""

    __slots__ = ("bottom", "center", "fold", "lines", "rule", "style", "top", "y")

    def __init__(
        self,
        lines: list[Content],
        top: int = 0,
        bottom: int = 0,
        style: str = "",
        center: bool = False,
        fold: bool = False,
        rule: bool = False,
        y: int = -1,
    ) -> None:
        self.lines = lines
        self.top = top
        self.bottom = bottom
        #: Style of the text (a heading's colour), under the inline styles.
        self.style = style
        self.center = center
        #: Code: cut long lines at the edge (no word wrap, nothing lost).
        self.fold = fold
        #: A horizontal rule: one line of "─" across the width (`lines` is empty).
        self.rule = rule
        #: First line of this leaf in `Doc.plain` (what a mouse selection copies); -1: none.
        self.y = y


class Box:
    """Blocks inside a frame: a quote's bar, a list item's bullet, a code block's tint."""

    __slots__ = ("bottom", "children", "first", "pad", "rest", "right", "style", "top")

    def __init__(
        self,
        children: list[Leaf | Box],
        top: int = 0,
        bottom: int = 0,
        first: Content | None = None,
        rest: Content | None = None,
        right: int = 0,
        pad: int = 0,
        style: str = "",
    ) -> None:
        self.children = children
        self.top = top
        self.bottom = bottom
        #: Drawn before the first line, and before every other line (the same width).
        self.first = Content() if first is None else first
        self.rest = Content() if rest is None else rest
        #: Cells kept free on the right.
        self.right = right
        #: Blank lines inside the frame above and below the blocks (a code block's padding).
        self.pad = pad
        #: Style of every line of the box, across the whole width (a background).
        self.style = style


class Doc:
    __slots__ = ("blocks", "plain")

    def __init__(self, blocks: list[Leaf | Box], plain: list[str]) -> None:
        self.blocks = blocks
        #: The text a selection is taken from: each leaf's lines, a blank line between leaves.
        self.plain = plain


class _Builder:
    """markdown-it's syntax tree -> Leaf/Box blocks (the styles Textual's Markdown uses)."""

    def __init__(self, dark: bool) -> None:
        self.dark = dark
        self.plain: list[str] = []
        self.code_style = (
            "$text-warning 95% on $warning 10%" if dark else "$text-error 95% on $error 5%"
        )

    def leaf(self, lines: list[Content], **options: Unpack[_LeafOptions]) -> Leaf:
        leaf = Leaf(lines, **options)
        if lines:
            if self.plain:
                self.plain.append("")
            leaf.y = len(self.plain)
            self.plain.extend(line.plain for line in lines)
        return leaf

    def blocks(self, node: SyntaxTreeNode, depth: int = 0) -> list[Leaf | Box]:
        """The blocks under `node`; `depth` counts enclosing quotes and lists (0: the top)."""
        out: list[Leaf | Box] = []
        for child in node.children:
            block = self.block(child, depth)
            if block is not None:
                out.append(block)
        return out

    def block(self, node: SyntaxTreeNode, depth: int) -> Leaf | Box | None:
        kind = node.type
        if kind == "paragraph":
            return self.paragraph(self.inline(node), depth)
        if kind == "heading":
            return self.heading(
                int(node.tag[1:]) if node.tag[1:].isdigit() else 1, self.inline(node)
            )
        if kind == "blockquote":
            bar = "$text-primary 50%" if self.dark else "$text-secondary"
            return Box(
                self.blocks(node, depth + 1),
                top=1,
                bottom=1,
                first=Content.styled("▌ ", bar),
                rest=Content.styled("▌ ", bar),
                right=1,
                style="on $boost",
            )
        if kind in ("bullet_list", "ordered_list"):
            return self.listing(node, depth)
        if kind in ("fence", "code_block"):
            return self.code(node)
        if kind == "hr":
            return self.leaf([], bottom=1, rule=True, style="$secondary")
        if kind == "table":
            return self.table(node, depth)
        if kind == "html_block":
            # Textual's Markdown drops raw HTML; here it is the writer's text: shown as text.
            text = node.content.strip("\n")
            return self.leaf([Content(line) for line in text.split("\n")], bottom=0 if depth else 1)
        return None

    def paragraph(self, lines: list[Content], depth: int) -> Leaf:
        # Only a paragraph at the top has the blank line under it (as in Markdown).
        return self.leaf(lines, bottom=0 if depth else 1)

    def heading(self, level: int, lines: list[Content]) -> Leaf:
        var = f"markdown-h{level}"
        return self.leaf(
            [
                line.stylize_before(f"${var}-text-style").stylize_before(f"on ${var}-background")
                for line in lines
            ],
            top=2 if level <= 2 else 1,
            bottom=1,
            style=f"${var}-color",
            center=level == 1,
        )

    def listing(self, node: SyntaxTreeNode, depth: int) -> Box:
        ordered = node.type == "ordered_list"
        items = [item for item in node.children if item.type == "list_item"]
        symbol = "$text-primary" if self.dark else "$text-secondary"
        boxes: list[Leaf | Box] = []
        if ordered:
            try:
                start = int(items[0].info) if items else 1
            except ValueError:
                start = 1
            size = max((len(f"{n}. ") for n in range(start, start + len(items))), default=3)
            marks = [f"{n}. ".rjust(size + 1) for n in range(start, start + len(items))]
        else:
            nesting = sum(1 for _ in _ancestors(node, "bullet_list"))
            marks = [BULLETS[nesting % len(BULLETS)]] * len(items)
        for item, mark in zip(items, marks, strict=True):
            boxes.append(
                Box(
                    self.blocks(item, depth + 1),
                    first=Content.styled(mark, symbol),
                    rest=Content(" " * len(mark)),
                    right=1,
                )
            )
        inside_list = any(True for _ in _ancestors(node, "list_item"))
        return Box(boxes, bottom=0 if inside_list else 1)

    def code(self, node: SyntaxTreeNode) -> Box:
        text = node.content.rstrip().replace("\t", "    ")
        content: Content
        if node.info.strip():
            from textual.highlight import highlight

            content = highlight(text, language=node.info.split()[0])
        else:
            content = Content(text)
        background = "black 10%" if self.dark else "white 30%"
        return Box(
            [self.leaf(content.split("\n", allow_blank=True), fold=True)],
            top=1,
            bottom=1,
            first=Content("  "),
            rest=Content("  "),
            right=2,
            pad=1,
            style=f"rgb(210,210,210) on {background}",
        )

    def table(self, node: SyntaxTreeNode, depth: int) -> Leaf:
        rows: list[tuple[bool, list[Content]]] = []
        for section in node.children:
            for row in section.children:
                cells = [_flat(self.inline(cell)) for cell in row.children]
                rows.append((section.type == "thead", cells))
        columns = max((len(cells) for _head, cells in rows), default=0)
        widths = [0] * columns
        for _head, cells in rows:
            for n, cell in enumerate(cells):
                widths[n] = max(widths[n], cell.cell_length)
        lines: list[Content] = []
        separator = Content.styled(" │ ", "$foreground 30%")
        for head, cells in rows:
            padded = [
                cell.pad_right(widths[n] - cell.cell_length).stylize_before("bold" if head else "")
                for n, cell in enumerate(cells)
            ]
            lines.append(separator.join(padded).rstrip())
            if head:
                lines.append(Content.styled("─┼─".join("─" * w for w in widths), "$foreground 30%"))
        return self.leaf(lines, bottom=0 if depth else 1)

    def inline(self, node: SyntaxTreeNode) -> list[Content]:
        """A block's inline text as Content lines (a hard break starts a new line)."""
        inline = next((c for c in node.children if c.type == "inline"), None)
        if inline is None or inline.token is None:
            return []
        return self.inline_tokens(inline.token.children or ())

    def inline_tokens(self, tokens: Iterable[Token | subset.Token]) -> list[Content]:
        """Inline tokens (markdown-it's, or `prose_subset`'s) as Content lines."""
        text: list[str] = []
        spans: list[Span] = []
        opened: list[tuple[str, int]] = []
        position = 0

        def add(piece: str) -> None:
            nonlocal position
            text.append(piece)
            position += len(piece)

        styles = {"em": "italic", "strong": "bold", "s": "strike", "link": "underline"}
        for token in tokens:
            kind = token.type
            if kind == "text":
                add(_SPACES.sub(" ", token.content))
            elif kind == "softbreak":
                add(" ")
            elif kind == "hardbreak":
                add("\n")
            elif kind == "code_inline":
                start = position
                add(token.content)
                spans.append(Span(start, position, self.code_style))
            elif kind == "html_inline":
                add(token.content)
            elif kind == "image":
                alt = token.content or str(token.attrs.get("alt", "") or "")
                add(f"🖼  ({alt})" if alt else "🖼  ")
            elif kind.endswith("_open") and kind[:-5] in styles:
                opened.append((styles[kind[:-5]], position))
            elif kind.endswith("_close") and kind[:-6] in styles and opened:
                style, start = opened.pop()
                spans.append(Span(start, position, style))
        content = Content("".join(text), spans=spans)
        if "\n" not in content.plain:
            return [content]
        return content.split("\n", allow_blank=True)


def _ancestors(node: SyntaxTreeNode, kind: str) -> list[SyntaxTreeNode]:
    found = []
    parent = node.parent
    while parent is not None:
        if parent.type == kind:
            found.append(parent)
        parent = parent.parent
    return found


def _flat(lines: list[Content]) -> Content:
    return Content(" ").join(lines) if len(lines) > 1 else (lines[0] if lines else Content())


def parse(markdown: str, *, dark: bool = True) -> Doc:
    """Markdown source -> the blocks `ProseVisual` lays out: plain prose without markdown-it
    (`prose_subset`, the same result), the rest of Markdown with it."""
    builder = _Builder(dark)
    if not markdown.strip():
        return Doc([], [])
    prose = subset.parse_subset(markdown)
    if prose is not None:
        blocks: list[Leaf | Box] = [
            builder.heading(block.level, builder.inline_tokens(block.tokens))
            if block.level
            else builder.paragraph(builder.inline_tokens(block.tokens), 0)
            for block in prose
        ]
        return Doc(blocks, builder.plain)
    return parse_with_markdown_it(markdown, dark=dark)


def parse_with_markdown_it(markdown: str, *, dark: bool = True) -> Doc:
    """Any Markdown -> the blocks, through markdown-it."""
    from markdown_it.tree import SyntaxTreeNode

    builder = _Builder(dark)
    tree = SyntaxTreeNode(_markdown_parser().parse(markdown))
    return Doc(builder.blocks(tree), builder.plain)


# -- laying out and painting -----------------------------------------------------------------

#: One piece of a screen line: text, and where it sits in `Doc.plain` (x, y) or None.
_Piece = tuple[Content, int, int] | tuple[Content, None, None]


class _Row:
    __slots__ = ("pieces", "styles")

    def __init__(self, pieces: list[_Piece], styles: tuple[str, ...] = ()) -> None:
        self.pieces = pieces
        #: Styles of the enclosing boxes, outermost first (backgrounds across the whole width).
        self.styles = styles


def _blank_rows(count: int) -> list[_Row]:
    return [_Row([]) for _ in range(count)]


def _layout_blocks(blocks: list[Leaf | Box], width: int) -> list[_Row]:
    """Blocks one under another; the space between two is the larger of their margins."""
    rows: list[_Row] = []
    below = 0
    for index, block in enumerate(blocks):
        rows.extend(_blank_rows(block.top if index == 0 else max(below, block.top)))
        rows.extend(
            _layout_box(block, width) if isinstance(block, Box) else _layout_leaf(block, width)
        )
        below = block.bottom
    rows.extend(_blank_rows(below))
    return rows


def _layout_box(box: Box, width: int) -> list[_Row]:
    indent = box.first.cell_length
    inner = max(1, width - indent - box.right)
    rows = _blank_rows(box.pad) + _layout_blocks(box.children, inner) + _blank_rows(box.pad)
    for index, row in enumerate(rows):
        prefix = box.first if index == 0 else box.rest
        if prefix:
            row.pieces.insert(0, (prefix, None, None))
        if box.style:
            row.styles = (box.style, *row.styles)
    return rows


def _layout_leaf(leaf: Leaf, width: int) -> list[_Row]:
    if leaf.rule:
        # Two blank lines over the rule: how Textual's Markdown draws it (padding + border).
        return [*_blank_rows(2), _Row([(Content.styled("─" * width, leaf.style), None, None)])]
    rows: list[_Row] = []
    for number, line in enumerate(leaf.lines):
        y = leaf.y + number
        if leaf.style:
            line = line.stylize_before(leaf.style)
        if line.cell_length <= width:
            offsets: list[int] = []
        elif leaf.fold:
            offsets = list(range(width, len(line.plain), width))
        else:
            offsets = divide_line(line.plain, width, fold=True)
        pieces = line.divide(offsets) if offsets else [line]
        for last, (piece, x) in _mark_last(zip(pieces, [0, *offsets], strict=True)):
            if not last:
                piece = piece.rstrip()
            row = _Row([(piece, x, y)])
            if leaf.center and (space := width - piece.cell_length) > 1:
                row.pieces.insert(0, (Content(" " * (space // 2)), None, None))
            rows.append(row)
    return rows


def _mark_last(items: Iterable[tuple[Content, int]]) -> list[tuple[bool, tuple[Content, int]]]:
    listed = list(items)
    return [(n == len(listed) - 1, item) for n, item in enumerate(listed)]


class ProseVisual(Visual):
    """A `Doc` painted as lines; the layout for the last width asked is kept."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self._rows: tuple[int, list[_Row]] | None = None

    @property
    def plain(self) -> str:
        return "\n".join(self.doc.plain)

    def rows(self, width: int) -> list[_Row]:
        if self._rows is None or self._rows[0] != width:
            self._rows = (width, _layout_blocks(self.doc.blocks, max(1, width)))
        return self._rows[1]

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return container_width

    def get_height(self, rules: RulesMap, width: int) -> int:
        return len(self.rows(width)) if self.doc.blocks else 0

    def render_strips(
        self, width: int, height: int | None, style: Style, options: RenderOptions
    ) -> list[Strip]:
        if not width or not self.doc.blocks:
            return []
        get_style = options.get_style
        selection = options.selection
        selection_style = options.selection_style
        row_styles: dict[tuple[str, ...], Style] = {}
        strips: list[Strip] = []
        rows = self.rows(width)
        for row in rows if height is None else rows[:height]:
            base = row_styles.get(row.styles)
            if base is None:
                base = style
                for extra in row.styles:
                    base = base + get_style(extra)
                row_styles[row.styles] = base
            segments: list[Segment] = []
            cells = 0
            for content, x, y in row.pieces:
                if x is None or y is None:
                    for text, text_style in content.render(base, end="", parse_style=get_style):
                        segments.append(Segment(text, (base + text_style).rich_style))
                    cells += content.cell_length
                    continue
                if selection is not None and selection_style is not None:
                    content = _select(content, x, y, selection, selection_style)
                for text, text_style in content.render(base, end="", parse_style=get_style):
                    segments.append(Segment(text, (base + text_style).rich_style_with_offset(x, y)))
                    x += len(text)
                cells += content.cell_length
            strip = Strip(segments, cells)
            if row.styles and cells < width:
                strip = strip.extend_cell_length(width, base.rich_style)
            strips.append(strip)
        return strips


def _select(content: Content, x: int, y: int, selection: Selection, style: Style) -> Content:
    """`content` (which starts at column x of line y) with the selected part styled."""
    span = selection.get_span(y)
    if span is None:
        return content
    start, end = span
    length = len(content.plain)
    if end == -1:
        end = x + length
    start, end = max(start - x, 0), min(end - x, length)
    if start >= end:
        return content
    return content.stylize(style, start, end)


class Prose(Widget):
    """Markdown text shown as one widget (see the module docstring); `update` replaces it."""

    DEFAULT_CSS = """
    Prose { height: auto; }
    """

    def __init__(
        self,
        markdown: str = "",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._source = markdown
        self._visual: tuple[bool, ProseVisual] | None = None

    @property
    def source(self) -> str:
        """The Markdown shown."""
        return self._source

    def update(self, markdown: str) -> None:
        if markdown == self._source:
            return
        self._source = markdown
        self._visual = None
        self.refresh(layout=True)

    def _prose(self) -> ProseVisual:
        dark = self.app.current_theme.dark
        if self._visual is None or self._visual[0] != dark:
            self._visual = (dark, ProseVisual(parse(self._source, dark=dark)))
        return self._visual[1]

    def render(self) -> ProseVisual:
        return self._prose()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self._visual is not None and self._visual[0] != self.app.current_theme.dark:
            self.refresh(layout=True)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract(self._prose().plain), "\n"
