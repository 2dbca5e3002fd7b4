"""A part's header line: `Part 12` and which take on the left, how the part stands on the right.

The header is drawn by one widget, not a row of labels, because a long story mounts many. What
it says about a part at rest (its take, its state, its words, whether its text is saved) is
worked out here from the Part; a part being streamed says more (a spinner, the rate), which its
PartView adds.
"""

from __future__ import annotations

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
    if state == "streaming":
        return Content.styled(f"being written… · {words}", "$text-accent")
    return Content.styled(words, "$text-muted")


class PartHeader(Widget):
    """`Part 12` (and which take) on the left, its state (words, interrupted, unsaved, a spinner
    and tok/s) on the right."""

    DEFAULT_CSS = """
    PartHeader { height: 1; margin-bottom: 1; }
    """

    title: reactive[Content] = reactive(Content, layout=False)
    meta: reactive[Content] = reactive(Content, layout=False)

    def render(self) -> Content:
        # Under the title's own styles (the take's label is not bold).
        title = self.title.stylize_before("bold $text-primary")
        meta = self.meta
        gap = max(1, self.size.width - title.cell_length - meta.cell_length)
        return Content.assemble(title, " " * gap, meta)
