"""`storyterm doctor` asks Ollama what a writer needs: is it running (and where), its version,
the installed models, the model new stories use and its context window; it exits 1 when a story
could not be written, and says the fix on every line."""

from __future__ import annotations

import asyncio
import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from storyterm.cli import cli
from storyterm.core.generation.catalog import ModelCatalog
from storyterm.core.generation.checkup import Verdict, check_ollama
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from storyterm.settings import load_settings


def doctor() -> Result:
    return CliRunner().invoke(cli, ["doctor"])


def ollama_lines(result: Result) -> list[str]:
    """The lines after the keyring's: Ollama's."""
    lines = result.stdout.splitlines()
    keyring = next(i for i, line in enumerate(lines) if line[5:].startswith("keyring:"))
    return lines[keyring + 1 :]


Serve = Callable[..., FakeOllama]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a stand-in with the given knobs and point OLLAMA_HOST at it."""
    started: list[FakeOllama] = []

    def start(**knobs: Any) -> FakeOllama:
        fake = FakeOllama(**knobs).start()
        started.append(fake)
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        return fake

    yield start
    for fake in started:
        fake.close()


def test_doctor_fails_when_ollama_is_not_running() -> None:
    # tests/conftest.py points OLLAMA_HOST at a port nothing listens on.
    result = doctor()
    assert result.exit_code == 1, result.output
    assert ollama_lines(result) == [
        "FAIL ollama: Ollama is not running at http://127.0.0.1:9. Start it (`ollama serve`, or "
        "open the Ollama app) and try again; set OLLAMA_HOST if it runs somewhere else."
    ]
    # The rest of the check-up still ran and is fine.
    assert "OK   database:" in result.stdout and "OK   keyring:" in result.stdout
    assert "Traceback" not in result.output


def test_doctor_fails_on_an_ollama_without_models(serve: Serve) -> None:
    fake = serve(models=[])
    result = doctor()
    assert result.exit_code == 1, result.output
    assert ollama_lines(result) == [
        f"OK   ollama: running at {fake.url} (version 0.12.0-fake)",
        "FAIL models: none installed, so nothing can write a story. Install the model: "
        "`ollama pull gemma3` (about 3 GB)",
    ]


def test_doctor_on_a_healthy_ollama(serve: Serve) -> None:
    fake = serve(models=["gemma3:latest", FakeModel("qwen3:4b", context_length=40_960)])
    result = doctor()
    assert result.exit_code == 0, result.output
    assert ollama_lines(result) == [
        f"OK   ollama: running at {fake.url} (version 0.12.0-fake)",
        "OK   models: 2 installed: gemma3:latest, qwen3:4b",
        "OK   model: new stories use gemma3:latest (your first choice)",
        "OK   context: gemma3:latest reads up to 32,768 tokens; storyterm uses 8,192 of them "
        "(the max_num_ctx setting)",
    ]
    asked = [(r.method, r.path, r.body.get("model")) for r in fake.requests]
    assert asked == [
        ("GET", "/api/version", None),
        ("GET", "/api/tags", None),
        ("POST", "/api/show", "gemma3:latest"),
    ]


def test_doctor_follows_the_model_preferences_setting(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(models=["gemma3:latest", FakeModel("qwen3:4b", context_length=4096)])
    monkeypatch.setenv("STORYTERM_MODEL_PREFERENCES", "qwen3:4b")
    result = doctor()
    assert result.exit_code == 0, result.output
    assert ollama_lines(result)[2:] == [
        "OK   model: new stories use qwen3:4b (your first choice)",
        "OK   context: qwen3:4b reads up to 4,096 tokens; storyterm uses all of it",
    ]


def test_doctor_warns_when_only_the_fallback_model_is_installed(serve: Serve) -> None:
    serve(models=["mistral-small3.1:latest"])
    result = doctor()
    assert result.exit_code == 0, result.output  # a story can be written: a warning only
    model = ollama_lines(result)[2]
    assert model == (
        "WARN model: gemma3:latest is not installed, so new stories use mistral-small3.1:latest, "
        "your next choice. Install the model: `ollama pull gemma3` (or change the "
        "model_preferences setting)"
    )
    assert ollama_lines(result)[3].startswith("OK   context: mistral-small3.1:latest reads up to")


def test_doctor_warns_when_no_preferred_model_is_installed(serve: Serve) -> None:
    serve(models=["nomic-embed-text:latest", "qwen3:4b"])
    result = doctor()
    assert result.exit_code == 0, result.output
    assert ollama_lines(result)[2].startswith(
        "WARN model: none of your models (gemma3:latest, mistral-small3.1:latest) is installed, "
        "so new stories use qwen3:4b. Install the model: `ollama pull gemma3`"
    )


def test_doctor_fails_when_only_embedding_models_are_installed(serve: Serve) -> None:
    serve(models=["nomic-embed-text:latest"])
    result = doctor()
    assert result.exit_code == 1, result.output
    assert ollama_lines(result)[-1] == (
        "FAIL model: only embedding models are installed, and they cannot write a story. "
        "Install the model: `ollama pull gemma3`"
    )


def test_doctor_on_an_ollama_that_does_not_say_its_version(serve: Serve) -> None:
    fake = serve(version=None)
    result = doctor()
    assert result.exit_code == 0, result.output
    assert ollama_lines(result)[0] == (
        f"WARN ollama: running at {fake.url}, but it does not say its version (no /api/version): "
        "it may be too old for storyterm. Update Ollama (https://ollama.com/download)"
    )
    assert ollama_lines(result)[1] == "OK   models: 1 installed: gemma3:latest"


def test_doctor_on_a_model_whose_context_is_not_reported(serve: Serve) -> None:
    serve(models=[FakeModel("gemma3:latest", context_length=None)])
    result = doctor()
    assert result.exit_code == 0, result.output
    assert ollama_lines(result)[-1].startswith(
        "WARN context: Ollama does not say how much gemma3:latest reads at once; storyterm "
        "assumes 4,096 tokens"
    )


def test_doctor_prints_what_the_server_says_as_data(serve: Serve) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J" + "x" * 200
    serve(version="\x1b[31m9.9\nFAKE", models=["qwen3:4b", FakeModel(hostile)])
    result = doctor()
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    lines = ollama_lines(result)
    assert lines[0].endswith("(version ␛[31m9.9 FAKE)")  # folded onto its line
    assert "␛]0;owned␇␛[2J" in lines[1]
    assert len(lines[1]) < 150  # the long name is cut short
    assert len(lines) == 4


def test_doctor_gives_up_on_an_ollama_that_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # A socket that accepts connections (the kernel does, from the backlog) and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("OLLAMA_HOST", host)
        catalog = ModelCatalog(load_settings())
        (finding,) = asyncio.run(check_ollama(catalog, seconds=0.3))
    assert finding.verdict is Verdict.FAIL
    assert finding.detail == (
        f"Ollama at {host} did not answer within 0.3 seconds. It may be busy loading a model: "
        "try again in a moment, or restart it (`ollama serve`)."
    )


def test_doctor_on_an_ollama_host_that_is_not_an_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # The ollama client cannot even be made for it (it raises ValueError).
    monkeypatch.setenv("OLLAMA_HOST", "http://[::1")
    result = doctor()
    assert result.exit_code == 1, result.output
    assert ollama_lines(result) == [
        "FAIL ollama: The Ollama address http://[::1 is not one storyterm can use (Invalid IPv6 "
        "URL). Set OLLAMA_HOST to an address like http://localhost:11434."
    ]
    assert "Traceback" not in result.output


def test_a_bad_ollama_host_variable_is_explained_even_before_ollama_loads() -> None:
    """The ollama module makes a client from OLLAMA_HOST when it is imported, so a bad one
    broke its import, and every command that asks Ollama ended in a traceback."""
    env = {**os.environ, "OLLAMA_HOST": "not a url::"}
    for command in (["doctor"], ["models"]):
        proc = subprocess.run(
            [sys.executable, "-m", "storyterm", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        output = proc.stdout + proc.stderr
        assert (
            "The Ollama address is not one storyterm can use (Port could not be cast to integer "
            "value as ':'). Set OLLAMA_HOST to an address like http://localhost:11434."
        ) in output


def test_doctor_on_a_server_that_is_not_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("OLLAMA_HOST", host)
        result = doctor()
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1, result.output
    assert ollama_lines(result) == [
        f"FAIL ollama: something answers at {host}, but not as Ollama does (it knows neither "
        "/api/version nor /api/tags). Check OLLAMA_HOST, and start Ollama there: `ollama serve`"
    ]
