"""The session list's status filters as one widget: the labels on a line, the active one marked
on a bar under them, as Textual's `Tabs` draws them.

`Tabs` is nine widgets (a tab each, an underline, three containers) with an animated underline;
at start-up it was about a tenth of storyterm's work (its styles, layout and animation frames),
for four words. This widget renders the same two lines itself (see `KeyBar` for the same
trade). Left/right move between filters when it has the focus; a click picks one.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

#: Label styles, as Tabs has them: dimmed, full colour when active (or under the mouse), and
#: the block cursor's colours when active in a focused bar.
INACTIVE = "$foreground 50%"
ACTIVE = "$foreground"
ACTIVE_FOCUSED = "bold $block-cursor-foreground on $block-cursor-background"
#: The bar under the labels: the active label's stretch, and the rest (brighter when focused).
BAR_ACTIVE = "$block-cursor-background"
BAR_REST = "$foreground 10%"
BAR_REST_FOCUSED = "$foreground 30%"


class FilterBar(Widget, can_focus=True):
    """Choose one of a few filters; `active` is the chosen one's key."""

    ALLOW_SELECT = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1)", "Previous filter", show=False),
        Binding("right", "move(1)", "Next filter", show=False),
    ]
    DEFAULT_CSS = """
    FilterBar {
        height: 2;
        pointer: pointer;
    }
    """

    #: The key of the active filter.
    active: reactive[str] = reactive("", init=False)

    class Changed(Message):
        """The writer picked another filter."""

        def __init__(self, bar: FilterBar, active: str) -> None:
            super().__init__()
            self.bar = bar
            self.active = active

        @property
        def control(self) -> FilterBar:
            return self.bar

    def __init__(self, labels: dict[str, str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels = labels
        self._hover: str | None = None
        self.set_reactive(FilterBar.active, next(iter(labels)))

    @property
    def spans(self) -> list[tuple[int, int, str]]:
        """(first cell, end cell, key) of each label on the line, padding included."""
        spans = []
        x = 0
        for key, label in self._labels.items():
            spans.append((x, x + len(label) + 2, key))
            x += len(label) + 2
        return spans

    def render(self) -> Content:
        focused = self.has_focus
        labels: list[tuple[str, str]] = []
        start = end = 0
        for first, last, key in self.spans:
            if key == self.active:
                style = ACTIVE_FOCUSED if focused else ACTIVE
                start, end = first, last
            else:
                style = ACTIVE if key == self._hover else INACTIVE
            labels.append((f" {self._labels[key]} ", style))
        rest = BAR_REST_FOCUSED if focused else BAR_REST
        width = max(self.size.width, end)
        # Under the active label's text (not its padding), half bars either side: ╸━━━╺
        bar = Content.assemble(
            ("━" * start + "╸", rest),
            ("━" * (end - start - 2), BAR_ACTIVE),
            ("╺" + "━" * (width - end), rest),
        )
        return Content("\n").join([Content.assemble(*labels), bar])

    def watch_active(self) -> None:
        self.refresh()
        self.post_message(self.Changed(self, self.active))

    def action_move(self, step: int) -> None:
        keys = list(self._labels)
        self.active = keys[(keys.index(self.active) + step) % len(keys)]

    def _key_at(self, x: int) -> str | None:
        return next((key for first, last, key in self.spans if first <= x < last), None)

    def on_click(self, event: events.Click) -> None:
        key = self._key_at(event.x)
        if key is not None:
            self.active = key

    def on_mouse_move(self, event: events.MouseMove) -> None:
        key = self._key_at(event.x)
        if key != self._hover:
            self._hover = key
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
