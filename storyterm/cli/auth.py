"""Who is acting. Until accounts land (issue 3), commands act for one local writer."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import sqlalchemy as sa

from storyterm.core.models import User
from storyterm.core.runtime import Runtime


@dataclass(frozen=True)
class Actor:
    id: int
    username: str


def require_user(runtime: Runtime) -> Actor:
    users = User.__table__  # type: ignore[attr-defined]
    name = getpass.getuser() or "writer"
    with runtime.store.engine.begin() as conn:
        row = conn.execute(sa.select(users.c.id).where(users.c.username_key == name.casefold()))
        user_id = row.scalar()
        if user_id is None:
            user_id = conn.execute(
                users.insert()
                .values(username=name, username_key=name.casefold(), password_hash="!")
                .returning(users.c.id)
            ).scalar_one()
    return Actor(id=user_id, username=name)
