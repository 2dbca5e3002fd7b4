"""The writer's room: sessions on the left, the story on the right, the direction under it.

The screen composes the widgets and routes; the work has owners, beside it in tui/main/: Boot
(boot.py) finds the writer, Generation (generation.py) writes a part, StoryActions
(story_actions.py) runs the open story's other use cases, HistoryActions (history_actions.py)
its takes, undo and the trash, and the widgets own what they show: the panes load their own
pages from a Reader (tui/readers.py), the story pane opens the story the list's cursor rests on,
the direction bar says why it cannot be written in. A key comes here and goes to its owner; what
the owners' workers post back (tui/messages.py) comes here and goes onto the widgets. Nothing
here waits on the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from storyterm.errors import DatabaseUnavailable, NotFound
from storyterm.tui.main.boot import Boot
from storyterm.tui.main.keys import MAIN_KEYS, available, help_sections, palette_commands
from storyterm.tui.messages import (
    Booted,
    BootFailed,
    ContextLoaded,
    Crashed,
    Exported,
    GenerationEnded,
    Health,
    HistoryStepped,
    LoggedOut,
    LoginRefused,
    NeedLogin,
    PartDeleted,
    SessionChanged,
    SessionDeleted,
    SessionStarted,
    StoryOpened,
    TakeShown,
    TrashClosed,
    WorkFailed,
)
from storyterm.tui.readers import Reader, ServiceCheck
from storyterm.tui.widgets.direction import DirectionBar, DirectionInput, why_disabled
from storyterm.tui.widgets.key_bar import KeyBar
from storyterm.tui.widgets.session_list import SessionsPanel
from storyterm.tui.widgets.status_bar import StatusBar
from storyterm.tui.widgets.story_view import GONE, NO_STORIES, NONE_LEFT, StoryView, could_not_open
from storyterm.tui.widgets.title_bar import TitleBar

if TYPE_CHECKING:
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import OpenedSession, Session
    from storyterm.tui.host import HostApp
    from storyterm.tui.main.generation import Generation
    from storyterm.tui.main.history_actions import HistoryActions
    from storyterm.tui.main.story_actions import StoryActions


class MainScreen(Screen[None]):
    """The main screen, as DESIGN.md sketches it."""

    #: Focus goes once to where the boot leaves the writer (on_mount): every focus change
    #: restyles the panes with :focus rules, so none on the way.
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = MAIN_KEYS

    #: The open session (bound down to the title bar, story view, direction bar and status line).
    session: reactive[Session | None] = reactive(None, init=False, bindings=True)
    generating: reactive[bool] = reactive(False, init=False, bindings=True)

    app: HostApp

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self.boot = Boot(self, runtime, query=lambda: (self.panel.status, self.panel.search))
        self._generation: Generation | None = None

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The panes page through the writer's stories themselves, from one reader.
        reader = Reader(self.runtime, self._writer_id)
        yield TitleBar().data_bind(MainScreen.session)
        with Horizontal(id="body"):
            yield SessionsPanel(self.app.now, reader, id="sessions-panel")
            with Vertical(id="story-column"):
                yield StoryView(reader, id="story").data_bind(MainScreen.session)
                yield DirectionBar(id="direction-bar").data_bind(
                    MainScreen.session, MainScreen.generating
                )
        yield StatusBar(ServiceCheck(self.runtime)).data_bind(MainScreen.session)
        yield KeyBar()

    @property
    def panel(self) -> SessionsPanel:
        return self.query_one(SessionsPanel)

    @property
    def story(self) -> StoryView:
        return self.query_one(StoryView)

    @property
    def direction_bar(self) -> DirectionBar:
        return self.query_one(DirectionBar)

    @property
    def status_bar(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def booted(self) -> bool:
        """A known writer's stories are on screen: the screen can act."""
        return self.boot.booted

    def _writer_id(self) -> int:
        """Who the owners' workers act for: the app's writer, read when a worker runs."""
        assert self.app.user_id is not None, "used before the boot worker found the writer"
        return self.app.user_id

    # The owners of the work the keys ask for: made (and their modules imported) when first
    # needed, after the first frame.

    @property
    def generation(self) -> Generation:
        """The part being written."""
        if self._generation is None:
            from storyterm.tui.main.generation import Generation

            bar, report = self.direction_bar, self.app.report_error
            self._generation = Generation(
                self, self.runtime, self._writer_id, self.story, bar, report
            )
        return self._generation

    @cached_property
    def actions(self) -> StoryActions:
        """The stories' use cases other than writing a part."""
        from storyterm.tui.main.story_actions import StoryActions

        return StoryActions(
            self,
            self.runtime,
            self._writer_id,
            push_screen=self.app.push_screen,
            stop_generation=self.generation.stop,
            story=self.story,
        )

    @cached_property
    def history(self) -> HistoryActions:
        """The open story's takes, undo and the trash."""
        from storyterm.tui.main.history_actions import HistoryActions

        return HistoryActions(
            self, self.runtime, self._writer_id, push_screen=self.app.push_screen, story=self.story
        )

    def on_mount(self) -> None:
        self._start()

    # -- who is writing, and the first screenful (tui/main/boot.py) -----------------------------

    def _start(self) -> None:
        """Open the database and find the writer, then the first page and the newest story."""
        if self.boot.start():
            self.status_bar.database_ok = None

    @on(NeedLogin)
    def _need_login(self, event: NeedLogin) -> None:
        bar = self.status_bar
        bar.database, bar.database_ok = self.runtime.database_backend, True
        self.panel.focus_list()  # where the writer lands when the login screen closes
        self.boot.ask_login(event, self.app.last_username)
        self.call_after_refresh(self.app.mark_ready, 0, "login")

    @on(Booted)
    async def _booted(self, event: Booted) -> None:
        self.boot.arrived()
        self.query_one(TitleBar).user = event.account.username
        bar = self.status_bar
        bar.database, bar.database_ok, bar.cache = event.database, True, event.cache
        self.panel.show_page(
            event.page.items, reset=True, cursor=event.page.next_cursor, total=event.total
        )
        focused = False
        if event.opened is not None:
            focused = await self._show_opened(event.opened, focus_input=True)
        else:
            await self.story.clear(NO_STORIES)
        if not focused and self.focused is None:
            self.panel.focus_list()
        self.call_after_refresh(self._ready)

    def _ready(self) -> None:
        """The list and the newest story are on screen: stop the clock, then do the rest."""
        self.app.mark_ready(self.panel.loaded_count, "main")
        self.boot.confirm()
        if self.status_bar.keep_checking():  # the first time only
            self.generation.warm(freeze=self.app.freezes_long_lived)
        self.status_bar.check()

    @on(BootFailed)
    async def _boot_failed(self, event: BootFailed) -> None:
        self.boot.failed()
        if isinstance(event.error, DatabaseUnavailable):
            self.status_bar.database_ok = False
        await self.story.clear(could_not_open(event.error.message))
        if self.focused is None:
            self.panel.focus_list()
        self.app.report_error(event.error)

    def _require_boot(self) -> bool:
        """True when the screen can act; otherwise start (or wait for) the boot and say so."""
        if self.booted:
            return True
        if self.boot.booting:
            self.notify("Still opening your stories: one moment.", markup=False)
        else:
            self.notify("Trying the database again…", markup=False)
            self._start()
        return False

    def action_logout(self) -> None:
        """Revoke the saved login, forget it here, and show the login screen."""
        if not self._require_boot():
            return
        if self.boot.can_log_out() and not self._busy("log out"):
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
        self.boot.forget(reason)
        self.session = None
        self.query_one(TitleBar).user = None
        self.panel.show_page([], reset=True)
        await self.story.clear(note)

    # -- the session list ------------------------------------------------------------------

    @on(SessionsPanel.QueryChanged)
    def _query_changed(self, event: SessionsPanel.QueryChanged) -> None:
        if self.booted:
            self.panel.load(reset=True, keep=self.session.id if self.session else None)

    @on(SessionsPanel.Highlighted)
    def _highlighted(self, event: SessionsPanel.Highlighted) -> None:
        if self.session is not None and event.session_id == self.session.id:
            return
        if not self.generating:  # else the story pane stays on the part being written
            self.story.open_when_resting(event.session_id)

    @on(SessionsPanel.Chosen)
    def _chosen(self, event: SessionsPanel.Chosen) -> None:
        self.history.forget_deleted()  # `u` is about this story now
        if self.session is not None and event.session_id == self.session.id:
            self.direction_bar.focus_input(explain=True)
        elif not self.generating:
            self.open_session(event.session_id, focus_input=True)

    # -- opening a story -------------------------------------------------------------------

    def open_session(self, session_id: str, *, focus_input: bool = False) -> None:
        self.story.open(session_id, focus_input=focus_input)

    @on(StoryOpened)
    async def _story_opened(self, event: StoryOpened) -> None:
        await self._show_opened(event.opened, focus_input=event.focus_input)

    async def _show_opened(self, opened: OpenedSession, *, focus_input: bool) -> bool:
        """Show the story; True when the direction input was given the focus."""
        focused = False
        # One repaint for the title, the list row, the input and the story together.
        with self.app.batch_update():
            self.session = opened.session
            self.panel.update_session(opened.session)
            await self.story.show(opened)
        if focus_input:
            focused = self.direction_bar.focus_input()
        # A part asked for before the story's newest parts were on screen (none before the
        # Generation is made) starts now.
        if self._generation is not None and self._generation.shown(opened.session):
            self.generating = True
        return focused

    @on(StoryView.Selected)
    def _part_selected(self, event: StoryView.Selected) -> None:
        self.refresh_bindings()

    # -- errors ----------------------------------------------------------------------------

    @on(WorkFailed)
    def _work_failed(self, event: WorkFailed) -> None:
        error = event.error
        if isinstance(error, DatabaseUnavailable):
            self.status_bar.database_ok = False
        elif self.booted:
            self.status_bar.database_ok = True
        if isinstance(error, NotFound) and event.session_id is not None:
            # Deleted from another window or machine: take it off the list too.
            self.panel.remove_session(event.session_id)
            if self.session is not None and self.session.id == event.session_id:
                self.session = None
                self.call_later(self.story.clear, GONE)
        self.app.report_error(error)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            if event.worker.group == "boot":
                self.boot.failed()
            self.post_message(Crashed(event.worker))  # the app tells the writer

    # -- the open story's use cases (tui/main/story_actions.py) ---------------------------------

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

    def action_pause(self) -> None:
        if (session := self._current("pause")) is not None:
            self.actions.pause(session)

    def action_resume(self) -> None:
        if (session := self._current("resume")) is not None:
            self.actions.resume(session)

    def action_complete(self) -> None:
        if (session := self._current("complete")) is not None:
            self.actions.complete(session)

    def action_reopen(self) -> None:
        if (session := self._current("reopen")) is not None:
            self.history.reopen(session)

    def action_delete(self) -> None:
        if (session := self._current("delete")) is not None and not self._busy("delete"):
            self.history.delete(session)

    def action_bible(self) -> None:
        if (session := self._current("edit the bible of")) is not None:
            self.actions.edit_bible(session)

    def action_edit_part(self) -> None:
        if (session := self._current("edit")) is not None:
            self.actions.edit_part(session)

    def action_model(self) -> None:
        if (session := self._current("choose the model of")) is not None:
            self.actions.choose_model(session)

    def action_export(self) -> None:
        """One key: the story as files in the export folder (updated in place next time)."""
        if (session := self._current("export")) is not None:
            self.actions.export(session)

    def action_view_context(self) -> None:
        if (session := self._current("see the context of")) is not None:
            self.actions.view_context(session)

    @on(SessionChanged)
    def _session_changed(self, event: SessionChanged) -> None:
        if event.note:
            self.history.forget_deleted()  # the writer changed something: `u` is about that
        self.status_bar.database_ok = True
        self.panel.update_session(event.session)
        if self.session is not None and self.session.id == event.session.id:
            self.session = event.session
        if event.note:
            self.notify(event.note, markup=False)
        if event.focus_input:
            self.direction_bar.focus_input()
        elif why_disabled(self.session) is not None and self.focused is self.direction_bar.input:
            self.panel.session_list.focus()

    @on(SessionDeleted)
    async def _deleted(self, event: SessionDeleted) -> None:
        self.notify(self.history.deleted(event), markup=False)
        await self._gone(event.session_id)

    async def _gone(self, session_id: str) -> None:
        """The story left the list (to the trash): show the next one."""
        self.panel.remove_session(session_id)
        if self.session is not None and self.session.id == session_id:
            self.session = None
            next_id = self.panel.highlighted_id
            if next_id is not None:
                self.open_session(next_id)
            else:
                await self.story.clear(NONE_LEFT)
            self.panel.session_list.focus()

    @on(Exported)
    def _exported(self, event: Exported) -> None:
        self.actions.exported(event)

    @on(ContextLoaded)
    def _context_loaded(self, event: ContextLoaded) -> None:
        self.actions.show_context(event)

    # -- takes, undo and the trash (tui/main/history_actions.py) ------------------------------

    def action_previous_take(self) -> None:
        if (session := self._current("compare the takes of")) and not self._busy("flip takes"):
            self.history.flip(session, -1)

    def action_next_take(self) -> None:
        if (session := self._current("compare the takes of")) and not self._busy("flip takes"):
            self.history.flip(session, 1)

    def action_delete_part(self) -> None:
        if (session := self._current("delete a part of")) and not self._busy("delete a part"):
            self.history.delete_part(session)

    def action_undo(self) -> None:
        if self._require_boot() and not self._busy("undo"):
            self.history.step(self.session, redo=False)

    def action_redo(self) -> None:
        if self._require_boot() and not self._busy("redo"):
            self.history.step(self.session, redo=True)

    def action_trash(self) -> None:
        if self._require_boot():
            self.history.open_trash()

    @on(TakeShown)
    def _take_shown(self, event: TakeShown) -> None:
        if self.story.shown_session_id == event.part.session_id:
            self.story.update_part(event.part)
        self._session_changed(SessionChanged(event.session))  # its words follow the take

    @on(PartDeleted)
    def _part_deleted(self, event: PartDeleted) -> None:
        note = f"Part {event.seq} moved to the trash — u to undo."
        self._session_changed(SessionChanged(event.session, note))
        self.story.reload()

    @on(HistoryStepped)
    async def _history_stepped(self, event: HistoryStepped) -> None:
        self.notify(event.note, markup=False)
        session = event.session
        if session is None:  # (back) in the trash
            await self._gone(event.session_id)
        elif self.panel.shows(session.id):
            self._session_changed(SessionChanged(session))
            if self.session is not None and self.session.id == session.id:
                self.story.reload()
            else:
                self.open_session(session.id)
        else:  # back from the trash
            self.panel.load(reset=True, keep=session.id)
            self.open_session(session.id)

    @on(TrashClosed)
    def _trash_closed(self, event: TrashClosed) -> None:
        changes = event.changes
        if changes.stories_back:
            self.panel.load(reset=True, keep=self.session.id if self.session else None)
        for session_id in changes.gone:
            self.panel.remove_session(session_id)
        if self.session is not None and self.session.id in changes.parts_back:
            self.actions.refresh(self.session.id)
            self.story.reload()

    # -- a new story -----------------------------------------------------------------------

    def action_new_session(self) -> None:
        if not self._require_boot():
            return
        if self.generating:
            self.notify("A part is being written. Wait for it, or stop it (Esc), then press n.")
            return
        self.actions.new_story()

    @on(SessionStarted)
    def _started(self, event: SessionStarted) -> None:
        self.panel.show_new(event.session.id)
        self.open_session(event.session.id, focus_input=True)

    # -- a part being written (tui/main/generation.py) -----------------------------------------

    @on(DirectionBar.Write)
    def _write(self, event: DirectionBar.Write) -> None:
        if self.session is not None and self._require_boot():
            self.generate(self.session, event.direction, regenerate=False)

    def generate(
        self, session: Session, direction: str, *, regenerate: bool, part: int | None = None
    ) -> None:
        """Ask the storyteller for the next part (or a new take of part `part`, else of the
        last part) and stream it in."""
        self.history.forget_deleted()
        if self.generation.write(session, direction, regenerate=regenerate, part=part):
            self.generating = True

    @on(GenerationEnded)
    def _generation_ended(self, event: GenerationEnded) -> None:
        self.generating = False
        if event.outcome is not None:
            self._session_changed(SessionChanged(event.outcome))
        else:
            self.actions.refresh(event.session_id)
        if event.reopen:
            self.open_session(event.session_id)  # show what is stored

    def action_stop(self) -> None:
        """Esc: stop the generation and keep what was written."""
        self.generation.stop()

    async def stop_generation(self) -> None:
        """Stop a running generation and wait until its text is saved (quitting)."""
        await self.generation.stop_and_wait()

    def action_regenerate(self) -> None:
        session = self._current("regenerate a part of")
        if session is None:
            return
        if self.generating:
            self.notify("A part is being written. Stop it (Esc) first.")
            return
        if session.part_count == 0:
            self.notify("This story has no part to write again yet: write one with Enter.")
            return
        # A direction waiting in the input replaces the old one; else the part keeps its own.
        direction = self.direction_bar.input.value.strip()
        self.generate(session, direction, regenerate=True, part=self.story.selected)

    def action_finish_part(self) -> None:
        """F: the selected part (else the last), interrupted, goes on from where it stopped."""
        session = self._current("finish a part of")
        if session is None or self._busy("finish the part"):
            return
        self.history.forget_deleted()
        part = self.story.selected
        if self.generation.write(session, "", regenerate=False, part=part, finish=True):
            self.generating = True

    @on(Health)
    def _health(self, event: Health) -> None:
        self.status_bar.show(event)  # a generation found out whether Ollama answers

    # -- focus and small actions -----------------------------------------------------------

    @on(DirectionInput.Leave)
    def _direction_leave(self) -> None:
        self.panel.session_list.focus()

    @on(DirectionInput.Stop)
    def _direction_stop(self) -> None:
        self.action_stop()

    def action_write(self) -> None:
        self.direction_bar.focus_input(explain=True)

    def action_search(self) -> None:
        if self.has_class("-zen"):
            self.action_zen()
        self.panel.focus_search()

    def action_zen(self) -> None:
        """Hide the session list to give the story the whole width (z again brings it back)."""
        zen = not self.has_class("-zen")
        self.set_class(zen, "-zen")
        if zen and self.panel.has_focus_within:
            self.story.focus()

    def action_filter(self, status: str) -> None:
        if self.has_class("-zen"):
            self.action_zen()
        self.panel.set_filter(status)
        self.panel.session_list.focus()

    def action_reload(self) -> None:
        if not self.booted:
            self._require_boot()
            return
        keep = self.session.id if self.session else None
        self.panel.load(reset=True, keep=keep)
        if keep is not None and not self.generating:
            self.open_session(keep)
        self.status_bar.check()

    def action_help(self) -> None:
        from storyterm.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(help_sections(StoryView.BINDINGS)))

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
        )

    def system_commands(self) -> Iterable[SystemCommand]:
        """The main screen's actions for the command palette (ctrl+p)."""
        yield from palette_commands(self, self.BINDINGS)
        if self.booted:
            yield SystemCommand(
                f"Log out ({self.app.username})",
                "End this login (it is revoked) and show the login screen",
                self.action_logout,
            )
