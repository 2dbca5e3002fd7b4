"""The main screen's widgets, as the screen hands them to the owners that put things on them
(changes.py, arrival.py): one object, so that an owner is given what it shows on, not the
screen to reach through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storyterm.tui.main.story_column import StoryColumn
    from storyterm.tui.widgets.session_list import SessionsPanel
    from storyterm.tui.widgets.status_bar import StatusBar
    from storyterm.tui.widgets.title_bar import TitleBar


@dataclass(frozen=True, slots=True)
class Panes:
    panel: SessionsPanel
    column: StoryColumn
    status_bar: StatusBar
    title_bar: TitleBar
