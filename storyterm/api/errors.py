"""Every failure the API answers with, as one JSON shape: {"error": {"code", "message"}}.

The core's StorytermError kinds carry their own status and code; FastAPI's validation errors and
Starlette's routing errors are reshaped into the same body; anything else is a 500 with a
generic message (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from storyterm.core.text import scrub
from storyterm.errors import AuthError, InvalidToken, StorytermError

log = logging.getLogger("storyterm.api")

INTERNAL_MESSAGE = (
    "Something went wrong inside storyterm while handling this request. Nothing already saved "
    "is lost; try again, and if it keeps happening, look at the server's log."
)


class ErrorDetail(BaseModel):
    """What went wrong, for a person (`message`) and for a script (`code`)."""

    code: str = Field(
        description=(
            "A stable name for the kind of failure: auth, invalid_token, too_many_attempts, "
            "not_found, invalid_transition, conflict, invalid_input, database_unavailable, "
            "model_unavailable, model_missing, stopped, export_failed, method_not_allowed, "
            "too_large, internal."
        ),
        examples=["not_found"],
    )
    message: str = Field(
        description="What happened and what to do about it.",
        examples=["No story session 'abc' here."],
    )


class ErrorResponse(BaseModel):
    """The body of every answer that is not a success."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error body. A message may quote what the client sent; anything in it that cannot be
    encoded (a lone surrogate) becomes U+FFFD, so an error answer can always be sent."""
    body = ErrorResponse(error=ErrorDetail(code=scrub(code), message=scrub(message)))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# -- OpenAPI: the error answers each route documents ----------------------------------------

_DESCRIPTIONS: dict[int, str] = {
    401: "Missing, malformed, expired or revoked bearer token: log in again.",
    404: "No such session for this account (another writer's session looks exactly the same).",
    409: "The move is not possible in the session's status (pause a paused session, continue "
    "one that is paused or completed, write again a story without parts, change a completed "
    "story's parts or one being written, undo with nothing to undo, restore what is not in the "
    "trash), the story's model is not installed in Ollama, or another client won a race.",
    413: "The request body is larger than this endpoint takes (see the API description).",
    429: "Too many wrong passwords in a row: wait `Retry-After` seconds before trying again.",
    422: "The request is not usable: a missing or malformed field, or a value the rules refuse.",
    500: "An unexpected failure (the details are in the server's log), or export files could "
    "not be written.",
    503: "The database or Ollama cannot be reached.",
}


def errors(*statuses: int, streaming: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each listed status documented with the error body.

    Every route can answer 413 (a body over the limit: any request can carry one), 422
    (malformed request) and 500 (unexpected failure), so those are always included. FastAPI
    files a response `model` under the route's own media type, which for a streaming route is
    text/event-stream; its errors are JSON, so they are spelt out.
    """
    wanted: Sequence[int] = sorted({*statuses, 413, 422, 500})
    if streaming:
        ref = {"$ref": "#/components/schemas/ErrorResponse"}
        return {
            s: {"description": _DESCRIPTIONS[s], "content": {"application/json": {"schema": ref}}}
            for s in wanted
        }
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in wanted}


# -- handlers -------------------------------------------------------------------------------


def _storyterm_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StorytermError)
    message = exc.message
    if isinstance(exc, InvalidToken):
        # The core's remedy names the command line; an API client logs in over HTTP.
        message = f"{exc.reason}. Log in again: POST /api/auth/login."
    headers: dict[str, str] = {}
    if exc.http_status == 401 and isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        headers["Retry-After"] = str(int(retry_after + 0.999))
    if exc.http_status >= 500:
        # A writer-facing failure (database down, export not written): worth a log line.
        log.warning("%s: %s", exc.code, exc.message)
    return error_response(exc.http_status, exc.code, message, headers or None)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_input", describe_validation(exc.errors()))


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 404:
        code = "not_found"
        message = (
            f"There is no {request.method} {request.url.path} here. The endpoints are listed "
            "at /docs."
        )
    elif status == 405:
        code = "method_not_allowed"
        allowed = allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
        message = (
            f"{request.url.path} does not take {request.method}; it takes "
            f"{', '.join(allowed) or 'no method'}. The endpoints are listed at /docs."
        )
    elif status == 413:
        return too_large_response(getattr(exc, "limit", None))
    elif status == 400:
        # FastAPI's answer to a body it cannot even decode (not UTF-8, a broken form): bad
        # input like any other, so the same 422 as a malformed JSON body.
        status, code = 422, "invalid_input"
        message = (
            "The request body could not be read. Send JSON text (UTF-8) with "
            "Content-Type: application/json. The fields each endpoint takes are listed at /docs."
        )
    elif status == 401:
        code = "auth"
        message = "Log in first (POST /api/auth/login), then send Authorization: Bearer <token>."
        headers.setdefault("WWW-Authenticate", "Bearer")
    else:
        try:
            code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "error"
        message = str(exc.detail)
    return error_response(status, code, message, headers or None)


