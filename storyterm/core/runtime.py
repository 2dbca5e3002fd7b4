"""One running storyterm: settings plus the store and services built from them, opened lazily
so that a command that needs none of them (help, version) touches no database."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from storyterm.core.service import SessionService
from storyterm.core.store import Store
from storyterm.settings import Settings, load_settings

if TYPE_CHECKING:
    from storyterm.core.models_catalog import ModelCatalog
    from storyterm.core.storyteller import Storyteller


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

    @cached_property
    def models(self) -> ModelCatalog:
        """Ollama's models (nothing is imported or asked until a listing is wanted)."""
        from storyterm.core.models_catalog import ModelCatalog

        return ModelCatalog(self.settings)

    @cached_property
    def storyteller(self) -> Storyteller:
        from storyterm.core.storyteller import Storyteller

        return Storyteller(self.sessions, self.settings, catalog=self.models)

    def close(self) -> None:
        if "storyteller" in self.__dict__:
            self.storyteller.close()
        if "store" in self.__dict__:
            self.store.close()
