"""Running the app under uvicorn (uvloop + httptools): one process, or several workers."""

from __future__ import annotations

import copy
import logging
import socket
from typing import Any

import uvicorn
from uvicorn._types import ASGISendEvent
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.supervisors import Multiprocess

from hawker.config import Settings
from hawker.web.app import create_app


class SocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, but it lets go of the handshake's request and
    response once the socket is open: a crowd holds tens of thousands of sockets, and each
    would otherwise keep both, headers and all, for as long as it lives."""

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            self.request = self.response = None  # type: ignore[assignment]


class QuietSockets(logging.Filter):
    """Drops what uvicorn and websockets log for every WebSocket on uvicorn's error log
    (opened, accepted or refused, closed): access lines in all but name, and a crowd's
    worth of them costs a worker 7% of its CPU while viewers join."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return message not in ("connection open", "connection closed") and not (
            message.startswith('%s - "WebSocket %s"')
        )


def log_config(*, access_log: bool) -> dict[str, Any]:
    """uvicorn's logging, less the per-socket lines when access lines are off. Applied in
    every worker process, which `hawker serve`'s own logging set-up does not reach."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    if not access_log:
        config["filters"] = {"quiet_sockets": {"()": QuietSockets}}
        config["loggers"]["uvicorn.error"]["filters"] = ["quiet_sockets"]
    return config


def options(settings: Settings, **overrides: object) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "ws": SocketProtocol,
        # Over this a frame closes the socket with 1009.
        "ws_max_size": settings.max_ws_frame_bytes,
        # No permessage-deflate: its compressor and decompressor hold ~45 KiB per socket
        # (twice all the rest of a viewer), and room frames are written pre-framed, once.
        "ws_per_message_deflate": False,
        # Heartbeats find dead connections (a phone that lost signal) within ~40 s.
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "log_level": "info",
        "log_config": log_config(access_log=overrides.get("access_log") is not False),
        **overrides,
    }


def config(settings: Settings, **overrides: object) -> uvicorn.Config:
    return uvicorn.Config(create_app(settings), **options(settings, **overrides))


def run(settings: Settings) -> None:
    uvicorn.Server(config(settings)).run()


def run_workers(settings: Settings, workers: int, **overrides: object) -> None:
    """`workers` processes, each with a listener of its own on the same port. Each builds
    its own app from the HAWKER_* environment; Redis (bus, gate) and the database are what
    they share, so run several only with HAWKER_REDIS_URL set (the in-process gate is per
    process). uvicorn's supervisor starts them, restarts one that dies and stops them all."""
    config = uvicorn.Config(
        "hawker.web.app:create_app",
        factory=True,
        workers=workers,
        **options(settings, **overrides),
    )
    Multiprocess(config, sockets=OwnListener(settings.host, settings.port)).run()


class OwnListener(list[socket.socket]):
    """What uvicorn's supervisor hands each worker it starts as its listening sockets: in
    the supervisor, nothing; in the worker, where it is unpickled, a listener of the
    worker's own, bound with SO_REUSEPORT. One listener shared by all the workers lets
    whichever wakes first take each connection, so a crowd that joins at once lands mostly
    on one worker (25/75 with two); with a listener each, the kernel spreads the
    connections evenly over the workers that are up, and one that died takes none."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self.host, self.port = host, port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return listen_reusing_port, (self.host, self.port)


def listen_reusing_port(host: str, port: int) -> list[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    # Not listening yet: the server listens once the app has started, and until then the
    # kernel sends this worker no one (a worker restarting takes no connections it would
    # leave waiting).
    return [sock]
