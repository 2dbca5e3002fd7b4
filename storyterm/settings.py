"""One Settings object: STORYTERM_* environment variables, an optional config.toml, defaults."""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from platformdirs import user_config_path, user_data_path
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from storyterm.core.errors import InvalidInput

APP_NAME = "storyterm"

DEFAULT_MODEL_PREFERENCES = ["gemma3:latest", "mistral-small3.1:latest"]


def _default_config_dir() -> Path:
    return user_config_path(APP_NAME)


def _default_data_dir() -> Path:
    return user_data_path(APP_NAME)


def config_file_path() -> Path:
    """Where config.toml is read from: STORYTERM_CONFIG, else the user config dir."""
    explicit = os.environ.get("STORYTERM_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    config_dir = os.environ.get("STORYTERM_CONFIG_DIR")
    base = Path(config_dir).expanduser() if config_dir else _default_config_dir()
    return base / "config.toml"


class Settings(BaseSettings):
    """Everything storyterm can be configured with. Nothing else in the code reads os.environ."""

    model_config = SettingsConfigDict(
        env_prefix="STORYTERM_",
        extra="ignore",
        populate_by_name=True,
    )

    config_dir: Path = Field(default_factory=_default_config_dir)
    data_dir: Path = Field(default_factory=_default_data_dir)
    #: SQLAlchemy URL; empty means "a SQLite file in the data dir".
    database_url: str = ""
    #: Redis URL; an empty value turns the cache off.
    redis_url: str = "redis://localhost:6379/0"
    ollama_host: str = Field(
        default="http://localhost:11434",
        validation_alias=AliasChoices("STORYTERM_OLLAMA_HOST", "OLLAMA_HOST", "ollama_host"),
    )
    export_dir: Path = Path("generated_stories")
    #: JWT signing secret shared by every client of one database; generated when unset.
    jwt_secret: str | None = None
    #: A token to use instead of the keyring (scripts, servers).
    token: str | None = None
    token_ttl_days: int = Field(default=30, ge=1, le=3650)
    #: Models tried in order for a new session when the writer picks none.
    model_preferences: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_MODEL_PREFERENCES)
    )
    #: Seconds without a token from Ollama before a generation is given up as hung.
    ollama_timeout: float = Field(default=120.0, gt=0)
    #: Upper bound for the context window sent as num_ctx (the model's own may be larger).
    max_num_ctx: int = Field(default=8192, ge=512)
    #: Seconds between checkpoints of a part while it streams.
    checkpoint_interval: float = Field(default=1.0, gt=0)
    #: Textual theme, remembered between runs by the TUI.
    theme: str | None = None

    @field_validator("model_preferences", mode="before")
    @classmethod
    def _split_models(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("redis_url", "database_url", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments beat the environment, which beats config.toml.
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file_path()),
        )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'storyterm.db').expanduser()}"

    @property
    def cache_enabled(self) -> bool:
        return bool(self.redis_url)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings now (environment and config file); keyword arguments win.

    A config.toml that cannot be read or parsed, or a value that is not valid, raises
    InvalidInput naming the file or the variable, so every front end can say what to fix.
    """
    path = config_file_path()
    try:
        return Settings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"The settings file {path} is not valid TOML: {exc}. Fix that line, or move the "
            "file away to run on the defaults."
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"The settings file {path} is not UTF-8 text. Save it as UTF-8, or move it away."
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read the settings file {path} ({exc.strerror or exc}). Make it readable, "
            "or set STORYTERM_CONFIG_DIR to another folder."
        ) from exc
    except ValidationError as exc:
        raise InvalidInput(_describe_invalid(exc, path)) from exc


def _describe_invalid(exc: ValidationError, path: Path) -> str:
    problems = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        env = "OLLAMA_HOST" if field == "ollama_host" else f"STORYTERM_{field.upper()}"
        value = error.get("input")
        shown = f" (got {value!r})" if isinstance(value, (str, int, float)) else ""
        problems.append(f"{env} / {field} in {path.name}: {error['msg']}{shown}")
    return (
        "A setting is not valid: "
        + "; ".join(problems)
        + f". Fix it in the environment or in {path}."
    )
