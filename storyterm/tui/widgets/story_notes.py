"""What the story pane says around the parts: with no story or no parts, at the edges of its
window of parts, and in its border (the story's title, where the writer is, its words).

Plain functions of the views they are given, so the pane (story_view.py) only decides when to
show them; every stored text in them goes through the safe helpers (tui/text.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content

from storyterm.tui.text import count, one_line, plain

if TYPE_CHECKING:
    from storyterm.core.views import Session

#: What the pane says with no story open: the writer has none yet, or none is left here.
NO_STORIES = (
    "No stories yet.\n\nPress n to start your first one: give it a title, a genre and a "
    "premise, then tell the model what happens first."
)
NONE_LEFT = "No stories here. Press n to start one."
GONE = "That story no longer exists."
#: Under the newest part while the window does not reach it.
NEWER = "↓ newer parts · scroll down (End jumps to the newest)"
LOADING_OLDER = "Loading earlier parts…"
BEGINNING = "— the beginning —"


def could_not_open(why: str) -> str:
    return f"storyterm could not open your stories.\n\n{why}\n\nPress F5 to try again."


def no_parts_text(session: Session) -> str:
    title = f"“{one_line(session.title)}”"
    status = str(session.status)
    if status == "active":
        return (
            f"{title} has no parts yet.\n\nType what happens first in the box below and press "
            "Enter: the model writes part 1 from your direction and the story bible (b)."
        )
    return f"{title} has no parts."


def older_note(first_seq: int) -> str:
    """Above the window's first part (`first_seq`) while earlier parts are not mounted."""
    return f"↑ {count(first_seq - 1, 'earlier part')} · scroll up to read them"


def border_title(session: Session | None, selected: int | None) -> tuple[Content, Content | str]:
    """The pane's border: the title, where the writer is (the selected part, else the count of
    parts) and the words on top; the status below, unless the story is simply active."""
    if session is None:
        return Content("Story"), ""
    total = session.part_count
    where = f"part {selected} of {total}" if selected is not None else count(total, "part")
    title = Content.assemble(
        plain(session.title, "bold"),
        Content(f" · {where} · {count(session.word_count, 'word')}"),
    )
    status = str(session.status)
    return title, "" if status == "active" else Content(status)
