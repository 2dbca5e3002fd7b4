"""What `storyterm doctor` asks Ollama: is it there, its version, the models it has, the one new
stories use and that model's context window; each finding with what to do about it.

Everything the server says (version, model names) is data: it is folded onto one line, made
terminal-safe and cut short here, and the front end prints it as data again. The questions go
through the ModelCatalog, so doctor reads Ollama exactly as a generation does.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from storyterm.core.generation.catalog import (
    FALLBACK_CONTEXT_LENGTH,
    ModelCatalog,
    ModelInfo,
    normalise_model_name,
    pick_model,
)
from storyterm.core.text import terminal_line
from storyterm.errors import ModelUnavailable, StorytermError

#: Seconds each question may take: a doctor that hangs on a hung Ollama helps nobody.
ASK_SECONDS = 10.0
#: Installed models named in the "models" finding; the rest are counted.
NAMED_MODELS = 6
#: Longest server-given value (a model name, the version) shown.
MAX_SHOWN = 80

T = TypeVar("T")


class Verdict(enum.Enum):
    """OK: works. WARN: works, but not the way the settings ask. FAIL: a writer cannot write."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    """One line of the check-up: what was looked at, the verdict, and the detail with the fix."""

    verdict: Verdict
    what: str
    detail: str


def shown(value: str) -> str:
    """A value from the server as one safe, short line."""
    line = terminal_line(value)
    return line if len(line) <= MAX_SHOWN else line[: MAX_SHOWN - 1] + "…"


def pull_command(name: str) -> str:
    """`ollama pull gemma3` for gemma3:latest (the tag Ollama assumes need not be typed)."""
    name = normalise_model_name(name)
    return f"`ollama pull {name.removesuffix(':latest')}`"


async def _ask(question: Awaitable[T], host: str, seconds: float) -> T:
    """The answer, or ModelUnavailable saying what went wrong: doctor is where a writer goes
    when something is broken, so nothing it meets may end it with a traceback (the ollama
    client raises ValueError for an OLLAMA_HOST it cannot parse, before any request)."""
    try:
        return await asyncio.wait_for(question, seconds)
    except TimeoutError:
        raise ModelUnavailable(
            f"Ollama at {host} did not answer within {seconds:g} seconds. It may be busy "
            "loading a model: try again in a moment, or restart it (`ollama serve`)."
        ) from None
    except StorytermError:
        raise
    except Exception as exc:
        raise ModelUnavailable(
            f"Cannot ask Ollama at {host} ({type(exc).__name__}: {exc}). Check OLLAMA_HOST: "
            "it should be an address like http://localhost:11434."
        ) from exc


async def check_ollama(catalog: ModelCatalog, *, seconds: float = ASK_SECONDS) -> list[Finding]:
    """The findings, in order: ollama (reachable, version), models, model, context. Later ones
    are left out when an earlier one makes them meaningless (no server, no models)."""
    host = catalog.host
    try:
        version = await _ask(catalog.version(), host, seconds)
    except StorytermError as exc:
        return [Finding(Verdict.FAIL, "ollama", exc.message)]
    try:
        models = await _ask(catalog.list_models(), host, seconds)
    except StorytermError as exc:
        if version is not None:
            return [Finding(Verdict.FAIL, "ollama", exc.message)]
        return [
            Finding(
                Verdict.FAIL,
                "ollama",
                f"something answers at {host}, but not as Ollama does (it knows neither "
                "/api/version nor /api/tags). Check OLLAMA_HOST, and start Ollama there: "
                "`ollama serve`",
            )
        ]
    findings = [_server(host, version)]
    preferences = catalog.settings.model_preferences
    wanted = preferences[0] if preferences else "gemma3:latest"
    if not models:
        findings.append(
            Finding(
                Verdict.FAIL,
                "models",
                f"none installed, so nothing can write a story. Install the model: "
                f"{pull_command(wanted)}"
                + (" (about 3 GB)" if normalise_model_name(wanted) == "gemma3:latest" else ""),
            )
        )
        return findings
    findings.append(_installed(models))
    writers = [m for m in models if m.can_write]
    if not writers:
        findings.append(
            Finding(
                Verdict.FAIL,
                "model",
                "only embedding models are installed, and they cannot write a story. Install "
                f"the model: {pull_command(wanted)}",
            )
        )
        return findings
    chosen = pick_model(writers, None, preferences).name
    findings.append(_choice(chosen, preferences))
    findings.append(await _context(catalog, chosen, seconds))
    return findings


def _server(host: str, version: str | None) -> Finding:
    if version is None:
        return Finding(
            Verdict.WARN,
            "ollama",
            f"running at {host}, but it does not say its version (no /api/version): it may be "
            "too old for storyterm. Update Ollama (https://ollama.com/download)",
        )
    return Finding(Verdict.OK, "ollama", f"running at {host} (version {shown(version)})")


def _installed(models: list[ModelInfo]) -> Finding:
    names = [shown(m.name) for m in models[:NAMED_MODELS]]
    more = len(models) - len(names)
    listing = ", ".join(names) + (f" and {more:,} more" if more else "")
    count = f"{len(models):,} installed"
    return Finding(Verdict.OK, "models", f"{count}: {listing}")


def _choice(chosen: str, preferences: list[str]) -> Finding:
    """Whether new stories get the model the settings prefer (model_preferences)."""
    wanted = [normalise_model_name(p) for p in preferences]
    name = normalise_model_name(chosen)
    if not wanted:
        return Finding(
            Verdict.OK,
            "model",
            f"new stories use {shown(chosen)} (the first installed: model_preferences is empty)",
        )
    if name == wanted[0]:
        return Finding(Verdict.OK, "model", f"new stories use {shown(chosen)} (your first choice)")
    if name in wanted:
        why = f"{wanted[0]} is not installed, so new stories use {shown(chosen)}, your next choice"
    else:
        why = (
            f"none of your models ({', '.join(wanted)}) is installed, so new stories use "
            f"{shown(chosen)}"
        )
    return Finding(
        Verdict.WARN,
        "model",
        f"{why}. Install the model: {pull_command(wanted[0])} (or change the "
        "model_preferences setting)",
    )


async def _context(catalog: ModelCatalog, chosen: str, seconds: float) -> Finding:
    """How much the chosen model reads at once, and how much of it storyterm asks for."""
    try:
        length = await _ask(catalog.reported_context_length(chosen), catalog.host, seconds)
    except StorytermError as exc:
        return Finding(Verdict.FAIL, "context", exc.message)
    name = shown(chosen)
    if length is None:
        return Finding(
            Verdict.WARN,
            "context",
            f"Ollama does not say how much {name} reads at once; storyterm assumes "
            f"{FALLBACK_CONTEXT_LENGTH:,} tokens, so stories keep less of themselves in view "
            "(an older Ollama does not report it: updating Ollama may help)",
        )
    cap = catalog.settings.max_num_ctx
    if length <= cap:
        sends = "storyterm uses all of it"
    else:
        sends = f"storyterm uses {cap:,} of them (the max_num_ctx setting)"
    return Finding(Verdict.OK, "context", f"{name} reads up to {length:,} tokens; {sends}")
