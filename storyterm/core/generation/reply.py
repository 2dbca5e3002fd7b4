"""The model's reply while it streams: its text and the counts Ollama sends with it, and what
the writer is told of that text when a generation stops."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from storyterm.core import text as text_rules
from storyterm.core.generation.thinking import ThinkSplitter
from storyterm.core.text import scrub
from storyterm.core.views import Part

#: The done_reason of a part that reached the most a part can hold (text.MAX_PART).
LIMIT = "limit"


class Reply:
    """The text and the counts of one part's reply, taken a chunk at a time."""

    def __init__(self, limit: int | None = None, *, used: int = 0) -> None:
        #: The most characters the part may have (read when the reply starts, so that a test
        #: can lower text.MAX_PART); the reply is cut there and `full` set.
        self.limit = text_rules.MAX_PART if limit is None else limit
        #: Characters of the part before the reply (the text a continuation goes on from).
        self.used = used
        self.full = False
        # The text as pieces, joined when it is read (a checkpoint, the end): `text += piece`
        # on an attribute copies the whole text for every chunk, which took a minute for a
        # reply of 1,000,000 characters.
        self._pieces: list[str] = []
        self.length = 0
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.chunks = 0
        self.done_reason: str | None = None
        self.eval_count: int | None = None
        self.eval_duration_ns: int | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        #: The model's thinking, kept out of the text (core/generation/thinking.py).
        self.thoughts = ThinkSplitter()

    def take(self, chunk: Any) -> str:
        """Account for one chunk from the model; returns its text (its thinking kept aside)."""
        content = chunk.content if isinstance(chunk.content, str) else chunk.text
        extra = getattr(chunk, "additional_kwargs", None) or {}
        content = self.thoughts.feed(content, extra.get("reasoning_content"))
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            self.prompt_tokens = usage.get("input_tokens")
            self.completion_tokens = usage.get("output_tokens")
        meta = getattr(chunk, "response_metadata", None) or {}
        if meta.get("done"):
            self.done_reason = meta.get("done_reason")
            self.eval_count = meta.get("eval_count")
            self.eval_duration_ns = meta.get("eval_duration")
        return self._add(content)

    def end(self) -> str:
        """The reply is complete: the text held back in case it began a <think> tag."""
        return self._add(self.thoughts.flush())

    def _add(self, content: str) -> str:
        # The model's text is data from outside: what no database can store becomes U+FFFD
        # here, so the screen, every checkpoint and the final part hold the same text.
        content = scrub(content)
        room = self.limit - self.used - self.length
        if len(content) > room:
            # A model that ignores num_predict: keep what a part can hold, and end it there.
            content = content[: max(room, 0)]
            self.full = True
            self.done_reason = LIMIT
        if content:
            now = time.monotonic()
            if self.first_token_at is None:
                self.first_token_at = now
            self.last_token_at = now
            self.chunks += 1
            self._pieces.append(content)
            self.length += len(content)
        return content

    @property
    def text(self) -> str:
        """The text so far (with what is held back in case it begins a tag: a reply stopped
        there keeps it)."""
        pieces = self._pieces
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        text = pieces[0] if pieces else ""
        held = self.thoughts.pending
        return text + scrub(held) if held else text

    def tokens_per_second(self) -> float | None:
        if self.eval_count and self.eval_duration_ns:
            return self.eval_count / (self.eval_duration_ns / 1e9)
        if self.first_token_at is not None and self.last_token_at is not None:
            elapsed = self.last_token_at - self.first_token_at
            if elapsed > 0 and self.chunks > 1:
                return (self.chunks - 1) / elapsed
        return None

    def ending_note(self, part: Part) -> str:
        """What the writer should know about how a finished part ended ("" when nothing)."""
        if self.done_reason != LIMIT:
            return ""
        return (
            f"Part {part.seq} reached the most a part can hold ({self.limit:,} characters), so "
            "storyterm ended it there: the model kept writing past its reply room. Everything "
            "up to that point is saved; continue the story for the next part."
        )

    def unsaved_note(self, cause: str, path: Path | None, write_error: str | None) -> str:
        """What the writer is told when this text could not be saved because of `cause`: where
        it is kept instead (`path`, a recovery file), or why even that failed."""
        words = len(self.text.split())
        plural = "s" if words != 1 else ""
        said = f" The {words:,} word{plural} written could not be saved ({cause})"
        if path is not None:
            # No command named: the front end says how to put them back (Failed.kept_in).
            return (
                f"{said}; they are kept in {path}, to go back into the story once the database "
                "works again."
            )
        return f"{said}, nor kept in a recovery file ({write_error}); copy them from the screen."

    def kept_note(self, part: Part | None, replacing: bool, unsaved: str | None) -> str:
        """What became of this text, for the message of a generation that stopped: `part` is
        the part kept, `replacing` whether the generation was a regenerate, `unsaved` what the
        writer is told when the save failed (failed_save.keep)."""
        if unsaved:
            return unsaved if self.text.strip() else ""
        words = len(self.text.split())
        if part is not None and self.text.strip():
            return (
                f" The {words:,} word{'s' if words != 1 else ''} written so far are kept in "
                f"part {part.seq} (marked interrupted)."
            )
        if part is not None and replacing:
            return f" Part {part.seq} is as it was."
        return " Nothing was added to the story."
