"""The room socket, `/ws/shows/{show_id}`: a snapshot first, then the show's events.

Client frames are JSON objects with a `type` and an optional `ref` echoed in the reply:
`chat.send {body}`, `like {count}`, `resync`, `ping`, and for staff `shelf.pin {listing_id}`,
`shelf.unpin`, `chat.hide {message_id}`. A bad frame gets an `error` frame and the socket
stays open; a frame over the size limit closes it with 1009.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import orjson
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from hawker.domain.errors import DomainError, InvalidInput
from hawker.domain.roles import ANONYMOUS, Actor, is_staff
from hawker.live import events
from hawker.live.hub import Connection, Transport
from hawker.services import chat, checkout, coupons, rooms, shelf
from hawker.services.accounts import COOKIE
from hawker.services.context import Context
from hawker.web.auth import authenticate
from hawker.web.errors import close_socket, outage

log = logging.getLogger(__name__)
_PATH = re.compile(r"/ws/shows/([0-9]{1,30})")

CLOSE_TOO_BIG = 1009
CLOSE_NOT_FOUND = 4404
CLOSE_BANNED = 4403


def _same_origin(ws: WebSocket) -> bool:
    """A cookie must only sign in a socket opened by our own pages (no cross-site hijack)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    return urlparse(origin).netloc == ws.headers.get("host")


class Room:
    """One viewer's socket in one show."""

    def __init__(self, ctx: Context, ws: WebSocket, actor: Actor, show_id: int) -> None:
        self.ctx = ctx
        self.ws = ws
        self.actor = actor
        self.show_id = show_id
        self.connection: Connection | None = None

    async def send(self, text: str) -> None:
        await self.ws.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await self.ws.close(code, reason)

    async def send_snapshot(self) -> None:
        assert self.connection is not None
        # Held, the connection queues what the room sends meanwhile: nothing older than
        # the snapshot goes out after it, nothing newer is lost.
        self.connection.hold()
        try:
            snapshot = await rooms.build_snapshot(self.ctx, self.actor, self.show_id)
            await self.connection.send_now(
                events.encode(events.ROOM_SNAPSHOT, snapshot, seq=snapshot["seq"])
            )
        finally:
            self.connection.start()

    def reply(self, type_: str, data: dict[str, Any]) -> None:
        assert self.connection is not None
        self.connection.send_direct(events.encode(type_, data))

    async def handle(self, raw: str) -> None:
        ref: Any = None
        try:
            try:
                frame = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput("a frame is a JSON object", code="malformed_frame") from exc
            if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
                raise InvalidInput('a frame is a JSON object with a "type"', code="malformed_frame")
            ref = frame.get("ref")
            if ref is not None and not isinstance(ref, (str, int)):
                ref = None
            handler = _HANDLERS.get(frame["type"])
            if handler is None:
                raise InvalidInput(
                    f"unknown frame type {frame['type'][:40]!r}", code="unknown_type"
                )
            result = await handler(self, frame)
            if result is not None and ref is not None:
                self.reply(events.ACK, {"ref": ref, **result})
        except DomainError as exc:
            extra: dict[str, Any] = {}
            retry = getattr(exc, "retry_after", None)
            if retry is not None:
                extra["retry_after"] = round(retry, 1)
            assert self.connection is not None
            self.connection.send_direct(events.error_frame(exc.code, exc.message, ref=ref, **extra))
        except Exception as exc:
            # One frame that fails (a database hiccup) must not end the viewer's session.
            down = outage(exc)  # the database or Redis out of reach: "service_unavailable"
            if down is None:
                log.exception("room frame failed in show %s", self.show_id)
            assert self.connection is not None
            self.connection.send_direct(
                events.error_frame(down.code, down.message, ref=ref, retry_after=1)
                if down
                else events.error_frame("internal", "the server failed; try again", ref=ref)
            )


# Ids beyond a 64-bit column cannot be looked up; refused here like any bad frame.
MAX_ID = 2**62


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_ID:
        raise InvalidInput(f'"{key}" must be a positive whole number', code="malformed_frame")
    return value


async def _chat_send(room: Room, frame: dict[str, Any]) -> dict[str, Any]:
    body = frame.get("body")
    if not isinstance(body, str):
        raise InvalidInput('"body" must be text', code="malformed_frame")
    message = await chat.do_send_message(room.ctx, room.actor, room.show_id, body)
    return {"id": message["id"]}


async def _like(room: Room, frame: dict[str, Any]) -> dict[str, Any]:
    count = frame.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool):
        raise InvalidInput('"count" must be a whole number', code="malformed_frame")
    await chat.do_like(room.ctx, room.actor, room.show_id, count)
    return {}


async def _resync(room: Room, _: dict[str, Any]) -> None:
    await room.send_snapshot()


async def _ping(room: Room, frame: dict[str, Any]) -> None:
    room.reply(events.PONG, {"ref": frame.get("ref"), "server_time": events.now_ms()})


async def _pin(room: Room, frame: dict[str, Any]) -> dict[str, Any]:
    item = await shelf.do_pin(room.ctx, room.actor, room.show_id, _int(frame, "listing_id"))
    return {"listing_id": item["id"]}


