"""Shared pieces for the storyteller tests: a fake Ollama, a story kit, event helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyterm.core.generation.catalog import ModelCatalog, ModelInfo
from storyterm.core.generation.events import Event, TextDelta
from storyterm.core.generation.storyteller import Storyteller
from storyterm.core.service import SessionService
from storyterm.core.storage.store import Store
from storyterm.core.views import Session
from storyterm.devtools.fake_ollama import FakeOllama, prose
from storyterm.settings import Settings, load_settings
from tests.helpers import make_user

BIBLE = {
    "genre": "gothic mystery",
    "tone": "quiet, salt-stung dread",
    "premise": "A lighthouse keeper receives a letter written forty years ago.",
    "characters": "Mara, the keeper; Tobias, the ferryman",
    "style_notes": "close third person, past tense",
}


@dataclass
class StoryKit:
    """A storyteller wired to a real SQLite file and (usually) a FakeOllama."""

    fake: FakeOllama | None
    settings: Settings
    store: Store
    sessions: SessionService
    storyteller: Storyteller
    user_id: int

    def new_session(
        self, title: str = "The Keeper's Letter", model: str | None = "gemma3:latest", **bible: Any
    ) -> Session:
        return self.sessions.start(self.user_id, title, {**BIBLE, **bible}, model)

    async def run(self, session_id: str, direction: str = "", **kwargs: Any) -> list[Event]:
        return [
            event
            async for event in self.storyteller.generate(
                self.user_id, session_id, direction, **kwargs
            )
        ]

    def close(self) -> None:
        self.storyteller.close()
        self.store.close()


def make_kit(
    tmp_path: Path,
    fake: FakeOllama | None,
    *,
    catalog: ModelCatalog | None = None,
    chat_model_factory: Any = None,
    database_url: str | None = None,
    redis_url: str | None = None,
    **settings: Any,
) -> StoryKit:
    """A kit on a SQLite file in `tmp_path`, or on `database_url` (with Redis at `redis_url`)."""
    values: dict[str, Any] = {
        "ollama_host": fake.url if fake else "http://127.0.0.1:9",
        "checkpoint_interval": 0.1,
        "ollama_timeout": 5.0,
        "redis_url": "",
    }
    values.update(settings)
    loaded = load_settings(**values)
    store = Store.open(database_url or f"sqlite:///{tmp_path / 'stories.db'}", redis_url)
    sessions = SessionService(store)
    teller = Storyteller(sessions, loaded, catalog=catalog, chat_model_factory=chat_model_factory)
    return StoryKit(fake, loaded, store, sessions, teller, _writer(store))


def _writer(store: Store) -> int:
    """The test writer, made once per database (a second kit on the same file reuses it)."""
    import sqlalchemy as sa

    from storyterm.core.storage.tables import User

    users = User.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(users.c.id).where(users.c.username_key == "alice"))
        user_id = found.scalar()
    return user_id if user_id is not None else make_user(store, "alice")


class StubCatalog(ModelCatalog):
    """A catalog that believes in the models it is given (no Ollama needed for the listing)."""

    def __init__(self, settings: Settings, models: list[str], context_length: int = 8192) -> None:
        super().__init__(settings)
        self._names = models
        self._length = context_length

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name=n) for n in self._names]

    async def context_length(self, name: str) -> int:
        return self._length


def text_of(events: list[Event]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def consume_until(
    events: AsyncIterator[Event], predicate: Callable[[list[Event]], bool]
) -> list[Event]:
    """Read events until `predicate(seen)` holds (or the stream ends)."""
    seen: list[Event] = []
    async for event in events:
        seen.append(event)
        if predicate(seen):
            break
    return seen


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def is_summary_request(body: dict[str, Any]) -> bool:
    """Whether a chat request the stand-in received asks for the running summary (the memory's
    own call), not for a part."""
    return bool(body["messages"][0]["content"].startswith("You keep the running summary"))


def summarising_reply(summaries: list[str]) -> Callable[[dict[str, Any]], str]:
    """A stand-in reply: each summary numbered and kept in `summaries`; a part of 150 words."""

    def reply(body: dict[str, Any]) -> str:
        if is_summary_request(body):
            summaries.append(f"SUMMARY-{len(summaries) + 1}: " + prose(60, seed=len(summaries)))
            return summaries[-1]
        return prose(150, seed=len(body["messages"]))

    return reply


def append_prose_parts(kit: StoryKit, session_id: str, count: int) -> None:
    """`count` parts of 70 words ("Step 1", "Step 2"... their directions), stored directly."""
    for n in range(1, count + 1):
        kit.sessions.append_part(
            kit.user_id, session_id, direction=f"Step {n}", content=prose(70, seed=n)
        )
