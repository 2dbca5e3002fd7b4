"""The main screen's keys: the table, which of them work now, the help text and the palette.

The help and the command palette are built from the bindings themselves, so neither can drift
from what the keys do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.widgets import Input, TextArea

from storyterm.tui.main.story_actions import CHOOSE_KEY, COPY_KEY
from storyterm.tui.widgets.direction import DirectionInput
from storyterm.tui.widgets.direction_input import NEWLINE_KEY
from storyterm.tui.widgets.session_list import FILTERS

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widget import Widget

    from storyterm.core.views import Part, Session
    from storyterm.tui.main.story_column import StoryColumn
    from storyterm.tui.screens.help import HelpSections

MAIN_KEYS: list[BindingType] = [
    # First: shown only when the selected part has takes to compare, and then the first thing
    # a narrow key bar should offer.
    Binding(
        "less_than_sign",
        "previous_take",
        "Prev take",
        key_display="<",
        tooltip="Show the selected part's previous take",
    ),
    Binding(
        "greater_than_sign",
        "next_take",
        "Next take",
        key_display=">",
        tooltip="Show the selected part's next take",
    ),
    # Shown only while text a failed save kept waits to be put back: then it matters most.
    Binding(
        "R",
        "recover",
        "Put back",
        key_display="R",
        tooltip="Put text the database could not save back into its parts",
    ),
    Binding("n", "new_session", "New", tooltip="Start a new story session"),
    Binding("w", "write", "Write", tooltip="Go to the direction input"),
    Binding("escape", "stop", "Stop", tooltip="Stop the generation, keeping its text"),
    Binding("p", "pause", "Pause", tooltip="Pause this story (resume later with r)"),
    Binding("r", "resume", "Resume", tooltip="Resume a paused story"),
    Binding("c", "complete", "Complete", tooltip="Mark the story completed (read-only)"),
    Binding("C", "reopen", "Reopen", key_display="C", tooltip="Reopen a completed story"),
    Binding(
        "e",
        "export",
        "Export",
        tooltip="Export the story to files (the export_formats setting)",
    ),
    Binding(
        CHOOSE_KEY,
        "export('choose')",
        "Export as…",
        show=False,
        tooltip="Choose the formats and the folder, then export",
    ),
    Binding(
        COPY_KEY,
        "copy_export_folder",
        "Copy folder",
        show=False,
        tooltip="Copy the path of the folder the story was last exported to",
    ),
    Binding(
        "ctrl+r",
        "regenerate",
        "Regenerate",
        tooltip="Write the selected part (else the last) again as a new take (with the "
        "direction in the input, if any)",
    ),
    Binding(
        "F",
        "finish_part",
        "Finish part",
        show=False,
        key_display="F",
        tooltip="Finish the selected part (else the last) from where it was interrupted, as a "
        "new take",
    ),
    # Select a part from any pane (from the list: in the open story), for E and x.
    Binding(
        "left_square_bracket",
        "select_part(-1)",
        "Part",
        key_display="[ ]",
        tooltip="Select the part before / after (E edits it, x moves it to the trash)",
    ),
    Binding("right_square_bracket", "select_part(1)", "Next part", show=False, key_display="]"),
    Binding(
        "E",
        "edit_part",
        "Edit part",
        key_display="E",
        tooltip="Edit the selected part (saved as a new take)",
    ),
    Binding(
        "Y",
        "copy_part",
        "Copy part",
        show=False,
        key_display="Y",
        tooltip="Copy the selected part (else the last) to the clipboard",
    ),
    Binding("b", "bible", "Bible", tooltip="Edit the story bible and the rolling summary"),
    # Not on the key bar (it would push Context off at 130 columns): help and the palette.
    Binding(
        "l",
        "lore",
        "Lore",
        show=False,
        tooltip="The lorebook: entries the model gets when their keys come up",
    ),
    Binding(
        "m", "model", "Model", tooltip="Model and sampling options: temperature, reply length, seed"
    ),
    Binding("v", "view_context", "Context", tooltip="See what the model was sent last"),
    Binding("d", "delete", "Delete", tooltip="Move this story to the trash"),
    Binding(
        "x", "delete_part", "Delete part", show=False, tooltip="Move the selected part to the trash"
    ),
    Binding(
        "u,ctrl+z",
        "undo",
        "Undo",
        show=False,
        key_display="u / ctrl+z",
        tooltip="Undo your last change to the story (a story just deleted comes back)",
    ),
    Binding("ctrl+y", "redo", "Redo", show=False, tooltip="Redo what was undone"),
    Binding("T", "trash", "Trash", show=False, key_display="T", tooltip="Open the trash"),
    Binding("slash", "search", "Search", key_display="/", tooltip="Search titles"),
    # Not in the key bar (full already): in the help, the palette and the README.
    Binding(
        "ctrl+f",
        "find(0)",
        "Find",
        show=False,
        tooltip="Search inside your stories (outside the input)",
    ),
    Binding(
        "f3",
        "find(1)",
        "Next match",
        show=False,
        key_display="f3 / shift+f3",
        tooltip="The open story's next / previous part holding the last search",
    ),
    Binding("shift+f3", "find(-1)", "Previous match", show=False),
    Binding("1", "filter('all')", "Filter", key_display="1-4", tooltip="All stories"),
    Binding("2", "filter('active')", "Active", show=False),
    Binding("3", "filter('paused')", "Paused", show=False),
    Binding("4", "filter('completed')", "Done", show=False),
    Binding("f5", "reload", "Reload", show=False, tooltip="Reload the list and the story"),
    Binding("z", "zen", "Zen", show=False, tooltip="Hide or show the session list"),
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("f1", "keys_help", "Help", show=False, tooltip="This help, even while typing"),
    Binding("q", "quit", "Quit"),
]

#: What the key bar shows whatever its width: help (? or, while typing, f1) and quit (q, or
#: the app's ctrl+q while typing).
ALWAYS_SHOWN: tuple[tuple[str, ...], ...] = (("help", "keys_help"), ("quit",))

#: Actions bound to plain letters: they cannot fire while an input has the keyboard, so the
#: footer hides them then. (Not undo: its u goes to the input, its ctrl+z works there too.)
LETTER_ACTIONS = {
    "new_session",
    "write",
    "pause",
    "resume",
    "complete",
    "reopen",
    "previous_take",
    "next_take",
    "delete_part",
    "select_part",
    "trash",
    "recover",
    "export",
    "copy_export_folder",
    "copy_part",
    "edit_part",
    "finish_part",
    "bible",
    "lore",
    "view_context",
    "model",
    "delete",
    "search",
    "filter",
    "zen",
    "help",
    "quit",
}


def key_name(key: str) -> str:
    return {
        "slash": "/",
        "question_mark": "?",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
        "escape": "esc",
    }.get(key, key)


_ANY = ("active", "paused", "completed")
_WRITABLE = ("active", "paused")
#: The statuses of the open story each action works in (an action not named: always).
_WORKS_IN: dict[str, tuple[str, ...]] = {
    "pause": ("active",),
    "resume": ("paused",),
    "complete": _WRITABLE,
    "reopen": ("completed",),
    "regenerate": ("active",),
    "finish_part": ("active",),
    "previous_take": _WRITABLE,
    "next_take": _WRITABLE,
    "edit_part": _WRITABLE,
    "delete_part": _WRITABLE,
    "model": _WRITABLE,
    "export": _ANY,
    "bible": _ANY,
    "lore": _ANY,
    "view_context": _ANY,
    "delete": _ANY,
    "select_part": _ANY,
}
#: Actions on a part: the story needs one.
_NEEDS_A_PART = {"regenerate", "finish_part", "edit_part", "delete_part", "select_part"}


def available(
    action: str,
    session: Session | None,
    *,
    generating: bool,
    focused: Widget | None,
    part: Part | None = None,
    unsaved: bool = False,
) -> bool:
    """Whether `action` can work now, so that the footer shows nothing that cannot. `part` is
    the part the part keys act on (the selected one, else the last); `unsaved`, whether text a
    failed save kept waits to be put back."""
    if action in LETTER_ACTIONS and isinstance(focused, (Input, TextArea)):
        return False  # the input is taking the letters
    if action == "stop":
        return generating
    if action == "recover":
        return unsaved
    if action == "write":
        return (
            session is not None
            and str(session.status) == "active"
            and not isinstance(focused, DirectionInput)
        )
    statuses = _WORKS_IN.get(action)
    if statuses is None:
        return True
    if session is None or str(session.status) not in statuses:
        return False
    if action in ("previous_take", "next_take"):
        return part is not None and part.takes > 1
    return action not in _NEEDS_A_PART or session.part_count > 0


def palette_commands(screen: object, bindings: Iterable[BindingType]) -> Iterator[SystemCommand]:
    """A command palette entry for every binding of `screen` (quit has its own)."""
    run: Callable[..., Any]
    for binding in bindings:
        if not isinstance(binding, Binding) or binding.action in ("quit", "keys_help"):
            continue
        action, _, args = binding.action.partition("(")
        params = tuple(a.strip(" '\"") for a in args.rstrip(")").split(",") if a.strip())
        method = getattr(screen, f"action_{action}", None)
        if method is None:
            continue
        run = partial(method, *params)
        title = binding.description
        if action == "filter":
            title = f"Show {FILTERS[str(params[0])].lower()} stories"
        elif action == "find" and params == ("0",):
            title = "Search inside your stories"
        yield SystemCommand(
            f"{title} ({binding.key_display or key_name(binding.key)})",
            binding.tooltip or title,
            run,
        )


def story_key(
    what: str, act: Callable[[StoryColumn], Callable[[Session], object]], busy: str = ""
) -> Callable[[Any], None]:
    """The main screen's action for a key that acts on the open story: `act(column)` is called
    with the open session (`what` the key does to it, for a writer told there is none); with
    `busy`, not while a part is being written (`busy` says what to do then). The screen's class
    body lists them, one line a key."""

    def action(screen: Any) -> None:
        screen.on_story(what, act(screen.column), busy)

    return action


def logout_command(username: str | None, logout: Callable[[], object]) -> SystemCommand:
    """The command palette's entry for logging out, offered while a writer is known."""
    return SystemCommand(
        f"Log out ({username})",
        "End this login (it is revoked) and show the login screen",
        logout,
    )


