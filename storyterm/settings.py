"""One Settings object: STORYTERM_* environment variables, an optional config.toml, defaults.

A small loader on the standard library (os.environ, tomllib, a dataclass): importing it costs a
few milliseconds where pydantic-settings cost ~100 ms of every start-up. It keeps what the
pydantic-settings version did: names are matched without regard to case (in the environment, in
config.toml and in keyword arguments), keys it does not know are ignored, an empty variable is an
empty value (STORYTERM_REDIS_URL= turns the cache off), and numbers are read as leniently
("+7", " 7 ", "1_000", "5.0" for a whole number; "inf" for a number).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from storyterm.errors import InvalidInput

APP_NAME = "storyterm"

DEFAULT_MODEL_PREFERENCES = ["gemma3:latest", "mistral-small3.1:latest"]

#: Where exports go when neither the writer nor the settings say otherwise (relative to the
#: folder storyterm runs in).
DEFAULT_EXPORT_DIR = Path("generated_stories")

ENV_PREFIX = "STORYTERM_"


def _default_config_dir() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME)


def _default_data_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME)


def config_file_path() -> Path:
    """Where config.toml is read from: STORYTERM_CONFIG, else the user config dir."""
    explicit = os.environ.get("STORYTERM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    config_dir = os.environ.get("STORYTERM_CONFIG_DIR")
    base = Path(config_dir).expanduser() if config_dir else _default_config_dir()
    return base / "config.toml"


# --- reading one value -------------------------------------------------------------------------


class _Bad(ValueError):
    """A value that cannot be used: `reason` completes "STORYTERM_X / x: ..."; `value` is what
    was given (shown when it is a plain string or number)."""

    def __init__(self, reason: str, value: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value


_QUOTED = "must be text in quotes"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            pass
    raise _Bad(_QUOTED, value)


def _stripped(value: Any) -> str:
    return _text(value).strip()


def _path(value: Any) -> Path:
    if isinstance(value, (str, os.PathLike)):
        try:
            return Path(value)
        except TypeError:
            pass
    raise _Bad("must be a path in quotes", value)


def _is_ascii_integer(text: str) -> bool:
    """Digits with an optional sign and single underscores between digits ("+1_000")."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or body[0] == "_" or body[-1] == "_" or "__" in body:
        return False
    return body.replace("_", "").isdigit()


def _parse_whole(value: Any, reason: str) -> int:
    if isinstance(value, int):  # bool included: true reads as 1, as pydantic did
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise _Bad(reason, value)
    if isinstance(value, str):
        text = value.strip()
        whole, dot, zeros = text.partition(".")
        # "5.0" and "5.00" are whole numbers; "5." and "5.5" are not.
        if _is_ascii_integer(whole) and (not dot or (zeros and set(zeros) == {"0"})):
            return int(whole)
    raise _Bad(reason, value)


def _whole(low: int, high: int | None, unit: str = "") -> Callable[[Any], int]:
    """A whole number from `low` to `high` (no upper bound when None)."""
    what = f"a whole number{unit}"
    bounds = f"{what} from {low} to {high}" if high is not None else f"{what} of {low} or more"

    def read(value: Any) -> int:
        number = _parse_whole(value, f"must be {what}")
        if number < low or (high is not None and number > high):
            raise _Bad(f"must be {bounds}", value)
        return number

    return read


def _positive(value: Any) -> float:
    """A number greater than 0 ("inf" is one; "nan" is not)."""
    number: float | None = None
    if isinstance(value, (int, float)):  # bool included: true reads as 1.0, as pydantic did
        number = float(value)
    elif isinstance(value, str) and value.strip().isascii():
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None:
        raise _Bad("must be a number", value)
    if not number > 0:
        raise _Bad("must be greater than 0", value)
    return number


