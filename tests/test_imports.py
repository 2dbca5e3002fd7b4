"""The core and the command line stand without the TUI, the API and the model stack."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("textual", "fastapi", "starlette", "uvicorn", "langchain", "ollama", "rich")


def modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules)))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def offending(modules: list[str], roots: tuple[str, ...] = FORBIDDEN) -> list[str]:
    return [m for m in modules if m.split(".")[0].split("_")[0] in roots]


def test_core_and_cli_import_no_ui_api_or_model_stack() -> None:
    modules = modules_after(
        "import storyterm.core.service, storyterm.core.store, storyterm.core.runtime, "
        "storyterm.settings, storyterm.cli"
    )
    assert "storyterm.core.store" in modules and "storyterm.cli.sessions" in modules
    assert offending(modules) == []
    # Alembic loads only when a database has to be migrated.
    assert offending(modules, ("alembic",)) == []


def test_opening_a_database_at_head_does_not_load_alembic(sqlite_url: str) -> None:
    from storyterm.core.database import open_database

    open_database(sqlite_url).dispose()  # migrate once, here
    modules = modules_after(
        "from storyterm.core.runtime import Runtime\n"
        "from storyterm.settings import load_settings\n"
        f"rt = Runtime(load_settings(database_url={sqlite_url!r}, redis_url=''))\n"
        "rt.sessions.list(1)\n"
        "rt.close()"
    )
    assert "storyterm.core.store" in modules
    assert offending(modules, ("alembic", *FORBIDDEN)) == []


def test_the_probe_can_see_a_forbidden_import() -> None:
    """The check above is real: importing Textual shows up."""
    assert "textual" in offending(modules_after("import storyterm.core.service, textual"))
