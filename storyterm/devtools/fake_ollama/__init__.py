"""A small Ollama-protocol server on loopback, for tests, the benchmark suite and manual runs.

It speaks the part of Ollama's HTTP API that storyterm uses, the way Ollama does:

- ``GET /api/version``: ``version`` (None answers 404, as an Ollama too old to have it);
- ``GET /api/tags``: the installed models;
- ``POST /api/show``: details, ``capabilities`` ("thinking" for a model that thinks) and
  ``model_info["<arch>.context_length"]`` (left out for a model whose ``context_length`` is
  None);
- ``POST /api/chat``: streamed NDJSON (one line per token, then a final line with ``done``,
  ``done_reason``, ``prompt_eval_count``, ``eval_count`` and durations) or, with
  ``"stream": false``, one JSON reply; a thinking model (``FakeModel(thinks=True)``) asked to
  think sends its thinking first, in a ``thinking`` field (or, as an older Ollama and when
  ``think`` is not sent, between ``<think>`` tags in the text: ``think_in_content``), and
  ``think`` for a model that cannot think is a 400 as in Ollama; ``done_reason`` is "length"
  when ``num_predict`` ended the reply;
- ``404 {"error": "model 'x' not found"}`` for a model it does not have, and on request an
  ``{"error": "..."}`` line in the middle of a stream (HTTP 200, as Ollama fails mid-stream).

The reply is deterministic prose (seeded by ``seed`` and the prompt), so a writer trying the
TUI against it sees a story rather than filler. Behaviour knobs are plain attributes that a test
may change while the server runs; every request body is kept in ``requests``.

    with FakeOllama(models=["gemma3:latest"], tokens=50) as fake:
        settings = load_settings(ollama_host=fake.url)
        ...
        assert fake.chat_requests[-1].body["options"]["num_ctx"] == 8192

It is a Starlette app (``app``) served by uvicorn in a thread of its own (``server``); the
prose is in ``prose``. Manual runs: ``python -m storyterm.devtools.fake_ollama --port 11434
--rate 40``.
"""

from .cli import main
from .prose import prose
from .records import DEFAULT_CONTEXT_LENGTH, FakeModel, RecordedRequest, normalise_name
from .server import FakeOllama

__all__ = [
    "DEFAULT_CONTEXT_LENGTH",
    "FakeModel",
    "FakeOllama",
    "RecordedRequest",
    "main",
    "normalise_name",
    "prose",
]
