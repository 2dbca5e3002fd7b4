"""What the writer does to their stories from the main screen's keys: start one, and change,
export or look into the open one, each in a worker.

StoryActions asks first before completing a story, opens the screen a change is made on (a
new story, the model, the bible, a part), runs the use case in a worker on the story column,
and answers with a message (SessionStarted, SessionChanged, Exported, ContextLoaded,
WorkFailed) that the column and the screen route onto their widgets. Takes, undo and the trash
(delete) are HistoryActions' (history_actions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from storyterm.errors import ExportError, StorytermError
from storyterm.tui.main.workers import run_in_thread
from storyterm.tui.messages import (
    ContextLoaded,
    Exported,
    SessionChanged,
    SessionStarted,
    WorkFailed,
)
from storyterm.tui.text import count, one_line

if TYPE_CHECKING:
    from pathlib import Path

    from textual.widget import Widget

    from storyterm.core.export import ExportResult
    from storyterm.core.runtime import Runtime
    from storyterm.core.views import Part, Session
    from storyterm.tui.host import Host
    from storyterm.tui.screens.model import ModelPick
    from storyterm.tui.widgets.story_view import StoryView

#: The main screen's keys for the export dialog and for copying the exported folder's path
#: (keys.py binds them).
CHOOSE_KEY = "ctrl+e"
COPY_KEY = "y"

#: What each status move says once done.
_MOVED = {
    "pause": "Paused {title}. Press r to resume it.",
    "resume": "Resumed {title}. Carry on writing.",
    "complete": "Completed {title}. It is read-only now: e exports it, C reopens it.",
}


def not_now(session: Session, move: str) -> str:
    """Why `session` cannot `move` in its status, and what the writer can do instead."""
    title = f"“{one_line(session.title)}”"
    status = str(session.status)
    if status == "completed":
        return f"{title} is completed and read-only, so it cannot {move}. Press C to reopen it."
    if status == "paused" and move == "pause":
        return f"{title} is already paused. Press r to resume it."
    if status == "active" and move == "resume":
        return f"{title} is not paused: just write (Enter in the input)."
    return f"{title} is {status}: it cannot {move} now."


def saved_note(part: Part) -> str:
    """What the part editor's save made: a new take, the one before it kept."""
    if str(part.take_kind) == "edited" and part.takes > 1:
        return f"Part {part.seq}: take {part.take} (your edit) — < > to compare."
    return f"Part {part.seq} saved."


def exported_note(result: ExportResult) -> str:
    folder = result.folder.expanduser().resolve()
    files = count(len(result.files), "file")
    what = f"{count(result.part_count, 'part')}, {count(result.word_count, 'word')}"
    if result.unchanged:
        files += f", {result.unchanged} already up to date"
    return f"Exported {what} to {folder} ({files})."


