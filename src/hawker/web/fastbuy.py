"""The buy call without FastAPI's per-request machinery: the hot path of a flash sale.

In a stampede `POST /api/v1/shows/{show_id}/orders` is nearly every request, and FastAPI
spends about as much CPU on each (middleware, routing through every route, dependency
solving, body and response validation) as the buy itself. This ASGI middleware answers that
one call first, with the same checks and the same answers, and hands everything else on.

It only takes what it can answer exactly like the FastAPI route: a bearer-signed call whose
path and JSON body are plainly valid. Anything else (a cookie-signed call with its CSRF
token, a body the route would refuse with 422, another content type) goes on to the route,
which stays registered and is what the OpenAPI description shows, and which gives the
validation errors their usual wording.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hawker.domain.errors import DomainError
from hawker.domain.roles import ANONYMOUS
from hawker.services import checkout
from hawker.services.context import Context
from hawker.web.api.schemas import MAX_ID
from hawker.web.auth import authenticate, bearer_token
from hawker.web.errors import error_body, outage, retry_headers

_PATH = re.compile(r"/api/v1/shows/([1-9][0-9]{0,18})/orders")
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_FIELDS = frozenset(
    {"listing_id", "variant_id", "quantity", "idempotency_key", "coupon_code", "quote_fingerprint"}
)
# Bodies of a buy are a few hundred bytes; a bigger one is left to the route's own handling.
_MAX_BODY = 4096
_JSON_HEADERS = [(b"content-type", b"application/json")]


class FastBuy:
    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        show_id = int(match[1])
        authorization = content_type = None
        for name, value in scope["headers"]:
            # The first of a repeated header counts, as `request.headers.get` has it.
            if name == b"authorization" and authorization is None:
                authorization = value
            elif name == b"content-type" and content_type is None:
                content_type = value
        token = bearer_token(authorization.decode("latin-1")) if authorization else None
        if token is None or show_id > MAX_ID or not _is_json(content_type):
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        fields = None if body is None else _buy_fields(body)
        if fields is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        await self._buy(show_id, fields, authorization, send)

    async def _buy(
        self, show_id: int, fields: dict[str, Any], authorization: bytes | None, send: Send
    ) -> None:
        ctx = self.ctx
        try:
            found = await authenticate(
                ctx,
                authorization=authorization.decode("latin-1") if authorization else None,
                cookie=None,
            )
            order, created = await checkout.do_buy(
                ctx,
                found.actor if found is not None else ANONYMOUS,
                show_id,
                listing_id=fields["listing_id"],
                variant_id=fields.get("variant_id"),
                quantity=fields.get("quantity", 1),
                idempotency_key=fields["idempotency_key"],
                coupon_code=fields.get("coupon_code"),
                quote_fingerprint=fields.get("quote_fingerprint"),
            )
        except DomainError as exc:
            await _refuse(send, exc)
            return
        except IntegrityError:
            # As web/errors.py answers it for the route.
            await _answer(
                send,
                409,
                error_body("conflict", "that conflicts with something just saved; try again"),
                _JSON_HEADERS,
            )
            return
        except Exception as exc:
            # The database or Redis out of reach: 503, as web/errors.py answers the route.
            unavailable = outage(exc)
            if unavailable is None:
                raise
            await _refuse(send, unavailable)
            return
        await _answer(send, 201 if created else 200, order, _JSON_HEADERS)


async def _refuse(send: Send, exc: DomainError) -> None:
    headers = list(_JSON_HEADERS)
    headers += [(k.lower().encode(), v.encode()) for k, v in retry_headers(exc).items()]
    await _answer(send, exc.status, error_body(exc.code, exc.message, **exc.details()), headers)


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    main = content_type.split(b";", 1)[0].strip().lower()
    return main == b"application/json"


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole body, or None if it is too big or the client went away; and the messages
    read, so that the route can be given the request as it came."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def again() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return again


def _buy_fields(body: bytes) -> dict[str, Any] | None:
    """The body's fields if BuyIn would take them as they are, else None (the route then
    answers, with its own 422 wording). Narrower than BuyIn on purpose: whatever is odd
    (leading zeros, NUL, huge numbers) is the route's to judge."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= _FIELDS:
        return None
    if not _is_id(data.get("listing_id")):
        return None
    variant_id = data.get("variant_id")
    if variant_id is not None and not _is_id(variant_id):
        return None
    # Strict int, as BuyIn: its range is checked by the service (422 invalid_quantity).
    if "quantity" in data and type(data["quantity"]) is not int:
        return None
    key = data.get("idempotency_key")
    if type(key) is not str or _KEY.fullmatch(key) is None:
        return None
    for name, most in (("coupon_code", 64), ("quote_fingerprint", 80)):
        value = data.get(name)
        if value is not None and not (
            type(value) is str and len(value) <= most and _storable(value)
        ):
            return None
    return data


def _is_id(value: Any) -> bool:
    return type(value) is int and 1 <= value <= MAX_ID


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def _answer(
    send: Send, status: int, content: Any, headers: list[tuple[bytes, bytes]]
) -> None:
    body = orjson.dumps(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
