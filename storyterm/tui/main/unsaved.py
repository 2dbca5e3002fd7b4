"""Never losing a word in the app: text whose save failed stays on screen and is saved again.

When the final save of a part fails (a full disk, a database that went away), the core keeps the
text in a recovery file (core/recovery.py) and Generation leaves the part on screen with every
word, its header marked "unsaved · retrying". UnsavedParts then puts the file's text back into
its story (recovery.put_back decides where: into the take it was being written into, as a new
take of its part, or as a new part at the end) a few seconds later, and again after a wait that
doubles up to RETRY_CAP, until the save works; then the mark goes, the file is deleted and the
writer is told. It also finds the writer's recovery files left by earlier runs, says when the
open story has some, and puts them all back when the writer presses R.

Each attempt runs in a thread worker of the story column and answers with a message (PutBack,
NotPutBack, RecoveriesFound) that the column hands back here. The same file is never put back
twice: attempts run one at a time, and a file put back is remembered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import structs

from storyterm.core.basics import PartState
from storyterm.core.recovery import list_recoveries, part_state, put_back, save_failure_cause
from storyterm.errors import AuthError, InvalidInput, StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import NotPutBack, PutBack, RecoveriesFound
from storyterm.tui.text import count, one_line
from storyterm.tui.widgets.unsaved_marks import UnsavedMark

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.widget import Widget

    from storyterm.core.recovery import Recovered
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Part
    from storyterm.tui.widgets.story_view import StoryView

#: Seconds before a failed save is first tried again; each failure doubles it, up to RETRY_CAP.
FIRST_RETRY = 2.0
RETRY_CAP = 30.0
#: What the header of a part whose save failed says after "unsaved".
RETRYING = "retrying"
#: ... when not even a recovery file could be written: the screen alone has the text.
COPY_IT = "copy it from here"
#: ... when no try can put it back (the file is damaged, or another writer is logged in).
IN_ITS_FILE = "kept in its recovery file"


def unsaved_part(part: Part, text: str, recovered: Recovered | None) -> Part:
    """`part` (as last shown while it streamed) holding all of `text`, which its final save
    could not store: how it stays on screen."""
    unsaved = recovered.unsaved if recovered is not None else None
    return structs.replace(
        part,
        id=(unsaved.part_id if unsaved is not None else None) or part.id,
        content=text,
        word_count=len(text.split()),
        state=part_state(unsaved) if unsaved is not None else PartState.INTERRUPTED,
    )


def unsaved_hint(recovered: Recovered | None) -> str:
    """What the app does about a text its save failed to store (after the core's message,
    which says why and where the text is kept)."""
    if recovered is None:
        return "The part stays on screen, marked unsaved: copy its text before you quit."
    return (
        "storyterm keeps trying to save them every few seconds until it works; the part stays "
        "on screen, marked unsaved, until then."
    )


def quit_question(files: list[Path], on_screen: list[tuple[str, int]]) -> tuple[str, str] | None:
    """What the writer is asked before quitting with text the database has not saved (None:
    there is none): the question, and where the text is."""
    if not files and not on_screen:
        return None
    texts = count(len(files) + len(on_screen), "part")
    detail = []
    if files:
        detail.append(
            f"Kept in {', '.join(str(f) for f in files)}: the next time storyterm opens, R puts "
            "it back (or `storyterm recover FILE`)."
        )
    for title, seq in on_screen:
        detail.append(f"Part {seq} of “{one_line(title)}” is on screen only: copy it first.")
    return f"Quit with {texts} not saved in the story?", " ".join(detail)


def exit_note(files: list[Path], on_screen: list[tuple[str, int]]) -> str | None:
    """What is printed once the app has closed, when text the database has not saved is kept
    in recovery files (None: there is none)."""
    if not files:
        return None
    kept = "\n".join(f"  {f}" for f in files)
    return (
        f"storyterm: text the database could not save is kept in:\n{kept}\n"
        "`storyterm recover FILE` puts it back into its story (or R in the app)."
    )


def _where(recovered: Recovered, part: str = "part") -> str:
    unsaved = recovered.unsaved
    return f"{part} {unsaved.seq} of “{one_line(unsaved.title)}”"


class _Retry:
    """A failed save of this run, being tried again."""

    __slots__ = ("cause", "delay", "mark", "recovered", "timer")

    def __init__(self, recovered: Recovered, mark: UnsavedMark) -> None:
        self.recovered = recovered
        #: How the story pane shows the text meanwhile.
        self.mark = mark
        self.delay = FIRST_RETRY
        self.timer: Timer | None = None
        #: Why the last try failed (the writer is told again only when this changes).
        self.cause = recovered.unsaved.cause


class UnsavedParts:
    """The writer's texts that a failed save kept in recovery files, until they are saved."""

    def __init__(
        self, host: Widget, runtime: Runtime, writer: Callable[[], int], story: StoryView
    ) -> None:
        #: Runs the workers and timers, shows notifications, receives the messages (the column).
        self._host = host
        self._runtime = runtime
        self._writer = writer
        self._story = story
        #: This run's failed saves, by recovery file: tried again until saved.
        self._retrying: dict[Path, _Retry] = {}
        #: The writer's other recovery files (earlier runs, other windows): back on R.
        self._waiting: dict[Path, Recovered] = {}
        #: Texts not even a recovery file could keep: (story title, part number).
        self._on_screen_only: list[tuple[str, int]] = []
        #: Files the writer has been told are waiting (once each), and files being tried now.
        self._told: set[Path] = set()
        self._trying: set[Path] = set()
        #: Files put back by this run: a retry and R meeting never put a text back twice.
        self._done: set[Path] = set()
        self._one_at_a_time = threading.Lock()

    @property
    def waiting(self) -> bool:
        """Whether any text of the writer waits to be put back (R has something to do)."""
        return bool(self._retrying or self._waiting)

    def files(self) -> list[Path]:
        """The recovery files of this run's failed saves, not saved yet."""
        return list(self._retrying)

    def lost_on_quit(self) -> list[tuple[str, int]]:
        """The parts whose text only the screen has (story title, part number)."""
        return list(self._on_screen_only)

    # -- a save that failed in this run ----------------------------------------------------

    def keep(self, part: Part, recovered: Recovered | None) -> None:
        """`part` (shown with all its text) could not be saved: keep it shown, marked, also when
        mounted again; save it again from `recovered` until that works (without a recovery
        file, the writer can only copy it)."""
        state = PartState.INTERRUPTED if recovered is None else part_state(recovered.unsaved)
        note = RETRYING if recovered is not None else COPY_IT
        mark = UnsavedMark(part.content, state, note, part_id=part.id or None, take=part.take)
        self._story.keep_unsaved(part.session_id, part.seq, mark)
        if recovered is None:
            title = self._story.session.title if self._story.session is not None else ""
            self._on_screen_only.append((title, part.seq))
            return
        retry = _Retry(recovered, mark)
        self._retrying[recovered.path] = retry
        self._waiting.pop(recovered.path, None)
        self._later(retry)

    def _later(self, retry: _Retry) -> None:
        retry.timer = self._host.set_timer(retry.delay, partial(self._try, [retry.recovered]))

    # -- putting texts back ----------------------------------------------------------------

    def put_back_all(self) -> None:
        """R: every unsaved text of the writer back into its part now. The recovery files are
        read again first (RecoveriesFound), so files written since the app started count."""
        self.look(put_back=True)

    def look(self, *, put_back: bool = False) -> None:
        """Read which recovery files of the writer there are (RecoveriesFound)."""
        run_in_thread(self._host, self._look, put_back, group="recoveries", exclusive=True)

    def _look(self, put_back: bool) -> None:
        try:
            writer = self._writer()
        except AuthError:  # logged out (or the login refused) since: nobody's files to look for
            return
        found = [
            r
            for r in list_recoveries(self._runtime.settings.state_dir)
            if r.unsaved.user_id == writer
        ]
        self._host.post_message(RecoveriesFound(found, put_back=put_back))

    def found(self, event: RecoveriesFound, open_session: str | None) -> None:
        """The writer's recovery files: remember those not of this run; say how many wait for
        the open story; with R, put them all back."""
        self._waiting = {r.path: r for r in event.found if r.path not in self._retrying}
        if not event.put_back:
            self.tell(open_session, all_stories=True)
            return
        if not self._retrying and not self._waiting:
            self._host.notify("No unsaved text is waiting: every word is saved.", markup=False)
            return
        for retry in self._retrying.values():
            if retry.timer is not None:
                retry.timer.stop()
        self._try([*(r.recovered for r in self._retrying.values()), *self._waiting.values()])

    def tell(self, session_id: str | None, *, all_stories: bool = False) -> None:
        """Say (once per file) how many unsaved parts of the open story (`session_id`) wait in
        recovery files; with `all_stories` (at start-up), of the other stories too."""
        new = [r for path, r in self._waiting.items() if path not in self._told]
        here = [r for r in new if r.unsaved.session_id == session_id]
        others = [r for r in new if r.unsaved.session_id != session_id] if all_stories else []
        told = here + others
        if not told:
            return
        self._told.update(r.path for r in told)
        if here:
            what = f"{count(len(here), 'unsaved part')} of “{one_line(here[0].unsaved.title)}”"
            if others:
                what += f" and {count(len(others), 'more')} of other stories"
        else:
            what = f"{count(len(others), 'unsaved part')} of your stories"
        self._host.notify(
            f"{what} {'waits' if len(told) == 1 else 'wait'} in recovery files: the database "
            "could not save them when they were written. Esc, then R, puts them back into "
            "their parts.",
            title="Unsaved text",
            severity="warning",
            timeout=20,
            markup=False,
        )

    def _try(self, found: Iterable[Recovered]) -> None:
        todo = [r for r in found if r.path not in self._trying]
        self._trying.update(r.path for r in todo)
        if todo:
            run_in_thread(self._host, self._put_back, todo, group="put-back")

    def _put_back(self, found: list[Recovered]) -> None:
        post = self._host.post_message
        for recovered in found:
            path = recovered.path
            with self._one_at_a_time:
                if path in self._done:
                    continue  # put back by another try meanwhile
                if not path.exists():
                    post(NotPutBack(recovered, None))
                    continue
                try:
                    runtime = self._runtime
                    part, how = put_back(
                        runtime.sessions, runtime.history, self._writer(), recovered
                    )
                except StorytermError as exc:
                    post(NotPutBack(recovered, exc))
                    continue
                self._done.add(path)
                left = ""
                try:
                    path.unlink()
                except OSError as exc:
                    left = f"{path} could not be deleted ({exc.strerror or exc})"
            post(PutBack(recovered, part, how, left))

    # -- what the tries came to (routed here by the story column) ----------------------------

    def put(self, event: PutBack) -> None:
        """The text is saved: the mark goes, and the writer is told where it went."""
        recovered = event.recovered
        unsaved = recovered.unsaved
        self._trying.discard(recovered.path)
        self._retrying.pop(recovered.path, None)
        self._waiting.pop(recovered.path, None)
        self._story.forget_unsaved(unsaved.session_id, unsaved.seq)
        left = f" The text is back, but {event.file_left}." if event.file_left else ""
        self._host.notify(
            f"Saved: the {count(recovered.words, 'word')} of {_where(recovered)} that could not "
            f"be saved are in the story now ({event.how}).{left}",
            title="Saved",
            timeout=10,
            markup=False,
        )

    def not_put(self, event: NotPutBack) -> None:
        """The text could not be put back: this run's failed saves are tried again later (the
        writer is told when the reason changes); others stay waiting for R."""
        recovered, error = event.recovered, event.error
        self._trying.discard(recovered.path)
        retry = self._retrying.get(recovered.path)
        if error is None:  # the file is gone: put back elsewhere (`storyterm recover`)
            self._retrying.pop(recovered.path, None)
            self._waiting.pop(recovered.path, None)
            self._story.forget_unsaved(recovered.unsaved.session_id, recovered.unsaved.seq)
            self._host.notify(
                f"The recovery file of {_where(recovered)} is gone ({recovered.path}); it was "
                "put back or removed elsewhere, so the part shows what the database holds.",
                severity="warning",
                markup=False,
            )
            return
        if retry is None or isinstance(error, InvalidInput):
            # Not one of this run's saves, or a file no try can put back: it stays on disk,
            # and the part keeps showing its text, saying where it is.
            if retry is not None:
                del self._retrying[recovered.path]
                retry.mark.note = IN_ITS_FILE
                unsaved = recovered.unsaved
                self._story.keep_unsaved(unsaved.session_id, unsaved.seq, retry.mark)
            self._host.notify(
                f"Could not put back {_where(recovered)}: {error.message} The text stays in "
                f"{recovered.path}.",
                title="Not saved yet",
                severity="warning",
                timeout=15,
                markup=False,
            )
            return
        retry.delay = min(retry.delay * 2, RETRY_CAP)
        cause = save_failure_cause(error)
        if cause != retry.cause:
            retry.cause = cause
            self._host.notify(
                f"{_where(recovered, 'Part')} is still not saved ({cause}). storyterm "
                f"tries again every {retry.delay:.0f} seconds; its text is safe in "
                f"{recovered.path}.",
                title="Not saved yet",
                severity="warning",
                timeout=15,
                markup=False,
            )
        self._later(retry)

    def forget(self) -> None:
        """The writer logged out: stop trying (the files stay; the next login's R finds them)."""
        for retry in self._retrying.values():
            if retry.timer is not None:
                retry.timer.stop()
        self._retrying.clear()
        self._waiting.clear()
