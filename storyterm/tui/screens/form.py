"""What the form screens share (new story, story bible, part editor): the Save and Cancel
buttons, the error line a failed save fills, and asking before changes are thrown away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from storyterm.errors import StorytermError
from storyterm.tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from textual.app import App

    from storyterm.tui.host import HostApp


def clear_stale_notices(app: App[Any]) -> None:
    """A form the writer opens takes the screen: the notices from before (Started, Exported,
    Welcome) would lie over its fields, and the writer has moved on from them. Notices raised
    while the form is open still show."""
    app.clear_notifications()


class SaveFailed(Message):
    """A form's worker could not save: the form shows why and lets the writer try again."""

    def __init__(self, error: StorytermError) -> None:
        super().__init__()
        self.error = error


class FormBehaviour:
    """Mixed into a Screen whose compose() has a `#cancel` button, a save button with id
    `save_button`, and a `#error` Static. The screen supplies `changed`, the save action
    (named `save_action`) and the question asked before discarding."""

    save_button = "save"
    save_action = "save"
    discard_question = "Discard your changes?"
    discard_detail = "Press n to go back and save them with ctrl+s."

    app: HostApp

    # Provided by the Screen this is mixed into.
    query: Any
    query_one: Any
    dismiss: Any

    @property
    def changed(self) -> bool:
        raise NotImplementedError

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == self.save_button:
            event.stop()
            getattr(self, f"action_{self.save_action}")()
        elif event.button.id == "cancel":
            event.stop()
            self.action_cancel()

    def on_mount(self) -> None:
        # Textual runs every class's own on_mount along the MRO: the screen's runs too.
        clear_stale_notices(self.app)

    def on_save_failed(self, event: SaveFailed) -> None:
        # Said on the form's own error line, next to the fields: a notice as well would cover
        # the fields it is about (at 80x24 the notices' corner lies over the form).
        self._ready_again()
        self.show_error(event.error.message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # A bug, not a StorytermError: logged and told; the form keeps what was typed and can
        # save again.
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self._ready_again()
            self.show_error(self.app.report_unexpected(event.worker.error, where="a form"))

    def _ready_again(self) -> None:
        for button in self.query(f"#{self.save_button}").results(Button):
            button.disabled = False

    def show_error(self, text: str) -> None:
        error = self.query_one("#error", Static)
        error.update(Content(text))
        error.add_class("-shown")

    def action_cancel(self) -> None:
        if not self.changed:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmScreen(
                self.discard_question,
                self.discard_detail,
                yes="Discard",
                no="Keep editing",
                danger=True,
            ),
            answered,
        )
