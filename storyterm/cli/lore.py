"""`storyterm lore`: a story's lorebook (world info) - list, add, edit, delete (restorable),
restore, and how much of the story it scans and may take of the prompt."""

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
from storyterm.core.memory.lore import split_keys
from storyterm.core.memory.state import MemoryState
from storyterm.core.runtime import Runtime
from storyterm.core.views import LoreEntry

#: Characters of an entry's text shown in the listing.
PREVIEW = 60


class _LoreGroup(click.Group):
    """`storyterm lore ID` lists; `storyterm lore add|edit|rm|restore|settings ...` change."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group("lore", cls=_LoreGroup)
def lore_group() -> None:
    """A story's lorebook: entries the model is given when their keys come up.

    \b
    storyterm lore ID                 list the entries (--json for scripts)
    storyterm lore add ID --name N --keys "a,b" --text T
    storyterm lore edit ID ENTRY [--text T --priority P --disable ...]
    storyterm lore rm ID ENTRY        delete (kept: `lore restore` brings it back)
    storyterm lore settings ID [--scan-depth N] [--share 0.15]

    An entry is sent when one of its keys is in the direction or in the last parts (4 unless
    the story says otherwise), or always when it is always on; by priority, within its share
    of the model's window (15% unless the story says otherwise).
    """


def _context(session_id: str) -> tuple[Runtime, int, str]:
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    return runtime, user_id, resolve_session_id(runtime, user_id, session_id)


def _entry_json(entry: LoreEntry) -> dict[str, Any]:
    return entry.model_dump(mode="json")


@lore_group.command("show")
@click.argument("session_id")
@click.option("--deleted", is_flag=True, help="List the deleted entries (to restore one).")
@click.option("--json", "as_json", is_flag=True, help="Print the lorebook as JSON.")
@handle_errors
def show_cmd(session_id: str, deleted: bool, as_json: bool) -> None:
    """List a story's lore entries."""
    runtime, user_id, session_id = _context(session_id)
    lore = runtime.lore
    session = runtime.sessions.get(user_id, session_id)
    entries = lore.deleted(user_id, session_id) if deleted else lore.list(user_id, session_id)
    state = MemoryState.from_memory(session.memory)
    last = state.last_lore or {"used": [], "left_out": []}
    used = {i for i, _ in last["used"]}
    left_out = {i for i, _ in last["left_out"]}
    if as_json:
        print_json(
            {
                "session_id": session.id,
                "scan_depth": state.lore.scan_depth,
                "share": state.lore.share,
                "entries": [_entry_json(e) for e in entries],
                "last_prompt": {"used": sorted(used), "left_out": sorted(left_out)},
            }
        )
        return
    what = "Deleted lore entries" if deleted else "Lorebook"
    say(f"{what} of ", styled(f"“{session.title}”", one_line=True, bold=True), ":")
    if not entries:
        hint = (
            "Nothing deleted."
            if deleted
            else f"No entries yet. Add one with `storyterm lore add {session.id[:8]} --name Mara "
            '--keys "Mara, the keeper" --text "..."`.'
        )
        say(styled(hint, dim=True))
        return
    for entry in entries:
        say(*_line(entry, used, left_out))
    if not deleted:
        say(
            styled(
                f"Scans the last {state.lore.scan_depth} parts and the direction; may take "
                f"{state.lore.share:.0%} of the window. ● enabled, ○ disabled, ★ always on; "
                "✓ in the last prompt, ✗ left out of it for want of room.",
                dim=True,
            )
        )


def _line(entry: LoreEntry, used: set[int], left_out: set[int]) -> list[str]:
    mark = "●" if entry.enabled else "○"
    star = "★" if entry.always_on else " "
    last = "✓" if entry.id in used else "✗" if entry.id in left_out else " "
    keys = ", ".join(entry.keys) or "(no keys)"
    if entry.regex:
        keys = f"/{keys}/"
    if entry.case_sensitive:
        keys += " (case)"
    text = entry.content if len(entry.content) <= PREVIEW else entry.content[:PREVIEW] + "…"
    return [
        f"{entry.id:>5} {mark}{star}{last} ",
        styled(entry.name, one_line=True, bold=True),
        f"  [{keys}]" if len(keys) < 80 else f"  [{keys[:79]}…]",
        f"  p{entry.priority}  ",
        styled(text, one_line=True, dim=True),
    ]


