"""Area 9, lorebook matching: which of 200 entries are active for the direction and the last 4
parts (core/memory/lore.py's `choose`), and the whole lore step of a prompt (`plan_lore`:
matching and fitting to 15% of an 8,192-token window). Pure Python, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.common import AreaResult, add_percentiles, time_calls
from bench.context import Context

TITLE = "Lorebook matching"
#: Matching runs at every generation, before the first token: it should cost next to nothing.
TARGET_MS = 3.0
ENTRIES = 200
SCAN_PARTS = 4


def _entries(with_regex: bool = True) -> list:
    from storyterm.core.views import LoreEntry
    from storyterm.devtools.fake_ollama import prose

    words = sorted({w.strip(".,;:!?\"'").lower() for w in prose(3000, seed=3).split()})
    now = datetime.now(UTC)
    entries = []
    for n in range(ENTRIES):
        # Plain one-word keys, phrases and (one in ten) a regex: the mix a lorebook has.
        keys = [f"name{n}", words[n % len(words)], f"the {words[(n * 7) % len(words)]} of"]
        regex = with_regex and n % 10 == 0
        if regex:
            keys = [rf"\b{words[n % len(words)]}(s|es)?\b", rf"name{n}\d*"]
        entries.append(
            LoreEntry(
                id=n + 1,
                session_id="bench",
                name=f"Entry {n}",
                keys=keys,
                content=prose(60, seed=100 + n),
                priority=n % 5,
                always_on=n % 50 == 0,
                regex=regex,
                case_sensitive=n % 3 == 0,
                created_at=now,
                updated_at=now,
            )
        )
    return entries


def _name_entries() -> list:
    """A lorebook as writers keep one: a name and a longer name per entry, most of them not
    in the recent parts (the stand-in's prose names a few of its own)."""
    from storyterm.core.views import LoreEntry
    from storyterm.devtools.fake_ollama import prose

    now = datetime.now(UTC)
    known = ["Mara", "Tobias", "Ilse", "Jonah", "Elin", "the keeper", "Old Wren"]
    entries = []
    for n in range(ENTRIES):
        first = known[n // 10 % len(known)] if n % 10 == 0 else f"Person{n}"
        entries.append(
            LoreEntry(
                id=n + 1,
                session_id="bench",
                name=first,
                keys=[first, f"{first} of House{n}"],
                content=prose(60, seed=100 + n),
                priority=n % 5,
                created_at=now,
                updated_at=now,
            )
        )
    return entries


def run(ctx: Context, area: AreaResult) -> None:
    from storyterm.core.memory.lore import LoreBook, choose, plan_lore
    from storyterm.core.memory.prompt import TokenEstimator
    from storyterm.core.views import Part
    from storyterm.devtools.fake_ollama import prose

    n = ctx.repeat(full=300, quick=20)
    entries = _entries()
    now = datetime.now(UTC)
    parts = [
        Part(
            id=seq,
            session_id="bench",
            seq=seq,
            direction=f"Step {seq}: the keeper goes down to the harbour",
            content=prose(900, seed=seq),
            model_name=None,
            state="done",  # type: ignore[arg-type]
            word_count=900,
            created_at=now,
            updated_at=now,
        )
        for seq in range(1, SCAN_PARTS + 1)
    ]
    direction = "Mara opens the sealed letter at the harbour wall"
    texts = [direction, *(f"{p.direction}\n{p.content}" for p in reversed(parts))]
    active = len(choose(entries, texts))
    plain = _entries(with_regex=False)
    names = _name_entries()
    samples = time_calls(lambda _i: choose(names, texts), n, warmup=3)
    add_percentiles(
        area,
        f"{ENTRIES} entries keyed by names (2 each, 1 in 10 mentioned) against the same text",
        samples,
        target_p99=TARGET_MS,
    )
    samples = time_calls(lambda _i: choose(plain, texts), n, warmup=3)
    add_percentiles(
        area,
        f"{ENTRIES} entries of plain keys against {SCAN_PARTS} parts of 900 words + the direction",
        samples,
        target_p99=TARGET_MS,
    )
    samples = time_calls(lambda _i: choose(entries, texts), n, warmup=3)
    add_percentiles(
        area,
        f"the same, one entry in ten with two regular expressions instead ({ENTRIES // 10 * 2} "
        "patterns)",
        samples,
        target_p99=TARGET_MS,
    )
    book = LoreBook(entries)
    estimator = TokenEstimator(None)

    def read_before(before: int, limit: int) -> list[Part]:
        return parts[max(0, before - 1 - limit) : before - 1]

    samples = time_calls(
        lambda _i: plan_lore(
            book, direction, SCAN_PARTS + 1, 8192, 4096, estimator.text, read_before
        ),
        n,
        warmup=3,
    )
    add_percentiles(
        area, "the lore step of a prompt (match + fit, 8,192 window)", samples, target_p99=TARGET_MS
    )
    area.note(
        f"{ENTRIES} entries of 3 keys each (a name, a word of the prose, a three-word phrase "
        f"of common words; one in three case-sensitive); {active} of them active for this text, "
        "a worst case (a real lorebook's keys are mostly names, most in none of the texts). A "
        "regular expression costs a scan of all the text (~19,000 characters here) each. Keys "
        "are compiled once per process (the first, unmeasured calls)."
    )
