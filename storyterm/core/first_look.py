"""The TUI's first look at a SQLite database, read with the standard library's sqlite3 alone.

The main screen is ready when the writer's session list and newest story are on it. Through the
Store that meant importing SQLAlchemy and SQLModel first (~0.25 s of a ~1 s start on a laptop
core) for three reads. FirstLook does those reads (verify the login, the first page of the list
and its count, the newest story's tail) with the standard library's sqlite3 (a few milliseconds
to import), and the Store opens in the background once the screen is up; every write goes
through the Store.

It only reads, and only where it is exactly as good as the Store: a SQLite file that exists and
is at the schema's head revision, with its id and secret in app_meta. Anything else (PostgreSQL,
a new or older database that must be migrated, an unusual URL) gets None from `open`, and the
caller uses the Store. A story whose newest part was left "streaming" by a crashed process must
be marked interrupted, a write: `first_screen` returns None for it, and the Store opens it.
tests/core/test_first_look.py checks that every answer equals the Store's.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storyterm.core.basics import (
    HEAD_REVISION,
    META_DATABASE_ID,
    META_JWT_SECRET,
    SessionStatus,
    sqlite_title_search,
    unicode_lower,
)
from storyterm.core.identity.tokens import TokenSigner, audience_for, configured_secret
from storyterm.core.storage.cache import TAIL_PARTS
from storyterm.core.views import (
    Account,
    OpenedSession,
    Page,
    Part,
    Session,
    is_stale,
    page_cursor,
)

#: How long a read waits for a writer holding the file (the Store waits as long).
BUSY_TIMEOUT_S = 10.0

_SESSION_COLUMNS = (
    "id, user_id, title, status, model_name, session_metadata, memory, part_count, word_count, "
    "version, created_at, updated_at, paused_at, completed_at"
)
_PART_COLUMNS = (
    "id, session_id, seq, direction, content, model_name, state, word_count, prompt_tokens, "
    "completion_tokens, created_at, updated_at, take, takes, take_kind, take_from"
)
_DATES = ("created_at", "updated_at", "paused_at", "completed_at")


class FirstScreen:
    """What the main screen shows first: a page of the list, its count, the newest story.
    (A plain class: creating a dataclass compiles its methods at import, on the start-up path.)"""

    __slots__ = ("opened", "page", "total")

    def __init__(self, page: Page[Session], total: int, opened: OpenedSession | None) -> None:
        self.page = page
        self.total = total
        self.opened = opened


def sqlite_file(url: str) -> Path | None:
    """The file of a plain `sqlite:///path` URL; None for anything else (other databases,
    in-memory, query parameters, percent-escapes: the Store handles those)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    database = url[len(prefix) :]
    if not database or database == ":memory:" or any(c in database for c in "?%#"):
        return None
    return Path(database).expanduser()


def _stamp(value: Any) -> datetime | None:
    """A timestamp as SQLAlchemy stores it on SQLite (naive UTC text) -> aware UTC."""
    if value is None:
        return None
    stamp = datetime.fromisoformat(str(value))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(zip(row.keys(), row, strict=True))
    for key in _DATES:
        if key in data:
            data[key] = _stamp(data[key])
    return data


