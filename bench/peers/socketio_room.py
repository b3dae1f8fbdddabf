"""Peer 2 of bench/fanout.py: python-socketio with its Redis manager and a room per show.

What its documentation shows for more than one process: an `AsyncServer` whose
`client_manager` is an `AsyncRedisManager`, so an `emit(..., room=...)` made on one worker
reaches the room's sockets on every worker; the ASGI app runs under uvicorn with several
workers. Clients join with `/socket.io/?EIO=4&transport=websocket&show=<id>` (WebSocket
only, so no sticky sessions are needed) and are put in the show's room on connect; every
event a client sends (chat, like, pin, deal, stock) is emitted to the room as it came.

    SOCKETIO_REDIS_URL=redis://127.0.0.1:6379/9 SOCKETIO_CHANNEL=socketio \
        uvicorn --app-dir bench/peers socketio_room:app --workers 2
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs

import socketio

mgr = socketio.AsyncRedisManager(
    os.environ.get("SOCKETIO_REDIS_URL", "redis://127.0.0.1:6379/0"),
    channel=os.environ.get("SOCKETIO_CHANNEL", "socketio"),
)
sio = socketio.AsyncServer(async_mode="asgi", client_manager=mgr)
app = socketio.ASGIApp(sio)


def _room(environ: dict[str, Any]) -> str:
    show = parse_qs(environ.get("QUERY_STRING", "")).get("show", ["0"])[0]
    return f"show:{show}"


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    room = _room(environ)
    await sio.save_session(sid, {"room": room})
    await sio.enter_room(sid, room)


async def _relay(event: str, sid: str, data: Any) -> None:
    session = await sio.get_session(sid)
    await sio.emit(event, data, room=session["room"])


@sio.on("chat")
async def chat(sid: str, data: Any) -> None:
    await _relay("chat", sid, data)


@sio.on("like")
async def like(sid: str, data: Any) -> None:
    await _relay("like", sid, data)


@sio.on("pin")
async def pin(sid: str, data: Any) -> None:
    await _relay("pin", sid, data)


@sio.on("deal")
async def deal(sid: str, data: Any) -> None:
    await _relay("deal", sid, data)


@sio.on("stock")
async def stock(sid: str, data: Any) -> None:
    await _relay("stock", sid, data)
