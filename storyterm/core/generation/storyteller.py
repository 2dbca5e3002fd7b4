"""The storyteller: writes the next part of a story with Ollama through LangChain, streaming it
to the caller and saving it while it streams.

`Storyteller.generate()` is an async iterator of events (core/generation/events.py):

- `Progress(message)`: something the writer should know before the text starts (older parts
  being folded into the story summary, a model chosen for the story);
- `TextDelta(text)`: the next piece of the part, as Ollama sends it;
- `Saved(part)`: a checkpoint was written (about every `settings.checkpoint_interval` seconds);
- `Finished(part, session, prompt_tokens, completion_tokens, tokens_per_second)`: the end. The
  part is `done`, or `interrupted` when the writer stopped it or the story was paused elsewhere
  (the text written so far is kept);
- `Failed(error, part)`: nothing more will come; `error.message` says what happened and what to
  do, and `part` is what was kept (None when nothing was written).

The part's seq is claimed before any model time is spent (a second client gets Conflict), the
text is checkpointed while it streams, and every way out (cancel, a cancelled task, Ollama down,
an error line, a hung stream, a pause from elsewhere) leaves the text written so far saved.

This module is cheap to import: LangChain (core/memory/prompt.py, langchain_ollama) is loaded when a
generation is first asked for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from storyterm.core.basics import status_message
from storyterm.core.generation.catalog import (
    CONNECT_TIMEOUT,
    ModelCatalog,
    pick_model,
    shared_ssl_context,
    translate_ollama_error,
)
from storyterm.core.generation.events import Event, Failed, Finished, Progress, Saved, TextDelta
from storyterm.core.generation.watch import CANCEL, END, ERROR, ITEM, Watch
from storyterm.core.service import SessionService, clean_direction
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.core.text import scrub
from storyterm.core.views import Part, Session
from storyterm.errors import (
    Conflict,
    GenerationStopped,
    InvalidInput,
    InvalidTransition,
    ModelUnavailable,
    StorytermError,
)
from storyterm.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from storyterm.core.memory.prompt import (
        Budget,
        FoldChunk,
        MemoryState,
        PromptPlan,
        TokenEstimator,
    )

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Folding rounds per generation at most (each round may be several model calls).
MAX_FOLD_ROUNDS = 4
#: Sessions whose last prompt is kept in memory (older ones are rebuilt from the database).
LAST_PROMPTS_KEPT = 64


#: Builds the chat model for one call: (model name, num_ctx, num_predict, purpose) where
#: purpose is "part" or "summary". Tests pass LangChain's fake chat models through this.
ChatModelFactory = Callable[[str, int, int, str], "BaseChatModel"]


class Storyteller:
    """Writes parts of stories: model choice, story memory, streaming, checkpoints."""

    def __init__(
        self,
        sessions: SessionService,
        settings: Settings,
        *,
        catalog: ModelCatalog | None = None,
        chat_model_factory: ChatModelFactory | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.catalog = catalog or ModelCatalog(settings)
        self.chat_model_factory = chat_model_factory or self._chat_ollama
        # Database work runs here so that the event loop (the TUI) never waits on the disk.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="storyterm-save"
        )
        self._last_prompts: dict[tuple[int, str], tuple[str, list[tuple[str, str]]]] = {}

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _chat_ollama(self, model: str, num_ctx: int, num_predict: int, purpose: str) -> Any:
        import httpx
        from langchain_ollama import ChatOllama

        return ChatOllama(
            model=model,
            base_url=self.settings.ollama_host,
            num_ctx=num_ctx,
            num_predict=num_predict,
            temperature=0.3 if purpose == "summary" else None,
            # No read timeout: a hung stream is detected per token (settings.ollama_timeout).
            client_kwargs={
                "timeout": httpx.Timeout(None, connect=CONNECT_TIMEOUT),
                "verify": shared_ssl_context(),
            },
        )

    # -- generation -----------------------------------------------------------------------

    async def generate(
        self,
        user_id: int,
        session_id: str,
        direction: str | None,
        *,
        regenerate: bool = False,
        cancel: asyncio.Event | None = None,
    ) -> AsyncGenerator[Event]:
        """Write the next part (or, with `regenerate`, the last part again: with its own
        direction, or `direction` when one is given). See the module docstring for events.

        Setting `cancel`, or cancelling the task that iterates, stops promptly and keeps the
        text written so far as an interrupted part.
        """
        run = _Run(self, user_id, session_id, cancel or asyncio.Event())
        try:
            for note in await run.prepare(direction or "", regenerate):
                yield Progress(note)
            if run.cancel.is_set():
                yield Failed(GenerationStopped("Stopped before anything was written."), None)
                return
            await run.claim()
        except StorytermError as exc:
            yield Failed(exc, run.restored)
            return

        try:
            # Each step is closed at once when the consumer goes away (aclosing), so the
            # stream's own clean-up runs before `abandon` below, as when it was inline.
            plan: PromptPlan | None = None
            async with contextlib.aclosing(self._fit_to_window(run)) as steps:
                async for step in steps:
                    if isinstance(step, Progress):
                        yield step
                    else:
                        plan = step
            assert plan is not None
            async with contextlib.aclosing(self._stream_part(run, plan)) as events:
                async for event in events:
                    yield event
            yield await run.finish()
        except _Stop as stop:
            yield await run.stopped(stop.reason)
        except StorytermError as exc:
            yield await run.failed(exc)
        except BaseException:
            # The consumer went away (its task was cancelled, or it closed the iterator), or
            # a bug: keep the text before anything else.
            run.abandon()
            raise
        finally:
            run.close_watches()
            await run.close_clients()

    async def _fit_to_window(self, run: _Run) -> AsyncGenerator[Progress | PromptPlan]:
        """The prompt for the part, fitted to the model's window: older parts are folded into
        the rolling summary (a Progress each) until the verbatim tail fits; the plan last."""
        from storyterm.core.memory.prompt import summary_chain

        plan = await run.plan()
        for _round in range(MAX_FOLD_ROUNDS):
            if plan.fold_through is None:
                break
            while (chunk := await run.next_chunk(plan.fold_through)) is not None:
                yield Progress(
                    f"Summarising {_range_text(chunk.first_seq, chunk.last_seq)} into the "
                    f"story memory, so the story fits {run.model}'s window…"
                )
                await run.fold(chunk, summary_chain)
            plan = await run.plan()
        run.check_fits(plan)
        await run.save_prompt(plan)
        yield plan

    async def _stream_part(self, run: _Run, plan: PromptPlan) -> AsyncGenerator[Event]:
        """The model's reply as TextDelta events, with Saved after each checkpoint."""
        llm = run.chat_model(plan.budget.num_ctx, plan.budget.reply_tokens, "part")
        async with contextlib.aclosing(run.stream(llm.astream(plan.messages))) as items:
            async for chunk, saved in items:
                if chunk is not None and (delta := run.take_chunk(chunk)):
                    yield TextDelta(delta)
                if saved is not None:
                    yield Saved(saved)

    # -- the context viewer and the summary -----------------------------------------------

    def last_prompt(self, user_id: int, session_id: str) -> list[tuple[str, str]]:
        """The exact messages last sent for this story, as (role, text) with Ollama's roles
        (system, user, assistant); empty when nothing has been generated yet. It reads the
        database: a UI calls it from a worker thread.

        Kept in this process; after a restart rebuilt from session.memory's record of the
        prompt and the stored parts (an edit made since then shows in the rebuilt text)."""
        from storyterm.core.memory.state import MemoryState

        session = self.sessions.get(user_id, session_id)
        record = MemoryState.from_memory(session.memory).last_prompt
        if not record:
            return []
        cached = self._last_prompts.get((user_id, session_id))
        if cached is not None and cached[0] == record.get("digest"):
            return list(cached[1])
        from storyterm.core.memory.prompt import rebuild_prompt

        def read(before: int, limit: int) -> list[Part]:
            return self.sessions.parts_before(user_id, session_id, before, limit)

        return rebuild_prompt(record, read)

    def set_summary(self, user_id: int, session_id: str, summary: str) -> Session:
        """The writer's own version of the rolling summary (clears 'stale')."""
        if not isinstance(summary, str):
            raise InvalidInput("The summary must be text.")
        if len(summary) > 100_000:
            raise InvalidInput("Keep the summary under 100,000 characters.")
        session = self.sessions.get(user_id, session_id)
        memory = {**(session.memory or {}), "summary": summary.strip(), "stale": False}
        return self.sessions.update_memory(
            user_id, session_id, memory, expected_version=session.version
        )


