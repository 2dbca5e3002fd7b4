"""The core's messages name no command of the CLI's (and no key of the TUI's): they reach the
TUI and the API's error bodies too, where `storyterm trash` is no help. A front end adds its
own way to act (the CLI a command, the TUI a key)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click

import storyterm.core
from storyterm.cli import cli

CORE = Path(storyterm.core.__file__).parent

#: Known to name a command still, with why they are left for now. Each entry is (module,
#: the command named); the test fails when one goes away, so the list is kept true.
KNOWN: dict[tuple[str, str], str] = {
    # The login messages: the CLI's auth commands are being reworked in another branch
    # (cli-polish); their commands move to the front ends with it.
    ("identity/accounts.py", "login"): "identity",
    ("identity/tokens.py", "logout"): "identity",
    ("runtime.py", "login"): "identity",
    # A database that cannot be opened, or whose schema is behind: the TUI's start-up screen
    # (being reworked in another branch, tui-house) shows the core's message as it is and
    # needs its own hint before the command can leave the core.
    ("storage/database.py", "doctor"): "database at start-up",
    ("storage/database.py", "db"): "database at start-up",
    # A story imported twice (merged from cli-polish with this test): import is the CLI's
    # alone today, but the refusal names its --again and `storyterm restore`; the CLI's
    # import command should add them.
    ("storage/imports.py", "restore"): "import",
    # The first line of a recovery file: a document a writer opens, not a message.
    ("recovery.py", "recover"): "recovery file header",
}


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes (they are for readers of the code, not writers)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _strings(path: Path) -> list[str]:
    """Every string the module can put in a message (constants and f-string pieces)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def test_core_messages_name_no_cli_command() -> None:
    names = cli.list_commands(click.Context(cli))  # the group loads its commands lazily
    commands = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    named = re.compile(rf"`storyterm ({commands})\b")
    found: set[tuple[str, str]] = set()
    for path in sorted(CORE.rglob("*.py")):
        module = path.relative_to(CORE).as_posix()
        for text in _strings(path):
            for match in named.finditer(text):
                found.add((module, match.group(1)))
    unexpected = sorted(found - KNOWN.keys())
    assert not unexpected, f"core messages that name a CLI command: {unexpected}"
    assert KNOWN.keys() <= found, f"no longer named, drop from KNOWN: {KNOWN.keys() - found}"
