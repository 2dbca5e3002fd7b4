"""Ollama's HTTP API as a Starlette app: the routes the stand-in answers, the way Ollama does."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Send

from .records import FakeModel, RecordedRequest

if TYPE_CHECKING:
    from .server import FakeOllama

#: Flat out (no rate), the NDJSON lines of this many tokens go out in one write. Each token
#: keeps its own line, which is what a client parses; one HTTP chunk per line cost uvicorn, h11
#: and asyncio enough that on a small machine the server, not the client being measured, set
#: the benchmark's pace.
BATCH_LINES = 64
#: Seconds between looks at flags other threads set (closing, release_hang, a client's hang-up
#: in a reply that has not started); far below any timeout a test waits with.
POLL = 0.05


class ServerClosing(Exception):
    """Raised in a stream when the stand-in closes under it: uvicorn then drops the connection
    in the middle of the body, which is how a client sees Ollama die."""


def build_app(fake: FakeOllama) -> Starlette:
    api = _Api(fake)
    return Starlette(
        routes=[
            # Before the GET routes (which also take HEAD): a HEAD anywhere is a bare 200.
            Route("/{path:path}", api.head, methods=["HEAD"]),
            Route("/", api.root, methods=["GET"]),
            Route("/api/tags", api.tags, methods=["GET"]),
            Route("/api/version", api.version, methods=["GET"]),
            Route("/api/ps", api.ps, methods=["GET"]),
            Route("/api/show", api.show, methods=["POST"]),
            Route("/api/chat", api.chat, methods=["POST"]),
            # Any other GET or POST, a wrong method on a known path too: Ollama's router 404.
            Route("/{path:path}", api.not_found, methods=["GET", "POST"]),
        ]
    )


@dataclass
class _Reply:
    """One chat reply being made: its tokens and what its final line reports."""

    model: FakeModel
    record: RecordedRequest
    tokens: list[str]
    started: int  # time.monotonic_ns() when the request came in
    length_cut: bool  # num_predict ended it (done_reason "length")
    #: Per token: True for thinking sent in the `thinking` field (the first ones), else text.
    thought: list[bool] = dataclasses.field(default_factory=list)

    def final(self, count: int, first_token_at: int) -> dict[str, Any]:
        now = time.monotonic_ns()
        return {
            "model": self.model.name,
            "created_at": _now(),
            "done": True,
            "done_reason": "length" if self.length_cut else "stop",
            "total_duration": now - self.started,
            "load_duration": max(0, first_token_at - self.started),
            "prompt_eval_count": self.record.prompt_tokens,
            "prompt_eval_duration": 1_000_000,
            "eval_count": count,
            "eval_duration": max(1, now - first_token_at),
        }


class _NDJSONStream(StreamingResponse):
    """A chat stream. Starlette cancels it when uvicorn reports the client gone; the cancel
    can land in `send` rather than in the line generator, so the generator is closed here to
    run its clean-up (marking the request disconnected) now, not whenever it is collected."""

    media_type = "application/x-ndjson"

    def __init__(self, lines: AsyncGenerator[bytes, None]) -> None:
        super().__init__(lines)
        self._lines = lines

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            await self._lines.aclose()


class _Api:
    """The route handlers; the knobs and the records they use are the FakeOllama's."""

    def __init__(self, fake: FakeOllama) -> None:
        self.fake = fake

    # -- plumbing -------------------------------------------------------------------------

    async def _record(self, request: Request) -> RecordedRequest:
        body: dict[str, Any] = {}
        if request.method == "POST":
            try:
                value = json.loads(await request.body() or b"{}")
            except ValueError:  # not JSON, or not UTF-8: Ollama would refuse it; keep {}
                value = {}
            body = value if isinstance(value, dict) else {}
        record = RecordedRequest(request.method, request.url.path, body, time.monotonic())
        self.fake._record(record)
        return record

    async def _pause(self, seconds: float, request: Request | None = None) -> bool:
        """Wait up to `seconds`, ending early when the server closes. False if the client
        left; that is only looked for with `request`: a stream is cancelled instead."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0 and not self.fake._closing.is_set():
            if request is not None and await request.is_disconnected():
                return False
            await asyncio.sleep(min(left, POLL))
        return request is None or not await request.is_disconnected()

    async def _hold(self, request: Request | None = None) -> bool:
        """A hung model: send nothing until `release_hang`. False if the client left or the
        server is closing."""
        while not self.fake._release.is_set():
            if self.fake._closing.is_set() or not await self._pause(POLL, request):
                return False
        return not self.fake._closing.is_set()

    # -- routes ---------------------------------------------------------------------------

    async def head(self, request: Request) -> Response:
        return Response()

    async def root(self, request: Request) -> Response:
        await self._record(request)
        return PlainTextResponse("Ollama is running")

    async def tags(self, request: Request) -> Response:
        await self._record(request)
        return _json(200, {"models": [_tag(m) for m in self.fake.models]})

    async def version(self, request: Request) -> Response:
        await self._record(request)
        if self.fake.version is None:
            return _json(404, {"error": "404 page not found"})
        return _json(200, {"version": self.fake.version})

    async def ps(self, request: Request) -> Response:
        await self._record(request)
        return _json(200, {"models": []})

    async def not_found(self, request: Request) -> Response:
        await self._record(request)
        return _json(404, {"error": "404 page not found"})

    async def show(self, request: Request) -> Response:
        body = (await self._record(request)).body
        name = str(body.get("model") or body.get("name") or "")
        model = self.fake.find_model(name)
        if model is None:
            return _missing(name)
        arch = model.family
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.parameter_count": 4_300_000_000,
            f"{arch}.embedding_length": 2560,
        }
        if model.context_length is not None:
            info[f"{arch}.context_length"] = model.context_length
        return _json(
            200,
            {
                "license": "",
                "modelfile": f"# Modelfile generated by fake-ollama\nFROM {model.name}\n",
                "parameters": 'stop "<end_of_turn>"\ntemperature 1',
                "template": "{{ .Prompt }}",
                "details": _details(model),
                "model_info": info,
                "capabilities": model.capabilities,
                "modified_at": _now(),
            },
        )

    async def chat(self, request: Request) -> Response:
        fake = self.fake
        record = await self._record(request)
        body = record.body
        name = str(body.get("model") or "")
        model = fake.find_model(name)
        if model is None:
            return _missing(name)
        options = body.get("options") or {}
        num_ctx = int(options.get("num_ctx") or 2048)
        num_predict = int(options.get("num_predict") or -1)
        record.prompt_tokens = fake.count_prompt_tokens(body.get("messages") or [])
        capped = num_predict > 0 and not fake.ignore_num_predict
        tokens = fake.reply_tokens(body, num_predict if capped else 1_000_000)
        length_cut = capped and len(tokens) >= num_predict
        record.overflowed = record.prompt_tokens + len(tokens) > num_ctx
        thinking, in_field = self._thinking(model, body)
        if thinking is None:
            return _json(400, {"error": f'"{model.name}" does not support thinking'})
        thought = [in_field] * len(thinking) + [False] * len(tokens)
        reply = _Reply(model, record, thinking + tokens, time.monotonic_ns(), length_cut, thought)
        # Ollama answers only once the model is loaded: the headers wait too.
        if fake.load_delay and not await self._pause(fake.load_delay, request):
            record.disconnected = True
            return Response()  # nobody is there to read it
        if body.get("stream", True) is False:
            return await self._chat_whole(request, reply)
        return _NDJSONStream(self._lines(reply))

    def _thinking(self, model: FakeModel, body: dict[str, Any]) -> tuple[list[str] | None, bool]:
        """The thinking tokens sent before the reply (None: `think` refused, as Ollama refuses
        it for a model that cannot think) and whether they go in the `thinking` field (else
        they are text between <think> tags, as an older Ollama sends them)."""
        fake, think = self.fake, body.get("think")
        if not model.thinks:
            if think not in (None, False) and not fake.think_in_content:
                return None, False
            return [], False
        if fake.think_in_content or think is None:
            return ["<th", "ink>", *fake.thinking_tokens(body), "</thi", "nk>\n\n"], False
        if think is False:
            return [], False
        return fake.thinking_tokens(body), True

    async def _chat_whole(self, request: Request, reply: _Reply) -> Response:
        fake, record = self.fake, reply.record
        first = time.monotonic_ns()
        if fake.hang_after is not None and not await self._hold(request):
            record.disconnected = True
            if fake._closing.is_set():
                # A reply that has not started cannot be cut off in ASGI; a dying Ollama's
                # other answer is an error.
                return _json(500, {"error": "fake-ollama is shutting down"})
            return Response()
        if fake.error_after is not None:
            return _json(500, {"error": fake.error_message})
        if fake.rate and not await self._pause(len(reply.tokens) / fake.rate, request):
            record.disconnected = True
            return Response()
        text = "".join(t for t, field in zip(reply.tokens, reply.thought, strict=True) if not field)
        record.sent.append((time.monotonic(), text))
        final = reply.final(len(reply.tokens), first)
        final["message"] = {"role": "assistant", "content": text}
        if any(reply.thought):
            final["message"]["thinking"] = "".join(
                t for t, f in zip(reply.tokens, reply.thought, strict=True) if f
            )
        record.finished = True
        return _json(200, final)

    # One loop over the knobs a test may turn mid-stream (close, hang, error, rate, batching):
    # their order per token is the behaviour, and it reads best in one place.
    async def _lines(self, reply: _Reply) -> AsyncGenerator[bytes, None]:  # noqa: C901
        """The NDJSON lines of a streamed reply, one per token, then the final line. The
        knobs are read at every token, so a test may turn them while the stream runs."""
        fake, record = self.fake, reply.record
        first = time.monotonic_ns()
        begin = time.monotonic()
        lines: list[bytes] = []
        tokens: list[str] = []  # the tokens in `lines`, recorded as sent when they go

        def flush() -> bytes:
            now = time.monotonic()
            record.sent.extend((now, token) for token in tokens)
            data = b"".join(lines)
            lines.clear()
            tokens.clear()
            return data

        try:
            for index, token in enumerate(reply.tokens):
                if fake._closing.is_set():
                    raise ServerClosing
                if fake.hang_after is not None and index == fake.hang_after:
                    if lines:
                        yield flush()
                    if not await self._hold():
                        record.disconnected = True
                        raise ServerClosing
                    if fake.rate:  # go on at the rate, not with a burst to catch up
                        begin = time.monotonic() - index / fake.rate
                if fake.error_after is not None and index == fake.error_after:
                    lines.append(_line({"error": fake.error_message}))
                    yield flush()
                    record.finished = True
                    return
                if fake.rate:
                    delay = begin + index / fake.rate - time.monotonic()
                    if delay > 0:
                        if lines:
                            yield flush()
                        if not await self._pause(delay):
                            raise ServerClosing
                message = {"role": "assistant", "content": token}
                if reply.thought[index]:
                    message = {"role": "assistant", "content": "", "thinking": token}
                line = {
                    "model": reply.model.name,
                    "created_at": _now(),
                    "message": message,
                    "done": False,
                }
                lines.append(_line(line))
                if not reply.thought[index]:
                    tokens.append(token)
                # At a rate every token goes out alone; flat out, the first does (the time to
                # the first token is unchanged) and then BATCH_LINES at a time.
                if fake.rate or index == 0 or len(lines) >= BATCH_LINES:
                    yield flush()
                    # `send` waits only when the socket is full: give uvicorn's report of a
                    # hang-up (and Starlette's cancel) a turn of the loop before the next write.
                    await asyncio.sleep(0)
            final = reply.final(len(reply.tokens), first)
            final["message"] = {"role": "assistant", "content": ""}
            lines.append(_line(final))
            yield flush()
            record.finished = True
        except (asyncio.CancelledError, GeneratorExit):
            record.disconnected = True
            raise


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value) + "\n").encode()


def _json(status: int, value: Any) -> Response:
    return Response(json.dumps(value), status, media_type="application/json; charset=utf-8")


def _missing(name: str) -> Response:
    return _json(404, {"error": f"model '{name}' not found"})


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
