"""The core and the command line stand without the TUI, the API and the model stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("textual", "fastapi", "starlette", "uvicorn", "langchain", "ollama", "rich")

SNAPSHOT = "import sys, json; print(json.dumps(sorted(sys.modules)), flush=True)"


def module_lists(code: str) -> list[list[str]]:
    """Run `code` in a fresh interpreter; each SNAPSHOT line in it prints the loaded modules."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]


def offending(modules: list[str], roots: tuple[str, ...] = FORBIDDEN) -> list[str]:
    return [m for m in modules if m.split(".")[0].split("_")[0] in roots]


def test_core_and_cli_import_no_ui_api_or_model_stack() -> None:
    core, with_textual = module_lists(
        "import storyterm.core.service, storyterm.core.storage.store, storyterm.core.runtime, "
        "storyterm.settings, storyterm.cli\n"
        # The subcommands load when one is looked up: load them all, as `--help` does.
        "storyterm.cli._register()\n"
        f"{SNAPSHOT}\n"
        "import textual.app\n"
        f"{SNAPSHOT}\n"
    )
    assert "storyterm.core.storage.store" in core and "storyterm.cli.sessions" in core
    assert offending(core) == []
    # Alembic loads only when a database has to be migrated.
    assert offending(core, ("alembic",)) == []
    # The probe is real: a forbidden import does show up.
    assert "textual" in offending(with_textual)


def test_opening_a_database_at_head_does_not_load_alembic(sqlite_url: str) -> None:
    from storyterm.core.storage.database import open_database

    open_database(sqlite_url).dispose()  # migrate once, here
    [modules] = module_lists(
        "from storyterm.core.runtime import Runtime\n"
        "from storyterm.settings import load_settings\n"
        f"rt = Runtime(load_settings(database_url={sqlite_url!r}, redis_url=''))\n"
        "rt.sessions.list(1)\n"
        "rt.close()\n"
        f"{SNAPSHOT}\n"
    )
    assert "storyterm.core.storage.store" in modules
    assert offending(modules, ("alembic", *FORBIDDEN)) == []


def test_settings_load_without_pydantic(storyterm_home: object) -> None:
    """Settings are read at every start, before anything else: they cost no pydantic import
    (pydantic-settings alone was ~100 ms of start-up)."""
    [modules] = module_lists(
        f"from storyterm.settings import load_settings\nload_settings()\n{SNAPSHOT}\n"
    )
    assert "storyterm.settings" in modules
    assert offending(modules, ("pydantic", *FORBIDDEN)) == []


def test_plain_storyterm_goes_to_the_writing_room_without_the_command_line(
    tmp_path: Path,
) -> None:
    # A broken config.toml stops `storyterm` before Textual starts: by then it has read the
    # settings, and it must not have loaded click (the command line is for arguments).
    (tmp_path / "config.toml").write_text('token_ttl_days = "abc"\n')
    code = (
        "import sys\n"
        "sys.argv = ['storyterm']\n"
        "from storyterm.cli import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(sorted(m for m in sys.modules if m.split('.')[0] == 'click'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STORYTERM_CONFIG_DIR": str(tmp_path)},
    )
    assert proc.returncode == 1
    assert "storyterm: A setting is not valid: STORYTERM_TOKEN_TTL_DAYS" in proc.stderr
    assert proc.stdout.strip() == "[]"


def test_views_and_the_first_look_load_without_pydantic() -> None:
    """The TUI's first screen is read with sqlite3 into the core's views: neither costs a
    pydantic import (~80 ms of start-up when the views were pydantic models)."""
    [modules] = module_lists(
        f"import storyterm.core.views, storyterm.core.first_look\n{SNAPSHOT}\n"
    )
    assert "storyterm.core.first_look" in modules
    assert offending(modules, ("pydantic", "annotated", *FORBIDDEN)) == []
