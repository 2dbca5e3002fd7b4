"""`Y` copies a part to the clipboard: the selected part, else the last; the chosen take as saved;
from any pane, and while the direction input is not being typed in."""

from __future__ import annotations

from storyterm.core.runtime import Runtime
from storyterm.tui.app import StorytermApp
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (120, 36)


def notifications(app: StorytermApp) -> list[str]:
    return [n.message for n in app._notifications]


def texts(n: int) -> str:
    return f"Part {n}: the *tide* came in.\n\nMara counted the boats, {n} of them."


async def test_y_copies_the_selected_part_else_the_last(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Salt Roads", parts=3, content=texts)
    app = make_app(runtime)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("escape")  # leave the direction input: letters are keys
        await pilot.press("Y")
        assert app.clipboard == texts(3)
        assert "Copied part 3 (13 words) to the clipboard." in notifications(app)
        await pilot.press("left_square_bracket", "left_square_bracket", "Y")
        assert app.clipboard == texts(2)
        assert "Copied part 2 (13 words) to the clipboard." in notifications(app)


async def test_y_on_a_story_without_parts_says_so(runtime: Runtime) -> None:
    seed_session(runtime, writer_id(runtime), "Empty Harbour", status="completed")
    app = make_app(runtime)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("Y")
        said = "This story has no parts to copy yet."
        await wait_until(pilot, lambda: said in notifications(app))
        assert app.clipboard == ""
