"""The lorebook screen as a writer uses it: l opens it, a adds an entry through its form (a bad
regular expression is said on the form and nothing is lost), space switches one off, d deletes
after a question and u brings it back; a completed story's lorebook is read-only; 80x24 works."""

from __future__ import annotations

import pytest
from textual.widgets import Checkbox, Input, OptionList, TextArea

from storyterm.core.runtime import Runtime
from storyterm.tui.main.screen import MainScreen
from storyterm.tui.screens.confirm import ConfirmScreen
from storyterm.tui.screens.lore import LoreScreen
from storyterm.tui.screens.lore_entry import LoreEntryScreen
from tests.tui.helpers import make_app, ready, seed_session, wait_until, writer_id

SIZE = (130, 36)


def names(runtime: Runtime, alice: int, sid: str) -> list[str]:
    return [e.name for e in runtime.lore.list(alice, sid)]


@pytest.mark.parametrize("size", [(80, 24), SIZE], ids=["80x24", "130x36"])
async def test_add_switch_off_delete_and_bring_back(
    runtime: Runtime, size: tuple[int, int]
) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    app = make_app(runtime)
    async with app.run_test(size=size, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("escape", "l")
        await wait_until(pilot, lambda: isinstance(app.screen, LoreScreen))
        lore = app.screen
        await wait_until(
            pilot, lambda: "No entries yet" in str(lore.query_one("#lore-note").visual)
        )

        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, LoreEntryScreen))
        form = app.screen
        form.query_one("#name", Input).value = "Mara"
        form.query_one("#keys", Input).value = "Mara, the (keeper"
        form.query_one("#content", TextArea).text = "Keeps the light."
        form.query_one("#regex", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: form.query_one("#error").has_class("-shown"))
        assert "not a valid regular expression" in str(form.query_one("#error").visual)
        assert names(runtime, alice, sid) == []
        form.query_one("#regex", Checkbox).value = False  # fixed: plain words
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is lore)
        await wait_until(pilot, lambda: lore.query_one(OptionList).option_count == 1)
        [entry] = runtime.lore.list(alice, sid)
        assert (entry.keys, entry.content, entry.enabled) == (
            ["Mara", "the (keeper"],
            "Keeps the light.",
            True,
        )
        assert "●" in str(lore.query_one(OptionList).get_option_at_index(0).prompt)

        await pilot.press("space")
        await wait_until(pilot, lambda: not runtime.lore.list(alice, sid)[0].enabled)
        await wait_until(
            pilot, lambda: "○" in str(lore.query_one(OptionList).get_option_at_index(0).prompt)
        )

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Mara" in str(app.screen.query_one("#question").visual)
        await pilot.press("y")
        await wait_until(pilot, lambda: names(runtime, alice, sid) == [])
        await wait_until(pilot, lambda: lore.query_one(OptionList).option_count == 0)
        assert any("Press u to bring it back" in n.message for n in app._notifications)
        await pilot.press("u")
        await wait_until(pilot, lambda: names(runtime, alice, sid) == ["Mara"])
        await wait_until(pilot, lambda: lore.query_one(OptionList).option_count == 1)

        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen))
        # The main screen holds the story at its new version (the lorebook moved it on).
        stored = runtime.sessions.get(alice, sid)
        await wait_until(pilot, lambda: app.screen.session.version == stored.version)


async def test_editing_an_entry_keeps_what_was_not_touched(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads")
    runtime.lore.add(
        alice, sid, {"name": "Tobias", "keys": ["Tobias"], "content": "Tab\there.", "priority": 3}
    )
    app = make_app(runtime)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("escape", "l")
        await wait_until(pilot, lambda: isinstance(app.screen, LoreScreen))
        lore = app.screen
        await wait_until(pilot, lambda: lore.query_one(OptionList).option_count == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, LoreEntryScreen))
        form = app.screen
        assert form.query_one("#priority", Input).value == "3"
        form.query_one("#priority", Input).value = "8"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is lore)
        [entry] = runtime.lore.list(alice, sid)
        # The text (shown with its tab as a symbol) was not written back.
        assert (entry.priority, entry.content) == (8, "Tab\there.")


async def test_a_completed_storys_lorebook_is_read_only(runtime: Runtime) -> None:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Winter Orchard", status="completed", parts=1)
    runtime.store.cache.drop(sid)
    app = make_app(runtime)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await ready(pilot)
        await pilot.press("escape", "l")
        await wait_until(pilot, lambda: isinstance(app.screen, LoreScreen))
        await pilot.press("a")
        await wait_until(pilot, lambda: any("read-only" in n.message for n in app._notifications))
        assert isinstance(app.screen, LoreScreen)


async def test_the_context_viewer_says_which_entries_were_used_and_left_out(
    runtime: Runtime,
) -> None:
    from storyterm.devtools.fake_ollama import FakeOllama, prose
    from storyterm.tui.screens.context import ContextScreen

    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads")
    runtime.lore.add(alice, sid, {"name": "Tone", "content": "Grey.", "always_on": True})
    big = {"name": "Harbour", "keys": ["harbour"], "content": prose(900, seed=1)}
    runtime.lore.add(alice, sid, big)
    with FakeOllama(models=["gemma3:latest"], tokens=20) as fake:
        runtime.settings.ollama_host = fake.url
        app = make_app(runtime)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            screen = app.screen
            assert isinstance(screen, MainScreen)
            await pilot.press(*"The harbour at dusk", "enter")
            await wait_until(
                pilot, lambda: screen.session.part_count == 1 and not screen.generating
            )
            await pilot.press("escape", "v")
            await wait_until(pilot, lambda: isinstance(app.screen, ContextScreen))
            note = str(app.screen.query_one("#note").visual)
            assert "Lore sent: Tone." in note
            assert "Left out for want of room: Harbour." in note
        assert "## Tone\nGrey." in fake.chat_requests[-1].messages[0]["content"]
