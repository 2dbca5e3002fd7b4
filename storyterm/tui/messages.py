"""What workers post back when their use case is done or has failed, for the widgets to show.

Each carries views from the core (never a widget); the main screen and the panes route them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from textual.worker import Worker

    from storyterm.core.events import Event, Status
    from storyterm.core.export import ExportResult
    from storyterm.core.identity.accounts import Account
    from storyterm.core.memory.meter import ContextMeter
    from storyterm.core.recovery import Recovered
    from storyterm.core.views import OpenedSession, Page, Part, Session
    from storyterm.errors import StorytermError
    from storyterm.tui.screens.trash import TrashChanges

# Plain classes, as Textual writes its own: a dataclass compiles its methods from source when
# its module is imported, and this module is imported on every start-up.


class Authenticated(Message):
    """The writer is known (a saved login, or one just made): the app, which owns who is
    writing, takes the account from here. It reaches the app by bubbling up from the screen."""

    def __init__(self, account: Account, *, remember: bool = False) -> None:
        super().__init__()
        self.account = account
        #: The writer logged in by name here: the login screen offers that name next time.
        self.remember = remember


class Booted(Message):
    """The database is open and the writer known; the first page and newest story loaded."""

    def __init__(
        self,
        account: Account,
        database: str,
        cache: str | None,
        page: Page[Session],
        total: int,
        opened: OpenedSession | None,
    ) -> None:
        super().__init__()
        #: Whose stories these are (the app already has it from Authenticated).
        self.account = account
        self.database = database
        #: None while the cache is being checked (the Store opens after the first frame).
        self.cache = cache
        self.page = page
        self.total = total
        self.opened = opened


class BootFailed(Message):
    def __init__(self, error: StorytermError) -> None:
        super().__init__()
        self.error = error


class NeedLogin(Message):
    """Nobody is logged in (or the saved login no longer holds): show the login screen."""

    def __init__(self, reason: str | None, keyring_problem: str | None) -> None:
        super().__init__()
        #: Why the saved login was refused; None on a first run.
        self.reason = reason
        #: Why the keyring cannot keep the login (None when it can).
        self.keyring_problem = keyring_problem


class LoginRefused(Message):
    """The login the first frame was shown for failed its full check (Runtime.confirm_login):
    the screen forgets the writer's stories, and the app (it bubbles on) the writer."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class LoggedOut(Message):
    """The login was revoked and forgotten: the screen forgets the writer's stories, and the
    app (it bubbles on) the writer."""

    def __init__(self, username: str) -> None:
        super().__init__()
        self.username = username


class SessionsLoaded(Message):
    def __init__(
        self,
        request: int,
        page: Page[Session],
        reset: bool,
        total: int | None,
        keep: str | None,
        *,
        again: bool = False,
    ) -> None:
        super().__init__()
        self.request = request
        self.page = page
        self.reset = reset
        self.total = total
        self.keep = keep
        #: The loaded rows read again (SessionsPanel.refresh_loaded), not a page.
        self.again = again


class StoryOpened(Message):
    def __init__(self, opened: OpenedSession, focus_input: bool) -> None:
        super().__init__()
        self.opened = opened
        self.focus_input = focus_input


class OlderLoaded(Message):
    def __init__(self, session_id: str, parts: list[Part]) -> None:
        super().__init__()
        self.session_id = session_id
        self.parts = parts


class NewerLoaded(Message):
    def __init__(self, session_id: str, parts: list[Part], part_count: int) -> None:
        super().__init__()
        self.session_id = session_id
        self.parts = parts
        self.part_count = part_count


class SessionStarted(Message):
    """The writer started a new story: list it and open it."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


class PartsReloaded(Message):
    """The parts of the story pane's window, read again (after an undo, a deleted or restored
    part): `parts` from the window's first part on, and the story's part count. `asked` is
    the pane's count of its own changes when the read was asked for (StoryView.reload)."""

    def __init__(self, session_id: str, parts: list[Part], part_count: int, asked: int = 0) -> None:
        super().__init__()
        self.session_id = session_id
        self.parts = parts
        self.part_count = part_count
        self.asked = asked


class SessionChanged(Message):
    """A use case changed a session: show the new state, say what happened."""

    def __init__(self, session: Session, note: str = "", focus_input: bool = False) -> None:
        super().__init__()
        self.session = session
        self.note = note
        self.focus_input = focus_input


class GenerationEnded(Message):
    """The part being written is saved (or was never begun): show its session as it is now."""

    def __init__(self, session_id: str, outcome: Session | None, *, reopen: bool) -> None:
        super().__init__()
        self.session_id = session_id
        #: The session after the run; None when it did not finish (read it again).
        self.outcome = outcome
        #: Another window wrote meanwhile: open the story again to show what is stored.
        self.reopen = reopen


