"""What every command shares: the runtime, the acting writer, output helpers, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from storyterm.core.errors import StorytermError
from storyterm.core.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


def get_runtime() -> Runtime:
    ctx = click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Runtime()
        root.call_on_close(root.obj.close)
    return root.obj


def handle_errors(func: F) -> F:
    """Print a StorytermError as the writer-facing message it is, and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StorytermError as exc:
            click.echo(f"storyterm: {exc.message}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def current_user_id(runtime: Runtime) -> int:
    """The writer this command acts for."""
    from storyterm.cli.auth import require_user

    return require_user(runtime).id


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
