"""Snapshots of a part interrupted before any text arrived, under a part with text: its header
and direction line up with the part above (it was drawn a column to the left)."""

from __future__ import annotations

from typing import Any

import pytest

from storyterm.core.runtime import Runtime
from storyterm.core.storage.tables import PartState
from storyterm.tui.widgets.part_view import PartView
from tests.tui.helpers import make_app, seed_session, writer_id
from tests.tui.test_snapshots import then


def with_an_empty_interrupted_part(runtime: Runtime) -> Runtime:
    alice = writer_id(runtime)
    sid = seed_session(runtime, alice, "Salt Roads", parts=2)
    runtime.sessions.append_part(alice, sid, direction="The storm reaches the harbour", content="")
    runtime.sessions.checkpoint_part(alice, sid, 3, "", state=PartState.INTERRUPTED)
    return runtime


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_empty_interrupted_part_is_aligned(
    runtime: Runtime, size: tuple[int, int], snap_compare: Any
) -> None:
    async def check_alignment(pilot: Any) -> None:
        views = list(pilot.app.screen.query(PartView))
        assert [v.seq for v in views][-2:] == [2, 3]
        above, empty = views[-2], views[-1]
        assert not empty.part.content
        assert empty.content_region.x == above.content_region.x
        assert empty.content_region.right == above.content_region.right

    app = make_app(with_an_empty_interrupted_part(runtime))
    assert snap_compare(app, terminal_size=size, run_before=then(check_alignment))
