"""The Redis bus: any number of processes share each show's events and its seq.

One pub/sub connection per process; each room this process serves is one channel.
If Redis goes away (restarted, unreachable) the reader reconnects with backoff and
resubscribes; events published meanwhile are lost to this process, so once it is back it
tells each of its rooms to resync from a snapshot (`room.resync`). Meanwhile `ready` is
false and a publish fails at once (ConnectionError) rather than waiting for Redis.
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
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hawker.live.bus import Handler
from hawker.live.events import ROOM_RESYNC, STATE, VIEWERS_COUNT, Event, now_ms

log = logging.getLogger(__name__)
NAMESPACE = "hawker"
_LIBRARY = files("hawker.live").joinpath("publish.lua").read_text()
_PUBLISH = (
    _LIBRARY + "\nreturn publish_event(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])\n"
)
_PRESENCE = _LIBRARY + files("hawker.live").joinpath("presence.lua").read_text()
# A worker that has not reported for this long no longer counts.
PRESENCE_STALE_MS = 5_000
# Reconnecting the pub/sub connection: the first try at once, then doubling up to this.
RECONNECT_MAX_S = 2.0


class RedisBus:
    def __init__(self, url: str, namespace: str = NAMESPACE) -> None:
        # Pub/sub channels are shared by the whole Redis server (database numbers do not
        # separate them): each deployment on one server keeps to its own namespace.
        self.prefix = f"{namespace}:show:"
        # A command gets one more try on a fresh connection (a pooled one may be from before
        # a restart), no more: while Redis is away a publish fails at once instead of
        # holding up the viewer who chatted for redis-py's default retries.
        self.redis: Redis = Redis.from_url(
            url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=2.0
        )
        # The listener never retries on its own: redis-py would resubscribe silently, and
        # this bus must know about every lost connection to tell its rooms to resync.
        self._listener: Redis = Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2.0
        )
        self._publish = self.redis.register_script(_PUBLISH)
        self._presence = self.redis.register_script(_PRESENCE)
        self.worker = uuid.uuid4().hex[:12]
        self._handlers: dict[int, list[Handler]] = defaultdict(list)
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        # Per show this process listens to: the last seq it heard and the last viewer count
        # announced up to it (None: none heard yet), from the events themselves.
        self._heard: dict[int, tuple[int, int | None]] = {}

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
        await self._listener.aclose()
        await self.redis.aclose()

    @property
    def ready(self) -> bool:
        """Subscribed and listening: what is published now reaches this process's viewers."""
        return self._subscribed.is_set()

    async def publish(self, show_id: int, type_: str, data: dict[str, Any]) -> Event:
        at = now_ms()
        body = orjson.dumps(data)
        seq = await self._publish(
            keys=[f"{self.prefix}{show_id}:seq"],
            args=[self.channel(show_id), type_, at, body, "0" if type_ in STATE else "1"],
        )
        return Event(type_, int(seq), at, data, show_id)

    async def publish_viewers(self, show_id: int, local_count: int) -> int:
        total = await self._presence(
            keys=[
                f"{self.prefix}{show_id}:presence",
                f"{self.prefix}{show_id}:viewers",
                f"{self.prefix}{show_id}:seq",
            ],
            args=[
                self.worker,
                local_count,
                now_ms(),
                PRESENCE_STALE_MS,
                self.channel(show_id),
                VIEWERS_COUNT,
            ],
        )
        return int(total)

    async def current_seq(self, show_id: int) -> int:
        return (await self.snapshot_position(show_id))[0]

    async def snapshot_position(self, show_id: int) -> tuple[int, int | None]:
        # Once this process has heard an event of the show, the last one it heard will do,
        # without a round trip: whoever asks has joined the room, so every later event
        # reaches it too, and one that is newer than the seq but already in what it reads
        # next is harmless (state events carry whole values). A crowd joining a room costs
        # Redis nothing per viewer.
        heard = self._heard.get(show_id)
        if heard is not None and self.ready:
            return heard
        # A missing counter (a new show, or Redis restarted empty) starts where publish.lua
        # would start it, so that a snapshot taken now is followed by seq + 1, not a gap.
        # The count is read after the seq: it is the one announced at that seq or a newer one.
        key = f"{self.prefix}{show_id}:seq"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(key, now_ms(), nx=True)
            pipe.get(key)
            pipe.get(f"{self.prefix}{show_id}:viewers")
            _, seq, viewers = await pipe.execute()
        return int(seq), None if viewers is None else int(viewers)

    async def subscribe(self, show_id: int, handler: Handler) -> None:
        first = show_id not in self._handlers
        self._handlers[show_id].append(handler)
        if first and self._pubsub is not None and self.ready:
            # Without a connection the reader subscribes every room it has when it is back.
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.subscribe(self.channel(show_id))

    async def unsubscribe(self, show_id: int, handler: Handler) -> None:
        handlers = self._handlers.get(show_id)
        if not handlers or handler not in handlers:
            return
        handlers.remove(handler)
        if not handlers:
            del self._handlers[show_id]
            self._heard.pop(show_id, None)  # what comes next will not be heard
            if self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(self.channel(show_id))

    async def _read_forever(self) -> None:
        delay = 0.0
        lost = False
        while True:
            try:
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                self._pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
                # A channel nobody listens to keeps the connection in subscribe mode.
                await self._pubsub.subscribe(f"{self.prefix}_")
                # Until `ready`, `subscribe` leaves rooms to this loop, so rooms that join
                # while it waits on Redis are taken too.
                done: set[int] = set()
                while missing := [s for s in self._handlers if s not in done]:
                    await self._pubsub.subscribe(*(self.channel(s) for s in missing))
                    done.update(missing)
                self._subscribed.set()
                if lost:
                    log.warning("redis bus is back; %d rooms resync", len(self._handlers))
                    self._tell_rooms_to_resync()
                lost, delay = False, 0.0
                async for message in self._pubsub.listen():
                    self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                self._heard.clear()
                if not lost:
                    log.warning("redis bus lost its connection (%s); reconnecting", exc)
                lost = True
                await asyncio.sleep(delay)
                delay = min(max(delay * 2, 0.1), RECONNECT_MAX_S)

    def _tell_rooms_to_resync(self) -> None:
        """After a lost connection: whatever was published meanwhile never came here, and
        after a Redis restart the next seq may even be the only sign of it, so every room
        this process serves asks for a snapshot now. Its seq is read after this point, from
        a connection that is subscribed again, so nothing after it can be missed."""
        for show_id, handlers in list(self._handlers.items()):
            event = Event(ROOM_RESYNC, 0, now_ms(), {"reason": "bus_reconnected"}, show_id)
            for handler in list(handlers):
                handler(event)

    def channel(self, show_id: int) -> str:
        return f"{self.prefix}{show_id}"

    async def wait_ready(self) -> None:
        """Until the pub/sub connection is subscribed (tests wait for it before publishing)."""
        await self._subscribed.wait()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        name = message["channel"].decode()
        try:
            show_id = int(name.removeprefix(self.prefix))
        except ValueError:
            return
        event = Event.from_wire(show_id, message["data"])
        seq, viewers = self._heard.get(show_id, (0, None))
        if event.type == VIEWERS_COUNT:
            viewers = int(event.data["count"])
        self._heard[show_id] = (max(seq, event.seq), viewers)
        for handler in list(self._handlers.get(show_id, ())):
            handler(event)
