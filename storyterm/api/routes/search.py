"""/api/langchain/search: the parts of your stories that hold some words."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from storyterm.api.deps import AccountDep, RuntimeDep
from storyterm.api.errors import errors
from storyterm.api.rules import NO_NUL_PATTERN, matches
from storyterm.core.search import MAX_OFFSET, MAX_PAGE, MAX_QUERY, PAGE, NothingToSearch
from storyterm.core.views import SearchResults as FoundParts

router = APIRouter(prefix="/api/langchain/search", tags=["search"])

NO_NUL = "must not contain NUL characters (U+0000)"


class SnippetPiece(BaseModel):
    """A run of a snippet's text; `match` marks a word the search found."""

    text: str = Field(description="Exact text (escape it for where you show it).")
    match: bool = False


class SearchHit(BaseModel):
    """A part of one of your stories that holds the words."""

    session_id: str
    title: str
    seq: int = Field(description="The part's number in its story.")
    snippet: list[SnippetPiece] = Field(
        description="The text around the first match, on one line, '…' where it is cut."
    )


class SearchResults(BaseModel):
    """A page of search results, best match first."""

    query: str
    hits: list[SearchHit]
    next_offset: int | None = Field(
        default=None, description="Pass as `offset` for the next page; null at the end."
    )
    note: str | None = Field(
        default=None,
        description="Why there can be no hits, when `q` holds no word to search for "
        "(only punctuation, symbols or spaces).",
    )

    @classmethod
    def of(cls, results: FoundParts) -> SearchResults:
        return cls.model_validate(results.model_dump())


@router.get(
    "",
    summary="Search inside your stories",
    description=(
        "The parts of your stories (their chosen takes; nothing in the trash) that hold every "
        'word of `q`, whole words in any case; "words in quotes" must stand together. Best '
        "first (among your newest 1,000 parts that match). "
        "Punctuation only separates words, so no query syntax is interpreted. A `q` with no "
        "word in it finds nothing, and `note` says why."
    ),
    response_model=SearchResults,
    responses=errors(401, 404, 422, 503),
)
def search(
    account: AccountDep,
    runtime: RuntimeDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY,
            description="The words to find.",
            json_schema_extra={"pattern": NO_NUL_PATTERN},
        ),
        matches(NO_NUL_PATTERN, NO_NUL),
    ],
    session: Annotated[
        str | None,
        Query(
            description="Search this session only, its parts in story order (404 if it is not "
            "yours).",
            json_schema_extra={"pattern": NO_NUL_PATTERN},
        ),
        matches(NO_NUL_PATTERN, NO_NUL),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description=f"Results per page, 1 to {MAX_PAGE}.")
    ] = PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Results to skip.")] = 0,
) -> SearchResults:
    try:
        results = runtime.sessions.searching.search(
            account.id, q, session_id=session, limit=limit, offset=offset
        )
    except NothingToSearch as exc:
        # A well-formed request that can find nothing: said, not refused (no pattern the
        # document could show tells every script's letters from its punctuation).
        return SearchResults(query=q, hits=[], note=exc.message)
    return SearchResults.of(results)
