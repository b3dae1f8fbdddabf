"""The event bus: publish a show's events once, deliver them to every process's room hub.

A backend is picked by URL: `memory://` (one process) or `redis://` (any number).
The bus assigns `seq` so that it is per show and global, whatever process publishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

from hawker.live.events import STATE, VIEWERS_COUNT, Event, now_ms

Handler = Callable[[Event], None]


class Bus(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    @property
    def ready(self) -> bool:
        """Whether an event published now reaches this process's viewers (false while a
        Redis bus is reconnecting)."""
        ...

    async def publish(self, show_id: int, type_: str, data: dict[str, Any]) -> Event: ...
    async def current_seq(self, show_id: int) -> int: ...
    async def snapshot_position(self, show_id: int) -> tuple[int, int | None]:
        """The seq a snapshot taken now is at, and the viewer count announced up to it (None:
        none yet). Read together, so that the count is never older than the seq."""
        ...

    async def publish_viewers(self, show_id: int, local_count: int) -> int:
        """Report this process's viewers of a show; the room hears the global count when it
        changes. Returns the global count."""
        ...

    async def subscribe(self, show_id: int, handler: Handler) -> None: ...
    async def unsubscribe(self, show_id: int, handler: Handler) -> None: ...


class MemoryBus:
    """In-process: publish calls the handlers in order, so seq order is delivery order."""

    def __init__(self) -> None:
        self._seq: dict[int, int] = defaultdict(int)
        self._handlers: dict[int, list[Handler]] = defaultdict(list)
        self._viewers: dict[int, int] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()

    @property
    def ready(self) -> bool:
        return True

    async def publish(self, show_id: int, type_: str, data: dict[str, Any]) -> Event:
        if type_ in STATE:
            self._seq[show_id] += 1
        event = Event(type_, self._seq[show_id], now_ms(), data, show_id)
        for handler in list(self._handlers.get(show_id, ())):
            handler(event)
        return event

    async def current_seq(self, show_id: int) -> int:
        return self._seq[show_id]

    async def snapshot_position(self, show_id: int) -> tuple[int, int | None]:
        return self._seq[show_id], self._viewers.get(show_id)

    async def publish_viewers(self, show_id: int, local_count: int) -> int:
        if self._viewers.get(show_id) != local_count:
            self._viewers[show_id] = local_count
            await self.publish(show_id, VIEWERS_COUNT, {"count": local_count})
        if not local_count:
            self._viewers.pop(show_id, None)
        return local_count

    async def subscribe(self, show_id: int, handler: Handler) -> None:
        self._handlers[show_id].append(handler)

    async def unsubscribe(self, show_id: int, handler: Handler) -> None:
        handlers = self._handlers.get(show_id)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._handlers[show_id]


def make_bus(redis_url: str | None, namespace: str = "hawker") -> Bus:
    if redis_url:
        from hawker.live.redis_bus import RedisBus

        return RedisBus(redis_url, namespace)
    return MemoryBus()
