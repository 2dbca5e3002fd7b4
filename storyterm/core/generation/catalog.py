"""Which models Ollama has, how much context each takes, and which one a story should use.

The rules (DESIGN.md, "The model"): the writer's pick if it is installed; else the first of
`settings.model_preferences` (gemma3:latest, mistral-small3.1:latest) that is; else any installed
model; else a clear message to start Ollama or pull a model. The ollama client is imported when a
listing is first asked for, never at start-up.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from storyterm.core.generation.thinking import ThinkingTraits
from storyterm.errors import (
    ModelFailed,
    ModelMissing,
    ModelUnavailable,
    OllamaUnreachable,
    StorytermError,
)
from storyterm.settings import Settings

if TYPE_CHECKING:
    import ssl

    import ollama

#: Seconds to wait for Ollama to accept a connection / to answer a listing.
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 30.0
#: Context length assumed when /api/show does not report one (small enough to be safe).
FALLBACK_CONTEXT_LENGTH = 4096
#: How long a generation may use the listing another generation of this process fetched
#: (seconds): a server starting many parts at once asks Ollama once, not once a part (each ask
#: a new HTTP client, a request and a reply parsed: ~4 ms of the worker's CPU a part).
LISTING_REUSE_SECONDS = 2.0
#: Families and name parts of embedding-only models, which cannot write a story.
_EMBEDDING_FAMILIES = {"bert", "nomic-bert"}


@dataclass(frozen=True)
class ModelInfo:
    """One model installed in Ollama."""

    name: str
    size: int | None = None
    family: str | None = None
    context_length: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None

    @property
    def size_text(self) -> str:
        """'3.3 GB', '870 MB', or '' when unknown."""
        if not self.size:
            return ""
        size = float(self.size)
        for unit in ("B", "KB", "MB", "GB", "TB"):
            if size < 1000 or unit == "TB":
                return f"{size:.0f} {unit}" if unit in ("B", "KB", "MB") else f"{size:.1f} {unit}"
            size /= 1000
        return ""

    @property
    def can_write(self) -> bool:
        """False for embedding-only models (they cannot generate text)."""
        return (self.family or "") not in _EMBEDDING_FAMILIES and "embed" not in self.name


@dataclass(frozen=True)
class ModelChoice:
    """The outcome of choosing a model for a new story."""

    name: str
    #: False when Ollama could not be asked: `name` is the first preference, unverified.
    verified: bool = True
    #: A sentence for the writer when the choice is not what they asked for.
    note: str | None = None


@cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every Ollama client of the process. httpx builds a new one for each
    client by default, loading the CA bundle each time (slow: bench/FINDINGS.md); a generation
    makes several clients."""
    import httpx

    return httpx.create_ssl_context()


def normalise_model_name(name: str) -> str:
    """Ollama's rule: a name without a tag means ':latest' (`gemma3` is `gemma3:latest`)."""
    name = name.strip()
    return name if ":" in name else f"{name}:latest"


def ollama_down_message(host: str) -> str:
    return (
        f"Ollama is not running at {host}. Start it (`ollama serve`, or open the Ollama app) "
        "and try again; set OLLAMA_HOST if it runs somewhere else."
    )


def bad_host_message(problem: BaseException, host: str | None = None) -> str:
    address = f"The Ollama address {host}" if host else "The Ollama address"
    return (
        f"{address} is not one storyterm can use ({problem}). Set OLLAMA_HOST to an address "
        "like http://localhost:11434."
    )


NO_MODELS_MESSAGE = "Ollama has no models. Run `ollama pull gemma3` (about 3 GB), then try again."


def silent_model_error(model: str, timeout: float) -> ModelUnavailable:
    """A model that sent nothing for `timeout` seconds (settings.ollama_timeout)."""
    return ModelUnavailable(
        f"{model} sent nothing for {timeout:g} seconds, so storyterm stopped waiting. "
        "Check that Ollama is still running; if the model is large and slow to start, "
        "raise ollama_timeout (STORYTERM_OLLAMA_TIMEOUT)."
    )


