"""One part of the story: its header (part_header.py), the writer's direction, and the text.

A part's text is one `Prose` widget (its Markdown laid out by hand: one widget, not one per
paragraph, so a long story opens fast). Only a part being streamed shows a Textual `Markdown`
(fed by a MarkdownStream) until the stream ends; then it becomes `Prose` like the others.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from storyterm.tui.text import count, plain, safe
from storyterm.tui.widgets.part_header import PartHeader, header_title, resting_meta
from storyterm.tui.widgets.prose import Prose

if TYPE_CHECKING:
    from storyterm.core.views import Part, Session
    from storyterm.tui.widgets.stream_markdown import MarkdownStream, StreamMarkdown

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: How often streamed text is handed to the Markdown widget (seconds): about 30 frames a second.
FRAME = 1 / 30
#: A streaming part starts a new Markdown segment after this many characters (~1,000 words).
SEGMENT_CHARS = 6_000
#: The class of every widget showing a part's text (a Prose, or the Markdown streamed into).
BODY = "part-text"


def _retire(bodies: Iterable[Widget]) -> None:
    """Take `bodies` out of the part's text at once (they are removed after their successor
    is mounted)."""
    for body in bodies:
        body.remove_class(BODY)


def part_markdown(part: Part) -> str:
    """A part's text as the Markdown widget shows it (control characters neutralised)."""
    return safe(part.content)


def provisional_part(session: Session, seq: int, direction: str) -> Part:
    """What a part about to be written looks like before its first checkpoint."""
    from storyterm.core.basics import PartState, utcnow
    from storyterm.core.views import Part

    now = utcnow()
    return Part(
        id=0,
        session_id=session.id,
        seq=seq,
        direction=direction,
        content="",
        model_name=session.model_name,
        state=PartState.STREAMING,
        word_count=0,
        created_at=now,
        updated_at=now,
    )


