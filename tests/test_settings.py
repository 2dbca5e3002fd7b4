"""Settings: the environment beats config.toml, config.toml is read, bad files are explained."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from storyterm.cli import cli
from storyterm.core.runtime import Runtime
from storyterm.core.storage.cache import CacheState
from storyterm.errors import InvalidInput
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


# --- the loader (stdlib since pydantic-settings was dropped): precedence, types, names --------


def invalid(**overrides: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_settings(**overrides)
    return caught.value.message


def test_defaults_when_nothing_is_set(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "STORYTERM_DATA_DIR",
        "STORYTERM_CONFIG_DIR",
        "STORYTERM_EXPORT_DIR",
        "STORYTERM_STATE_DIR",
    ):
        monkeypatch.delenv(name)
    monkeypatch.delenv("STORYTERM_REDIS_URL")
    monkeypatch.delenv("OLLAMA_HOST")
    # The config and data folders are the platform's (XDG on Linux), and config.toml is read
    # from that config folder.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the documents folder is ~/Documents
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.config_dir == tmp_path / "xdg-config" / "storyterm"
    assert settings.data_dir == tmp_path / "xdg-data" / "storyterm"
    assert settings.state_dir == tmp_path / "xdg-state" / "storyterm"
    assert settings.database_url == ""
    assert settings.redis_url == "redis://localhost:6379/0" and settings.cache_enabled
    assert settings.ollama_host == "http://localhost:11434"
    # Exports go to the same place wherever storyterm is started: not a cwd-relative folder.
    assert settings.export_dir == tmp_path / "home" / "Documents" / "storyterm"
    assert settings.export_formats == ["md", "json", "epub"]
    assert settings.jwt_secret is None and settings.token is None and settings.theme is None
    assert settings.token_ttl_days == 30
    assert settings.model_preferences == ["gemma3:latest", "mistral-small3.1:latest"]
    assert settings.ollama_timeout == 120.0
    assert settings.max_num_ctx == 8192
    assert settings.checkpoint_interval == 1.0
    assert settings.startup_report is None
    # Each load has its own list: changing one does not change the next one's.
    settings.model_preferences.append("mine")
    assert load_settings().model_preferences == ["gemma3:latest", "mistral-small3.1:latest"]

    settings.config_dir.mkdir(parents=True)
    (settings.config_dir / "config.toml").write_text("theme = 'nord'\n", encoding="utf-8")
    assert load_settings().theme == "nord"


def test_arguments_beat_environment_beat_file_beat_defaults(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        storyterm_home,
        "token_ttl_days = 7\nmax_num_ctx = 1024\nollama_timeout = 30\ntheme = 'file'\n",
    )
    monkeypatch.setenv("STORYTERM_TOKEN_TTL_DAYS", "14")
    monkeypatch.setenv("STORYTERM_MAX_NUM_CTX", "2048")
    monkeypatch.setenv("STORYTERM_TOKEN", "from-env")
    settings = load_settings(token_ttl_days=21, token=None)
    assert settings.token_ttl_days == 21  # argument over environment and file
    assert settings.max_num_ctx == 2048  # environment over file
    assert settings.ollama_timeout == 30.0 and isinstance(settings.ollama_timeout, float)
    assert settings.theme == "file"  # file over default
    assert settings.checkpoint_interval == 1.0  # default
    # An explicit None is an argument too: it beats the environment's token.
    assert settings.token is None
    # Arguments are checked like everything else, and their names ignore case.
    assert load_settings(TOKEN_TTL_DAYS="3").token_ttl_days == 3
    assert "STORYTERM_TOKEN_TTL_DAYS" in invalid(token_ttl_days=0)
    assert load_settings(data_dir="/tmp/x").data_dir == Path("/tmp/x")


def test_ollama_host_aliases(storyterm_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(storyterm_home, 'ollama_host = "http://from-file:11434"\n')
    monkeypatch.delenv("OLLAMA_HOST")
    assert load_settings().ollama_host == "http://from-file:11434"
    # Ollama's own variable beats the file; storyterm's own beats both.
    monkeypatch.setenv("OLLAMA_HOST", "http://ollama-var:11434")
    assert load_settings().ollama_host == "http://ollama-var:11434"
    monkeypatch.setenv("STORYTERM_OLLAMA_HOST", "http://storyterm-var:11434")
    assert load_settings().ollama_host == "http://storyterm-var:11434"
    assert load_settings(ollama_host="http://arg:1").ollama_host == "http://arg:1"
    # Either name works in config.toml too.
    monkeypatch.delenv("STORYTERM_OLLAMA_HOST")
    monkeypatch.delenv("OLLAMA_HOST")
    path.write_text('OLLAMA_HOST = "http://alias-in-file:11434"\n', encoding="utf-8")
    assert load_settings().ollama_host == "http://alias-in-file:11434"
    # A wrong value is reported under the name writers know.
    path.write_text("ollama_host = 11434\n", encoding="utf-8")
    assert "OLLAMA_HOST / ollama_host in config.toml: must be text in quotes (got 11434)" in (
        invalid()
    )


def test_environment_names_ignore_case(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("storyterm_token_ttl_days", "9")
    monkeypatch.setenv("Ollama_Host", "http://mixed:1")
    monkeypatch.delenv("OLLAMA_HOST")
    monkeypatch.delenv("STORYTERM_REDIS_URL")
    write_config(storyterm_home, 'Redis_URL = "redis://case:1/0"\n')
    settings = load_settings()
    assert settings.token_ttl_days == 9
    assert settings.ollama_host == "http://mixed:1"
    assert settings.redis_url == "redis://case:1/0"


def test_unknown_keys_are_ignored(storyterm_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(storyterm_home, 'colour = "blue"\ntheme = "nord"\n[plugins]\nx = 1\n')
    monkeypatch.setenv("STORYTERM_FAVOURITE", "tea")
    settings = load_settings(not_a_setting=1)
    assert settings.theme == "nord"
    assert not hasattr(settings, "colour") and not hasattr(settings, "not_a_setting")


def test_empty_environment_values(storyterm_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty variable is an empty value, not "unset": it beats config.toml."""
    write_config(
        storyterm_home,
        'token = "from-file"\njwt_secret = "from-file"\ntheme = "nord"\n'
        'model_preferences = ["llama3:8b"]\ndatabase_url = "sqlite:////from/file.db"\n',
    )
    for name in ("TOKEN", "JWT_SECRET", "THEME", "MODEL_PREFERENCES", "DATABASE_URL"):
        monkeypatch.setenv(f"STORYTERM_{name}", "")
    settings = load_settings()
    assert settings.token == "" and settings.jwt_secret == "" and settings.theme == ""
    assert settings.model_preferences == []
    assert settings.database_url == ""
    assert settings.resolved_database_url.endswith("/data/storyterm.db")
    assert settings.redis_url == "" and not settings.cache_enabled  # storyterm_home sets it ""
    # An empty number is not a number.
    monkeypatch.setenv("STORYTERM_TOKEN_TTL_DAYS", "")
    assert "STORYTERM_TOKEN_TTL_DAYS / token_ttl_days in config.toml: must be a whole " in invalid()
    assert "(got '')" in invalid()


