"""Every use of Textual's and Rich's private API, in one place.

Textual is pinned exactly in pyproject.toml because of these: each is an internal that a minor
release may rename or change. Each function says which upstream behaviour it works around, so
that a Textual upgrade means reading this one file (and running tests/tui) and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Both are loaded by Textual itself before the first frame: importing them here costs nothing.
# `divide_line(text, width, fold=True)`: the offsets where Rich wraps `text` at `width` cells.
# Rich has no public function that returns them without building a Text and its Segments;
# Textual's own wrapping calls this one, so Prose wraps exactly as Static does.
from rich._wrap import divide_line
from textual._styles_cache import StylesCache

__all__ = [
    "base_styles",
    "clear_inner_outer_cache",
    "divide_line",
    "layout_generation",
    "widgets_listed_for_layout",
]

if TYPE_CHECKING:
    from textual.css.styles import StylesBase
    from textual.widget import Widget


def clear_inner_outer_cache() -> None:
    """Empty `textual._styles_cache.StylesCache.get_inner_outer`'s cache.

    In Textual 8.2.8 it is an `lru_cache(1024)` on what should be a classmethod but is not, so
    its keys hold the style cache (and every line drawn) of the last 1,024 widgets drawn, long
    after they were removed. The cache only saves building two Styles.
    """
    clear = getattr(getattr(StylesCache, "get_inner_outer", None), "cache_clear", None)
    if clear is not None:
        clear()


def widgets_listed_for_layout(parent: Widget) -> Any:
    """The children of `parent` the screen lists for re-layout this pass
    (`Screen._layout_widgets`).

    Textual's own stream layout re-measures only the children listed there, which the screen
    fills from `Layout` messages; a widget whose size changed without posting one was missed.
    MeasuringStreamLayout re-measures those listed as well as those whose count moved.
    """
    return parent.screen._layout_widgets.get(parent, ())


def base_styles(widget: Widget) -> StylesBase:
    """The widget's own styles without the render-time overlay (`Styles._base_styles`): what
    Textual's layouts read, and what is cheap to read per child per arrange."""
    return widget.styles._base_styles


def layout_generation(widget: Widget) -> int:
    """A number that moves whenever the widget (or a descendant up to the first one that lays
    out its own children) asked for a new layout (`Widget._layout_updates`), or -1 while one is
    pending (`Widget._layout_required`): MeasuringStreamLayout keeps a child's height while it
    is unchanged."""
    return -1 if widget._layout_required else widget._layout_updates
