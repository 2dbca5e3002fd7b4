"""Searching inside stories over the 10,000-session library: the full-text queries as the app
makes them (SearchService.search / find_in_story), on SQLite (FTS5) and PostgreSQL (tsvector).

The library's text comes from a ~190-word vocabulary, so an ordinary word is in about half of
its ~16,000 parts: those queries rank thousands of matches, harder than real prose, whose
words are far rarer. Part 100 of the 1,000-part story is edited (as a writer would, a new take)
to hold one word found nowhere else, 900 parts before the story's end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.common import AreaResult, Skip, add_percentiles, time_calls
from bench.context import Context

TITLE = "Searching inside stories"
TARGET_MS = 50.0
RARE = "quillfeather"


def _measure(area: AreaResult, store: Any, dataset: Any, label: str, n: int) -> None:
    from storyterm.core.history import HistoryService
    from storyterm.core.search import SearchService

    user, big = dataset.user_id, dataset.big_session_id
    history = HistoryService(store)
    part = store.parts.get(user, big, 100)
    if RARE not in part.content:
        history.edit(user, big, 100, content=part.content + f"\n\nThe {RARE} lay on the sill.")
    search = SearchService(store)
    counts = {q: len(search.find_in_story(user, big, q)) for q in ("lantern", "the")}
    queries: list[tuple[str, Callable[[], Any]]] = [
        (f"a word in one part, 900 back ('{RARE}')", lambda: search.search(user, RARE)),
        ("a word in no part", lambda: search.search(user, "zzqxnowhere")),
        ("an ordinary word ('lantern', ~half the parts)", lambda: search.search(user, "lantern")),
        ("the commonest word ('the', nearly every part)", lambda: search.search(user, "the")),
        ("two ordinary words", lambda: search.search(user, "lantern harbour")),
        ("a phrase ('\"the keeper\"')", lambda: search.search(user, '"the keeper"')),
        (
            "an ordinary word, page 5 (offset 200)",
            lambda: search.search(user, "lantern", offset=200),
        ),
        (
            "an ordinary word in the 1,000-part story",
            lambda: search.search(user, "lantern", session_id=big),
        ),
        (
            f"find next: every match in the 1,000-part story ({counts['lantern']:,} parts)",
            lambda: search.find_in_story(user, big, "lantern"),
        ),
        (
            f"find next, the commonest word ({counts['the']:,} parts)",
            lambda: search.find_in_story(user, big, "the"),
        ),
    ]
    for name, query in queries:
        samples = time_calls(lambda _i, q=query: q(), n, warmup=3)
        add_percentiles(area, f"{name} — {label}", samples, target_p99=TARGET_MS)


def run(ctx: Context, area: AreaResult) -> None:
    from storyterm.core.storage.store import Store

    n = ctx.repeat(full=100, quick=10)
    parts = 0
    for backend in ("sqlite", "postgres"):
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        try:
            dataset = ctx.dataset(backend, "fulltext")
        except Skip as exc:
            area.note(f"{label}: not measured — {exc}")
            continue
        parts = dataset.parts
        store = Store.open(dataset.url, None)
        try:
            _measure(area, store, dataset, label, n)
        finally:
            store.close()
    area.note(
        f"{ctx.size.sessions:,} sessions of one writer, {parts:,} parts "
        "(the 1,000-part story's chosen takes among them); a page of 50 results, best first, "
        "each with its snippet. Every word of the library's vocabulary is in hundreds of parts "
        "or more (see the module's docstring)."
    )
