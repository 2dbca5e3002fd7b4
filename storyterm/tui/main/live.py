"""Every window sees every change as it happens: the writer's live events (core/events), heard in
a thread and put onto the main screen.

Live runs one Subscriber for the signed-in writer in a thread of its own, so that waiting for
Redis, or looking at the database every ~2 s without it, never holds the event loop; what it
hears comes back as LiveHeard, which the screen hands to `heard`. (A plain daemon thread, not a
Textual worker: it runs as long as the writer is signed in, and a worker that never ends would
hold up everything that waits for the app's workers to finish.) There the list
reads its loaded rows again when a story changed elsewhere (SessionsPanel.refresh_loaded: the
database decides what is shown, never the event), the open story follows what happens to it
(the story column's LiveStory, live_story.py), and the status line says when the changes come
from watching the database because Redis is set up but not answering. An event only says "look
again": one lost, or heard twice (this window's own changes come back too), changes nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from typing import TYPE_CHECKING, cast

from storyterm.errors import StorytermError
from storyterm.tui.messages import LiveHeard
from storyterm.tui.text import one_line

if TYPE_CHECKING:
    from textual.widget import Widget

    from storyterm.core.events import Event, Status, Subscriber
    from storyterm.core.runtime import Runtime
    from storyterm.tui.host import HostApp
    from storyterm.tui.main.live_story import LiveStory
    from storyterm.tui.widgets.session_list import SessionsPanel
    from storyterm.tui.widgets.status_bar import StatusBar

#: The longest the listening thread waits for Redis before it looks whether it should stop.
WAIT_SECONDS = 0.5
#: Seconds before trying again to listen when the database could not be opened.
RETRY_SECONDS = 5.0


class Live:
    """Listens for the writer's changes while they are signed in (start, stop) and puts them on
    the list, the open story and the status line."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        *,
        panel: SessionsPanel,
        status_bar: StatusBar,
        story: LiveStory,
    ) -> None:
        #: Runs the listening thread and receives LiveHeard (the main screen).
        self._host = host
        self._runtime = runtime
        self._panel = panel
        self._status_bar = status_bar
        self._story = story
        self._user_id: int | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._subscriber: Subscriber | None = None
        self._lock = threading.Lock()
        #: How often the database is looked at without Redis (the listener's bus says).
        self._poll_seconds = 2.0
        #: How changes are heard now ("live", "polling"; None: not yet).
        self.mode: str | None = None

    def start(self, user_id: int) -> None:
        """Listen for `user_id`'s changes (again after a login as someone else)."""
        if self._user_id == user_id and self._thread is not None:
            return
        self.stop()
        self._user_id = user_id
        self._stop = stop = threading.Event()
        # In the app's context, as Textual's own threads are: `app` and `is_attached` work there.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run,
            args=(self._listen, user_id, stop),
            name="storyterm-live",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (a logout, the app closing); the thread ends within WAIT_SECONDS."""
        if self._stop is not None:
            self._stop.set()
        with self._lock:
            subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            subscriber.close()
        self._thread = self._stop = self._user_id = self.mode = None
        self._status_bar.live = self._status_bar.live_reason = None

    # -- the listening thread ------------------------------------------------------------------

    def _listen(self, user_id: int, stop: threading.Event) -> None:
        post = self._host.post_message
        subscriber = None
        try:
            while not stop.is_set() and self._host.is_attached:
                if subscriber is None:
                    subscriber = self._subscribe(user_id, stop)
                    continue
                items = subscriber.next(WAIT_SECONDS)
                if items and not stop.is_set():
                    post(LiveHeard(items))
        except Exception as exc:  # a bug: told as any other (not printed over the screen)
            if stop.is_set():
                return  # closed under it (stop() closes the subscriber from the event loop)
            app = cast("HostApp", self._host.app)
            with contextlib.suppress(Exception):  # the app is closing: nobody to tell
                app.call_from_thread(app.report_unexpected, exc, "live updates")
        finally:
            if subscriber is not None:
                subscriber.close()

    def _subscribe(self, user_id: int, stop: threading.Event) -> Subscriber | None:
        """A subscriber for the writer (None, after a wait, while the database cannot be
        opened: the screen's own work says so)."""
        try:
            bus = self._runtime.store.events
            subscriber = bus.subscribe(user_id)
        except StorytermError:
            stop.wait(RETRY_SECONDS)
            return None
        self._poll_seconds = bus.poll_seconds
        with self._lock:
            if stop.is_set():
                subscriber.close()
                return None
            self._subscriber = subscriber
        return subscriber

    # -- on the event loop ---------------------------------------------------------------------

    async def heard(self, items: list[Event | Status]) -> None:
        """What the listener heard: onto the list, the open story and the status line."""
        from storyterm.core.events import EventKind, Status

        if self._user_id is None:
            return  # heard just before a logout
        again = False
        for item in items:
            if isinstance(item, Status):
                # The first word of a new listener, too: what changed between the first page
                # and the listening was heard by nobody.
                if item.resync or self.mode is None:
                    again = True
                    self._story.resync()
                self._show_status(item)
                continue
            # (The checkpoints of a part written here: its row follows when it ends.)
            quiet = item.kind is EventKind.TEXT_ADDED or (
                item.kind is EventKind.PART_SAVED and self._story.writing_here(item.session_id)
            )
            if not quiet:
                again = again or self._panel.behind(item.session_id, item.version)
            await self._story.heard(item)
        if again:
            self._panel.refresh_loaded()

    def _show_status(self, status: Status) -> None:
        from storyterm.core.events import Mode

        if self.mode is not None and self.mode != str(status.mode):
            self._status_bar.check()  # Redis went or came back: the cache's word follows
        self.mode = str(status.mode)
        bar = self._status_bar
        # Without Redis set up there is nothing missing to speak of (the cache says "off").
        if status.mode is Mode.LIVE or not self._runtime.settings.redis_url:
            bar.live = bar.live_reason = None
        else:
            bar.live = f"every {self._poll_seconds:g} s"
            bar.live_reason = one_line(status.reason)
