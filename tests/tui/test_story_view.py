"""The story pane's pieces: a part's text as one Prose widget, and the pane re-measuring what
changed size."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from storyterm.core.runtime import Runtime
from storyterm.core.views import Part
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.widgets.part_view import PartView
from storyterm.tui.widgets.prose import Prose, ProseVisual, parse
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

STORY = """\
# The Letter

Mara read it *twice*, then **once more** aloud, with `ink` on her fingers and the lamp low.
A soft break.\\
A hard break.

> The sea keeps its own counsel, and the keeper keeps hers, season after season.

- the letter, folded small enough to hide in a glove
- the key
  - its ribbon

1. first
2. second

```
code stays
    as written
```

---

Last [bold]words[/bold] and \\*stars\\*.
"""


def edited(part: Part, **changes: object) -> Part:
    """`part` with some fields changed (as an edit saved elsewhere would come back)."""
    return type(part).model_validate({**part.model_dump(), **changes})


def lines(markdown: str, width: int) -> list[str]:
    """The Prose layout of `markdown` at `width`, as plain text lines."""
    visual = ProseVisual(parse(markdown))
    return [
        "".join(piece.plain for piece, _x, _y in row.pieces).rstrip() for row in visual.rows(width)
    ]


def test_prose_lays_markdown_out_as_the_markdown_widget_does() -> None:
    assert lines(STORY, 44) == [
        "",
        "",
        "                 The Letter",  # centred, two lines above as an H1 has
        "",
        "Mara read it twice, then once more aloud,",
        "with ink on her fingers and the lamp low. A",
        "soft break.",
        "A hard break.",
        "",
        "▌ The sea keeps its own counsel, and the",
        "▌ keeper keeps hers, season after season.",
        "",
        "• the letter, folded small enough to hide",
        "  in a glove",
        "• the key",
        "  ▪ its ribbon",
        "",
        " 1. first",
        " 2. second",
        "",
        "",
        "  code stays",
        "      as written",
        "",
        "",
        "",
        "",
        "────────────────────────────────────────────",
        "",
        "Last [bold]words[/bold] and *stars*.",
        "",  # the gap under the part
    ]


def test_prose_text_is_never_markup() -> None:
    text = "Not [red]red[/red], not [@click=app.quit]a link[/], $variable, ␛[31m."
    assert lines(text, 200) == [text, ""]


def test_prose_copies_the_text_without_wrapping_or_decoration() -> None:
    doc = parse(STORY)
    assert "\n".join(doc.plain).split("\n\n")[:3] == [
        "The Letter",
        "Mara read it twice, then once more aloud, with ink on her fingers and the lamp low. "
        "A soft break.\nA hard break.",
        "The sea keeps its own counsel, and the keeper keeps hers, season after season.",
    ]


def test_empty_prose_takes_no_room() -> None:
    assert ProseVisual(parse("  \n")).get_height({}, 40) == 0  # type: ignore[arg-type]


async def test_prose_text_can_be_selected_and_copied() -> None:
    class ProseApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Prose("One *two* three.\n\nFour five, six seven eight nine ten eleven.")

    app = ProseApp()
    async with app.run_test(size=(30, 10)) as pilot:
        prose = app.query_one(Prose)
        assert prose.size.height == 5  # wrapped once, a blank line between, one under
        prose.text_select_all()
        await pilot.pause()
        assert app.screen.get_selected_text() == (
            "One two three.\n\nFour five, six seven eight nine ten eleven."
        )


async def test_the_pane_grows_with_a_message_set_after_the_first_layout(
    runtime: Runtime,
) -> None:
    # Textual keeps only the last of several layout requests queued together, and the stream
    # layout used to re-measure only what the screen was told about: a twelve-line message
    # kept the one line the pane had for "Opening your stories…".
    app = make_app(runtime)
    async with app.run_test(size=(130, 36)) as pilot:
        await ready(pilot)
        story = app.screen.query_one(StoryView)
        message = "\n".join(f"line {n}" for n in range(12))
        await story.clear(message)
        empty = story.query_one("#story-empty")
        await wait_until(pilot, lambda: empty.outer_size.height == 12 + 4)  # padding 2 2


async def test_a_part_that_changes_length_pushes_the_parts_below_it(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    seed_session(runtime, alice, "Salt Roads", parts=3)
    app = make_app(runtime)
    async with app.run_test(size=(130, 36)) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        story = screen.story
        await wait_until(pilot, lambda: len(story.part_views) == 3)
        first, second, _third = story.part_views
        await pilot.pause()
        height, below = first.outer_size.height, second.virtual_region.y
        longer = edited(
            first.part, content=first.part.content + "\n\nA new paragraph.\n\nAnd another."
        )
        first.update_part(longer)
        assert "another." in first.shown_text
        await wait_until(
            pilot,
            lambda: first.outer_size.height == height + 4 and second.virtual_region.y == below + 4,
        )
        assert isinstance(first, PartView)


async def test_text_that_arrives_after_a_pause_is_handed_to_the_screen_at_once(
    runtime: Runtime,
) -> None:
    # Streamed text goes to the Markdown at most once a frame; a piece that comes after a
    # pause longer than a frame (every piece of a part written in another window, ~25 a
    # second) used to wait a whole frame more before it was shown.
    from storyterm.tui.widgets.part_view import FRAME, provisional_part

    alice = writer_id(runtime)
    session = runtime.sessions.get(alice, seed_session(runtime, alice, "Salt Roads"))

    class PartApp(App[None]):
        def compose(self) -> ComposeResult:
            yield PartView(provisional_part(session, 1, "Go on"))

    app = PartApp()
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(PartView)
        view.begin_stream("waiting…")
        await view.write("One")
        await pilot.pause(FRAME * 2)
        await view.write(" two")
        for _ in range(5):  # the stream's own task takes it from there
            await asyncio.sleep(0)
        assert view.shown_text == "One two"
        await view.end_stream(None)
