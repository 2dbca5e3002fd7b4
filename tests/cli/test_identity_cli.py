"""`storyterm register|login|logout|whoami|passwd` as a writer and a script use them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.runtime import Runtime
from storyterm.errors import AuthError
from tests.helpers import MemoryKeyring, login_as, password_for

PASSWORD = "correct horse battery"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input is a person at a terminal: the prompts ask (CliRunner answers them from
    `input`, as getpass would read the keyboard). Without this, CliRunner's input is a pipe."""
    monkeypatch.setattr("storyterm.cli.auth._stdin_is_terminal", lambda: True)


def run(runner: CliRunner, *args: str, input: str | None = None, **env: str) -> Result:
    return runner.invoke(cli, list(args), input=input, env=env or None)


def register(runner: CliRunner, name: str = "alice", password: str = PASSWORD) -> Result:
    result = run(runner, "register", "--username", name, "--password-stdin", input=password + "\n")
    assert result.exit_code == 0, result.output
    return result


def start_story(title: str) -> None:
    """A session made the way the TUI makes one, as whoever the keyring says is logged in."""
    runtime = Runtime()
    try:
        account = runtime.current_account()
        assert account is not None
        runtime.sessions.start(account.id, title)
    finally:
        runtime.close()


def saved_token(memory_keyring: MemoryKeyring) -> str:
    (token,) = memory_keyring.passwords.values()
    return token


def test_register_whoami_sessions_logout(runner: CliRunner, memory_keyring: MemoryKeyring) -> None:
    result = register(runner)
    assert "Welcome to storyterm, alice. You are logged in." in result.output
    assert "keyring" not in result.output  # it worked: nothing to explain
    (service,) = {service for service, _ in memory_keyring.passwords}
    assert service.startswith("storyterm:")

    whoami = run(runner, "whoami")
    assert whoami.exit_code == 0
    assert whoami.stdout.startswith("alice · login: system keyring · database: sqlite:///")

    start_story("The Keeper's Letter")
    assert "The Keeper's Letter" in run(runner, "sessions").output

    token = saved_token(memory_keyring)
    logout = run(runner, "logout")
    assert logout.exit_code == 0 and logout.output == "Logged out alice.\n"
    assert memory_keyring.passwords == {}

    after = run(runner, "sessions")
    assert after.exit_code == 1
    assert after.output == (
        "storyterm: You are not logged in. Run `storyterm login` (or `storyterm register` to "
        "create an account).\n"
    )
    # The token is revoked, not just forgotten: a copy of it is refused.
    copied = run(runner, "whoami", STORYTERM_TOKEN=token)
    assert copied.exit_code == 1 and "ended by `storyterm logout`" in copied.output

    login = run(runner, "login", "-u", "ALICE", "--password-stdin", input=PASSWORD + "\n")
    assert login.exit_code == 0 and login.output == "Logged in as alice.\n"
    assert "The Keeper's Letter" in run(runner, "sessions").output
    assert run(runner, "logout").exit_code == 0
    assert run(runner, "logout").output == "You were not logged in.\n"


@pytest.mark.usefixtures("at_a_terminal")
def test_register_asks_until_the_password_is_good(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "mara")
    typed = "\n".join(["", "short", PASSWORD, "typo in the repeat", PASSWORD, PASSWORD]) + "\n"
    result = run(runner, "register", input=typed)
    assert result.exit_code == 0, result.output
    assert "Username [mara]: " in result.output  # the OS login name is the default
    assert "A password needs at least 8 characters (that one has 5)" in result.output
    assert "The two entered values do not match" in result.output
    assert "Welcome to storyterm, mara." in result.output
    assert PASSWORD not in result.output  # never echoed


@pytest.mark.usefixtures("at_a_terminal")
def test_register_asks_again_for_a_bad_username(runner: CliRunner) -> None:
    typed = "\n".join(["alice smith", "alice", PASSWORD, PASSWORD]) + "\n"
    result = run(runner, "register", input=typed)
    assert result.exit_code == 0, result.output
    assert "'alice smith' has a space" in result.output
    assert "Welcome to storyterm, alice." in result.output


