"""Importing a story the writer has already is refused, naming the session that holds it, and
nothing is written; `again=True` imports it anyway. A story is known by the id of the session it
was exported from and by a fingerprint of its text."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from storyterm.core.export import export_session, import_story
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.views import Session
from storyterm.errors import AlreadyImported, StorytermError
from tests.helpers import make_user


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def a_story(service: SessionService, user: int, title: str = "The Keeper's Letter") -> Session:
    s = service.start(user, title, {"genre": "mystery"}, "gemma3:latest")
    service.append_part(user, s.id, direction="Open", content="Rain fell on the lamp.")
    service.append_part(user, s.id, direction="", content="Mara broke the seal.")
    return service.get(user, s.id)


def export_json(service: SessionService, user: int, session_id: str, out: Path) -> Path:
    return export_session(service, user, session_id, out_dir=out, formats=["json"]).folder


def imported_on(service: SessionService, session_id: str) -> str:
    with service.store.engine.connect() as conn:
        stamp = conn.execute(
            sa.text("SELECT imported_at FROM story_sessions WHERE id = :id"), {"id": session_id}
        ).scalar_one()
    return str(stamp)[:10]


def count(service: SessionService, user: int) -> int:
    return service.count(user)


def test_the_same_file_twice_is_refused_and_nothing_is_written(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    original = a_story(service, alice)
    folder = export_json(service, alice, original.id, tmp_path)
    # As on a new machine: the story is only in its export.
    service.history.delete_forever(alice, original.id)

    copy = import_story(service, alice, folder)
    with pytest.raises(AlreadyImported) as refused:
        import_story(service, alice, folder / "story.json")
    assert refused.value.message == (
        f"This story was imported before, as session {copy.id[:8]} 'The Keeper's Letter' "
        f"(imported {imported_on(service, copy.id)}). Import it again as a new session with "
        "--again."
    )
    assert refused.value.session_id == copy.id
    assert refused.value.http_status == 409 and refused.value.code == "already_imported"
    assert count(service, alice) == 1

    again = import_story(service, alice, folder, again=True)
    assert again.id != copy.id and count(service, alice) == 2
    assert [p.content for p in service.all_parts(alice, again.id)] == [
        "Rain fell on the lamp.",
        "Mara broke the seal.",
    ]


def test_importing_beside_the_original_is_refused(service: SessionService, tmp_path: Path) -> None:
    alice = make_user(service.store, "alice")
    original = a_story(service, alice)
    folder = export_json(service, alice, original.id, tmp_path)
    with pytest.raises(AlreadyImported) as refused:
        import_story(service, alice, folder)
    assert refused.value.message == (
        f"This story is here already: it was exported from session {original.id[:8]} "
        "'The Keeper's Letter'. Import it as a copy, a new session, with --again."
    )
    assert count(service, alice) == 1
    import_story(service, alice, folder, again=True)
    assert count(service, alice) == 2


def test_another_writers_story_or_import_does_not_count(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    carol = make_user(service.store, "carol")
    folder = export_json(service, alice, a_story(service, alice).id, tmp_path)
    import_story(service, bob, folder)
    import_story(service, carol, folder)  # bob's copy is bob's business
    assert (count(service, bob), count(service, carol)) == (1, 1)


def test_the_export_of_an_imported_copy_is_known_by_its_text(
    service: SessionService, tmp_path: Path
) -> None:
    """The copy's export has the copy's id and dates, not the original's: its text is what
    says it is the same story."""
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    first = export_json(service, alice, a_story(service, alice).id, tmp_path / "a")
    copy = import_story(service, bob, first)
    second = export_json(service, bob, copy.id, tmp_path / "b")
    with pytest.raises(AlreadyImported) as refused:
        import_story(service, bob, second)
    assert refused.value.message.startswith(
        f"This story was imported before, as session {copy.id[:8]} 'The Keeper's Letter'"
    )


def test_another_version_of_a_story_imported_before(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    original = a_story(service, alice)
    copy = import_story(service, bob, export_json(service, alice, original.id, tmp_path / "v1"))
    service.append_part(alice, original.id, direction="", content="The lamp lit itself.")
    newer = export_json(service, alice, original.id, tmp_path / "v2")
    with pytest.raises(AlreadyImported) as refused:
        import_story(service, bob, newer)
    assert refused.value.message == (
        f"Another version of this story was imported before, as session {copy.id[:8]} "
        f"'The Keeper's Letter' (imported {imported_on(service, copy.id)}); this file holds "
        "different text. Import it as a new session with --again."
    )
    assert import_story(service, bob, newer, again=True).part_count == 3


def test_an_earlier_import_in_the_trash_says_how_to_restore_it(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    folder = export_json(service, alice, a_story(service, alice).id, tmp_path)
    copy = import_story(service, bob, folder)
    service.delete(bob, copy.id)
    with pytest.raises(AlreadyImported) as refused:
        import_story(service, bob, folder)
    assert (
        f"That session is in the trash: `storyterm restore {copy.id[:8]}` brings it back. "
        "Import it again as a new session with --again."
    ) in refused.value.message
    # Deleted for good, it no longer holds the story.
    service.history.delete_forever(bob, copy.id)
    assert import_story(service, bob, folder).title == "The Keeper's Letter"


def test_a_file_is_known_by_its_text_not_its_dates_or_status(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    path = export_json(service, alice, a_story(service, alice).id, tmp_path) / "story.json"
    import_story(service, bob, path)
    data = json.loads(path.read_text())

    # Without the session id, with another export date and status: the same text.
    del data["session"]["id"]
    data["exported_at"] = "2030-01-01T00:00:00+00:00"
    data["session"]["status"] = "paused"
    data["session"]["created_at"] = "2001-01-01T00:00:00+00:00"
    data["parts"][0]["created_at"] = "2001-01-01T00:00:00+00:00"
    path.write_text(json.dumps(data))
    with pytest.raises(AlreadyImported, match="This story was imported before"):
        import_story(service, bob, path)

    # Other text, and no id to say where it came from: another story.
    data["parts"][1]["content"] = "Mara burned the letter unread."
    path.write_text(json.dumps(data))
    assert import_story(service, bob, path).part_count == 2
    assert count(service, bob) == 2


@pytest.mark.parametrize("session_id", [42, "", "x" * 37, "bad\x00id"])
def test_a_strange_session_id_in_the_file_does_not_stop_an_import(
    service: SessionService, tmp_path: Path, session_id: object
) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    path = export_json(service, alice, a_story(service, alice).id, tmp_path) / "story.json"
    data = json.loads(path.read_text())
    data["session"]["id"] = session_id
    path.write_text(json.dumps(data))
    assert import_story(service, bob, path).part_count == 2
    with pytest.raises(AlreadyImported):
        import_story(service, bob, path)


def test_two_imports_of_one_story_at_once_make_one_session(
    service: SessionService, tmp_path: Path
) -> None:
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    folder = export_json(service, alice, a_story(service, alice).id, tmp_path)
    start = threading.Barrier(4)
    outcomes: list[object] = []

    def importer() -> None:
        start.wait()
        try:
            outcomes.append(import_story(service, bob, folder))
        except StorytermError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=importer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(isinstance(o, Session) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, AlreadyImported) for o in outcomes) == 3, outcomes
    assert count(service, bob) == 1


def test_empty_stories_are_known_by_their_source_alone(
    service: SessionService, tmp_path: Path
) -> None:
    """Two empty stories of one title have no text to tell them apart, and are not the same
    story; the same empty story's export imported twice still is."""
    alice = make_user(service.store, "alice")
    bob = make_user(service.store, "bob")
    first = export_json(service, alice, service.start(alice, "Untitled").id, tmp_path / "1")
    second = export_json(service, alice, service.start(alice, "Untitled").id, tmp_path / "2")
    import_story(service, bob, first)
    import_story(service, bob, second)
    with pytest.raises(AlreadyImported, match="This story was imported before, as session"):
        import_story(service, bob, second)
    assert count(service, bob) == 2
