"""Settings: the environment beats config.toml, config.toml is read, bad files are explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.cache import CacheState
from storyterm.core.errors import InvalidInput
from storyterm.core.runtime import Runtime
from storyterm.settings import load_settings


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_config_toml_in_the_config_dir_is_read(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORYTERM_REDIS_URL")
    monkeypatch.delenv("OLLAMA_HOST")
    write_config(
        storyterm_home,
        'redis_url = "redis://cache.example:6380/2"\n'
        'ollama_host = "http://gpu-box:11434"\n'
        "checkpoint_interval = 2.5\n"
        'model_preferences = ["llama3:8b", "gemma3:latest"]\n',
    )
    settings = load_settings()
    assert settings.redis_url == "redis://cache.example:6380/2"
    assert settings.ollama_host == "http://gpu-box:11434"
    assert settings.checkpoint_interval == 2.5
    assert settings.model_preferences == ["llama3:8b", "gemma3:latest"]


def test_environment_beats_config_toml(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        storyterm_home,
        'redis_url = "redis://from-file:6379/0"\ncheckpoint_interval = 2.5\n'
        'database_url = "sqlite:////from/file.db"\n',
    )
    monkeypatch.setenv("STORYTERM_REDIS_URL", "redis://from-env:6379/1")
    monkeypatch.setenv("STORYTERM_CHECKPOINT_INTERVAL", "0.5")
    monkeypatch.setenv("STORYTERM_MODEL_PREFERENCES", "mistral-small3.1:latest, gemma3:latest")
    settings = load_settings()
    assert settings.redis_url == "redis://from-env:6379/1"
    assert settings.checkpoint_interval == 0.5
    assert settings.model_preferences == ["mistral-small3.1:latest", "gemma3:latest"]
    # A key only the file sets still comes from the file.
    assert settings.resolved_database_url == "sqlite:////from/file.db"
    # Explicit arguments beat both.
    assert load_settings(redis_url="redis://arg:1/0").redis_url == "redis://arg:1/0"


def test_default_database_is_a_sqlite_file_in_the_data_dir(storyterm_home: Path) -> None:
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{storyterm_home / 'data' / 'storyterm.db'}"


def test_empty_redis_url_turns_the_cache_off(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even when config.toml names a Redis, an empty variable switches the cache off.
    write_config(storyterm_home, 'redis_url = "redis://127.0.0.1:6379/0"\n')
    monkeypatch.setenv("STORYTERM_REDIS_URL", "   ")
    settings = load_settings()
    assert settings.redis_url == "" and not settings.cache_enabled
    runtime = Runtime(settings)
    try:
        assert runtime.sessions.cache_state is CacheState.DISABLED
        assert runtime.store.cache._client is None
    finally:
        runtime.close()


def test_malformed_config_toml_is_a_clear_error(storyterm_home: Path) -> None:
    path = write_config(storyterm_home, 'redis_url = "redis://unterminated\n')
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    message = caught.value.message
    assert str(path) in message
    assert "not valid TOML" in message and "line 1" in message


def test_invalid_setting_value_names_the_variable(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(storyterm_home, "token_ttl_days = 0\n")
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    assert "STORYTERM_TOKEN_TTL_DAYS" in caught.value.message
    assert str(path) in caught.value.message
    path.unlink()
    monkeypatch.setenv("STORYTERM_CHECKPOINT_INTERVAL", "soon")
    with pytest.raises(InvalidInput, match=r"STORYTERM_CHECKPOINT_INTERVAL.*'soon'"):
        load_settings()


def test_cli_prints_a_broken_config_without_a_traceback(storyterm_home: Path) -> None:
    path = write_config(storyterm_home, "[[[\n")
    runner = CliRunner()
    for args in (["sessions"], ["db", "current"], ["show", "abcd1234"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("storyterm: The settings file")
        assert str(path) in result.stderr
        assert "Traceback" not in result.output
    doctor = runner.invoke(cli, ["doctor"])
    assert doctor.exit_code == 1
    assert "FAIL settings" in doctor.stdout and str(path) in doctor.stdout


def test_bare_storyterm_on_a_broken_config_exits_cleanly(storyterm_home: Path) -> None:
    """`storyterm` with no subcommand opens the TUI; a broken config must stop it politely."""
    write_config(storyterm_home, "[[[\n")
    proc = subprocess.run(
        [sys.executable, "-m", "storyterm"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("storyterm: The settings file")
    assert "Traceback" not in proc.stderr
