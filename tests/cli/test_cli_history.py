"""Takes, the trash, undo and reopen at the command line, as a writer types them: what each
command prints, what it leaves stored, and a clear refusal (never a traceback) for every bad
input. Stored text, however hostile, reaches the terminal only as harmless symbols."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.basics import PartState, TakeKind
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.devtools.fake_ollama import FakeOllama
from tests.helpers import login_as

#: Text a model (or a pasted file) could leave in a take: a title-setting OSC sequence, a
#: screen clear, a bell, a cursor move, a C1 control and a bidirectional override.
HOSTILE = "Calm\x1b]0;pwned\x07 sea\x1b[2J\x07 \x1b[5A\x9b31m \u202egnirts"


@dataclass
class Desk:
    """A writer's database with one story of three parts (part 2 with a second take), and the
    command line pointed at it."""

    url: str
    service: SessionService
    user: int
    sid: str

    def invoke(self, *args: str, input: str | bytes | None = None, **env: str) -> Result:
        return CliRunner().invoke(cli, list(args), input=input, env=env or None)

    def parts(self) -> list[str]:
        return [p.content for p in self.service.all_parts(self.user, self.sid)]

    def snapshot(self) -> list[tuple]:
        with self.service.store.engine.connect() as conn:
            return [
                tuple(row)
                for table in ("story_sessions", "story_parts", "part_takes", "trashed_parts")
                for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).all()
            ]


def regenerate(service: SessionService, user: int, sid: str, seq: int, text: str) -> None:
    """A regenerate as the storyteller does it: a new streaming take, then its text."""
    service.history.history.takes.new_take(
        user, sid, seq, kind=TakeKind.GENERATED, content="", state=PartState.STREAMING
    )
    service.checkpoint_part(user, sid, seq, text, state=PartState.DONE)


@pytest.fixture
def desk(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    monkeypatch.setenv("STORYTERM_DATABASE_URL", sqlite_url)
    user = login_as(monkeypatch, "writer").id
    store = Store.open(sqlite_url, None)
    service = SessionService(store)
    sid = service.start(user, "The Keeper's Letter").id
    service.append_part(user, sid, direction="Open", content="Rain fell on the rock.")
    service.append_part(user, sid, direction="The ship", content="A ship came in.")
    service.append_part(user, sid, direction="Dawn", content="Dawn broke.")
    regenerate(service, user, sid, 2, "No ship came that night at all.")
    yield Desk(sqlite_url, service, user, sid)
    store.close()


def assert_refused(desk: Desk, result: Result, message: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert message in result.stderr, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


# -- takes -----------------------------------------------------------------------------------


def test_versions_lists_the_takes_with_the_chosen_one_marked(desk: Desk) -> None:
    result = desk.invoke("versions", desk.sid[:8], "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "“The Keeper's Letter” · part 2 · 2 takes"
    assert lines[1].startswith("    1  generated · 4 words · just now")
    assert lines[2].strip() == "A ship came in."
    assert lines[3].startswith("●   2  generated · 7 words · just now")
    assert lines[4].strip() == "No ship came that night at all."
    assert f"storyterm choose {desk.sid[:8]} 2 N" in result.stderr

    data = json.loads(desk.invoke("versions", desk.sid, "2", "--json").stdout)
    assert (data["seq"], data["chosen"], data["title"]) == (2, 2, "The Keeper's Letter")
    assert [(t["number"], t["kind"], t["chosen"], t["content"]) for t in data["takes"]] == [
        (1, "generated", False, "A ship came in."),
        (2, "generated", True, "No ship came that night at all."),
    ]


def test_a_long_take_is_previewed_not_printed_whole(desk: Desk) -> None:
    desk.service.history.edit(desk.user, desk.sid, 1, content="word " * 500)
    lines = desk.invoke("versions", desk.sid, "1").stdout.splitlines()
    assert lines[-1].strip() == "word " * 13 + "word …"
    assert "edited · 500 words · just now · from take 1" in lines[-2]


def test_choose_makes_another_take_the_story(desk: Desk) -> None:
    result = desk.invoke("choose", desk.sid[:8], "2", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Part 2 now take 1 of 2 (generated, 4 words)."
    assert desk.parts()[1] == "A ship came in."
    assert "## Part 2\n> The ship\nA ship came in." in desk.invoke("show", desk.sid).stdout


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("choose", "{sid}", "2", "3"), "Part 2 has no take 3; its takes are 1 to 2.", 1),
        (("choose", "{sid}", "9", "1"), "This story has no part 9.", 1),
        (("versions", "{sid}", "4"), "This story has no part 4.", 1),
        (("versions", "{sid}", "0"), "0 is not in the range 1<=x<=2147483647", 2),
        (("choose", "{sid}", "2", "0"), "0 is not in the range", 2),
        (("choose", "{sid}", "2", "x"), "'x' is not a valid integer", 2),
        (("versions", "ffffffff", "1"), "No story session 'ffffffff'", 1),
        (("versions", "{sid}", "99999999999"), "is not in the range", 2),
    ],
)
def test_bad_takes_are_refused_and_change_nothing(
    desk: Desk, args: tuple[str, ...], message: str, code: int
) -> None:
    before = desk.snapshot()
    assert_refused(desk, desk.invoke(*(a.format(sid=desk.sid) for a in args)), message, code)
    assert desk.snapshot() == before


# -- edit ------------------------------------------------------------------------------------


def test_edit_from_a_file_or_stdin_makes_a_new_take(desk: Desk, tmp_path: Path) -> None:
    text = tmp_path / "part.md"
    text.write_text("Rain fell hard on the black rock.\n")  # the newline an editor adds
    result = desk.invoke("edit", desk.sid[:8], "1", "--text-file", str(text))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Part 1 now take 2 (edited) · 7 words. Take 1 is kept")
    assert desk.parts()[0] == "Rain fell hard on the black rock."

    same = desk.invoke("edit", desk.sid, "1", "--text-file", str(text))
    assert same.stdout.strip() == "Nothing changed: part 1 stays take 2."
    piped = desk.invoke("edit", desk.sid, "3", "--text-file", "-", input="Dawn came late.\n")
    assert piped.stdout.startswith("Part 3 now take 2 (edited)")
    assert desk.parts()[2] == "Dawn came late."
    takes = desk.service.history.takes(desk.user, desk.sid, 3)
    assert [(t.number, t.kind, t.chosen) for t in takes] == [
        (1, TakeKind.GENERATED, False),
        (2, TakeKind.EDITED, True),
    ]


def test_edit_opens_the_editor_on_the_parts_text(desk: Desk, tmp_path: Path) -> None:
    # A real $EDITOR run the way click runs one: a command given the file's path.
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('Rain', 'Snow') + '\\n')\n"
    )
    editor = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    result = desk.invoke("edit", desk.sid, "1", EDITOR=editor)
    assert result.exit_code == 0, result.output
    assert "Part 1 now take 2 (edited)" in result.stdout
    assert desk.parts()[0] == "Snow fell on the rock."

    closed = desk.invoke("edit", desk.sid, "1", EDITOR="true")  # quits without saving
    assert closed.exit_code == 0
    assert closed.stdout.startswith("Nothing changed: the editor closed without saving.")
    assert len(desk.service.history.takes(desk.user, desk.sid, 1)) == 2


def test_edit_only_the_direction(desk: Desk) -> None:
    result = desk.invoke("edit", desk.sid, "3", "--direction", "Dawn, slowly")
    assert result.exit_code == 0, result.output
    part = desk.service.get_part(desk.user, desk.sid, 3)
    assert (part.direction, part.content, part.take) == ("Dawn, slowly", "Dawn broke.", 2)


def test_bad_edits_are_refused_and_change_nothing(desk: Desk, tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("  \n\n")
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("Caf\xe9 au lait".encode("latin-1"))
    nul = tmp_path / "nul.md"
    nul.write_text("A \x00 byte")
    before = desk.snapshot()
    sid = desk.sid
    for args, message, code in [
        (("--text-file", str(empty)), "The new text of part 1 is empty, so nothing was saved", 1),
        (("--text-file", str(latin1)), "is not UTF-8 text (byte 3 is not valid)", 1),
        (("--text-file", str(nul)), "contains a NUL character (U+0000)", 1),
        (("--text-file", str(tmp_path / "nope.md")), "No such file or directory", 2),
    ]:
        assert_refused(desk, desk.invoke("edit", sid, "1", *args), message, code)
    assert_refused(desk, desk.invoke("edit", sid, "7", "--direction", "x"), "no part 7")
    desk.service.complete(desk.user, sid)
    before = desk.snapshot()
    # Refused before the editor opens: no time spent writing what cannot be saved.
    refused = desk.invoke("edit", sid, "1", EDITOR="false")
    assert_refused(desk, refused, "is completed, so its parts are read-only. Reopen it to change")
    assert f"`storyterm reopen {sid[:8]}`" in refused.stderr
    assert desk.snapshot() == before


# -- undo, redo, reopen ----------------------------------------------------------------------


def test_undo_and_redo_say_what_happened(desk: Desk) -> None:
    desk.invoke("choose", desk.sid, "2", "1")
    undone = desk.invoke("undo", desk.sid[:8])
    assert undone.exit_code == 0, undone.output
    assert undone.stdout.strip() == ("Undone in “The Keeper's Letter”: Part 2 shows take 2 again.")
    assert desk.parts()[1] == "No ship came that night at all."
    redone = desk.invoke("redo", desk.sid[:8])
    assert redone.stdout.strip() == "Redone in “The Keeper's Letter”: Part 2 shows take 1 again."
    assert desk.parts()[1] == "A ship came in."
    assert_refused(desk, desk.invoke("redo", desk.sid), "There is nothing to redo in this story.")


def test_undo_brings_a_deleted_story_back_from_the_trash(desk: Desk) -> None:
    desk.invoke("delete", desk.sid)
    undone = desk.invoke("undo", desk.sid[:8])
    assert undone.stdout.strip() == (
        "Undone in “The Keeper's Letter”: The story is back from the trash."
    )
    assert desk.invoke("show", desk.sid).exit_code == 0


def test_complete_then_reopen(desk: Desk) -> None:
    desk.invoke("complete", desk.sid)
    reopened = desk.invoke("reopen", desk.sid[:8])
    assert reopened.exit_code == 0, reopened.output
    assert reopened.stdout.strip() == (
        "Reopened “The Keeper's Letter”: it is active again and its parts can change."
    )
    assert desk.service.get(desk.user, desk.sid).status.value == "active"
    assert_refused(desk, desk.invoke("reopen", desk.sid), "is not completed, so there is nothing")


# -- delete, the trash, restore --------------------------------------------------------------


def test_delete_moves_a_story_to_the_trash_and_restore_brings_it_back(desk: Desk) -> None:
    gone = desk.invoke("delete", desk.sid[:8])
    assert gone.exit_code == 0, gone.output
    assert gone.stdout.strip() == (
        f"Moved “The Keeper's Letter” to the trash; `storyterm restore {desk.sid[:8]}` brings "
        "it back."
    )
    assert desk.invoke("sessions").stdout.startswith("No sessions yet.")
    assert_refused(desk, desk.invoke("show", desk.sid), "“The Keeper's Letter” is in the trash")

    listed = desk.invoke("trash")
    line = listed.stdout.splitlines()[0]
    assert line.startswith(f"story  {desk.sid[:8]}  “The Keeper's Letter” · 14 words · deleted")
    assert f"storyterm restore {desk.sid[:8]}" in line
    assert "stay 30 days in the trash" in listed.stderr
    [item] = json.loads(desk.invoke("trash", "--json").stdout)["items"]
    assert (item["kind"], item["session_id"], item["title"]) == (
        "story",
        desk.sid,
        "The Keeper's Letter",
    )

    back = desk.invoke("restore", desk.sid[:8])
    assert back.stdout.strip() == "Restored “The Keeper's Letter” (3 parts) from the trash."
    assert desk.parts()[1] == "No ship came that night at all."
    assert len(desk.service.history.takes(desk.user, desk.sid, 2)) == 2
    assert desk.invoke("trash").stdout.strip() == "The trash is empty."


def test_a_part_goes_to_the_trash_with_its_takes_and_comes_back(desk: Desk) -> None:
    gone = desk.invoke("delete", desk.sid, "--part", "2")
    assert gone.exit_code == 0, gone.output
    number = json.loads(desk.invoke("trash", "--json").stdout)["items"][0]["trash_number"]
    assert gone.stdout.strip() == (
        f"Moved part 2 of “The Keeper's Letter” to the trash; `storyterm restore --part "
        f"{number}` brings it back."
    )
    assert desk.parts() == ["Rain fell on the rock.", "Dawn broke."]
    listed = desk.invoke("trash").stdout.splitlines()
    assert listed[0].startswith(f"part   #{number}  part 2 of “The Keeper's Letter” · 7 words")
    assert listed[1].strip() == "No ship came that night at all."

    back = desk.invoke("restore", "--part", str(number))
    assert back.stdout.strip() == (
        "Part 2 of “The Keeper's Letter” is back from the trash, with 2 takes."
    )
    assert desk.parts()[1] == "No ship came that night at all."
    assert_refused(desk, desk.invoke("restore", "--part", str(number)), "Nothing in your trash")


def test_delete_forever_asks_naming_the_story(desk: Desk) -> None:
    kept = desk.invoke("delete", desk.sid[:8], "--forever", input="n\n")
    assert kept.exit_code == 1
    assert "Delete “The Keeper's Letter” and its 3 parts for good? This cannot be undone" in (
        kept.output
    )
    assert kept.stderr.strip() == "Nothing was deleted."
    assert desk.service.get(desk.user, desk.sid).part_count == 3
    # From the trash too, and without asking under --yes.
    desk.invoke("delete", desk.sid)
    gone = desk.invoke("delete", desk.sid[:8], "--forever", "--yes")
    assert gone.exit_code == 0, gone.output
    assert gone.stdout.strip() == "Deleted “The Keeper's Letter” for good."
    assert desk.invoke("trash").stdout.strip() == "The trash is empty."
    with desk.service.store.engine.connect() as conn:
        for table in ("story_sessions", "story_parts", "part_takes"):
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 0


@pytest.mark.parametrize(
    "args", [("--forever",), ("--part", "2", "--forever")], ids=["story", "part"]
)
def test_delete_forever_with_no_answer_deletes_nothing_and_says_so(
    desk: Desk, args: tuple[str, ...]
) -> None:
    """Standard input at its end (a script without --yes): not click's bare "Aborted!"."""
    before = desk.parts()
    result = desk.invoke("delete", desk.sid[:8], *args, input="")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "storyterm: Nothing was deleted: no answer was given (use --yes in scripts)."
    )
    assert "Aborted" not in result.output
    assert desk.parts() == before
    assert desk.invoke("trash").stdout.strip() == "The trash is empty."


