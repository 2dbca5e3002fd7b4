"""Which models the new-session form offers, and whether Ollama answers (status line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storyterm.core.runtime import Runtime


@dataclass(frozen=True)
class ModelChoice:
    """The models to offer, the one to preselect, and a note when something is wrong."""

    names: list[str] = field(default_factory=list)
    default: str | None = None
    #: A line for the writer: Ollama is down, or no model is installed, and what to do.
    problem: str | None = None
    ollama_up: bool = False


async def load_model_choice(runtime: Runtime, preferred: str | None = None) -> ModelChoice:
    """Ask Ollama for its models (off the event loop's critical path: an async call).

    Never raises: a problem becomes `ModelChoice.problem`, so the form works without Ollama.
    """
    import httpx

    settings = runtime.settings
    host = settings.ollama_host.rstrip("/")
    fallback = [preferred] if preferred else []
    fallback += [m for m in settings.model_preferences if m not in fallback]
    try:
        async with httpx.AsyncClient(timeout=3.0) as client:
            response = await client.get(f"{host}/api/tags")
            response.raise_for_status()
            data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
        return ModelChoice(
            names=fallback,
            default=fallback[0] if fallback else None,
            problem=(
                f"Ollama is not answering at {host} ({reason}). The story can be created now; "
                "start Ollama (`ollama serve`) before you write, or set OLLAMA_HOST."
            ),
        )
    names = sorted(
        {m.get("name") or m.get("model") for m in data.get("models", []) if isinstance(m, dict)}
        - {None}
    )
    if not names:
        return ModelChoice(
            names=fallback,
            default=fallback[0] if fallback else None,
            problem="Ollama has no models yet. Run `ollama pull gemma3` in a terminal.",
            ollama_up=True,
        )
    default = next((m for m in fallback if m in names), names[0])
    return ModelChoice(names=names, default=default, ollama_up=True)
