"""Textual's stream layout, re-measuring every child whose size may have changed.

`layout: stream` keeps the placement of each child from the last arrangement and re-measures
only the children listed in `Screen._layout_widgets`, which the screen fills from `Layout`
messages. But a `Layout` message replaces the one queued before it (`Layout.can_replace`), so
when two widgets ask for a layout in the same moment only the last is listed, and the other
keeps its old height: a Static whose text grew from one line to twelve kept showing one line
(the "could not open your stories" message), and a part whose text changed kept its old height.
(Textual 8.2.8; `Screen._on_layout` also stops adding a widget's ancestors once one is listed.)

This layout does not depend on those messages. Textual counts the layout requests of every
widget (`Widget._layout_updates`: a widget's own, and those of any descendant up to the first
container of fixed size), so a child is measured again when its count moved since it was last
measured, or a request is still pending. The other children keep their cached height; only
their y is worked out again, which is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.geometry import NULL_OFFSET, Region, Size
from textual.layouts.stream import StreamLayout

from storyterm.tui.compat import base_styles, layout_generation, widgets_listed_for_layout

if TYPE_CHECKING:
    from textual.layout import ArrangeResult
    from textual.widget import Widget

from textual.layout import WidgetPlacement


class MeasuringStreamLayout(StreamLayout):
    """`layout: stream` that notices every child whose height may have changed."""

    name = "stream"

    def __init__(self) -> None:
        super().__init__()
        #: Per child: (layout count when measured, or -1 if a request was pending; height).
        self._heights: dict[Widget, tuple[int, int]] = {}
        self._heights_width = 0

    def arrange(
        self, parent: Widget, children: list[Widget], size: Size, greedy: bool = True
    ) -> ArrangeResult:
        parent.pre_layout(self)
        if not children:
            self._heights.clear()
            return []
        if size.width != self._heights_width:
            self._heights.clear()
            self._heights_width = size.width
        viewport = parent.app.viewport_size
        listed = widgets_listed_for_layout(parent)
        known = self._heights
        heights: dict[Widget, tuple[int, int]] = {}
        placements: list[WidgetPlacement] = []
        width = size.width
        y = 0
        previous_margin = children[0].styles.margin.top
        for widget in children:
            styles = base_styles(widget)
            margin = styles.margin
            top, right, bottom, left = margin
            y += top if top > previous_margin else previous_margin
            previous_margin = bottom
            count = layout_generation(widget)
            cached = known.get(widget)
            if cached is not None and cached[0] == count and count >= 0 and widget not in listed:
                height = cached[1]
            else:
                gutter_width, gutter_height = styles.gutter.totals
                height = (
                    widget.get_content_height(size, viewport, width - gutter_width) + gutter_height
                )
                if (max_height := styles.max_height) is not None and max_height.is_cells:
                    height = min(height, int(max_height.value))
                if (min_height := styles.min_height) is not None and min_height.is_cells:
                    height = max(height, int(min_height.value))
            heights[widget] = (count, height)
            placements.append(
                WidgetPlacement(
                    Region(left, y, width - (left + right), height),
                    NULL_OFFSET,
                    margin,
                    widget,
                    0,
                    False,
                    False,
                    False,
                )
            )
            y += height
        self._heights = heights
        return placements
