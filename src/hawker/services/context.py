"""What every service needs: settings, the database and the live plane.

Built once per process by the app factory (or a CLI command) and passed in explicitly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hawker.config import Settings
from hawker.domain.chat import ChatGate
from hawker.live.bus import Bus, make_bus
from hawker.live.hub import Hub, HubLimits
from hawker.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class Context:
    settings: Settings
    db: Database
    bus: Bus
    hub: Hub
    # Per process; with many workers a viewer's pace is kept by the worker it talks to.
    chat_gates: dict[int, ChatGate] = field(default_factory=dict)
    pending_likes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    last_counts: dict[int, int] = field(default_factory=dict)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

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
    bus = make_bus(settings.redis_url)
    hub = Hub(bus, HubLimits(tick=settings.hub_tick_s))
    return Context(settings=settings, db=Database(settings.db_url), bus=bus, hub=hub)


async def start(ctx: Context) -> None:
    from hawker.services import chat, presence

    await ctx.bus.start()
    ctx.tasks.append(asyncio.create_task(_every(ctx.settings.like_flush_s, chat.flush_likes, ctx)))
    ctx.tasks.append(
        asyncio.create_task(_every(ctx.settings.viewers_flush_s, presence.notify_counts, ctx))
    )


async def stop(ctx: Context) -> None:
    for task in ctx.tasks:
        task.cancel()
    await asyncio.gather(*ctx.tasks, return_exceptions=True)
    ctx.tasks.clear()
    await ctx.hub.close()
    await ctx.bus.close()
    await ctx.db.close()


async def _every(seconds: float, job: Any, ctx: Context) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job(ctx)
        except Exception:  # a failed tick must not stop the next one
            log.exception("periodic job %s failed", job.__name__)