def translate_ollama_error(
    exc: BaseException, host: str, model: str | None = None
) -> StorytermError:
    """The writer-facing error for anything the ollama client or httpx raised.

    A refused connection arrives as httpx.ConnectError (streaming) or as the builtin
    ConnectionError (the ollama client's other calls); a missing model as ResponseError 404; a
    failure in the middle of a stream as ResponseError with the server's message.
    """
    if isinstance(exc, StorytermError):
        return exc
    import httpx
    import ollama

    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, ConnectionRefusedError)):
        return OllamaUnreachable(ollama_down_message(host))
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404 and model:
            return ModelMissing(
                f"The model {model} is not installed in Ollama at {host}. Run "
                f"`ollama pull {model}`, or choose another model.",
                model=model,
            )
        if exc.status_code == 404:
            return ModelUnavailable(f"Ollama at {host} answered: {exc.error}.")
        return ModelFailed(
            f"Ollama stopped with an error: {exc.error}. Try again; if it keeps happening, "
            "look at Ollama's own log (the model may not fit in memory)."
        )
    if isinstance(exc, ConnectionError):
        return OllamaUnreachable(ollama_down_message(host))
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return ModelUnavailable(
            f"The connection to Ollama at {host} broke off (did Ollama stop or restart?). "
            "Check that it is running and try again."
        )
    if isinstance(exc, httpx.TimeoutException):
        return ModelUnavailable(
            f"Ollama at {host} did not answer in time. It may be busy loading a model; "
            "try again in a moment."
        )
    if isinstance(exc, httpx.HTTPError):
        return ModelUnavailable(f"Talking to Ollama at {host} failed: {exc}. Try again.")
    return ModelUnavailable(f"Ollama at {host} failed: {exc}.")


class _Fetch:
    """A listing being fetched on `loop`, and how many generations wait for it."""

    __slots__ = ("loop", "task", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[list[ModelInfo]]):
        self.loop = loop
        self.task = task
        self.waiting = 0


