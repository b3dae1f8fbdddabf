"""Errors, mapped once: `{"error": {"code": ..., "message": ...}}` with a fitting status."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.websockets import WebSocket, WebSocketState

from hawker.domain.errors import DomainError, Unavailable
from hawker.store.db import unreachable

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "not_signed_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def outage(exc: BaseException) -> Unavailable | None:
    """The answer to an error that says a backend is out of reach (the database, Redis):
    503 `service_unavailable`, try again shortly. None for any other error."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return Unavailable("the live service is reconnecting; try again in a moment")
    if unreachable(exc):
        return Unavailable("the database cannot be reached just now; try again in a moment")
    return None


async def close_socket(ws: WebSocket, exc: Exception) -> None:
    """A socket whose join failed on a backend (its snapshot could not be read): closed with
    1013, try again later, which the room page answers by reconnecting after a while; 1011
    for anything else. Accepted first if need be, so that the client gets the code instead
    of a failed handshake."""
    unavailable = outage(exc)
    if unavailable is None:
        log.error("socket failed: %s", ws.url.path, exc_info=exc)
    else:
        log.warning("socket %s: %s", ws.url.path, exc)
    code, reason = (1011, "the server failed") if unavailable is None else (1013, "try again")
    with contextlib.suppress(Exception):
        if ws.application_state == WebSocketState.CONNECTING:
            await ws.accept()
        if ws.application_state == WebSocketState.CONNECTED:
            await ws.close(code, reason)


def retry_headers(exc: DomainError) -> dict[str, str]:
    retry = getattr(exc, "retry_after", None)
    return {} if retry is None else {"Retry-After": str(max(1, round(retry)))}


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, **exc.details()),
            exc.status,
            headers=retry_headers(exc),
        )

    async def backend_error(request: Request, exc: Exception) -> Response | None:
        # A database or Redis that is away is a 503 the client may retry, never a 500. The
        # handlers are looked up now: pages.install wraps them to answer pages in HTML.
        if request.scope["type"] == "websocket":
            await close_socket(cast(WebSocket, request), exc)
            return None
        handlers = request.app.exception_handlers
        unavailable = outage(exc)
        if unavailable is None:
            log.error("request failed: %s %s", request.method, request.url.path, exc_info=exc)
            fallback = handlers.get(Exception)
            if fallback is None:
                return JSONResponse(error_body("internal", "the server failed; try again"), 500)
            response: Response = await fallback(request, exc)
            return response
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        response = await handlers[DomainError](request, unavailable)
        return response

    for backend in (DBAPIError, PoolTimeout, RedisError):
        # One handler for requests and sockets (Starlette passes either; a socket's gets None).
        app.add_exception_handler(backend, cast(Any, backend_error))

    @app.exception_handler(IntegrityError)
    async def duplicate(_: Request, exc: IntegrityError) -> JSONResponse:
        # The checks before a write catch duplicates one at a time; two requests racing past
        # them meet the database's unique constraint, which is a conflict, not a crash.
        return JSONResponse(
            error_body("conflict", "that conflicts with something just saved; try again"), 409
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
                "problem": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        first = details[0] if details else {"field": "", "problem": "invalid input"}
        message = f"{first['field'] or 'input'}: {first['problem']}"
        return JSONResponse(error_body("invalid_input", message, details=details), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(error_body(code, message), exc.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the methods of
    the first route that matched the path, but one path often has a route per method."""
    routes = request.app.router.routes

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] == Match.FULL for route in routes)

    return [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE") if served(m)]
