"""The benchmark dataset: one writer, 10,000 sessions, one of them 1,000 parts (~500,000 words).

Rows are generated deterministically and written with bulk inserts through SQLAlchemy Core on
the real schema (`open_database` migrates it first), so the database is exactly what the app
opens. The SQLite result is kept as a template file under bench/out/templates and copied for each
use; PostgreSQL databases are loaded from the same rows.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.common import OUT_DIR, log

#: Bump when the generator changes, so stale templates are not reused.
DATASET_VERSION = 6
#: Takes of every part of the big session (the chosen one and four others): writers regenerate
#: and edit, and the story must open as fast with every take kept.
TAKES_PER_PART = 5
USERNAME = "bench-writer"
PASSWORD = "correct horse battery staple"
#: Title words that searches look for: COMMON is in ~1 title in 20, RARE in exactly one.
COMMON_WORD = "Lighthouse"
RARE_WORD = "Quillfeather"
MISSING_WORD = "zzqx-nowhere"


@dataclass(frozen=True)
class Size:
    sessions: int
    big_parts: int
    big_words_per_part: int

    @property
    def label(self) -> str:
        return f"{self.sessions}s-{self.big_parts}p-{self.big_words_per_part}w"


FULL = Size(sessions=10_000, big_parts=1_000, big_words_per_part=470)
QUICK = Size(sessions=300, big_parts=120, big_words_per_part=470)


@dataclass
class Dataset:
    """What a benchmark needs to know about a generated database."""

    url: str
    user_id: int
    username: str
    password: str
    big_session_id: str
    big_parts: int
    big_words: int
    sessions: int
    parts: int
    size_label: str
    generated_in_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- text ----------------------------------------------------------------------------------

_VOCABULARY = (
    "the a an and but so then of to in on at by with from under over through after before "
    "while as if though when where night rain harbour lantern keeper letter storm sea salt "
    "glass road orchard winter summer map door window stair tower bell ship rope knife "
    "candle smoke ash river stone bridge market voice shadow light dark cold warm quiet loud "
    "old young she he they it we her his their its our Mara Tobias Elin Rafe Ione Caspar "
    "Wren Halloran walked ran turned looked listened waited whispered shouted laughed wept "
    "remembered forgot opened closed broke held carried found lost kept watched followed "
    "climbed fell rose read wrote burned slowly quickly softly suddenly again still almost "
    "never always perhaps once long short bright grey silver broken hidden distant narrow "
    "heavy thin sharp pale green red heart hand eyes breath name word page ink paper coat "
    "boots table chair fire wind wave tide morning evening hour year moment silence question "
    "answer promise secret truth lie debt"
)
_WORDS = _VOCABULARY.split()


class TextMaker:
    """Story-like Markdown paragraphs from a fixed vocabulary (deterministic, fast)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sentences = [self._sentence() for _ in range(3000)]

    def _sentence(self) -> str:
        words = self.rng.choices(_WORDS, k=self.rng.randint(6, 18))
        text = " ".join(words)
        text = text[0].upper() + text[1:]
        if self.rng.random() < 0.12:
            return f"“{text}?” she asked."
        if self.rng.random() < 0.05:
            return f"*{text}.*"
        return text + "."

    def paragraphs(self, words: int) -> str:
        """About `words` words in paragraphs of 3-7 sentences."""
        out: list[str] = []
        count = 0
        while count < words:
            para = self.rng.choices(self.sentences, k=self.rng.randint(3, 7))
            count += sum(s.count(" ") + 1 for s in para)
            out.append(" ".join(para))
        return "\n\n".join(out)

    def title(self, n: int) -> str:
        adjectives = ["Salt", "Winter", "Glass", "Hidden", "Silver", "Broken", "Distant", "Pale"]
        nouns = ["Roads", "Orchard", "Cartographer", "Letter", "Tide", "Bell", "Harbour", "Debt"]
        title = f"The {self.rng.choice(adjectives)} {self.rng.choice(nouns)}"
        if n % 20 == 7:
            title += f" of the {COMMON_WORD}"
        return f"{title} {n}"


# -- rows ----------------------------------------------------------------------------------


