"""A story's sampling options as a small form: one input per option, checked as it is typed."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import DescendantFocus
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label, Static

from storyterm.core.sampling import (
    OPTIONS,
    THINK,
    THINK_MEANING,
    Number,
    Option,
    Sampling,
    clean_think,
    clean_value,
)
from storyterm.errors import InvalidInput
from storyterm.tui.text import safe
from storyterm.tui.widgets.safe_input import SafeInput

#: Room for any number a writer means (a seed has ten digits).
MAX_INPUT = 40
#: What the help line says while no option has the focus.
GENERAL_HELP = (
    "Sampling options for this story. Leave one empty to use the default (from the settings, "
    "else the model's own)."
)


#: Every input's name: the options, then thinking (off, on or a level: text, not a number).
NAMES = (*OPTIONS, THINK)


def shown(value: Number | str | None) -> str:
    """A value as the inputs write it: 0.8, 40, on."""
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _clean(name: str, text: str) -> Number | str:
    return clean_think(text) if name == THINK else clean_value(name, text)


class _Check(Validator):
    """The core's check of one option (empty is valid: it means "the default")."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            _clean(self.name, value)
        except InvalidInput as exc:
            return self.failure(exc.message)
        return self.success()


class SamplingForm(Vertical):
    """Edits a story's own sampling options over the defaults. Each input holds the story's own
    value, or is empty and shows the default it falls back to; a line below explains the
    focused option, and says what is wrong with a value the core would refuse. The owner reads
    `changes` (None while a value is refused) and saves them."""

    DEFAULT_CSS = """
    SamplingForm {
        height: auto;
        .option-row { height: 1; }
        .option-row > Label { width: 16; padding: 0 1 0 0; }
        .option-row > Input { width: 34; }
        #sampling-help { height: 3; color: $text-muted; margin-top: 1; }
        #sampling-error { height: auto; color: $text-error; display: none; }
        #sampling-error.-shown { display: block; }
    }
    """

    INPUT_PREFIX: ClassVar[str] = "option-"

    def __init__(self, own: Sampling, defaults: Sampling, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.own = own
        self.defaults = defaults

    def compose(self) -> ComposeResult:
        for name in NAMES:
            option = OPTIONS.get(name)
            placeholder = f"default: {self._default(option) if option else 'off'}"
            with Horizontal(classes="option-row"):
                yield Label(option.label if option else "Thinking")
                yield SafeInput(
                    shown(getattr(self.own, name)),
                    placeholder=placeholder,
                    id=self.INPUT_PREFIX + name,
                    max_length=MAX_INPUT,
                    validators=[_Check(name)],
                    validate_on=["changed", "submitted"],
                    compact=True,
                )
        yield Static(Content(GENERAL_HELP), id="sampling-help")
        yield Static(id="sampling-error")

    def _default(self, option: Option) -> str:
        """The default `option` falls back to, as a writer reads it."""
        default = getattr(self.defaults, option.name)
        return shown(default) if default is not None else option.unset

    def _input(self, name: str) -> Input:
        return self.query_one(f"#{self.INPUT_PREFIX}{name}", Input)

    @property
    def problem(self) -> str | None:
        """What is wrong with the first refused value, or None."""
        for name in NAMES:
            result = _Check(name).validate(self._input(name).value)
            if not result.is_valid:
                return result.failure_descriptions[0]
        return None

    @property
    def changes(self) -> dict[str, Number | str | None] | None:
        """What the writer changed: option -> new value, or None to use the default again.
        None (not {}) while any value is refused."""
        if self.problem is not None:
            return None
        changes: dict[str, Number | str | None] = {}
        for name in NAMES:
            text = self._input(name).value.strip()
            if text == shown(getattr(self.own, name)):
                continue
            changes[name] = _clean(name, text) if text else None
        return {name: value for name, value in changes.items() if value != getattr(self.own, name)}

    def show_problem(self) -> None:
        problem = self.problem
        error = self.query_one("#sampling-error", Static)
        error.update(Content(safe(problem or "")))
        error.set_class(problem is not None, "-shown")

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self.show_problem()

    @on(DescendantFocus)
    def _explain(self, event: DescendantFocus) -> None:
        widget = event.widget
        name = (widget.id or "").removeprefix(self.INPUT_PREFIX)
        help_line = self.query_one("#sampling-help", Static)
        if name == THINK:
            help_line.update(
                Content(
                    f"Thinking: {THINK_MEANING}. Off, on, low, medium or high; empty: off. "
                    "Its thinking never goes into the story (v shows it)."
                )
            )
            return
        if name not in OPTIONS:
            help_line.update(Content(GENERAL_HELP))
            return
        option = OPTIONS[name]
        rule, default = option.rule.capitalize(), self._default(option)
        help_line.update(
            Content(f"{option.label}: {option.meaning}. {rule}; empty: the default ({default}).")
        )