def test_model_preferences_from_a_string_or_a_list(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(storyterm_home, 'model_preferences = " llama3:8b ,, gemma3:latest, "\n')
    assert load_settings().model_preferences == ["llama3:8b", "gemma3:latest"]
    path.write_text('model_preferences = ["llama3:8b"]\n', encoding="utf-8")
    assert load_settings().model_preferences == ["llama3:8b"]
    assert load_settings(model_preferences=("a", "b")).model_preferences == ["a", "b"]
    path.write_text('model_preferences = ["llama3:8b", 3]\n', encoding="utf-8")
    assert (
        "STORYTERM_MODEL_PREFERENCES / model_preferences in config.toml: must list each model "
        "name as text in quotes (got 3)"
    ) in invalid()
    path.write_text("model_preferences = 3\n", encoding="utf-8")
    assert "must be a list of model names" in invalid()


def test_export_formats_from_the_environment_or_config_toml(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(storyterm_home, 'export_formats = ["epub", "TXT"]\n')
    # In the order the files are listed, whatever order they were named in.
    assert load_settings().export_formats == ["txt", "epub"]
    monkeypatch.setenv("STORYTERM_EXPORT_FORMATS", " md , json,md ")
    assert load_settings().export_formats == ["md", "json"]  # the environment wins
    monkeypatch.setenv("STORYTERM_EXPORT_FORMATS", "all")
    assert load_settings().export_formats == ["md", "txt", "json", "epub"]
    monkeypatch.delenv("STORYTERM_EXPORT_FORMATS")
    path.write_text('export_formats = "txt"\n', encoding="utf-8")
    assert load_settings().export_formats == ["txt"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "md,pdf",
            "'pdf' is not an export format; the formats are md, txt, json, epub "
            "(comma-separated), or all (got 'md,pdf')",
        ),
        ("docx,pdf", "'docx', 'pdf' are not export formats; the formats are md, txt, json, epub"),
        (" , ", "name at least one export format: md, txt, json, epub (got ' , ')"),
    ],
)
def test_an_unknown_export_format_is_a_clear_settings_error(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("STORYTERM_EXPORT_FORMATS", value)
    text = invalid()
    assert text.startswith(
        "A setting is not valid: STORYTERM_EXPORT_FORMATS / export_formats in config.toml: "
    )
    assert message in text
    assert text.endswith(f"Fix it in the environment or in {storyterm_home}/config/config.toml.")


def test_export_formats_in_config_toml_must_be_text(storyterm_home: Path) -> None:
    write_config(storyterm_home, 'export_formats = ["md", 3]\n')
    assert (
        "STORYTERM_EXPORT_FORMATS / export_formats in config.toml: must list each export "
        "format as text in quotes (got 3)"
    ) in invalid()
    write_config(storyterm_home, "export_formats = 3\n")
    assert "must be a list of export formats" in invalid()


def test_a_bad_export_format_stops_the_cli_with_the_known_ones(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORYTERM_EXPORT_FORMATS", "pdf")
    result = CliRunner().invoke(cli, ["sessions"])
    assert result.exit_code != 0
    assert "'pdf' is not an export format; the formats are md, txt, json, epub" in result.output
    assert "Traceback" not in result.output


def test_numbers_are_read_leniently(storyterm_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for text, days in ((" 7 ", 7), ("+7", 7), ("5.0", 5), ("1_000", 1000), ("010", 10)):
        monkeypatch.setenv("STORYTERM_TOKEN_TTL_DAYS", text)
        assert load_settings().token_ttl_days == days, text
    for text, seconds in (("2", 2.0), (" 2.5 ", 2.5), ("1e2", 100.0), (".5", 0.5)):
        monkeypatch.setenv("STORYTERM_OLLAMA_TIMEOUT", text)
        assert load_settings().ollama_timeout == seconds, text
    path = write_config(storyterm_home, "max_num_ctx = 4096.0\ncheckpoint_interval = 2\n")
    monkeypatch.delenv("STORYTERM_TOKEN_TTL_DAYS")
    monkeypatch.delenv("STORYTERM_OLLAMA_TIMEOUT")
    settings = load_settings()
    assert settings.max_num_ctx == 4096 and isinstance(settings.max_num_ctx, int)
    assert settings.checkpoint_interval == 2.0
    path.write_text('max_num_ctx = "2048"\n', encoding="utf-8")
    assert load_settings().max_num_ctx == 2048


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TOKEN_TTL_DAYS", "abc", "must be a whole number of days (got 'abc')"),
        ("TOKEN_TTL_DAYS", "5.5", "must be a whole number of days (got '5.5')"),
        ("TOKEN_TTL_DAYS", "0", "must be a whole number of days from 1 to 3650 (got '0')"),
        ("TOKEN_TTL_DAYS", "3651", "must be a whole number of days from 1 to 3650 (got '3651')"),
        ("MAX_NUM_CTX", "1e4", "must be a whole number (got '1e4')"),
        ("MAX_NUM_CTX", "511", "must be a whole number of 512 or more (got '511')"),
        ("OLLAMA_TIMEOUT", "soon", "must be a number (got 'soon')"),
        ("OLLAMA_TIMEOUT", "0", "must be greater than 0 (got '0')"),
        ("OLLAMA_TIMEOUT", "nan", "must be greater than 0 (got 'nan')"),
        ("CHECKPOINT_INTERVAL", "-1", "must be greater than 0 (got '-1')"),
        ("TEMPERATURE", "2.5", "must be a number from 0 to 2 (got '2.5')"),
        ("TEMPERATURE", "warm", "must be a number (got 'warm')"),
        ("TEMPERATURE", "nan", "must be a number from 0 to 2 (got 'nan')"),
        ("TOP_P", "0", "must be a number more than 0 and at most 1 (got '0')"),
        ("TOP_P", "inf", "must be a number more than 0 and at most 1 (got 'inf')"),
        ("TOP_K", "0", "must be a whole number from 1 to 1000 (got '0')"),
        ("TOP_K", "4.5", "must be a whole number (got '4.5')"),
        ("REPEAT_PENALTY", "3", "must be a number from 0.5 to 2 (got '3')"),
        ("NUM_PREDICT", "8", "must be a whole number from 16 to 32768 (got '8')"),
        (
            "NUM_PREDICT",
            "1" + "0" * 30,
            f"must be a whole number from 16 to 32768 (got '1{'0' * 30}')",
        ),
        ("SEED", "-1", "must be a whole number from 0 to 4294967295 (got '-1')"),
    ],
)
def test_each_kind_of_bad_environment_value_is_explained(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"STORYTERM_{variable}", value)
    path = storyterm_home / "config" / "config.toml"
    assert invalid() == (
        f"A setting is not valid: STORYTERM_{variable} / {variable.lower()} in config.toml: "
        f"{message}. Fix it in the environment or in {path}."
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "jwt_secret = 6379",
            "STORYTERM_JWT_SECRET / jwt_secret in config.toml: must be text in quotes (got 6379)",
        ),
        (
            "theme = true",
            "STORYTERM_THEME / theme in config.toml: must be text in quotes (got True)",
        ),
        (
            "startup_report = 5",
            "STORYTERM_STARTUP_REPORT / startup_report in config.toml: must be a path in quotes "
            "(got 5)",
        ),
        (
            "database_url = ['sqlite://']",
            "STORYTERM_DATABASE_URL / database_url in config.toml: must be text in quotes.",
        ),
        (
            "token_ttl_days = 2.5",
            "STORYTERM_TOKEN_TTL_DAYS / token_ttl_days in config.toml: must "
            "be a whole number of days (got 2.5)",
        ),
        (
            "checkpoint_interval = 0",
            "STORYTERM_CHECKPOINT_INTERVAL / checkpoint_interval in "
            "config.toml: must be greater than 0 (got 0)",
        ),
    ],
)
def test_each_kind_of_bad_file_value_is_explained(
    storyterm_home: Path, line: str, message: str
) -> None:
    path = write_config(storyterm_home, line + "\n")
    text = invalid()
    assert text.startswith("A setting is not valid: ") and message in text
    assert text.endswith(f". Fix it in the environment or in {path}.")