def test_delete_a_part_forever(desk: Desk) -> None:
    asked = desk.invoke("delete", desk.sid, "--part", "2", "--forever", input="y\n")
    assert asked.exit_code == 0, asked.output
    assert "Delete part 2 of “The Keeper's Letter” (7 words, all 2 takes) for good?" in (
        asked.output
    )
    assert asked.output.rstrip().endswith("Deleted part 2 of “The Keeper's Letter” for good.")
    assert desk.parts() == ["Rain fell on the rock.", "Dawn broke."]
    assert desk.invoke("trash").stdout.strip() == "The trash is empty."


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (("restore",), "Name a story to restore", 2),
        (("restore", "{sid}", "--part", "1"), "Name a story to restore", 2),
        (("restore", "{sid}"), "“The Keeper's Letter” is not in the trash.", 1),
        (
            ("restore", "--part", "12345"),
            "Nothing in your trash has the number 12345. `storyterm trash` lists what is there.",
            1,
        ),
        (("delete", "{sid}", "--part", "9"), "This story has no part 9.", 1),
        (("delete", "{sid}", "--part", "0"), "0 is not in the range", 2),
        (("undo", "abc"), "at least the first 4 characters", 1),
        (("redo", "{sid}"), "There is nothing to redo in this story.", 1),
    ],
)
def test_bad_trash_moves_are_refused_and_change_nothing(
    desk: Desk, args: tuple[str, ...], message: str, code: int
) -> None:
    before = desk.snapshot()
    assert_refused(desk, desk.invoke(*(a.format(sid=desk.sid) for a in args)), message, code)
    assert desk.snapshot() == before


