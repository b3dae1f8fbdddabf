"""The room hub: this process's viewers, grouped by show, and the fan-out to them.

Fan-out rules (DESIGN.md, "The live path"):
- an event is encoded once per room (`Event.text`), never once per viewer;
- what is due for a connection goes out as one frame per tick (a JSON list when several);
- each connection has bounded queues: ephemeral events (chat, likes) are dropped oldest
  first, state events are never dropped, and a viewer whose state backlog passes the
  bound, or whose socket stops taking frames, is cut off and will resync on reconnect;
- each connection has its own writer task, so a slow socket only ever delays itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hawker.live.bus import Bus
from hawker.live.events import CHAT_MESSAGE, TARGETED, USER_SANCTIONED, Event

log = logging.getLogger(__name__)

# Closing tasks are kept here so they are not collected before they run.
_closing: set[asyncio.Task[None]] = set()

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HubLimits:
    tick: float = 0.05
    # A room this full shows viewers a sample of its chat: at most `busy_chat_per_s`
    # messages a second. Host, moderators and each message's author still see all of it.
    busy_room: int = 300
    busy_chat_per_s: int = 15
    max_chat_backlog: int = 64
    max_state_backlog: int = 256
    send_timeout: float = 10.0


class Connection:
    __slots__ = (
        "_chat",
        "_close",
        "_counter",
        "_send",
        "_state",
        "_task",
        "_wake",
        "closed",
        "dropped",
        "limits",
        "staff",
        "user_id",
    )

    def __init__(
        self, send: Send, close: Close, *, user_id: int | None, staff: bool, limits: HubLimits
    ) -> None:
        self._send = send
        self._close = close
        self.user_id = user_id
        self.staff = staff
        self.limits = limits
        self._chat: deque[tuple[int, str]] = deque()
        self._state: deque[tuple[int, str]] = deque()
        self._counter = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.closed = False
        self.dropped = 0

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        item = (next(self._counter), event.text)
        if event.ephemeral:
            if len(self._chat) >= self.limits.max_chat_backlog:
                self._chat.popleft()
                self.dropped += 1
            self._chat.append(item)
        else:
            if len(self._state) >= self.limits.max_state_backlog:
                self.cut_off("too far behind: reconnect to resync")
                return
            self._state.append(item)
        self._wake.set()

    def send_direct(self, text: str) -> None:
        """Queue a frame meant for this viewer alone (an error, an ack) as state.

        Bounded like state: a client that sends pings without reading the replies would
        otherwise grow this queue for as long as its socket stays open."""
        if self.closed:
            return
        if len(self._state) >= self.limits.max_state_backlog:
            self.cut_off("too far behind: reconnect to resync")
            return
        self._state.append((next(self._counter), text))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer())

    def cut_off(self, reason: str, *, code: int = 1013) -> None:
        """Close the socket after what is queued. 1013 (try again later) tells the client to
        reconnect and resync from a snapshot."""
        if self.closed:
            return
        self.closed = True
        self._wake.set()
        task = asyncio.get_running_loop().create_task(self._flush_and_close(code, reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _flush_and_close(self, code: int, reason: str) -> None:
        frame = self._take()
        with contextlib.suppress(Exception):
            if frame is not None:
                await asyncio.wait_for(self._send(frame), 1.0)
        await self._safe_close(code, reason)

    async def _safe_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._close(code, reason)

    async def stop(self) -> None:
        self.closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def _take(self) -> str | None:
        if not self._chat and not self._state:
            return None
        items = [text for _, text in heapq.merge(self._state, self._chat)]
        self._state.clear()
        self._chat.clear()
        return items[0] if len(items) == 1 else "[" + ",".join(items) + "]"

    async def _writer(self) -> None:
        try:
            while not self.closed:
                await self._wake.wait()
                self._wake.clear()
                frame = self._take()
                if frame is None:
                    continue
                try:
                    await asyncio.wait_for(self._send(frame), self.limits.send_timeout)
                except TimeoutError:
                    self.cut_off("not reading: cut off")
                    return
                except Exception:
                    self.closed = True
                    return
                # Whatever arrives while we wait goes out together in the next frame.
                await asyncio.sleep(self.limits.tick)
        except asyncio.CancelledError:
            pass


class Room:
    __slots__ = ("_shown", "_window", "connections", "limits", "show_id")

    def __init__(self, show_id: int, limits: HubLimits | None = None) -> None:
        self.show_id = show_id
        self.limits = limits or HubLimits()
        self.connections: set[Connection] = set()
        self._window = 0.0
        self._shown = 0

    def _sampled_out(self) -> bool:
        """In a busy room, whether this chat message goes to staff and its author only."""
        if len(self.connections) < self.limits.busy_room:
            return False
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._shown = now, 0
        if self._shown < self.limits.busy_chat_per_s:
            self._shown += 1
            return False
        return True

    def deliver(self, event: Event) -> None:
        if event.type == CHAT_MESSAGE and self._sampled_out():
            author = event.data.get("user", {}).get("id")
            for connection in list(self.connections):
                if connection.staff or (author is not None and connection.user_id == author):
                    connection.offer(event)
            return
        targeted = event.type in TARGETED
        for connection in list(self.connections):
            if targeted and not event.for_connection(connection.user_id, connection.staff):
                continue
            connection.offer(event)
        if event.type == USER_SANCTIONED and event.data.get("banned"):
            # A ban ends the viewer's sockets on every worker; reconnecting is refused.
            for connection in list(self.connections):
                if connection.user_id == event.data.get("user_id"):
                    connection.cut_off("banned", code=4403)


class Hub:
    def __init__(self, bus: Bus, limits: HubLimits | None = None) -> None:
        self.bus = bus
        self.limits = limits or HubLimits()
        self.rooms: dict[int, Room] = {}
        self._lock = asyncio.Lock()

    def connection(
        self, send: Send, close: Close, *, user_id: int | None, staff: bool
    ) -> Connection:
        return Connection(send, close, user_id=user_id, staff=staff, limits=self.limits)

    async def join(self, show_id: int, connection: Connection) -> None:
        """Subscribe (once per room per process) before the snapshot is read, so no event
        published after the snapshot can be missed."""
        async with self._lock:
            room = self.rooms.get(show_id)
            if room is None:
                room = self.rooms[show_id] = Room(show_id, self.limits)
                await self.bus.subscribe(show_id, room.deliver)
            room.connections.add(connection)

    async def leave(self, show_id: int, connection: Connection) -> None:
        await connection.stop()
        async with self._lock:
            room = self.rooms.get(show_id)
            if room is None:
                return
            room.connections.discard(connection)
            if not room.connections:
                del self.rooms[show_id]
                await self.bus.unsubscribe(show_id, room.deliver)

    def count(self, show_id: int) -> int:
        room = self.rooms.get(show_id)
        return len(room.connections) if room else 0

    async def close(self) -> None:
        for show_id, room in list(self.rooms.items()):
            for connection in list(room.connections):
                connection.cut_off("server is restarting")
                await self.leave(show_id, connection)
