"""What the stand-in holds and keeps: its installed models and every request it received."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONTEXT_LENGTH = 32_768


def normalise_name(name: str) -> str:
    """Ollama's rule: a model named without a tag means ``:latest``."""
    name = name.strip()
    return name if ":" in name else f"{name}:latest"


@dataclass
class FakeModel:
    """One installed model as /api/tags and /api/show describe it."""

    name: str
    #: None: /api/show leaves "<arch>.context_length" out, as an older Ollama does.
    context_length: int | None = DEFAULT_CONTEXT_LENGTH
    family: str = ""
    size: int = 3_338_801_804
    parameter_size: str = "4.3B"
    quantization_level: str = "Q4_K_M"
    #: A model that thinks before it answers ("thinking" in /api/show's capabilities).
    thinks: bool = False

    def __post_init__(self) -> None:
        self.name = normalise_name(self.name)
        if not self.family:
            self.family = self.name.split(":", 1)[0].split("/")[-1] or "llm"

    @property
    def capabilities(self) -> list[str]:
        return ["completion", "thinking"] if self.thinks else ["completion"]

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


@dataclass
class RecordedRequest:
    """A request the server received: what a test inspects."""

    method: str
    path: str
    body: dict[str, Any]
    at: float
    #: Chat only: (time.monotonic(), text) of every token sent, in order.
    sent: list[tuple[float, str]] = field(default_factory=list)
    #: Chat only: the prompt size the fake's tokenizer counted (prompt_eval_count).
    prompt_tokens: int = 0
    #: Chat only: prompt + reply did not fit the num_ctx the client asked for (real Ollama would
    #: have dropped the start of the prompt or shifted the context).
    overflowed: bool = False
    #: Chat only: the client went away before the reply ended.
    disconnected: bool = False
    finished: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def prompt_text(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.body.get("options") or {})

    @property
    def text_sent(self) -> str:
        return "".join(text for _, text in self.sent)

    def text_sent_before(self, moment: float) -> str:
        return "".join(text for at, text in self.sent if at <= moment)
