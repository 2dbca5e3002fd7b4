"""`storyterm register|login|logout|whoami|passwd`."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable

import click

from storyterm.cli.common import (
    STAY_LOGGED_IN,
    get_runtime,
    handle_errors,
    print_json,
    require_user,
    say,
)
from storyterm.core.identity.accounts import NO_KEYRING, Account, check_password, clean_username
from storyterm.core.runtime import Runtime, TokenSource
from storyterm.core.storage.database import redact
from storyterm.errors import AuthError, InvalidInput, StorytermError, WrongCredentials

# -- prompts -----------------------------------------------------------------------------------


def _os_username() -> str | None:
    """The OS login name as a default username, when it makes a valid one."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        return None
    try:
        return clean_username(name)
    except InvalidInput:
        return None


def _as_usage_error(check):
    """Make a rule check re-ask at a click prompt instead of ending the command."""

    def convert(value: str) -> str:
        try:
            return check(value)
        except InvalidInput as exc:
            raise click.UsageError(exc.message) from exc

    return convert


def _username(option: str | None, *, err: bool = False) -> str:
    if option is not None:
        return clean_username(option)
    return click.prompt(
        "Username",
        default=_os_username(),
        value_proc=_as_usage_error(clean_username),
        err=err,
    )


def _stdin_is_terminal() -> bool:
    """Whether a person types at standard input. Otherwise it is a pipe or a file, and
    passwords are read from it a line each: getpass would warn there (GetPassWarning, with a
    file path) and read the terminal instead, if there is one."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed
        return False


def _stdin_line(missing: str) -> str:
    """The next line of standard input without its line ending; InvalidInput `missing` when
    there is none (or it is empty)."""
    try:
        line = sys.stdin.readline() if sys.stdin is not None else ""
    except (UnicodeDecodeError, OSError) as exc:
        raise InvalidInput(f"Could not read the password from standard input ({exc}).") from exc
    password = line.rstrip("\r\n")
    if not password:
        raise InvalidInput(missing)
    return password


def _password_from_stdin() -> str:
    return _stdin_line(
        "--password-stdin found no password on standard input. Pipe it in, for example "
        "`storyterm login --username alice --password-stdin < password.txt`."
    )


def _secret(
    prompt: str,
    *,
    missing: str,
    check: Callable[[str], str] | None = None,
    confirm: str | None = None,
    err: bool = False,
) -> str:
    """A password. At a terminal: asked for unseen, asked again while `check` refuses it, and
    typed twice when `confirm` names the second prompt. From a pipe or a file: the next line,
    unprompted and not repeated (a script makes no typos to catch), refused with `check`'s
    message, or with `missing` when there is no line."""
    if _stdin_is_terminal():
        return click.prompt(
            prompt,
            hide_input=True,
            confirmation_prompt=confirm or False,
            value_proc=_as_usage_error(check) if check else None,
            err=err,
        )
    password = _stdin_line(missing)
    return check(password) if check else password


def _new_password(username: str, prompt: str = "Password", *, missing: str) -> str:
    return _secret(
        prompt,
        missing=missing,
        check=lambda value: check_password(value, username),
        confirm="Repeat the password",
    )


def _piped(command: str, what: str) -> str:
    """What to say when a pipe or a file ran out before `what`."""
    lines = {
        "passwd": "the current password on the first line and the new one on the second",
        "register": "the password on a line of its own, after the username when it is asked",
        "login": "the password on a line of its own, after the username when it is asked",
    }[command]
    return (
        f"`storyterm {command}` found no {what.removeprefix('the ')} on standard input, which "
        f"is not a terminal. Give {lines}, for example `storyterm {command} < file`, or run "
        "it in a terminal to be asked."
    )


def _check_stdin_options(username: str | None, password_stdin: bool) -> None:
    if password_stdin and username is None:
        # Prompting for the name would read the password's line from the same stdin.
        raise click.UsageError("--password-stdin needs --username too.")


# -- keeping the login -------------------------------------------------------------------------


def _keep_login(
    runtime: Runtime, account: Account, token: str, *, revoke_previous: bool = True
) -> None:
    """Save the token for this database and tell the writer where it lives."""
    tokens = runtime.tokens
    previous = tokens.load() if revoke_previous else None
    if previous and previous != token:
        # Switching accounts: the replaced login should not live on unseen in someone's copy.
        runtime.identity.logout(previous)
    saved = tokens.save(token)
    if not saved:
        reason = tokens.unavailable_reason or NO_KEYRING
        opening = "No system keyring here" if reason == NO_KEYRING else reason
        say(
            f"{opening}: you stay logged in for this command only. {STAY_LOGGED_IN}",
            err=True,
        )
    env_token = (runtime.settings.token or "").strip()
    if env_token and env_token != token:
        say(
            f"Note: STORYTERM_TOKEN is set, and storyterm uses it before this login. Unset it "
            f"to act as {account.username}.",
            err=True,
        )


# -- commands ----------------------------------------------------------------------------------


@click.command("register")
@click.option("--username", "-u", default=None, help="Your username (asked for when left out).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@handle_errors
def register_cmd(username: str | None, password_stdin: bool) -> None:
    """Create an account on this database and log in to it."""
    _check_stdin_options(username, password_stdin)
    runtime = get_runtime()
    name = _username(username)
    password = (
        check_password(_password_from_stdin(), name)
        if password_stdin
        else _new_password(name, missing=_piped("register", "the password"))
    )
    account = runtime.identity.register(name, password)
    account, token = runtime.identity.login(account.username, password)
    say(f"Welcome to storyterm, {account.username}. You are logged in.")
    _keep_login(runtime, account, token)


@click.command("login")
@click.option("--username", "-u", default=None, help="Your username (asked for when left out).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.option(
    "--print-token",
    is_flag=True,
    help="Print the login token (for STORYTERM_TOKEN and scripts) instead of keeping it in the "
    "system keyring.",
)
@handle_errors
def login_cmd(username: str | None, password_stdin: bool, print_token: bool) -> None:
    """Log in; the login is kept in the system keyring for this database."""
    _check_stdin_options(username, password_stdin)
    runtime = get_runtime()
    # With --print-token, stdout is the token alone (`export STORYTERM_TOKEN=$(...)`): ask on
    # stderr.
    name = _username(username, err=print_token)
    password = (
        _password_from_stdin()
        if password_stdin
        else _secret("Password", missing=_piped("login", "the password"), err=print_token)
    )
    try:
        account, token = runtime.identity.login(name, password)
    except WrongCredentials as exc:
        # The core names no command: making an account is this front end's own advice.
        exc.message = exc.message.rstrip(".") + " (or `storyterm register` to create an account)."
        exc.args = (exc.message,)
        raise
    if print_token:
        say(token)
        days = runtime.settings.token_ttl_days
        say(
            f"Logged in as {account.username}. The token above is valid for {days} days; keep "
            "it secret, like a password.",
            err=True,
        )
        return
    say(f"Logged in as {account.username}.")
    _keep_login(runtime, account, token)


@click.command("logout")
@handle_errors
def logout_cmd() -> None:
    """Log out: the login is revoked (a copy of it stops working) and removed here."""
    runtime = get_runtime()
    saved = runtime.tokens.load()
    env_token = (runtime.settings.token or "").strip()
    if not saved and not env_token:
        say("You were not logged in.")
        return
    for token, where in ((saved, "saved"), (env_token, "STORYTERM_TOKEN")):
        if not token:
            continue
        try:
            name: str | None = runtime.identity.verify(token).username
        except AuthError:
            name = None
        revoked = runtime.identity.logout(token)
        if where == "saved":
            runtime.tokens.clear()
            if name and revoked:
                say(f"Logged out {name}.")
            else:
                say("Removed the saved login (it was no longer valid).")
        else:
            say(
                f"{'Revoked' if revoked else 'Nothing to revoke for'} the token in "
                "STORYTERM_TOKEN"
                + (f" ({name})" if name and revoked else "")
                + "; unset STORYTERM_TOKEN, it no longer logs anyone in."
            )


@click.command("whoami")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handle_errors
def whoami_cmd(as_json: bool) -> None:
    """Show who you are logged in as."""
    runtime = get_runtime()
    account = require_user(runtime)
    login = runtime.current_login()
    source = login.source if login else TokenSource.MEMORY
    database = redact(runtime.settings.resolved_database_url)
    if as_json:
        print_json(
            {
                **account.model_dump(mode="json"),
                "login_from": source.value,
                "database": database,
            }
        )
        return
    say(f"{account.username} · login: {source.value} · database: {database}")


@click.command("passwd")
@handle_errors
def passwd_cmd() -> None:
    """Change your password. Logins on other machines end; this one stays logged in.

    From a pipe or a file (scripts): the current password on the first line, the new one on
    the second.
    """
    runtime = get_runtime()
    account = require_user(runtime)
    login = runtime.current_login()
    old = _secret("Current password", missing=_piped("passwd", "the current password"))
    new = _new_password(
        account.username, "New password", missing=_piped("passwd", "the new password")
    )
    runtime.identity.change_password(account.id, old, new)
    say(f"Password changed for {account.username}. Logins elsewhere have ended.")
    try:
        account, token = runtime.identity.login(account.username, new)
    except StorytermError as exc:  # pragma: no cover - the password was just set
        raise AuthError(f"Your password was changed, but logging in again failed: {exc}") from exc
    if login is not None and login.source is TokenSource.ENV:
        say(
            "The token in STORYTERM_TOKEN has ended too: run `storyterm login --print-token` "
            "and put the new token there.",
            err=True,
        )
        return
    # The previous token ended with the old password; no need to revoke it as well.
    _keep_login(runtime, account, token, revoke_previous=False)


COMMANDS = [register_cmd, login_cmd, logout_cmd, whoami_cmd, passwd_cmd]
