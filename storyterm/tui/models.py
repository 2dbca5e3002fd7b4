"""Which models the forms offer, and whether Ollama answers (status line): the model catalog,
asked from a worker, with the ollama client imported in a thread so the event loop never
stalls on an import."""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING

from storyterm.errors import ModelUnavailable

if TYPE_CHECKING:
    from storyterm.core.generation.catalog import ModelInfo
    from storyterm.core.runtime import Runtime


class ModelChoice:
    """The models to offer, the one to preselect, and a note when something is wrong.
    (A plain class: this module loads at start-up, and creating a dataclass compiles its
    methods.)"""

    __slots__ = ("default", "details", "names", "ollama_up", "problem")

    def __init__(
        self,
        names: list[str] | None = None,
        default: str | None = None,
        problem: str | None = None,
        ollama_up: bool = False,
        details: dict[str, str] | None = None,
    ) -> None:
        self.names = names or []
        self.default = default
        #: A line for the writer: Ollama is down, or has no model, and what to do.
        self.problem = problem
        self.ollama_up = ollama_up
        #: Details for a picker: name -> "3.3 GB · gemma3 · 4B".
        self.details = details or {}


def _warm_imports() -> None:
    from storyterm.core.generation.catalog import shared_ssl_context

    for name in ("httpx", "ollama"):
        importlib.import_module(name)
    # Loading the CA bundle is slow (bench/FINDINGS.md): never on the event loop.
    shared_ssl_context()


#: What the first part needs that start-up does not load: LangChain and the Ollama chat model,
#: the generation's own modules, the widget a part streams into (Textual's Markdown, with
#: markdown-it) and the column's takes-and-undo keys (Enter forgets the last deletion's undo).
#: Imported in a thread after the first frame: on the event loop they held up the first part
#: after start-up by over a second (bench/FINDINGS.md).
GENERATION_MODULES = (
    "httpx",
    "ollama",
    "langchain_ollama",
    "storyterm.core.memory.prompt",
    "storyterm.core.generation.storyteller",
    "storyterm.tui.widgets.stream_markdown",
    "storyterm.tui.main.history_actions",
)


def warm_generation_imports() -> None:
    """Import what the first part needs (GENERATION_MODULES) ahead of the first Enter. Run in
    a thread."""
    for name in GENERATION_MODULES:
        importlib.import_module(name)


async def load_model_choice(runtime: Runtime, preferred: str | None = None) -> ModelChoice:
    """The installed models and the one the rules pick. Never raises: a problem becomes
    `ModelChoice.problem`, so a form works without Ollama."""
    from storyterm.core.generation.catalog import normalise_model_name, pick_model

    await asyncio.to_thread(_warm_imports)
    settings = runtime.settings
    fallback = [normalise_model_name(preferred)] if preferred else []
    fallback += [
        normalise_model_name(m)
        for m in settings.model_preferences
        if normalise_model_name(m) not in fallback
    ]
    try:
        models = await runtime.models.list_models()
    except ModelUnavailable as exc:
        return ModelChoice(
            names=fallback,
            default=fallback[0] if fallback else None,
            problem=f"{exc.message} The story can be created now; it needs Ollama to be written.",
        )
    writable = [m for m in models if m.can_write]
    if not writable:
        return ModelChoice(
            names=fallback,
            default=fallback[0] if fallback else None,
            problem="Ollama has no models to write with. Run `ollama pull gemma3` (about 3 GB).",
            ollama_up=True,
        )
    default = pick_model(writable, preferred, settings.model_preferences).name
    return ModelChoice(
        names=sorted(m.name for m in writable),
        default=default,
        ollama_up=True,
        details={m.name: _describe(m) for m in writable},
    )


def _describe(model: ModelInfo) -> str:
    bits = [model.size_text, model.family or "", model.parameter_size or ""]
    return " · ".join(b for b in bits if b)
