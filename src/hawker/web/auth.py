"""Who is asking: a bearer token (API) or a session cookie (pages, with CSRF)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from hawker.domain.errors import Forbidden
from hawker.domain.roles import ANONYMOUS, Actor
from hawker.services.accounts import COOKIE, Authenticated, access_session
from hawker.services.context import Context

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def bearer_token(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return None


async def authenticate(
    ctx: Context, *, authorization: str | None, cookie: str | None
) -> Authenticated | None:
    token = bearer_token(authorization)
    if token is not None:
        found = await access_session(ctx, token)
        return found if found and found.kind == "token" else None
    if cookie:
        found = await access_session(ctx, cookie)
        return found if found and found.kind == "cookie" else None
    return None


async def current(request: Request) -> Authenticated | None:
    if "auth" not in request.state._state:
        request.state.auth = await authenticate(
            get_ctx(request),
            authorization=request.headers.get("authorization"),
            cookie=request.cookies.get(COOKIE),
        )
    found: Authenticated | None = request.state.auth
    return found


async def actor(request: Request) -> Actor:
    """The actor of an API call. Cookie-signed calls that change state need the CSRF token."""
    found = await current(request)
    if found is None:
        return ANONYMOUS
    if found.kind == "cookie" and request.method not in SAFE_METHODS:
        check_csrf(found, request.headers.get(CSRF_HEADER))
    return found.actor


def check_csrf(found: Authenticated, given: str | None) -> None:
    if not given or not hmac.compare_digest(given, found.csrf_token):
        raise Forbidden("missing or wrong CSRF token; reload the page", code="csrf_failed")


async def _ctx(request: Request) -> Context:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, and that
    # hop cost more than the rest of a buy in a flash sale.
    return get_ctx(request)


CtxDep = Annotated[Context, Depends(_ctx)]
ActorDep = Annotated[Actor, Depends(actor)]
