"""The right pane: the open story as Markdown, newest part at the bottom.

Only a window of parts is mounted (the newest ones on open, at most WINDOW at any time). When
the writer scrolls to the top the pane loads the page before from the reader it is given; when
the window grows too big the parts furthest from the writer are unmounted and load again when
scrolled back to. Each part is a PartView (widgets/part_view.py); what to read, and the parts
read ahead, are its PartPager's (story_pages.py); what the pane says around the parts is in
story_notes.py. A part whose text the database could not save shows that text, marked, until it
is saved (unsaved_marks.py), and a part written before an earlier part's chosen take was made
says so in its header (part_header.written_from_earlier).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from storyterm.tui.compat import clear_inner_outer_cache
from storyterm.tui.messages import (
    Crashed,
    NewerLoaded,
    OlderLoaded,
    PartsReloaded,
    StoryOpened,
    WorkFailed,
)
from storyterm.tui.text import show_note
from storyterm.tui.widgets.part_header import written_from_earlier
from storyterm.tui.widgets.part_view import PartView
from storyterm.tui.widgets.story_notes import (
    BEGINNING,
    LOADING_OLDER,
    NEWER,
    border_title,
    no_parts_text,
    older_note,
)
from storyterm.tui.widgets.story_pages import PAGE, WINDOW, PartPager, PartPages, screenful
from storyterm.tui.widgets.stream_layout import MeasuringStreamLayout
from storyterm.tui.widgets.unsaved_marks import UnsavedMark, UnsavedMarks

if TYPE_CHECKING:
    from textual.layout import Layout

    from storyterm.core.views import OpenedSession, Part, Session

#: Scrolled this close to an end (lines) counts as "at the end".
EDGE = 2
#: Seconds the list's cursor must rest on a story before the pane opens it.
REST = 0.15


def release_drawings() -> None:
    """Let the lines that removed widgets drew go (see compat.clear_inner_outer_cache): parts
    removed from the pane piled up in Textual's style cache, and every full garbage collection
    walked them."""
    clear_inner_outer_cache()


class StoryView(VerticalScroll, can_focus=True):
    """The story of the open session, a window of its parts; pages older ones in on scroll."""

    DEFAULT_CSS = """
    StoryView {
        /* Laid out as a stream (see `layout` below): a growing part at the bottom re-arranges
           only itself, not every part above it (the vertical layout re-arranged the whole
           window on each frame). */
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $text-muted;
        border-subtitle-color: $text-muted;
        padding: 0 1;
        /* The pane with the keyboard stands out: heavy border, title lit. */
        &:focus {
            border: heavy $border; border-title-color: $text-accent;
            border-title-style: bold;
        }
        #older, #newer { color: $text-muted; text-align: center; padding: 0 0 1 0; width: 1fr; }
        #newer { padding: 1 0 0 0; }
        #story-empty { color: $text-muted; padding: 2 2; width: 1fr; }
    }
    """

    #: Only what means something here alone: [ and ] (select a part) are the screen's, so
    #: that they work from the list too.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("end", "newest", "Newest", show=False, tooltip="Jump to the newest part"),
        Binding("k", "scroll_up", "Up", show=False, tooltip="Scroll"),
        Binding("j", "scroll_down", "Down", show=False, tooltip="Scroll"),
    ]

    class Selected(Message):
        """The selected part changed (the header shows "part N of M")."""

        def __init__(self, seq: int | None) -> None:
            super().__init__()
            self.seq = seq

    #: The open session (data-bound from the screen): drives the border title.
    session: reactive[Session | None] = reactive(None, init=False)
    selected: reactive[int | None] = reactive(None, init=False)
    has_more_before: reactive[bool] = reactive(False, init=False)
    has_more_after: reactive[bool] = reactive(False, init=False)

    def __init__(
        self,
        reader: PartPages,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._pager = PartPager(self, reader)
        self._unsaved = UnsavedMarks()
        self._shown_id: str | None = None
        #: The story the writer is heading for: an opening of any other is not shown.
        self._wanted: str | None = None
        self._rest_timer: Timer | None = None
        self._paging = False
        self._empty_text = Content("Opening your stories…")
        self._stream_layout = MeasuringStreamLayout()
        #: Parts put on or taken off the pane here (add_part, remove_part): a read of the
        #: story asked for before the newest of those may not know of it.
        self._own_changes = 0

    @property
    def layout(self) -> Layout:
        return self._stream_layout

    def compose(self) -> ComposeResult:
        yield Static(id="older")
        yield Static(self._empty_text, id="story-empty")
        yield Static(id="newer")

    def on_mount(self) -> None:
        self._update_markers()

    # -- what is shown ---------------------------------------------------------------------

    @property
    def part_views(self) -> list[PartView]:
        return list(self.query_children(PartView))

    @property
    def shown_session_id(self) -> str | None:
        return self._shown_id

    def part_view(self, seq: int) -> PartView | None:
        # The children's id index, not query_one: query_one's cache (1,024 entries, keyed by
        # the child list's version) kept every part ever looked up alive after it was removed,
        # with everything it had drawn, and full garbage collections grew slower with them.
        try:
            return self.get_child_by_id(f"part-{seq}", PartView)
        except NoMatches:
            return None

    def loaded_part(self, seq: int) -> Part | None:
        view = self.part_view(seq)
        return view.part if view is not None else None

    @property
    def target_part(self) -> Part | None:
        """The part a key for "this part" acts on: the selected one, else the newest."""
        if self.selected is not None:
            return self.loaded_part(self.selected)
        return self.last_part

    @property
    def last_part(self) -> Part | None:
        views = self.part_views
        if not views or self.has_more_after:
            return None
        return views[-1].part

    @property
    def settled(self) -> bool:
        """The story shown is the one the writer is heading for: none is waiting to open (the
        list's cursor left the shown story less than REST ago, or its parts are being read)."""
        return self._wanted is None or self._wanted == self._shown_id

    def set_empty_text(self, text: str) -> None:
        """What the pane says when there is nothing to show (no story, no parts yet)."""
        self._empty_text = Content(text)
        self.query_one("#story-empty", Static).update(self._empty_text)
        self._update_markers()

    def open(self, session_id: str, *, focus_input: bool = False) -> None:
        """Read the story's newest parts. StoryOpened goes on up to the screen, which shows them
        with its title, list row and input, unless another story is wanted by then."""
        self._wanted = session_id
        self._pager.open(session_id, focus_input)

    def open_when_resting(self, session_id: str) -> None:
        """Open this story once the list's cursor rests on it: holding the down key must not
        open every story. From now on a story still being read is not shown when it arrives."""
        self._wanted = session_id
        if self._rest_timer is not None:
            self._rest_timer.stop()
        self._rest_timer = self.set_timer(REST, self._open_wanted)

    def keep_shown(self) -> None:
        """The list's cursor is back on the story shown before the one it had moved to opened:
        that one is no longer wanted (it used to open anyway, under a cursor resting elsewhere)."""
        if self._rest_timer is not None:
            self._rest_timer.stop()
        self._wanted = self._shown_id

    def _open_wanted(self) -> None:
        if self._wanted is not None:
            self.open(self._wanted)

    @on(StoryOpened)
    def _opened(self, event: StoryOpened) -> None:
        if event.opened.session.id != self._wanted:
            event.stop()  # the writer has moved on to another story

    async def show(self, opened: OpenedSession) -> None:
        """Replace the pane with this session's newest parts, scrolled to the bottom.

        Only the parts that fill the pane are mounted now; the rest of the loaded tail is held
        and goes in above them when the writer scrolls up, with no second trip to the database.
        So a story opens as fast as a short one, however long its parts.
        """
        self._shown_id = self._wanted = opened.session.id
        if not opened.parts:
            self.set_empty_text(no_parts_text(opened.session))
        # No paging until the view has settled at the bottom (it starts at the top).
        self._paging = True
        pager = self._pager
        first = pager.hold(opened, screenful(opened.parts, self.size.width, self.size.height))
        with self.app.batch_update():
            await self.remove_children(PartView)
            release_drawings()
            self.selected = None
            self.has_more_before = bool(pager.held) or opened.has_more_before
            self.has_more_after = False
            await self.mount_all(self._new_views(first), before=self.query_one("#newer"))
            self._update_markers()
        # Anchored: the view stays at the bottom while the parts' Markdown fills in, until the
        # writer scrolls away.
        self.anchor()
        self.call_after_refresh(self._settled)

    async def show_window(self, session_id: str, parts: list[Part], part_count: int) -> None:
        """Replace the window with `parts`, a page from inside the open story (a search result
        is among them): older and newer parts page in as the writer scrolls."""
        if session_id != self._shown_id or not parts:
            return
        self._paging = True
        self._pager.drop_held()
        with self.app.batch_update():
            await self.remove_children(PartView)
            release_drawings()
            self.selected = None
            self.has_more_before = parts[0].seq > 1
            self.has_more_after = parts[-1].seq < part_count
            await self.mount_all(self._new_views(parts), before=self.query_one("#newer"))
            self._update_markers()
        self.anchor(False)
        self.call_after_refresh(self._settled)

    def _settled(self) -> None:
        self._paging = False
        self._check_edges()

    async def clear(self, text: str) -> None:
        self._shown_id = None
        self._pager.drop_held()
        self.has_more_before = self.has_more_after = False
        # What the pane says is in place before the parts go (their removal takes a refresh):
        # never a moment of the start-up's "Opening your stories…" in between.
        self.set_empty_text(text)
        await self.remove_children(PartView)
        release_drawings()
        self.selected = None
        self._update_markers()

    async def prepend(self, session_id: str, parts: list[Part], has_more_before: bool) -> None:
        """Mount an older page above the window, keeping the writer's place on the screen."""
        if session_id != self._shown_id:
            return
        views = self.part_views
        first = views[0] if views else None
        fresh = [p for p in parts if first is None or p.seq < first.seq]
        self.has_more_before = has_more_before
        if not fresh or first is None:
            self._paging = False
            self._update_markers()
            return
        before_y = first.virtual_region.y
        await self.mount_all(self._new_views(fresh), before=first)
        self._update_markers()
        await self._trim(keep_top=True)

        def keep_place() -> None:
            # The part that was at the top is pushed down by the new page: follow it, then
            # allow the next page (checking before this would load page after page).
            self.scroll_to(
                y=self.scroll_y + first.virtual_region.y - before_y, animate=False, immediate=True
            )
            self._paging = False

        self.call_after_refresh(keep_place)

    async def append_newer(self, session_id: str, parts: list[Part], has_more_after: bool) -> None:
        """Mount a newer page below a trimmed window (scrolling back down)."""
        if session_id != self._shown_id:
            self._paging = False
            return
        views = self.part_views
        last = views[-1].seq if views else 0
        fresh = [p for p in parts if p.seq > last]
        self.has_more_after = has_more_after
        await self.mount_all(self._new_views(fresh), before=self.query_one("#newer"))
        self._update_markers()
        await self._trim(keep_top=False)
        self.call_after_refresh(setattr, self, "_paging", False)

    async def _trim(self, *, keep_top: bool) -> None:
        """Unmount the parts furthest from the writer when the window is over WINDOW."""
        views = self.part_views
        extra = len(views) - WINDOW
        if extra <= 0:
            return
        if keep_top:
            await self.remove_children(views[-extra:])
            self.has_more_after = True
        else:
            gone = views[:extra]
            self._pager.drop_held()  # they were above the parts trimmed now
            height = sum(v.outer_size.height for v in gone)
            await self.remove_children(gone)
            self.has_more_before = True
            self.scroll_to(y=max(0, self.scroll_y - height), animate=False, immediate=True)
        release_drawings()
        if self.selected is not None and self.part_view(self.selected) is None:
            self.selected = None
        self._update_markers()

    async def add_part(self, part: Part) -> PartView:
        """Mount a part being written and return its view: at the bottom (the next part), or
        in place of the view of the same part (a new take of it), which stays selected if it
        was."""
        view = PartView(part)
        view.provisional = True
        self._own_changes += 1
        before = self.query_one("#newer")
        # A read of the story that ended just before (a reload, the live watcher) may have
        # shown this part already, as the database held it: the part being written takes its
        # place rather than standing beside it under the same id.
        if (old := self.part_view(part.seq)) is not None:
            before = self.children[self.children.index(old) + 1]
            view.set_class(self.selected == part.seq, "-selected")
            await old.remove()
            release_drawings()
        elif self.selected == part.seq:
            self.selected = None
        # (A part being written shows what streams in: no unsaved text of an earlier try.)
        await self.mount(view, before=before)
        self._update_markers()
        await self._trim(keep_top=False)
        return view

    def reload(self) -> None:
        """Read the window's parts again and change in place only those that changed (an undo,
        a deleted or restored part: the parts after it move by one), so the writer keeps their
        place. A window at the newest part takes in the parts that now follow it."""
        session_id = self._shown_id
        if session_id is None:
            return
        views = self.part_views
        if not views:
            self.open(session_id)
            return
        limit = len(views) if self.has_more_after else len(views) + PAGE
        self._pager.reload(session_id, views[0].seq, limit, self._own_changes)

    @on(PartsReloaded)
    async def _reloaded(self, event: PartsReloaded) -> None:
        event.stop()
        if event.session_id != self._shown_id:
            return
        if event.asked != self._own_changes:
            # Read before a part was put on or taken off here (the part written since Enter,
            # say): it would take that part away, or bring back one just taken. Read again.
            self.reload()
            return
        fresh = {part.seq: part for part in event.parts}
        gone = []
        for view in self.part_views:
            part = fresh.pop(view.seq, None)
            if part is None:
                # (Not the part being written: this read may have been made just before Enter.
                # Its run takes it away if nothing is written.)
                if not view.provisional:
                    gone.append(view)
            elif not view.streaming:
                self._unsaved.show(view, part)
        if gone:
            await self.remove_children(gone)
            release_drawings()
        if fresh and not self.has_more_after:
            await self.mount_all(self._new_views(fresh.values()), before=self.query_one("#newer"))
            self.has_more_after = event.parts[-1].seq < event.part_count
            await self._trim(keep_top=False)
        if self.selected is not None and self.part_view(self.selected) is None:
            self.selected = None
        if not self.part_views and self.session is not None:
            self.set_empty_text(no_parts_text(self.session))
        self._update_markers()

    def follow(self, view: PartView) -> None:
        """Keep `view` in sight while it streams: the newest part stays at the bottom until
        the writer scrolls up (and again once they come back); an older part (a new take of
        it) is scrolled to once, and the view stays put."""
        if view is self.part_views[-1] and not self.has_more_after:
            self.anchor()
        else:
            self.anchor(False)
            self.call_after_refresh(self.scroll_to_widget, view, animate=False, top=True)

    def update_part(self, part: Part) -> None:
        view = self.part_view(part.seq)
        if view is not None:
            self._unsaved.show(view, part)
            self.mark_earlier_takes()

    def _new_views(self, parts: Iterable[Part]) -> list[PartView]:
        return [self._unsaved.view_of(part) for part in parts]

    # -- text the database has not saved (tui/main/unsaved.py) -----------------------------

    def keep_unsaved(self, session_id: str, seq: int, mark: UnsavedMark) -> None:
        """Part `seq` of that story shows `mark`'s text, marked unsaved, until forget_unsaved
        (also when it is mounted again), while the database holds the take it belongs in."""
        self._unsaved.put(session_id, seq, mark)
        view = self.part_view(seq) if session_id == self._shown_id else None
        if view is not None and not view.streaming:
            self._unsaved.show(view, view.part)

    def forget_unsaved(self, session_id: str, seq: int) -> None:
        """The text of part `seq` is saved (or no longer this pane's to keep): the part shows
        what the database holds once it is read again (reload)."""
        self._unsaved.drop(session_id, seq)
        view = self.part_view(seq) if session_id == self._shown_id else None
        if view is not None:
            view.mark_unsaved(None)

    # -- parts written from an earlier take --------------------------------------------------

    def mark_earlier_takes(self) -> None:
        """Say in each mounted part's header whether it was written before the chosen take of
        a part above it was made, from the parts loaded (those held above the window too: a
        part further up is not known here)."""
        views = self.part_views
        found = written_from_earlier([*self._pager.held, *(view.part for view in views)])
        for view in views:
            view.set_earlier(found.get(view.seq))

    async def remove_part(self, seq: int) -> None:
        self._own_changes += 1
        view = self.part_view(seq)
        if view is not None:
            await view.remove()
            release_drawings()
        if self.selected == seq:
            self.selected = None
        self._update_markers()

    def _update_markers(self) -> None:
        views = self.part_views
        older = self.query_one("#older", Static)
        first_seq = views[0].seq if views else None
        if self.has_more_before and first_seq is not None:
            show_note(older, older_note(first_seq))
            older.display = True
        elif views and first_seq == 1:
            show_note(older, BEGINNING)
            older.display = True
        else:
            older.display = False
        newer = self.query_one("#newer", Static)
        newer.display = self.has_more_after
        show_note(newer, NEWER)
        self.query_one("#story-empty").display = not views
        self._update_title()
        self.mark_earlier_takes()

    def watch_session(self, session: Session | None) -> None:
        self._update_title()

    def _update_title(self) -> None:
        self.border_title, self.border_subtitle = border_title(self.session, self.selected)

    # -- paging on scroll ------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._check_edges()

    def _check_edges(self) -> None:
        if self._paging or self._shown_id is None:
            return
        views = self.part_views
        if not views:
            return
        # Ask for the page before while the writer is still a screen away from the top, so it
        # is usually there before they arrive.
        if self.has_more_before and self.scroll_y <= max(EDGE, self.size.height):
            self._paging = True
            held = self._pager.take_held()
            if held:
                # Already loaded with the story: mount them, no database trip.
                self.call_later(self.prepend, self._shown_id, held, self._pager.more_in_db)
                return
            self.query_one("#older", Static).update(Content(LOADING_OLDER))
            self._pager.older(self._shown_id, views[0].seq)
        elif self.has_more_after and self.scroll_y >= self.max_scroll_y - EDGE:
            self._paging = True
            self._pager.newer(self._shown_id, views[-1].seq)

    @on(OlderLoaded)
    async def _older_loaded(self, event: OlderLoaded) -> None:
        event.stop()
        has_more = bool(event.parts) and event.parts[0].seq > 1
        await self.prepend(event.session_id, event.parts, has_more)

    @on(NewerLoaded)
    async def _newer_loaded(self, event: NewerLoaded) -> None:
        event.stop()
        last = event.parts[-1].seq if event.parts else event.part_count
        await self.append_newer(event.session_id, event.parts, last < event.part_count)

    @on(WorkFailed)
    def _load_failed(self) -> None:
        """A page (or a story) did not load: let the next scroll ask again. (Only this pane's
        loads post here; the message goes on up, and the screen tells the writer.)"""
        if self._paging:
            self._paging = False
            self._update_markers()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker states do not bubble: the screen hears of a bug in a load from this message.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Crashed(event.worker))

    def on_resize(self) -> None:
        # A story shorter than the pane cannot be scrolled: ask for older parts right away.
        self.call_after_refresh(self._check_edges)

    # -- selecting a part ------------------------------------------------------------------

    def action_select_part(self, step: int) -> None:
        views = self.part_views
        if not views:
            return
        seqs = [v.seq for v in views]
        if self.selected is None or self.selected not in seqs:
            index = len(seqs) - 1 if step < 0 else 0
        else:
            index = max(0, min(len(seqs) - 1, seqs.index(self.selected) + step))
        self.selected = seqs[index]

    def watch_selected(self, old: int | None, new: int | None) -> None:
        for seq, on_ in ((old, False), (new, True)):
            view = self.part_view(seq) if seq is not None else None
            if view is not None:
                view.set_class(on_, "-selected")
        if new is not None and (view := self.part_view(new)) is not None:
            self.scroll_to_widget(view, animate=False, top=True)
        self._update_title()
        self.post_message(self.Selected(new))

    @on(PartView.Clicked)
    def _part_clicked(self, event: PartView.Clicked) -> None:
        event.stop()
        self.selected = None if self.selected == event.seq else event.seq

    def action_newest(self) -> None:
        """End: the newest part, reloading the tail if the window was trimmed."""
        if self.has_more_after and self._shown_id is not None:
            self.open(self._shown_id)
        else:
            self.scroll_end(animate=False)
