"""One Settings object: STORYTERM_* environment variables, an optional config.toml, defaults.

Settings is a msgspec Struct, and msgspec checks every value against its field's type and
bounds (the Meta(...) below). This module finds the values: a keyword argument, else the
environment, else config.toml, else the default. pydantic-settings does both jobs, but the
settings are read before the TUI's first frame (they name the database, the login and the theme
it shows), so its import cannot wait until after that frame, and it costs more start-up than
storyterm has to spare (bench/FINDINGS.md); msgspec is loaded for the core's views anyway.

As before: names are matched without regard to case (in the environment, in config.toml and in
keyword arguments), keys it does not know are ignored, an empty variable is an empty value
(STORYTERM_REDIS_URL= turns the cache off), and number text is read the way Python reads numbers
(" 7 ", "+7", "1_000"; "5.0" as a whole number; ".5", "1e2" and "inf" as numbers).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import msgspec
import msgspec.inspect
from msgspec import Meta

from storyterm.errors import InvalidInput

APP_NAME = "storyterm"

DEFAULT_MODEL_PREFERENCES = ["gemma3:latest", "mistral-small3.1:latest"]

#: Every format a story can be exported to (core/export writes each; spelled here, below the
#: core, so that the settings can check export_formats without importing it).
EXPORT_FORMATS = ("md", "txt", "json", "epub")
#: What the TUI's `e`, `storyterm export` and the API's save write when nobody names formats.
DEFAULT_EXPORT_FORMATS = ("md", "json", "epub")

ENV_PREFIX = "STORYTERM_"


def _default_config_dir() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME)


def _default_data_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME)


def _default_state_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path(APP_NAME)


def default_export_dir() -> Path:
    """Where exports go when neither the writer nor the settings say otherwise: a storyterm
    folder in the user's documents folder, the same wherever storyterm is started from."""
    from platformdirs import user_documents_path

    return user_documents_path() / APP_NAME


def _default_export_formats() -> list[str]:
    return list(DEFAULT_EXPORT_FORMATS)


def _default_model_preferences() -> list[str]:
    return list(DEFAULT_MODEL_PREFERENCES)


# -- sampling: the bounds of Ollama's options a story can set (core/sampling.py) ---------------
#: One spelling of each bound: the defaults below are held to them here, and a story's own values
#: (CLI, API, TUI, story.json) by core/sampling.py, which reads them off these types.
Temperature = Annotated[float, Meta(ge=0.0, le=2.0)]
TopP = Annotated[float, Meta(gt=0.0, le=1.0)]
TopK = Annotated[int, Meta(ge=1, le=1000)]
RepeatPenalty = Annotated[float, Meta(ge=0.5, le=2.0)]
NumPredict = Annotated[int, Meta(ge=16, le=32768)]
#: llama.cpp's sampler seed is a 32-bit unsigned number.
Seed = Annotated[int, Meta(ge=0, le=2**32 - 1)]


def config_file_path() -> Path:
    """Where config.toml is read from: STORYTERM_CONFIG, else the user config dir."""
    explicit = os.environ.get("STORYTERM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    config_dir = os.environ.get("STORYTERM_CONFIG_DIR")
    base = Path(config_dir).expanduser() if config_dir else _default_config_dir()
    return base / "config.toml"


class Settings(msgspec.Struct, kw_only=True):
    """Everything storyterm can be configured with. Nothing else in the code reads os.environ.

    Build it with load_settings(), which reads the environment and config.toml and checks each
    value; Settings(...) itself only holds values (its defaults are the built-in ones).
    Attributes may be reassigned (tests point ollama_host at a stand-in).
    """

    config_dir: Path = msgspec.field(default_factory=_default_config_dir)
    data_dir: Path = msgspec.field(default_factory=_default_data_dir)
    #: Where text that could not be saved is kept (its recovered/ folder; core/recovery.py).
    state_dir: Path = msgspec.field(default_factory=_default_state_dir)
    #: SQLAlchemy URL; empty means "a SQLite file in the data dir".
    database_url: str = ""
    #: Redis URL; an empty value turns the cache off.
    redis_url: str = "redis://localhost:6379/0"
    #: Read from STORYTERM_OLLAMA_HOST, else OLLAMA_HOST (Ollama's own variable).
    ollama_host: str = "http://localhost:11434"
    #: Where exports go (each story in a folder of its own inside it).
    export_dir: Path = msgspec.field(default_factory=default_export_dir)
    #: The formats an export writes when the writer names none (the TUI's `e`, `storyterm
    #: export` without --format, the API's save without formats): any of EXPORT_FORMATS.
    export_formats: list[str] = msgspec.field(default_factory=_default_export_formats)
    #: JWT signing secret shared by every client of one database; generated when unset.
    jwt_secret: str | None = None
    #: A token to use instead of the keyring (scripts, servers).
    token: str | None = None
    token_ttl_days: Annotated[int, Meta(ge=1, le=3650)] = 30
    #: Models tried in order for a new session when the writer picks none.
    model_preferences: list[str] = msgspec.field(default_factory=_default_model_preferences)
    #: Seconds without a token from Ollama before a generation is given up as hung.
    ollama_timeout: Annotated[float, Meta(gt=0)] = 120.0
    #: Upper bound for the context window sent as num_ctx (the model's own may be larger).
    max_num_ctx: Annotated[int, Meta(ge=512)] = 8192
    #: Seconds between checkpoints of a part while it streams.
    checkpoint_interval: Annotated[float, Meta(gt=0)] = 1.0
    #: Days a deleted story or part stays in the trash before it is deleted for good.
    trash_days: Annotated[int, Meta(ge=1, le=36500)] = 30
    #: Sampling defaults for every story; a story's own values win (`storyterm options`). Unset:
    #: the model's own (its Modelfile's), except num_predict (a quarter of the context window,
    #: at most 2,048 tokens) and seed (a new one each time).
    temperature: Temperature | None = None
    top_p: TopP | None = None
    top_k: TopK | None = None
    repeat_penalty: RepeatPenalty | None = None
    num_predict: NumPredict | None = None
    seed: Seed | None = None
    #: Textual theme, remembered between runs by the TUI.
    theme: str | None = None
    #: When set, the TUI writes how long it took from process start to ready (JSON) to this file,
    #: for the benchmark suite (STORYTERM_STARTUP_REPORT).
    startup_report: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'storyterm.db').expanduser()}"

    @property
    def cache_enabled(self) -> bool:
        return bool(self.redis_url)


