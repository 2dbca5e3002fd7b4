"""The directions sent in the open story, and where the writer is among them (up and down in
the direction input, like a shell's history)."""

from __future__ import annotations

from storyterm.core.text import terminal_safe

#: How many earlier directions of a story the input offers.
HISTORY_SIZE = 100


class DirectionHistory:
    """One story's earlier directions, newest first: those its parts were written from (read
    from the database when the story opens) and those sent since.

    Walking back keeps what was being typed (the draft) and gives it back past the newest
    entry; an entry the writer changed keeps the change while they walk on (until a direction
    is sent or another story opens), as readline does, so no typed word is dropped by a key
    that only moves."""

    def __init__(self) -> None:
        self.session_id: str | None = None
        #: Read from the story's parts (newest first), and sent since it opened (oldest first).
        self._read: list[str] = []
        self._sent: list[str] = []
        #: The entries as they were when the walk began (None: not walking), the place in
        #: them (0: the newest), the draft, and the entries changed on the way.
        self._walk: list[str] | None = None
        self._at = -1
        self._draft = ""
        self._changed: dict[int, str] = {}
        #: The story's directions have been read (those sent since count before that too).
        self.loaded = False

    def open(self, session_id: str | None) -> None:
        """Another story is open (or none): its history, not the last one's."""
        if session_id != self.session_id:
            self.session_id = session_id
            self._read, self._sent = [], []
            self.loaded = False
            self.stop()

    def read(self, session_id: str, directions: list[str]) -> None:
        """The story's directions as its parts hold them, newest first."""
        if session_id == self.session_id:
            self._read = [terminal_safe(d) for d in directions]
            self.loaded = True

    def sent(self, direction: str) -> None:
        """The writer sent `direction`: it is the newest entry now, and the walk is over."""
        self.heard(direction)
        self.stop()

    def heard(self, direction: str) -> None:
        """Another window sent `direction` to this story: the newest entry now. A walk under
        way goes on over the entries it began with (nothing under the cursor moves)."""
        direction = terminal_safe(direction.strip())
        if direction:
            if direction in self._sent:
                self._sent.remove(direction)
            self._sent.append(direction)

    def stop(self) -> None:
        """Back to the draft, forgetting the walk (the input was emptied or sent)."""
        self._walk, self._at, self._draft, self._changed = None, -1, "", {}

    @property
    def entries(self) -> list[str]:
        """Every entry, newest first, each once."""
        return list(dict.fromkeys([*reversed(self._sent), *self._read]))[:HISTORY_SIZE]

    @property
    def walking(self) -> bool:
        return self._walk is not None

    def back(self, text: str) -> str | None:
        """The entry before the one shown (`text` is what the input holds now), or None when
        there is none."""
        walk = self._walk if self._walk is not None else self.entries
        if self._at + 1 >= len(walk):
            return None
        self._keep(text)
        self._walk = walk
        self._at += 1
        return self._changed.get(self._at, walk[self._at])

    def forward(self, text: str) -> str | None:
        """The entry after the one shown, the draft past the newest; None when not walking."""
        if self._walk is None:
            return None
        self._keep(text)
        self._at -= 1
        if self._at < 0:
            draft = self._draft
            self.stop()
            return draft
        return self._changed.get(self._at, self._walk[self._at])

    def leave(self, text: str) -> str | None:
        """The walk ends without a direction sent (another story opens): what the box should
        hold instead of `text`, the entry shown: the draft, unless the writer changed the
        entry (None: keep it)."""
        if self._walk is None or text != self._walk[self._at]:
            return None
        draft = self._draft
        self.stop()
        return draft

    def _keep(self, text: str) -> None:
        if self._walk is None or self._at < 0:
            self._draft = text
        elif text != self._walk[self._at]:
            self._changed[self._at] = text
        else:
            self._changed.pop(self._at, None)