class SessionDeleted(Message):
    def __init__(self, session_id: str, title: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.title = title


class TakeShown(Message):
    """A part shows another of its takes (the writer flipped them with < or >)."""

    def __init__(self, part: Part, session: Session) -> None:
        super().__init__()
        self.part = part
        #: The story after the change (its word count follows the take).
        self.session = session


class PartDeleted(Message):
    """Part `seq` of the open story went to the trash (the parts after it moved up one)."""

    def __init__(self, session: Session, seq: int) -> None:
        super().__init__()
        self.session = session
        self.seq = seq


class HistoryStepped(Message):
    """An undo or a redo is done: what happened, in words, and the story as it now is (None
    when the step put it in the trash)."""

    def __init__(self, session_id: str, note: str, session: Session | None) -> None:
        super().__init__()
        self.session_id = session_id
        self.note = note
        self.session = session


class TrashClosed(Message):
    """The trash screen closed, having brought back or deleted for good what `changes` says."""

    def __init__(self, changes: TrashChanges) -> None:
        super().__init__()
        self.changes = changes


class RecoveriesFound(Message):
    """The writer's recovery files (text failed saves kept), read from disk; with `put_back`,
    the writer asked for them all to go back into their parts (R)."""

    def __init__(self, found: list[Recovered], *, put_back: bool) -> None:
        super().__init__()
        self.found = found
        self.put_back = put_back


class PutBack(Message):
    """A recovery file's text is saved in its story now (core recovery.put_back: `how` says
    where), and the file deleted, unless `file_left` says why it could not be."""

    def __init__(self, recovered: Recovered, part: Part, how: str, file_left: str) -> None:
        super().__init__()
        self.recovered = recovered
        self.part = part
        self.how = how
        self.file_left = file_left


class NotPutBack(Message):
    """A recovery file's text could not be put back: `error` says why (None: the file is gone,
    put back or deleted elsewhere)."""

    def __init__(self, recovered: Recovered, error: StorytermError | None) -> None:
        super().__init__()
        self.recovered = recovered
        self.error = error


class WorkFailed(Message):
    """A worker's use case said no: show the writer the message."""

    def __init__(self, error: StorytermError, session_id: str | None = None) -> None:
        super().__init__()
        self.error = error
        #: The story the use case was about (it may have been deleted meanwhile).
        self.session_id = session_id


class Crashed(Message):
    """A worker died of a bug, not a StorytermError. Textual tells only the worker's own
    widget, which posts this; it bubbles up to the app, which tells the writer."""

    def __init__(self, worker: Worker[Any]) -> None:
        super().__init__()
        self.worker = worker


class Exported(Message):
    def __init__(self, result: ExportResult) -> None:
        super().__init__()
        self.result = result


class ContextLoaded(Message):
    def __init__(self, title: str, messages: list[tuple[str, str]], lore: str = "") -> None:
        super().__init__()
        self.title = title
        self.messages = messages
        #: Which lore entries the prompt used and left out (core/memory/lore.py).
        self.lore = lore


class ContextMeasured(Message):
    """The open story's next prompt was planned (tui/main/gauge.py)."""

    def __init__(
        self, session_id: str, meter: ContextMeter | None, key: tuple[str, int] | None
    ) -> None:
        super().__init__()
        self.session_id = session_id
        #: None: it could not be planned (the database, say): the meter says nothing.
        self.meter = meter
        #: The (session id, version) it was planned for.
        self.key = key


class ContextLabel(Message):
    """What the status line's context meter says now ("ctx 5.1k/8k"; None: nothing)."""

    def __init__(self, label: str | None) -> None:
        super().__init__()
        self.label = label


class Warmed(Message):
    """The generation stack is loaded (the warm-up after the first frame is done)."""


class Health(Message):
    """What a check or a generation found out about Ollama and the cache (None: nothing).

    `model_error`: Ollama answered but the model failed (the short cause); `model_ok`: a
    generation went through, so an earlier model error is over (a check that only finds
    Ollama up says nothing about the model); `recheck`: it is unclear whether Ollama is up
    (a connection that broke off, a timeout): check now."""

    def __init__(
        self,
        ollama_up: bool | None,
        cache: str | None,
        *,
        model_error: str | None = None,
        model_ok: bool = False,
        recheck: bool = False,
    ) -> None:
        super().__init__()
        self.ollama_up = ollama_up
        self.cache = cache
        self.model_error = model_error
        self.model_ok = model_ok
        self.recheck = recheck


class LiveHeard(Message):
    """What the live events said (core/events): changes made in this window or any other, and
    the listener's word about itself (a Status: live from Redis, or watching the database)."""

    def __init__(self, items: list[Event | Status]) -> None:
        super().__init__()
        self.items = items


class LiveRead(Message):
    """The open story as the database holds it after a change heard live: the session (None:
    not read, or `gone`: not there any more) and its part `seq` (None: no such part)."""

    def __init__(
        self, session_id: str, session: Session | None, part: Part | None, *, gone: bool
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.session = session
        self.part = part
        self.gone = gone


class ClosedElsewhere(Message):
    """The open story was moved to the trash (or deleted for good) in another window: close
    it, saying so (`note`)."""

    def __init__(self, session_id: str, note: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.note = note
