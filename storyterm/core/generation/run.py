"""One generation, step by step: check the story and choose the model, claim the part, fit the
prompt to the model's window (folding older parts into the summary), stream the reply with
checkpoints, and save how it ended. `Storyteller.generate` (core/generation/storyteller.py)
drives the steps and turns them into events.

LangChain (core/memory/prompt.py) is imported inside the steps that need it, so importing this
module stays cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from storyterm.core.generation import ending, story_check, thinking
from storyterm.core.generation.catalog import (
    ModelCatalog,
    pick_model,
    silent_model_error,
    translate_ollama_error,
)
from storyterm.core.generation.continuation import Continuation
from storyterm.core.generation.database_calls import DatabaseCalls
from storyterm.core.generation.events import Event, Failed, Finished
from storyterm.core.generation.reply import Reply
from storyterm.core.generation.watch import CANCEL, END, ERROR, ITEM, Streams
from storyterm.core.history import HistoryService
from storyterm.core.memory.state import LAST_THINKING
from storyterm.core.sampling import SUMMARY_SAMPLING, Sampling
from storyterm.core.service import SessionService
from storyterm.core.storage.tables import PartState, SessionStatus
from storyterm.core.text import scrub
from storyterm.core.views import Part, Session
from storyterm.errors import (
    Conflict,
    GenerationStopped,
    InvalidInput,
    ModelFailed,
    StorytermError,
)
from storyterm.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from storyterm.core.events.bus import LiveText
    from storyterm.core.memory.prompt import (
        Budget,
        FoldChunk,
        MemoryState,
        PromptPlan,
        TokenEstimator,
    )
    from storyterm.core.recovery import Recovered

log = logging.getLogger(__name__)

#: Builds the chat model for one call: (model, num_ctx, num_predict, purpose: "part" or
#: "summary", sampling options). Tests pass LangChain's fake chat models through this.
ChatModelFactory = Callable[[str, int, int, str, Sampling], "BaseChatModel"]
#: Keeps the messages about to be sent for the story: (digest of the prompt record, messages
#: as (role, text)).
RememberPrompt = Callable[[str, list[tuple[str, str]]], None]


class Stop(Exception):
    """Control flow inside a generation: the writer or another client stopped it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Run:
    """The state of one generation, and the steps `Storyteller.generate` goes through. What it
    works with is passed in: the session use cases, the model catalog and the chat models, the
    threads for database work, and where to keep the prompt it sends."""

    def __init__(
        self,
        user_id: int,
        session_id: str,
        cancel: asyncio.Event,
        *,
        sessions: SessionService,
        history: HistoryService,
        settings: Settings,
        catalog: ModelCatalog,
        chat_model_factory: ChatModelFactory,
        executor: concurrent.futures.Executor,
        remember_prompt: RememberPrompt,
    ) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.cancel = cancel
        self.sessions = sessions
        self.history = history
        self.settings = settings
        self.catalog = catalog
        self.chat_model_factory = chat_model_factory
        self.db = DatabaseCalls(executor)
        self.remember_prompt = remember_prompt
        self.session: Session | None = None
        self.direction = ""
        self.model = ""
        self.budget: Budget | None = None
        self.sampling = Sampling()
        #: What a summary is sent as `think` (thinking.prepare: off for a model that thinks).
        self.summary_think: str | None = None
        self.state: MemoryState | None = None
        self.estimator: TokenEstimator | None = None
        self.expected_seq = 0
        self.replaced: Part | None = None
        #: A regenerate or finish of the newest part (no part named): refused at the claim if
        #: the story has a newer part by then.
        self.newest_only = False
        #: Finishing an interrupted part: its new take goes on from the text (set at the claim).
        self.finishing_part = False
        self.continuation: Continuation | None = None
        #: Writing an earlier part again (the story memory is not used for its prompt).
        self.earlier_part = False
        self.part: Part | None = None
        self.reply = Reply()
        self.saved_text = ""
        self.live: LiveText | None = None  # the text as other windows see it stream
        self.next_save = 0.0
        self.raw_estimate = 0
        self.ended = False
        #: The model had finished: a text that cannot be saved is kept as a done part's.
        self.finishing = False
        #: Where the text went when its final save failed (ending.keep_unsaved).
        self.recovery: Recovered | None = None
        self.streams = Streams(cancel)

    # -- plumbing -------------------------------------------------------------------------

    def close_watches(self) -> None:
        self.streams.close_watches()

    async def close_clients(self) -> None:
        await self.streams.close_clients()

    def chat_model(self, num_ctx: int, num_predict: int, purpose: str) -> Any:
        options = self.sampling
        if purpose == "summary":  # no thinking for the bookkeeping (when it can be said)
            options = dataclasses.replace(SUMMARY_SAMPLING, think=self.summary_think)
        factory = self.chat_model_factory
        return self.streams.keep(factory(self.model, num_ctx, num_predict, purpose, options))

    def translate(self, exc: BaseException) -> StorytermError:
        return translate_ollama_error(exc, self.settings.ollama_host, self.model or None)

    def hung(self) -> StorytermError:
        return silent_model_error(self.model, self.settings.ollama_timeout)

    async def stream(self, source: AsyncIterator[Any]) -> AsyncGenerator[tuple[Any, Part | None]]:
        """Read a model stream (a part or a summary) the one way: each item as it arrives, a
        checkpoint of the part whenever one is due (also while the model is silent), a hang
        after settings.ollama_timeout without an item, and cancel or a stream error raised.
        Yields (item or None when the model was silent, the part when a checkpoint changed it)."""
        watch = self.streams.watch(source)
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
                raise Stop("cancel")
            elif time.monotonic() >= deadline:
                raise self.hung()
            yield item, await self.checkpoint_if_due()

    def wait_time(self, deadline: float) -> float:
        return max(0.0, min(deadline, self.next_save) - time.monotonic())

    def _read_before(self, before: int, limit: int) -> list[Part]:
        return self.sessions.parts_before(self.user_id, self.session_id, before, limit)

    # -- before the model -----------------------------------------------------------------

    async def prepare(
        self, direction: str, regenerate: bool, part_seq: int | None = None, finish: bool = False
    ) -> list[str]:
        """Check the story can take a part (or its part `part_seq`, default the newest, a new
        take; with `finish`, one that goes on from its interrupted text), choose the model and
        the context window."""
        from storyterm.core.memory.prompt import Budget, MemoryState

        # Ollama's listing is asked for while the story is read: one round trip's wait, not
        # two in a row. A story that cannot take a part still says so first.
        listing = asyncio.ensure_future(self.catalog.recent_models())
        try:
            await story_check.check_story(self, direction, regenerate, part_seq, finish)
        except BaseException:
            listing.cancel()  # (a failure it already had is then not logged as unretrieved)
            raise
        session = self.session
        assert session is not None

        notes: list[str] = []
        catalog = self.catalog
        models = await listing
        if session.model_name:
            self.model = await catalog.installed(session.model_name, models)
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
        kept = state.num_ctx if state.num_ctx_model == self.model else None
        num_ctx = min(kept, cap) if kept else cap
        self.sampling = state.options.over(Sampling.from_settings(self.settings))
        self.budget = Budget.for_num_ctx(num_ctx, self.sampling.num_predict)
        notes += await thinking.prepare(self)
        return notes

    async def claim(self) -> None:
        """Take the part's place before any model time is spent: a second client loses here.
        A regenerate claims a new take of its part (the take it replaces is kept); finishing
        claims one that starts as the interrupted text."""
        if self.finishing_part:
            assert self.replaced is not None
            self.part = part = await self.db(
                self.history.continue_take,
                self.user_id,
                self.session_id,
                self.replaced.seq,
                model_name=self.model,
                newest_only=self.newest_only,
            )
            self.continuation = Continuation(part.content, part.direction)
            self.reply = Reply(used=self.continuation.room_used)
            self.saved_text = part.content
        elif self.replaced is not None:
            self.part = await self.db(
                self.history.regenerate_take,
                self.user_id,
                self.session_id,
                self.replaced.seq,
                direction=self.direction,
                model_name=self.model,
                newest_only=self.newest_only,
            )
        else:
            self.part = await self.db(
                self.sessions.begin_part,
                self.user_id,
                self.session_id,
                direction=self.direction,
                model_name=self.model,
                expected_seq=self.expected_seq,
            )
        self.live = self.sessions.live_text(self.user_id, self.part)
        self.next_save = time.monotonic() + self.settings.checkpoint_interval

    async def plan(self) -> PromptPlan:
        """The prompt, from the story as it is now (read after the claim): one trip to the
        database threads for the story, its lorebook and the parts the window holds."""
        return await self.db(self._plan)

    def _plan(self) -> PromptPlan:
        from storyterm.core.memory.prompt import MemoryState, TokenEstimator, plan_prompt

        assert self.part is not None and self.budget is not None
        self.session = session = self.sessions.get(self.user_id, self.session_id)
        self.state = MemoryState.from_memory(session.memory)
        if self.part.seq <= self.state.summary_through_seq:
            # An earlier part written again: the rolling summary tells what comes after it, so
            # the prompt holds the parts just before it instead (and folds nothing).
            self.state = dataclasses.replace(self.state, summary="", summary_through_seq=0)
            self.earlier_part = True
        self.estimator = TokenEstimator(self.state.token_ratio)
        carry = self.continuation
        return plan_prompt(
            session,
            self.state,
            self.direction if carry is None else carry.request(self.budget, self.estimator),
            self.part.seq,
            self.budget,
            self.estimator,
            self._read_before,
            self.sessions.lore.book(session),
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
        summary = thinking.strip_thinking(scrub("".join(pieces))).strip()
        if not summary:
            raise ModelFailed(
                f"{self.model} returned an empty summary of the older parts. Try again; if it "
                "keeps happening, choose another model."
            )
        self.session = await self.db(
            self.sessions.merge_memory,
            self.user_id,
            self.session_id,
            {SUMMARY: summary, SUMMARY_THROUGH: chunk.last_seq},
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
        from storyterm.core.memory.state import LAST_LORE

        record = plan.record()
        self.raw_estimate = plan.raw_estimate
        self.remember_prompt(record["digest"], m.as_pairs(plan.messages))
        self.session = await self.db(
            self.sessions.merge_memory,
            self.user_id,
            self.session_id,
            {
                m.NUM_CTX: plan.budget.num_ctx,
                m.NUM_CTX_MODEL: self.model,
                m.TOKENS: plan.tokens,
                m.LAST_ESTIMATE: plan.estimated,
                m.LAST_EVAL_COUNT: None,
                m.LAST_PROMPT: record,
                LAST_LORE: plan.lore.record(),
                LAST_THINKING: None,
            },
        )

    # -- while streaming ------------------------------------------------------------------

    def take_chunk(self, chunk: Any) -> str:
        """Account for one chunk from the model; returns what it adds to the part's text."""
        return self._added(self.reply.take(chunk))

    def end_reply(self) -> str:
        """The reply is whole: what it adds at its end (text held back in case of a tag)."""
        return self._added(self.reply.end())

    def _added(self, text: str) -> str:
        added = text if self.continuation is None else self.continuation.feed(text)
        if added and self.live is not None:
            self.live.add(added)
        return added

    def written(self) -> str:
        """The part's text so far: the reply, after the text it goes on from when finishing."""
        carry = self.continuation
        return self.reply.text if carry is None else carry.text(self.reply.text)

    async def checkpoint_if_due(self) -> Part | None:
        """Save the text so far when a checkpoint is due (also a heartbeat while the model
        thinks, so other clients do not take the part for abandoned). Stops the generation
        when the story was paused or completed elsewhere. Returns the part when its text
        changed."""
        if time.monotonic() < self.next_save:
            return None
        assert self.part is not None
        text = self.written()
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
        if self.live is not None:
            self.live.version = session.version
        changed = text != self.saved_text
        self.saved_text = text
        if session.status is not SessionStatus.ACTIVE:
            raise Stop(session.status.value)
        return part if changed else None

    # -- the end --------------------------------------------------------------------------

    async def finish(self) -> Finished:
        from storyterm.core.memory import prompt as m

        reply = self.reply
        if not reply.text.strip():
            raise ModelFailed(
                thinking.only_thought(self)
                or (
                    f"{self.model} finished without writing anything. Try again, perhaps with a "
                    "direction."
                    if self.continuation is None
                    else f"{self.model} finished without adding anything. Try again, or try "
                    "another model."
                )
            )
        assert self.part is not None
        completion = (
            reply.completion_tokens if reply.completion_tokens is not None else reply.chunks
        )
        state = self.state
        ratio = m.calibrate(
            state.token_ratio if state else None, self.raw_estimate, reply.prompt_tokens
        )
        memory: dict[str, Any] = {
            m.LAST_EVAL_COUNT: reply.prompt_tokens,
            LAST_THINKING: thinking.record(self),
        }
        if ratio is not None:
            memory[m.TOKEN_RATIO] = ratio
        self.finishing = True
        # The part's end and what it taught about the model (the window's calibration, its
        # thinking) in one transaction.
        part, session = await self.db(
            self.sessions.checkpoint_part,
            self.user_id,
            self.session_id,
            self.part.seq,
            self.written(),
            state=PartState.CUT if reply.done_reason == "length" else PartState.DONE,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=completion,
            expect=self.part,
            memory=memory,
        )
        self.ended = True
        self.part = part
        return Finished(
            part=part,
            session=session,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=completion,
            tokens_per_second=reply.tokens_per_second(),
            done_reason=reply.done_reason,
            message=reply.ending_note(part),
        )

    async def _end(self) -> tuple[Part | None, Session | None, str | None]:
        # Shielded: if the caller is cancelled meanwhile, the save still completes.
        return await self.db.shielded(lambda: ending.save_end(self))

    def abandon(self) -> None:
        """The consumer went away (task cancelled, iterator closed): save synchronously."""
        self.close_watches()
        try:
            ending.save_end(self)
        except Exception:
            log.exception("could not save an abandoned generation")

    def _kept_note(self, part: Part | None, db_error: str | None) -> str:
        return self.reply.kept_note(part, self.replaced is not None, db_error)

    async def stopped(self, reason: str) -> Event:
        self.close_watches()
        part, session, db_error = await self._end()
        reply = self.reply
        if part is not None and session is not None and reply.text.strip() and not db_error:
            return Finished(
                part=part,
                session=session,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens or reply.chunks or None,
                tokens_per_second=reply.tokens_per_second(),
                done_reason=reason,
            )
        if reason == "cancel":
            message = (
                "Stopped." if reply.text.strip() else "Stopped before the model wrote anything."
            )
        else:
            title = self.session.title if self.session else "The story"
            message = f"“{title}” was {reason} elsewhere, so the generation stopped."
        return Failed(
            GenerationStopped(message + self._kept_note(part, db_error)),
            part,
            self._failed_text(),
            recovery=self.recovery,
        )

    async def failed(self, error: StorytermError) -> Failed:
        self.close_watches()
        part, _session, db_error = await self._end()
        error.message = error.message + self._kept_note(part, db_error)
        error.args = (error.message,)
        return Failed(error, part, self._failed_text(), recovery=self.recovery)

    def _failed_text(self) -> str:
        """The part's text for a Failed event, only when the model added to it: a finish that
        added nothing leaves the interrupted take as it was, saved, not unsaved text."""
        return self.written() if self.reply.text.strip() else ""