# -- one generation -------------------------------------------------------------------------


class _Stop(Exception):
    """Control flow inside a generation: the writer or another client stopped it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Run:
    """The state of one generation, and the steps `Storyteller.generate` goes through."""

    def __init__(
        self, teller: Storyteller, user_id: int, session_id: str, cancel: asyncio.Event
    ) -> None:
        self.teller = teller
        self.sessions = teller.sessions
        self.settings = teller.settings
        self.user_id = user_id
        self.session_id = session_id
        self.cancel = cancel
        self.session: Session | None = None
        self.direction = ""
        self.model = ""
        self.budget: Budget | None = None
        self.state: MemoryState | None = None
        self.estimator: TokenEstimator | None = None
        self.expected_seq = 0
        self.replaced: Part | None = None
        self.restored: Part | None = None
        self.part: Part | None = None
        self.text = ""
        self.saved_text = ""
        self.next_save = 0.0
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.chunks = 0
        self.done_reason: str | None = None
        self.eval_count: int | None = None
        self.eval_duration_ns: int | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.raw_estimate = 0
        self.ended = False
        self._pending: concurrent.futures.Future[Any] | None = None
        self._watches: list[Watch] = []
        self._models: list[Any] = []
        self._unwinding: list[asyncio.Future[Any]] = []

    # -- plumbing -------------------------------------------------------------------------

    async def db(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database call in the storyteller's threads."""
        future = self.teller._executor.submit(partial(func, *args, **kwargs))
        self._pending = future
        try:
            return await asyncio.wrap_future(future)
        finally:
            if self._pending is future and future.done():
                self._pending = None

    def _wait_pending(self) -> None:
        """Let a checkpoint already running in a thread land before the final write."""
        pending = self._pending
        if pending is not None and not pending.cancelled():
            concurrent.futures.wait([pending], timeout=30)

    def watch(self, source: AsyncIterator[Any]) -> Watch:
        watch = Watch(source, self.cancel)
        self._watches.append(watch)
        return watch

    def close_watches(self) -> None:
        for watch in self._watches:
            self._unwinding.append(watch.close())
        self._watches.clear()

    def chat_model(self, num_ctx: int, num_predict: int, purpose: str) -> Any:
        llm = self.teller.chat_model_factory(self.model, num_ctx, num_predict, purpose)
        self._models.append(llm)
        return llm

    async def close_clients(self) -> None:
        """Close the HTTP connections of the chat models this run made (ChatOllama keeps an
        ollama.AsyncClient, whose pool would otherwise be left to the garbage collector)."""
        unwinding, self._unwinding = self._unwinding, []
        pending = [task for task in unwinding if not task.done()]
        if pending:  # let cancelled streams close their responses first
            await asyncio.wait(pending, timeout=2)
        models, self._models = self._models, []
        for llm in models:
            client = getattr(llm, "_async_client", None)
            if client is None:
                continue
            try:
                await client.close()
            except Exception:  # closing is best effort: the part is already saved
                log.debug("closing an Ollama client failed", exc_info=True)

    def translate(self, exc: BaseException) -> StorytermError:
        return translate_ollama_error(exc, self.settings.ollama_host, self.model or None)

    def hung(self) -> StorytermError:
        seconds = f"{self.settings.ollama_timeout:g}"
        return ModelUnavailable(
            f"{self.model} sent nothing for {seconds} seconds, so storyterm stopped waiting. "
            "Check that Ollama is still running; if the model is large and slow to start, "
            "raise ollama_timeout (STORYTERM_OLLAMA_TIMEOUT)."
        )

    async def stream(self, source: AsyncIterator[Any]) -> AsyncGenerator[tuple[Any, Part | None]]:
        """Read a model stream (a part or a summary) the one way: each item as it arrives, a
        checkpoint of the part whenever one is due (also while the model is silent), a hang
        after settings.ollama_timeout without an item, and cancel or a stream error raised.
        Yields (item or None when the model was silent, the part when a checkpoint changed it)."""
        watch = self.watch(source)
        deadline = time.monotonic() + self.settings.ollama_timeout
        while True:
            kind, value = await watch.next(self.wait_time(deadline))
            item = None
            if kind is ITEM:
                item = value
                deadline = time.monotonic() + self.settings.ollama_timeout
            elif kind is END:
                return
            elif kind is ERROR:
                raise self.translate(value)
            elif kind is CANCEL:
                raise _Stop("cancel")
            elif time.monotonic() >= deadline:
                raise self.hung()
            yield item, await self.checkpoint_if_due()

    def wait_time(self, deadline: float) -> float:
        return max(0.0, min(deadline, self.next_save) - time.monotonic())

    def _read_before(self, before: int, limit: int) -> list[Part]:
        return self.sessions.parts_before(self.user_id, self.session_id, before, limit)

    # -- before the model -----------------------------------------------------------------

    async def prepare(self, direction: str, regenerate: bool) -> list[str]:
        """Check the story can take a part, choose the model and the context window."""
        from storyterm.core.memory.prompt import Budget, MemoryState

        opened = await self.db(self.sessions.open, self.user_id, self.session_id, 1)
        session = opened.session
        if session.status is not SessionStatus.ACTIVE:
            raise InvalidTransition(_not_active_message(session))
        direction = clean_direction(direction)
        last = opened.parts[-1] if opened.parts else None
        if last is not None and last.state is PartState.STREAMING:
            raise Conflict(
                f"Part {last.seq} of “{session.title}” is being written right now in another "
                "window. Wait for it to finish, or stop it there first."
            )
        if regenerate:
            if last is None:
                raise InvalidTransition(
                    f"“{session.title}” has no part to write again yet; continue it first."
                )
            self.replaced = last
            direction = direction or last.direction
            self.expected_seq = last.seq
        else:
            self.expected_seq = session.part_count + 1
        self.direction = direction
        self.session = session

        notes: list[str] = []
        catalog = self.teller.catalog
        models = await catalog.list_models()
        if session.model_name:
            self.model = catalog.ensure_installed(session.model_name, models)
        else:
            self.model = pick_model(models, None, self.settings.model_preferences).name
            self.session = await self.db(
                self.sessions.set_model, self.user_id, self.session_id, self.model
            )
            notes.append(f"This story had no model yet; it now uses {self.model}.")
        context_length = await catalog.context_length(self.model)
        state = MemoryState.from_memory(session.memory)
        cap = min(context_length, self.settings.max_num_ctx)
        # num_ctx stays fixed for a story (a new value makes Ollama reload the model); it only
        # shrinks when the model or the max_num_ctx setting demands it.
        if state.num_ctx and state.num_ctx_model == self.model:
            num_ctx = min(state.num_ctx, cap)
        else:
            num_ctx = cap
        self.budget = Budget.for_num_ctx(num_ctx)
        return notes

    async def claim(self) -> None:
        """Take the part's seq before any model time is spent: a second client loses here."""
        if self.replaced is not None:
            await self.db(
                self.sessions.remove_last_part, self.user_id, self.session_id, self.replaced.seq
            )
        try:
            self.part = await self.db(
                self.sessions.begin_part,
                self.user_id,
                self.session_id,
                direction=self.direction,
                model_name=self.model,
                expected_seq=self.expected_seq,
            )
        except StorytermError:
            if self.replaced is not None:
                self.restored = self._put_back_replaced()
            raise
        self.next_save = time.monotonic() + self.settings.checkpoint_interval

    def _put_back_replaced(self) -> Part | None:
        old = self.replaced
        assert old is not None
        try:
            return self.sessions.store.parts.add(
                self.user_id,
                self.session_id,
                direction=old.direction,
                content=old.content,
                model_name=old.model_name,
                state=old.state if old.state is not PartState.STREAMING else PartState.DONE,
                expected_seq=old.seq,
                prompt_tokens=old.prompt_tokens,
                completion_tokens=old.completion_tokens,
            )
        except StorytermError:
            log.exception("could not put part %s back after a failed regenerate", old.seq)
            return None

    async def plan(self) -> PromptPlan:
        from storyterm.core.memory.prompt import MemoryState, TokenEstimator, plan_prompt

        assert self.part is not None and self.budget is not None
        self.session = await self.db(self.sessions.get, self.user_id, self.session_id)
        self.state = MemoryState.from_memory(self.session.memory)
        self.estimator = TokenEstimator(self.state.token_ratio)
        return await self.db(
            plan_prompt,
            self.session,
            self.state,
            self.direction,
            self.part.seq,
            self.budget,
            self.estimator,
            self._read_before,
        )

    async def next_chunk(self, fold_through: int) -> FoldChunk | None:
        from storyterm.core.memory.prompt import next_fold_chunk

        assert self.session and self.state and self.budget and self.estimator
        return await self.db(
            next_fold_chunk,
            self.session,
            self.state,
            fold_through,
            self.budget,
            self.estimator,
            self._read_before,
        )

    async def fold(self, chunk: FoldChunk, summary_chain: Callable[[Any], Any]) -> None:
        """Fold `chunk` into the rolling summary with the model and save it at once."""
        from storyterm.core.memory.prompt import SUMMARY, SUMMARY_THROUGH, MemoryState

        assert self.budget is not None
        llm = self.chat_model(self.budget.num_ctx, self.budget.summary_tokens, "summary")
        pieces: list[str] = []
        async with contextlib.aclosing(
            self.stream(summary_chain(llm).astream(chunk.inputs))
        ) as items:
            async for piece, _saved in items:
                if piece is not None:
                    pieces.append(str(piece))
        summary = scrub("".join(pieces)).strip()
        if not summary:
            raise ModelUnavailable(
                f"{self.model} returned an empty summary of the older parts. Try again; if it "
                "keeps happening, choose another model."
            )
        self.session = await self.db(
            self._merge_memory, {SUMMARY: summary, SUMMARY_THROUGH: chunk.last_seq}
        )
        self.state = MemoryState.from_memory(self.session.memory)

    def check_fits(self, plan: PromptPlan) -> None:
        if plan.estimated > plan.budget.prompt:
            raise InvalidInput(
                f"That direction is too long for {self.model}'s window of {plan.budget.num_ctx:,} "
                f"tokens (the prompt would need about {plan.estimated:,}). Shorten it, and put "
                "lasting facts in the story bible."
            )

    async def save_prompt(self, plan: PromptPlan) -> None:
        """Remember what is about to be sent (the context viewer, calibration, num_ctx)."""
        from storyterm.core.memory import prompt as m

        record = plan.record()
        self.raw_estimate = plan.raw_estimate
        cache = self.teller._last_prompts
        cache.pop((self.user_id, self.session_id), None)
        while len(cache) >= LAST_PROMPTS_KEPT:  # the oldest entry goes (dicts keep order)
            cache.pop(next(iter(cache)))
        cache[(self.user_id, self.session_id)] = (record["digest"], m.as_pairs(plan.messages))
        self.session = await self.db(
            self._merge_memory,
            {
                m.NUM_CTX: plan.budget.num_ctx,
                m.NUM_CTX_MODEL: self.model,
                m.TOKENS: plan.tokens,
                m.LAST_ESTIMATE: plan.estimated,
                m.LAST_EVAL_COUNT: None,
                m.LAST_PROMPT: record,
            },
        )

    def _merge_memory(self, changes: dict[str, Any], best_effort: bool = False) -> Session:
        """Merge `changes` into session.memory without losing another writer's change."""
        for _attempt in range(5):
            session = self.sessions.get(self.user_id, self.session_id)
            memory = {**(session.memory or {}), **changes}
            try:
                return self.sessions.update_memory(
                    self.user_id, self.session_id, memory, expected_version=session.version
                )
            except Conflict:
                continue
            except InvalidTransition:
                if best_effort:
                    return session
                raise
        if best_effort:
            return self.sessions.get(self.user_id, self.session_id)
        raise Conflict("The story's memory kept changing underneath this generation. Try again.")

    # -- while streaming ------------------------------------------------------------------

    def take_chunk(self, chunk: Any) -> str:
        """Account for one chunk from the model; returns its text."""
        content = chunk.content if isinstance(chunk.content, str) else chunk.text
        # The model's text is data from outside: what no database can store becomes U+FFFD
        # here, so the screen, every checkpoint and the final part hold the same text.
        content = scrub(content)
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            self.prompt_tokens = usage.get("input_tokens")
            self.completion_tokens = usage.get("output_tokens")
        meta = getattr(chunk, "response_metadata", None) or {}
        if meta.get("done"):
            self.done_reason = meta.get("done_reason")
            self.eval_count = meta.get("eval_count")
            self.eval_duration_ns = meta.get("eval_duration")
        if content:
            now = time.monotonic()
            if self.first_token_at is None:
                self.first_token_at = now
            self.last_token_at = now
            self.chunks += 1
            self.text += content
        return content

    async def checkpoint_if_due(self) -> Part | None:
        """Save the text so far when a checkpoint is due (also a heartbeat while the model
        thinks, so other clients do not take the part for abandoned). Stops the generation
        when the story was paused or completed elsewhere. Returns the part when its text
        changed."""
        if time.monotonic() < self.next_save:
            return None
        assert self.part is not None
        text = self.text
        try:
            part, session = await self.db(
                self.sessions.checkpoint_part,
                self.user_id,
                self.session_id,
                self.part.seq,
                text,
                state=PartState.STREAMING,
                expect=self.part,
            )
        except Conflict:
            raise  # replaced elsewhere: this generation must not go on writing
        except StorytermError as exc:
            # The database may be back at the next checkpoint; the text is still here.
            log.warning("checkpoint of part %s failed: %s", self.part.seq, exc)
            self.next_save = time.monotonic() + self.settings.checkpoint_interval
            return None
        self.next_save = time.monotonic() + self.settings.checkpoint_interval
        self.part = part
        self.session = session
        changed = text != self.saved_text
        self.saved_text = text
        if session.status is not SessionStatus.ACTIVE:
            raise _Stop(session.status.value)
        return part if changed else None

    # -- the end --------------------------------------------------------------------------

    def tokens_per_second(self) -> float | None:
        if self.eval_count and self.eval_duration_ns:
            return self.eval_count / (self.eval_duration_ns / 1e9)
        if self.first_token_at is not None and self.last_token_at is not None:
            elapsed = self.last_token_at - self.first_token_at
            if elapsed > 0 and self.chunks > 1:
                return (self.chunks - 1) / elapsed
        return None

    async def finish(self) -> Finished:
        from storyterm.core.memory import prompt as m

        if not self.text.strip():
            raise ModelUnavailable(
                f"{self.model} finished without writing anything. Try again, perhaps with a "
                "direction."
            )
        assert self.part is not None
        completion = self.completion_tokens if self.completion_tokens is not None else self.chunks
        part, session = await self.db(
            self.sessions.checkpoint_part,
            self.user_id,
            self.session_id,
            self.part.seq,
            self.text,
            state=PartState.DONE,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            expect=self.part,
        )
        self.ended = True
        self.part = part
        state = self.state
        ratio = m.calibrate(
            state.token_ratio if state else None, self.raw_estimate, self.prompt_tokens
        )
        changes: dict[str, Any] = {m.LAST_EVAL_COUNT: self.prompt_tokens}
        if ratio is not None:
            changes[m.TOKEN_RATIO] = ratio
        session = await self.db(self._merge_memory, changes, True)
        return Finished(
            part=part,
            session=session,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=completion,
            tokens_per_second=self.tokens_per_second(),
            done_reason=self.done_reason,
        )

    def _end_sync(self) -> tuple[Part | None, Session | None, str | None]:
        """Save how a stopped or failed generation ends: the text as interrupted; with no text,
        the replaced part put back (regenerate) or the empty claim removed. Returns the part
        kept, the session, and a database error message if the save itself failed."""
        self._wait_pending()
        if self.part is None or self.ended:
            return self.part, self.session, None
        self.ended = True
        seq = self.part.seq
        try:
            if self.text.strip():
                part, session = self.sessions.checkpoint_part(
                    self.user_id,
                    self.session_id,
                    seq,
                    self.text,
                    state=PartState.INTERRUPTED,
                    prompt_tokens=self.prompt_tokens,
                    completion_tokens=self.completion_tokens or self.chunks or None,
                    expect=self.part,
                )
                return part, session, None
            if self.replaced is not None:
                old = self.replaced
                part, session = self.sessions.store.parts.write(
                    self.user_id,
                    self.session_id,
                    seq,
                    content=old.content,
                    direction=old.direction,
                    model_name=old.model_name,
                    state=old.state if old.state is not PartState.STREAMING else PartState.DONE,
                    prompt_tokens=old.prompt_tokens,
                    completion_tokens=old.completion_tokens,
                    allow_read_only=True,
                )
                return part, session, None
            try:
                session = self.sessions.remove_last_part(self.user_id, self.session_id, seq)
                return None, session, None
            except (InvalidTransition, Conflict):
                # Paused or completed elsewhere: only the newest part of an active story can
                # go, so keep the empty claim, marked interrupted.
                part, session = self.sessions.checkpoint_part(
                    self.user_id, self.session_id, seq, "", state=PartState.INTERRUPTED
                )
                return part, session, None
        except StorytermError as exc:
            log.error("could not save the end of part %s: %s", seq, exc)
            return None, None, exc.message

    async def _end(self) -> tuple[Part | None, Session | None, str | None]:
        # Shielded: if the caller is cancelled meanwhile, the save still completes.
        future = self.teller._executor.submit(self._end_sync)
        return await asyncio.shield(asyncio.wrap_future(future))

    def abandon(self) -> None:
        """The consumer went away (task cancelled, iterator closed): save synchronously."""
        self.close_watches()
        try:
            self._end_sync()
        except Exception:
            log.exception("could not save an abandoned generation")

    def _kept_note(self, part: Part | None, db_error: str | None) -> str:
        words = len(self.text.split())
        if db_error:
            return (
                f" The {words:,} words written could not be saved ({db_error}); copy them from "
                "the screen."
                if words
                else ""
            )
        if part is not None and self.text.strip():
            return (
                f" The {words:,} word{'s' if words != 1 else ''} written so far are kept in "
                f"part {part.seq} (marked interrupted)."
            )
        if part is not None and self.replaced is not None:
            return f" Part {part.seq} is as it was."
        return " Nothing was added to the story."

    async def stopped(self, reason: str) -> Event:
        self.close_watches()
        part, session, db_error = await self._end()
        if part is not None and session is not None and self.text.strip() and not db_error:
            return Finished(
                part=part,
                session=session,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=self.completion_tokens or self.chunks or None,
                tokens_per_second=self.tokens_per_second(),
                done_reason=reason,
            )
        if reason == "cancel":
            message = "Stopped before the model wrote anything."
        else:
            title = self.session.title if self.session else "The story"
            message = f"“{title}” was {reason} elsewhere, so the generation stopped."
        return Failed(GenerationStopped(message + self._kept_note(part, db_error)), part, self.text)

    async def failed(self, error: StorytermError) -> Failed:
        self.close_watches()
        part, _session, db_error = await self._end()
        error.message = error.message + self._kept_note(part, db_error)
        error.args = (error.message,)
        return Failed(error, part, self.text)


def _range_text(first: int, last: int) -> str:
    return f"part {first}" if first == last else f"parts {first}–{last}"


def _not_active_message(session: Session) -> str:
    return status_message(session.title, session.status.value)
