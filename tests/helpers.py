"""Small helpers shared by the tests."""

from __future__ import annotations

from storyterm.core.models import User
from storyterm.core.store import Store


def make_user(store: Store, username: str = "alice") -> int:
    """A user row made directly (the identity tests cover registration itself)."""
    users = User.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        return conn.execute(
            users.insert()
            .values(username=username, username_key=username.casefold(), password_hash="!")
            .returning(users.c.id)
        ).scalar_one()