def test_register_refuses_a_taken_name(runner: CliRunner) -> None:
    register(runner, "Alice")
    result = run(runner, "register", "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "The username 'alice' is taken (usernames ignore upper and lower case)" in (
        result.output
    )


@pytest.mark.usefixtures("at_a_terminal")
def test_login_prompts_and_refuses_wrong_passwords(runner: CliRunner) -> None:
    register(runner)
    run(runner, "logout")
    ok = run(runner, "login", input=f"alice\n{PASSWORD}\n")
    assert ok.exit_code == 0 and "Logged in as alice." in ok.output
    assert PASSWORD not in ok.output
    for _ in range(5):
        wrong = run(runner, "login", "-u", "alice", "--password-stdin", input="nope nope\n")
        assert wrong.exit_code == 1
        assert (
            "storyterm: Wrong username or password. Check both and try again (or `storyterm "
            "register` to create an account)."
        ) in wrong.output
    unknown = run(runner, "login", "-u", "nobody", "--password-stdin", input="nope nope\n")
    assert unknown.output == wrong.output
    locked = run(runner, "login", "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert locked.exit_code == 1
    assert "Too many wrong passwords" in locked.output and "then try again" in locked.output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["login", "--password-stdin"], PASSWORD, "--password-stdin needs --username too"),
        (["login", "-u", "alice", "--password-stdin"], "", "found no password on standard input"),
        (["register", "-u", "bob", "--password-stdin"], "short\n", "at least 8 characters"),
    ],
)
def test_script_mistakes_are_explained(
    runner: CliRunner, args: list[str], stdin: str, message: str
) -> None:
    result = run(runner, *args, input=stdin)
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_print_token_for_scripts(runner: CliRunner, memory_keyring: MemoryKeyring) -> None:
    register(runner)
    run(runner, "logout")
    result = run(
        runner, "login", "-u", "alice", "--password-stdin", "--print-token", input=PASSWORD + "\n"
    )
    assert result.exit_code == 0
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    assert "keep it secret" in result.stderr
    assert memory_keyring.passwords == {}  # handed to the script, not kept

    scripted = run(runner, "whoami", STORYTERM_TOKEN=token)
    assert scripted.exit_code == 0
    assert scripted.stdout.startswith("alice · login: STORYTERM_TOKEN")
    assert run(runner, "sessions", STORYTERM_TOKEN=token).exit_code == 0
    assert run(runner, "sessions").exit_code == 1  # nothing in the keyring

    logout = run(runner, "logout", STORYTERM_TOKEN=token)
    assert "Revoked the token in STORYTERM_TOKEN (alice); unset STORYTERM_TOKEN" in logout.output
    after = run(runner, "sessions", STORYTERM_TOKEN=token)
    assert after.exit_code == 1
    assert "(the token in STORYTERM_TOKEN). Please log in again" in after.output


