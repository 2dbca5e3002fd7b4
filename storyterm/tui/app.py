"""StorytermApp: the Textual application around one Runtime.

The app object holds what every screen shares: the runtime, the writer once known, the clock,
the remembered theme, error reporting, and the start-up measurement. The main screen does the
work; nothing here touches the database on the event loop. Who is writing is the app's alone:
the screens tell it with messages (Authenticated, LoggedOut, LoginRefused) and only read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on, work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState

import storyterm
from storyterm.errors import (
    AuthError,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    InvalidTransition,
    ModelFailed,
    ModelUnavailable,
    NotFound,
    StorytermError,
)
from storyterm.tui.compat import KeepsRunning
from storyterm.tui.error_log import ErrorLog, log_path, one_line
from storyterm.tui.messages import Authenticated, Crashed, LoggedOut, LoginRefused
from storyterm.tui.models import ModelChoice, load_model_choice
from storyterm.tui.state import STATE_FILE, TuiState
from storyterm.tui.text import safe

if TYPE_CHECKING:
    from storyterm.core.runtime import Runtime
    from storyterm.tui.host import Host

log = logging.getLogger("storyterm.tui")

DEFAULT_THEME = "textual-dark"

_ERROR_TITLES: dict[type[StorytermError], str] = {
    DatabaseUnavailable: "Database unreachable",
    ModelFailed: "Model error",
    ModelUnavailable: "Model unavailable",
    Conflict: "Changed elsewhere",
    InvalidTransition: "Not possible now",
    InvalidInput: "Check your input",
    NotFound: "Not found",
    AuthError: "Please log in",
}


#: More unexpected errors than this within ERROR_WINDOW seconds: something fails on every
#: frame or message, and carrying on would only bury the writer in notices. The app closes.
ERROR_FLOOD = 20
ERROR_WINDOW = 10.0


class StorytermApp(KeepsRunning):
    """A writer's room in the terminal: sessions on the left, the story on the right."""

    # Absolute, so that a subclass elsewhere (tests, the benchmark suite) finds it too.
    CSS_PATH = Path(__file__).with_name("storyterm.tcss")
    TITLE = "storyterm"
    NOTIFICATION_TIMEOUT = 6

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        # Tab moves the focus before the next key is handed on (action_tab). As a screen
        # binding (Textual's default) it runs only when the focused widget has taken the Tab
        # from its queue, and the keys typed after it in one burst (a fast typist, a paste,
        # tmux send-keys) have been queued for the field being left by then: they landed in
        # the wrong field.
        Binding("tab", "tab('tab')", show=False, priority=True),
        Binding("shift+tab", "tab('shift+tab')", show=False, priority=True),
    ]

    def __init__(
        self,
        runtime: Runtime,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self._clock = clock or (lambda: datetime.now(UTC))
        #: The writer, once the boot worker knows who it is (set only by the handlers below).
        self.user_id: int | None = None
        self.username: str | None = None
        #: Seconds from process start (storyterm.IMPORTED_AT) to the main screen being ready.
        self.startup_seconds: float | None = None
        #: The time.perf_counter() moment the first usable screen was up.
        self.ready_at: float | None = None
        self.quitting = False
        #: Whether this process freezes what lives as long as the app (the command line's
        #: start-up does; tests, which run many apps in one process, must not).
        self.freezes_long_lived = False
        # A few hundred bytes read before the event loop starts: the theme must be right on
        # the first frame, not flash from the default.
        self._state_path = runtime.settings.config_dir / STATE_FILE
        self._state = TuiState.load(self._state_path)
        self._initial_theme = DEFAULT_THEME
        self._signals: list[signal.Signals] = []
        #: The writer is being asked whether to quit with unsaved text (asked once: a second
        #: quit key means yes).
        self._asking_to_quit = False
        #: Where an unexpected error's traceback goes (opened by a worker once ready).
        self.error_log = ErrorLog(log_path(runtime.settings.state_dir))
        self._error_times: list[float] = []

    # -- screens ---------------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        from storyterm.tui.main.screen import MainScreen

        return MainScreen(self.runtime)

    def on_mount(self) -> None:
        self._apply_theme()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._watch_stop_signals()

    def on_unmount(self) -> None:
        self.error_log.close()
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)
        self._signals.clear()

    def _watch_stop_signals(self) -> None:
        """SIGTERM (`kill`, a logout, a shutdown) and SIGHUP (the terminal closed) quit the way
        ctrl+q does: a part being written is stopped and saved (interrupted) first. Textual
        leaves both signals at their default, which ends the process on the spot and leaves
        the part "streaming" with only its last checkpoint's text."""
        loop = asyncio.get_running_loop()
        for name in ("SIGTERM", "SIGHUP"):  # SIGHUP is not on Windows
            signum = getattr(signal, name, None)
            if signum is None:
                continue
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._stop_signal, signum)
                self._signals.append(signum)

    def _stop_signal(self, signum: int) -> None:
        log.info("signal %s: quitting, keeping the part being written", signum)
        if not self.quitting:  # already quitting: that quit saves the part (a bounded wait)
            # Nobody is there to answer a question: unsaved text is named on the way out.
            self.call_next(self._quit, ask=False)

    def action_tab(self, key: str) -> None:
        """Tab and shift+tab: the next or previous field, at once. A screen still holding the
        keys typed ahead (tui/typeahead.py) gets the Tab in line with them instead."""
        screen = self.screen
        if getattr(screen, "holding_keys", False):
            screen.post_message(events.Key(key, None))
        elif key == "tab":
            screen.focus_next()
        else:
            screen.focus_previous()

    async def action_quit(self) -> None:
        """Quit; a part being written is stopped first so that its text is saved. With text
        the database could not save (kept in recovery files), the writer is asked first."""
        await self._quit(ask=True)

    async def _quit(self, *, ask: bool) -> None:
        from storyterm.tui.main.screen import MainScreen
        from storyterm.tui.main.unsaved import exit_note, quit_question

        mains = [screen for screen in self.screen_stack if isinstance(screen, MainScreen)]
        if ask and not self.quitting and not self._asking_to_quit:
            for screen in mains:
                if (question := quit_question(*screen.unsaved())) is not None:
                    self._ask_to_quit(*question)
                    return
        # Keys typed after q must not open screens while the app closes.
        self.quitting = True
        for screen in mains:
            await screen.stop_generation()
        # Named again once the app has closed: a stopped part's save may have failed too.
        files = [path for screen in mains for path in screen.unsaved()[0]]
        note = exit_note(files, [])
        message = None
        if note is not None:
            from rich.text import Text

            log.warning(note)
            message = Text(safe(note))  # never read as markup
            # Printed after the app closes: soft-wrapped, a long path is never cut in two
            # (the writer copies it from here).
            self.error_console.soft_wrap = True
        self.exit(message=message)

    def _ask_to_quit(self, question: str, detail: str) -> None:
        from storyterm.tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            self._asking_to_quit = False
            if yes:
                self.call_next(self._quit, ask=False)

        self._asking_to_quit = True
        confirm = ConfirmScreen(safe(question), safe(detail), yes="Quit", no="Stay")
        self.push_screen(confirm, answered)

    def now(self) -> datetime:
        """The clock every "2h ago" is measured with (fixed in snapshot tests)."""
        return self._clock()

    # -- who is writing --------------------------------------------------------------------

    @on(Authenticated)
    def _authenticated(self, event: Authenticated) -> None:
        self.user_id = event.account.id
        self.username = event.account.username
        if event.remember:
            self._remember_username(event.account.username)

    @on(LoggedOut)
    @on(LoginRefused)
    def _signed_out(self) -> None:
        self.user_id = self.username = None

    # -- themes ----------------------------------------------------------------------------

    def _apply_theme(self) -> None:
        wanted = self._state.theme or self.runtime.settings.theme or DEFAULT_THEME
        self._initial_theme = wanted if wanted in self.available_themes else DEFAULT_THEME
        self.theme = self._initial_theme
        if wanted != self._initial_theme:
            self.notify(
                f"There is no theme called {wanted!r}; using {DEFAULT_THEME}. "
                "Pick one from the command palette (ctrl+p, then “theme”).",
                title="Theme",
                severity="warning",
                markup=False,
            )

    def _theme_changed(self, theme: Theme) -> None:
        # The signal also reports the theme applied at start: only a change is remembered.
        if theme.name == (self._state.theme or self._initial_theme):
            return
        self._state.theme = theme.name
        self._save_state()

    @property
    def last_username(self) -> str | None:
        """Who last logged in here to this run's database (each database has its own)."""
        return self._state.username_for(self.runtime.settings.resolved_database_url)

    def _remember_username(self, username: str) -> None:
        if self._state.remember_username(self.runtime.settings.resolved_database_url, username):
            self._save_state()

    @work(thread=True, exclusive=True, group="state", exit_on_error=False)
    def _save_state(self) -> None:
        try:
            self._state.save(self._state_path)
        except OSError as exc:
            self.call_from_thread(
                self.notify,
                f"Could not save the app's settings in {self._state_path} ({exc}). "
                "The theme you picked applies to this run only.",
                severity="warning",
                markup=False,
            )

    # -- commands --------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        commands = getattr(screen, "system_commands", None)
        if commands is not None:
            yield from commands()

    # -- shared services -------------------------------------------------------------------

    async def model_choice(self, preferred: str | None = None) -> ModelChoice:
        """The models Ollama offers, the one to preselect, and any problem (never raises)."""
        return await load_model_choice(self.runtime, preferred)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification, from any screen or widget: messages carry stored text (titles,
        what a database said), so they are made terminal-safe here, once, for all of them."""
        super().notify(
            safe(message), title=safe(title), severity=severity, timeout=timeout, markup=markup
        )

    @property
    def writer_id(self) -> int:
        """`user_id` for work that needs a writer: AuthError when nobody is logged in (the
        forms that save are opened only while someone is, so this says what went wrong if a
        logout ever comes first)."""
        if self.user_id is None:
            raise AuthError("You are not logged in any more. Log in again, then save.")
        return self.user_id

    def report_error(self, error: StorytermError, hint: str = "") -> None:
        """Show a core error as a notification that says what to do. The core's messages
        name no keys (the CLI and the API show them too): `hint` adds the screen's own."""
        title = next(
            (name for kind, name in _ERROR_TITLES.items() if isinstance(error, kind)), "Problem"
        )
        severity: SeverityLevel = (
            "warning" if isinstance(error, (InvalidInput, InvalidTransition)) else "error"
        )
        message = f"{error.message} {hint}" if hint else error.message
        self.notify(message, title=title, severity=severity, timeout=10, markup=False)

    # -- errors nobody expected -----------------------------------------------------------

    @work(thread=True, group="state", exit_on_error=False)
    def _open_error_log(self, ready_seconds: float) -> None:
        # Once the first screen is up, off the event loop (it makes the folder and loads
        # logging.handlers): no part of start-up. An error before then opens it to be written.
        self.error_log.open()
        log.info("storyterm ready in %.3f s", ready_seconds)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The app's own workers (saving its state, the start-up report, opening the log).
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_unexpected(event.worker.error, where=f"worker {event.worker.name}")

    @on(Crashed)
    def _crashed(self, event: Crashed) -> None:
        """A worker died of a bug, not a StorytermError: say so instead of failing silently."""
        if event.worker.error is not None:
            self.report_unexpected(event.worker.error, where=f"worker {event.worker.name}")

    def unexpected_error(self, error: BaseException) -> bool:
        """Any error no code of ours caught (a handler, a key's action, a callback, a worker):
        logged and told, and the app carries on (compat.KeepsRunning)."""
        if not self.is_running:
            return False  # not drawn yet, or gone: Textual's own report is all there can be
        now = time.monotonic()
        self._error_times = [t for t in self._error_times if now - t < ERROR_WINDOW] + [now]
        text = self.report_unexpected(error)
        if len(self._error_times) > ERROR_FLOOD:
            from rich.text import Text

            self.exit(
                return_code=1,
                message=Text(f"storyterm stopped: the same kind of error kept happening. {text}"),
            )
        return True

    def report_unexpected(self, error: BaseException, where: str = "the TUI") -> str:
        """Write `error`'s traceback to the log file and tell the writer in one line, which is
        returned (a screen may show it where the writer was looking, too)."""
        self.error_log.record(error, where)
        text = (
            f"Something went wrong ({one_line(error)}). Your saved work is safe. "
            f"{self.error_log.where()} Please report this"
        )
        text += "; press F5 to reload." if self._on_main_screen() else "."
        with contextlib.suppress(Exception):  # the app may be closing
            self.notify(text, title="Unexpected error", severity="error", timeout=20, markup=False)
        return safe(text)

    def _on_main_screen(self) -> bool:
        try:
            from storyterm.tui.main.screen import MainScreen

            return isinstance(self.screen, MainScreen)
        except Exception:  # no screen yet, or the error is that the screen will not import
            return False

    # -- start-up measurement --------------------------------------------------------------

    def mark_ready(self, sessions_loaded: int, screen: str = "main") -> None:
        """The first screen a writer can use is up (the main screen with the session list and
        the newest story, or the login screen): stop the start-up clock."""
        if self.startup_seconds is not None:
            return
        self.ready_at = time.perf_counter()
        self.startup_seconds = self.ready_at - storyterm.IMPORTED_AT
        cpu_seconds = time.process_time()
        if not gc.isenabled():
            # The command line paused the collector for start-up. What start-up built (modules,
            # classes, the screen) lives as long as the app: freezing it keeps every later full
            # collection from walking it again.
            gc.freeze()
            gc.enable()
            self.freezes_long_lived = True
        self._open_error_log(self.startup_seconds)
        self.log.info(f"storyterm ready in {self.startup_seconds:.3f} s")
        report = self.runtime.settings.startup_report
        if report is not None:
            self._write_startup_report(
                str(report), self.ready_at, cpu_seconds, sessions_loaded, screen
            )

    @work(thread=True, group="state", exit_on_error=False)
    def _write_startup_report(
        self, path: str, ready_at: float, cpu_seconds: float, sessions_loaded: int, screen: str
    ) -> None:
        # perf_counter is the system's monotonic clock: a benchmark that noted the moment
        # before starting this process can subtract it from ready_at.
        data = {
            "startup_seconds": round(ready_at - storyterm.IMPORTED_AT, 4),
            "ready_at": ready_at,
            # CPU the process had used when ready (all threads): less shaken than wall time by
            # other work on a shared machine.
            "cpu_seconds": round(cpu_seconds, 4),
            "imported_at": storyterm.IMPORTED_AT,
            "screen": screen,
            "sessions_loaded": sessions_loaded,
            "database": self.runtime.settings.resolved_database_url.split(":", 1)[0],
            "at": datetime.now(UTC).isoformat(),
        }
        target = Path(path)
        temp = target.with_name(f".{target.name}.tmp")
        try:
            # Whole or not at all: a reader polling for the file never sees half of it.
            temp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temp, target)
        except OSError as exc:
            log.warning("Could not write the start-up report to %s: %s", path, exc)


if TYPE_CHECKING:
    # The screens see the app only as a Host (tui/host.py): the type checker holds the two to
    # the same shape.
    _host: type[Host] = StorytermApp
