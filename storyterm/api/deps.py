"""What routes depend on: the runtime the app was built with, and the verified account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from storyterm.core.identity.accounts import Account
from storyterm.core.runtime import Runtime
from storyterm.errors import AuthError

bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="The token from POST /api/auth/login (the same accounts as the app).",
)

NOT_LOGGED_IN = (
    "Log in first: POST /api/auth/login with your username and password, then send the token "
    "as `Authorization: Bearer <token>`."
)


# The dependencies that do not wait on anything are `async def`: FastAPI runs a plain `def`
# dependency in the threadpool, a thread hop (and a wait for the GIL and the event loop) for
# every request, which under load cost more than the call itself.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def bearer_token(credentials: Credentials) -> str:
    """The raw token from `Authorization: Bearer ...`, or AuthError."""
    if credentials is None or not credentials.credentials.strip():
        raise AuthError(NOT_LOGGED_IN)
    return credentials.credentials.strip()


TokenDep = Annotated[str, Depends(bearer_token)]


def current_account(runtime: RuntimeDep, token: TokenDep) -> Account:
    """The account the bearer token belongs to (a plain `def`: verifying may read the database,
    so FastAPI runs it in the threadpool)."""
    return runtime.identity.verify(token)


AccountDep = Annotated[Account, Depends(current_account)]