def too_large_response(limit: int | None) -> JSONResponse:
    """The 413 answer: the body is over `limit` bytes (the connection is closed after it, as
    the rest of the body is never read)."""
    message = "The request body is too large" + (
        f": this endpoint takes at most {describe_size(limit)}." if limit else "."
    )
    return error_response(413, "too_large", message, {"Connection": "close"})


def describe_size(size: int) -> str:
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024 and size % 1024 == 0:
        return f"{size // 1024} KiB"
    return f"{size:,} bytes"


def allowed_methods(request: Request) -> list[str]:
    """Every method the API takes at this path, as the OpenAPI document lists them (Starlette's
    own 405 names only the first route that matched the path, though GET and DELETE of one
    path are two routes), plus those of undocumented routes such as /docs."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for pattern, documented in _documented_paths(request.app):
        if pattern.fullmatch(path):
            methods.update(documented)
    for route in request.app.router.routes:
        if (
            isinstance(route, Route)
            and route.methods
            and route.matches(request.scope)[0] != Match.NONE
        ):
            methods.update(route.methods)
    return sorted(methods)


_HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _documented_paths(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    cached = getattr(app.state, "documented_paths", None)
    if cached is None:
        cached = []
        for template, item in app.openapi().get("paths", {}).items():
            regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            cached.append((re.compile(regex), methods))
        app.state.documented_paths = cached
    return cached


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal", INTERNAL_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StorytermError, _storyterm_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


# -- readable validation messages -----------------------------------------------------------

_PLACES = {"body": "the request body", "query": "query parameter", "path": "path parameter"}


def _where(loc: Sequence[int | str]) -> str:
    if not loc:
        return "the request"
    source, *rest = loc
    if source == "body":
        if not rest:
            return "the request body"
        return "field " + repr(".".join(str(part) for part in rest))
    if source in ("query", "path", "header", "cookie") and rest:
        kind = {"header": "header", "cookie": "cookie"}.get(str(source), _PLACES[str(source)])
        return f"{kind} {rest[0]!r}"
    return repr(".".join(str(part) for part in loc))


#: How union members (the last part of a pydantic error location) read in a sentence.
_KINDS = {
    "str": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "list[str]": "a list of text",
    "none": "null",
}


#: Pydantic's type errors, as what the value must be.
_TYPE_ERRORS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
}


#: Pydantic's range errors: the ctx key that holds the limit, and the sentence.
_BOUNDS = {
    "string_too_short": ("min_length", "must be at least {} characters long"),
    "string_too_long": ("max_length", "must be at most {} characters long"),
    "too_short": ("min_length", "must have at least {} items"),
    "too_long": ("max_length", "must have at most {} items"),
    "greater_than_equal": ("ge", "must be {} or more"),
    "less_than_equal": ("le", "must be {} or less"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than": ("lt", "must be less than {}"),
}


#: The errors that say a value is not of a union member's type at all; any other error of a
#: member (a rule broken, a length exceeded) means the value was of that type.
_TYPE_MISMATCHES = frozenset(
    {"string_type", "list_type", "dict_type", "model_type", "none_required", "finite_number"}
) | frozenset(_TYPE_ERRORS)


def _member(part: object) -> str | None:
    """The kind of a union member from its tag in an error location ("str", "int",
    "function-after[check(), constrained-str]", "list[function-after[check(), str]]", ...)."""
    if not isinstance(part, str):
        return None
    if part in _KINDS:
        return part
    if part.startswith("list["):
        return "list[str]"
    if part.startswith(("function-after[", "constrained-str")) and part.endswith("str]"):
        return "str"
    return None


def _collapse_unions(problems: Sequence[Any]) -> list[Any]:
    """A value that fits no member of a union gives one error per member (loc ends in "str",
    "int", ...). When the value was of one member's type and broke its rule (text with a NUL,
    a list with a broken item), that error is the one that matters; otherwise they fold into
    one problem that lists what the field takes."""
    grouped: dict[tuple[Any, ...], list[tuple[str | None, Any]]] = {}
    for problem in problems:
        loc = tuple(problem.get("loc", ()))
        at = next((i for i, part in enumerate(loc) if i and _member(part)), None)
        key, tag = (loc[:at], _member(loc[at])) if at is not None else (loc, None)
        if at is not None:
            problem = {**problem, "loc": key + loc[at + 1 :]}
        grouped.setdefault(key, []).append((tag, problem))
    folded: list[Any] = []
    for loc, found in grouped.items():
        tags = [tag for tag, _ in found if tag is not None]
        members = [problem for _, problem in found]
        if len(set(tags)) < 2:
            folded.extend(members)
            continue
        broken = [m for m in members if m.get("type") not in _TYPE_MISMATCHES]
        if broken:
            folded.extend(broken)
            continue
        kinds = [_KINDS[t] for t in dict.fromkeys(tags)]
        if "a number" in kinds and "a whole number" in kinds:
            kinds.remove("a whole number")
        wanted = "one of: " + ", ".join(kinds)
        note = ""
        if any(m.get("type") == "finite_number" for m in members):
            note = " (NaN and Infinity are not numbers JSON can carry)"
        folded.append({"type": "union", "loc": loc, "msg": f"must be {wanted}{note}"})
    return folded


def describe_validation(problems: Sequence[Any]) -> str:
    """FastAPI's list of validation errors as sentences a person can act on."""
    problems = _collapse_unions(problems)
    sentences = [_sentence(problem) for problem in problems[:5]]
    if len(problems) > 5:
        sentences.append(f"(and {len(problems) - 5} more problems)")
    return " ".join(sentences) + " The fields each endpoint takes are listed at /docs."