#: Settings known by more names than STORYTERM_<NAME> and <name> (in every source), and the
#: variable their errors name.
_ALIASES = {"ollama_host": ("storyterm_ollama_host", "ollama_host")}
_VARIABLES = {"ollama_host": "OLLAMA_HOST"}
#: Text settings whose spaces around the value mean nothing (URLs).
_TRIMMED = frozenset({"database_url", "redis_url"})
#: What a whole-number setting counts, for its error ("must be a whole number of days").
_UNITS = {"token_ttl_days": " of days"}
#: List settings (a TOML list, or one comma-separated string): what each item is, an example.
_LISTS = {
    "model_preferences": ("model name", '["gemma3:latest"]'),
    "export_formats": ("export format", '["md", "epub"]'),
}


@cache
def _kinds() -> dict[str, msgspec.inspect.Type]:
    """Each field's type as msgspec sees it (its kind and bounds), None left out of X | None."""
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    kinds = {}
    for field in info.fields:
        kind = field.type
        if isinstance(kind, msgspec.inspect.UnionType):
            kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
        kinds[field.name] = kind
    return kinds


@cache
def _optional() -> frozenset[str]:
    """The settings that may be left unset (their type takes None)."""
    info = msgspec.inspect.type_info(Settings)
    assert isinstance(info, msgspec.inspect.StructType)
    return frozenset(
        field.name
        for field in info.fields
        if isinstance(field.type, msgspec.inspect.UnionType)
        and any(isinstance(t, msgspec.inspect.NoneType) for t in field.type.types)
    )


def bounds_text(kind: msgspec.inspect.IntType | msgspec.inspect.FloatType) -> str:
    """A number's bounds in words ("from 0 to 2", "more than 0 and at most 1", "of 512 or
    more", "greater than 0"): the settings' errors and core/sampling.py's say them alike."""

    def shown(bound: float) -> str:
        return f"{bound:g}" if isinstance(bound, float) else str(bound)

    if kind.ge is not None and kind.le is not None:
        return f"from {shown(kind.ge)} to {shown(kind.le)}"
    if kind.gt is not None and kind.le is not None:
        return f"more than {shown(kind.gt)} and at most {shown(kind.le)}"
    if kind.ge is not None:
        return f"of {shown(kind.ge)} or more"
    if kind.gt is not None:
        return f"greater than {shown(kind.gt)}"
    return ""


def _number(value: Any, whole: bool) -> Any:
    """Number text as a number, read as Python reads one; a whole float as an int for a
    whole-number setting ("5.0", or 4096.0 in TOML). Anything else is returned as it is, for
    msgspec to refuse."""
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii():  # int() and float() read other scripts' digits too
            return value
        if not whole:
            try:
                return float(text)
            except ValueError:
                return value
        number, dot, zeros = text.partition(".")
        if dot and (not zeros or zeros.strip("0")):
            return value  # "5." and "5.5" are not whole numbers
        try:
            return int(number)
        except ValueError:
            return value
    if whole and isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _prepared(name: str, value: Any) -> Any:
    """A value as found, in the shape its field's type takes."""
    kind = _kinds()[name]
    if isinstance(kind, (msgspec.inspect.IntType, msgspec.inspect.FloatType)):
        if name in _optional() and isinstance(value, str) and not value.strip():
            return None  # STORYTERM_TEMPERATURE= leaves it unset, as an empty URL turns off
        return _number(value, isinstance(kind, msgspec.inspect.IntType))
    if name in _TRIMMED and isinstance(value, str):
        return value.strip()
    if name in _LISTS:
        # One comma-separated string (from the environment) or a TOML list.
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        elif isinstance(value, (tuple, set, frozenset)):
            value = list(value)
        if name == "export_formats" and isinstance(value, list):
            value = [item.strip().lower() if isinstance(item, str) else item for item in value]
    return value