def test_without_a_keyring_storyterm_says_so(runner: CliRunner, no_keyring: None) -> None:
    result = register(runner)
    assert "Welcome to storyterm, alice." in result.stdout
    assert (
        "No system keyring here: you stay logged in for this command only. To stay logged in, "
        "run `storyterm login --print-token` and set STORYTERM_TOKEN"
    ) in result.stderr
    after = run(runner, "sessions")
    assert after.exit_code == 1
    assert "You are not logged in." in after.output
    assert "no system keyring" in after.output and "STORYTERM_TOKEN" in after.output
    # Never a file on its own: the data folder holds the database and nothing with the token.
    token = run(
        runner, "login", "-u", "alice", "--password-stdin", "--print-token", input=PASSWORD + "\n"
    ).stdout.strip()
    home = Path(Runtime().settings.data_dir)
    for path in home.parent.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_two_databases_keep_two_logins(
    runner: CliRunner, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    first = {"STORYTERM_DATABASE_URL": f"sqlite:///{tmp_path / 'first.db'}"}
    second = {"STORYTERM_DATABASE_URL": f"sqlite:///{tmp_path / 'second.db'}"}

    def on(db: dict[str, str], *args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, list(args), input=input, env=db)

    assert on(first, "register", "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert on(second, "register", "-u", "bob", "--password-stdin", input=PASSWORD + "\n")
    assert len(memory_keyring.passwords) == 2
    assert on(first, "whoami").stdout.startswith("alice ·")
    assert on(second, "whoami").stdout.startswith("bob ·")
    assert on(first, "logout").output == "Logged out alice.\n"
    assert on(first, "whoami").exit_code == 1
    assert on(second, "whoami").stdout.startswith("bob ·")
    # Alice's token does not open the second database, though both accounts have id 1.
    alice_token = on(
        first, "login", "-u", "alice", "--password-stdin", "--print-token", input=PASSWORD + "\n"
    ).stdout.strip()
    wrong_db = runner.invoke(cli, ["whoami"], env={**second, "STORYTERM_TOKEN": alice_token})
    assert wrong_db.exit_code == 1
    assert "belongs to another storyterm database" in wrong_db.output
    assert on(first, "whoami", "--json").exit_code == 1  # --print-token kept nothing


@pytest.mark.usefixtures("at_a_terminal")
def test_passwd_changes_the_password_and_keeps_this_login(
    runner: CliRunner, memory_keyring: MemoryKeyring
) -> None:
    register(runner)
    before = saved_token(memory_keyring)
    typed = "wrong current\nnew password here\nnew password here\n"
    refused = run(runner, "passwd", input=typed)
    assert refused.exit_code == 1
    assert "The current password is not right. Your password was not changed." in refused.output

    typed = f"{PASSWORD}\nshort\nnew password here\nnew password here\n"
    result = run(runner, "passwd", input=typed)
    assert result.exit_code == 0, result.output
    assert "at least 8 characters" in result.output
    assert "Password changed for alice. Logins elsewhere have ended." in result.output
    assert "new password here" not in result.output
    assert run(runner, "whoami").exit_code == 0  # this machine stays logged in
    old = run(runner, "whoami", STORYTERM_TOKEN=before)
    assert old.exit_code == 1 and "password of this account was changed" in old.output
    relog = run(runner, "login", "-u", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert relog.exit_code == 1
    relog = run(runner, "login", "-u", "alice", "--password-stdin", input="new password here\n")
    assert relog.exit_code == 0


def logs_in(username: str, password: str) -> bool:
    runtime = Runtime()
    try:
        runtime.identity.login(username, password)
    except AuthError:
        return False
    finally:
        runtime.close()
    return True


def test_passwd_from_a_pipe_reads_one_line_per_password(runner: CliRunner) -> None:
    register(runner)
    # No repeat of the new password: a script makes no typos to catch.
    result = run(runner, "passwd", input=f"{PASSWORD}\nnew password here\n")
    assert result.exit_code == 0, result.output
    assert "Password changed for alice." in result.stdout
    assert "password:" not in result.output.lower()  # nobody to prompt
    assert logs_in("alice", "new password here") and not logs_in("alice", PASSWORD)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (f"{PASSWORD}\nshort\n", "A password needs at least 8 characters (that one has 5)"),
        (
            f"{PASSWORD}\n",
            "storyterm: `storyterm passwd` found no new password on standard input, which is "
            "not a terminal. Give the current password on the first line and the new one on "
            "the second, for example `storyterm passwd < file`, or run it in a terminal to be "
            "asked.",
        ),
        ("", "found no current password on standard input"),
    ],
)
def test_passwd_from_a_pipe_refuses_what_it_cannot_use(
    runner: CliRunner, typed: str, message: str
) -> None:
    register(runner)
    result = run(runner, "passwd", input=typed)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
    assert logs_in("alice", PASSWORD)  # nothing changed


def test_register_and_login_from_a_pipe_without_password_stdin(runner: CliRunner) -> None:
    registered = run(runner, "register", input=f"alice\n{PASSWORD}\n")
    assert registered.exit_code == 0, registered.output
    assert "Welcome to storyterm, alice." in registered.stdout
    assert run(runner, "logout").exit_code == 0
    logged_in = run(runner, "login", input=f"alice\n{PASSWORD}\n")
    assert logged_in.exit_code == 0, logged_in.output
    assert "Logged in as alice." in logged_in.stdout


def test_passwd_through_a_real_pipe_prints_no_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """getpass, given a pipe and no terminal, warned (GetPassWarning and a file path) and
    prompted on stderr. A child process of its own, with no controlling terminal, as in cron or
    CI; the fail keyring backend keeps it off any keyring of this machine."""
    login_as(monkeypatch, "alice")
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    proc = subprocess.run(
        [sys.executable, "-m", "storyterm", "passwd"],
        input=f"{password_for('alice')}\nnew password here\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        start_new_session=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "getpass" not in proc.stderr.lower()
    assert "Password:" not in proc.stdout + proc.stderr
    assert proc.stdout == "Password changed for alice. Logins elsewhere have ended.\n"
    # The token it ran with ended with the old password; it says how to get a new one.
    assert "STORYTERM_TOKEN has ended too" in proc.stderr
    assert logs_in("alice", "new password here")
    assert not logs_in("alice", password_for("alice"))


def test_a_broken_saved_login_asks_to_log_in_again(
    runner: CliRunner, memory_keyring: MemoryKeyring
) -> None:
    register(runner)
    (key,) = memory_keyring.passwords
    memory_keyring.passwords[key] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."
    result = run(runner, "sessions")
    assert result.exit_code == 1
    assert result.output.startswith("storyterm: ")
    assert "Please log in again (`storyterm login`)." in result.output
    assert "Traceback" not in result.output
    assert run(runner, "logout").output == "Removed the saved login (it was no longer valid).\n"


def test_switching_accounts_ends_the_previous_login(
    runner: CliRunner, memory_keyring: MemoryKeyring
) -> None:
    register(runner, "alice")
    alice_token = saved_token(memory_keyring)
    register(runner, "bob")
    assert run(runner, "whoami").stdout.startswith("bob ·")
    gone = run(runner, "whoami", STORYTERM_TOKEN=alice_token)
    assert gone.exit_code == 1 and "ended by `storyterm logout`" in gone.output


def test_login_as_helper_logs_in_for_commands(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime()
    try:
        alice = login_as(runtime, "alice")
    finally:
        runtime.close()
    assert run(runner, "whoami").stdout.startswith("alice ·")
    bob = login_as(monkeypatch, "bob")
    assert run(runner, "whoami").stdout.startswith("bob · login: STORYTERM_TOKEN")
    assert alice.id != bob.id
    ok = run(runner, "login", "-u", "bob", "--password-stdin", input=password_for("bob") + "\n")
    assert ok.exit_code == 0


@pytest.mark.usefixtures("at_a_terminal")
def test_print_token_asks_on_stderr_so_stdout_is_the_token(runner: CliRunner) -> None:
    register(runner)
    result = run(runner, "login", "--print-token", input=f"alice\n{PASSWORD}\n")
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1 and result.stdout.count(".") == 2
    assert "Username" in result.stderr and "Password:" in result.stderr


def test_doctor_says_where_logins_are_kept(runner: CliRunner) -> None:
    assert "OK   keyring: logins are kept in the " in run(runner, "doctor").output


def test_doctor_explains_a_machine_without_keyring(
    runner: CliRunner, no_keyring: None, healthy_ollama: str
) -> None:
    result = run(runner, "doctor")
    assert result.exit_code == 0
    assert "keyring: This machine has no system keyring" in result.output
    assert "a login lasts one command. Use STORYTERM_TOKEN" in result.output
