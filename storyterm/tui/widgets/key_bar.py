"""The bottom line: the keys that work now, like Textual's compact Footer, as one widget.

Textual's Footer mounts a widget per key and recomposes them all whenever the bindings change,
which is every focus change: ~0.1 s of the start-up (half the time from the data being read to
the screen being ready) and again each time the writer moves between the list, the story and
the input. KeyBar renders the same line (keys bold, descriptions after them, disabled ones dim,
the command palette on the right) as one Content and only repaints when the bindings change.
Clicking a key presses it; hovering shows its tooltip.
"""

from __future__ import annotations

from textual import events
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

    def __init__(self, *, show_command_palette: bool = True) -> None:
        super().__init__()
        self.show_command_palette = show_command_palette
        #: (start, end, item) of each key on the line as last rendered (for the mouse).
        self._spots: list[tuple[int, int, _Item]] = []
        #: The key under the mouse (items are rebuilt at each render: keys stay).
        self._hover: str | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh()

    def _items(self) -> tuple[list[_Item], _Item | None]:
        """The keys to show, one per action (its first binding), and the palette's key."""
        app = self.app
        active = self.screen.active_bindings
        items: list[_Item] = []
        seen: set[str] = set()
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            label = Content.assemble(
                (app.get_key_display(binding), KEY), (f" {binding.description}", DESCRIPTION)
            )
            items.append(_Item(binding.key, label, enabled, tooltip or binding.tooltip))
        palette = None
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            found = active.get(app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, binding, enabled, _tooltip = found
                label = Content.assemble(
                    (app.get_key_display(binding), KEY), (f" {binding.description}", DESCRIPTION)
                )
                tooltip = binding.tooltip or binding.description
                palette = _Item(binding.key, label, enabled, tooltip)
        return items, palette

    def _styled(self, item: _Item) -> Content:
        label = item.label
        if not item.enabled:
            label = label.stylize("dim")
        elif item.key == self._hover:
            label = label.stylize(HOVER)
        return label

    def render(self) -> Content:
        items, palette = self._items()
        parts: list[Content] = []
        spots: list[tuple[int, int, _Item]] = []
        x = 0
        for item in items:
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