class ModelCatalog:
    """The models Ollama at `settings.ollama_host` has, and the choice rules."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context: dict[str, int] = {}
        self._thinking: dict[str, ThinkingTraits] = {}
        #: The last listing a generation fetched, and when (time.monotonic()).
        self._recent: tuple[float, list[ModelInfo]] | None = None
        #: The listing being fetched for generations, on its event loop.
        self._fetching: _Fetch | None = None

    @property
    def host(self) -> str:
        return self.settings.ollama_host

    def _client(self) -> ollama.AsyncClient:
        """A client for the host; ModelUnavailable when the address cannot be one (the ollama
        client parses it when made, and its module makes a client from the OLLAMA_HOST
        variable on import)."""
        import httpx

        try:
            import ollama
        except ValueError as exc:  # the OLLAMA_HOST variable, which may not be self.host
            raise ModelUnavailable(bad_host_message(exc)) from exc
        try:
            return ollama.AsyncClient(
                host=self.host,
                timeout=httpx.Timeout(ANSWER_TIMEOUT, connect=CONNECT_TIMEOUT),
                verify=shared_ssl_context(),
            )
        except ValueError as exc:
            raise ModelUnavailable(bad_host_message(exc, self.host)) from exc

    async def list_models(self) -> list[ModelInfo]:
        """Installed models, as Ollama lists them. ModelUnavailable when Ollama is down."""
        try:
            async with self._client() as client:
                response = await client.list()
        except Exception as exc:
            raise translate_ollama_error(exc, self.host) from exc
        models: list[ModelInfo] = []
        for entry in response.models:
            name = entry.model or ""
            if not name:
                continue
            details = entry.details
            models.append(
                ModelInfo(
                    name=name,
                    size=int(entry.size) if entry.size is not None else None,
                    family=details.family if details else None,
                    context_length=self._context.get(name),
                    parameter_size=details.parameter_size if details else None,
                    quantization=details.quantization_level if details else None,
                )
            )
        return models

    async def recent_models(self) -> list[ModelInfo]:
        """Installed models, for a generation about to start: the listing fetched for another
        generation in the last LISTING_REUSE_SECONDS, or the one being fetched, else a new
        one. A model missing from it must be looked for again (`installed`): it may have
        been pulled since. ModelUnavailable as `list_models`."""
        recent = self._recent
        if recent is not None and time.monotonic() - recent[0] < LISTING_REUSE_SECONDS:
            return recent[1]
        loop = asyncio.get_running_loop()
        fetching = self._fetching
        if fetching is None or fetching.loop is not loop or fetching.task.done():
            task = loop.create_task(self._fetch_recent())
            # Every caller may have gone (cancelled) by the time it fails: not an error to log.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._fetching = fetching = _Fetch(loop, task)
        fetching.waiting += 1
        try:
            # A caller that is cancelled leaves the fetch to the others...
            return await asyncio.shield(fetching.task)
        finally:
            fetching.waiting -= 1
            if not fetching.waiting and not fetching.task.done():
                # ...and the last one to go stops it, while the loop still runs: a fetch left
                # to the loop's own shutdown (a command that ends as its story check fails)
                # could be cut inside the HTTP client's connect, which then warns on stderr.
                fetching.task.cancel()

    async def _fetch_recent(self) -> list[ModelInfo]:
        asked_at = time.monotonic()
        models = await self.list_models()
        self._recent = (asked_at, models)
        return models

    async def installed(self, name: str, models: list[ModelInfo]) -> str:
        """The installed model `name` stands for, as `ensure_installed`; when a reused listing
        (`recent_models`) lacks it, Ollama is asked again before the writer is told."""
        if self.find(name, models) is None:
            models = await self.list_models()
            self._recent = (time.monotonic(), models)
        return self.ensure_installed(name, models)

    async def version(self) -> str | None:
        """The version Ollama reports (GET /api/version); None when it has no such route (an
        old Ollama, or a proxy that passes only the model routes). ModelUnavailable when it
        cannot be reached."""
        try:
            async with self._client() as client:
                # The ollama client has no call for /api/version; `_request_raw` is the one its
                # public calls use, so a refusal or an HTTP error arrives as the same
                # ConnectionError / ResponseError that translate_ollama_error reads.
                response = await client._request_raw("GET", "/api/version")
        except StorytermError:
            raise
        except Exception as exc:
            import ollama

            if isinstance(exc, ollama.ResponseError) and exc.status_code == 404:
                return None
            raise translate_ollama_error(exc, self.host) from exc
        try:
            value = response.json().get("version")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) and value else None

    async def reported_context_length(self, name: str) -> int | None:
        """The context window Ollama reports for the model (/api/show model_info
        "<arch>.context_length"), or None when it does not say. ModelMissing when the model is
        not installed."""
        return (await self._show(name))[0]

    async def _show(self, name: str) -> tuple[int | None, ThinkingTraits]:
        """The context window and the thinking /api/show reports; the thinking is remembered
        for the catalog's life."""
        name = normalise_model_name(name)
        try:
            async with self._client() as client:
                shown = await client.show(name)
        except Exception as exc:
            raise translate_ollama_error(exc, self.host, name) from exc
        family = shown.details.family if shown.details else None
        traits = ThinkingTraits.from_show(name, shown.capabilities, family)
        self._thinking[name] = traits
        return _context_from_model_info(shown.modelinfo or {}), traits

    async def context_length(self, name: str) -> int:
        """The model's trained context window (`reported_context_length`), remembered for the
        catalog's life; a safe default when Ollama does not say."""
        name = normalise_model_name(name)
        if name not in self._context:
            length = await self.reported_context_length(name)
            self._context[name] = length or FALLBACK_CONTEXT_LENGTH
        return self._context[name]

    async def thinking(self, name: str) -> ThinkingTraits:
        """Whether the model thinks and takes levels (/api/show's capabilities), remembered for
        the catalog's life (a model's capabilities change only with a new pull)."""
        name = normalise_model_name(name)
        if name not in self._thinking:
            await self._show(name)
        return self._thinking[name]

    async def resolve(self, preferred: str | None) -> ModelChoice:
        """Choose a model for a new story and say why when it is not the writer's pick."""
        models = await self.list_models()
        return pick_model(models, preferred, self.settings.model_preferences)

    async def choose(self, preferred: str | None) -> str:
        """The model a new story should use (see the module docstring for the rules)."""
        return (await self.resolve(preferred)).name

    async def resolve_offline(self, preferred: str | None) -> ModelChoice:
        """Like `resolve`, but when Ollama is down or empty, the writer's pick or the first
        preference, unverified, with a note saying generation needs Ollama."""
        try:
            return await self.resolve(preferred)
        except ModelUnavailable as exc:
            if isinstance(exc, ModelMissing):
                raise
            name = normalise_model_name(preferred) if preferred else self._first_preference()
            return ModelChoice(
                name=name,
                verified=False,
                note=f"{exc.message} The story will use {name} once Ollama has it.",
            )

    async def check_installed(self, name: str) -> str:
        """The installed name for `name`; ModelMissing (with an installed fallback to offer)
        when it is not installed."""
        return self.ensure_installed(name, await self.list_models())

    @staticmethod
    def find(name: str, models: list[ModelInfo]) -> str | None:
        """The installed name `name` stands for in `models` (gemma3 for gemma3:latest), if any."""
        wanted = normalise_model_name(name)
        for model in models:
            if normalise_model_name(model.name) == wanted:
                return model.name
        return None

    def ensure_installed(self, name: str, models: list[ModelInfo]) -> str:
        """Like `check_installed`, on a listing already fetched."""
        if (found := self.find(name, models)) is not None:
            return found
        writable = [m for m in models if m.can_write] or models
        fallback = None
        if writable:
            fallback = pick_model(writable, None, self.settings.model_preferences).name
        if fallback:
            message = (
                f"This story's model {name} is no longer installed in Ollama. Switch the story "
                f"to {fallback}, or bring it back with `ollama pull {name}`."
            )
        else:
            message = f"This story's model {name} is not installed. {NO_MODELS_MESSAGE}"
        raise ModelMissing(message, model=name, fallback=fallback)

    def _first_preference(self) -> str:
        prefs = self.settings.model_preferences
        return normalise_model_name(prefs[0]) if prefs else "gemma3:latest"


