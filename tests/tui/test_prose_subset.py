"""Plain prose is parsed without markdown-it (prose_subset) and must come out exactly as
markdown-it parses it: the same blocks, text and styles on thousands of generated texts."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from markdown_it import MarkdownIt

from storyterm.tui.widgets.prose import Doc, Leaf, parse, parse_with_markdown_it
from storyterm.tui.widgets.prose_subset import parse_subset

#: What generated texts are made of: words, emphasis runs, punctuation (ASCII and Unicode:
#: both change where * and _ may open or close), spaces, line and paragraph breaks, hard
#: breaks, headings, and now and then something outside the subset.
PIECES = [
    *["the", "sea", "Mara", "lamp", "key", "word", "snake_case", "l'été", "naïve", "日本"],
    *["*", "**", "***", "_", "__", "*_", "_*", "****"],
    *[".", ",", "!", "?", ":", ";", "'", '"', "“", "”", "‘", "’", "(", ")", "—", "-", "…", "$"],
    *[" ", " ", " ", "  ", "\n", "\n", "\n\n", "  \n", "   \n", " \n"],
    *["\n# ", "\n## ", "\n###### ", "\n####### ", " #", " ##", "#", "\n  ", "\n   #", "🙂"],
]
OUTSIDE = ["1.", "\n1. ", "\n- ", "\n* ", "\n> ", "`", "[", "&amp;", "\t", "\u00a0", "|", "\n    "]


def _text(rng: random.Random) -> str:
    return "".join(
        rng.choice(OUTSIDE if rng.random() < 0.01 else PIECES) for _ in range(rng.randint(1, 40))
    )


def _shape(doc: Doc) -> list[object]:
    """Everything drawn: each block's kind, margins, style, and its lines' text and spans."""
    out: list[object] = []
    for block in doc.blocks:
        assert isinstance(block, Leaf), block
        out.append(
            (
                block.top,
                block.bottom,
                block.style,
                block.center,
                block.y,
                [(line.plain, list(line.spans)) for line in block.lines],
            )
        )
    return [out, doc.plain]


def test_generated_prose_comes_out_as_markdown_it_parses_it() -> None:
    rng = random.Random(20261128)
    markdown_it = MarkdownIt("gfm-like").disable("linkify")
    taken = 0
    for _ in range(6000):
        text = _text(rng)
        blocks = parse_subset(text)
        if blocks is None:
            continue
        taken += 1
        # The tokens themselves, block by block...
        expected = [
            (token.type, token.tag, token.children)
            for token in markdown_it.parse(text)
            if token.type == "inline" or token.nesting == 1
        ]
        got = []
        for block in blocks:
            got.append(("heading_open" if block.level else "paragraph_open", block.level))
            got.append([(t.type, t.content) for t in block.tokens])
        want = []
        for kind, tag, children in expected:
            if kind == "inline":
                want.append([(t.type, t.content) for t in children or ()])
            else:
                want.append((kind, int(tag[1:]) if kind == "heading_open" else 0))
        assert got == want, repr(text)
        # ...and what is drawn from them.
        assert _shape(parse(text)) == _shape(parse_with_markdown_it(text)), repr(text)
    # The generator must keep exercising the subset, not only what falls back.
    assert taken > 2000, taken


@pytest.mark.parametrize(
    "text",
    [
        "# Chapter One\n\nMara read it *twice*, then **once more**.\n“Why?” she asked.  \nNo one.",
        "*She had known all along.*\n\n## II\nThe tide came in ###",
        "snake_case and _under_ and __strong__ and ***both*** and * lone",
    ],
)
def test_story_prose_is_parsed_without_markdown_it(text: str) -> None:
    assert parse_subset(text) is not None
    assert _shape(parse(text)) == _shape(parse_with_markdown_it(text))


@pytest.mark.parametrize(
    "text",
    [
        "- a list",
        "1984. A year",
        "> a quote",
        "    code",
        "a\n---",
        "Title\n===",
        "* * *",
        "a `code` b",
        "a [link](x)",
        "a <b>tag</b>",
        "a &amp; b",
        "a | b",
        "tab\there",
        "escaped \\*",
        "~~gone~~",
    ],
)
def test_anything_else_goes_to_markdown_it(text: str) -> None:
    assert parse_subset(text) is None


def test_plain_prose_does_not_load_markdown_it() -> None:
    code = (
        "import sys\n"
        "from storyterm.tui.widgets.prose import parse\n"
        "parse('# One\\n\\nPlain *prose* and **more**.')\n"
        "assert 'markdown_it' not in sys.modules\n"
        "parse('- a list')\n"
        "assert 'markdown_it' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
