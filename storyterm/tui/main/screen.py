"""The writer's room: sessions on the left, the story on the right, the direction under it.

The screen composes the widgets and routes; the work has owners, beside it in tui/main/: Boot
(boot.py) finds the writer and Arrival (arrival.py) shows what it found, StoryChanges
(changes.py) puts changes to the stories on the widgets, made here or in other windows (live.py,
live_story.py), and the story column (story_column.py) holds the story pane and the
direction bar with what is done to the open story: the part being written (Generation), its
other use cases (StoryActions) and its takes, undo and the trash (HistoryActions). The widgets
own what they show: the panes load their own pages from a Reader (tui/readers.py), the story
pane opens the story the list's cursor rests on, the direction bar says why it cannot be written
in. A key comes here and goes to its owner; what the owners' workers post back
(tui/messages.py) comes here, through the story column for its owners, and goes onto the
widgets. Nothing here waits on the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property, partial
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from storyterm.errors import NotFound
from storyterm.tui.main.arrival import Arrival
from storyterm.tui.main.boot import Boot
from storyterm.tui.main.changes import StoryChanges
from storyterm.tui.main.keys import (
    ALWAYS_SHOWN,
    MAIN_KEYS,
    available,
    help_screen,
    logout_command,
    palette_commands,
    story_key,
)
from storyterm.tui.main.panes import Panes
from storyterm.tui.main.story_column import StoryColumn
from storyterm.tui.messages import (
    Booted,
    BootFailed,
    ClosedElsewhere,
    ContextLabel,
    Crashed,
    Health,
    HistoryStepped,
    LiveHeard,
    LoggedOut,
    LoginRefused,
    NeedLogin,
    SessionChanged,
    SessionDeleted,
    SessionStarted,
    StoryOpened,
    TrashClosed,
    WorkFailed,
)
from storyterm.tui.readers import Reader, ServiceCheck
from storyterm.tui.widgets.direction import DirectionInput
from storyterm.tui.widgets.key_bar import KeyBar
from storyterm.tui.widgets.session_list import SessionsPanel
from storyterm.tui.widgets.status_bar import StatusBar
from storyterm.tui.widgets.story_view import StoryView
from storyterm.tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from pathlib import Path

    from storyterm.core.runtime import Runtime
    from storyterm.core.views import OpenedSession, Session
    from storyterm.tui.host import HostApp
    from storyterm.tui.main.history_actions import HistoryActions


class MainScreen(Screen[None]):
    """The main screen, as DESIGN.md sketches it."""

    #: Focus goes once to where the boot leaves the writer (on_mount): every focus change
    #: restyles the panes with :focus rules, so none on the way.
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = MAIN_KEYS

    #: The open session (bound down to the title bar, story column and status line).
    session: reactive[Session | None] = reactive(None, init=False, bindings=True)

    app: HostApp

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.boot = Boot(self, runtime, query=lambda: (self.panel.status, self.panel.search))

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The panes page through the writer's stories themselves, from one reader.
        reader = Reader(self.runtime, self._writer_id)
        yield TitleBar().data_bind(MainScreen.session)
        with Horizontal(id="body"):
            yield SessionsPanel(self.app.now, reader, id="sessions-panel")
            yield StoryColumn(
                self.runtime, reader, self._writer_id, self.app.report_error, id="story-column"
            ).data_bind(MainScreen.session)
        yield StatusBar(ServiceCheck(self.runtime)).data_bind(MainScreen.session)
        yield KeyBar(always=ALWAYS_SHOWN)

    @property
    def panel(self) -> SessionsPanel:
        return self.query_one(SessionsPanel)

    @property
    def column(self) -> StoryColumn:
        return self.query_one(StoryColumn)

    @property
    def story(self) -> StoryView:
        return self.column.story

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def generating(self) -> bool:
        """A part is being written (the story column runs it)."""
        return self.column.generating

    @property
    def booted(self) -> bool:
        """A known writer's stories are on screen: the screen can act."""
        return self.boot.booted

    @property
    def history(self) -> HistoryActions:
        """The open story's takes, undo and the trash (the story column's)."""
        return self.column.history

    def _writer_id(self) -> int:
        """Who the owners' workers act for: the app's writer, read when a worker runs. A
        worker can run after a logout or a refused login (AuthError, not a crash)."""
        return self.app.writer_id

    def on_mount(self) -> None:
        self.arrival.start()

    @property
    def holding_keys(self) -> bool:
        """Not ready yet: the keys typed wait (typeahead.py). That is from the start: keys read
        with the first screenful are handled before this screen's mount has begun the boot."""
        return not self.is_mounted or (self.boot.booting and not self.booted)

    def on_key(self, event: events.Key) -> None:
        if self.holding_keys:
            self.boot.typed.hold(event)

    # -- who is writing, and the first screenful (tui/main/boot.py, arrival.py) ---------------

    @cached_property
    def panes(self) -> Panes:
        return Panes(self.panel, self.column, self.status_bar, self.query_one(TitleBar))

    @cached_property
    def arrival(self) -> Arrival:
        first = partial(self._show_opened, focus_input=True)
        return Arrival(self, self.app, self.boot, self.panes, self.changes, first)

    @on(NeedLogin)
    def _need_login(self, event: NeedLogin) -> None:
        self.arrival.need_login(event)

    @on(Booted)
    async def _booted(self, event: Booted) -> None:
        await self.arrival.booted(event)

    @on(BootFailed)
    async def _boot_failed(self, event: BootFailed) -> None:
        await self.arrival.failed(event)

    def _require_boot(self) -> bool:
        """True when the screen can act; otherwise start (or wait for) the boot and say so."""
        return self.arrival.required()

    def action_logout(self) -> None:
        """Revoke the saved login, forget it here, and show the login screen."""
        if self._require_boot() and self.boot.can_log_out() and not self._busy("log out"):
            self.boot.logout(self.app.username or "")

    @on(LoggedOut)
    async def _logged_out(self, event: LoggedOut) -> None:
        await self._forget_writer("Logged out.")
        self.notify(f"Logged out {event.username}.", markup=False)

    @on(LoginRefused)
    async def _login_refused(self, event: LoginRefused) -> None:
        """The saved login failed its full check after the first frame: nothing of it stays on
        screen, and the writer logs in again."""
        if self.generating:
            self.action_stop()
        await self._forget_writer("Please log in again.", event.reason)

    async def _forget_writer(self, note: str, reason: str | None = None) -> None:
        """Nothing of the writer stays on screen; the login screen follows (NeedLogin)."""
        self.session = None
        await self.arrival.forget(note, reason)

    # -- the session list ------------------------------------------------------------------

    @on(SessionsPanel.QueryChanged)
    def _query_changed(self, event: SessionsPanel.QueryChanged) -> None:
        if self.booted:
            self.panel.load(reset=True, keep=self.session.id if self.session else None)

    @on(SessionsPanel.Highlighted)
    def _highlighted(self, event: SessionsPanel.Highlighted) -> None:
        self.column.highlighted(event.session_id)

    @on(SessionsPanel.Chosen)
    def _chosen(self, event: SessionsPanel.Chosen) -> None:
        self.column.chosen(event.session_id)

    # -- opening a story -------------------------------------------------------------------

    def open_session(self, session_id: str, *, focus_input: bool = False) -> None:
        self.column.open(session_id, focus_input=focus_input)

    @on(StoryOpened)
    async def _story_opened(self, event: StoryOpened) -> None:
        await self._show_opened(event.opened, focus_input=event.focus_input)

    async def _show_opened(self, opened: OpenedSession, *, focus_input: bool) -> bool:
        """Show the story; True when the direction input was given the focus."""
        # One repaint for the title, the list row, the input and the story together.
        with self.app.batch_update():
            self.session = opened.session
            self.panel.update_session(opened.session)
            await self.story.show(opened)
        return self.column.shown(opened.session, focus_input=focus_input)

    # -- changes to the stories, made here or elsewhere (tui/main/changes.py, live.py) -------

    @cached_property
    def changes(self) -> StoryChanges:
        report = self.app.report_error
        return StoryChanges(
            self, self.runtime, self.panes, open_session=self.open_session, report_error=report
        )

    def _is_open(self, session_id: str | None) -> bool:
        return self.session is not None and self.session.id == session_id

    @on(LiveHeard)
    async def _live_heard(self, event: LiveHeard) -> None:
        await self.changes.live.heard(event.items)

    @on(ClosedElsewhere)
    async def _closed_elsewhere(self, event: ClosedElsewhere) -> None:
        if self._is_open(event.session_id):
            self.session = None
            await self.changes.closed_elsewhere(event)

    def on_unmount(self) -> None:
        self.changes.stop_listening()

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        was_open = isinstance(event.error, NotFound) and self._is_open(event.session_id)
        if was_open:
            self.session = None
        self.changes.failed(event, booted=self.booted, was_open=was_open)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            if event.worker.group == "boot":
                self.boot.failed()
            self.post_message(Crashed(event.worker))  # the app tells the writer

    # -- the open story's use cases (the story column's StoryActions and HistoryActions) --------

    def _current(self, what: str) -> Session | None:
        """The open session, or None after telling the writer there is none."""
        if not self._require_boot():
            return None
        if self.session is None:
            self.notify(f"Open a story first to {what} it (pick one on the left, or n).")
            return None
        return self.session

    def _busy(self, then: str) -> bool:
        """True, after telling the writer, while a part is being written."""
        if self.generating:
            self.notify(f"A part is being written. Stop it first (Esc), then {then}.")
        return self.generating

    def on_story(self, what: str, act: Callable[[Session], object], busy: str = "") -> None:
        """`act` on the open story (`what` it is, for the writer told there is none); with
        `busy`, not while a part is being written (`busy` says what to do then)."""
        if (session := self._current(what)) is not None and not (busy and self._busy(busy)):
            act(session)

    # (keys.story_key: each calls on_story with the open session)
    action_pause = story_key("pause", lambda column: column.actions.pause)
    action_resume = story_key("resume", lambda column: column.actions.resume)
    action_complete = story_key("complete", lambda column: column.actions.complete)
    action_reopen = story_key("reopen", lambda column: column.history.reopen)
    action_delete = story_key("delete", lambda column: column.history.delete, busy="delete")
    action_bible = story_key("edit the bible of", lambda column: column.actions.edit_bible)
    action_lore = story_key("open the lorebook of", lambda column: column.actions.edit_lore)
    action_edit_part = story_key("edit", lambda column: column.actions.edit_part)
    action_model = story_key("choose the model of", lambda column: column.actions.choose_model)
    action_view_context = story_key("see the context of", lambda c: c.actions.view_context)
    action_copy_part = story_key("copy a part of", lambda c: c.actions.copy_part)

    def action_export(self, choose: str = "") -> None:
        """e: the story as files (updated in place next time); ctrl+e asks formats and folder."""
        self.on_story("export", lambda s: self.column.actions.export(s, choose=bool(choose)))

    def action_copy_export_folder(self) -> None:
        self.column.actions.copy_export_folder()

    @on(SessionChanged)
    def _session_changed(self, event: SessionChanged) -> None:
        if self._is_open(event.session.id):
            self.session = event.session
        self.changes.changed(event, self.session, self.focused)

    @on(SessionDeleted)
    async def _deleted(self, event: SessionDeleted) -> None:
        self.notify(self.history.deleted(event), markup=False)
        await self._gone(event.session_id)

    async def _gone(self, session_id: str) -> None:
        """The story left the list (to the trash): show the next one."""
        was_open = self._is_open(session_id)
        if was_open:
            self.session = None
        await self.changes.gone(session_id, was_open=was_open)

    # -- takes, undo and the trash (tui/main/history_actions.py) ------------------------------

    action_previous_take = story_key(
        "compare the takes of", lambda c: partial(c.history.flip, step=-1), "flip takes"
    )
    action_next_take = story_key(
        "compare the takes of", lambda c: partial(c.history.flip, step=1), "flip takes"
    )
    action_delete_part = story_key(
        "delete a part of", lambda c: c.history.delete_part, busy="delete a part"
    )

    def action_undo(self) -> None:
        if self._require_boot() and not self._busy("undo"):
            self.history.step(self.session, redo=False)

    def action_redo(self) -> None:
        if self._require_boot() and not self._busy("redo"):
            self.history.step(self.session, redo=True)

    def action_trash(self) -> None:
        if self._require_boot():
            self.history.open_trash()

    def action_recover(self) -> None:
        """R: the text failed saves kept in recovery files, back into its parts."""
        if self._require_boot():
            self.column.unsaved.put_back_all()

    @on(HistoryStepped)
    async def _history_stepped(self, event: HistoryStepped) -> None:
        self.notify(event.note, markup=False)
        session = event.session
        if session is None:  # (back) in the trash
            await self._gone(event.session_id)
            return
        if self.panel.shows(session.id):
            self._session_changed(SessionChanged(session))
        self.changes.stepped(session, is_open=self._is_open(session.id))

    @on(TrashClosed)
    def _trash_closed(self, event: TrashClosed) -> None:
        self.changes.trash_closed(event.changes, self.session)

    # -- a new story -----------------------------------------------------------------------

    def action_new_session(self) -> None:
        if not self._require_boot():
            return
        if self.generating:
            self.notify("A part is being written. Wait for it, or stop it (Esc), then press n.")
            return
        self.column.actions.new_story()

    @on(SessionStarted)
    def _started(self, event: SessionStarted) -> None:
        self.panel.show_new(event.session.id)
        self.open_session(event.session.id, focus_input=True)

    # -- a part being written (the story column's Generation) ---------------------------------

    def generate(
        self, session: Session, direction: str, *, regenerate: bool, part: int | None = None
    ) -> None:
        """Ask the storyteller for the next part (or a new take of part `part`, else of the
        last part) and stream it in."""
        self.column.generate(session, direction, regenerate=regenerate, part=part)

    def action_stop(self) -> None:
        """Esc: stop the generation and keep what was written."""
        self.column.stop()

    async def stop_generation(self) -> None:
        """Stop a running generation and wait until its text is saved (quitting)."""
        await self.column.stop_and_wait()

    def unsaved(self) -> tuple[list[Path], list[tuple[str, int]]]:
        """Text the database has not saved (quitting): its recovery files, and the parts not
        even a file holds (story title, part number)."""
        return self.column.unsaved_files(), self.column.on_screen_only()

    def action_regenerate(self) -> None:
        if (session := self._current("regenerate a part of")) is not None:
            self.column.regenerate(session)

    def action_finish_part(self) -> None:
        session = self._current("finish a part of")
        if session is not None and not self._busy("finish the part"):
            self.column.finish(session)

    @on(Health)
    def _health(self, event: Health) -> None:
        self.status_bar.show(event)  # a generation found out whether Ollama answers

    @on(ContextLabel)
    def _context_label(self, event: ContextLabel) -> None:
        self.status_bar.context = event.label  # the story column's context meter

    # -- focus and small actions -----------------------------------------------------------

    @on(DirectionInput.Leave)
    def _direction_leave(self) -> None:
        self.panel.session_list.focus()

    def action_write(self) -> None:
        self.column.direction_bar.focus_input(explain=True)

    def action_search(self) -> None:
        self.remove_class("-zen")  # the list comes back
        self.panel.focus_search()

    def action_find(self, step: str) -> None:  # ctrl+f (0) searches; f3 / shift+f3 go on
        if self._require_boot():
            self.column.finder.step(self.session, int(step))

    def action_zen(self) -> None:
        """Hide the session list to give the story the whole width (z again brings it back)."""
        zen = not self.has_class("-zen")
        self.set_class(zen, "-zen")
        if zen and self.panel.has_focus_within:
            self.story.focus()

    def action_filter(self, status: str) -> None:
        self.remove_class("-zen")  # the list comes back
        self.panel.set_filter(status)
        self.panel.session_list.focus()

    def action_reload(self) -> None:
        if not self._require_boot():
            return
        keep = self.session.id if self.session else None
        self.panel.load(reset=True, keep=keep)
        if keep is not None and not self.generating:
            self.open_session(keep)
        self.status_bar.check()
        self.column.unsaved.look()  # recovery files other runs wrote since

    def action_select_part(self, step: int | str) -> None:  # [ ]: from any pane
        self.story.action_select_part(int(step))

    def action_help(self) -> None:
        self.app.push_screen(help_screen(StoryView.BINDINGS))

    action_keys_help = action_help  # f1: the same help, a key an input does not take

    async def action_quit(self) -> None:
        await self.app.action_quit()

    # -- footer and palette ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Decide what the footer shows: nothing that cannot work now."""
        if self.app.quitting:
            return False
        return available(
            action,
            self.session,
            generating=self.generating,
            focused=self.focused,
            part=self.story.target_part if action.endswith("_take") else None,
            unsaved=self.column.has_unsaved,
        )

    def system_commands(self) -> Iterable[SystemCommand]:
        """The main screen's actions for the command palette (ctrl+p)."""
        yield from palette_commands(self, self.BINDINGS)
        if self.booted:
            yield logout_command(self.app.username, self.action_logout)