def _entry_options(*, editing: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The options of add and edit (edit: each one left out keeps the entry's value)."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        specs: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
            click.option("--name", default=None, help="Who or what the entry is about."),
            click.option(
                "--keys", default=None, help='Words or phrases that bring it in: "a, b, c".'
            ),
            click.option("--text", default=None, help="What the model should know."),
            click.option("--priority", type=int, default=None, help="Higher goes in first."),
            click.option(
                "--always/--not-always",
                "always_on",
                default=None,
                help="Always sent, whatever the keys.",
            ),
            click.option(
                "--regex/--plain",
                "regex",
                default=None,
                help="Keys are regular expressions (plain: whole words).",
            ),
            click.option(
                "--case-sensitive/--ignore-case",
                "case_sensitive",
                default=None,
                help="Keys match only in the case typed.",
            ),
        ]
        if editing:
            specs.append(
                click.option(
                    "--enable/--disable", "enabled", default=None, help="Use it or set it aside."
                )
            )
        for spec in reversed(specs):
            command = spec(command)
        return command

    return decorate


def _values(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items() if v is not None}
    if "text" in out:
        out["content"] = out.pop("text")
    if "keys" in out:
        out["keys"] = split_keys(out["keys"])
    return out


def _saved(entry: LoreEntry, what: str, as_json: bool) -> None:
    if as_json:
        print_json(_entry_json(entry))
        return
    say(f"{what} lore entry {entry.id}: ", styled(entry.name, one_line=True, bold=True), ".")


@lore_group.command("add")
@click.argument("session_id")
@_entry_options(editing=False)
@click.option("--json", "as_json", is_flag=True, help="Print the new entry as JSON.")
@handle_errors
def add_cmd(session_id: str, as_json: bool, **values: Any) -> None:
    """Add an entry to a story's lorebook."""
    runtime, user_id, session_id = _context(session_id)
    entry = runtime.lore.add(user_id, session_id, _values(values))
    _saved(entry, "Added", as_json)


@lore_group.command("edit")
@click.argument("session_id")
@click.argument("entry_id")
@_entry_options(editing=True)
@click.option("--json", "as_json", is_flag=True, help="Print the entry as JSON.")
@handle_errors
def edit_cmd(session_id: str, entry_id: str, as_json: bool, **values: Any) -> None:
    """Change an entry (what is not given stays as it is)."""
    runtime, user_id, session_id = _context(session_id)
    changes = _values(values)
    if not changes:
        raise click.UsageError("Say what to change, e.g. --text, --keys, --priority, --disable.")
    entry = runtime.lore.edit(user_id, session_id, entry_id, changes)
    _saved(entry, "Saved", as_json)


@lore_group.command("rm")
@click.argument("session_id")
@click.argument("entry_id")
@handle_errors
def rm_cmd(session_id: str, entry_id: str) -> None:
    """Delete an entry (kept: `storyterm lore restore ID ENTRY` brings it back)."""
    runtime, user_id, session_id = _context(session_id)
    entry = runtime.lore.delete(user_id, session_id, entry_id)
    say(
        f"Deleted lore entry {entry.id}: ",
        styled(entry.name, one_line=True, bold=True),
        f". Bring it back with `storyterm lore restore {session_id[:8]} {entry.id}`.",
    )


@lore_group.command("restore")
@click.argument("session_id")
@click.argument("entry_id")
@handle_errors
def restore_cmd(session_id: str, entry_id: str) -> None:
    """Bring a deleted entry back (`storyterm lore ID --deleted` lists them)."""
    runtime, user_id, session_id = _context(session_id)
    entry = runtime.lore.restore(user_id, session_id, entry_id)
    _saved(entry, "Restored", False)


@lore_group.command("settings")
@click.argument("session_id")
@click.option("--scan-depth", type=int, default=None, help="Recent parts scanned for keys.")
@click.option("--share", type=float, default=None, help="Share of the window, e.g. 0.15.")
@handle_errors
def settings_cmd(session_id: str, scan_depth: int | None, share: float | None) -> None:
    """Show or set how many recent parts are scanned and the lorebook's share of the window."""
    runtime, user_id, session_id = _context(session_id)
    if scan_depth is not None or share is not None:
        runtime.lore.set_settings(user_id, session_id, scan_depth=scan_depth, share=share)
    settings = runtime.lore.settings(user_id, session_id)
    say(
        f"Scans the last {settings.scan_depth} parts and the direction; may take "
        f"{settings.share:.0%} of the model's window."
    )


COMMANDS = [lore_group]
