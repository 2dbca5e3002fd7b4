"""How large a request body may be, and the middleware that refuses a larger one before it is
read whole.

One limit for every route, MAX_BODY_BYTES (1 MiB), is far above the largest body a writer
sends (a story bible of a few dozen fields, each at most MAX_METADATA_VALUE characters; a
direction of at most MAX_DIRECTION: core/basics.py), and login, the one route anyone can call
without a token, takes at most LOGIN_BODY_BYTES (64 KiB: a 64-character username and a
1,024-character password, even written entirely as \\uXXXX escapes, are under 15 KiB). A route
that one day takes a whole part (up to 1,000,000 characters: about 4 MB of UTF-8, or 12 MB as
JSON escapes) gets its own entry in ROUTE_LIMITS.

A body is refused with 413 and the API's JSON error shape: by its Content-Length before any
route runs, and otherwise (a chunked body) by counting the bytes as the route reads them, so
at most the limit plus one chunk is ever held. FastAPI has its own `max_body_size` now, but
its 413 is plain text whenever a Content-Length is over the limit (it replaces whatever the
app answers), and a route without a body runs before its check; hence this small middleware.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
LOGIN_BODY_BYTES = 64 * 1024
#: Limits of single routes, by path, where they differ from MAX_BODY_BYTES.
ROUTE_LIMITS = {"/api/auth/login": LOGIN_BODY_BYTES}


class BodyTooLarge(HTTPException):
    """A body past `limit` bytes (the API's error handler answers it with the JSON shape)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, headers={"Connection": "close"})
        self.limit = limit


class BodyLimit:
    """Refuse request bodies over their route's limit, up front or while they arrive."""

    def __init__(
        self, app: ASGIApp, limit: int = MAX_BODY_BYTES, routes: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.routes = ROUTE_LIMITS if routes is None else routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(limit, scope, receive, send)
            return
        if not _chunked(scope):
            # The server hands over no more than a declared length, and a request with neither
            # a length nor chunks has no body: only a chunked body needs counting. (Counting
            # wraps `send` too, one more call for every frame of a streamed answer.)
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Raised where no error handler answered it (they normally do, with the same body).
            if started:
                raise
            await _refuse(limit, scope, receive, send)


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    from storyterm.api.errors import too_large_response

    await too_large_response(limit)(scope, receive, send)


def _chunked(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return b"chunked" in value.lower()
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server itself refuses a malformed length
    return None
