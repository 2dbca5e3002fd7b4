"""Nothing slow before the first frame: what the start-up path imports, checked in a fresh
interpreter (the way harlequin checks its core)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from storyterm.core.runtime import Runtime
from tests.helpers import login_as

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import asyncio, json, sys
import storyterm.tui
after_package = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
from storyterm.core.runtime import Runtime
from storyterm.tui.app import StorytermApp

# LangChain and the Ollama client load for a generation; SQLAlchemy, SQLModel, Alembic and
# PyJWT not at all before the first frame of a SQLite database at head (core/first_look.py);
# markdown-it not for plain prose (widgets/prose_subset.py).
# keyring (and its imports) neither: the login comes from STORYTERM_TOKEN, or from the login
# hint kept beside the keyring's token (core/identity/keyring_store.py).
SLOW = (
    "langchain", "langchain_core", "langchain_ollama", "ollama",
    "sqlalchemy", "sqlmodel", "alembic", "jwt", "cryptography", "markdown_it",
    "keyring", "jaraco",
)
seen = {}

class Probe(StorytermApp):
    def mark_ready(self, *args, **kwargs):
        seen["at_ready"] = sorted(m for m in sys.modules if m.split(".")[0] in SLOW)
        super().mark_ready(*args, **kwargs)

async def main():
    app = Probe(Runtime())
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(3000):
            if app.startup_seconds is not None:
                break
            await asyncio.sleep(0.01)
        seen["seconds"] = app.startup_seconds
        seen["screen"] = type(app.screen).__name__
        seen["listed"] = app.screen.panel.loaded_count
        seen["story"] = app.screen.session.title if app.screen.session else None
        # Painted, so parsed (Prose keeps what it drew).
        seen["shown"] = [p.source for p in app.screen.query("Prose") if p._visual is not None]
        # Then the login is checked completely (PyJWT; the keyring's token for a hint).
        for _ in range(500):
            if app.runtime.unconfirmed_login is None:
                break
            await asyncio.sleep(0.01)
        await pilot.pause()
        seen["confirmed_screen"] = type(app.screen).__name__

asyncio.run(main())
seen["after_package"] = after_package
print(json.dumps(seen))
"""


PART = "## One\n\nMara read it *twice*, then **once more**.\n\n“Why?” she asked."


#: A keyring backend in a file, for the probe's own process (the tests' in-memory keyring
#: lives in this one).
FILE_KEYRING = """
import json, os
from keyring.backend import KeyringBackend

class FileKeyring(KeyringBackend):
    priority = 1
    path = os.environ["PROBE_KEYRING_FILE"]

    def _all(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def get_password(self, service, username):
        return self._all().get(service + "/" + username)

    def set_password(self, service, username, password):
        data = self._all()
        data[service + "/" + username] = password
        with open(self.path, "w") as f:
            json.dump(data, f)

    def delete_password(self, service, username):
        data = self._all()
        data.pop(service + "/" + username, None)
        with open(self.path, "w") as f:
            json.dump(data, f)
"""


@pytest.mark.parametrize("login", ["STORYTERM_TOKEN", "keyring"])
def test_nothing_heavy_is_imported_before_the_main_screen_is_ready(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, login: str
) -> None:
    extra_env: dict[str, str] = {}
    if login == "keyring":  # the writer's default: `storyterm login` saved it in a keyring
        import keyring

        (tmp_path / "probe_keyring.py").write_text(FILE_KEYRING)
        extra_env = {
            "PYTHON_KEYRING_BACKEND": "probe_keyring.FileKeyring",
            "PROBE_KEYRING_FILE": str(tmp_path / "keyring.json"),
        }
        monkeypatch.setenv("PROBE_KEYRING_FILE", extra_env["PROBE_KEYRING_FILE"])
        monkeypatch.syspath_prepend(str(tmp_path))
        from probe_keyring import FileKeyring  # type: ignore[import-not-found]

        keyring.set_keyring(FileKeyring())
        runtime = Runtime()
        alice = login_as(runtime, "alice")
    else:
        alice = login_as(monkeypatch, "alice")  # STORYTERM_TOKEN: the subprocess is logged in
        runtime = Runtime()
    try:
        story = runtime.sessions.start(alice.id, "The Lighthouse Keeper")
        runtime.sessions.append_part(alice.id, story.id, direction="Begin", content=PART)
    finally:
        runtime.close()
    probe = tmp_path / "probe.py"  # a file: Textual resolves CSS paths from the class's source
    probe.write_text(PROBE)
    result = subprocess.run(
        [sys.executable, str(probe)],
        cwd=ROOT,
        env={**os.environ, **extra_env, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["screen"] == "MainScreen"
    assert (seen["listed"], seen["story"]) == (1, "The Lighthouse Keeper")
    assert any("Mara read it *twice*" in text for text in seen["shown"]), seen["shown"]
    assert seen["at_ready"] == [], "imported before the first useful frame"
    assert seen["confirmed_screen"] == "MainScreen"  # the full check of the login held
    # `import storyterm.tui` is free: Textual loads only when the app is asked for.
    assert seen["after_package"] == []
