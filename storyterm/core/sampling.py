"""A story's sampling options: what Ollama is told besides the prompt (temperature, top_p,
top_k, repeat_penalty, num_predict, seed), the one check a value goes through from any front
end, and how a story's own values lie over the settings' defaults.

The bounds are the settings' own (storyterm/settings.py's Temperature, TopP, ...): a default in
config.toml and a value typed for one story are held to the same ones, with the same words.
A story keeps only the values its writer set (session.memory, core/memory/state.py's OPTIONS);
unset means "the default", so a story follows a default changed later.

Cheap to import (no LangChain): the CLI, the API and the TUI check values with it, and the
story memory's reader reads stored options with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec.inspect

from storyterm import settings as _settings
from storyterm.errors import InvalidInput
from storyterm.settings import Settings

Number = int | float


@dataclass(frozen=True)
class Option:
    """One sampling option: its Ollama name, how a writer reads it, and its bounds."""

    name: str
    label: str
    #: What it does, in a few words (the CLI's help, the model screen's hints).
    meaning: str
    #: What happens when neither the story nor the settings set it.
    unset: str
    whole: bool
    low: Number
    high: Number
    #: The low bound itself is refused (top_p: more than 0).
    low_open: bool
    #: The bounds in words: "from 0 to 2".
    bounds: str

    @property
    def flag(self) -> str:
        """The command line's option: --top-p."""
        return "--" + self.name.replace("_", "-")

    @property
    def kind(self) -> str:
        return "a whole number" if self.whole else "a number"

    @property
    def rule(self) -> str:
        """What a value must be: "a number from 0 to 2"."""
        return f"{self.kind} {self.bounds}"

    def refusal(self, value: Any) -> str:
        """Why `value` is refused: "must be a number from 0 to 2 (got 5)"."""
        return f"must be {self.rule} (got {_shown(value)})"


def _option(name: str, label: str, meaning: str, unset: str, kind: Any) -> Option:
    info = msgspec.inspect.type_info(kind)
    assert isinstance(info, (msgspec.inspect.IntType, msgspec.inspect.FloatType))
    low = info.ge if info.ge is not None else info.gt
    assert low is not None and info.le is not None
    return Option(
        name=name,
        label=label,
        meaning=meaning,
        unset=unset,
        whole=isinstance(info, msgspec.inspect.IntType),
        low=low,
        high=info.le,
        low_open=info.gt is not None,
        bounds=_settings.bounds_text(info),
    )


#: The options, in the order every front end shows them.
OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        _option(
            "temperature",
            "Temperature",
            "how adventurous the wording is: low keeps to the likeliest words",
            "the model's own",
            _settings.Temperature,
        ),
        _option(
            "top_p",
            "Top p",
            "choose among the likeliest words that together make up this share",
            "the model's own",
            _settings.TopP,
        ),
        _option(
            "top_k",
            "Top k",
            "choose among this many likeliest words",
            "the model's own",
            _settings.TopK,
        ),
        _option(
            "repeat_penalty",
            "Repeat penalty",
            "above 1 discourages repeating recent words",
            "the model's own",
            _settings.RepeatPenalty,
        ),
        _option(
            "num_predict",
            "Reply length",
            "most tokens per part, up to half the context window",
            "as the window allows",
            _settings.NumPredict,
        ),
        _option(
            "seed",
            "Seed",
            "the same seed and prompt give the same part again",
            "a new one each time",
            _settings.Seed,
        ),
    )
}
NAMES = tuple(OPTIONS)

#: Whether the model thinks before it writes (models that can: core/generation/thinking.py),
#: kept with the options and sent to Ollama as `think`. Unset is off: prose wants no thinking.
THINK = "think"
THINK_LEVELS = ("low", "medium", "high")
THINK_CHOICES = ("off", "on", *THINK_LEVELS)
THINK_MEANING = (
    "whether a model that can think first does so (off, on, or low/medium/high for gpt-oss)"
)


