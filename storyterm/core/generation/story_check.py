"""The first step of a generation: read the story and check it can take the part (Run.prepare,
core/generation/run.py), while Ollama's listing is asked for at the same time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storyterm.core.basics import being_written_message, status_message
from storyterm.core.generation.continuation import check_finishable
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.core.text import clean_direction
from storyterm.errors import Conflict, InvalidTransition

if TYPE_CHECKING:
    from storyterm.core.generation.run import Run


async def check_story(
    run: Run, direction: str, regenerate: bool, part_seq: int | None, finish: bool
) -> None:
    """Read the story and check it can take the part: a new one, or a new take of part
    `part_seq` (default the newest), or with `finish` the rest of that interrupted part. Sets
    the run's session, direction and expected seq, and for a new take the part it replaces."""
    opened = await run.db(run.sessions.open, run.user_id, run.session_id, 1)
    session = opened.session
    if session.status is not SessionStatus.ACTIVE:
        raise InvalidTransition(status_message(session.title, session.status.value))
    direction = clean_direction(direction)
    last = opened.parts[-1] if opened.parts else None
    if last is not None and last.state is PartState.STREAMING:
        raise Conflict(being_written_message(last.seq, session.title))
    if regenerate or finish:
        if last is None:
            what = "finish" if finish else "write again"
            raise InvalidTransition(
                f"“{session.title}” has no part to {what} yet; continue it first."
            )
        target = last
        if part_seq is not None and part_seq != last.seq:
            target = await run.db(run.sessions.get_part, run.user_id, run.session_id, part_seq)
        if finish:
            check_finishable(target, direction)
            run.finishing_part = True
        run.replaced = target
        run.newest_only = part_seq is None
        direction = direction or target.direction
        run.expected_seq = target.seq
    else:
        run.expected_seq = session.part_count + 1
    run.direction = direction
    run.session = session