def _model_list(value: Any) -> list[str]:
    """A TOML list of names, or one comma-separated string ("a, b" from the environment)."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise _Bad(
            'must be a list of model names, like ["gemma3:latest"], or one comma-separated string',
            value,
        )
    names = []
    for item in value:
        try:
            names.append(_text(item))
        except _Bad as exc:
            raise _Bad("must list each model name as text in quotes", item) from exc
    return names


def _optional(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def read_optional(value: Any) -> Any:
        return None if value is None else read(value)

    return read_optional


def _read(check: Callable[[Any], Any], **extra: Any) -> dict[str, Any]:
    return {"read": check, **extra}


# --- the settings ------------------------------------------------------------------------------


@dataclass
class Settings:
    """Everything storyterm can be configured with. Nothing else in the code reads os.environ.

    Build it with load_settings(), which reads the environment and config.toml and checks each
    value; Settings(...) itself only holds values (its defaults are the built-in ones).
    Attributes may be reassigned (tests point ollama_host at a stand-in).
    """

    config_dir: Path = field(default_factory=_default_config_dir, metadata=_read(_path))
    data_dir: Path = field(default_factory=_default_data_dir, metadata=_read(_path))
    #: SQLAlchemy URL; empty means "a SQLite file in the data dir".
    database_url: str = field(default="", metadata=_read(_stripped))
    #: Redis URL; an empty value turns the cache off.
    redis_url: str = field(default="redis://localhost:6379/0", metadata=_read(_stripped))
    #: Read from STORYTERM_OLLAMA_HOST, else OLLAMA_HOST (Ollama's own variable).
    ollama_host: str = field(
        default="http://localhost:11434",
        metadata=_read(_text, names=("storyterm_ollama_host", "ollama_host"), env="OLLAMA_HOST"),
    )
    export_dir: Path = field(default=DEFAULT_EXPORT_DIR, metadata=_read(_path))
    #: JWT signing secret shared by every client of one database; generated when unset.
    jwt_secret: str | None = field(default=None, metadata=_read(_optional(_text)))
    #: A token to use instead of the keyring (scripts, servers).
    token: str | None = field(default=None, metadata=_read(_optional(_text)))
    token_ttl_days: int = field(default=30, metadata=_read(_whole(1, 3650, " of days")))
    #: Models tried in order for a new session when the writer picks none.
    model_preferences: list[str] = field(
        default_factory=lambda: list(DEFAULT_MODEL_PREFERENCES), metadata=_read(_model_list)
    )
    #: Seconds without a token from Ollama before a generation is given up as hung.
    ollama_timeout: float = field(default=120.0, metadata=_read(_positive))
    #: Upper bound for the context window sent as num_ctx (the model's own may be larger).
    max_num_ctx: int = field(default=8192, metadata=_read(_whole(512, None)))
    #: Seconds between checkpoints of a part while it streams.
    checkpoint_interval: float = field(default=1.0, metadata=_read(_positive))
    #: Textual theme, remembered between runs by the TUI.
    theme: str | None = field(default=None, metadata=_read(_optional(_text)))
    #: When set, the TUI writes how long it took from process start to ready (JSON) to this file,
    #: for the benchmark suite (STORYTERM_STARTUP_REPORT).
    startup_report: Path | None = field(default=None, metadata=_read(_optional(_path)))

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'storyterm.db').expanduser()}"

    @property
    def cache_enabled(self) -> bool:
        return bool(self.redis_url)


def _keys_folded(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping with lower-case keys; of two keys differing only in case, the first wins."""
    folded: dict[str, Any] = {}
    for key, value in mapping.items():
        folded.setdefault(str(key).lower(), value)
    return folded


def _read_config_file(path: Path) -> dict[str, Any]:
    """config.toml's top-level keys; {} when there is no such file (a folder counts as none)."""
    if not path.is_file():
        return {}
    import tomllib  # only when there is a file: it is not free, and most runs have none

    with path.open("rb") as handle:
        return tomllib.load(handle)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings now (environment and config file); keyword arguments win.

    For each setting the first of these that has it is used: a keyword argument, the environment
    (STORYTERM_<NAME>), config.toml (config_file_path()), the default.

    A config.toml that cannot be read or parsed, or a value that is not valid, raises
    InvalidInput naming the file or the variable, so every front end can say what to fix.
    """
    path = config_file_path()
    try:
        from_file = _read_config_file(path)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"The settings file {path} is not UTF-8 text. Save it as UTF-8, or move it away."
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read the settings file {path} ({exc.strerror or exc}). Make it readable, "
            "or set STORYTERM_CONFIG_DIR to another folder."
        ) from exc
    except ValueError as exc:  # tomllib.TOMLDecodeError (a ValueError; tomllib loads lazily)
        raise InvalidInput(
            f"The settings file {path} is not valid TOML: {exc}. Fix that line, or move the "
            "file away to run on the defaults."
        ) from exc

    # Environment variable names are matched without regard to case, as pydantic-settings did
    # (of two differing only in case, the later one in os.environ wins).
    environment = {name.lower(): value for name, value in os.environ.items()}
    sources = (_keys_folded(overrides), environment, _keys_folded(from_file))

    values: dict[str, Any] = {}
    problems: list[str] = []
    for spec in fields(Settings):
        names = spec.metadata.get("names", (spec.name,))
        env_names = spec.metadata.get("names", (ENV_PREFIX.lower() + spec.name,))
        found = False
        raw: Any = None
        for source, keys in zip(sources, (names, env_names, names), strict=True):
            for key in keys:
                if key in source:
                    raw, found = source[key], True
                    break
            if found:
                break
        if not found:
            continue
        try:
            values[spec.name] = spec.metadata["read"](raw)
        except _Bad as exc:
            env = spec.metadata.get("env", ENV_PREFIX + spec.name.upper())
            shown = f" (got {exc.value!r})" if isinstance(exc.value, (str, int, float)) else ""
            problems.append(f"{env} / {spec.name} in {path.name}: {exc.reason}{shown}")
    if problems:
        raise InvalidInput(
            "A setting is not valid: "
            + "; ".join(problems)
            + f". Fix it in the environment or in {path}."
        )
    return Settings(**values)