async def _unpin(room: Room, _: dict[str, Any]) -> dict[str, Any]:
    await shelf.do_unpin(room.ctx, room.actor, room.show_id)
    return {}


async def _hide(room: Room, frame: dict[str, Any]) -> dict[str, Any]:
    await chat.do_hide_message(room.ctx, room.actor, room.show_id, _int(frame, "message_id"))
    return {}


async def _buy(room: Room, frame: dict[str, Any]) -> dict[str, Any]:
    """The fast path of a flash sale: a viewer already connected buys without a new request."""
    key = frame.get("key")
    quantity = frame.get("quantity", 1)
    if not isinstance(key, str) or not isinstance(quantity, int) or isinstance(quantity, bool):
        raise InvalidInput(
            '"key" must be text and "quantity" a whole number', code="malformed_frame"
        )
    variant = frame.get("variant_id")
    order, _ = await checkout.do_buy(
        room.ctx,
        room.actor,
        room.show_id,
        listing_id=_int(frame, "listing_id"),
        variant_id=_int(frame, "variant_id") if variant is not None else None,
        quantity=quantity,
        idempotency_key=key,
    )
    return {"order": order}


async def _claim(room: Room, frame: dict[str, Any]) -> dict[str, Any]:
    coupon = await coupons.do_claim(room.ctx, room.actor, _int(frame, "coupon_id"))
    return {"coupon": coupon}


_HANDLERS: dict[str, Callable[[Room, dict[str, Any]], Awaitable[dict[str, Any] | None]]] = {
    "chat.send": _chat_send,
    "like": _like,
    "resync": _resync,
    "ping": _ping,
    "shelf.pin": _pin,
    "shelf.unpin": _unpin,
    "chat.hide": _hide,
    "buy": _buy,
    "coupon.claim": _claim,
}


def show_id_of(path: str) -> int | None:
    """The show of a room socket's path, `/ws/shows/{show_id}`; None for any other path."""
    match = _PATH.fullmatch(path)
    return int(match[1]) if match else None


def _transport(send: Send) -> Transport | None:
    """The socket under uvicorn's websockets-sansio connection, which the room writes its
    frames to as bytes. On any other server (or WebSocket implementation) the room sends
    through ASGI, one frame at a time."""
    protocol = getattr(send, "__self__", None)
    if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
        return protocol.transport
    return None


async def _admit(ctx: Context, ws: WebSocket, show_id: int) -> tuple[Actor, bool] | None:
    """Who this is and whether they are staff of the show; None when the socket is refused
    (and closed). A separate step so that nothing it reads stays alive with the socket."""
    found = await authenticate(
        ctx,
        authorization=ws.headers.get("authorization"),
        cookie=ws.cookies.get(COOKIE) if _same_origin(ws) else None,
    )
    actor = found.actor if found else ANONYMOUS
    await ws.accept()
    if not 1 <= show_id <= MAX_ID:
        await ws.send_text(events.error_frame("show_not_found", f"no show {show_id}"))
        await ws.close(CLOSE_NOT_FOUND, "show_not_found")
        return None
    try:
        facts, banned = await rooms.access_room(ctx, actor, show_id)
    except DomainError as exc:
        await ws.send_text(events.error_frame(exc.code, exc.message))
        await ws.close(CLOSE_NOT_FOUND, exc.code)
        return None
    if banned:
        await ws.send_text(events.error_frame("banned", "you are banned from this show"))
        await ws.close(CLOSE_BANNED, "banned")
        return None
    return actor, is_staff(actor, facts)


async def show_socket(ctx: Context, scope: Scope, receive: Receive, send: Send) -> None:
    """The room socket as a plain ASGI app, called in front of FastAPI (web/app.py): a
    crowd holds tens of thousands of these open, and each would otherwise keep the
    framework's middleware and routing frames alive for as long as it stays."""
    show_id = show_id_of(scope["path"])
    assert show_id is not None
    ws = WebSocket(scope, receive, send)
    try:
        await _serve(ctx, ws, show_id, receive, send)
    except Exception as exc:
        # As FastAPI's handlers close its sockets: 1013 (try again) if a backend is away.
        await close_socket(ws, exc)


async def _serve(ctx: Context, ws: WebSocket, show_id: int, receive: Receive, send: Send) -> None:
    admitted = await _admit(ctx, ws, show_id)
    if admitted is None:
        return
    actor, staff = admitted
    room = Room(ctx, ws, actor, show_id)
    connection = ctx.hub.connection(
        room.send, room.close, user_id=actor.user_id, staff=staff, transport=_transport(send)
    )
    room.connection = connection
    await ctx.hub.join(show_id, connection)
    try:
        await room.send_snapshot()
        limit = ctx.settings.max_ws_frame_bytes
        while True:
            message = await receive()  # ASGI's own: one frame less held per socket
            # Cut off (too slow, banned): what else it sent has no one to answer to.
            if message["type"] == "websocket.disconnect" or connection.closed:
                break
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(raw) > limit:
                await ws.close(CLOSE_TOO_BIG, "frame too large")
                break
            await room.handle(raw)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        await ctx.hub.leave(show_id, connection)
        with contextlib.suppress(Exception):
            await room.close(1000, "bye")
