"""Plain story prose parsed without markdown-it, exactly as markdown-it parses it.

Most parts a model writes are paragraphs with *em* and **strong**, and now and then a heading.
Importing markdown-it and its first parse cost about a tenth of storyterm's start-up (its
modules compile ~100 regular expressions), so `parse_subset` handles that subset itself and
returns None for anything else: a list, a quote, code, a table, a link, HTML, an escape, an
entity, a rule, a setext heading or unusual whitespace. The caller then uses markdown-it, so the
rest of Markdown keeps working; it only loads when a text needs it.

The inline part is a port of markdown-it-py's own rules for this subset (the `newline` rule,
`emphasis.tokenize`, `balance_pairs.processDelimiters`, `emphasis.postProcess` and
`fragments_join`; MIT licence, (c) Vitaly Puzrin, Alex Kocharin and ExecutableBookProjects),
so the tokens, and so what is drawn, are the same. tests/tui/test_prose_subset.py compares the
two on thousands of generated texts.
"""

from __future__ import annotations

import re
import unicodedata

#: Anything outside the subset, anywhere: escapes, code, strikethrough or fences, links and
#: images, HTML and autolinks, entities, tables, and whitespace other than spaces and newlines
#: (tabs and Unicode spaces change where markdown-it trims and splits).
_OUTSIDE = re.compile(r"[\\`~\[<&|\x00]|[^\S \n]")
#: A line that starts a block of another kind: a quote, a list item, a rule, a setext heading
#: underline, indented code (4 spaces), or a numbered list item.
_OTHER_BLOCK = re.compile(
    r"^ {0,3}(?:[>=+-]|[*_](?: |$)|([*_])(?: *\1){2,} *$|\d{1,9}[.)](?: |$))|^ {4,}\S",
    re.MULTILINE,
)
_HEADING = re.compile(r" {0,3}(#{1,6})(?: |$)")
#: What the inline rules act on; everything else is text.
_INLINE_MARK = re.compile(r"[*_\n]")
_BLANK = re.compile(r" *")

