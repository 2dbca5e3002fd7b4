"""The bottom line: the keys that work now, like Textual's compact Footer, as one widget.

Textual's Footer mounts a widget per key and recomposes them all whenever the bindings change,
which is every focus change: ~0.1 s of the start-up (half the time from the data being read to
the screen being ready) and again each time the writer moves between the list, the story and
the input. KeyBar renders the same line (keys bold, descriptions after them, disabled ones dim,
the command palette on the right) as one Content and only repaints when the bindings change.
Clicking a key presses it; hovering shows its tooltip.

When the line is wider than the terminal, keys are dropped from the end (the screens list their
keys most important first), except the ones the screen says must always show (help and quit on
the main screen): those stay, on the right, whatever the width. A key that must always show but
cannot work now (q while an input takes the letters) gives way to another key for the same
action that can (ctrl+q).
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget

KEY = "bold $footer-key-foreground on $footer-key-background"
DESCRIPTION = "$footer-description-foreground on $footer-description-background"
HOVER = "on $block-hover-background"
PALETTE_RULE = "$foreground 20%"


class _Item:
    # A plain class: creating a dataclass compiles its methods at import (see prose.Leaf).
    __slots__ = ("enabled", "key", "label", "tooltip")

    def __init__(self, key: str, label: Content, enabled: bool, tooltip: str) -> None:
        self.key = key
        self.label = label
        self.enabled = enabled
        self.tooltip = tooltip


class KeyBar(Widget, can_focus=False):
    """The screen's shown bindings on one line, the command palette key on the right."""

    ALLOW_SELECT = False
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        pointer: pointer;
    }
    """

    def __init__(
        self,
        *,
        show_command_palette: bool = True,
        always: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        """`always`: groups of actions; the first binding that works for any action of a group
        is shown and never dropped for width (shown bindings first, then hidden ones)."""
        super().__init__()
        self.show_command_palette = show_command_palette
        self.always = always
        #: (start, end, item) of each key on the line as last rendered (for the mouse).
        self._spots: list[tuple[int, int, _Item]] = []
        #: The key under the mouse (items are rebuilt at each render: keys stay).
        self._hover: str | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def _item(self, binding: Binding, enabled: bool, tooltip: str) -> _Item:
        label = Content.assemble(
            (self.app.get_key_display(binding), KEY), (f" {binding.description}", DESCRIPTION)
        )
        return _Item(binding.key, label, enabled, tooltip or binding.tooltip)

    def _items(self) -> tuple[list[_Item], list[_Item], _Item | None]:
        """The keys to show, one per action (its first binding), the ones of them never dropped
        (taken out of the first list), and the palette's key."""
        app = self.app
        active = self.screen.active_bindings
        items: list[_Item] = []
        seen: set[str] = set()
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            items.append(self._item(binding, enabled, tooltip))
        kept: list[_Item] = []
        for group in self.always:
            working = [a for a in active.values() if a.binding.action in group and a.enabled]
            if not working:
                continue
            first = min(working, key=lambda a: not a.binding.show)  # a shown one first
            shown = next((i for i in items if i.key == first.binding.key), None)
            if shown is not None:
                items.remove(shown)
            kept.append(shown or self._item(first.binding, first.enabled, first.tooltip))
        palette = None
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            found = active.get(app.COMMAND_PALETTE_BINDING)
            if found is not None:
                binding = found.binding
                palette = self._item(binding, found.enabled, binding.tooltip or binding.description)
        return items, kept, palette

    def _styled(self, item: _Item) -> Content:
        label = item.label
        if not item.enabled:
            label = label.stylize("dim")
        elif item.key == self._hover:
            label = label.stylize(HOVER)
        return label

    def render(self) -> Content:
        items, kept, palette = self._items()
        width = self.size.width
        if palette is not None:
            width -= palette.label.cell_length + 2  # the rule and a space before it
        # Drop keys from the end (the least important) until the rest and the kept ones fit.
        room = width - sum(i.label.cell_length + 1 for i in kept)
        fitting: list[_Item] = []
        for item in items:
            room -= item.label.cell_length + 1
            if room < 0:
                break
            fitting.append(item)
        parts: list[Content] = []
        spots: list[tuple[int, int, _Item]] = []
        x = 0
        for item in fitting + kept:
            label = self._styled(item)
            spots.append((x, x + label.cell_length, item))
            parts += [label, Content(" ")]
            x += label.cell_length + 1
        line = Content.assemble(*parts)
        if palette is not None:
            tail = Content.assemble(("▏", PALETTE_RULE), self._styled(palette))
            gap = max(1, self.size.width - line.cell_length - tail.cell_length)
            start = line.cell_length + gap + 1
            spots.append((start, start + palette.label.cell_length, palette))
            line = Content.assemble(line, " " * gap, tail)
        self._spots = spots
        return line

    def _item_at(self, x: int) -> _Item | None:
        return next((item for start, end, item in self._spots if start <= x < end), None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        item = self._item_at(event.x)
        key = item.key if item is not None else None
        if key != self._hover:
            self._hover = key
            self.tooltip = item.tooltip if item is not None and item.tooltip else None
            self.refresh()

    def on_leave(self) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        item = self._item_at(event.x)
        if item is None:
            return
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()
