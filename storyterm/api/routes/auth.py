"""/api/auth: trade a username and password for a bearer token, and revoke it again."""

from __future__ import annotations

from fastapi import APIRouter, Response

from storyterm.api.deps import AccountDep, RuntimeDep, TokenDep
from storyterm.api.errors import errors
from storyterm.api.schemas import LoginRequest, LoginResponse

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post(
    "/login",
    summary="Log in",
    description=(
        "The same accounts as the app (`storyterm register` makes one). The token works until it "
        "expires or is logged out; send it as `Authorization: Bearer <token>`."
    ),
    response_model=LoginResponse,
    responses=errors(401, 429, 503),
)
def login(body: LoginRequest, runtime: RuntimeDep) -> LoginResponse:
    account, token = runtime.identity.login(body.username, body.password)
    return LoginResponse(token=token, username=account.username)


@router.post(
    "/logout",
    summary="Log out",
    description="Revokes the bearer token this request carries; it stops working everywhere.",
    status_code=204,
    response_class=Response,
    responses={204: {"description": "Logged out."}, **errors(401, 503)},
)
def logout(token: TokenDep, _account: AccountDep, runtime: RuntimeDep) -> Response:
    runtime.identity.logout(token)
    return Response(status_code=204)
