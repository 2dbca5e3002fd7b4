"""Which model a story uses: listing, context length, and the choice rules."""

from __future__ import annotations

import asyncio

import httpx
import ollama
import pytest

from storyterm.core.generation.catalog import (
    FALLBACK_CONTEXT_LENGTH,
    ModelCatalog,
    ModelInfo,
    pick_model,
    translate_ollama_error,
)
from storyterm.devtools.fake_ollama import FakeModel, FakeOllama
from storyterm.errors import ModelMissing, ModelUnavailable
from storyterm.settings import load_settings

PREFS = ["gemma3:latest", "mistral-small3.1:latest"]


def catalog_for(url: str, **settings: object) -> ModelCatalog:
    return ModelCatalog(load_settings(ollama_host=url, **settings))


async def test_lists_models_with_their_details() -> None:
    with FakeOllama(models=["gemma3:latest", "mistral-small3.1:latest"]) as fake:
        models = await catalog_for(fake.url).list_models()
    assert [m.name for m in models] == ["gemma3:latest", "mistral-small3.1:latest"]
    assert models[0].family == "gemma3"
    assert models[0].size_text.endswith("GB")
    assert models[0].parameter_size == "4.3B" and models[0].quantization == "Q4_K_M"


async def test_context_length_comes_from_api_show_and_is_cached() -> None:
    with FakeOllama(models=[FakeModel("gemma3:latest", context_length=131072)]) as fake:
        catalog = catalog_for(fake.url)
        assert await catalog.context_length("gemma3") == 131072
        shows = sum(1 for r in fake.requests if r.path == "/api/show")
        assert await catalog.context_length("gemma3:latest") == 131072
        assert sum(1 for r in fake.requests if r.path == "/api/show") == shows
        with pytest.raises(ModelMissing, match="ollama pull llama3"):
            await catalog.context_length("llama3")


@pytest.mark.parametrize(
    ("installed", "preferred", "expected", "noted"),
    [
        (
            ["mistral-small3.1:latest", "gemma3:latest", "llama3:8b"],
            "llama3:8b",
            "llama3:8b",
            False,
        ),
        (["gemma3:latest"], "gemma3", "gemma3:latest", False),  # a bare name means :latest
        (["mistral-small3.1:latest", "gemma3:latest"], None, "gemma3:latest", False),
        (["llama3:8b", "mistral-small3.1:latest"], None, "mistral-small3.1:latest", False),
        (["nomic-embed-text:latest", "qwen3:4b"], None, "qwen3:4b", False),  # not an embedder
        (["qwen3:4b", "gemma3:latest"], "llama3", "gemma3:latest", True),  # pick not installed
    ],
)
def test_choice_rules(
    installed: list[str], preferred: str | None, expected: str, noted: bool
) -> None:
    models = [ModelInfo(name=n, family="nomic-bert" if "embed" in n else None) for n in installed]
    choice = pick_model(models, preferred, PREFS)
    assert choice.name == expected
    assert (choice.note is not None) is noted
    if noted:
        assert "llama3 is not installed" in choice.note and "ollama pull llama3" in choice.note


async def test_choose_uses_the_preference_setting() -> None:
    with FakeOllama(models=["gemma3:latest", "qwen3:4b"]) as fake:
        assert await catalog_for(fake.url).choose(None) == "gemma3:latest"
        custom = catalog_for(fake.url, model_preferences="qwen3:4b,gemma3:latest")
        assert await custom.choose(None) == "qwen3:4b"


async def test_no_models_and_ollama_down_say_what_to_do() -> None:
    with (
        FakeOllama(models=[]) as fake,
        pytest.raises(ModelUnavailable, match=r"Run `ollama pull gemma3`"),
    ):
        await catalog_for(fake.url).choose(None)
    down = catalog_for("http://127.0.0.1:9")
    with pytest.raises(ModelUnavailable) as caught:
        await down.list_models()
    assert "Ollama is not running at http://127.0.0.1:9" in caught.value.message
    assert "ollama serve" in caught.value.message


async def test_offline_choice_records_the_preferred_model_with_a_note() -> None:
    down = catalog_for("http://127.0.0.1:9")
    choice = await down.resolve_offline(None)
    assert choice.name == "gemma3:latest" and not choice.verified
    assert "not running" in choice.note
    assert (await down.resolve_offline("llama3")).name == "llama3:latest"


async def test_a_vanished_model_names_the_fallback() -> None:
    with (
        FakeOllama(models=["mistral-small3.1:latest"]) as fake,
        pytest.raises(ModelMissing) as caught,
    ):
        await catalog_for(fake.url).check_installed("gemma3:latest")
    error = caught.value
    assert error.model == "gemma3:latest" and error.fallback == "mistral-small3.1:latest"
    assert "no longer installed" in error.message
    assert "mistral-small3.1:latest" in error.message and "ollama pull gemma3" in error.message
    assert "in the app" not in error.message  # the CLI and the API show it too


async def test_context_length_falls_back_when_ollama_does_not_say() -> None:
    with FakeOllama(models=["gemma3:latest"]) as fake:
        catalog = catalog_for(fake.url)
        fake.models[0].family = ""  # model_info then has no "<arch>.context_length"
        fake.models[0].context_length = 0
        assert await catalog.context_length("gemma3") == FALLBACK_CONTEXT_LENGTH


def test_errors_from_ollama_become_writer_messages() -> None:
    host = "http://127.0.0.1:9"
    for raw in (ConnectionError("refused"), httpx.ConnectError("refused")):
        assert "not running at http://127.0.0.1:9" in translate_ollama_error(raw, host).message
    missing = translate_ollama_error(ollama.ResponseError("model 'x' not found", 404), host, "x")
    assert isinstance(missing, ModelMissing) and "ollama pull x" in missing.message
    mid = translate_ollama_error(ollama.ResponseError("out of memory"), host, "x")
    assert "out of memory" in mid.message
    broken = translate_ollama_error(httpx.RemoteProtocolError("incomplete"), host, "x")
    assert "broke off" in broken.message


async def test_a_listing_nobody_waits_for_is_stopped_one_still_awaited_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Parts starting together share one listing. A part that gives up (its story check
    # failed) leaves it to the others; when the last one goes, it is stopped while the loop
    # runs, not cut by the loop's shutdown (a command ending there warned on the terminal).
    catalog = catalog_for("http://127.0.0.1:9")
    answer = asyncio.Event()
    stopped = asyncio.Event()
    listing = [ModelInfo(name="gemma3:latest")]

    async def slow_listing() -> list[ModelInfo]:
        try:
            await answer.wait()
        except asyncio.CancelledError:
            stopped.set()
            raise
        return listing

    monkeypatch.setattr(catalog, "list_models", slow_listing)
    first = asyncio.create_task(catalog.recent_models())
    second = asyncio.create_task(catalog.recent_models())
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.sleep(0.01)
    assert not stopped.is_set()  # the second part still waits for it
    answer.set()
    assert await second == listing
    # A listing only one part waited for, which went away: stopped at once.
    alone = catalog_for("http://127.0.0.1:9")
    monkeypatch.setattr(alone, "list_models", slow_listing)
    answer.clear()
    lone = asyncio.create_task(alone.recent_models())
    await asyncio.sleep(0.01)
    lone.cancel()
    await asyncio.wait_for(stopped.wait(), 5)
