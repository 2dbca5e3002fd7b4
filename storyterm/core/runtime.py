"""One running storyterm: settings plus the store and services built from them, opened lazily
so that a command that needs none of them (help, version) touches no database."""

from __future__ import annotations

from functools import cached_property

from storyterm.core.service import SessionService
from storyterm.core.store import Store
from storyterm.settings import Settings, load_settings


class Runtime:
    """What every front end holds: built once per process, closed at exit."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()

    @cached_property
    def store(self) -> Store:
        return Store.open(self.settings.resolved_database_url, self.settings.redis_url or None)

    @cached_property
    def sessions(self) -> SessionService:
        return SessionService(self.store)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()
