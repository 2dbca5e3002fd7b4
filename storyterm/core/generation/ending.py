"""How a generation that did not finish is saved: the text so far as an interrupted part; with
no text, the take it replaced chosen again (regenerate) or the empty claim removed; and when
that save fails, the text in a recovery file and the claim let go (failed_save.py). Run
(core/generation/run.py) calls `save_end` when it is stopped, fails, or is abandoned."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from storyterm.core.generation import failed_save
from storyterm.core.storage.tables import PartState
from storyterm.errors import Conflict, InvalidTransition, StorytermError

if TYPE_CHECKING:
    from storyterm.core.generation.run import Run
    from storyterm.core.views import Part, Session

log = logging.getLogger(__name__)


def save_end(run: Run) -> tuple[Part | None, Session | None, str | None]:
    """Save how a stopped or failed generation ends. Returns the part kept, the session, and,
    if the save itself failed, what the writer is told of it (the text is then in a recovery
    file)."""
    run.db.wait_pending()
    if run.part is None or run.ended:
        return run.part, run.session, None
    run.ended = True
    seq, reply = run.part.seq, run.reply
    try:
        if reply.text.strip():
            part, session = run.sessions.checkpoint_part(
                run.user_id,
                run.session_id,
                seq,
                run.written(),
                state=PartState.INTERRUPTED,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens or reply.chunks or None,
                expect=run.part,
            )
            return part, session, None
        if run.replaced is not None:
            # The new take holds no word: the take it was made from is chosen again.
            kept = run.history.abandon_take(run.user_id, run.session_id, run.part)
            return kept, None, None
        try:
            session = run.sessions.remove_last_part(run.user_id, run.session_id, seq)
            return None, session, None
        except (InvalidTransition, Conflict):
            # Paused or completed elsewhere: only the newest part of an active story can go,
            # so keep the empty claim, marked interrupted.
            part, session = run.sessions.checkpoint_part(
                run.user_id, run.session_id, seq, "", state=PartState.INTERRUPTED
            )
            return part, session, None
    except StorytermError as exc:
        log.error("could not save the end of part %s: %s", seq, exc)
        let_go = failed_save.let_go(run.sessions, run.user_id, run.session_id, run.part)
        return None, None, keep_unsaved(run, exc) + let_go


def keep_unsaved(run: Run, error: StorytermError) -> str:
    """The text a failed save could not store, written to a recovery file (never lose a word);
    returns what the writer is told of it, and sets `run.recovery` to the file."""
    cause = failed_save.cause_of(error)
    if not run.reply.text.strip():  # no new word (a continuation's text is its take's)
        return f" ({cause})"
    assert run.part is not None
    note, run.recovery = failed_save.keep(
        run.settings.state_dir,
        run.reply,
        run.written(),
        failed_save.Where(
            user_id=run.user_id,
            session_id=run.session_id,
            title=run.session.title if run.session else "",
            part=run.part,
            direction=run.direction,
            model_name=run.model or None,
            done=run.finishing,
        ),
        cause,
    )
    return note