def _sentence(problem: Any) -> str:
    """One validation error as a sentence naming the field."""
    kind = problem.get("type", "")
    where = _where(problem.get("loc", ()))
    ctx = problem.get("ctx") or {}
    subject = f"{where[0].upper()}{where[1:]}"
    if where == "the request body" and kind in _BODY_SENTENCES:
        return _BODY_SENTENCES[kind]
    if kind == "json_invalid":
        detail = ctx.get("error", "")
        return "The request body is not valid JSON" + (f" ({detail})." if detail else ".")
    if kind in _TYPE_ERRORS:
        return f"{subject} must be {_TYPE_ERRORS[kind]}."
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return f"{subject} must not be empty."
    if kind in _BOUNDS:
        return f"{subject} {_BOUNDS[kind][1].format(ctx.get(_BOUNDS[kind][0]))}."
    simple = {
        "union": f"{problem.get('msg')}",
        "missing": "is required",
        "extra_forbidden": "is not something this endpoint takes",
        "string_unicode": (
            "contains a broken character (a lone surrogate), which cannot be saved; remove it"
        ),
        "text_rule": problem.get("msg", "is not valid"),
        "literal_error": f"must be {ctx.get('expected', '')}",
    }
    if kind in simple:
        return f"{subject} {simple[kind]}."
    message = str(problem.get("msg", "is not valid")).rstrip(".")
    return f"{subject}: {message}."


#: What a problem with the whole request body means, by its kind.
_BODY_SENTENCES = {
    "missing": "The request needs a JSON body.",
    "model_attributes_type": "The request body must be a JSON object.",
    "dict_type": "The request body must be a JSON object.",
}
