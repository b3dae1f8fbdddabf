"""Running the app under uvicorn (uvloop + httptools)."""

from __future__ import annotations

import uvicorn

from hawker.config import Settings
from hawker.web.app import create_app


def config(settings: Settings, **overrides: object) -> uvicorn.Config:
    options: dict[str, object] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        # Over this a frame closes the socket with 1009.
        "ws_max_size": settings.max_ws_frame_bytes,
        # Heartbeats find dead connections (a phone that lost signal) within ~40 s.
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "log_level": "info",
        **overrides,
    }
    return uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]


def run(settings: Settings) -> None:
    uvicorn.Server(config(settings)).run()
