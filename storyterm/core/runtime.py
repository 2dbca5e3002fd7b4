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


#: The state folder's folder of login hints (core/identity/keyring_store.py).
LOGIN_HINTS = "logins"


class TokenSource(StrEnum):
    ENV = "STORYTERM_TOKEN"
    KEYRING = "system keyring"
    MEMORY = "this run only"
    #: The first frame's stand-in for the keyring's token: its unsigned part (the login hint).
    HINT = "login hint"


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

        return TokenStore(self.database_id, self.settings.state_dir / LOGIN_HINTS)

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
        hinted = self._hinted_account() if first_frame else None
        if hinted is not None:
            return hinted
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

    def _hinted_account(self) -> Account | None:
        """The first frame's writer from the login hint, without loading keyring: only for the
        first look's SQLite, with no STORYTERM_TOKEN and a hint kept here; None otherwise (the
        token is read). A hint that no longer holds is dropped and the keyring decides."""
        look = self.first_look()
        if look is None or (self.settings.token or "").strip():
            return None
        hint = self.tokens.hint()
        if hint is None:
            return None
        from storyterm.core.basics import utcnow

        try:
            account = look.verify_hint(hint, utcnow())
        except InvalidToken:
            self.tokens.forget_hint()
            return None
        self.unconfirmed_login = Login(hint, TokenSource.HINT)
        return account

    def confirm_login(self) -> Account | None:
        """Check the login the first frame was shown for (`current_account(first_frame=True)`)
        completely, signature included; None when there was nothing left to check. Raises
        InvalidToken, as current_account does, when it does not hold; for a frame shown from
        the login hint, also when the keyring no longer holds the token it was taken from."""
        login = self.unconfirmed_login
        if login is None:
            return None
        self.unconfirmed_login = None
        if login.source is TokenSource.HINT:
            login = self._token_of_hint(login.token)
        elif login.source is TokenSource.KEYRING and self.tokens.hint() is None:
            self.tokens.keep_hint(login.token)  # the next start need not load keyring first
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

    def _token_of_hint(self, hint: str) -> Login:
        """The keyring's token for a first frame shown from its hint."""
        from storyterm.core.identity.tokens import unsigned_part

        login = self.current_login()
        if login is None or unsigned_part(login.token) != hint:
            self.tokens.forget_hint()
            raise InvalidToken(
                "The saved login is no longer in the system keyring"
                if login is None
                else "The saved login changed in the system keyring"
            )
        return login


def _in_environment(exc: InvalidToken) -> InvalidToken:
    """The refusal of a token set in STORYTERM_TOKEN, saying what to do about it (logging in
    again does not replace that one)."""
    return InvalidToken(
        f"{exc.reason} (the token in STORYTERM_TOKEN)",
        "Please log in again: run `storyterm login --print-token` and put the new "
        "token in STORYTERM_TOKEN, or unset STORYTERM_TOKEN.",
    )
