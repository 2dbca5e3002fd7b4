"""The context meter: how much of the model's window (num_ctx) the next part's prompt takes,
while the writer types its direction ("ctx 5.1k/8k" in the TUI's status line).

Planning a prompt reads parts and loads LangChain, so it is done once, in a worker, when a
story is opened or a part is written (Storyteller.context_meter, which plans the prompt
exactly as the next generation will, with no direction). What the direction adds is counted
here as the writer types, with the same calibrated estimate (TokenEstimator.text: characters
/ 4 x the story's ratio), without LangChain. When the prompt would outgrow its room the
oldest parts give way (they are folded into the summary), so the figure stops at the room.
"""

from __future__ import annotations

import math


class ContextMeter:
    """The next prompt's size for one story, with `tokens(direction)` for what is typed. (A
    plain class: the TUI imports it at start-up.)"""

    __slots__ = ("continue_chars", "known_window", "num_ctx", "planned", "ratio", "room")

    def __init__(
        self,
        *,
        num_ctx: int,
        room: int,
        planned: int,
        ratio: float,
        continue_chars: int,
        known_window: bool,
    ) -> None:
        #: The model's window for this story (num_ctx).
        self.num_ctx = num_ctx
        #: What the prompt may take of it (the rest is the reply's room and a margin).
        self.room = room
        #: The prompt's estimate with no direction (the default "continue" request in its place).
        self.planned = planned
        #: Tokens per 4 characters, as the story's memory has calibrated it.
        self.ratio = ratio
        #: The length of the default request an empty direction sends.
        self.continue_chars = continue_chars
        #: False until the story has been written with its model: num_ctx is then the
        #: max_num_ctx setting, which the model's own window may lower.
        self.known_window = known_window

    def _text(self, chars: int) -> int:
        return math.ceil((chars / 4.0) * self.ratio)

    def tokens(self, direction: str) -> int:
        """The next prompt's tokens with `direction` typed (at most the prompt's room)."""
        typed = direction.strip()
        if not typed:
            return min(self.room, self.planned)
        added = self._text(len(typed)) - self._text(self.continue_chars)
        return min(self.room, self.planned + added)

    def label(self, direction: str) -> str:
        """ "ctx 5.1k/8k" (with "~" before the window while it is not known yet)."""
        window = _short(self.num_ctx)
        return f"ctx {_short(self.tokens(direction))}/{'' if self.known_window else '~'}{window}"


def _short(n: int) -> str:
    """1234 -> "1.2k", 8192 -> "8k", 131072 -> "128k", 950 -> "950"."""
    if n < 1000:
        return str(n)
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}k"
    value = n / 1000
    return f"{value:.1f}k".replace(".0k", "k") if value < 100 else f"{round(value)}k"


def describe_tokens(
    tokens: dict[str, int], estimated: int | None, last_prompt: dict[str, object] | None
) -> str:
    """The last prompt block by block, in a sentence (the context viewer's note): the tokens
    plan_prompt counted for each (memory's "tokens", PromptPlan.tokens), what was kept for the
    reply, and which parts were sent word for word; empty before the first part."""
    if not tokens or "num_ctx" not in tokens:
        return ""
    system = tokens.get("system", 0)
    summary, lore = tokens.get("summary", 0), tokens.get("lore", 0)
    blocks = [("instructions and bible", max(0, system - summary - lore))]
    blocks += [("summary", summary), ("lore", lore), ("author's note", tokens.get("note", 0))]
    verbatim = tokens.get("parts_verbatim", 0)
    first = last_prompt.get("first_seq") if last_prompt else None
    last = last_prompt.get("last_seq") if last_prompt else None
    which = f" ({first}–{last})" if first and last and first != last else ""
    parts = f"{verbatim} recent part{'' if verbatim == 1 else 's'}{which}"
    blocks += [(parts, tokens.get("tail", 0)), ("direction", tokens.get("direction", 0))]
    shown = " · ".join(f"{name} {n:,}" for name, n in blocks if n)
    total = f"≈ {estimated:,}" if estimated is not None else "The prompt"
    said = f"{total} of {tokens['num_ctx']:,} tokens: {shown}; {tokens.get('reply', 0):,} kept"
    said += " for the reply."
    if isinstance(first, int) and first > 1:
        said += f" Parts before {first} reach the model through the summary."
    return said