def _rows(size: Size, user_id: int, now: datetime) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """("sessions" | "parts", batch of rows), sessions before their parts."""
    rng = random.Random(20261128)
    text = TextMaker(rng)
    sessions: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []

    # The big one: the newest session, 1,000 parts of ~500 words, written over two months.
    big_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    started = now - timedelta(days=60)
    step = timedelta(days=60) / (size.big_parts + 1)
    big_words = 0
    for seq in range(1, size.big_parts + 1):
        content = text.paragraphs(size.big_words_per_part)
        words = len(content.split())
        big_words += words
        at = started + step * seq
        parts.append(_part(big_id, seq, text.paragraphs(12), content, words, at))
    sessions.append(
        {
            "id": big_id,
            "user_id": user_id,
            "title": "The Keeper's Letter",
            "status": "active",
            "model_name": "gemma3:latest",
            "session_metadata": {
                "genre": "mystery",
                "tone": "dark, patient",
                "premise": text.paragraphs(60),
                "characters": ["Mara, the keeper", "Tobias, her brother", "Elin, the pilot"],
            },
            # The storyteller's own keys (core/memory/prompt.py): a rolling summary through the part
            # just before the verbatim tail, so continuing needs no folding first.
            "memory": {
                "summary": text.paragraphs(300),
                "summary_through_seq": size.big_parts - 2,
            },
            "part_count": size.big_parts,
            "word_count": big_words,
            "version": size.big_parts + 1,
            "created_at": started,
            "updated_at": now,
            "paused_at": None,
            "completed_at": None,
        }
    )

    for n in range(1, size.sessions):
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        updated = now - timedelta(seconds=rng.uniform(3600, 730 * 86400))
        created = updated - timedelta(seconds=rng.uniform(0, 30 * 86400))
        roll = rng.random()
        status = "active" if roll < 0.6 else "paused" if roll < 0.85 else "completed"
        count = rng.randint(0, 3)
        words_total = 0
        for seq in range(1, count + 1):
            content = text.paragraphs(rng.randint(60, 200))
            words = len(content.split())
            words_total += words
            parts.append(_part(sid, seq, "", content, words, created + timedelta(minutes=seq)))
        title = text.title(n)
        if n == size.sessions // 2:
            title = f"The {RARE_WORD} Papers"
        sessions.append(
            {
                "id": sid,
                "user_id": user_id,
                "title": title,
                "status": status,
                "model_name": "gemma3:latest",
                "session_metadata": {"genre": rng.choice(["mystery", "fantasy", "romance"])},
                "memory": {},
                "part_count": count,
                "word_count": words_total,
                "version": count + 1,
                "created_at": created,
                "updated_at": updated,
                "paused_at": updated if status == "paused" else None,
                "completed_at": updated if status == "completed" else None,
            }
        )
        if len(sessions) >= 2000:
            yield "sessions", sessions
            sessions = []
        if len(parts) >= 2000 and not sessions:
            yield "parts", parts
            parts = []
    if sessions:
        yield "sessions", sessions
    if parts:
        yield "parts", parts


def _part(
    session_id: str, seq: int, direction: str, content: str, words: int, at: datetime
) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "seq": seq,
        "direction": direction,
        "content": content,
        "model_name": "gemma3:latest",
        "state": "done",
        "word_count": words,
        "prompt_tokens": 3000,
        "completion_tokens": int(words * 1.3),
        "created_at": at,
        "updated_at": at,
    }


# -- the writer ----------------------------------------------------------------------------


def create_writer(url: str) -> int:
    """The benchmark's writer, registered the way a real one is (identity's register when it
    exists, so the password hash and every column are what the app writes)."""
    from storyterm.core.storage.store import Store

    store = Store.open(url, None)
    try:
        try:
            from storyterm.core.identity.accounts import IdentityService
        except ImportError:
            IdentityService = None
        if IdentityService is not None:
            from storyterm.settings import load_settings

            account = IdentityService(store, load_settings(database_url=url)).register(
                USERNAME, PASSWORD
            )
            return int(account.id)
        from storyterm.core.storage.tables import User

        users: sa.Table = User.__table__  # type: ignore[attr-defined]
        with store.engine.begin() as conn:
            return int(
                conn.execute(
                    users.insert()
                    .values(username=USERNAME, username_key=USERNAME.casefold(), password_hash="!")
                    .returning(users.c.id)
                ).scalar_one()
            )
    finally:
        store.close()


# -- loading -------------------------------------------------------------------------------