def test_every_bad_value_is_named_at_once(storyterm_home: Path) -> None:
    path = write_config(storyterm_home, "token_ttl_days = 0\nollama_timeout = -1\ntheme = 1\n")
    assert invalid() == (
        "A setting is not valid: "
        "STORYTERM_TOKEN_TTL_DAYS / token_ttl_days in config.toml: must be a whole number of "
        "days from 1 to 3650 (got 0); "
        "STORYTERM_OLLAMA_TIMEOUT / ollama_timeout in config.toml: must be greater than 0 "
        "(got -1); "
        "STORYTERM_THEME / theme in config.toml: must be text in quotes (got 1). "
        f"Fix it in the environment or in {path}."
    )


def test_a_bad_file_value_hidden_by_the_environment_is_not_an_error(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(storyterm_home, 'token_ttl_days = "never"\n')
    monkeypatch.setenv("STORYTERM_TOKEN_TTL_DAYS", "5")
    assert load_settings().token_ttl_days == 5


def test_config_file_that_is_not_utf8_or_not_readable(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(storyterm_home, "")
    path.write_bytes(b'theme = "\xff"\n')
    assert invalid() == (
        f"The settings file {path} is not UTF-8 text. Save it as UTF-8, or move it away."
    )
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    assert invalid() == (
        f"Cannot read the settings file {path} (Permission denied). Make it readable, or set "
        "STORYTERM_CONFIG_DIR to another folder."
    )


def test_storyterm_config_names_the_file(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text('theme = "from-elsewhere"\nmax_num_ctx = 1\n', encoding="utf-8")
    monkeypatch.setenv("STORYTERM_CONFIG", str(elsewhere))
    message = invalid()
    assert "max_num_ctx in elsewhere.toml" in message and str(elsewhere) in message
    elsewhere.write_text('theme = "from-elsewhere"\n', encoding="utf-8")
    assert load_settings().theme == "from-elsewhere"
    # A missing file (or a folder) is no file: the defaults apply.
    monkeypatch.setenv("STORYTERM_CONFIG", str(tmp_path / "missing.toml"))
    assert load_settings().theme is None
    monkeypatch.setenv("STORYTERM_CONFIG", str(tmp_path))
    assert load_settings().theme is None


def test_settings_can_be_changed_after_loading(storyterm_home: Path) -> None:
    settings = load_settings(database_url=" sqlite:////tmp/a.db ")
    assert settings.database_url == "sqlite:////tmp/a.db"  # stripped
    assert settings.resolved_database_url == "sqlite:////tmp/a.db"
    settings.ollama_host = "http://elsewhere:1"
    settings.redis_url = ""
    settings.checkpoint_interval = 0.2
    assert settings.ollama_host == "http://elsewhere:1" and not settings.cache_enabled
    assert settings.checkpoint_interval == 0.2


def test_sampling_defaults_come_from_the_environment_and_config_toml(
    storyterm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every story's sampling defaults: unset by default (the model's own), read from
    config.toml and STORYTERM_*, and an empty variable leaves one unset again."""
    assert [getattr(load_settings(), name) for name in ("temperature", "seed")] == [None, None]
    write_config(storyterm_home, "temperature = 0.7\ntop_k = 40\nseed = 7\nnum_predict = 512.0\n")
    monkeypatch.setenv("STORYTERM_TOP_P", " 0.9 ")
    monkeypatch.setenv("STORYTERM_SEED", "")
    settings = load_settings()
    assert settings.temperature == 0.7 and settings.top_k == 40 and settings.top_p == 0.9
    assert settings.num_predict == 512 and isinstance(settings.num_predict, int)
    assert settings.seed is None  # the empty variable beats the file
    assert settings.repeat_penalty is None
