"""The storyteller: writes the next part of a story with Ollama through LangChain, streaming it
to the caller and saving it while it streams.

`Storyteller.generate()` is an async iterator of events (core/generation/events.py):

- `Progress(message)`: something the writer should know before the text starts (older parts
  being folded into the story summary, a model chosen for the story);
- `TextDelta(text)`: the next piece of the part, as Ollama sends it;
- `Saved(part)`: a checkpoint was written (about every `settings.checkpoint_interval` seconds);
- `Finished(part, session, prompt_tokens, completion_tokens, tokens_per_second, done_reason,
  message)`: the end. The part is `done`, or `interrupted` when the writer stopped it or the
  story was paused elsewhere (the text written so far is kept); a part the model would have
  made longer than a part can hold (text.MAX_PART) ends there, done, with done_reason "limit"
  and a `message` saying so;
- `Failed(error, part)`: nothing more will come; `error.message` says what happened and what to
  do, and `part` is what was kept (None when nothing was written).

The part's seq is claimed before any model time is spent (a second client gets Conflict), the
text is checkpointed while it streams, and every way out (cancel, a cancelled task, Ollama down,
an error line, a hung stream, a pause from elsewhere) leaves the text written so far saved.
The steps of one generation are a Run (core/generation/run.py); this module drives them and
turns them into events. Finishing an interrupted part is one of them too, with its prompt and
the joining of the reply in core/generation/continuation.py.

This module is cheap to import: LangChain (core/memory/prompt.py, langchain_ollama) is loaded when a
generation is first asked for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import importlib
import threading
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from storyterm.core.generation.catalog import CONNECT_TIMEOUT, ModelCatalog, shared_ssl_context
from storyterm.core.generation.events import (
    Event,
    Failed,
    Progress,
    Saved,
    TextDelta,
    Thinking,
)
from storyterm.core.generation.run import ChatModelFactory, Run, Stop
from storyterm.core.generation.starts import Starts, Turn
from storyterm.core.generation.thinking import wire_think
from storyterm.core.history import HistoryService
from storyterm.core.memory.meter import ContextMeter
from storyterm.core.memory.state import STALE, SUMMARY
from storyterm.core.sampling import Sampling
from storyterm.core.service import SessionService
from storyterm.core.views import Part, Session
from storyterm.errors import GenerationStopped, InvalidInput, StorytermError
from storyterm.settings import Settings

if TYPE_CHECKING:
    from storyterm.core.memory.prompt import PromptPlan

#: Folding rounds per generation at most (each round may be several model calls).
MAX_FOLD_ROUNDS = 4
#: Sessions whose last prompt is kept in memory (older ones are rebuilt from the database).
LAST_PROMPTS_KEPT = 64
#: Threads for a generation's database work.
DATABASE_THREADS = 4


class LastPrompts:
    """The messages last sent for each story, as (role, text), for the context viewer: those
    of the LAST_PROMPTS_KEPT stories written in most recently (the others are rebuilt from
    the database)."""

    def __init__(self) -> None:
        self._prompts: dict[tuple[int, str], tuple[str, list[tuple[str, str]]]] = {}

    def remember(
        self, user_id: int, session_id: str, digest: str, messages: list[tuple[str, str]]
    ) -> None:
        """Keep `messages`, the prompt whose record has `digest`, as the story's newest."""
        prompts = self._prompts
        prompts.pop((user_id, session_id), None)
        while len(prompts) >= LAST_PROMPTS_KEPT:  # the oldest entry goes (dicts keep order)
            prompts.pop(next(iter(prompts)))
        prompts[(user_id, session_id)] = (digest, messages)

    def get(self, user_id: int, session_id: str, digest: Any) -> list[tuple[str, str]] | None:
        """The story's messages kept here, if they are the prompt whose record has `digest`."""
        kept = self._prompts.get((user_id, session_id))
        if kept is not None and kept[0] == digest:
            return list(kept[1])
        return None