def load(url: str, size: Size) -> Dataset:
    """Migrate the database at `url`, register the writer and bulk-insert the dataset."""
    from storyterm.core.storage.database import open_database
    from storyterm.core.storage.tables import StoryPart, StorySession, table_of

    t0 = time.perf_counter()
    engine = open_database(url)
    engine.dispose()
    user_id = create_writer(url)
    engine = open_database(url)
    sessions_t = table_of(StorySession)
    parts_t = table_of(StoryPart)
    now = datetime.now(UTC)
    n_sessions = n_parts = 0
    big_id = ""
    big_words = 0
    try:
        with engine.begin() as conn:
            for kind, rows in _rows(size, user_id, now):
                if kind == "sessions":
                    if not big_id:
                        big_id, big_words = rows[0]["id"], rows[0]["word_count"]
                    conn.execute(sessions_t.insert(), rows)
                    n_sessions += len(rows)
                else:
                    conn.execute(parts_t.insert(), rows)
                    n_parts += len(rows)
            _add_takes(conn, big_id, parts_t)
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            # VACUUM as well as ANALYZE: after a bulk load, autovacuum would otherwise vacuum
            # the new tables (PostgreSQL 13+ does so for inserts too) during the next area's
            # measurements; a database in use has long had that done.
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "VACUUM (ANALYZE)"
                )
    finally:
        engine.dispose()
    return Dataset(
        url=url,
        user_id=user_id,
        username=USERNAME,
        password=PASSWORD,
        big_session_id=big_id,
        big_parts=size.big_parts,
        big_words=big_words,
        sessions=n_sessions,
        parts=n_parts,
        size_label=size.label,
        generated_in_s=time.perf_counter() - t0,
    )


def _add_takes(conn: sa.Connection, session_id: str, parts_t: sa.Table) -> None:
    """Give every part of the big session TAKES_PER_PART takes: the row's own (chosen, the
    newest) and the others in part_takes, their texts borrowed from other parts."""
    try:
        from storyterm.core.storage.tables import PartTake, table_of
    except ImportError:  # a revision before takes
        return
    takes_t = table_of(PartTake)
    rows = conn.execute(
        sa.select(parts_t.c.id, parts_t.c.seq, parts_t.c.content, parts_t.c.created_at)
        .where(parts_t.c.session_id == session_id)
        .order_by(parts_t.c.seq)
    ).all()
    batch: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for number in range(1, TAKES_PER_PART):
            content = rows[(i + number * 7) % len(rows)].content
            batch.append(
                {
                    "part_id": row.id,
                    "number": number,
                    "kind": "generated" if number % 2 else "edited",
                    "take_from": number - 1 if number % 2 == 0 else None,
                    "direction": "",
                    "content": content,
                    "model_name": "gemma3:latest",
                    "state": "done",
                    "word_count": len(content.split()),
                    "created_at": row.created_at,
                    "updated_at": row.created_at,
                }
            )
        if len(batch) >= 2000:
            conn.execute(takes_t.insert(), batch)
            batch = []
    if batch:
        conn.execute(takes_t.insert(), batch)
    conn.execute(
        parts_t.update()
        .where(parts_t.c.session_id == session_id)
        .values(take=TAKES_PER_PART, takes=TAKES_PER_PART)
    )


def _template_path(size: Size) -> Path:
    from storyterm.core.storage.database import HEAD_REVISION

    return OUT_DIR / "templates" / f"dataset-v{DATASET_VERSION}-{size.label}-{HEAD_REVISION}.db"


def sqlite_copy(size: Size, name: str) -> Dataset:
    """A fresh working copy of the SQLite dataset (built once, then copied from the template)."""
    template = _template_path(size)
    info_path = template.with_suffix(".json")
    if not template.exists() or not info_path.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        building = template.with_suffix(".building.db")
        for stale in building.parent.glob(building.name + "*"):
            stale.unlink()
        log(f"generating the {size.label} dataset (once; kept as {template.name})")
        dataset = load(f"sqlite:///{building}", size)
        building.rename(template)
        for extra in ("-wal", "-shm"):
            Path(str(building) + extra).unlink(missing_ok=True)
        building.with_suffix(".migrate.lock").unlink(missing_ok=True)
        info_path.write_text(json.dumps(dataset.to_json(), indent=2))
        log(f"dataset generated in {dataset.generated_in_s:.1f} s")
    info = json.loads(info_path.read_text())
    work = OUT_DIR / "work" / f"{name}.db"
    work.parent.mkdir(parents=True, exist_ok=True)
    for stale in work.parent.glob(work.name + "*"):
        stale.unlink()
    shutil.copyfile(template, work)
    # The copy is ~30 MB of dirty pages the kernel would write back during the measurements.
    os.sync()
    info["url"] = f"sqlite:///{work}"
    return Dataset(**info)


def empty_sqlite(name: str) -> Dataset:
    """A migrated, empty SQLite database with the writer registered (no sessions)."""
    work = OUT_DIR / "work" / f"{name}.db"
    work.parent.mkdir(parents=True, exist_ok=True)
    for stale in work.parent.glob(work.name + "*"):
        stale.unlink()
    url = f"sqlite:///{work}"
    from storyterm.core.storage.database import open_database

    open_database(url).dispose()
    user_id = create_writer(url)
    return Dataset(url, user_id, USERNAME, PASSWORD, "", 0, 0, 0, 0, "empty")
