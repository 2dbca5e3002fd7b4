"""`storyterm options`: see and change a story's sampling options (temperature, top_p, top_k,
repeat_penalty, num_predict, seed) and whether its model thinks first (think), which are sent to
Ollama with each of its parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.cli.sessions import resolve_session_id
from storyterm.core.memory.state import MemoryState
from storyterm.core.sampling import (
    NAMES,
    OPTIONS,
    THINK,
    THINK_MEANING,
    Row,
    Sampling,
    option,
    rows_json,
    story_rows,
)
from storyterm.errors import InvalidInput

#: How each row's source reads.
_SOURCE = {"story": "this story", "default": "default (settings)", "unset": "default"}


def _option_flags(command: Callable[..., None]) -> Callable[..., None]:
    """--temperature ... --seed, in the options' order. Their values are handed to the core as
    typed, so that a bad one gets the same message here as in the TUI and the API."""
    for spec in reversed(OPTIONS.values()):
        command = click.option(
            spec.flag,
            spec.name,
            metavar="N",
            default=None,
            help=f"{spec.label}: {spec.meaning} ({spec.rule}; unset: {spec.unset}).",
        )(command)
    return command


@click.command("options")
@click.argument("session_id")
@_option_flags
@click.option(
    "--think",
    "think",
    metavar="MODE",
    default=None,
    help=f"Thinking: {THINK_MEANING}; off, on, low, medium or high (unset: off). A model that "
    "cannot do it is refused when Ollama can say so.",
)
@click.option(
    "--reset",
    "resets",
    multiple=True,
    metavar="NAME",
    help="Use the default again for this option (repeatable; `all` resets every one).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the options as JSON.")
@handle_errors
def options_cmd(
    session_id: str, think: str | None, resets: tuple[str, ...], as_json: bool, **values: Any
) -> None:
    """Show a story's sampling options, or set them.

    With no option it lists every one with the value the story is written with, and says
    whether that is the story's own or the default (the settings: config.toml or STORYTERM_*,
    e.g. STORYTERM_TEMPERATURE). Setting one keeps the others as they are.
    """
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    session_id = resolve_session_id(runtime, user_id, session_id)
    changes = _changes({**values, THINK: think}, resets)
    note = ""
    if changes:
        from storyterm.core.generation import thinking

        session, note = thinking.set_options(
            runtime.sessions, runtime.models, user_id, session_id, changes
        )
    else:
        session = runtime.sessions.get(user_id, session_id)
    own = MemoryState.from_memory(session.memory).options
    shown = story_rows(own, runtime.settings)
    if as_json:
        print_json({"session_id": session.id, "options": rows_json(shown, own), "note": note})
        return
    heading = "Saved. Sampling options" if changes else "Sampling options"
    say(f"{heading} of ", styled(f"“{session.title}”", one_line=True, bold=True), ":")
    for row in shown:
        say(_line(row))
    say(_think_line(own))
    if note:
        say(styled(note, dim=True))
    if not changes:
        say(
            styled(
                f"Set one with `storyterm options {session.id[:8]} --temperature 0.9`; "
                "`--reset NAME` goes back to the default.",
                dim=True,
            )
        )


def _changes(values: dict[str, str | None], resets: tuple[str, ...]) -> dict[str, Any]:
    changes: dict[str, Any] = {name: value for name, value in values.items() if value is not None}
    for name in resets:
        key = name.strip().lower()
        names = (*NAMES, THINK) if key == "all" else (THINK if key == THINK else option(name).name,)
        for reset in names:
            if reset in changes:
                flag = OPTIONS[reset].flag if reset in OPTIONS else "--think"
                raise InvalidInput(
                    f"{flag} and --reset {reset} say different things: give one of them."
                )
            changes[reset] = None
    return changes


def _think_line(own: Sampling) -> str:
    value, source = (own.think, "this story") if own.think else ("off", "default")
    return f"  {THINK:<15} {value:<28} {source}"


def _line(row: Row) -> str:
    source = _SOURCE[row.source]
    line = f"  {row.option.name:<15} {row.shown:<28} {source}"
    return line.rstrip()


COMMANDS = [options_cmd]
