"""The story pane's pieces: a part's text as one Prose widget, and the pane re-measuring what
changed size."""

from __future__ import annotations

from storyterm.core.runtime import Runtime
from storyterm.tui.widgets.story_view import StoryView
from tests.tui.helpers import make_app, ready, wait_until


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