def clean_think(value: Any) -> str:
    """The thinking setting `value`, checked: off, on or a level (true/false read as on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    choice = value.strip().lower() if isinstance(value, str) else None
    if choice not in THINK_CHOICES:
        raise InvalidInput(
            f"Thinking (think) must be one of off, on, low, medium or high (got {_shown(value)})."
        )
    return choice


def option(name: Any) -> Option:
    """The option called `name` (Ollama's name, or with dashes as the CLI writes it)."""
    key = name.strip().lower().replace("-", "_") if isinstance(name, str) else None
    if key not in OPTIONS:
        shown = repr(name[:40]) if isinstance(name, str) else type(name).__name__
        raise InvalidInput(f"There is no sampling option {shown}. The options are {_listed()}.")
    return OPTIONS[key]


def _listed() -> str:
    return ", ".join(NAMES) + " and " + THINK


def _shown(value: Any) -> str:
    """What the writer gave, short enough for a message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a number too large to use"  # repr() of a huge int is slow, or refused
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    if isinstance(value, (int, float)):
        return repr(value)
    return type(value).__name__


def _as_number(value: Any) -> Any:
    """Number text as a number (as Python reads one: " 7 ", "0.5", "1e2"); anything else as
    it is. A bool is not a number here, whatever Python says."""
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text.isascii() or len(text) > 64:  # int() reads other scripts' digits too
            return value
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return value
    return value


def clean_value(name: str, value: Any) -> Number:
    """`value` for option `name`, checked: a number (or number text) within the option's bounds,
    a whole one where the option counts. Anything else is InvalidInput saying what it must be."""
    spec = option(name)
    number = _as_number(value)
    named = spec.label if spec.label.lower() == spec.name else f"{spec.label} ({spec.name})"
    problem = f"{named} {spec.refusal(value)}."
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise InvalidInput(problem)
    if isinstance(number, float):
        if not math.isfinite(number):
            raise InvalidInput(problem)
        if spec.whole:
            if not number.is_integer():
                raise InvalidInput(problem)
            number = int(number)
    # Compared before any conversion: a huge whole number never becomes a float (overflow).
    too_low = number <= spec.low if spec.low_open else number < spec.low
    if too_low or number > spec.high:
        raise InvalidInput(problem)
    return int(number) if spec.whole else float(number)


def clean_changes(changes: Any) -> dict[str, Number | str | None]:
    """Changes to a story's options, checked: option name -> its new value, or None to go back
    to the default. Every value is checked before any is kept; the first bad one is refused."""
    if not isinstance(changes, Mapping):
        raise InvalidInput(
            'The options must be an object, like {"temperature": 0.8, "seed": null}, '
            f"not {type(changes).__name__}."
        )
    cleaned: dict[str, Number | str | None] = {}
    for name, value in changes.items():
        if isinstance(name, str) and name.strip().lower() == THINK:
            cleaned[THINK] = None if value is None else clean_think(value)
            continue
        key = option(name).name
        cleaned[key] = None if value is None else clean_value(key, value)
    return cleaned


@dataclass(frozen=True)
class Sampling:
    """Values for the options (None: not set here)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    num_predict: int | None = None
    seed: int | None = None
    #: THINK's setting (off, on, low, medium, high); None: not set (off).
    think: str | None = None

    def values(self) -> dict[str, Number | str]:
        """The options set here, by name (what a story stores)."""
        out: dict[str, Number | str] = {
            name: value for name in NAMES if (value := getattr(self, name)) is not None
        }
        if self.think is not None:
            out[THINK] = self.think
        return out

    def over(self, defaults: Sampling) -> Sampling:
        """These values, and the defaults' where these are unset."""
        merged: dict[str, Any] = {**defaults.values(), **self.values()}
        return Sampling(**merged)

    def changed(self, changes: Mapping[str, Number | str | None]) -> Sampling:
        """These values with `changes` (clean_changes') applied: None unsets."""
        values: dict[str, Any] = dict(changes)
        return dataclasses.replace(self, **values)

    @classmethod
    def from_settings(cls, settings: Settings) -> Sampling:
        return cls(**{name: getattr(settings, name) for name in NAMES})

    @classmethod
    def stored(cls, value: Any) -> Sampling:
        """A story's stored options, read the tolerant way the story memory is: a value that
        does not pass its check (a hand-edited story.json, an older storyterm) is unset."""
        if not isinstance(value, dict):
            return cls()
        kept: dict[str, Any] = {}
        for name in NAMES:
            raw = value.get(name)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                try:
                    kept[name] = clean_value(name, raw)
                except InvalidInput:
                    continue
        if isinstance(value.get(THINK), str):
            with contextlib.suppress(InvalidInput):
                kept[THINK] = clean_think(value[THINK])
        return cls(**kept)


#: The summary of older parts is bookkeeping, not prose: it keeps to the likeliest words
#: whatever the story's own options are.
SUMMARY_SAMPLING = Sampling(temperature=0.3)


@dataclass(frozen=True)
class Row:
    """One option as a front end shows it: its value and where that value comes from."""

    option: Option
    value: Number | None
    #: "story" (the story's own), "default" (the settings'), or "unset" (see option.unset).
    source: str

    @property
    def shown(self) -> str:
        if self.value is None:
            return self.option.unset
        return f"{self.value:g}" if isinstance(self.value, float) else str(self.value)


def story_rows(own: Sampling, settings: Settings) -> list[Row]:
    """Every option of a story whose own values are `own` (MemoryState.options), over the
    settings' defaults."""
    return rows(own, Sampling.from_settings(settings))


def rows_json(rows: list[Row], own: Sampling | None = None) -> dict[str, dict[str, Any]]:
    """Rows as the CLI's --json and the API write them: name -> {value, source}; with `own`
    (the story's own values), THINK after them (null: off)."""
    out = {row.option.name: {"value": row.value, "source": row.source} for row in rows}
    if own is not None:
        out[THINK] = {"value": own.think, "source": "story" if own.think else "unset"}
    return out


def rows(own: Sampling, defaults: Sampling) -> list[Row]:
    """Every option of a story with its own values `own`: the value it is written with."""
    out = []
    for name, spec in OPTIONS.items():
        mine, default = getattr(own, name), getattr(defaults, name)
        if mine is not None:
            out.append(Row(spec, mine, "story"))
        elif default is not None:
            out.append(Row(spec, default, "default"))
        else:
            out.append(Row(spec, None, "unset"))
    return out
