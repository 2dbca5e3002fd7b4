"""The shape the list dialogs share (the trash, the lorebook, search results): a panel in the
middle of the screen, a list filling it without a border of its own, rows cut with an ellipsis
rather than wrapped."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

ResultType = TypeVar("ResultType")


class ListScreen(ModalScreen[ResultType]):
    """A modal list dialog; subclasses add their own rows, notes and keys."""

    DEFAULT_CSS = """
    ListScreen {
        align: center middle;
        #panel {
            width: 100%;
            max-width: 110;
            height: 1fr;
            border: thick $primary 80%;
            background: $surface;
            padding: 0 1;
        }
        OptionList, OptionList:focus {
            height: 1fr; border: none; background: transparent; padding: 0;
            text-wrap: nowrap; text-overflow: ellipsis;
        }
        OptionList > .option-list--option { padding: 0 1; }
    }
    """
