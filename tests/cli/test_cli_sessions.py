"""The session commands as a writer types them: happy paths, and every bad input gets a clear
message on stderr, a non-zero exit, and leaves what is stored exactly as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.storage.tables import PartState
from tests.helpers import login_as

UNREACHABLE_DB = "postgresql://writer:hunter2@127.0.0.1:1/x"


@dataclass
class Shelf:
    """A database with a writer and three stories, and the CLI pointed at it."""

    url: str
    service: SessionService
    user: int
    keeper: str
    salt: str
    orchard: str

    def invoke(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), input=input)

    def snapshot(self) -> list[tuple]:
        """Everything stored, to compare before and after a refused command."""
        with self.service.store.engine.connect() as conn:
            sessions = conn.execute(sa.text("SELECT * FROM story_sessions ORDER BY id")).all()
            parts = conn.execute(sa.text("SELECT * FROM story_parts ORDER BY id")).all()
        return [tuple(r) for r in sessions] + [tuple(r) for r in parts]


@pytest.fixture
def shelf(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shelf]:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    # Commands act for this writer: a real account, its token in STORYTERM_TOKEN.
    user = login_as(monkeypatch, "writer").id
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    keeper = service.start(user, "The Keeper's Letter", {"genre": "mystery", "tone": "quiet"})
    service.append_part(user, keeper.id, direction="Open on the lighthouse", content="Rain fell.")
    part = service.begin_part(user, keeper.id, direction="The letter", model_name="gemma3:latest")
    service.checkpoint_part(user, keeper.id, part.seq, "Mara broke the seal.", state=PartState.DONE)
    salt = service.start(user, "Salt Roads")
    orchard = service.start(user, "Winter Orchard")
    service.pause(user, salt.id)
    yield Shelf(sqlite_url, service, user, keeper.id, salt.id, orchard.id)
    store.close()


def assert_refused(shelf: Shelf, result: Result, message: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert message in result.stderr, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


# -- happy paths ---------------------------------------------------------------------------


def test_sessions_lists_newest_first_with_short_ids(shelf: Shelf) -> None:
    result = shelf.invoke("sessions")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("  ")[1] for line in lines] == [
        "Salt Roads",
        "Winter Orchard",
        "The Keeper's Letter",
    ]
    assert lines[0].startswith(f"‖ {shelf.salt[:8]}  ")
    assert lines[2].startswith(f"● {shelf.keeper[:8]}  ")
    assert "2p · 6w" in lines[2]


def test_a_sessions_row_names_its_model_after_a_spaced_dot(shelf: Shelf) -> None:
    shelf.service.set_model(shelf.user, shelf.keeper, "gemma3:latest")
    result = shelf.invoke("sessions")
    [row] = [line for line in result.stdout.splitlines() if "Keeper" in line]
    assert row.endswith("2p · 6w · just now · gemma3:latest"), row


def test_sessions_filters_searches_and_prints_json(shelf: Shelf) -> None:
    paused = shelf.invoke("sessions", "--status", "paused")
    assert [line.split("  ")[1] for line in paused.stdout.splitlines()] == ["Salt Roads"]
    found = shelf.invoke("sessions", "--search", "keeper")
    assert [line.split("  ")[1] for line in found.stdout.splitlines()] == ["The Keeper's Letter"]
    nothing = shelf.invoke("sessions", "--search", "dragons")
    assert nothing.exit_code == 0 and nothing.stdout.strip() == "No sessions match."

    data = json.loads(shelf.invoke("sessions", "--json").stdout)
    assert [s["title"] for s in data["items"]] == [
        "Salt Roads",
        "Winter Orchard",
        "The Keeper's Letter",
    ]
    assert data["next_cursor"] is None
    first = json.loads(shelf.invoke("sessions", "--json", "--limit", "2").stdout)
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = json.loads(
        shelf.invoke("sessions", "--json", "--limit", "2", "--cursor", first["next_cursor"]).stdout
    )
    assert [s["title"] for s in rest["items"]] == ["The Keeper's Letter"]


def test_sessions_on_an_empty_shelf(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    login_as(monkeypatch, "writer")
    result = CliRunner().invoke(cli, ["sessions"])
    assert result.exit_code == 0
    assert result.stdout.startswith("No sessions yet.")


def test_show_prints_the_story_and_json(shelf: Shelf) -> None:
    result = shelf.invoke("show", shelf.keeper[:8])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "The Keeper's Letter",
        "genre: mystery · tone: quiet · active · 2 parts · 6 words",
    ]
    assert "## Part 1\n> Open on the lighthouse\nRain fell." in result.stdout
    assert "## Part 2\n> The letter\nMara broke the seal." in result.stdout

    data = json.loads(shelf.invoke("show", shelf.keeper, "--json").stdout)
    assert data["session"]["id"] == shelf.keeper
    assert data["session"]["session_metadata"] == {"genre": "mystery", "tone": "quiet"}
    assert [(p["seq"], p["state"], p["content"]) for p in data["parts"]] == [
        (1, "done", "Rain fell."),
        (2, "done", "Mara broke the seal."),
    ]
    assert data["parts"][1]["model_name"] == "gemma3:latest"


def test_show_quotes_every_line_of_a_direction_of_several_lines(shelf: Shelf) -> None:
    shelf.service.append_part(
        shelf.user, shelf.keeper, direction="The boat leaves\n\nRain, then calm", content="Go."
    )
    result = shelf.invoke("show", shelf.keeper)
    assert result.exit_code == 0, result.output
    assert "## Part 3\n> The boat leaves\n>\n> Rain, then calm\nGo." in result.stdout


def test_pause_resume_complete_delete(shelf: Shelf) -> None:
    svc, user = shelf.service, shelf.user
    result = shelf.invoke("pause", shelf.orchard[:8])
    assert result.exit_code == 0 and result.stdout.strip() == "Paused “Winter Orchard”."
    assert svc.get(user, shelf.orchard).status.value == "paused"
    result = shelf.invoke("resume", shelf.orchard)
    assert result.stdout.strip() == "Resumed “Winter Orchard”."
    assert svc.get(user, shelf.orchard).status.value == "active"
    result = shelf.invoke("complete", shelf.orchard)
    assert result.stdout.strip() == "Completed “Winter Orchard”."
    assert svc.get(user, shelf.orchard).status.value == "completed"

    # delete moves to the trash (nothing is lost); --forever asks first, "no" keeps the story.
    gone = shelf.invoke("delete", shelf.keeper[:8])
    assert gone.exit_code == 0 and "Moved “The Keeper's Letter” to the trash" in gone.stdout
    assert shelf.invoke("delete", shelf.salt, "--yes").exit_code == 0  # old scripts still work
    assert [s.title for s in svc.list(user).items] == ["Winter Orchard"]
    kept = shelf.invoke("delete", shelf.keeper[:8], "--forever", input="n\n")
    assert kept.exit_code == 1 and "Delete “The Keeper's Letter” and its 2 parts" in kept.output
    with svc.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM story_parts")).scalar() == 2
    forever = shelf.invoke("delete", shelf.keeper[:8], "--forever", input="y\n")
    assert forever.exit_code == 0 and "Deleted “The Keeper's Letter” for good." in forever.stdout
    with svc.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM story_parts")).scalar() == 0


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "00000000-0000-0000-0000-000000000000"), "No story session"),
        (("pause", "ffffffff"), "No story session 'ffffffff'"),
        (("resume", "zzzz-not-an-id"), "No story session"),
        (("complete", "abc"), "at least the first 4 characters"),
        (("delete", "", "--yes"), "at least the first 4 characters"),
        (("show", "12"), "at least the first 4 characters"),
        (("sessions", "--cursor", "garbage"), "cursor is not valid"),
    ],
)
def test_unknown_or_short_ids_are_refused(shelf: Shelf, args: tuple, message: str) -> None:
    before = shelf.snapshot()
    assert_refused(shelf, shelf.invoke(*args), message)
    assert shelf.snapshot() == before


def test_wrong_status_moves_are_refused(shelf: Shelf) -> None:
    before = shelf.snapshot()
    assert_refused(shelf, shelf.invoke("resume", shelf.keeper), "is already active")
    assert_refused(shelf, shelf.invoke("pause", shelf.salt), "“Salt Roads” is already paused")
    assert shelf.snapshot() == before
    shelf.invoke("complete", shelf.orchard)
    before = shelf.snapshot()
    for move in ("pause", "resume", "complete"):
        assert_refused(shelf, shelf.invoke(move, shelf.orchard), "completed and read-only")
    assert shelf.snapshot() == before


def test_an_ambiguous_prefix_asks_for_more(shelf: Shelf) -> None:
    if len({shelf.keeper[:4], shelf.salt[:4], shelf.orchard[:4]}) < 3:
        pytest.skip("ids already share a 4-character prefix")  # about 1 run in 20,000
    # Make two ids share a 4-character prefix by renaming one row's id by hand.
    twin = shelf.keeper[:4] + shelf.salt[4:]
    with shelf.service.store.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE story_sessions SET id = :new WHERE id = :old"),
            {"new": twin, "old": shelf.salt},
        )
    before = shelf.snapshot()
    assert_refused(shelf, shelf.invoke("pause", shelf.keeper[:4]), "matches 2 sessions")
    assert shelf.snapshot() == before


def test_invalid_status_option(shelf: Shelf) -> None:
    result = shelf.invoke("sessions", "--status", "archived")
    assert result.exit_code == 2
    assert "Invalid value for '--status'" in result.stderr
    assert "'archived' is not one of" in result.stderr


def test_an_id_typed_in_capitals_or_with_spaces_is_found(shelf: Shelf) -> None:
    result = shelf.invoke("show", f"  {shelf.keeper.upper()}  ", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["session"]["id"] == shelf.keeper
    assert shelf.invoke("pause", shelf.orchard[:8].upper()).exit_code == 0


@pytest.mark.parametrize("command", [("sessions",), ("show", "abcd1234"), ("pause", "abcd1234")])
def test_an_unreachable_database(
    command: tuple, monkeypatch: pytest.MonkeyPatch, storyterm_home: Path
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", UNREACHABLE_DB)
    result = CliRunner().invoke(cli, list(command))
    assert result.exit_code == 1
    assert result.stderr.startswith("storyterm: Cannot open the database at postgresql")
    assert "127.0.0.1:1/x" in result.stderr and "hunter2" not in result.stderr
    assert "Traceback" not in result.output


def test_a_garbage_redis_url_still_works_and_doctor_says_offline(
    shelf: Shelf, monkeypatch: pytest.MonkeyPatch, healthy_ollama: str
) -> None:
    monkeypatch.setenv("STORYTERM_REDIS_URL", "this is not redis")
    result = shelf.invoke("sessions")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3
    paused = shelf.invoke("pause", shelf.keeper)
    assert paused.exit_code == 0
    assert shelf.service.get(shelf.user, shelf.keeper).status.value == "paused"
    doctor = shelf.invoke("doctor")
    assert doctor.exit_code == 0, doctor.output
    cache_line = next(line for line in doctor.stdout.splitlines() if "cache:" in line)
    assert "offline" in cache_line and "this is not redis" in cache_line
    assert "STORYTERM_REDIS_URL= to turn the cache off" in cache_line
    events_line = next(line for line in doctor.stdout.splitlines() if "live events:" in line)
    assert events_line.startswith("WARN live events: database watch: Redis is not reachable")


# -- doctor --------------------------------------------------------------------------------


def test_doctor_on_a_healthy_setup(  # type: ignore[no-untyped-def]
    shelf: Shelf, redis_url: str, monkeypatch, healthy_ollama: str
) -> None:
    monkeypatch.setenv("STORYTERM_REDIS_URL", redis_url)
    result = shelf.invoke("doctor")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "OK   data folder",
        "OK   permissions",
        "OK   database",
        "OK   migrations",
        "OK   cache",
        "OK   live events",
        "OK   keyring",
        "OK   ollama",
        "OK   models",
        "OK   model",
        "OK   context",
    ]
    assert "database files (0600)" in lines[1]
    assert "(sqlite)" in lines[2]
    assert lines[3].endswith("(head)")
    assert lines[4] == "OK   cache: redis at " + redis_url
    assert lines[5].startswith("OK   live events: live: changes reach every window")
    assert lines[7].startswith(f"OK   ollama: running at {healthy_ollama} (version ")


def test_doctor_with_the_cache_turned_off(shelf: Shelf, healthy_ollama: str) -> None:
    result = shelf.invoke("doctor")
    assert result.exit_code == 0
    assert "cache: off (STORYTERM_REDIS_URL is empty)" in result.stdout
    assert "OK   live events: off: no Redis is set up" in result.stdout


def test_doctor_on_an_unreachable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", UNREACHABLE_DB)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    line = next(line for line in result.stdout.splitlines() if line[5:].startswith("database:"))
    assert line.startswith("FAIL database: Cannot open the database")
    assert "hunter2" not in result.stdout


def test_a_database_upgraded_by_a_newer_storyterm(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another client of a shared database ran a newer storyterm: say so, change nothing."""
    from storyterm.core.storage.database import make_engine, open_database

    engine = open_database(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    for args in (["sessions"], ["db", "upgrade"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert "has schema revision '0099_future'" in result.stderr
        assert "a newer storyterm has upgraded it. Upgrade storyterm" in result.stderr
        assert "Traceback" not in result.output
    current = runner.invoke(cli, ["db", "current"])
    assert "0099_future (newer than this storyterm knows: upgrade storyterm)" in current.stdout
    doctor = runner.invoke(cli, ["doctor"])
    assert doctor.exit_code == 1
    assert "FAIL migrations: The database at" in doctor.stdout
    assert "db upgrade" not in doctor.stdout  # that advice would not help
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
            "0099_future"
        )
    engine.dispose()


def test_doctor_on_an_unwritable_data_folder(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = storyterm_home / "not-a-folder"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("STORYTERM_DATA_DIR", str(blocker / "data"))
    monkeypatch.setenv("STORYTERM_DATABASE_URL", f"sqlite:///{storyterm_home / 'ok.db'}")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL data folder:" in result.stdout and "set STORYTERM_DATA_DIR" in result.stdout


def test_python_m_storyterm_runs_the_same_commands(sqlite_url: str) -> None:
    env = {**os.environ, "STORYTERM_DATABASE_URL": sqlite_url}
    proc = subprocess.run(
        [sys.executable, "-m", "storyterm", "db", "current"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "empty" in proc.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "storyterm", "show", "abcd1234"],
        capture_output=True,
        text=True,
        env={**env, "STORYTERM_DATABASE_URL": UNREACHABLE_DB},
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("storyterm: Cannot open the database")
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a database url", "is not a URL storyterm understands"),
        ("mysql://root@localhost/stories", "works with SQLite and PostgreSQL, not 'mysql'"),
        ("sqlite:////proc/storyterm/stories.db", "Cannot create the folder for the database file"),
    ],
)
def test_a_database_url_storyterm_cannot_use(
    url: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["sessions"])
    assert result.exit_code == 1
    assert result.stderr.startswith("storyterm: ") and message in result.stderr
    assert "Traceback" not in result.output