def _path(kind: type, value: Any) -> Any:
    """msgspec's dec_hook: paths are given as text."""
    if kind is Path and isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise TypeError(f"expected a path, got {type(value).__name__}")


def _convert(value: Any, kind: Any) -> Any:
    return msgspec.convert(value, kind, strict=True, dec_hook=_path)


def _problem(name: str, raw: Any, value: Any, where: str) -> str:
    """What is wrong with one setting's value, in the words of its type."""
    kind = _kinds()[name]
    shown = raw
    if isinstance(kind, msgspec.inspect.IntType):
        what = f"a whole number{_UNITS.get(name, '')}"
        reason = f"must be {what}"
        if _fits(value, int):
            reason = f"must be {what} {bounds_text(kind)}"
    elif isinstance(kind, msgspec.inspect.FloatType):
        reason = "must be a number"
        if _fits(value, float):
            bounds = bounds_text(kind)
            # "greater than 0" reads alone; "from 0 to 2" needs its noun.
            reason = f"must be {bounds}" if kind.le is None else f"must be a number {bounds}"
    elif isinstance(kind, msgspec.inspect.ListType):
        what, example = _LISTS[name]
        if not isinstance(value, list):
            reason = f"must be a list of {what}s, like {example}, or one comma-separated string"
        else:
            reason = f"must list each {what} as text in quotes"
            shown = next(item for item in value if not isinstance(item, str))
    elif isinstance(kind, msgspec.inspect.CustomType):
        reason = "must be a path in quotes"
    else:
        reason = "must be text in quotes"
    env = _VARIABLES.get(name, ENV_PREFIX + name.upper())
    got = f" (got {shown!r})" if isinstance(shown, (str, int, float)) else ""
    return f"{env} / {name} in {where}: {reason}{got}"


def _fits(value: Any, kind: Any) -> bool:
    """Whether msgspec takes `value` as a `kind` (given a bare int or float: whether the value
    is a number at all, so that its bounds are what it fails)."""
    try:
        _convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


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
    arguments, in_file = _keys_folded(overrides), _keys_folded(from_file)

    found: dict[str, tuple[Any, Any]] = {}  # name: (the value as given, as prepared)
    for name in Settings.__struct_fields__:
        names = _ALIASES.get(name, (name,))
        env_names = _ALIASES.get(name, (ENV_PREFIX.lower() + name,))
        for source, keys in ((arguments, names), (environment, env_names), (in_file, names)):
            key = next((key for key in keys if key in source), None)
            if key is not None:
                found[name] = (source[key], _prepared(name, source[key]))
                break
    try:
        settings = _convert({name: value for name, (_, value) in found.items()}, Settings)
    except msgspec.ValidationError as exc:
        # msgspec stops at the first bad value: check each on its own to name them all.
        annotations = {field.name: field.type for field in msgspec.structs.fields(Settings)}
        problems = [
            _problem(name, raw, value, path.name)
            for name, (raw, value) in found.items()
            if not _fits(value, annotations[name])
        ]
        raise InvalidInput(
            "A setting is not valid: "
            + "; ".join(problems or [str(exc)])
            + f". Fix it in the environment or in {path}."
        ) from None
    if (problem := _export_formats_problem(settings.export_formats)) is not None:
        raw = found["export_formats"][0] if "export_formats" in found else None
        got = f" (got {raw!r})" if isinstance(raw, str) else ""
        raise InvalidInput(
            f"A setting is not valid: STORYTERM_EXPORT_FORMATS / export_formats in {path.name}: "
            f"{problem}{got}. Fix it in the environment or in {path}."
        )
    # In the order files are listed, each once ("all": every one).
    wanted = settings.export_formats
    settings.export_formats = [name for name in EXPORT_FORMATS if name in wanted or "all" in wanted]
    return settings


def _export_formats_problem(formats: list[str]) -> str | None:
    """What is wrong with a list of export formats (None: nothing): each must be a format
    storyterm writes (or "all"), and at least one must be named."""
    known = ", ".join(EXPORT_FORMATS)
    unknown = [name for name in formats if name not in EXPORT_FORMATS and name != "all"]
    if unknown:
        them = ", ".join(repr(name) for name in unknown)
        kind = "is not an export format" if len(unknown) == 1 else "are not export formats"
        return f"{them} {kind}; the formats are {known} (comma-separated), or all"
    if not formats:
        return f"name at least one export format: {known}"
    return None
