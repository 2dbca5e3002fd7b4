"""`storyterm search TEXT`: the parts of your stories that hold some words."""

from __future__ import annotations

import click

from storyterm.cli.common import (
    current_user_id,
    get_runtime,
    handle_errors,
    print_json,
    say,
    styled,
)
from storyterm.cli.sessions import resolve_session_id
from storyterm.core.search import MAX_OFFSET, MAX_PAGE, PAGE
from storyterm.core.views import SearchHit


def _snippet_line(hit: SearchHit) -> list[str]:
    """The snippet's pieces (one line already: the core folds its white space), each made
    terminal-safe; the matches in bold."""
    return [
        styled(piece.text, bold=True, underline=True) if piece.match else styled(piece.text)
        for piece in hit.snippet
    ]


@click.command("search")
@click.argument("text")
@click.option(
    "--session", "session_id", default=None, help="Search this story only (in story order)."
)
@click.option("--limit", default=PAGE, show_default=True, type=click.IntRange(1, MAX_PAGE))
@click.option(
    "--offset", default=0, type=click.IntRange(0, MAX_OFFSET), help="Skip this many results."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handle_errors
def search_cmd(text: str, session_id: str | None, limit: int, offset: int, as_json: bool) -> None:
    """Find the parts of your stories that hold TEXT, best match first (among your newest
    1,000 parts that hold it).

    Every word must be in the part (whole words, any case); "words in quotes" must stand
    together. Punctuation only separates words. Parts in the trash are not searched."""
    runtime = get_runtime()
    user_id = current_user_id(runtime)
    if session_id is not None:
        session_id = resolve_session_id(runtime, user_id, session_id)
    results = runtime.sessions.searching.search(
        user_id, text, session_id=session_id, limit=limit, offset=offset
    )
    if as_json:
        print_json(results.model_dump(mode="json"))
        return
    if not results.hits:
        say("Nothing found." if offset == 0 else "No more results.")
        return
    for hit in results.hits:
        say(
            styled(hit.title, one_line=True, bold=True),
            f" · part {hit.seq}  ({hit.session_id[:8]})",
        )
        say("  ", *_snippet_line(hit))
    if results.next_offset is not None:
        say(f"… more: add --offset {results.next_offset}")


COMMANDS = [search_cmd]
