"""The Redis bus: any number of processes share each show's events and its seq.

One pub/sub connection per process; each room this process serves is one channel.
If Redis goes away the reader reconnects and resubscribes; events published meanwhile
are lost to this process, and its viewers see the gap in seq and resync from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from importlib.resources import files
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from hawker.live.bus import Handler
from hawker.live.events import STATE, VIEWERS_COUNT, Event, now_ms

log = logging.getLogger(__name__)
PREFIX = "hawker:show:"
_LIBRARY = files("hawker.live").joinpath("publish.lua").read_text()
_PUBLISH = (
    _LIBRARY + "\nreturn publish_event(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])\n"
)
_PRESENCE = _LIBRARY + files("hawker.live").joinpath("presence.lua").read_text()
# A worker that has not reported for this long no longer counts.
PRESENCE_STALE_MS = 5_000


def channel(show_id: int) -> str:
    return f"{PREFIX}{show_id}"


class RedisBus:
    def __init__(self, url: str) -> None:
        self.redis: Redis = Redis.from_url(url)
        self._publish = self.redis.register_script(_PUBLISH)
        self._presence = self.redis.register_script(_PRESENCE)
        self.worker = uuid.uuid4().hex[:12]
        self._handlers: dict[int, list[Handler]] = defaultdict(list)
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read_forever())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.redis.aclose()

    async def publish(self, show_id: int, type_: str, data: dict[str, Any]) -> Event:
        at = now_ms()
        body = orjson.dumps(data)
        seq = await self._publish(
            keys=[f"{PREFIX}{show_id}:seq"],
            args=[channel(show_id), type_, at, body, "0" if type_ in STATE else "1"],
        )
        return Event(type_, int(seq), at, data, show_id)

    async def publish_viewers(self, show_id: int, local_count: int) -> int:
        total = await self._presence(
            keys=[
                f"{PREFIX}{show_id}:presence",
                f"{PREFIX}{show_id}:viewers",
                f"{PREFIX}{show_id}:seq",
            ],
            args=[
                self.worker,
                local_count,
                now_ms(),
                PRESENCE_STALE_MS,
                channel(show_id),
                VIEWERS_COUNT,
            ],
        )
        return int(total)

    async def current_seq(self, show_id: int) -> int:
        value = await self.redis.get(f"{PREFIX}{show_id}:seq")
        return int(value or 0)

    async def subscribe(self, show_id: int, handler: Handler) -> None:
        first = show_id not in self._handlers
        self._handlers[show_id].append(handler)
        if first and self._pubsub is not None:
            await self._pubsub.subscribe(channel(show_id))

    async def unsubscribe(self, show_id: int, handler: Handler) -> None:
        handlers = self._handlers.get(show_id)
        if not handlers or handler not in handlers:
            return
        handlers.remove(handler)
        if not handlers:
            del self._handlers[show_id]
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel(show_id))

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                # A channel nobody listens to keeps the connection in subscribe mode.
                await self._pubsub.subscribe(f"{PREFIX}_", *(channel(s) for s in self._handlers))
                self._subscribed.set()
                delay = 0.1
                async for message in self._pubsub.listen():
                    self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                log.warning("redis bus lost its connection (%s); reconnecting in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def wait_ready(self) -> None:
        """Until the pub/sub connection is subscribed (tests wait for it before publishing)."""
        await self._subscribed.wait()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        name = message["channel"].decode()
        try:
            show_id = int(name.removeprefix(PREFIX))
        except ValueError:
            return
        event = Event.from_wire(show_id, message["data"])
        for handler in list(self._handlers.get(show_id, ())):
            handler(event)
