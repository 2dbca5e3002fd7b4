"""Migrations: empty SQLite and Postgres go to head, the schema equals the models, opening is
safe when several processes do it at once, and an installed (non-editable) package migrates."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

import storyterm.core.storage.tables  # noqa: F401  (registers the tables)
from storyterm.cli import cli
from storyterm.core.storage import database
from storyterm.core.storage.database import (
    HEAD_REVISION,
    META_DATABASE_ID,
    current_revision,
    head_revision,
    make_engine,
    open_database,
)
from storyterm.core.storage.search import include_object
from tests.conftest import REQUIRE_SERVICES
from tests.helpers import make_user

WORKTREE = Path(__file__).resolve().parents[2]
TABLES = {
    "users",
    "story_sessions",
    "story_parts",
    "part_takes",
    "trashed_parts",
    "story_changes",
    "app_meta",
    "revoked_tokens",
    "login_attempts",
    "lore_entries",
}


def schema_diff(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": include_object}
        context = MigrationContext.configure(conn, opts=opts)
        return compare_metadata(context, SQLModel.metadata)


def test_head_revision_constant_matches_the_scripts() -> None:
    assert head_revision() == HEAD_REVISION


def test_empty_database_goes_to_head_and_equals_the_models(empty_database_url: str) -> None:
    database_url = empty_database_url
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    engine.dispose()

    engine = open_database(database_url)
    try:
        assert current_revision(engine) == HEAD_REVISION
        assert schema_diff(engine) == []
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) >= TABLES
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("story_sessions")}
        assert indexes["ix_story_sessions_user_status_updated"] == [
            "user_id",
            "status",
            "updated_at",
        ]
        uniques = [u["column_names"] for u in inspector.get_unique_constraints("story_parts")]
        assert ["session_id", "seq"] in uniques
        with engine.connect() as conn:
            meta = dict(conn.execute(sa.text("SELECT key, value FROM app_meta")).all())
        assert len(meta[META_DATABASE_ID]) == 36
    finally:
        engine.dispose()


def test_a_model_change_without_a_migration_is_caught(database_url: str) -> None:
    """The comparison above can fail: an index the models have and the database lacks shows."""
    engine = open_database(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_story_sessions_user_updated"))
        diff = schema_diff(engine)
        assert [d[0] for d in diff] == ["add_index"]
    finally:
        engine.dispose()


def test_a_database_from_the_first_release_upgrades_on_open(empty_database_url: str) -> None:
    """A story written under revision 0001 is all there after storyterm opens (and migrates)
    its database; on PostgreSQL part text written from then on is compressed with lz4."""
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store
    from tests.helpers import make_user

    engine = make_engine(empty_database_url)
    database.upgrade(engine, "0001_initial")
    engine.dispose()
    store = Store.open(empty_database_url, None)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        service = SessionService(store)
        alice = make_user(store)
        s = service.start(alice, "Old ink")
        service.append_part(alice, s.id, direction="Begin.", content="word " * 2000)
        assert service.open(alice, s.id).parts[0].content == "word " * 2000
        if store.backend == "postgresql":
            with store.engine.connect() as conn:
                method = conn.execute(
                    sa.text(
                        "SELECT attcompression FROM pg_attribute WHERE attrelid = "
                        "'story_parts'::regclass AND attname = 'content'"
                    )
                ).scalar_one()
                stored = conn.execute(
                    sa.text("SELECT pg_column_compression(content) FROM story_parts")
                ).scalar_one()
            assert (method, stored) == ("l", "lz4")
    finally:
        store.close()


def test_a_0003_database_with_stories_upgrades_to_takes_keeping_every_word(
    empty_database_url: str,
) -> None:
    """Stories written before takes existed: after the upgrade every part is its own first
    take, every word is there, and the part can get a second take and flip back."""
    from storyterm.core.history import HistoryService
    from storyterm.core.storage.store import Store

    engine = make_engine(empty_database_url)
    database.upgrade(engine, "0003_login_attempts")
    texts = [f"Part {n}: " + "the lamp burned low " * (50 + n) for n in range(1, 31)]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (username, username_key, password_hash, failed_logins, "
                "created_at) VALUES ('alice', 'alice', '!', 0, CURRENT_TIMESTAMP)"
            )
        )
        alice = conn.execute(sa.text("SELECT id FROM users")).scalar_one()
        words = sum(len(t.split()) for t in texts)
        conn.execute(
            sa.text(
                "INSERT INTO story_sessions (id, user_id, title, status, session_metadata, "
                "memory, part_count, word_count, version, created_at, updated_at) VALUES "
                "('s-1', :u, 'Old Lamp', 'active', '{}', '{}', :n, :w, 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            ),
            {"u": alice, "n": len(texts), "w": words},
        )
        for seq, text in enumerate(texts, start=1):
            conn.execute(
                sa.text(
                    "INSERT INTO story_parts (session_id, seq, direction, content, state, "
                    "word_count, created_at, updated_at) VALUES ('s-1', :s, 'go', :c, 'done', "
                    ":w, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"s": seq, "c": text, "w": len(text.split())},
            )
    engine.dispose()

    store = Store.open(empty_database_url, None)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        parts = list(store.parts.iterate(alice, "s-1"))
        assert [p.content for p in parts] == texts
        assert {(p.take, p.takes) for p in parts} == {(1, 1)}
        history = HistoryService(store)
        history.edit(alice, "s-1", 7, content="Rewritten.")
        history.choose(alice, "s-1", 7, 1)
        assert [p.content for p in store.parts.iterate(alice, "s-1")] == texts
        assert store.get_session(alice, "s-1").word_count == words
    finally:
        store.close()


def test_a_0005_database_has_its_parts_indexed_for_search_by_the_upgrade(
    empty_database_url: str,
) -> None:
    """Parts written before search existed are found after the upgrade (a part still marked
    streaming once it ends); the index then follows new writes, and going back to 0005 drops
    it, leaving every word."""
    from storyterm.core.search import SearchService
    from storyterm.core.storage.store import Store

    engine = make_engine(empty_database_url)
    database.upgrade(engine, "0005_import_source")
    texts = [f"Part {n}: the lamp burned low." for n in range(1, 900)] + ["The quillfeather."]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (username, username_key, password_hash, failed_logins, "
                "created_at) VALUES ('alice', 'alice', '!', 0, CURRENT_TIMESTAMP)"
            )
        )
        alice = conn.execute(sa.text("SELECT id FROM users")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO story_sessions (id, user_id, title, status, session_metadata, "
                "memory, part_count, word_count, version, created_at, updated_at) VALUES "
                "('s-1', :u, 'Old Lamp', 'active', '{}', '{}', :n, 0, 1, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)"
            ),
            {"u": alice, "n": len(texts) + 1},
        )
        conn.execute(
            sa.text(
                "INSERT INTO story_parts (session_id, seq, direction, content, state, "
                "word_count, created_at, updated_at, take, takes, take_kind) VALUES "
                "('s-1', :s, 'go', :c, :state, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, 1, "
                "'generated')"
            ),
            [{"s": seq, "c": text, "state": "done"} for seq, text in enumerate(texts, start=1)]
            + [{"s": len(texts) + 1, "c": "A streaming heron", "state": "streaming"}],
        )
    engine.dispose()

    store = Store.open(empty_database_url, None)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        search = SearchService(store)
        assert [h.seq for h in search.search(alice, "quillfeather").hits] == [900]
        assert search.find_in_story(alice, "s-1", "lamp") == list(range(1, 900))
        assert search.search(alice, "heron").hits == []
        with store.engine.begin() as conn:
            conn.execute(sa.text("UPDATE story_parts SET state = 'interrupted' WHERE seq = 901"))
        assert [h.seq for h in search.search(alice, "heron").hits] == [901]
        assert schema_diff(store.engine) == []
    finally:
        store.close()
    engine = make_engine(empty_database_url)
    try:
        from alembic import command

        with engine.begin() as conn:
            command.downgrade(database._alembic_config(conn), "0005_import_source")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM story_parts")).scalar_one() == 901
            names = set(sa.inspect(conn).get_table_names())
        assert not any(name.startswith("story_parts_fts") for name in names)
    finally:
        engine.dispose()


def test_a_0006_database_gets_an_empty_lorebook_per_story_and_can_go_back(
    empty_database_url: str,
) -> None:
    """Stories from before lorebooks upgrade with none; entries can then be added, and going
    back to 0006 drops only the lorebook."""
    from alembic import command

    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store

    engine = make_engine(empty_database_url)
    database.upgrade(engine, "0006_part_search")
    engine.dispose()
    store = Store.open(empty_database_url, None)
    try:
        assert current_revision(store.engine) == HEAD_REVISION
        sessions = SessionService(store)
        alice = make_user(store, "alice")
        story = sessions.start(alice, "Old Lamp", {}, None)
        assert sessions.lore.list(alice, story.id) == []
        sessions.lore.add(alice, story.id, {"name": "Lamp", "keys": ["lamp"], "content": "Old."})
        with database._migration_lock(store.engine) as conn:
            command.downgrade(database._alembic_config(conn), "0006_part_search")
            conn.commit()
        assert "lore_entries" not in sa.inspect(store.engine).get_table_names()
        assert sessions.get(alice, story.id).title == "Old Lamp"
    finally:
        store.close()


def _open_in_child(url: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    try:
        barrier.wait(10)
        engine = open_database(url)
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        meta = database.ensure_meta(engine)
        engine.dispose()
        results.put(("ok", [v[0] for v in versions], meta[META_DATABASE_ID]))
    except BaseException as exc:
        results.put(("error", repr(exc), None))


def test_processes_opening_a_new_database_at_once_migrate_it_once(
    empty_database_url: str,
) -> None:
    database_url = empty_database_url
    ctx = multiprocessing.get_context("fork")
    n = 4
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_open_in_child, args=(database_url, barrier, results)) for _ in range(n)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert [o[0] for o in outcomes] == ["ok"] * n, outcomes
    assert all(o[1] == [HEAD_REVISION] for o in outcomes), outcomes
    # One database id, generated once, whoever got there first.
    assert len({o[2] for o in outcomes}) == 1


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    engine = open_database(sqlite_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO story_parts (session_id, seq, direction, content, state, "
                    "word_count, created_at, updated_at) VALUES ('no-such-session', 1, '', '', "
                    "'done', 0, '2026-01-01', '2026-01-01')"
                )
            )
    finally:
        engine.dispose()
    # WAL is a property of the file: a plain connection without storyterm's pragmas sees it.
    plain = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        plain.close()


def test_db_current_and_upgrade_commands(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = empty_database_url
    monkeypatch.setenv("STORYTERM_DATABASE_URL", database_url)
    runner = CliRunner()
    shown = database.redact(database_url)

    before = runner.invoke(cli, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert before.stdout.strip() == (
        f"{shown}: empty (behind: head is {HEAD_REVISION}; run `storyterm db upgrade`)"
    )

    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.stdout.strip() == f"Upgraded {shown}: empty -> {HEAD_REVISION}."

    again = runner.invoke(cli, ["db", "upgrade"])
    assert again.stdout.strip() == f"{shown} is already at {HEAD_REVISION} (head)."

    after = runner.invoke(cli, ["db", "current"])
    assert after.stdout.strip() == f"{shown}: {HEAD_REVISION} (head)"


def test_db_commands_on_an_unreachable_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", "postgresql://writer:secret@127.0.0.1:1/x")
    runner = CliRunner()
    for args in (["db", "current"], ["db", "upgrade"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1
        assert result.stderr.startswith("storyterm: Cannot open the database at ")
        assert "secret" not in result.stderr  # the password is never printed
        assert "storyterm doctor" in result.stderr
        assert "Traceback" not in result.output


def _build_installed_copy(tmp_path: Path) -> Path:
    """pip-install the package (not editable) into a folder of its own; skip only when no
    build backend can be had (no network and nothing cached)."""
    source = tmp_path / "src"
    shutil.copytree(
        WORKTREE,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "venv",
            "build",
            "dist",
            "*.egg-info",
            "__pycache__",
            "tests",
            ".pytest_cache",
            ".ruff_cache",
            "generated_stories",
            "bench",
        ),
    )
    target = tmp_path / "installed"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        offline = any(
            sign in output
            for sign in (
                "No matching distribution found for setuptools",
                "Could not find a version that satisfies the requirement setuptools",
                "Failed to establish a new connection",
                "Network is unreachable",
                "Temporary failure in name resolution",
            )
        )
        if offline and not REQUIRE_SERVICES:
            pytest.skip(f"cannot fetch a build backend to build the package: {output[-300:]}")
        pytest.fail(f"building the package failed:\n{output[-3000:]}")
    return target


def test_an_installed_package_can_migrate(tmp_path: Path) -> None:
    target = _build_installed_copy(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    db_path = tmp_path / "installed.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(target),
        "STORYTERM_DATABASE_URL": f"sqlite:///{db_path}",
    }
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import storyterm.core.storage.database as d; print(d.MIGRATIONS_DIR)",
        ],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=60,
    )
    assert where.stdout.strip() == str(target / "storyterm" / "migrations"), where.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "storyterm", "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith(f"empty -> {HEAD_REVISION}.")
    engine = make_engine(f"sqlite:///{db_path}")
    try:
        assert current_revision(engine) == HEAD_REVISION
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_every_package_folder_ships_in_the_wheel() -> None:
    """pyproject.toml lists the packages by hand (the top-level migrations/ folder is mapped
    into storyterm.migrations, which packages.find cannot see): a new package folder that is
    not listed would be missing from an installed storyterm."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / "storyterm").rglob("__init__.py")
    }
    folders |= {
        ".".join(("storyterm", *init.parent.relative_to(root).parts))
        for init in (root / "migrations").rglob("__init__.py")
    }
    assert folders == listed
    assert config["package-dir"] == {"storyterm.migrations": "migrations"}


def test_alembic_ini_works_for_a_developer(database_url: str) -> None:
    """The repository's alembic.ini drives Alembic's own command line on storyterm's database
    (README, "Writing a migration"): `alembic check` finds the scripts and, at head, nothing
    the tables declare that the migrations do not create, on SQLite and PostgreSQL."""
    from storyterm.core.storage.store import Store

    root = Path(__file__).resolve().parents[2]
    Store.open(database_url, None).close()  # migrated to head on open
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=root,
        env={**os.environ, "STORYTERM_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No new upgrade operations detected" in done.stdout + done.stderr
