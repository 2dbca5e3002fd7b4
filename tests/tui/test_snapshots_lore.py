"""Snapshots of the lorebook (its marks: on/off, always on, used and left out by the last
prompt) and of an entry's form, at 80x24 and larger."""

from __future__ import annotations

from typing import Any

import pytest

from storyterm.core.memory.state import LAST_LORE
from storyterm.core.runtime import Runtime
from tests.tui.helpers import make_app, seed_session, writer_id
from tests.tui.test_snapshots import on, press, then


def with_a_lorebook(runtime: Runtime) -> Runtime:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    lore = runtime.lore
    mara = lore.add(
        alice,
        sid,
        {
            "name": "Mara",
            "keys": ["Mara", "the keeper"],
            "content": "Keeps the lighthouse; has not left the island in forty years.",
            "priority": 5,
        },
    )
    tone = lore.add(
        alice,
        sid,
        {"name": "Tone", "content": "Grey, quiet, salt-stung.", "always_on": True},
    )
    ships = lore.add(
        alice,
        sid,
        {
            "name": "Ships",
            "keys": [r"\bships?\b"],
            "regex": True,
            "content": "The ferry runs twice a week \x1b[31m when the sea allows.",
        },
    )
    lore.add(alice, sid, {"name": "Old map", "keys": ["map"], "content": "Lost.", "enabled": False})
    report = {"used": [[tone.id, "Tone"], [mara.id, "Mara"]], "left_out": [[ships.id, "Ships"]]}
    runtime.sessions.merge_memory(alice, sid, {LAST_LORE: {**report, "tokens": 40}})
    runtime.store.cache.drop(sid)
    return runtime


@pytest.mark.parametrize("size", [(80, 24), (130, 36)], ids=["80x24", "130x36"])
def test_lorebook(runtime: Runtime, size: tuple[int, int], snap_compare: Any) -> None:
    app = make_app(with_a_lorebook(runtime))
    opened = press("escape", "l", until=on("LoreScreen"))
    loaded = press(until=lambda app: app.screen.query_one("OptionList").option_count == 4)
    assert snap_compare(app, terminal_size=size, run_before=then(opened, loaded))


def test_lore_entry_form(runtime: Runtime, snap_compare: Any) -> None:
    app = make_app(with_a_lorebook(runtime))
    opened = press("escape", "l", until=on("LoreScreen"))
    loaded = press(until=lambda app: app.screen.query_one("OptionList").option_count == 4)
    form = press("enter", until=on("LoreEntryScreen"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=then(opened, loaded, form))
