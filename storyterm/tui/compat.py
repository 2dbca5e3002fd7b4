"""Every use of Textual's and Rich's private API, in one place.

Textual is pinned exactly in pyproject.toml because of these: each is an internal that a minor
release may rename or change. Each function says which upstream behaviour it works around, so
that a Textual upgrade means reading this one file (and running tests/tui) and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

# Both are loaded by Textual itself before the first frame: importing them here costs nothing.
# `divide_line(text, width, fold=True)`: the offsets where Rich wraps `text` at `width` cells.
# Rich has no public function that returns them without building a Text and its Segments;
# Textual's own wrapping calls this one, so Prose wraps exactly as Static does.
from rich._wrap import divide_line
from textual._context import active_app
from textual._styles_cache import StylesCache
from textual.app import App
from textual.message_pump import MessagePump
from textual.worker import WorkerFailed

__all__ = [
    "KeepsRunning",
    "base_styles",
    "clear_inner_outer_cache",
    "divide_line",
    "layout_generation",
    "replace_option_prompt",
    "widgets_listed_for_layout",
]

if TYPE_CHECKING:
    from textual.css.styles import RulesMap, StylesBase
    from textual.message import Message
    from textual.visual import VisualType
    from textual.widget import Widget
    from textual.widgets import OptionList


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


def replace_option_prompt(option_list: OptionList, option_id: str, prompt: VisualType) -> None:
    """`OptionList.replace_option_prompt`, redrawing that option only.

    Textual 8.2.8's clears every option's drawn lines (`_option_render_cache`) and the line map
    (`_line_cache`), so the next frame draws every visible row again: ~7 ms for the session
    list's rows, paid each time a part ends (its story's row shows the new counts). When the
    option keeps its height, only its own drawn lines are dropped (the cache's keys are
    `(option, style, padding)`); when its height changes, Textual's way is taken.
    """
    index = option_list.get_option_index(option_id)
    option = option_list.get_option_at_index(index)
    region = option_list.scrollable_content_region
    padding = option_list.get_component_styles("option-list--option").padding
    width = region.width - option_list._get_left_gutter_width() - padding.width
    old_height = option_list._line_cache.heights.get(index)
    option._set_prompt(prompt)
    rules = cast("RulesMap", option_list.styles)  # (as Textual's OptionList passes them)
    new_height = option_list._get_visual(option).get_height(rules, width)
    if not region or old_height != new_height + option._divider:
        option_list._clear_caches()
        return
    cache = option_list._option_render_cache
    # (LRUCache has no __iter__: keys() it is.)
    for key in [key for key in cache.keys() if key[0] is option]:  # noqa: SIM118
        cache.discard(key)
    option_list.refresh()


class KeepsRunning(App[None]):
    """An app that hears of every error nobody caught, and stays up.

    Textual 8.2.8 hands such an error to `App._handle_exception`, which always exits the app
    with a traceback: an error in a message handler or a key's action (`MessagePump.
    _dispatch_message`), a callback, a timer, a worker started with exit_on_error. An error in
    a handler also ends the message loop of the widget or screen it was raised in (its
    `_process_messages_loop` breaks), so that screen never answers a key again. Here:

    - `_handle_exception` asks `unexpected_error(error)` first and exits only when that says
      so (the worker's own error instead of Textual's WorkerFailed wrapper);
    - every message pump's `_dispatch_message` (installed once, below, and only acting inside
      a KeepsRunning app) gives an error of a handler to `unexpected_error` and carries on
      with the next message, so the screen keeps answering.
    """

    def unexpected_error(self, error: BaseException) -> bool:
        """Tell the writer about `error`; True to carry on, False to exit as Textual does."""
        return False

    def _handle_exception(self, error: Exception) -> None:
        cause = error.error if isinstance(error, WorkerFailed) else error
        if not self.unexpected_error(cause):
            super()._handle_exception(error)


_dispatch_message = MessagePump._dispatch_message


async def _dispatch_keeping_running(self: MessagePump, message: Message) -> None:
    try:
        await _dispatch_message(self, message)
    except Exception as error:  # CancelledError is a BaseException: it goes through
        app = active_app.get(None)
        if not isinstance(app, KeepsRunning) or not app.unexpected_error(error):
            raise


if getattr(MessagePump._dispatch_message, "__name__", "") != "_dispatch_keeping_running":
    MessagePump._dispatch_message = _dispatch_keeping_running  # type: ignore[method-assign]
