"""Every failure the API answers with, as one JSON shape: {"error": {"code", "message"}}.

The core's StorytermError kinds carry their own status and code; FastAPI's validation errors and
Starlette's routing errors are reshaped into the same body; anything else is a 500 with a
generic message (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from storyterm.core.errors import AuthError, InvalidToken, StorytermError

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
            "internal."
        ),
        examples=["not_found"],
    )
    message: str = Field(
        description="What happened and what to do about it.",
        examples=["No story session 'abc' here. Check the id with `storyterm sessions`."],
    )


class ErrorResponse(BaseModel):
    """The body of every answer that is not a success."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


# -- OpenAPI: the error answers each route documents ----------------------------------------

_DESCRIPTIONS: dict[int, str] = {
    401: "Missing, malformed, expired or revoked bearer token: log in again.",
    404: "No such session for this account (another writer's session looks exactly the same).",
    409: "The move is not possible in the session's status, or another client won a race.",
    429: "Too many wrong passwords in a row: wait `Retry-After` seconds before trying again.",
    422: "The request is not usable: a missing or malformed field, or a value the rules refuse.",
    500: "An unexpected failure (the details are in the server's log), or export files could "
    "not be written.",
    503: "The database or Ollama cannot be reached.",
}


def errors(*statuses: int, streaming: bool = False) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each listed status documented with the error body.

    Every route can answer 422 (malformed request) and 500 (unexpected failure), so those are
    always included. FastAPI files a response `model` under the route's own media type, which
    for a streaming route is text/event-stream; its errors are JSON, so they are spelt out.
    """
    wanted: Sequence[int] = sorted({*statuses, 422, 500})
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
        message = (
            f"{request.url.path} does not take {request.method}. The endpoints and their "
            "methods are listed at /docs."
        )
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


def _collapse_unions(problems: Sequence[Any]) -> list[Any]:
    """A value that fits no member of a union gives one error per member (loc ends in "str",
    "int", ...): fold those into one problem that lists what the field takes."""
    grouped: dict[tuple[Any, ...], list[tuple[str | None, Any]]] = {}
    for problem in problems:
        loc = tuple(problem.get("loc", ()))
        at = next((i for i, part in enumerate(loc) if i and part in _KINDS), None)
        key, tag = (loc[:at], loc[at]) if at is not None else (loc, None)
        grouped.setdefault(key, []).append((tag, problem))
    folded: list[Any] = []
    for loc, found in grouped.items():
        tags = [tag for tag, _ in found if tag is not None]
        members = [problem for _, problem in found]
        if len(set(tags)) < 2:
            folded.extend(members)
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
    sentences: list[str] = []
    for problem in problems[:5]:
        kind = problem.get("type", "")
        where = _where(problem.get("loc", ()))
        if kind == "union":
            sentences.append(f"{where[0].upper()}{where[1:]} {problem['msg']}.")
        elif kind == "missing":
            if where == "the request body":
                sentences.append("The request needs a JSON body.")
            else:
                sentences.append(f"{where[0].upper()}{where[1:]} is required.")
        elif kind == "json_invalid":
            detail = (problem.get("ctx") or {}).get("error", "")
            sentences.append(
                "The request body is not valid JSON" + (f" ({detail})." if detail else ".")
            )
        elif kind == "extra_forbidden":
            sentences.append(f"{where[0].upper()}{where[1:]} is not something this endpoint takes.")
        elif kind in ("model_attributes_type", "dict_type") and where == "the request body":
            sentences.append("The request body must be a JSON object.")
        elif kind in _TYPE_ERRORS:
            sentences.append(f"{where[0].upper()}{where[1:]} must be {_TYPE_ERRORS[kind]}.")
        elif kind == "literal_error":
            expected = (problem.get("ctx") or {}).get("expected", "")
            sentences.append(f"{where[0].upper()}{where[1:]} must be {expected}.")
        else:
            message = str(problem.get("msg", "is not valid")).rstrip(".")
            sentences.append(f"{where[0].upper()}{where[1:]}: {message}.")
    if len(problems) > 5:
        sentences.append(f"(and {len(problems) - 5} more problems)")
    return " ".join(sentences) + " The fields each endpoint takes are listed at /docs."