def _rows(bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    out = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            continue
        key = binding.key_display or key_name(binding.key)
        out.append((key, binding.tooltip or binding.description))
    return out


def help_screen(story_keys: Iterable[BindingType]) -> Screen[None]:
    """The help screen: every key of the main screen and of the story pane."""
    from storyterm.tui.screens.help import HelpScreen

    return HelpScreen(help_sections(story_keys))


def help_sections(story_keys: Iterable[BindingType]) -> HelpSections:
    """Every key of the main screen and of the story pane (`story_keys`), grouped."""
    screen_rows = [
        (k, d)
        for k, d in _rows(MAIN_KEYS)
        if k not in ("2", "3", "4", "shift+f3")  # listed as 1-4 and with f3 below
    ]
    filters = ", ".join(f"{i} {label.lower()}" for i, label in enumerate(FILTERS.values(), 1))
    screen_rows = [(k, filters if k == "1-4" else d) for k, d in screen_rows]
    return [
        (
            "Writing",
            [
                ("enter", "In the direction input: write the next part"),
                (
                    NEWLINE_KEY,
                    "In the direction input: a new line (shift+enter and alt+enter too, where the "
                    "terminal tells them from Enter)",
                ),
                (
                    "↑ ↓",
                    "In the direction input, on its first / last line: this story's earlier "
                    "directions, newest first; past the newest, what you were typing",
                ),
                ("esc", "Stop the generation (text kept), or leave the input"),
                *[(k, d) for k, d in screen_rows if k in ("w", "ctrl+r", "F")],
                *[(k, d) for k, d in screen_rows if k == "[ ]"],
                ("< >", "Show the selected part's previous / next take (else the last part's)"),
                *[(k, d) for k, d in screen_rows if k in ("E", "Y", "b", "l", "m", "v")],
            ],
        ),
        (
            "Stories",
            [
                (k, d)
                for k, d in screen_rows
                if k in ("n", "p", "r", "c", "C", "e", CHOOSE_KEY, COPY_KEY, "d", "f5", "z")
            ],
        ),
        (
            "Undo, the trash and unsaved text",
            [(k, d) for k, d in screen_rows if k in ("u / ctrl+z", "ctrl+y", "x", "T", "R")],
        ),
        (
            "Finding stories",
            [
                *[(k, d) for k, d in screen_rows if k in ("/", "1-4", "ctrl+f", "f3 / shift+f3")],
                ("↑ ↓ / j k", "Move in the list (the story opens as you stop)"),
                ("enter", "On a story: open it and go to the direction input"),
                ("esc", "In the search: clear it, then back to the list"),
            ],
        ),
        (
            "Reading (in the story pane)",
            [
                *[(k, d) for k, d in _rows(story_keys) if k not in ("j", "k")],
                ("↑ ↓ / j k", "Scroll"),
                ("home / pgup", "Scroll up; older parts load as you reach the top"),
                ("click", "Select a part"),
            ],
        ),
        (
            "App",
            [
                ("? / f1", "This help (f1 also while typing)"),
                ("ctrl+p", "Command palette: every command, and themes"),
                ("tab", "Next pane"),
                ("q / ctrl+q", "Quit"),
            ],
        ),
    ]