def pick_model(
    models: list[ModelInfo], preferred: str | None, preferences: list[str]
) -> ModelChoice:
    """The choice rules on a known list of installed models (no network)."""
    if not models:
        raise ModelUnavailable(NO_MODELS_MESSAGE)
    by_name = {normalise_model_name(m.name): m.name for m in models}
    requested = preferred.strip() if preferred else ""
    if requested and normalise_model_name(requested) in by_name:
        return ModelChoice(by_name[normalise_model_name(requested)])
    chosen = next(
        (
            by_name[normalise_model_name(p)]
            for p in preferences
            if normalise_model_name(p) in by_name
        ),
        None,
    )
    if chosen is None:
        writable = [m for m in models if m.can_write] or models
        chosen = writable[0].name
    note = None
    if requested:
        note = (
            f"{requested} is not installed in Ollama; using {chosen}. Run "
            f"`ollama pull {requested}` to get it, then switch the story to it."
        )
    return ModelChoice(chosen, note=note)


def _context_from_model_info(info: Any) -> int | None:
    try:
        items = dict(info)
    except (TypeError, ValueError):
        return None
    arch = items.get("general.architecture")
    candidates = [f"{arch}.context_length"] if arch else []
    candidates += [k for k in items if str(k).endswith(".context_length")]
    for key in candidates:
        value = items.get(key)
        if isinstance(value, (int, float)) and value > 0:
            return int(value)
    return None
