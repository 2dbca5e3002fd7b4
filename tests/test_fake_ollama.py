"""The project's Ollama stand-in speaks Ollama's protocol: the real clients work against it."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import pytest

from storyterm.devtools.fake_ollama import FakeModel, FakeOllama, prose

ROOT = Path(__file__).resolve().parents[1]


def _chat(url: str, body: dict, timeout: float = 5.0) -> list[dict]:
    lines = []
    with (
        httpx.Client(base_url=url, timeout=timeout) as client,
        client.stream("POST", "/api/chat", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        for line in response.iter_lines():
            if line:
                lines.append(json.loads(line))
    return lines


async def test_tags_and_show_through_the_ollama_client() -> None:
    models = ["gemma3:latest", FakeModel("mistral-small3.1", context_length=131072)]
    with FakeOllama(models=models) as fake:
        async with ollama.AsyncClient(host=fake.url) as client:
            listed = await client.list()
            shown = await client.show("mistral-small3.1")
            with pytest.raises(ollama.ResponseError) as missing:
                await client.show("llama3")
    assert [m.model for m in listed.models] == ["gemma3:latest", "mistral-small3.1:latest"]
    assert listed.models[0].details.family == "gemma3"
    assert listed.models[0].size > 1_000_000
    arch = shown.modelinfo["general.architecture"]
    assert shown.modelinfo[f"{arch}.context_length"] == 131072
    assert shown.details.quantization_level
    assert missing.value.status_code == 404
    assert "model 'llama3' not found" in missing.value.error


def test_streaming_chat_lines_look_like_ollamas() -> None:
    with FakeOllama(tokens=12) as fake:
        body = {
            "model": "gemma3",
            "messages": [{"role": "user", "content": "Begin."}],
            "options": {"num_ctx": 4096},
        }
        lines = _chat(fake.url, body)
    tokens, final = lines[:-1], lines[-1]
    assert len(tokens) == 12
    for line in tokens:
        assert line["done"] is False
        assert line["message"]["role"] == "assistant"
        assert line["model"] == "gemma3:latest"
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["eval_count"] == 12
    assert final["prompt_eval_count"] > 0
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(final[key], int)
    text = "".join(line["message"]["content"] for line in tokens)
    assert text.lstrip('"')[0].isupper() and "  " not in text  # prose, not filler
    assert fake.requests[-1].body == body  # every body is kept for the tests


def test_num_predict_caps_the_reply_with_done_reason_length() -> None:
    with FakeOllama(tokens=50) as fake:
        lines = _chat(
            fake.url,
            {"model": "gemma3", "messages": [], "options": {"num_ctx": 2048, "num_predict": 7}},
        )
        assert lines[-1]["done_reason"] == "length" and lines[-1]["eval_count"] == 7
        assert fake.chat_requests[-1].overflowed is False


def test_non_streaming_chat_and_missing_model() -> None:
    with FakeOllama(tokens=9, reply="A short summary of what happened.") as fake:
        response = httpx.post(
            f"{fake.url}/api/chat",
            json={"model": "gemma3:latest", "messages": [], "stream": False},
        )
        data = response.json()
        assert data["done"] is True and data["message"]["content"].startswith("A short summary")
        missing = httpx.post(f"{fake.url}/api/chat", json={"model": "nope", "messages": []})
        assert missing.status_code == 404
        assert missing.json() == {"error": "model 'nope' not found"}


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_error_line_in_the_middle_of_a_stream() -> None:
    with FakeOllama(tokens=20, error_after=4, error_message="out of memory") as fake:
        # _chat reads to the end of the body: the stream ends properly after the error line.
        lines = _chat(fake.url, {"model": "gemma3", "messages": []})
        assert len(lines) == 5 and lines[-1] == {"error": "out of memory"}
        assert fake.chat_requests[-1].finished and fake.chat_requests[-1].text_sent.count(" ") == 3
        fake.error_after = 0
        assert _chat(fake.url, {"model": "gemma3", "messages": []}) == [{"error": "out of memory"}]
        whole = httpx.post(
            f"{fake.url}/api/chat", json={"model": "gemma3", "messages": [], "stream": False}
        )
        assert whole.status_code == 500 and whole.json() == {"error": "out of memory"}


def test_a_client_that_hangs_up_stops_the_stream() -> None:
    with FakeOllama(tokens=200_000) as fake:  # as fast as the socket takes them
        with (
            httpx.Client(base_url=fake.url) as client,
            client.stream("POST", "/api/chat", json={"model": "gemma3", "messages": []}) as r,
        ):
            for index, _ in enumerate(r.iter_lines()):
                if index == 50:
                    break
        request = fake.chat_requests[-1]
        _until(lambda: request.disconnected)
        sent = len(request.sent)
        time.sleep(0.2)
        assert len(request.sent) == sent < 200_000 and not request.finished


def test_hang_after_holds_the_stream_until_release_hang() -> None:
    with FakeOllama(tokens=10, hang_after=4) as fake:
        lines: list[dict] = []
        reader = threading.Thread(
            target=lambda: lines.extend(_chat(fake.url, {"model": "gemma3", "messages": []}))
        )
        reader.start()
        _until(lambda: bool(fake.chat_requests) and len(fake.chat_requests[-1].sent) == 4)
        time.sleep(0.2)
        assert len(fake.chat_requests[-1].sent) == 4 and reader.is_alive()
        fake.release_hang()
        reader.join(timeout=5)
        assert len(lines) == 11 and lines[-1]["done"] is True and lines[-1]["eval_count"] == 10
        assert fake.chat_requests[-1].finished and not fake.chat_requests[-1].disconnected


def test_closing_the_server_breaks_off_its_streams_like_a_dying_ollama(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    fake = FakeOllama(tokens=1000, rate=200).start()
    try:
        with (
            pytest.raises(httpx.RemoteProtocolError),
            httpx.Client(base_url=fake.url) as client,
            client.stream("POST", "/api/chat", json={"model": "gemma3", "messages": []}) as r,
        ):
            for index, _ in enumerate(r.iter_lines()):
                if index == 5:
                    threading.Thread(target=fake.close).start()
    finally:
        fake.close()
    assert 5 <= len(fake.chat_requests[-1].sent) < 1000
    # Breaking off on purpose is no error worth a traceback in a test run's log.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_load_delay_holds_the_answer_and_notices_a_client_that_leaves() -> None:
    with FakeOllama(tokens=3, load_delay=0.4) as fake:
        started = time.monotonic()
        assert len(_chat(fake.url, {"model": "gemma3", "messages": []})) == 4
        assert time.monotonic() - started >= 0.4
        fake.load_delay = 2.0
        with pytest.raises(httpx.ReadTimeout):
            _chat(fake.url, {"model": "gemma3", "messages": []}, timeout=0.2)
        _until(lambda: fake.chat_requests[-1].disconnected)
        assert fake.chat_requests[-1].sent == []


def test_the_other_routes_and_the_port() -> None:
    fake = FakeOllama()
    assert fake.url.endswith(f":{fake.port}") and fake.port > 0  # known before it serves
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            FakeOllama(port=taken.getsockname()[1])
    with fake:
        assert httpx.get(fake.url).text == "Ollama is running"
        head = httpx.head(f"{fake.url}/api/tags")
        assert head.status_code == 200 and head.content == b""
        assert httpx.get(f"{fake.url}/api/version").json()["version"]
        missing = httpx.post(f"{fake.url}/api/generate", json={"model": "gemma3"})
        assert missing.status_code == 404 and missing.json() == {"error": "404 page not found"}
        assert [(r.method, r.path) for r in fake.requests] == [
            ("GET", "/"),
            ("GET", "/api/version"),
            ("POST", "/api/generate"),
        ]


def test_rate_and_hang_knobs() -> None:
    with FakeOllama(tokens=10, rate=100) as fake:
        started = time.monotonic()
        _chat(fake.url, {"model": "gemma3", "messages": []})
        assert time.monotonic() - started >= 0.08
        fake.hang_after = 3
        with pytest.raises(httpx.ReadTimeout):
            _chat(fake.url, {"model": "gemma3", "messages": []}, timeout=0.3)
        # The server notices the client went away and lets the stream go.
        deadline = time.monotonic() + 3
        while not fake.chat_requests[-1].disconnected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake.chat_requests[-1].disconnected
        assert fake.chat_requests[-1].text_sent.count(" ") <= 3


def test_prose_is_deterministic_and_seeded() -> None:
    assert prose(60) == prose(60)
    assert prose(60, seed=1) != prose(60, seed=2)
    with FakeOllama(tokens=30) as fake:
        body = {"model": "gemma3", "messages": [{"role": "user", "content": "x"}]}
        first = "".join(
            line.get("message", {}).get("content", "") for line in _chat(fake.url, body)
        )
        again = "".join(
            line.get("message", {}).get("content", "") for line in _chat(fake.url, body)
        )
        assert first == again


def test_command_line_server_starts_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyterm.devtools.fake_ollama", "--port", "0", "--quiet"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert "fake-ollama listening at http://127.0.0.1:" in line
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert httpx.get(f"{url}/api/tags").json()["models"][0]["name"] == "gemma3:latest"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
        proc.stdout.close()
        proc.stderr.close()
