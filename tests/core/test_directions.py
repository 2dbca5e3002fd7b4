"""The directions a story was written from, newest first: the TUI's input walks back through
them with the up key, so they must be the story's own, different, and with their line breaks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.errors import NotFound
from tests.helpers import make_user


@pytest.fixture
def service(database_url: str) -> Iterator[SessionService]:
    store = Store.open(database_url, None)
    yield SessionService(store)
    store.close()


def test_directions_are_the_storys_own_newest_first_each_once(service: SessionService) -> None:
    alice = make_user(service.store)
    story = service.start(alice, "Salt Roads", {}, "gemma3:latest")
    other = service.start(alice, "Winter Orchard", {}, "gemma3:latest")
    for direction in ["The boat leaves", "", "Rain\n\nthen calm", "The boat leaves", "Night"]:
        service.append_part(alice, story.id, direction=direction, content="Text.")
    service.append_part(alice, other.id, direction="Snow falls", content="Text.")

    assert service.directions(alice, story.id) == ["Night", "The boat leaves", "Rain\n\nthen calm"]
    assert service.directions(alice, other.id) == ["Snow falls"]
    assert service.directions(alice, story.id, limit=2) == ["Night", "The boat leaves"]


def test_another_writers_story_has_no_directions_to_give(service: SessionService) -> None:
    alice = make_user(service.store)
    bob = make_user(service.store, "bob")
    story = service.start(alice, "Salt Roads", {}, "gemma3:latest")
    service.append_part(alice, story.id, direction="The boat leaves", content="Text.")
    with pytest.raises(NotFound):
        service.directions(bob, story.id)
