"""A SQLite database that runs out of room on demand: SQLite's own "database or disk is full"
(SQLITE_FULL), from its max_page_count limit set to the pages the file has, on every connection
taken from a pool in this process while `full` is set."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

#: SQLite's highest max_page_count (what a connection is given back).
NO_LIMIT = 2**31 - 2


class DiskFull:
    """Switch `full` on and every SQLite write that needs a new page fails as on a full disk."""

    def __init__(self) -> None:
        self.full = threading.Event()

    def checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        if self.full.is_set():
            pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")
        else:
            dbapi_connection.execute(f"PRAGMA max_page_count = {NO_LIMIT}")


@contextmanager
def disk_full_switch() -> Iterator[DiskFull]:
    switch = DiskFull()
    event.listen(Pool, "checkout", switch.checkout)
    try:
        yield switch
    finally:
        event.remove(Pool, "checkout", switch.checkout)
