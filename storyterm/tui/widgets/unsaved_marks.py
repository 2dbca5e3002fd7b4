"""Text the database could not save, shown in its part until it is: the story pane's marks.

The story pane shows each part as the database holds it, except a part whose final save failed:
that part shows the text that was written (kept in a recovery file meanwhile, and saved again by
tui/main/unsaved.py), with its header saying it is unsaved. The marks are kept here, by story
and part number, so that the part shows the same way when it is mounted again (the story opened
again, scrolled back to, reloaded), and only while the database still holds the take the text
was being written into.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import structs

from storyterm.tui.widgets.part_view import PartView

if TYPE_CHECKING:
    from storyterm.core.basics import PartState
    from storyterm.core.views import Part


class UnsavedMark:
    """The text of one part the database has not saved, and what its header says of it."""

    __slots__ = ("note", "part_id", "state", "take", "text")

    def __init__(
        self, text: str, state: PartState, note: str, *, part_id: int | None, take: int | None
    ) -> None:
        self.text = text
        self.state = state
        #: What is being done about it ("retrying"), shown after "unsaved" in the header.
        self.note = note
        #: The part row and take the text was written into (None or 0: not known).
        self.part_id = part_id
        self.take = take

    def fits(self, part: Part) -> bool:
        """Whether `part`, as the database holds it, is still the one the text belongs in (not
        another part that moved into its place, nor another take of it chosen since)."""
        if self.part_id and part.id and part.id != self.part_id:
            return False
        return self.take is None or part.take == self.take


class UnsavedMarks:
    """The story pane's unsaved texts, by (story, part number)."""

    def __init__(self) -> None:
        self._marks: dict[tuple[str, int], UnsavedMark] = {}

    def put(self, session_id: str, seq: int, mark: UnsavedMark) -> None:
        self._marks[(session_id, seq)] = mark

    def drop(self, session_id: str, seq: int) -> None:
        self._marks.pop((session_id, seq), None)

    def shown(self, part: Part) -> tuple[Part, str | None]:
        """`part` as the pane shows it, and what its header says about its text being unsaved
        (None: it is saved)."""
        mark = self._marks.get((part.session_id, part.seq))
        if mark is None or not mark.fits(part):
            return part, None
        shown = structs.replace(
            part, content=mark.text, state=mark.state, word_count=len(mark.text.split())
        )
        return shown, mark.note

    def view_of(self, part: Part) -> PartView:
        """A view of `part` as the pane shows it (its unsaved text, where its save failed)."""
        shown, unsaved = self.shown(part)
        view = PartView(shown)
        view.mark_unsaved(unsaved)
        return view

    def show(self, view: PartView, part: Part) -> None:
        """Show `part` (as the database holds it) in its view, or its unsaved text."""
        shown, unsaved = self.shown(part)
        if shown != view.part:
            view.update_part(shown)
        view.mark_unsaved(unsaved)