class Storyteller:
    """Writes parts of stories: model choice, story memory, streaming, checkpoints."""

    def __init__(
        self,
        sessions: SessionService,
        settings: Settings,
        *,
        catalog: ModelCatalog | None = None,
        chat_model_factory: ChatModelFactory | None = None,
        history: HistoryService | None = None,
    ) -> None:
        self.sessions = sessions
        self.history = history or sessions.history
        self.settings = settings
        self.catalog = catalog or ModelCatalog(settings)
        self.chat_model_factory = chat_model_factory or self._chat_ollama
        # Database work runs here so that the event loop (the TUI) never waits on the disk.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=DATABASE_THREADS, thread_name_prefix="storyterm-save"
        )
        self._prompts = LastPrompts()
        #: Parts starting at once take turns (core/generation/starts.py).
        self.starts = Starts()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def warm(self) -> None:
        """Ahead of the first part (a UI's warm-up thread, once LangChain is imported), what
        the first part after start-up did for the first time on the event loop
        (bench/FINDINGS.md): start the database threads (a thread pool starts one when a call
        finds none idle, and Thread.start waits until the new thread runs: ~10 ms each under
        load), and import what LangChain imports only when a chat model first streams, its
        callback managers' tracers (LangSmith's run helpers with them) and the message
        normaliser's block translators. Nothing is asked of Ollama and no run is started, so
        nothing is traced."""
        started = threading.Barrier(DATABASE_THREADS)
        with contextlib.suppress(RuntimeError):  # closed meanwhile (the app quit)
            # Each call holds its thread until all have one: every thread is started.
            calls = [self._executor.submit(started.wait, 5) for _ in range(DATABASE_THREADS)]
            concurrent.futures.wait(calls)
        from langchain_core.callbacks import AsyncCallbackManager

        AsyncCallbackManager.configure()
        # Imported by the normaliser when a stream starts (not public: a LangChain without
        # it simply goes without the warm-up).
        with contextlib.suppress(ImportError):
            importlib.import_module("langchain_core.messages.block_translators.langchain_v0")

    def _chat_ollama(
        self, model: str, num_ctx: int, num_predict: int, purpose: str, sampling: Sampling
    ) -> Any:
        import httpx
        from langchain_ollama import ChatOllama

        # An option left None is not sent: Ollama uses the model's own (its Modelfile's).
        return ChatOllama(
            model=model,
            base_url=self.settings.ollama_host,
            num_ctx=num_ctx,
            num_predict=num_predict,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            repeat_penalty=sampling.repeat_penalty,
            seed=sampling.seed,
            # Ollama's `think` (core/generation/thinking.py); its thinking comes apart from
            # the text (additional_kwargs["reasoning_content"]) when it is asked for.
            reasoning=wire_think(sampling.think),
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
        finish: bool = False,
        part: int | None = None,
        cancel: asyncio.Event | None = None,
    ) -> AsyncGenerator[Event]:
        """Write the next part, or with `regenerate` a new take of the newest part (of part
        `part` when given; the take it replaces is kept), with the part's own direction or
        `direction` when one is given. With `finish`, the newest part (or part `part`), which
        was interrupted, is finished instead: a new take that starts as its text and goes on
        with the model's reply from where that text stops (core/generation/continuation.py).
        See the module docstring for events.

        Setting `cancel`, or cancelling the task that iterates, stops promptly and keeps the
        text written so far as an interrupted part.
        """
        run = Run(
            user_id,
            session_id,
            cancel or asyncio.Event(),
            sessions=self.sessions,
            history=self.history,
            settings=self.settings,
            catalog=self.catalog,
            chat_model_factory=self.chat_model_factory,
            executor=self._executor,
            remember_prompt=functools.partial(self._prompts.remember, user_id, session_id),
        )
        turn = Turn(None)  # none yet
        try:
            if regenerate and finish:
                raise InvalidInput(
                    "Write a part again or finish it, not both: regenerating writes a new take "
                    "from the start, finishing goes on from where an interrupted part stops."
                )
            for note in await run.prepare(direction or "", regenerate, part, finish):
                yield Progress(note)
            if run.cancel.is_set():
                stopped = GenerationStopped("Stopped. Nothing was added to the story.")
                yield Failed(stopped, None)
                return
            # From the claim to the saved prompt, parts starting together take turns
            # (core/generation/starts.py).
            turn = await self.starts.turn()
            await run.claim()
        except BaseException as exc:
            turn.done()
            if not isinstance(exc, StorytermError):
                raise
            yield Failed(exc, None)
            return

        try:
            # Each step is closed at once when the consumer goes away (aclosing), so the
            # stream's own clean-up runs before `abandon` below, as when it was inline.
            plan: PromptPlan | None = None
            async with contextlib.aclosing(self._fit_to_window(run, turn)) as steps:
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
        except Stop as stop:
            yield await run.stopped(stop.reason)
        except StorytermError as exc:
            yield await run.failed(exc)
        except BaseException:
            # The consumer went away (its task was cancelled, or it closed the iterator), or
            # a bug: keep the text before anything else.
            run.abandon()
            raise
        finally:
            turn.done()
            run.close_watches()
            await run.close_clients()

    async def _fit_to_window(self, run: Run, turn: Turn) -> AsyncGenerator[Progress | PromptPlan]:
        """The prompt for the part, fitted to the model's window: older parts are folded into
        the rolling summary (a Progress each) until the verbatim tail fits; the plan last.
        `turn` ends once the prompt is saved, or before the model is asked for a summary."""
        from storyterm.core.memory.prompt import summary_chain

        plan = await run.plan()
        for _round in range(MAX_FOLD_ROUNDS):
            if plan.fold_through is None or run.earlier_part:
                break
            turn.done()
            while (chunk := await run.next_chunk(plan.fold_through)) is not None:
                yield Progress(
                    f"Summarising {_range_text(chunk.first_seq, chunk.last_seq)} into the "
                    f"story memory, so the story fits {run.model}'s window…"
                )
                await run.fold(chunk, summary_chain)
            plan = await run.plan()
        run.check_fits(plan)
        await run.save_prompt(plan)
        turn.done()
        yield plan

    async def _stream_part(self, run: Run, plan: PromptPlan) -> AsyncGenerator[Event]:
        """The model's reply as TextDelta events, with Saved after each checkpoint and
        Thinking while the model thinks (its thinking is not the part's text)."""
        llm = run.chat_model(plan.budget.num_ctx, plan.budget.reply_tokens, "part")
        thoughts, told = run.reply.thoughts, -1.0
        async with contextlib.aclosing(run.stream(llm.astream(plan.messages))) as items:
            async for chunk, saved in items:
                if chunk is not None and (delta := run.take_chunk(chunk)):
                    yield TextDelta(delta)
                if thoughts.active and thoughts.last_at is not None:
                    since = thoughts.last_at - (thoughts.started_at or thoughts.last_at)
                    if told < 0 or since - told >= 1:
                        told = since
                        yield Thinking(since)
                if saved is not None:
                    yield Saved(saved)
                if run.reply.full:
                    # The part holds all it can: stop the model now rather than read (and
                    # drop) the rest of a reply that ignores its num_predict.
                    run.close_watches()
                    return
        if tail := run.end_reply():
            yield TextDelta(tail)

    # -- the context viewer and the summary -----------------------------------------------

    def context_meter(self, user_id: int, session_id: str) -> ContextMeter:
        """How much of the model's window the story's next prompt takes (core/memory/meter.py):
        planned as the next generation plans it (its window, reply length, memory, lore, the
        newest parts that fit), with no direction. It reads the database: a UI calls it from a
        worker thread."""
        from storyterm.core.memory.prompt import (
            Budget,
            MemoryState,
            TokenEstimator,
            direction_text,
            plan_prompt,
        )

        session = self.sessions.get(user_id, session_id)
        state = MemoryState.from_memory(session.memory)
        known = bool(state.num_ctx) and state.num_ctx_model == session.model_name
        num_ctx = state.num_ctx if known and state.num_ctx else self.settings.max_num_ctx
        sampling = state.options.over(Sampling.from_settings(self.settings))
        budget = Budget.for_num_ctx(num_ctx, sampling.num_predict)
        estimator = TokenEstimator(state.token_ratio)

        def read(before: int, limit: int) -> list[Part]:
            return self.sessions.parts_before(user_id, session_id, before, limit)

        plan = plan_prompt(
            session,
            state,
            "",
            session.part_count + 1,
            budget,
            estimator,
            read,
            self.sessions.lore.book(session),
        )
        return ContextMeter(
            num_ctx=num_ctx,
            room=budget.prompt,
            planned=plan.estimated,
            ratio=estimator.ratio,
            continue_chars=len(direction_text("")),
            known_window=known,
        )

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
        kept = self._prompts.get(user_id, session_id, record.get("digest"))
        if kept is not None:
            return kept
        from storyterm.core.memory.prompt import rebuild_prompt

        def read(before: int, limit: int) -> list[Part]:
            return self.sessions.parts_before(user_id, session_id, before, limit)

        return rebuild_prompt(record, read)

    def last_thinking(self, user_id: int, session_id: str) -> dict[str, Any] | None:
        """What the model thought before it wrote the story's last part ({"seq", "model",
        "text", "cut"}: core/memory/state.py's LAST_THINKING), None when it did not think. It
        reads the database: a UI calls it from a worker thread."""
        from storyterm.core.memory.state import MemoryState

        session = self.sessions.get(user_id, session_id)
        return MemoryState.from_memory(session.memory).last_thinking

    def set_summary(self, user_id: int, session_id: str, summary: str) -> Session:
        """The writer's own version of the rolling summary (clears 'stale')."""
        if not isinstance(summary, str):
            raise InvalidInput("The summary must be text.")
        if len(summary) > 100_000:
            raise InvalidInput("Keep the summary under 100,000 characters.")
        session = self.sessions.get(user_id, session_id)
        memory = {**(session.memory or {}), SUMMARY: summary.strip(), STALE: False}
        return self.sessions.update_memory(
            user_id, session_id, memory, expected_version=session.version
        )


def _range_text(first: int, last: int) -> str:
    return f"part {first}" if first == last else f"parts {first}–{last}"
