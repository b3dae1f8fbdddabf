"""The camera socket, `/ws/ingest/{show_id}`: the host console's "Go live with camera".

Signed in like the room socket (the session cookie from our own pages, or a bearer token);
only who may manage the show (its host, the host's agency, an admin) may publish. The
server speaks first, in JSON text frames:

- `{"type": "ready", "max_frame_bytes", "keyframe_interval_ms", "max_pixels", "max_fps"}`:
  publishing was accepted; the browser starts its MediaRecorder and sends the recording as
  binary frames of at most `max_frame_bytes`, in order, from its first byte.
- `{"type": "status", "state", "problem", "segments", "health"}` every couple of seconds.
- `{"type": "error", "code", "message"}` just before the server closes the socket.

Close codes: 4401 not signed in, 4403 not allowed, 4404 no such show, 4400 the bytes are not
a stream the server can carry, 4408 nothing arrived for too long, 4409 refused or replaced
(the show ended, another camera or encoder took over, the stream broke a limit), 1012 the
server is stopping. The browser reconnects after 4408, 1012 and network drops only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hawker.domain.errors import DomainError
from hawker.services.accounts import COOKIE
from hawker.services.context import Context
from hawker.video import browser_ingest
from hawker.video.browser_ingest import StreamError
from hawker.web.auth import authenticate
from hawker.web.ws import MAX_ID, _same_origin

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_BAD_STREAM = 4400
CLOSE_NOT_SIGNED_IN = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_REFUSED = 4409
CLOSE_RESTART = 1012
STATUS_EVERY_S = 2.0
SERVER_STOPPING = "the server is stopping"

_CLOSE_FOR_STATUS = {401: CLOSE_NOT_SIGNED_IN, 403: CLOSE_FORBIDDEN, 404: CLOSE_NOT_FOUND}


async def _refuse(ws: WebSocket, code: int, error: str, message: str) -> None:
    with contextlib.suppress(Exception):  # the browser may already be gone
        await ws.send_text(_frame("error", code=error, message=message))
        await ws.close(code, error)


def _frame(type_: str, **data: Any) -> str:
    return orjson.dumps({"type": type_, **data}).decode()


def _frame_limit(limit: int) -> int:
    # The server's limit holds on the wire too, and per-message deflate makes compressed
    # video (which does not shrink) a few bytes longer: leave room for that.
    return max(1024, limit - 1024)


def _status(session: browser_ingest.CameraSession) -> str:
    stream = session.stream
    if stream is None:
        return _frame("status", state="offline", problem=None, segments=0, health=None)
    status = stream.status()
    health = status["health"] or {}
    keep = ("bitrate_kbps", "fps", "width", "height", "video_codec", "audio_codec", "transcoding")
    return _frame(
        "status",
        state=status["state"],
        problem=status["problem"],
        segments=status["segments"],
        health={k: health.get(k) for k in keep},
    )


@router.websocket("/ws/ingest/{show_id}")
async def camera_socket(ws: WebSocket, show_id: int) -> None:
    ctx: Context = ws.app.state.ctx
    found = await authenticate(
        ctx,
        authorization=ws.headers.get("authorization"),
        cookie=ws.cookies.get(COOKIE) if _same_origin(ws) else None,
    )
    await ws.accept()
    if found is None:
        await _refuse(ws, CLOSE_NOT_SIGNED_IN, "not_signed_in", "sign in as the show's host")
        return
    if not 1 <= show_id <= MAX_ID:
        await _refuse(ws, CLOSE_NOT_FOUND, "show_not_found", f"no show {show_id}")
        return
    client = ws.client
    peer = f"browser {client.host}:{client.port}" if client else "browser"
    stop = asyncio.Event()
    try:
        session = await browser_ingest.start(
            ctx, found.actor, show_id, peer=peer, on_disconnect=lambda _: stop.set()
        )
    except DomainError as exc:
        await _refuse(ws, _CLOSE_FOR_STATUS.get(exc.status, CLOSE_REFUSED), exc.code, exc.message)
        return

    settings = ctx.settings
    reason, code, error = "the camera disconnected", 1000, ""
    try:
        await ws.send_text(
            _frame(
                "ready",
                show_id=show_id,
                max_frame_bytes=_frame_limit(settings.max_ws_frame_bytes),
                keyframe_interval_ms=round(settings.segment_seconds * 1000),
                max_pixels=settings.video_max_pixels,
                max_fps=settings.video_max_fps,
            )
        )
        reason, code, error = await _receive(ws, session, stop, settings.ingest_idle_s)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass
    finally:
        await browser_ingest.stop(session, reason)
    if ws.application_state != WebSocketState.DISCONNECTED and code != 1000:
        await _refuse(ws, code, error, session.reason or reason)
    else:
        with contextlib.suppress(Exception):
            await ws.close(1000, "bye")


async def _receive(
    ws: WebSocket, session: browser_ingest.CameraSession, stop: asyncio.Event, idle_s: float
) -> tuple[str, int, str]:
    """Pass the recording on until the browser leaves or the server ends the session.

    Returns why it ended: (reason, close code, error code).
    """
    stopping = asyncio.create_task(stop.wait())
    last_status = time.monotonic()
    try:
        while True:
            receiving = asyncio.create_task(ws.receive())
            done, _ = await asyncio.wait(
                {receiving, stopping}, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED
            )
            if stopping in done or receiving not in done:
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await receiving
                if stopping not in done:
                    return "the camera stopped sending", CLOSE_IDLE, "idle"
                if session.reason == SERVER_STOPPING:
                    return session.reason, CLOSE_RESTART, "server_stopping"
                return session.reason, CLOSE_REFUSED, "stream_refused"
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                return "the camera disconnected", 1000, ""
            data = message.get("bytes")
            if data:
                try:
                    session.feed(data)
                except StreamError as exc:
                    log.info("show camera %s: %s", session.peer, exc)
                    session.fail(str(exc))
                    return f"camera: {exc}", CLOSE_BAD_STREAM, "bad_stream"
            if time.monotonic() - last_status >= STATUS_EVERY_S:
                last_status = time.monotonic()
                await ws.send_text(_status(session))
    finally:
        stopping.cancel()