def test_another_writers_story_is_not_found(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    login_as(monkeypatch, "bob")
    before = desk.snapshot()
    for args in (
        ("versions", desk.sid, "1"),
        ("choose", desk.sid, "2", "1"),
        ("edit", desk.sid, "1", "--direction", "mine now"),
        ("undo", desk.sid),
        ("reopen", desk.sid),
        ("restore", desk.sid),
        ("delete", desk.sid, "--forever", "--yes"),
        ("delete", desk.sid, "--part", "1"),
    ):
        assert_refused(desk, desk.invoke(*args), f"No story session {desk.sid!r} here")
    assert desk.invoke("trash").stdout.strip() == "The trash is empty."
    assert desk.snapshot() == before


# -- show --json, hostile text ---------------------------------------------------------------


def test_show_json_names_each_parts_version(desk: Desk) -> None:
    parts = json.loads(desk.invoke("show", desk.sid, "--json").stdout)["parts"]
    assert [(p["version"], p["versions"], p["take"], p["takes"]) for p in parts] == [
        (1, 1, 1, 1),
        (2, 2, 2, 2),
        (1, 1, 1, 1),
    ]
    assert parts[1]["take_kind"] == "generated"


def test_hostile_text_in_a_take_never_reaches_the_terminal_raw(desk: Desk) -> None:
    desk.service.history.edit(desk.user, desk.sid, 2, content=HOSTILE)
    desk.service.history.edit(desk.user, desk.sid, 3, content=HOSTILE)
    desk.invoke("delete", desk.sid, "--part", "3")
    outputs = [
        desk.invoke("versions", desk.sid, "2"),
        desk.invoke("versions", desk.sid, "2", "--json"),
        desk.invoke("choose", desk.sid, "2", "3"),
        desk.invoke("show", desk.sid),
        desk.invoke("show", desk.sid, "--json"),
        desk.invoke("trash"),
        desk.invoke("trash", "--json"),
        desk.invoke("undo", desk.sid),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert raw not in result.output, (raw, result.output)
    shown = desk.invoke("versions", desk.sid, "2").stdout
    assert "Calm␛]0;pwned␇ sea␛[2J␇" in shown
    # JSON keeps the exact text, escaped: a script reads back what was stored.
    data = json.loads(desk.invoke("versions", desk.sid, "2", "--json").stdout)
    assert data["takes"][-1]["content"] == HOSTILE


# -- continue --regenerate --part ------------------------------------------------------------


def test_continue_regenerates_an_older_part_as_a_new_take(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOllama(models=["gemma3:latest"], tokens=12) as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        desk.service.set_model(desk.user, desk.sid, "gemma3:latest")
        result = desk.invoke("continue", desk.sid[:8], "--regenerate", "--part", "1")
        assert result.exit_code == 0, result.output
        assert "Rewriting part 1 of “The Keeper's Letter”" in result.stderr
        sent = fake.chat_requests[-1].text_sent
    assert desk.parts()[0] == sent
    assert [t.content for t in desk.service.history.takes(desk.user, desk.sid, 1)] == [
        "Rain fell on the rock.",
        sent,
    ]
    assert desk.invoke("undo", desk.sid).exit_code == 0
    assert desk.parts()[0] == "Rain fell on the rock."


# -- continue --finish ----------------------------------------------------------------------


def interrupt(desk: Desk, seq: int, text: str) -> None:
    """Part `seq` as a stopped generation leaves it: its text so far, marked interrupted."""
    desk.service.checkpoint_part(desk.user, desk.sid, seq, text, state=PartState.INTERRUPTED)


def test_continue_finish_goes_on_from_where_the_part_stopped(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(desk, 3, "Dawn broke over the\x1b[2J harbour, and the")
    with FakeOllama(models=["gemma3:latest"], reply="keeper woke at last.") as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        desk.service.set_model(desk.user, desk.sid, "gemma3:latest")
        result = desk.invoke("continue", desk.sid[:8], "--finish")
        assert result.exit_code == 0, result.output
        asked = fake.chat_requests[-1].messages[-1]["content"]
    # The announcement shows where it picks up, safely; stdout is only what was added.
    assert "Finishing part 3 of “The Keeper's Letter”" in result.stderr
    assert "harbour, and the”" in result.stderr and "\x1b" not in result.output
    assert result.stdout == " keeper woke at last.\n"
    assert asked.endswith("Dawn broke over the\x1b[2J harbour, and the")
    assert desk.parts()[2] == "Dawn broke over the\x1b[2J harbour, and the keeper woke at last."
    shown = desk.invoke("versions", desk.sid, "3").stdout.splitlines()
    assert shown[1].startswith("    1  generated · ") and "Dawn broke over the␛[2J" in shown[2]
    assert shown[3].startswith("●   2  continued · 11 words")
    data = json.loads(desk.invoke("show", desk.sid, "--json").stdout)
    assert data["parts"][2]["take_kind"] == "continued"
    assert desk.invoke("undo", desk.sid).exit_code == 0
    assert desk.parts()[2] == "Dawn broke over the\x1b[2J harbour, and the"


def test_continue_finish_of_an_older_part_and_its_refusals(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    interrupt(desk, 1, "Rain fell on")
    with FakeOllama(models=["gemma3:latest"], reply="the rock all night.") as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        desk.service.set_model(desk.user, desk.sid, "gemma3:latest")
        before = desk.snapshot()
        assert_refused(
            desk,
            desk.invoke("continue", desk.sid, "--finish"),
            "Part 3 ended normally; regenerate it for a new take, or write the next part.",
        )
        assert_refused(
            desk,
            desk.invoke("continue", desk.sid, "--finish", "--regenerate"),
            "--finish goes on from where an interrupted part stops, --regenerate writes",
            2,
        )
        assert_refused(
            desk, desk.invoke("continue", desk.sid, "--finish", "-d", "Go"), "leave out", 2
        )
        assert_refused(
            desk, desk.invoke("continue", desk.sid, "--part", "1"), "--regenerate or --finish", 2
        )
        assert desk.snapshot() == before and fake.chat_requests == []
        result = desk.invoke("continue", desk.sid, "--finish", "--part", "1")
        assert result.exit_code == 0, result.output
    assert desk.parts() == [
        "Rain fell on the rock all night.",
        "No ship came that night at all.",
        "Dawn broke.",
    ]


def test_continue_part_needs_regenerate_and_a_real_part(desk: Desk) -> None:
    before = desk.snapshot()
    assert_refused(
        desk, desk.invoke("continue", desk.sid, "--part", "1"), "use it with --regenerate", 2
    )
    assert_refused(
        desk,
        desk.invoke("continue", desk.sid, "--regenerate", "--part", "9"),
        "“The Keeper's Letter” has no part 9 (it has 3).",
    )
    assert desk.snapshot() == before
