"""FakeOllama: the stand-in's knobs, its records, and uvicorn serving it from a thread."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import uvicorn

from .app import ServerClosing, build_app
from .prose import prose_tokens, split_tokens
from .records import FakeModel, RecordedRequest, normalise_name

#: uvicorn's loggers; the server's own lines are kept out of them unless `verbose`.
_UVICORN_LOGGERS = ("uvicorn.error", "uvicorn.access")


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
        ignore_num_predict: bool = False,
        chars_per_token: float = 3.8,
        reply: str | Callable[[dict[str, Any]], str] | None = None,
        seed: int = 7,
        think_tokens: int = 40,
        think_in_content: bool = False,
        version: str | None = "0.12.0-fake",
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
        #: A model that runs on past options.num_predict, to `tokens` (seen with some models
        #: and templates): what storyterm's own part limit is for.
        self.ignore_num_predict = ignore_num_predict
        #: The fake tokenizer: prompt_eval_count is about len(text) / chars_per_token.
        self.chars_per_token = chars_per_token
        #: Fixed reply text, or a function of the request body; None writes seeded prose.
        self.reply = reply
        self.seed = seed
        #: Tokens of thinking a thinking model (FakeModel.thinks) sends before its answer when
        #: asked to think (`think` true or a level): in a `thinking` field of their own, as
        #: Ollama does.
        self.think_tokens = think_tokens
        #: An older Ollama: `think` is ignored and a thinking model writes its thinking into
        #: the content between <think> and </think> (each tag split over two tokens, as a
        #: tokenizer may send it). A newer one does that only when `think` is not sent.
        self.think_in_content = think_in_content
        #: What /api/version reports; None answers it 404, like an Ollama too old to have it.
        self.version = version
        #: Let uvicorn's log lines from this server through (the command line prints them).
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()  # `requests`, appended by the server thread
        self._lifecycle = threading.Lock()  # start and close, which may race (tests close
        # from another thread while a stream runs)
        self._closing = threading.Event()
        self._release = threading.Event()
        # Bound here rather than in start(): a port in use fails at once (the command line
        # says so) and `port` is known before the server runs. uvicorn serves this socket.
        self._socket = _listen(host, port)
        self._port: int = self._socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._quiet = _QuietLogs(f"fake-ollama-{self._port}", lambda: self.verbose)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeOllama:
        with self._lifecycle:
            if self._server is not None:
                return self
            if self._closing.is_set():
                raise RuntimeError("this FakeOllama was closed; make a new one")
            config = uvicorn.Config(
                build_app(self),
                # The process's logging is the test run's (or the command line's): leave it.
                log_config=None,
                lifespan="off",
                # One protocol and loop everywhere, whatever extras a machine has installed.
                http="h11",
                loop="asyncio",
                proxy_headers=False,
                # Ollama (Go's net/http) never closes an idle connection; uvicorn's 5 s would
                # let a pooled client race the close.
                timeout_keep_alive=24 * 3600,
                # A backstop: streams end by themselves once `_closing` is set.
                timeout_graceful_shutdown=5,
            )
            server = uvicorn.Server(config)
            # uvicorn only takes signals on the main thread, so a thread needs no switch for
            # that; SIGINT stays the program's.
            thread = threading.Thread(
                target=server.run,
                kwargs={"sockets": [self._socket]},
                name=self._quiet.thread_name,
                daemon=True,
            )
            self._quiet.install()
            thread.start()
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    self._quiet.remove()
                    raise RuntimeError(f"fake-ollama did not start on port {self.port}")
                time.sleep(0.002)
            self._server, self._thread = server, thread
        return self

    def close(self) -> None:
        """Stop serving; streams still running break off, hung ones too, and their
        connections close."""
        self._closing.set()
        self._release.set()
        with self._lifecycle:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is not None and thread is not None:
                server.should_exit = True
                thread.join(timeout=10)
                self._quiet.remove()
            self._socket.close()  # uvicorn closed it already, unless it never started

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

    def thinking_tokens(self, body: dict[str, Any]) -> list[str]:
        """The thinking a thinking model sends before its reply: deterministic musing."""
        digest = hashlib.sha256(f"think:{self.seed}:{len(str(body))}".encode()).digest()
        words = list(prose_tokens(random.Random(digest), self.think_tokens))
        return (["Let me think.", *words])[: self.think_tokens]


def _listen(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not socket.create_server's 0: asyncio turns Nagle off (TCP_NODELAY) only on
    # connections whose socket says TCP, and with Nagle on, a body written after its headers
    # waits for the client's delayed ACK on every request. Ollama (Go) turns it off too.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


class _QuietLogs(logging.Filter):
    """Keeps one server thread's lines out of uvicorn's loggers, which the process shares (a
    test's own uvicorn, the command line's handler). A client hanging up is normal here, and a
    stream broken off by `close` is on purpose: neither is worth a traceback, even verbose."""

    def __init__(self, thread_name: str, verbose: Callable[[], bool]) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if record.threadName != self.thread_name:
            return True
        if record.exc_info and isinstance(record.exc_info[1], ServerClosing):
            return False
        return self.verbose()

    def install(self) -> None:
        for name in _UVICORN_LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in _UVICORN_LOGGERS:
            logging.getLogger(name).removeFilter(self)
