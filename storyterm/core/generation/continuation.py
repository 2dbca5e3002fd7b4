"""Finishing an interrupted part: the model goes on from where the part's text stops, and its
reply is added to that text as a new take of the same part (core/generation/run.py drives it;
the interrupted take stays, and undo goes back to it).

The prompt is the story before the part, as for any part (core/memory/prompt.py), with a last
message that asks the model to pick up exactly where the text stops and ends with that text
(its end, when the whole would take more than its share of the model's window).

The reply is joined to the text by one rule, the same for what is shown while it streams
(`Continuation.feed`) and for what is saved (`Continuation.text`): the interrupted text is
never changed; the reply's leading whitespace gives way to the whitespace the text already ends
with, except that a line or paragraph break the reply starts is kept; two words that would
touch get a space between them.

Cheap to import: LangChain is loaded only when the prompt is built.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

from storyterm.core import text as text_rules
from storyterm.core.basics import PartState, finish_refusal
from storyterm.core.views import Part
from storyterm.errors import InvalidInput, InvalidTransition

if TYPE_CHECKING:
    from storyterm.core.memory.prompt import Budget, TokenEstimator

#: What the model is asked, before the part's text (which ends the message).
FINISH_REQUEST = (
    "This part of the story stopped before it was finished.{direction} Continue it "
    "from exactly where the text below stops, even in the middle of a sentence or a word, in "
    "the same voice. Do not repeat any of it: reply with only the words that come next, and "
    "end the part where it naturally ends.\n\n"
)
#: The most of the prompt's room the part's own text may take (longer: its end is sent).
TEXT_SHARE = 0.5
#: Room kept for the joint between the text and the reply (at most a paragraph break).
JOINT_ROOM = 2

_DASHES = "-‐‑‒–—―"
#: A reply starting with one of these goes on the word or sentence before it: no space.
_NO_SPACE_BEFORE = set(",.;:!?)]}’”»…%'" + _DASHES)
#: A text ending with one of these opens what follows: no space after it.
_NO_SPACE_AFTER = set("([{“‘«¡¿/" + _DASHES)


def check_finishable(part: Part, direction: str) -> None:
    """Refuse, saying what to do instead, to finish `part`: only an interrupted part can be
    gone on from, with its own direction, and only while it has room for more."""
    refused = finish_refusal(part.seq, PartState(part.state).value)
    if refused is not None:
        raise InvalidTransition(refused)
    if direction.strip():
        raise InvalidInput(
            f"Finishing part {part.seq} goes on from where its text stops, with the part's own "
            "direction; leave the direction out, or regenerate the part to write it anew."
        )
    limit = text_rules.MAX_PART  # read now, so that a test can lower it
    if len(part.content) + JOINT_ROOM >= limit:
        raise InvalidTransition(
            f"Part {part.seq} already holds the most a part can hold ({limit:,} "
            "characters); write the next part instead."
        )


class Continuation:
    """The interrupted text a new take goes on from, and how the model's reply joins it."""

    def __init__(self, prefix: str, direction: str) -> None:
        #: The interrupted take's text: the new take's text starts with it, unchanged.
        self.prefix = prefix
        self.direction = direction
        #: The reply's whitespace before its first word (until that word comes).
        self._lead = ""
        #: What goes between the prefix and the reply's first word (None: not known yet).
        self._joint: str | None = None

    @property
    def room_used(self) -> int:
        """Characters of the part taken before the reply starts (the prefix and the joint)."""
        return len(self.prefix) + JOINT_ROOM

    def feed(self, delta: str) -> str:
        """What `delta`, the reply's next piece, adds to the part's text as shown: nothing
        while the reply is only whitespace, then its first word with the joint before it."""
        if self._joint is not None:
            return delta
        self._lead += delta
        body = self._lead.lstrip()
        if not body:
            return ""
        self._joint = joint(self.prefix, self._lead[: len(self._lead) - len(body)], body)
        return self._joint + body

    def text(self, reply: str) -> str:
        """The part's text: the prefix and, when it holds a word, the reply joined to it."""
        body = reply.lstrip()
        if not body:
            return self.prefix
        return self.prefix + joint(self.prefix, reply[: len(reply) - len(body)], body) + body

    def request(self, budget: Budget, estimator: TokenEstimator) -> str:
        """The last message of the prompt: the instruction, then the part's text (its end, cut
        to TEXT_SHARE of the prompt's room, when it is longer)."""
        from storyterm.core.memory.prompt import clip_text, direction_text

        if not self.prefix.strip():  # nothing to go on from: write the part from its start
            return direction_text(self.direction)
        said = self.direction.strip()
        head = FINISH_REQUEST.format(
            direction=f" The author's direction for it was: {said}" if said else ""
        )
        room = max(64, int(budget.prompt * TEXT_SHARE) - estimator.text(head))
        return head + clip_text(self.prefix, room, estimator, keep="end")


def joint(prefix: str, lead: str, body: str) -> str:
    """What goes between `prefix` and a reply whose leading whitespace is `lead` and whose
    first word starts `body` (decided by its first character alone, so that the joint is the
    same while the reply streams and once it is whole)."""
    stem = prefix.rstrip()
    if not stem:
        return ""
    tail = prefix[len(stem) :]
    breaks = lead.count("\n")
    if breaks:  # the reply starts a new line, or a new paragraph: keep it
        return "\n" * max(0, min(breaks, 2) - tail.count("\n"))
    if tail:  # the text already ends with a space or a break
        return ""
    if lead or _needs_space(stem, body[0]):
        return " "
    return ""


def _needs_space(stem: str, first: str) -> bool:
    """Whether a reply starting with `first` needs a space after a text ending `stem`."""
    last = stem[-1]
    if first in _NO_SPACE_BEFORE or last in _NO_SPACE_AFTER:
        return False
    if _wide(last) and _wide(first):  # scripts written without spaces (Chinese, Japanese)
        return False
    if '"' in (last, first):
        # A straight quote opens or closes dialogue: an odd count in the paragraph so far
        # means the dialogue is open (the text's last quote opened it, or the reply's closes
        # it), and the two go together.
        paragraph = stem[stem.rfind("\n\n") + 1 :]
        return paragraph.count('"') % 2 == 0
    return True


def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")
