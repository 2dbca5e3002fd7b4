"""When the final save of a generation fails: the text goes to a recovery file (never lose a
word) and the part's claim is let go, so the story can be continued once the database works
again. core/generation/ending.py calls these."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from storyterm.core.basics import STREAM_STALE_AFTER
from storyterm.core.storage.tables import PartState, utcnow
from storyterm.core.views import Part
from storyterm.errors import StorytermError

if TYPE_CHECKING:
    from storyterm.core.generation.reply import Reply
    from storyterm.core.recovery import Recovered
    from storyterm.core.service import SessionService

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Where:
    """Where an unsaved text belongs: the story, the part and its take, and how it was asked
    for (`done`: the model had finished, so the text is a whole part)."""

    user_id: int
    session_id: str
    title: str
    part: Part
    direction: str
    model_name: str | None
    done: bool


def cause_of(error: StorytermError) -> str:
    """The real cause of a failed save, in the writer's words (a full disk, a database gone)."""
    from storyterm.core import recovery

    return recovery.save_failure_cause(error)


def keep(
    state_dir: Path, reply: Reply, text: str, where: Where, cause: str
) -> tuple[str, Recovered | None]:
    """Write `text` (the whole part as written) to a recovery file; returns what the writer is
    told, and the file as it can be read back (None when even that write failed)."""
    from storyterm.core import recovery

    part = where.part
    unsaved = recovery.Unsaved(
        user_id=where.user_id,
        session_id=where.session_id,
        title=where.title,
        seq=part.seq,
        part_id=part.id,
        take=part.take,
        part_created_at=part.created_at.isoformat(),
        direction=where.direction,
        model_name=where.model_name,
        state=(PartState.DONE if where.done else PartState.INTERRUPTED).value,
        cause=cause,
        written_at=recovery.now_text(),
    )
    try:
        path = recovery.write_recovery(state_dir, unsaved, text)
    except OSError as exc:
        log.error("could not write a recovery file for part %s either: %s", part.seq, exc)
        return reply.unsaved_note(cause, None, exc.strerror or str(exc)), None
    log.warning("the text of part %s is kept in %s", part.seq, path)
    return reply.unsaved_note(cause, path, None), recovery.Recovered(path, unsaved, text)


def let_go(sessions: SessionService, user_id: int, session_id: str, part: Part) -> str:
    """After a failed final save, the claim goes: a part left streaming counts as being
    written (every continue refused) until its last checkpoint is STREAM_STALE_AFTER old,
    though nothing writes it any more. Marking it interrupted is a small write that a
    database which refused the whole text may still take (a full disk with room for one
    page, a connection back). When it does not, says when the part stops counting as
    being written."""
    try:
        sessions.let_go_part(user_id, session_id, part.seq, expect=part)
        return ""
    except StorytermError as exc:
        log.warning("part %s stays marked as being written: %s", part.seq, exc)
    left = math.ceil((part.updated_at + STREAM_STALE_AFTER - utcnow()).total_seconds())
    if left <= 0:
        return ""
    return (
        f" Part {part.seq} counts as being written for {left} more "
        f"second{'s' if left != 1 else ''}; it can be continued after that."
    )
