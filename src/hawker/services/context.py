"""What every service needs: settings, the database and the live plane.

Built once per process by the app factory (or a CLI command) and passed in explicitly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from hawker.config import Settings
from hawker.domain.chat import ChatGate
from hawker.live.bus import Bus, make_bus
from hawker.live.gate import StockGate, make_gate
from hawker.live.hub import Hub, HubLimits
from hawker.payments.port import PaymentProvider
from hawker.payments.webhooks import SeenEvents
from hawker.services.outbox import ChatOutbox
from hawker.store.db import Database

log = logging.getLogger(__name__)


P = ParamSpec("P")
T = TypeVar("T")


def on_camera(
    service: Callable[Concatenate[Context, P], Awaitable[T]],
) -> Callable[Concatenate[Context, P], Awaitable[T]]:
    """A service that does what the host does on camera (a pin, a deal): it goes first in
    this process until it is published (`Hub.first`), and the crowd's next frames wait."""

    @functools.wraps(service)
    async def first(ctx: Context, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with ctx.hub.first():
            return await service(ctx, *args, **kwargs)

    return first


@dataclass
class Context:
    settings: Settings
    db: Database
    bus: Bus
    hub: Hub
    gate: StockGate
    payments: PaymentProvider
    seen_events: SeenEvents = field(default_factory=SeenEvents)
    # Per process; with many workers a viewer's pace is kept by the worker it talks to.
    chat_gates: dict[int, ChatGate] = field(default_factory=dict)
    pending_likes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    last_counts: dict[int, int] = field(default_factory=dict)
    viewer_totals: dict[int, int] = field(default_factory=dict)
    # Viewer socket -> (its watch session's id, when it was first seen) (services/analytics.py).
    watching: dict[Any, tuple[int, datetime]] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # Show -> stock pools that moved since the last "N left" went out (combined, not per sale).
    dirty_stock: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    dirty_figures: set[int] = field(default_factory=set)
    # Show -> (latest buyer, listing number, sales since the last ticker line).
    sales: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    # Chat sent while the database was away, and what checking it needs (services/chat.py).
    chat_outbox: ChatOutbox = field(default_factory=ChatOutbox)

    def mark_stock(self, show_id: int, pool: str) -> None:
        self.dirty_stock[show_id].add(pool)

    def mark_figures(self, show_id: int) -> None:
        self.dirty_figures.add(show_id)

    def note_sale(self, show_id: int, who: str, number: int, quantity: int) -> None:
        _, _, count = self.sales.get(show_id, ("", 0, 0))
        self.sales[show_id] = (who, number, count + quantity)
        self.mark_figures(show_id)

    def chat_gate(self, show_id: int) -> ChatGate:
        gate = self.chat_gates.get(show_id)
        if gate is None:
            gate = self.chat_gates[show_id] = ChatGate(
                self.settings.chat_rate_per_s, self.settings.chat_burst
            )
        return gate

    @staticmethod
    def clock() -> float:
        return time.monotonic()


def build_context(settings: Settings) -> Context:
    from hawker.payments.sandbox import SandboxProvider

    bus = make_bus(settings.redis_url, settings.redis_namespace)
    hub = Hub(bus, HubLimits(tick=settings.hub_tick_s, busy_chat_per_s=settings.busy_chat_per_s))
    payments = SandboxProvider(settings.secret(), delay=settings.sandbox_delay_s)
    ctx = Context(
        settings=settings,
        db=Database(settings.db_url),
        bus=bus,
        hub=hub,
        gate=make_gate(settings.redis_url, settings.redis_namespace),
        payments=payments,
    )
    return ctx


async def start(ctx: Context) -> None:
    from hawker.payments.sandbox import SandboxProvider
    from hawker.services import (
        analytics,
        battles,
        chat,
        checkout,
        competitions,
        deals,
        live_sales,
        notifications,
        presence,
        stock,
    )

    if isinstance(ctx.payments, SandboxProvider):
        # The sandbox delivers its webhooks straight to the handler the HTTP endpoint uses.
        async def deliver(headers: Any, body: bytes) -> int:
            await checkout.handle_webhook(ctx, headers, body)
            return 200

        ctx.payments.register(deliver)
    await ctx.bus.start()
    await stock.reconcile(ctx)
    s = ctx.settings
    for seconds, job in (
        (s.like_flush_s, chat.flush_likes),
        (s.viewers_flush_s, presence.notify_counts),
        (s.viewers_flush_s, analytics.track_watching),
        (s.viewers_sample_s, analytics.sample_viewers),
        (s.stock_flush_s, live_sales.flush),
        (s.deals_tick_s, deals.tick),
        (battles.TICK_S, battles.tick),
        (competitions.TICK_S, competitions.tick),
        (s.sweep_s, checkout.sweep_expired),
        (0.5, chat.flush_outbox),
        (notifications.MAIL_TICK_S, notifications.send_emails),
        (stock.RECONCILE_S, stock.reconcile_turn),
    ):
        ctx.tasks.append(asyncio.create_task(_every(seconds, job, ctx)))
    if s.rtmp_port:  # video ingest and packaging (off with rtmp_port=0)
        from hawker.video import service as video

        await video.start(ctx)


async def stop(ctx: Context) -> None:
    from hawker.services import analytics, chat
    from hawker.video import service as video

    await video.stop(ctx)  # first: it flushes recordings and still reads the database
    for task in ctx.tasks:
        task.cancel()
    await asyncio.gather(*ctx.tasks, return_exceptions=True)
    ctx.tasks.clear()
    # Under uvicorn the viewers were already told to reconnect elsewhere (it closes each
    # socket with 1012 before the app stops); any still here are told now.
    await ctx.hub.close()
    await chat.wait_for_writers(ctx)  # the chat its viewers sent is written or sent behind
    try:
        await analytics.track_watching(ctx)  # the sockets just closed end their watch sessions
    except Exception:
        log.exception("the watch sessions of this process stay open")
    if ctx.chat_outbox.pending:
        try:
            await asyncio.wait_for(chat.write_outbox(ctx), 10.0)
        except Exception:
            log.exception(
                "%d chat messages sent while the database was away are lost",
                len(ctx.chat_outbox.pending),
            )
    await ctx.bus.close()
    await ctx.payments.aclose()
    await ctx.gate.close()
    await ctx.db.close()


async def _every(seconds: float, job: Any, ctx: Context) -> None:
    failing = False
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(ctx)
        except Exception:  # a failed tick must not stop the next one
            # While the database or Redis is away every tick fails: said once, not each time.
            if not failing:
                log.exception("periodic job %s failed; it goes on trying", job.__name__)
            failing = True
        else:
            if failing:
                log.info("periodic job %s works again", job.__name__)
            failing = False