#: markdown-it's whitespace for emphasis flanking (common.utils.isWhiteSpace).
_MD_WHITESPACE = frozenset(
    [
        0x09,
        0x0A,
        0x0B,
        0x0C,
        0x0D,
        0x20,
        0xA0,
        0x1680,
        0x202F,
        0x205F,
        0x3000,
        *range(0x2000, 0x200B),
    ]
)
#: markdown-it's ASCII punctuation (common.utils.isMdAsciiPunct).
_ASCII_PUNCT = frozenset(ord(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
#: Trimmed from paragraph and heading content (common.utils.mdTrim): only spaces and newlines
#: can be there once `_OUTSIDE` has let the text through.
_TRIM = " \n"


class Token:
    """An inline token, with the fields of markdown-it's that `prose` reads. (Plain classes
    here, not dataclasses: this module loads with every start-up, see `prose.Leaf`.)"""

    __slots__ = ("attrs", "content", "type")

    def __init__(self, type: str, content: str = "") -> None:
        self.type = type
        self.content = content
        self.attrs: dict[str, str] = {}


class Block:
    """A paragraph (level 0) or a heading (level 1-6) and its inline tokens."""

    __slots__ = ("level", "tokens")

    def __init__(self, level: int, tokens: list[Token]) -> None:
        self.level = level
        self.tokens = tokens


def parse_subset(markdown: str) -> list[Block] | None:
    """The blocks of `markdown` if it is plain prose (paragraphs, headings, em and strong);
    None if markdown-it must parse it."""
    if _OUTSIDE.search(markdown) or _OTHER_BLOCK.search(markdown):
        return None
    blocks: list[Block] = []
    paragraph: list[str] = []

    def close_paragraph() -> None:
        if paragraph:
            blocks.append(Block(0, inline("\n".join(paragraph).strip(_TRIM))))
            paragraph.clear()

    for line in markdown.split("\n"):
        if _BLANK.fullmatch(line):
            close_paragraph()
            continue
        heading = _HEADING.match(line)
        if heading is None:
            paragraph.append(line)
            continue
        # A heading ends the paragraph above it; a closing run of #s is cut (heading.py).
        close_paragraph()
        start = heading.end(1)
        end = len(line.rstrip(" "))
        tail = end
        while tail > start and line[tail - 1] == "#":
            tail -= 1
        if tail > start and line[tail - 1] == " ":
            end = tail
        blocks.append(Block(len(heading.group(1)), inline(line[start:end].strip(_TRIM))))
    close_paragraph()
    return blocks


# -- inline: markdown-it's rules for text, newlines and * _ emphasis ---------------------------


class _Delimiter:
    __slots__ = ("close", "end", "length", "marker", "open", "token")

    def __init__(
        self, marker: str, length: int, token: int, end: int, can_open: bool, can_close: bool
    ) -> None:
        self.marker = marker
        self.length = length
        self.token = token
        self.end = end
        self.open = can_open
        self.close = can_close


def _punctuation(char: str) -> bool:
    return ord(char) in _ASCII_PUNCT or unicodedata.category(char).startswith(("P", "S"))


def _line_break(pending: str) -> tuple[str, str]:
    """rules_inline/newline.py: the text before a newline and the break it makes ("  \n" is a
    hard break; one trailing space is dropped)."""
    if pending.endswith("  "):
        return pending.rstrip(" "), "hardbreak"
    if pending.endswith(" "):
        return pending[:-1], "softbreak"
    return pending, "softbreak"


def _flanking(src: str, start: int, end: int) -> tuple[bool, bool]:
    """rules_inline/emphasis.py tokenize + StateInline.scanDelims: whether the run of `*` or
    `_` at src[start:end] can open and can close emphasis."""
    char = src[start]
    last = src[start - 1] if start > 0 else " "
    after = src[end] if end < len(src) else " "
    last_punct, next_punct = _punctuation(last), _punctuation(after)
    last_space, next_space = ord(last) in _MD_WHITESPACE, ord(after) in _MD_WHITESPACE
    left = not (next_space or (next_punct and not (last_space or last_punct)))
    right = not (last_space or (last_punct and not (next_space or next_punct)))
    if char == "*":
        return left, right
    return left and (not right or last_punct), right and (not left or next_punct)


def inline(src: str) -> list[Token]:
    """markdown-it's inline tokens for `src` (a paragraph's or heading's trimmed content)."""
    tokens: list[Token] = []
    delimiters: list[_Delimiter] = []
    pending = ""
    pos = 0
    size = len(src)

    def push(kind: str, content: str = "") -> None:
        nonlocal pending
        if pending:
            tokens.append(Token("text", pending))
            pending = ""
        tokens.append(Token(kind, content))

    for mark in _INLINE_MARK.finditer(src):
        start = mark.start()
        if start < pos:
            continue  # inside a delimiter run, or spaces skipped after a newline
        pending += src[pos:start]
        char = src[start]
        if char == "\n":
            pending, kind = _line_break(pending)
            push(kind)
            pos = start + 1
            while pos < size and src[pos] == " ":
                pos += 1
            continue
        end = start
        while end < size and src[end] == char:
            end += 1
        can_open, can_close = _flanking(src, start, end)
        for _ in range(end - start):
            push("text", char)
            delimiters.append(
                _Delimiter(char, end - start, len(tokens) - 1, -1, can_open, can_close)
            )
        pos = end
    pending += src[pos:]
    if pending:
        tokens.append(Token("text", pending))
    _balance(delimiters)
    _emphasis(tokens, delimiters)
    return _join_text(tokens)


def _balance(delimiters: list[_Delimiter]) -> None:
    """rules_inline/balance_pairs.py processDelimiters: match openers with closers."""
    openers_bottom: dict[str, list[int]] = {}
    header = 0
    last_token = -2
    jumps: list[int] = []
    closer_index = 0
    while closer_index < len(delimiters):
        closer = delimiters[closer_index]
        jumps.append(0)
        if delimiters[header].marker != closer.marker or last_token != closer.token - 1:
            header = closer_index
        last_token = closer.token
        if not closer.close:
            closer_index += 1
            continue
        bottoms = openers_bottom.setdefault(closer.marker, [-1] * 6)
        slot = (3 if closer.open else 0) + closer.length % 3
        opener_index = header - jumps[header] - 1
        new_minimum = opener_index
        while opener_index > bottoms[slot]:
            opener = delimiters[opener_index]
            if opener.marker != closer.marker:
                opener_index -= jumps[opener_index] + 1
                continue
            if opener.open and opener.end < 0:
                odd = (
                    (opener.close or closer.open)
                    and (opener.length + closer.length) % 3 == 0
                    and (opener.length % 3 != 0 or closer.length % 3 != 0)
                )
                if not odd:
                    if opener_index > 0 and not delimiters[opener_index - 1].open:
                        last_jump = jumps[opener_index - 1] + 1
                    else:
                        last_jump = 0
                    jumps[closer_index] = closer_index - opener_index + last_jump
                    jumps[opener_index] = last_jump
                    closer.open = False
                    opener.end = closer_index
                    opener.close = False
                    new_minimum = -1
                    last_token = -2
                    break
            opener_index -= jumps[opener_index] + 1
        if new_minimum != -1:
            bottoms[slot] = new_minimum
        closer_index += 1


def _emphasis(tokens: list[Token], delimiters: list[_Delimiter]) -> None:
    """rules_inline/emphasis.py postProcess: matched markers become em/strong tokens."""
    i = len(delimiters) - 1
    while i >= 0:
        start = delimiters[i]
        if start.end == -1:
            i -= 1
            continue
        end = delimiters[start.end]
        strong = (
            i > 0
            and delimiters[i - 1].end == start.end + 1
            and delimiters[i - 1].marker == start.marker
            and delimiters[i - 1].token == start.token - 1
            and delimiters[start.end + 1].token == end.token + 1
        )
        kind = "strong" if strong else "em"
        tokens[start.token] = Token(f"{kind}_open")
        tokens[end.token] = Token(f"{kind}_close")
        if strong:
            tokens[delimiters[i - 1].token].content = ""
            tokens[delimiters[start.end + 1].token].content = ""
            i -= 1
        i -= 1


def _join_text(tokens: list[Token]) -> list[Token]:
    """rules_inline/fragments_join.py: adjacent text tokens become one."""
    joined: list[Token] = []
    for token in tokens:
        if token.type == "text" and joined and joined[-1].type == "text":
            joined[-1] = Token("text", joined[-1].content + token.content)
        else:
            joined.append(token)
    return joined
