"""One running storyterm: settings plus the store and services built from them, opened lazily
so that a command that needs none of them (help, version) touches no database."""

from __future__ import annotations

import threading
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING

from storyterm.core.views import Account
from storyterm.errors import InvalidToken
from storyterm.settings import Settings, load_settings

if TYPE_CHECKING:
    from storyterm.core.first_look import FirstLook
    from storyterm.core.generation.catalog import ModelCatalog
    from storyterm.core.generation.storyteller import Storyteller
    from storyterm.core.history import HistoryService
    from storyterm.core.identity.accounts import IdentityService
    from storyterm.core.identity.keyring_store import TokenStore
    from storyterm.core.lorebook import LoreService
    from storyterm.core.service import SessionService
    from storyterm.core.storage.store import Store


class TokenSource(StrEnum):
    ENV = "STORYTERM_TOKEN"
    KEYRING = "system keyring"
    MEMORY = "this run only"


class Login:
    """The token this process acts with, and where it came from. (A plain class: creating a
    dataclass compiles its methods at import, on the start-up path.)"""

    __slots__ = ("source", "token")

    def __init__(self, token: str, source: TokenSource) -> None:
        self.token = token
        self.source = source


class Runtime:
    """What every front end holds: built once per process, closed at exit."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        # The TUI opens the Store in whichever worker needs it first after the first frame
        # (the cache probe, a generation, a save): one Store, however many ask at once.
        self._opening = threading.Lock()
        #: The login the TUI's first frame was shown for, until PyJWT has checked it.
        self.unconfirmed_login: Login | None = None

    # The store and the services are imported when first used: SQLAlchemy's ORM is the costliest
    # import in storyterm. The TUI reads its first screen without them (first_look) and opens
    # the Store in a worker after the first frame.
    @property
    def store(self) -> Store:
        store = self.__dict__.get("store")
        if store is None:
            with self._opening:
                store = self.__dict__.get("store")
                if store is None:
                    from storyterm.core.storage.file_modes import secure_data_folder
                    from storyterm.core.storage.store import Store

                    secure_data_folder(self.settings.data_dir)

                    url, redis_url = self.settings.resolved_database_url, self.settings.redis_url
                    store = Store.open(url, redis_url or None)
                    store.trash_days = self.settings.trash_days
                    self.__dict__["store"] = store
        return store

    @cached_property
    def sessions(self) -> SessionService:
        from storyterm.core.service import SessionService

        return SessionService(self.store)

    @property
    def history(self) -> HistoryService:
        return self.sessions.history

    @property
    def lore(self) -> LoreService:
        return self.sessions.lore

    @cached_property
    def identity(self) -> IdentityService:
        from storyterm.core.identity.accounts import IdentityService

        return IdentityService(self.store, self.settings)

    @cached_property
    def _first_look(self) -> FirstLook | None:
        from storyterm.core.first_look import FirstLook

        return FirstLook.open(self.settings.resolved_database_url, self.settings.jwt_secret)

    def first_look(self) -> FirstLook | None:
        """The start-up reader (SQLite read with the standard library, no SQLAlchemy), while
        the Store is not open yet and the database is a SQLite file at head; else None."""
        if "store" in self.__dict__:
            return None
        return self._first_look

    @property
    def database_id(self) -> str:
        look = self.first_look()
        return look.database_id if look is not None else self.store.database_id

    @property
    def database_backend(self) -> str:
        """The database's kind, "sqlite" or "postgresql" (without opening the Store when the
        first look can tell)."""
        return "sqlite" if self.first_look() is not None else self.store.backend

    @cached_property
    def tokens(self) -> TokenStore:
        """This database's login in the OS keyring (or in memory where there is none)."""
        from storyterm.core.identity.keyring_store import TokenStore

        return TokenStore(self.database_id)

    def current_login(self) -> Login | None:
        """The token in effect: STORYTERM_TOKEN first, then the keyring; None without one."""
        env_token = (self.settings.token or "").strip()
        if env_token:
            return Login(env_token, TokenSource.ENV)
        token = self.tokens.load()
        if not token:
            return None
        return Login(token, TokenSource.KEYRING if self.tokens.available else TokenSource.MEMORY)

    def current_account(self, *, first_frame: bool = False) -> Account | None:
        """The verified writer this process acts for; None when nobody is logged in.

        Raises InvalidToken (an AuthError) when the token in effect is no good, saying where it
        came from so the writer knows what to replace.

        `first_frame=True` (the TUI's start-up, read by the first look) checks the login against
        the database without PyJWT's signature check (a costly import): the caller must call
        `confirm_login` as soon as the first frame is up.
        """
        login = self.current_login()
        if login is None:
            return None
        try:
            look = self.first_look()
            if look is not None:
                from storyterm.core.basics import utcnow

                account = look.verify(login.token, utcnow(), signature=not first_frame)
                if first_frame:
                    self.unconfirmed_login = login
                return account
            return self.identity.verify(login.token)
        except InvalidToken as exc:
            if login.source is TokenSource.ENV:
                raise _in_environment(exc) from exc
            raise

    def confirm_login(self) -> Account | None:
        """Check the login the first frame was shown for (`current_account(first_frame=True)`)
        completely, signature included; None when there was nothing left to check. Raises
        InvalidToken, as current_account does, when it does not hold."""
        login = self.unconfirmed_login
        if login is None:
            return None
        self.unconfirmed_login = None
        try:
            return self.identity.verify(login.token)
        except InvalidToken as exc:
            if login.source is TokenSource.ENV:
                raise _in_environment(exc) from exc
            raise

    @cached_property
    def models(self) -> ModelCatalog:
        """Ollama's models (nothing is imported or asked until a listing is wanted)."""
        from storyterm.core.generation.catalog import ModelCatalog

        return ModelCatalog(self.settings)

    @cached_property
    def storyteller(self) -> Storyteller:
        from storyterm.core.generation.storyteller import Storyteller

        return Storyteller(self.sessions, self.settings, catalog=self.models)

    def close(self) -> None:
        look = self.__dict__.get("_first_look")
        if look is not None:
            look.close()
        if "storyteller" in self.__dict__:
            self.storyteller.close()
        if "store" in self.__dict__:
            self.store.close()


def _in_environment(exc: InvalidToken) -> InvalidToken:
    """The refusal of a token set in STORYTERM_TOKEN, saying what to do about it (logging in
    again does not replace that one)."""
    return InvalidToken(
        f"{exc.reason} (the token in STORYTERM_TOKEN)",
        "Please log in again: run `storyterm login --print-token` and put the new "
        "token in STORYTERM_TOKEN, or unset STORYTERM_TOKEN.",
    )