class PartView(Vertical):
    """One part: `Part N` with its state, the writer's direction as a quote, the text."""

    DEFAULT_CSS = """
    PartView {
        height: auto;
        /* No bottom padding: the text's last block keeps its bottom margin as the gap to the
           next part. (A `:last-child` rule removing that margin gave every paragraph an order
           style, and Textual restyles every such sibling on each mount: each block mounted
           while streaming restyled every block before it in the part, quadratic.) */
        padding: 0 1;
        border-left: blank;
        /* The whole padding, not `padding-bottom`: Textual turns a one-side rule into a whole
           padding with the other sides 0, so an empty part lost its left and right padding and
           was drawn a column left of the others. */
        &.-no-text { padding: 0 1 1 1; }
        &.-selected { border-left: thick $accent; background: $boost; }
        .direction {
            border-left: outer $primary 60%;
            padding: 0 1;
            margin: 0 0 1 0;
            color: $text-muted;
            text-style: italic;
        }
        /* Stream layout (StreamMarkdown): a streaming part's growing last block re-arranges
           only itself, not every paragraph above it. */
        Markdown { margin: 0; padding: 0; background: transparent; }
        .empty-part { color: $text-muted; text-style: italic; }
    }
    """

    class Clicked(Message):
        """The writer clicked this part (selects it)."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, part: Part) -> None:
        # Born with the class it will have (on_mount would set it): a class added after the
        # mount restyles the part again and lays the story pane out once more (~15 ms on a
        # big story, before the first word of a new part).
        empty = not part.content.strip()
        super().__init__(id=f"part-{part.seq}", classes="-no-text" if empty else None)
        self.part = part
        self._stream: MarkdownStream | None = None
        self._spinner: Timer | None = None
        self._frames = itertools.cycle(SPINNER)
        self._rate: float | None = None
        self._streamed_chars = 0
        self._note = "waiting for the model…"
        #: time.monotonic() when the model began to think (None: it has not).
        self._thinking_since: float | None = None
        self._stopping = False
        self._pending: list[str] = []
        self._flush_timer: Timer | None = None
        #: time.monotonic() when text was last handed to the Markdown widget.
        self._flushed_at = 0.0
        self._stream_lock = asyncio.Lock()
        #: Characters streamed into the Markdown segment being written (see SEGMENT_CHARS).
        self._segment_chars = 0
        self._fenced = False
        #: What is being done about text the database could not save (None: it is saved).
        self._unsaved: str | None = None
        #: The nearest earlier part whose chosen take was made after this part (None: none).
        self._earlier: int | None = None
        #: The text streaming in is written by another window (heard through live events).
        self.elsewhere = False
        #: Shown before the story's reads hold it (StoryView.add_part: the part about to be
        #: written), until its stream ends: a read of the story made a moment before leaves it.
        self.provisional = False

    @property
    def seq(self) -> int:
        return self.part.seq

    def compose(self) -> ComposeResult:
        header = PartHeader()
        header.title = header_title(self.part)
        header.meta = self._meta()
        header.earlier = self._earlier
        yield header
        direction = Static(plain(self.part.direction), classes="direction")
        direction.display = bool(self.part.direction.strip())  # (as _apply_state keeps it)
        yield direction
        if str(self.part.state) == "streaming" and not self.part.content:
            # About to stream (a new part): the Markdown the stream writes into.
            from storyterm.tui.widgets.stream_markdown import StreamMarkdown

            yield StreamMarkdown(classes=BODY)
        else:
            yield Prose(part_markdown(self.part), classes=BODY)

    def on_mount(self) -> None:
        self._apply_state()

    def _meta(self) -> Content:
        part = self.part
        if self._stream is None:
            return resting_meta(part, self._unsaved)
        frame = next(self._frames)
        if self._stopping:
            return Content.styled(f"{frame} stopping… the text so far is kept", "$text-warning")
        if self.elsewhere:  # (its words so far are the other window's to count)
            return Content.styled(f"{frame} being written in another window", "$text-accent")
        if not self._streamed_chars:
            if self._thinking_since is not None:
                seconds = time.monotonic() - self._thinking_since
                return Content.styled(f"{frame} thinking · {seconds:.0f}s", "$text-accent")
            return Content.styled(f"{frame} {self._note}", "$text-accent")
        bits = [f"{frame} writing"]
        if part.word_count:
            bits.append(count(part.word_count, "word"))
        if self._rate:
            bits.append(f"{self._rate:.0f} tok/s")
        return Content.styled(" · ".join(bits), "$text-accent")

    def _apply_state(self) -> None:
        # The state shows in the header's colours, not as a class on the part: a class change
        # restyles every Markdown block below it, which is slow for a long part.
        direction = self.query_one(".direction")
        shown = bool(self.part.direction.strip())
        if direction.display != shown:
            direction.display = shown
        # Changes only when the part has no blocks yet (or gets its first), so it is cheap.
        self.set_class(not (self.part.content.strip() or self._streamed_chars), "-no-text")

    def _refresh_header(self) -> None:
        header = self.query_one(PartHeader)
        header.title = header_title(self.part)
        header.meta = self._meta()

    @property
    def unsaved(self) -> str | None:
        return self._unsaved

    def mark_unsaved(self, note: str | None) -> None:
        """Say in the header that the database has not saved the text shown (`note`: what is
        being done about it), or, with None, that it has."""
        if note != self._unsaved:
            self._unsaved = note
            if self.is_mounted:
                self._refresh_header()

    def set_earlier(self, seq: int | None) -> None:
        """This part was written before the chosen take of part `seq` (None: of no part)."""
        if seq != self._earlier:
            self._earlier = seq
            if self.is_mounted:
                self.query_one(PartHeader).earlier = seq

    def update_part(self, part: Part) -> None:
        """Show a new version of this part (an edit, a checkpoint from another window)."""
        self.part = part
        if not self.children:
            # Mounted a moment ago (a reload of the pane) and not composed yet: compose shows
            # this version. (A live event for the part may come in between.)
            return
        self.query_one(".direction", Static).update(plain(part.direction))
        if self._stream is None:  # while it streams here, the stream owns the text
            prose = self._prose
            if prose is not None:
                prose.update(part_markdown(part))
            else:
                self.call_later(self._show_prose)
        self._apply_state()
        self._refresh_header()

    @property
    def _segments(self) -> list[StreamMarkdown]:
        """The Markdown widgets being (or last) streamed into."""
        return [body for body in self._bodies if not isinstance(body, Prose)]

    @property
    def _bodies(self) -> list[Prose | StreamMarkdown]:
        """The widgets showing the text, in order: one Prose when the part is at rest; while
        it streams, a Prose per finished segment and the Markdown being streamed into."""
        # Every body carries the BODY class (testing for it needs no import of Markdown). A
        # body being replaced loses it in the same step as its successor is mounted, so the
        # text is never counted twice, or not at all, while the swap is awaited.
        bodies = [c for c in self.children if c.has_class(BODY)]
        # Only this class gives BODY, and only to a Prose or a StreamMarkdown; the class test
        # stands in for an isinstance check, which would import Markdown at start-up.
        return cast("list[Prose | StreamMarkdown]", bodies)

    @property
    def _prose(self) -> Prose | None:
        """The one Prose of a part at rest (None while it streams or has none yet)."""
        bodies = self._bodies
        if len(bodies) == 1 and isinstance(bodies[0], Prose):
            return bodies[0]
        return None

    @property
    def shown_text(self) -> str:
        """The Markdown this part shows now (all of it, in however many widgets)."""
        return "".join(body.source for body in self._bodies)

    async def _show_prose(self) -> None:
        """The saved text in one Prose widget, in place of the streamed segments."""
        text = part_markdown(self.part)
        prose = self._prose
        if prose is not None:
            prose.update(text)
            return
        bodies = self._bodies
        with self.app.batch_update():  # no frame with both, or neither
            mounted = self.mount(Prose(text, classes=BODY), after=self.query_one(".direction"))
            _retire(bodies)
            await mounted
            if bodies:
                await self.remove_children(bodies)

    # -- streaming -------------------------------------------------------------------------

    def begin_stream(
        self, note: str | None = None, *, text: str = "", elsewhere: bool = False
    ) -> None:
        """Start showing tokens as they arrive, with a spinner and the live rate; `text` is
        what the part already holds (an interrupted part being finished, or the part another
        window is writing: `elsewhere`), shown first."""
        self.elsewhere = elsewhere
        from storyterm.tui.widgets.stream_markdown import StreamMarkdown

        segments = self._segments
        if not segments:  # composed with Prose (not a new part): stream into a Markdown
            segment = StreamMarkdown(classes=BODY)
            for body in self._bodies:
                body.remove()
            self.mount(segment)
            segments = [segment]
        self._stream = segments[-1].open_stream()
        self._segment_chars = 0
        self._fenced = False
        if note:
            self._note = note
        if text:  # shown with the stream's first frame; not counted as streamed
            self._pending.append(safe(text.replace("\r", "")))
            if self._flush_timer is None:
                self._flush_timer = self.set_timer(FRAME, self._flush)
        self._apply_state()
        self._spinner = self.set_interval(0.1, self._refresh_header)

    def set_note(self, note: str) -> None:
        """What the spinner says before the first token (waiting, summarising...)."""
        self._note = note

    def thinking(self, seconds: float) -> None:
        """The model has been thinking for `seconds` (its thinking is not shown: the header
        says "thinking" and for how long, until the first word)."""
        if self._thinking_since is None:
            self._thinking_since = time.monotonic() - seconds

    def stopping(self) -> None:
        """The writer asked to stop: say so until the part is saved."""
        self._stopping = True

    def checkpointed(self, part: Part) -> None:
        """A checkpoint was saved: keep its numbers (the text on screen is already newer)."""
        self.part = part

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    async def write(self, delta: str) -> None:
        """Append model output. Deltas are gathered and handed to the MarkdownStream at most
        once a frame: every append re-parses the growing paragraph, so one per token would
        spend the event loop on parsing instead of painting when a model streams fast."""
        if self._stream is None:
            return
        # A CR LF split across two deltas must not become two line breaks.
        text = safe(delta.replace("\r", ""))
        if not text:
            return
        first = not self._streamed_chars
        if first:
            self.remove_class("-no-text")
        self._streamed_chars += len(text)
        self._pending.append(text)
        if self._flush_timer is not None:
            return  # a frame's text is already waiting for its moment
        # Text shows at once when no frame was handed over in the last FRAME (the first words;
        # every piece of a part written in another window, which arrive ~25 a second), and at
        # most once a frame when they come faster. (It used to wait a whole FRAME every time.)
        wait = self._flushed_at + FRAME - time.monotonic()
        if first or wait <= 0:
            await self._flush()
        else:
            self._flush_timer = self.set_timer(wait, self._flush)

    async def _flush(self) -> None:
        self._flush_timer = None
        self._flushed_at = time.monotonic()
        async with self._stream_lock:  # never at the same time as end_stream
            await self._flush_pending()

    async def _flush_pending(self) -> None:
        if not self._pending or self._stream is None:
            return
        text = "".join(self._pending)
        self._pending.clear()
        # A very long part streams into a chain of Markdown widgets, cut at a paragraph break
        # outside code fences: each append then re-lays out one segment, not the whole part,
        # so the cost per token stays flat however long the part grows.
        if self._segment_chars >= SEGMENT_CHARS and not self._fenced:
            cut = text.find("\n\n")
            if cut >= 0:
                head, text = text[: cut + 2], text[cut + 2 :]
                await self._append(head)
                await self._next_segment()
        await self._append(text)

    async def _append(self, text: str) -> None:
        if not text or self._stream is None:
            return
        self._segment_chars += len(text)
        if text.count("```") % 2:
            self._fenced = not self._fenced
        await self._stream.write(text)

    async def _next_segment(self) -> None:
        """Close the segment streamed so far as one Prose widget and stream on into a fresh
        Markdown: the part's finished text stays a few widgets (one per ~1,000 words), not one
        per paragraph, so each frame's layout and paint cost stays flat however long it grows."""
        assert self._stream is not None
        await self._stream.stop()
        from storyterm.tui.widgets.stream_markdown import StreamMarkdown

        done = self._segments[-1]
        segment = StreamMarkdown(classes=BODY)
        with self.app.batch_update():
            mounted = self.mount(Prose(done.source, classes=f"{BODY} -segment"), before=done)
            _retire([done])
            await mounted
            await self.mount(segment, after=done)
            await done.remove()
        self._segment_chars = 0
        self._stream = segment.open_stream()

    def set_rate(self, tokens_per_second: float | None) -> None:
        self._rate = tokens_per_second

    async def end_stream(self, part: Part | None) -> None:
        """Stop the stream and show the part as saved, in one Prose widget like any other part
        (its full text: block state such as code fences is right)."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        async with self._stream_lock:  # a flush in progress finishes first
            if self._stream is not None:
                self._pending.clear()  # the full update below shows everything
                # Textual's MarkdownStream.stop cancels its task and awaits it: a task
                # cancelled before its first step re-raises CancelledError here (this caller
                # was not cancelled). A part that fails at once (Ollama down) ends before that
                # step: let it take it first.
                await asyncio.sleep(0)
                await self._stream.stop()
                self._stream = None
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
        if part is not None:
            self.part = part
        self.elsewhere = self.provisional = False
        await self._show_prose()
        self._segment_chars = 0
        self._apply_state()
        self._refresh_header()

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Clicked(self.part.seq))
