"""A part's header line: `Part 12` and which take on the left, how the part stands on the right.

The header is drawn by one widget, not a row of labels, because a long story mounts many. What
it says about a part at rest (its take, its state, its words, whether its text is saved) is
worked out here from the Part; a part being streamed says more (a spinner, the rate), which its
PartView adds. A part written before an earlier part's chosen take was made says so, quietly:
the story pane works out which parts those are (written_from_earlier).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from storyterm.tui.text import count

if TYPE_CHECKING:
    from storyterm.core.views import Part


def take_label(part: Part) -> str:
    """The part's take as its header shows it: "take 2/3", with "edited" when the chosen take
    is the writer's edit; "" for a part with one take."""
    if part.takes < 2:
        return ""
    label = f"take {part.take}/{part.takes}"
    return f"{label} · edited" if str(part.take_kind) == "edited" else label


def header_title(part: Part) -> Content:
    """`Part 12`, and its take when it has more than one (not bold, under the title's bold)."""
    title = Content(f"Part {part.seq}")
    take = take_label(part)
    if not take:
        return title
    return Content.assemble(title, ("  " + take, "not bold $text-secondary"))


def resting_meta(part: Part, unsaved: str | None = None) -> Content:
    """How a part not being streamed here stands: its words, and whether it was cut short or
    is being written elsewhere; `unsaved` says what is being done about a text the database
    could not save (it is shown as a warning, before anything else)."""
    state = str(part.state)
    words = count(part.word_count, "word")
    if unsaved is not None:
        return Content.styled(f"unsaved · {unsaved} · {words}", "$text-warning")
    if state == "interrupted":
        return Content.styled(f"interrupted · text kept · {words}", "$text-warning")
    if state == "cut":
        return Content.styled(f"cut at the reply length · F goes on · {words}", "$text-warning")
    if state == "streaming":
        return Content.styled(f"being written… · {words}", "$text-accent")
    return Content.styled(words, "$text-muted")


def written_from_earlier(parts: Iterable[Part]) -> dict[int, int]:
    """Which of `parts` (in story order) were written before the chosen take of a part before
    them was made, so from an earlier take of it (or before it was edited): {the later part's
    number: the nearest such earlier part's}. A take's creation time is its part's created_at."""
    found: dict[int, int] = {}
    # The earlier parts each made later than every part above it on the stack: the nearest
    # one made after a part is then the stack's top, once the older ones are popped (one pass).
    newer: list[Part] = []
    for part in parts:
        while newer and newer[-1].created_at <= part.created_at:
            newer.pop()
        if newer:
            found[part.seq] = newer[-1].seq
        newer.append(part)
    return found


def earlier_take_note(seq: int, *, short: bool = False) -> Content:
    """The quiet note of a part written from an earlier take of part `seq`."""
    text = f"after part {seq} changed" if short else f"written from an earlier take of part {seq}"
    return Content.styled(text, "italic $text-muted")


def earlier_take_tooltip(seq: int) -> str:
    return (
        f"Part {seq} was written again, edited or given another take after this part was "
        "written: this part goes on from the take it had then. ctrl+r on this part writes it "
        "again from the story as it is now (a new take; this one is kept)."
    )


class PartHeader(Widget):
    """`Part 12` (and which take) on the left, its state (words, interrupted, unsaved, a spinner
    and tok/s) on the right, after it, when there is room, the part it was written before the
    chosen take of (`earlier`)."""

    DEFAULT_CSS = """
    PartHeader { height: 1; margin-bottom: 1; }
    """

    title: reactive[Content] = reactive(Content, layout=False)
    meta: reactive[Content] = reactive(Content, layout=False)
    earlier: reactive[int | None] = reactive(None, layout=False)

    def render(self) -> Content:
        # Under the title's own styles (the take's label is not bold).
        title = self.title.stylize_before("bold $text-primary")
        meta = self.meta
        room = self.size.width - title.cell_length - meta.cell_length
        if self.earlier is not None:
            # The note gives way before the state does: the long form, the short one, or none.
            for short in (False, True):
                note = earlier_take_note(self.earlier, short=short)
                if note.cell_length + 4 <= room:  # a gap before it, " · " after it
                    meta = Content.assemble(note, (" · ", "$text-muted"), meta)
                    break
        gap = max(1, self.size.width - title.cell_length - meta.cell_length)
        return Content.assemble(title, " " * gap, meta)

    def watch_earlier(self, earlier: int | None) -> None:
        self.tooltip = earlier_take_tooltip(earlier) if earlier is not None else None
