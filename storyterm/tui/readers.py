"""What the widgets read for themselves: the pages of the panes, the health of the services.

The session list and the story pane are given a Reader (they know it only as the small
protocols SessionPages and PartPages), so neither knows about user ids or the Runtime, and
the paging stays in the widgets that show the pages; the status line is given a ServiceCheck.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from storyterm.tui.models import load_model_choice

if TYPE_CHECKING:
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import OpenedSession, Page, Part, Session


class Reader:
    """The session service's page reads for one writer. Every method is called in a worker
    thread: the first one may open the Store."""

    def __init__(self, runtime: Runtime, writer: Callable[[], int]) -> None:
        self._runtime = runtime
        #: The signed-in writer's id, asked at each read: a login changes it.
        self._writer = writer

    def sessions(self, status: str, search: str, cursor: str | None, limit: int) -> Page[Session]:
        return self._runtime.sessions.list(
            self._writer(), status=status, search=search, limit=limit, cursor=cursor
        )

    def count(self, status: str, search: str) -> int:
        return self._runtime.sessions.count(self._writer(), status=status, search=search)

    def open(self, session_id: str, tail: int) -> OpenedSession:
        return self._runtime.sessions.open(self._writer(), session_id, tail=tail)

    def parts_before(self, session_id: str, before_seq: int, limit: int) -> list[Part]:
        return self._runtime.sessions.parts_before(
            self._writer(), session_id, before_seq, limit=limit
        )

    def directions(self, session_id: str, limit: int) -> list[str]:
        return self._runtime.sessions.directions(self._writer(), session_id, limit)

    def parts_after(self, session_id: str, after_seq: int, limit: int) -> tuple[list[Part], int]:
        sessions = self._runtime.sessions
        user_id = self._writer()
        # parts_before(after + limit + 1) is the page just after `after_seq`.
        parts = sessions.parts_before(user_id, session_id, after_seq + limit + 1, limit=limit)
        part_count = sessions.get(user_id, session_id).part_count
        return [p for p in parts if p.seq > after_seq], part_count


class ServiceCheck:
    """Whether Ollama answers and how the Redis cache is, for the status line."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def ollama_up(self) -> bool:
        return (await load_model_choice(self._runtime)).ollama_up

    def cache_state(self) -> str:
        store = self._runtime.store
        return str(store.cache.ping() if store.cache.url else store.cache_state)