class StoryActions:
    """The stories' use cases for the main screen's keys."""

    def __init__(
        self,
        host: Widget,
        runtime: Runtime,
        writer: Callable[[], int],
        *,
        push_screen: Callable[..., Any],
        stop_generation: Callable[[], None],
        story: StoryView,
    ) -> None:
        #: Runs the workers, shows notifications and receives the messages (the story column).
        self._host = host
        self._runtime = runtime
        self._writer = writer
        self._push_screen = push_screen
        self._stop_generation = stop_generation
        self._story = story
        #: The folder the story was last exported to in this run (what `y` copies).
        self.last_export: Path | None = None

    def _run(
        self, work: Callable[..., None], *args: Any, group: str, exclusive: bool = False
    ) -> None:
        run_in_thread(self._host, work, *args, group=group, exclusive=exclusive)

    def _refuse(self, session: Session, move: str) -> None:
        self._host.notify(not_now(session, move), markup=False)

    # -- a new story -----------------------------------------------------------------------

    def new_story(self) -> None:
        """The new-story screen; the story started there is listed and opened (SessionStarted)."""
        from storyterm.tui.screens.new_session import NewSessionScreen

        def created(session: Session | None) -> None:
            if session is None:
                return
            self._host.notify(
                f"Started “{one_line(session.title)}”. Type what happens first and press Enter.",
                markup=False,
            )
            self._host.post_message(SessionStarted(session))

        self._push_screen(NewSessionScreen(), created)

    # -- status moves ----------------------------------------------------------------------

    def pause(self, session: Session) -> None:
        if str(session.status) != "active":
            self._refuse(session, "pause")
            return
        # Pausing during a generation stops it; what was written is kept.
        self._stop_generation()
        self._run(self._change_status, session.id, "pause", group="status")

    def resume(self, session: Session) -> None:
        if str(session.status) != "paused":
            self._refuse(session, "resume")
            return
        self._run(self._change_status, session.id, "resume", group="status")

    def complete(self, session: Session) -> None:
        """Ask first: a completed story is read-only."""
        from storyterm.tui.screens.confirm import ConfirmScreen

        if str(session.status) == "completed":
            self._refuse(session, "complete")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._stop_generation()
                self._run(self._change_status, session.id, "complete", group="status")

        self._push_screen(
            ConfirmScreen(
                f"Complete “{one_line(session.title)}”?",
                "A completed story is read-only: you can still read and export it, but not "
                "add, regenerate or edit parts until you reopen it (C).",
                yes="Complete",
            ),
            answered,
        )

    def _change_status(self, session_id: str, move: str) -> None:
        sessions = self._runtime.sessions
        try:
            session = getattr(sessions, move)(self._writer(), session_id)
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
            return
        note = _MOVED[move].format(title=f"“{one_line(session.title)}”")
        self._host.post_message(SessionChanged(session, note, focus_input=move == "resume"))

    # -- what a story is written with ------------------------------------------------------

    def edit_bible(self, session: Session) -> None:
        from storyterm.tui.screens.bible import BibleScreen

        def saved(updated: Session | None) -> None:
            if updated is not None:
                self._host.post_message(SessionChanged(updated, "Story bible saved."))

        self._push_screen(BibleScreen(session), saved)

    def edit_lore(self, session: Session) -> None:
        from storyterm.tui.screens.lore import LoreScreen

        def closed(updated: Session | None) -> None:
            if updated is not None:  # something changed: the story moved to a new version
                self._host.post_message(SessionChanged(updated))

        self._push_screen(LoreScreen(session), closed)

    def choose_model(self, session: Session) -> None:
        """The model screen: the story's model and its sampling options."""
        from storyterm.core.memory.state import MemoryState
        from storyterm.core.sampling import Sampling
        from storyterm.tui.screens.model import ModelScreen

        if str(session.status) == "completed":
            self._refuse(session, "change its model")
            return

        def chosen(pick: ModelPick | None) -> None:
            if pick is not None:
                self._run(self._set_model, session.id, pick, group="status")

        own = MemoryState.from_memory(session.memory).options
        defaults = Sampling.from_settings(self._runtime.settings)
        self._push_screen(ModelScreen(session.title, session.model_name, own, defaults), chosen)

    def _set_model(self, session_id: str, pick: ModelPick) -> None:
        """Save the model, then the sampling options (thinking is checked against the model
        the story then has), as the model screen chose them."""
        from storyterm.core.generation import thinking

        sessions, notes = self._runtime.sessions, []
        session: Session | None = None
        try:
            if pick.model:
                session = sessions.set_model(self._writer(), session_id, pick.model)
                notes.append(f"“{one_line(session.title)}” now uses {pick.model}.")
            if pick.options:
                session, note = thinking.set_options(
                    sessions, self._runtime.models, self._writer(), session_id, pick.options
                )
                notes += ["Sampling options saved.", note] if note else ["Sampling options saved."]
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            if session is not None:
                self._host.post_message(SessionChanged(session, " ".join(notes)))

    # -- a part ----------------------------------------------------------------------------

    def _target_part(self) -> Part | None:
        story = self._story
        if story.selected is not None:
            return story.loaded_part(story.selected)
        return story.last_part

    def edit_part(self, session: Session) -> None:
        """Edit the selected part (else the last one) on the part editor."""
        from storyterm.tui.screens.part_editor import PartEditorScreen

        host = self._host
        if str(session.status) == "completed":
            self._refuse(session, "edit")
            return
        part = self._target_part()
        if part is None:
            host.notify("This story has no parts to edit yet.")
            return
        view = self._story.part_view(part.seq)
        if str(part.state) == "streaming" or (view is not None and view.streaming):
            host.notify("That part is still being written. Stop it (Esc) first, then edit.")
            return

        def saved(updated: Part | None) -> None:
            if updated is not None:
                self._story.update_part(updated)
                self.refresh(updated.session_id, note=saved_note(updated))

        self._push_screen(PartEditorScreen(part, session.title), saved)

    def refresh(self, session_id: str, *, note: str = "") -> None:
        """Read the session again (its counts after a change made elsewhere); `note` says what
        the writer changed."""
        self._run(self._refresh, session_id, note, group="refresh", exclusive=True)

    def _refresh(self, session_id: str, note: str) -> None:
        try:
            session = self._runtime.sessions.get(self._writer(), session_id)
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._host.post_message(SessionChanged(session, note))

    # -- files and context -----------------------------------------------------------------

    def export(self, session: Session, *, choose: bool = False) -> None:
        """The story as files in the export folder (updated in place next time), in the
        export_formats setting's formats; with `choose`, the export dialog asks for the formats
        and the folder of this export first."""
        settings = self._runtime.settings
        if not choose:
            formats, folder = tuple(settings.export_formats), settings.export_dir
            self._run(self._export, session.id, formats, folder, group="export", exclusive=True)
            return
        from storyterm.tui.screens.export import ExportChoice, ExportScreen

        def chosen(choice: ExportChoice | None) -> None:
            if choice is not None:
                self._run(
                    self._export,
                    session.id,
                    choice.formats,
                    choice.folder,
                    group="export",
                    exclusive=True,
                )

        dialog = ExportScreen(session.title, settings.export_formats, settings.export_dir)
        self._push_screen(dialog, chosen)

    def _export(self, session_id: str, formats: tuple[str, ...], folder: Path) -> None:
        from storyterm.core.export import export_session

        try:
            result = export_session(
                self._runtime.sessions,
                self._writer(),
                session_id,
                out_dir=folder,
                formats=formats,
                author=cast("Host", self._host.app).username,
            )
        except StorytermError as exc:
            if isinstance(exc, ExportError) and exc.another_folder:
                # The core names no key: this is the TUI's way to another folder.
                exc.message += f" Press {CHOOSE_KEY} to export to another folder."
                exc.args = (exc.message,)
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._host.post_message(Exported(result))

    def exported(self, event: Exported) -> None:
        """Say where the story's files are, and how to copy that folder's path."""
        self.last_export = event.result.folder.expanduser().resolve()
        note = f"{exported_note(event.result)} Press {COPY_KEY} to copy the folder's path."
        self._host.notify(note, title="Exported", timeout=12, markup=False)

    def copy_export_folder(self) -> None:
        """Put the path of the folder last exported to (in this run) on the clipboard."""
        if self.last_export is None:
            self._host.notify(
                "Nothing has been exported yet: press e to export the open story (ctrl+e to "
                "choose the formats and the folder), then y copies the folder's path.",
                markup=False,
            )
            return
        self._host.app.copy_to_clipboard(str(self.last_export))
        self._host.notify(f"Copied {self.last_export} to the clipboard.", markup=False)

    def copy_part(self, session: Session) -> None:
        """Put the selected part's text (else the last part's) of `session`, the open story,
        on the clipboard: the chosen take as saved, or what is written so far of a part being
        written."""
        part = self._target_part()
        if part is None:
            self._host.notify("This story has no parts to copy yet.")
            return
        view = self._story.part_view(part.seq)
        streaming = view is not None and view.streaming
        text = view.shown_text if streaming and view is not None else part.content
        if not text.strip():
            self._host.notify(f"Part {part.seq} holds no words to copy yet.")
            return
        self._host.app.copy_to_clipboard(text)
        words = count(len(text.split()), "word")
        so_far = " written so far" if streaming else ""
        self._host.notify(f"Copied part {part.seq} ({words}{so_far}) to the clipboard.")

    def view_context(self, session: Session) -> None:
        """What the model was sent last for this story (ContextLoaded, then show_context)."""
        self._run(self._load_context, session.id, session.title, group="context", exclusive=True)

    def _load_context(self, session_id: str, title: str) -> None:
        try:
            teller = self._runtime.storyteller
            messages = teller.last_prompt(self._writer(), session_id)
            thought = teller.last_thinking(self._writer(), session_id)
            if thought is not None:  # after the prompt: the model thought, then wrote
                cut = "… (its last part only)\n\n" if thought["cut"] else ""
                messages.append(("thinking", cut + thought["text"]))
            lore = lore_note(self._runtime.sessions.get(self._writer(), session_id))
        except StorytermError as exc:
            self._host.post_message(WorkFailed(exc, session_id=session_id))
        else:
            self._host.post_message(ContextLoaded(title, messages, lore))

    def show_context(self, event: ContextLoaded) -> None:
        from storyterm.tui.screens.context import ContextScreen

        note = (
            one_line(event.lore)
            if event.messages
            else "Nothing has been sent to the model for this story yet: write a part first."
        )
        self._push_screen(ContextScreen(event.title, event.messages, note))


def lore_note(session: Session) -> str:
    """What the context viewer says of its prompt: the tokens of each block, and the lore it
    used and left out."""
    from storyterm.core.memory.lore import describe_report
    from storyterm.core.memory.meter import describe_tokens
    from storyterm.core.memory.state import MemoryState

    state = MemoryState.from_memory(session.memory)
    blocks = describe_tokens(state.tokens, state.last_prompt_tokens_estimated, state.last_prompt)
    return " ".join(filter(None, (blocks, describe_report(state.last_lore))))
