"""The app factory: REST under /api/v1, the room socket, pages, static files and media."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from hawker import __version__
from hawker.config import Settings
from hawker.services import context
from hawker.web import analytics as analytics_pages
from hawker.web import business as business_pages
from hawker.web import competitions as competition_pages
from hawker.web import errors, ingest_ws, media, pages, studio, ws
from hawker.web import operator as operator_pages
from hawker.web import schedules as schedule_pages
from hawker.web.api import accounts, business, catalog, checkout, competitions, shows
from hawker.web.api import analytics as analytics_api
from hawker.web.api import rates as rates_api
from hawker.web.api import schedules as schedules_api
from hawker.web.fastbuy import FastBuy

STATIC = Path(__file__).parent / "static"


class HawkerApp(FastAPI):
    """FastAPI with the buy call of a flash sale (web/fastbuy.py) and the room socket
    (web/ws.py) answered in front of it: in front, not as a middleware, because FastAPI's
    own entry point (its telemetry hook, the middleware stack) costs a buy in a stampede a
    share of its CPU before any of it runs, and keeps its frames alive with every socket.
    """

    fast: FastBuy | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and ws.show_id_of(scope["path"]) is not None:
            await ws.show_socket(self.state.ctx, scope, receive, send)
        elif self.fast is None:
            await super().__call__(scope, receive, send)
        else:
            await self.fast(scope, receive, send)

    async def _behind(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def tune_gc() -> None:
    """A worker holds thousands of sockets, a hundred or so objects each, and a full
    collection walks every one with the process stopped: 130 to 390 ms at 5,000 viewers, long
    enough to hold up a pin. What startup built is frozen out of the walks; the youngest
    generation is collected less often, so that what lives a moment (events, a request's
    objects) dies young instead of reaching the oldest; and a full collection waits for ten
    times as many collections of the middle one as by default."""
    gc.freeze()
    gc.set_threshold(5_000, 10, 100)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    ctx = context.build_context(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await context.start(ctx)
        if settings.gc_tuning:
            tune_gc()
        try:
            yield
        finally:
            await context.stop(ctx)

    app = HawkerApp(
        title="Hawker",
        version=__version__,
        summary="Live shopping: shows, shelves, chat and requests by number.",
        description=(
            "Sign in with `POST /api/v1/auth/token` and send `Authorization: Bearer <token>`. "
            'Errors are `{"error": {"code", "message"}}`. The room\'s live events come over '
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
    for router in (
        accounts.router,
        catalog.router,
        shows.router,
        checkout.router,
        business.router,
        competitions.router,
        schedules_api.router,
        analytics_api.router,
        rates_api.router,
    ):
        app.include_router(router, prefix="/api/v1")
    app.include_router(ingest_ws.router)
    app.include_router(pages.router)
    app.include_router(studio.router)
    app.include_router(business_pages.router)
    app.include_router(competition_pages.router)
    app.include_router(operator_pages.router)
    app.include_router(schedule_pages.router)
    app.include_router(analytics_pages.router)
    app.include_router(media.router)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/media", StaticFiles(directory=settings.media_dir), name="media")
    # The route in web/api/checkout.py stays: it is what the OpenAPI description shows and
    # what answers the calls the fast path hands on (cookie sign-in, bodies to refuse).
    app.fast = FastBuy(app._behind, ctx)
    return app
