"""How the main screen's owners run their slow work: in a thread worker of the widget they work
for (the screen, or the story column)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.widget import Widget


def run_in_thread(
    host: Widget,
    work: Callable[..., None],
    *args: Any,
    group: str,
    exclusive: bool = False,
    name: str | None = None,
) -> None:
    """Run `work(*args)` in a thread worker of `host` (named after it), never on the event
    loop. It answers with messages; an error it does not catch reaches the app's Crashed
    handler (exit_on_error is off), not the writer as a dead app."""
    host.run_worker(
        partial(work, *args),
        name=name or work.__name__,
        group=group,
        exclusive=exclusive,
        thread=True,
        exit_on_error=False,
    )
