"""Text boxes open with the cursor after the last word, in view: writers add at the end."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from storyterm.core.runtime import Runtime
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.bible import BibleScreen
from storyterm.tui.screens.part_editor import PartEditorScreen
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (100, 30)

#: Forty short paragraphs: far more lines than the editor shows.
LONG = "\n\n".join(f"Night {n}: the lamp went out and Mara lit it again." for n in range(1, 41))


def cursor_in_view(area: TextArea) -> bool:
    _x, y = area.cursor_screen_offset
    return area.content_region.y <= y < area.content_region.bottom


async def test_the_part_editor_opens_at_the_end_of_the_text(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2, content=lambda n: LONG)
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "E")
        await wait_until(pilot, lambda: isinstance(app.screen, PartEditorScreen))
        editor = app.screen
        area = editor.query_one("#content", TextArea)
        await wait_until(pilot, lambda: area.has_focus and area.scroll_offset.y > 0)
        assert cursor_in_view(area)  # the last line is on screen, the first ones are not
        await pilot.press(*" Then dawn.")
        assert area.text == LONG + " Then dawn."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        await wait_until(
            pilot, lambda: runtime.sessions.open(alice, sid).parts[-1].content.endswith("dawn.")
        )


async def test_the_bible_s_text_boxes_open_at_the_end(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    premise = "Two sisters sail north.\nThe sea keeps a secret."
    sid = seed_session(
        runtime, alice, "Salt Roads", metadata={"genre": "sea saga", "premise": premise}
    )
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "b")
        await wait_until(pilot, lambda: isinstance(app.screen, BibleScreen))
        bible = app.screen
        await wait_until(pilot, lambda: app.focused is bible.query_one("#title"))
        await pilot.press(*" (draft)")  # the title: an Input, at its end too
        assert bible.query_one("#title", Input).value == "Salt Roads (draft)"
        while app.focused is not bible.query_one("#premise"):
            await pilot.press("tab")
        await pilot.press(*" Nobody asks.")
        assert bible.query_one("#premise", TextArea).text == premise + " Nobody asks."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        stored = runtime.sessions.get(alice, sid)
        assert stored.session_metadata["premise"] == premise + " Nobody asks."
        assert stored.title == "Salt Roads (draft)"