class FirstLook:
    """Read-only: the login, the first page of sessions and the newest story of a SQLite file."""

    def __init__(self, conn: sqlite3.Connection, database_id: str, secret: bytes) -> None:
        self._conn = conn
        self.database_id = database_id
        self.signer = TokenSigner(secret, audience_for(database_id))

    @classmethod
    def open(cls, database_url: str, jwt_secret: str | None) -> FirstLook | None:
        """A first look at the database, or None when the Store must open it."""
        path = sqlite_file(database_url)
        if path is None or not path.is_file():
            return None
        try:
            # mode=rw: never create a file (a missing one is the Store's to create and migrate).
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=rw",
                uri=True,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except (sqlite3.Error, ValueError):
            return None
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only=ON")
            # The same Unicode lower() the Store's connections have (title search).
            conn.create_function("lower", 1, unicode_lower, deterministic=True)
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            meta = dict(conn.execute("SELECT key, value FROM app_meta").fetchall())
        except sqlite3.Error:
            conn.close()
            return None
        secret = configured_secret(jwt_secret) or (meta.get(META_JWT_SECRET) or "").encode()
        database_id = meta.get(META_DATABASE_ID)
        if [tuple(r) for r in revision] != [(HEAD_REVISION,)] or not database_id or not secret:
            conn.close()
            return None
        return cls(conn, database_id, secret)

    def close(self) -> None:
        self._conn.close()

    def _all(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    # -- the login ------------------------------------------------------------------------

    def verify(self, token: str, now: datetime, *, signature: bool = True) -> Account:
        """The account a token stands for, checked as IdentityService.verify checks it.

        `signature=False` is for the TUI's first frame alone: the claims are read without
        PyJWT (TokenSigner.peek_claims says why that is safe for a frame), and the caller
        checks the whole token with `verify` right after it."""
        if signature:
            claims = self.signer.decode(token, now)
        else:
            claims = self.signer.peek_claims(token, now)
        return self._holder(claims)

    def verify_hint(self, unsigned: str, now: datetime) -> Account:
        """The account of the login hint (a token without its signature, kept beside the token
        in the keyring: core/identity/keyring_store.py), checked as `verify(signature=False)`
        checks a token; the caller checks the token itself right after the first frame."""
        return self._holder(self.signer.peek_unsigned(unsigned, now))

    def _holder(self, claims: dict[str, Any]) -> Account:
        revoked = self._all("SELECT 1 FROM revoked_tokens WHERE jti = ?", claims["jti"])
        rows = self._all(
            "SELECT id, username, created_at, password_hash FROM users WHERE id = ?",
            int(claims["sub"]),
        )
        row = _row(rows[0]) if rows else None
        self.signer.check_holder(
            claims,
            revoked=bool(revoked),
            password_hash=row["password_hash"] if row is not None else None,
        )
        assert row is not None
        return Account.model_validate(row)

    # -- the first screen -----------------------------------------------------------------

    def first_screen(
        self,
        user_id: int,
        *,
        status: SessionStatus | None,
        search: str | None,
        limit: int,
        tail: int,
    ) -> FirstScreen | None:
        """The first page (newest change first), its count and the newest session's `tail`
        newest parts, read in one transaction; None when the Store must open the story."""
        tail = max(1, min(tail, TAIL_PARTS))
        where = ["user_id = ?", "deleted_at IS NULL"]  # stories in the trash are not listed
        params: list[Any] = [user_id]
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if search:
            lower, pattern = sqlite_title_search(search)
            where.append(f"{'lower(title)' if lower else 'title'} LIKE ? ESCAPE '\\'")
            params.append(pattern)
        shelf = " AND ".join(where)
        conn = self._conn
        conn.execute("BEGIN")
        try:
            rows = self._all(
                f"SELECT {_SESSION_COLUMNS} FROM story_sessions WHERE {shelf} "
                "ORDER BY updated_at DESC, id DESC LIMIT ?",
                *params,
                limit + 1,
            )
            total = self._all(f"SELECT count(*) FROM story_sessions WHERE {shelf}", *params)[0][0]
            items = [self._session(r) for r in rows[:limit]]
            parts = self._tail(items[0].id, tail) if items else []
        finally:
            conn.execute("COMMIT")
        page = Page[Session](
            items=items,
            next_cursor=page_cursor(items[-1]) if len(rows) > limit else None,
        )
        if not items:
            return FirstScreen(page=page, total=total, opened=None)
        if parts and is_stale(parts[-1]):
            return None
        opened = OpenedSession(
            session=items[0],
            parts=parts,
            has_more_before=bool(parts) and parts[0].seq > 1,
        )
        return FirstScreen(page=page, total=total, opened=opened)

    def _session(self, row: sqlite3.Row) -> Session:
        data = _row(row)
        for key in ("session_metadata", "memory"):
            data[key] = json.loads(data[key]) if data[key] else {}
        return Session.model_validate(data)

    def _tail(self, session_id: str, tail: int) -> list[Part]:
        rows = self._all(
            f"SELECT {_PART_COLUMNS} FROM story_parts WHERE session_id = ? "
            "ORDER BY seq DESC LIMIT ?",
            session_id,
            tail,
        )
        return [Part.model_validate(_row(r)) for r in reversed(rows)]
