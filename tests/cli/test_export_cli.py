"""`storyterm export` and `storyterm import` as a writer types them."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.cli.common import current_user_id
from storyterm.core.runtime import Runtime
from storyterm.core.service import SessionService
from tests.helpers import login_as


@dataclass
class LoggedInCli:
    """A CLI runner acting for one logged-in writer, plus that writer's id and services so a
    test can set up stories the commands will see."""

    runtime: Runtime
    user_id: int
    runner: CliRunner

    @property
    def sessions(self) -> SessionService:
        return self.runtime.sessions

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def logged_in_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoggedInCli]:
    login_as(monkeypatch, "mara")  # STORYTERM_TOKEN: every command acts as mara
    runtime = Runtime()
    try:
        yield LoggedInCli(runtime, current_user_id(runtime), CliRunner())
    finally:
        runtime.close()


def a_story(cli: LoggedInCli, parts: int = 2, title: str = "The Keeper's Letter") -> str:
    s = cli.sessions.start(cli.user_id, title, {"genre": "mystery"}, "gemma3:latest")
    for n in range(1, parts + 1):
        cli.sessions.append_part(
            cli.user_id, s.id, direction=f"step {n}", content=f"Part {n} of the tale."
        )
    return s.id


def test_export_with_the_defaults(logged_in_cli: LoggedInCli, storyterm_home: Path) -> None:
    session_id = a_story(logged_in_cli)
    result = logged_in_cli("export", session_id[:8])
    assert result.exit_code == 0, result.output
    folder = (storyterm_home / "exports" / f"the-keepers-letter-{session_id[:8]}").resolve()
    # The export_formats setting's default: md, json and epub.
    assert result.stdout.splitlines() == [
        f"Exported 2 parts, 10 words, to {folder}",
        "  story.md",
        "  story.json",
        "  story.epub",
        "  part-001.md",
        "  part-002.md",
    ]
    assert sorted(p.name for p in folder.iterdir()) == [
        "part-001.md",
        "part-002.md",
        "story.epub",
        "story.json",
        "story.md",
    ]
    # The writer is the author the title block and the EPUB name.
    assert "- **Author:** mara" in (folder / "story.md").read_text()
    with zipfile.ZipFile(folder / "story.epub") as epub:
        opf = next(epub.read(n) for n in epub.namelist() if n.endswith(".opf"))
    assert b"<dc:creator" in opf and b">mara</dc:creator>" in opf


def test_export_without_format_writes_the_export_formats_setting(
    logged_in_cli: LoggedInCli, storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = a_story(logged_in_cli)
    monkeypatch.setenv("STORYTERM_EXPORT_FORMATS", "txt")
    result = logged_in_cli("export", session_id[:8])
    assert result.exit_code == 0, result.output
    folder = (storyterm_home / "exports" / f"the-keepers-letter-{session_id[:8]}").resolve()
    assert [p.name for p in folder.iterdir()] == ["story.txt"]
    # --format still wins over the setting.
    result = logged_in_cli("export", session_id[:8], "--format", "json")
    assert result.exit_code == 0, result.output
    assert [p.name for p in folder.iterdir()] == ["story.json"]


def test_export_every_format_elsewhere(logged_in_cli: LoggedInCli, tmp_path: Path) -> None:
    session_id = a_story(logged_in_cli, parts=12)
    out = tmp_path / "for the e-reader"
    result = logged_in_cli("export", session_id, "--out", str(out), "--format", "md,txt,json,epub")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Exported 12 parts, 60 words, to ") and str(out) in lines[0]
    assert lines[1:] == [
        "  story.md",
        "  story.txt",
        "  story.json",
        "  story.epub",
        "  part-001.md … part-012.md (12 files)",
    ]
    # Again, after the newest part was taken back: its file goes, and the writer is told.
    logged_in_cli.sessions.remove_last_part(logged_in_cli.user_id, session_id, 12)
    again = logged_in_cli("export", session_id, "--out", str(out), "--format", "all")
    assert again.exit_code == 0, again.output
    assert "Removed older files that are not part of this export: part-012.md" in again.stdout
    # Fewer formats: the other formats' files go too (they would be stale copies).
    md_only = logged_in_cli("export", session_id, "--out", str(out), "--format", "md")
    assert md_only.exit_code == 0, md_only.output
    assert md_only.stdout.splitlines()[-1] == (
        "Removed older files that are not part of this export: story.epub, story.json, story.txt"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["export", "00000000-0000-0000-0000-000000000000"], "No story session"),
        (["export", "zzzzzzzz"], "No story session"),
        (["export", "ab"], "at least the first 4 characters"),
        (["export", "{id}", "--format", "pdf"], "'pdf' is not an export format"),
        (["export", "{id}", "--format", ","], "at least one export format"),
        (["export", "{id}", "--out", "{file}"], "is a file, not a folder"),
        (["export", "{id}", "--out", "{file}"], "`storyterm export {short} --out DIR` exports"),
    ],
)
def test_export_bad_input(
    logged_in_cli: LoggedInCli, tmp_path: Path, args: list[str], message: str
) -> None:
    session_id = a_story(logged_in_cli)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = [a.format(id=session_id, file=blocker) for a in args]
    result = logged_in_cli(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    message = message.format(short=session_id[:8])
    assert result.stderr.startswith("storyterm: ") and message in result.stderr


def test_export_of_another_writers_story_is_not_found(
    logged_in_cli: LoggedInCli,
) -> None:
    from tests.helpers import make_user

    bob = make_user(logged_in_cli.runtime.store, "bob-the-other")
    theirs = logged_in_cli.sessions.start(bob, "Bob's Secret")
    result = logged_in_cli("export", theirs.id)
    assert result.exit_code == 1 and "No story session" in result.stderr


def test_import_brings_a_story_back(logged_in_cli: LoggedInCli, tmp_path: Path) -> None:
    session_id = a_story(logged_in_cli, parts=3)
    logged_in_cli.sessions.complete(logged_in_cli.user_id, session_id)
    out = tmp_path / "out"
    exported = logged_in_cli("export", session_id, "--out", str(out), "--format", "json")
    assert exported.exit_code == 0, exported.output
    [folder] = list(out.iterdir())

    # The original is still here, so the copy is asked for (test_import_twice.py: refusals).
    result = logged_in_cli("import", str(folder / "story.json"), "--again")
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith(
        "Imported “The Keeper's Letter” (3 parts, 15 words, completed) as a new"
    )
    new_id = first.rsplit(" ", 1)[1]
    assert new_id != session_id
    assert second == f"Read it with `storyterm show {new_id[:8]}`."
    copy = logged_in_cli.sessions.get(logged_in_cli.user_id, new_id)
    assert (copy.title, copy.part_count, copy.status.value) == (
        "The Keeper's Letter",
        3,
        "completed",
    )
    # The export folder works as well as the file inside it.
    assert logged_in_cli("import", str(folder), "--again").exit_code == 0
    assert logged_in_cli.sessions.count(logged_in_cli.user_id) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "There is no file"),
        ('{"name": "my-package", "version": "1.0.0"}', "is not a storyterm export"),
        ("not json at all", "is not a storyterm export (it is not JSON)"),
        ('{"format": "storyterm-story", "version": 1, "session": {', "is damaged"),
    ],
)
def test_import_bad_files(
    logged_in_cli: LoggedInCli, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "story.json"
    if content is not None:
        path.write_text(content)
    result = logged_in_cli("import", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("storyterm: ") and message in result.stderr
    assert str(path) in result.stderr
    assert logged_in_cli.sessions.count(logged_in_cli.user_id) == 0


def test_the_commands_explain_themselves(logged_in_cli: LoggedInCli) -> None:
    help_text = logged_in_cli("export", "--help").stdout
    assert "md, txt, json, epub" in help_text and "--out" in help_text
    assert "story.json" in logged_in_cli("import", "--help").stdout
    listing = logged_in_cli("--help").stdout
    assert "export" in listing and "import" in listing


def test_the_exported_json_is_what_import_reads(logged_in_cli: LoggedInCli, tmp_path: Path) -> None:
    session_id = a_story(logged_in_cli, parts=1)
    logged_in_cli("export", session_id, "--out", str(tmp_path / "out"), "--format", "json")
    [story] = (tmp_path / "out").glob("*/story.json")
    assert json.loads(story.read_text())["format"] == "storyterm-story"


# -- importing a story twice -----------------------------------------------------------------


def exported_then_gone(
    cli: LoggedInCli, tmp_path: Path, title: str = "The Keeper's Letter"
) -> Path:
    """A story.json whose story is no longer here (as on a new machine)."""
    session_id = a_story(cli, parts=2, title=title)
    assert (
        cli("export", session_id, "--out", str(tmp_path / "out"), "--format", "json").exit_code == 0
    )
    cli.runtime.history.delete_forever(cli.user_id, session_id)
    [path] = (tmp_path / "out").glob("*/story.json")
    return path


def test_importing_a_story_twice_is_refused_until_asked_again(
    logged_in_cli: LoggedInCli, tmp_path: Path
) -> None:
    path = exported_then_gone(logged_in_cli, tmp_path)
    first = logged_in_cli("import", str(path))
    assert first.exit_code == 0, first.output
    copy_id = first.stdout.splitlines()[0].rsplit(" ", 1)[1]

    refused = logged_in_cli("import", str(path.parent))
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert re.fullmatch(
        rf"storyterm: This story was imported before, as session {copy_id[:8]} "
        r"'The Keeper's Letter' \(imported \d{4}-\d\d-\d\d\)\. Import it again as a new "
        r"session with --again\.\n",
        refused.stderr,
    ), refused.stderr
    assert logged_in_cli.sessions.count(logged_in_cli.user_id) == 1  # nothing written

    again = logged_in_cli("import", str(path), "--again")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("Imported “The Keeper's Letter” (2 parts")
    assert logged_in_cli.sessions.count(logged_in_cli.user_id) == 2
    assert "--again" in logged_in_cli("import", "--help").stdout


def test_the_refusal_prints_a_stored_title_as_data(
    logged_in_cli: LoggedInCli, tmp_path: Path
) -> None:
    """A title stored before titles were checked (an old row) still never drives the
    terminal when the refusal names it."""
    import sqlalchemy as sa

    path = exported_then_gone(logged_in_cli, tmp_path)
    assert logged_in_cli("import", str(path)).exit_code == 0
    with logged_in_cli.runtime.store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE story_sessions SET title = :t"), {"t": "\x1b]0;pwned\x07Tale"})
    refused = logged_in_cli("import", str(path))
    assert refused.exit_code == 1
    assert "\x1b" not in refused.stderr and "\x07" not in refused.stderr
    assert "'␛]0;pwned␇Tale'" in refused.stderr
