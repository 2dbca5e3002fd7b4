"""FakeOllama: the stand-in's knobs, its records, and the HTTP server it runs in a thread."""

from __future__ import annotations

import hashlib
import json
import math
import random
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .prose import prose_tokens, split_tokens
from .records import FakeModel, RecordedRequest, normalise_name


class FakeOllama:
    """An Ollama stand-in on 127.0.0.1 in a background thread. Use as a context manager."""

    def __init__(
        self,
        models: Sequence[str | FakeModel] = ("gemma3:latest",),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: int = 120,
        rate: float | None = None,
        hang_after: int | None = None,
        error_after: int | None = None,
        error_message: str = "an error was encountered while running the model: unexpected EOF",
        load_delay: float = 0.0,
        chars_per_token: float = 3.8,
        reply: str | Callable[[dict[str, Any]], str] | None = None,
        seed: int = 7,
        verbose: bool = False,
    ) -> None:
        self.models: list[FakeModel] = [
            m if isinstance(m, FakeModel) else FakeModel(m) for m in models
        ]
        #: Tokens per reply (a request's options.num_predict caps it, as in Ollama).
        self.tokens = tokens
        #: Tokens per second; None streams as fast as the socket takes them.
        self.rate = rate
        #: Stop sending after this many tokens and hold the connection open (a hung model).
        self.hang_after = hang_after
        #: Send an {"error": ...} line after this many tokens and end the stream.
        self.error_after = error_after
        self.error_message = error_message
        #: Seconds before the first token (a model being loaded).
        self.load_delay = load_delay
        #: The fake tokenizer: prompt_eval_count is about len(text) / chars_per_token.
        self.chars_per_token = chars_per_token
        #: Fixed reply text, or a function of the request body; None writes seeded prose.
        self.reply = reply
        self.seed = seed
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._release = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOllama:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fake-ollama-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; hung streams end and their connections close."""
        self._closing.set()
        self._release.set()
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._server.shutdown()
                thread.join(timeout=5)
            self._server.server_close()

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def release_hang(self) -> None:
        """Let streams held by `hang_after` go on to their end."""
        self._release.set()

    # -- what tests look at ---------------------------------------------------------------

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/api/chat"]

    def find_model(self, name: str) -> FakeModel | None:
        wanted = normalise_name(name)
        return next((m for m in self.models if m.name == wanted), None)

    def remove_model(self, name: str) -> None:
        wanted = normalise_name(name)
        self.models = [m for m in self.models if m.name != wanted]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- replies --------------------------------------------------------------------------

    def count_prompt_tokens(self, messages: list[dict[str, Any]]) -> int:
        """A tokenizer stand-in: characters / chars_per_token, plus a chat template's markers."""
        total = 0
        for message in messages:
            total += math.ceil(len(str(message.get("content", ""))) / self.chars_per_token) + 4
        return total + 1

    def reply_tokens(self, body: dict[str, Any], limit: int) -> list[str]:
        reply = self.reply
        if callable(reply):
            reply = reply(body)
        if reply is not None:
            tokens = split_tokens(reply)
        else:
            prompt = json.dumps(body.get("messages") or [], sort_keys=True)
            digest = hashlib.sha256(f"{self.seed}:{prompt}".encode()).digest()
            tokens = list(prose_tokens(random.Random(digest), self.tokens))
        return tokens[:limit]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOllama

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a cancelled generation) is normal here, not a traceback.
        if self.fake.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    @property
    def fake(self) -> FakeOllama:
        return self.server.fake

    def log_message(self, format: str, *args: Any) -> None:
        if self.fake.verbose:
            sys.stderr.write(f"fake-ollama: {format % args}\n")

    # -- plumbing -------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def _json(self, status: int, value: Any) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, value: dict[str, Any] | None) -> None:
        """One NDJSON line as one HTTP chunk; None ends the chunked body."""
        if value is None:
            self.wfile.write(b"0\r\n\r\n")
        else:
            data = (json.dumps(value) + "\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """True when the client closed its end (readable socket with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when closing; False if the client left."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0 or self.fake._closing.is_set():
                return not self._client_gone()
            try:
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            except OSError:
                return False
            if readable and self._client_gone():
                return False

    def _hold(self) -> bool:
        """A hung model: keep the connection open, send nothing, until released or closed.
        False when the client gave up (or the server is closing)."""
        while not self.fake._release.is_set():
            if self.fake._closing.is_set() or not self._wait(0.05):
                return False
        return not self.fake._closing.is_set()

    # -- routes ---------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.fake._record(RecordedRequest("GET", self.path, {}, time.monotonic()))
        if self.path in ("/", ""):
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/api/tags":
            self._json(200, {"models": [_tag(m) for m in self.fake.models]})
        elif self.path == "/api/version":
            self._json(200, {"version": "0.12.0-fake"})
        elif self.path == "/api/ps":
            self._json(200, {"models": []})
        else:
            self._json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        body = self._body()
        record = RecordedRequest("POST", self.path, body, time.monotonic())
        self.fake._record(record)
        if self.path == "/api/show":
            self._show(body)
        elif self.path == "/api/chat":
            self._chat(body, record)
        else:
            self._json(404, {"error": "404 page not found"})

    def _missing(self, name: str) -> None:
        self._json(404, {"error": f"model '{name}' not found"})

    def _show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        model = self.fake.find_model(name)
        if model is None:
            self._missing(name)
            return
        arch = model.family
        self._json(
            200,
            {
                "license": "",
                "modelfile": f"# Modelfile generated by fake-ollama\nFROM {model.name}\n",
                "parameters": 'stop "<end_of_turn>"\ntemperature 1',
                "template": "{{ .Prompt }}",
                "details": _details(model),
                "model_info": {
                    "general.architecture": arch,
                    "general.parameter_count": 4_300_000_000,
                    f"{arch}.context_length": model.context_length,
                    f"{arch}.embedding_length": 2560,
                },
                "capabilities": ["completion"],
                "modified_at": _now(),
            },
        )

    def _chat(self, body: dict[str, Any], record: RecordedRequest) -> None:
        fake = self.fake
        name = str(body.get("model") or "")
        model = fake.find_model(name)
        if model is None:
            self._missing(name)
            return
        options = body.get("options") or {}
        num_ctx = int(options.get("num_ctx") or 2048)
        num_predict = int(options.get("num_predict") or -1)
        messages = body.get("messages") or []
        record.prompt_tokens = fake.count_prompt_tokens(messages)
        limit = num_predict if num_predict > 0 else 1_000_000
        tokens = fake.reply_tokens(body, limit)
        length_cut = num_predict > 0 and len(tokens) >= num_predict
        record.overflowed = record.prompt_tokens + max(len(tokens), 0) > num_ctx
        started = time.monotonic_ns()
        if fake.load_delay and not self._wait(fake.load_delay):
            record.disconnected = True
            return
        if body.get("stream", True) is False:
            self._chat_whole(body, record, model, tokens, started, length_cut)
        else:
            self._chat_stream(record, model, tokens, started, length_cut)

    def _final(
        self,
        model: FakeModel,
        record: RecordedRequest,
        count: int,
        started: int,
        first_token_at: int,
        length_cut: bool,
    ) -> dict[str, Any]:
        now = time.monotonic_ns()
        return {
            "model": model.name,
            "created_at": _now(),
            "done": True,
            "done_reason": "length" if length_cut else "stop",
            "total_duration": now - started,
            "load_duration": max(0, first_token_at - started),
            "prompt_eval_count": record.prompt_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": count,
            "eval_duration": max(1, now - first_token_at),
        }

    def _chat_whole(
        self,
        body: dict[str, Any],
        record: RecordedRequest,
        model: FakeModel,
        tokens: list[str],
        started: int,
        length_cut: bool,
    ) -> None:
        fake = self.fake
        first = time.monotonic_ns()
        if fake.hang_after is not None and not self._hold():
            record.disconnected = True
            return
        if fake.error_after is not None:
            self._json(500, {"error": fake.error_message})
            return
        if fake.rate and not self._wait(len(tokens) / fake.rate):
            record.disconnected = True
            return
        text = "".join(tokens)
        record.sent.append((time.monotonic(), text))
        final = self._final(model, record, len(tokens), started, first, length_cut)
        final["message"] = {"role": "assistant", "content": text}
        record.finished = True
        self._json(200, final)

    def _chat_stream(
        self,
        record: RecordedRequest,
        model: FakeModel,
        tokens: list[str],
        started: int,
        length_cut: bool,
    ) -> None:
        fake = self.fake
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = time.monotonic_ns()
        begin = time.monotonic()
        sent = 0
        try:
            for index, token in enumerate(tokens):
                if fake._closing.is_set():
                    self.close_connection = True
                    return
                if fake.hang_after is not None and index == fake.hang_after:
                    if not self._hold():
                        record.disconnected = True
                        self.close_connection = True
                        return
                    begin = time.monotonic() - index / fake.rate if fake.rate else begin
                if fake.error_after is not None and index == fake.error_after:
                    self._chunk({"error": fake.error_message})
                    self._chunk(None)
                    record.finished = True
                    return
                if fake.rate:
                    due = begin + index / fake.rate
                    delay = due - time.monotonic()
                    if delay > 0 and not self._wait(delay):
                        record.disconnected = True
                        self.close_connection = True
                        return
                self._chunk(
                    {
                        "model": model.name,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": token},
                        "done": False,
                    }
                )
                record.sent.append((time.monotonic(), token))
                sent += 1
            final = self._final(model, record, sent, started, first, length_cut)
            final["message"] = {"role": "assistant", "content": ""}
            self._chunk(final)
            self._chunk(None)
            record.finished = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            record.disconnected = True
            self.close_connection = True


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _details(model: FakeModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    }


def _tag(model: FakeModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": _now(),
        "size": model.size,
        "digest": model.digest,
        "details": _details(model),
    }
