"""The context meter in the status line ("ctx 5.1k/8k"): how much of the model's window the
open story's next prompt takes, following what the writer types in the direction input.

The prompt is planned in a worker (Storyteller.context_meter: it reads parts and needs
LangChain), once the generation stack has been loaded after the first frame, and again when
the open story changes (a part written, its bible, lore or options changed: a new version);
what the direction adds is counted on each key, without LangChain (core/memory/meter.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from storyterm.errors import StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import ContextLabel, ContextMeasured

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.widget import Widget

    from storyterm.core.memory.meter import ContextMeter
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Session


#: Seconds the open story must stay unchanged before its next prompt is planned.
SETTLE = 0.3


class ContextGauge:
    """Measures the open story's next prompt and says its size (ContextLabel messages)."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        writer: Callable[[], int],
        typed: Callable[[], str],
        busy: Callable[[], bool],
    ) -> None:
        self._host = host
        #: A part is being written.
        self._busy = busy
        self._runtime = runtime
        self._writer = writer
        #: The direction input's text now.
        self._typed = typed
        #: The generation stack is loaded (the warm-up after the first frame is done).
        self._ready = False
        self._session: Session | None = None
        #: (session id, version) last asked for.
        self._measured: tuple[str, int] | None = None
        self._meter: ContextMeter | None = None
        self._timer: Timer | None = None
        #: A measurement is asked for and not in yet.
        self._pending = False

    def ready(self) -> None:
        """The warm-up is done: measure the story open now."""
        self._ready = True
        self.follow(self._session)

    def follow(self, session: Session | None) -> None:
        """The open story is now `session` (or none): measure it again if it changed."""
        self._session = session
        if session is None:
            self._measured, self._meter = None, None
            self._host.post_message(ContextLabel(None))
            return
        if self._meter is not None and self._measured and self._measured[0] != session.id:
            self._meter = None  # another story: its own figure, not the last one's
            self._host.post_message(ContextLabel(None))
        key = (session.id, session.version)
        if not self._ready or key == self._measured:
            return
        self._measured = key
        # A moment later, and not while a part is being written: a story changes in bursts
        # (a part saved, then its counts), and planning competes with the next part's start.
        if self._timer is not None:
            self._timer.stop()
        self._pending = True
        self._timer = self._host.set_timer(SETTLE, self._start)

    def _start(self) -> None:
        self._timer = None
        session = self._session
        if session is None or self._measured is None or self._measured[0] != session.id:
            self._pending = False
            return
        if self._busy():
            self._measured = None  # measured once the part is saved (the story changes then)
            self._pending = False
            return
        run_in_thread(self._host, self._measure, session.id, group="meter", exclusive=True)

    @property
    def settled(self) -> bool:
        """Nothing to measure, or the open story's figure is in (tests wait for it): with a
        story open, not before the warm-up has let it be measured."""
        return self._session is None or (self._ready and not self._pending)

    def _measure(self, session_id: str) -> None:
        key = self._measured
        try:
            meter = self._runtime.storyteller.context_meter(self._writer(), session_id)
        except StorytermError:
            meter = None  # the status line says nothing rather than a wrong figure
        self._host.post_message(ContextMeasured(session_id, meter, key))

    def measured(self, event: ContextMeasured) -> None:
        if event.key == self._measured:
            self._pending = False
        if self._session is None or event.session_id != self._session.id:
            return
        self._meter = event.meter
        if event.meter is None:
            self._host.post_message(ContextLabel(None))
        else:
            self.typed(self._typed())

    def typed(self, direction: str) -> None:
        """The direction input now holds `direction`."""
        if self._meter is not None:
            self._host.post_message(ContextLabel(self._meter.label(direction)))
