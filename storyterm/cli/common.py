"""What every command shares: the runtime, the acting writer, output helpers, error exits.

Every line the CLI prints goes through `say` (or `print_json`): stored and generated text is data,
so its control characters are shown as symbols and never drive the terminal, whether stdout is a
terminal, a pipe or a file (core/text.py's terminal_safe). Styling (`styled`) is added after.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from storyterm.core.runtime import Runtime
from storyterm.core.text import terminal_line, terminal_safe
from storyterm.errors import AuthError, StorytermError

if TYPE_CHECKING:
    from storyterm.core.identity.accounts import Account

P = ParamSpec("P")
R = TypeVar("R")


def get_runtime() -> Runtime:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Runtime()
        root.call_on_close(root.obj.close)
    return root.obj


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a StorytermError as the writer-facing message it is, and exit 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except StorytermError as exc:
            say(f"storyterm: {exc.message}", err=True)
            sys.exit(1)

    return wrapper


NOT_LOGGED_IN = (
    "You are not logged in. Run `storyterm login` (or `storyterm register` to create an account)."
)
STAY_LOGGED_IN = (
    "To stay logged in, run `storyterm login --print-token` and set STORYTERM_TOKEN to the token "
    "it prints (keep it secret, like a password)."
)


def require_user(runtime: Runtime) -> Account:
    """The verified writer a command acts for, or AuthError saying how to log in."""
    account = runtime.current_account()
    if account is None:
        message = NOT_LOGGED_IN
        if not runtime.tokens.available:
            message += (
                f" {runtime.tokens.unavailable_reason}, so a login lasts for one command only. "
                + STAY_LOGGED_IN
            )
        raise AuthError(message)
    return account


def current_user_id(runtime: Runtime) -> int:
    """The writer this command acts for."""
    return require_user(runtime).id


class Styled(str):
    """A piece of a line already made safe and styled (see `styled`): `say` prints it as is."""


def styled(text: str, *, one_line: bool = False, **styles: Any) -> Styled:
    """`text` made terminal-safe (and folded onto one line with `one_line=True`), then styled
    with click.style's options (bold=True, dim=True, ...)."""
    safe = terminal_line(text) if one_line else terminal_safe(text)
    return Styled(click.style(safe, **styles))


def say(*pieces: str, err: bool = False, nl: bool = True) -> None:
    """Print `pieces` joined: each made terminal-safe unless it is `styled` already."""
    line = "".join(p if isinstance(p, Styled) else terminal_safe(p) for p in pieces)
    click.echo(line, err=err, nl=nl)


# JSON escapes C0 controls itself; these it leaves raw with ensure_ascii=False: DEL, the C1
# block, bidirectional overrides, line/paragraph separators and lone surrogates.
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def print_json(value: Any) -> None:
    """`value` as JSON for scripts: text stays exact (escaped where a terminal would act on it)
    and readable (other non-ASCII characters are written as they are)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    click.echo(_JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


def json_line(value: Any) -> None:
    """`value` as one line of JSON (a stream of objects: `watch --json`), escaped as
    `print_json` escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    click.echo(_JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
