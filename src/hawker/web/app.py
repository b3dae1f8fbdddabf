"""The app factory: REST under /api/v1, the room socket, pages, static files and media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hawker import __version__
from hawker.config import Settings
from hawker.services import context
from hawker.web import errors, ingest_ws, media, pages, studio, ws
from hawker.web.api import accounts, catalog, checkout, shows

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    ctx = context.build_context(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await context.start(ctx)
        try:
            yield
        finally:
            await context.stop(ctx)

    app = FastAPI(
        title="Hawker",
        version=__version__,
        summary="Live shopping: shows, shelves, chat and requests by number.",
        description=(
            "Sign in with `POST /api/v1/auth/token` and send `Authorization: Bearer <token>`. "
            "Errors are `{\"error\": {\"code\", \"message\"}}`. The room's live events come over "
            "the WebSocket `/ws/shows/{show_id}`."
        ),
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    pages.install(app)  # after errors.install: pages get HTML error pages
    for router in (accounts.router, catalog.router, shows.router, checkout.router):
        app.include_router(router, prefix="/api/v1")
    app.include_router(ws.router)
    app.include_router(ingest_ws.router)
    app.include_router(pages.router)
    app.include_router(studio.router)
    app.include_router(media.router)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/media", StaticFiles(directory=settings.media_dir), name="media")
    return app
