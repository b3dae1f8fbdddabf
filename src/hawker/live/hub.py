"""The room hub: this process's viewers, grouped by show, and the fan-out to them.

Fan-out rules (DESIGN.md, "The live path"):
- an event is encoded once per room (`Event.text`), never once per viewer;
- what is due goes out once per tick, and is framed once per room: every viewer who keeps up
  and has nothing of their own due gets the same frame (a JSON list when several events;
  on a raw socket the same WebSocket frame bytes). A viewer with something of their own (a
  reply, a targeted event, chat that only staff and its author see) or who is behind gets a
  frame built for them, with everything in the order the room had it;
- a viewer is behind while their socket has more than `max_buffer` bytes waiting to be sent
  (or, on a socket written through ASGI, while a send has not completed). They stop getting
  the shared frame and what is due queues for them in bounded queues: ephemeral events are
  dropped oldest first, state events never; a viewer whose state backlog passes the bound,
  or who stays behind for `send_timeout`, is cut off and will resync on reconnect;
- there is no task per viewer: one timer per room does the writing, and a slow socket only
  ever delays itself;
- a big room is written `chunk` sockets at a time, one part per turn of the event loop, so a
  tick never blocks the process for long: the database answers, the other sockets and the
  next Redis message are served between the parts.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from hawker.live.bus import Bus
from hawker.live.events import (
    CHAT_MESSAGE,
    DEAL_UPDATED,
    PRIVATE,
    SHELF_PINNED,
    SHELF_UNPINNED,
    SHELF_UPDATED,
    SHOW_STATE,
    STAFF,
    USER_SANCTIONED,
    VIEWERS_COUNT,
    Event,
)

log = logging.getLogger(__name__)

# Closing tasks are kept here so they are not collected before they run.
_closing: set[asyncio.Task[None]] = set()

# What the host does on camera: it must meet the picture, so it ends a big room's long tick
# early (a frame within `HubLimits.tick`). Rare, unlike chat, stock left or counts.
PROMPT = frozenset({SHELF_PINNED, SHELF_UNPINNED, SHELF_UPDATED, DEAL_UPDATED, SHOW_STATE})
# What can wait in a big room: alone it goes every `HubLimits.quiet_tick`, else it rides with
# the next frame. A room filling up would otherwise get a frame a tick for its count alone.
LAZY = frozenset({VIEWERS_COUNT})

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
# What is due in a room: (number in the room's order, wire text, ephemeral).
Item = tuple[int, str, bool]


class Transport(Protocol):
    """The part of an asyncio transport a room writes to: a socket already past the
    WebSocket handshake, taking whole server frames (`ws_frame`)."""

    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...
    def abort(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HubLimits:
    tick: float = 0.05
    # A frame costs a socket write (15 to 20 us of CPU on loopback, the receiving end's TCP
    # work included: more than all else a viewer costs), so a big room ticks slower: about
    # `frames_per_s` frames a second from the process, up to `max_tick` (5,000 viewers in a
    # process: 0.5 s; 10,000: 1 s). What the host does on camera (`PROMPT`) does not wait.
    frames_per_s: int = 10_000
    max_tick: float = 1.0
    # Sockets written in one turn of the event loop (3 to 5 ms).
    chunk: int = 256
    # While the host's move is being handled in this process (`Hub.first`), a tick being
    # written part by part waits, up to this long from its start, so that the move's round
    # trips to the database are not each queued behind a part.
    max_hold: float = 0.25
    # A room this full shows viewers a sample of its chat: at most `busy_chat_per_s`
    # messages a second. Host, moderators and each message's author still see all of it.
    busy_room: int = 300
    busy_chat_per_s: int = 20
    # How long a busy room's count alone (`LAZY`) waits for a frame to go with.
    quiet_tick: float = 2.0
    max_chat_backlog: int = 64
    max_state_backlog: int = 256
    # Bytes waiting in a socket's write buffer (the kernel's is already full by then) over
    # which its viewer is behind; asyncio's own high-water mark.
    max_buffer: int = 64 * 1024
    send_timeout: float = 10.0


def ws_frame(text: str) -> bytes:
    """`text` as one WebSocket text frame from a server: unmasked, so the same bytes serve
    every socket (RFC 6455, 5.2). Without RSV1 it is an uncompressed message, which is
    legal whatever extension the socket negotiated (RFC 7692, 6)."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 1 << 16:
        return b"\x81\x7e" + size.to_bytes(2, "big") + data
    return b"\x81\x7f" + size.to_bytes(8, "big") + data


def _join(texts: Sequence[str]) -> str:
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"


def _insert(queue: deque[tuple[int, str]], n: int, text: str) -> None:
    """Queue in the room's order. Mostly at the end; a viewer's own item can be ahead of
    room events it has yet to be given (due, or in a tick still being written)."""
    if queue and queue[-1][0] > n:
        bisect.insort(queue, (n, text))
    else:
        queue.append((n, text))


class Connection:
    """One viewer's socket, as its room sees it.

    Written either as raw frames to `transport`, or through `send` (one send at a time)
    where the server gives no transport. Until `start` (and during `hold`) it takes no
    frames and what is due queues, so that a snapshot can go out first."""

    __slots__ = (
        "_behind_since",
        "_chat",
        "_close",
        "_send",
        "_sending",
        "_state",
        "closed",
        "dropped",
        "held",
        "limits",
        "plain",
        "room",
        "staff",
        "transport",
        "user_id",
    )

    def __init__(
        self,
        send: Send,
        close: Close,
        *,
        user_id: int | None,
        staff: bool,
        limits: HubLimits,
        transport: Transport | None = None,
    ) -> None:
        self._send = send
        self._close = close
        self.transport = transport
        self.user_id = user_id
        self.staff = staff
        self.limits = limits
        self.room: Room | None = None
        # Backlog, made only while something is queued: most viewers never need one.
        self._state: deque[tuple[int, str]] | None = None
        self._chat: deque[tuple[int, str]] | None = None
        self._sending: asyncio.Task[None] | None = None  # without a transport
        self._behind_since: float | None = None
        # Takes the room's shared frame: not held, not behind, nothing of its own queued.
        self.plain = False
        self.held = True
        self.closed = False
        self.dropped = 0

    # -- what the socket handler calls --------------------------------------------------

    def start(self) -> None:
        """Take frames from now on (after the snapshot)."""
        self.held = False
        if self.room is not None and not self.closed:
            self.room._schedule()

    def hold(self) -> None:
        """Queue what is due instead of sending it, until `start` (a snapshot is coming)."""
        self.held = True
        if self.plain and self.room is not None:
            self.room._set_special(self)

    async def send_now(self, text: str) -> None:
        """Send `text` (a snapshot) after what was sent before and ahead of what is queued.
        Waits while the socket is behind; one that stays behind is cut off."""
        deadline = time.monotonic() + self.limits.send_timeout
        while not self._writable():
            if self.closed:
                return
            if time.monotonic() > deadline:
                self.cut_off("not reading: cut off")
                return
            await asyncio.sleep(self.limits.tick)
        if self.closed:
            return
        if self.transport is not None:
            self._write(text)
        else:
            await self._start_send(text)

    def send_direct(self, text: str) -> None:
        """Queue a frame meant for this viewer alone (an error, an ack) as state.

        Bounded like state: a client that sends pings without reading the replies would
        otherwise grow this queue for as long as its socket stays open."""
        if self.closed:
            return
        if self.room is None:
            self._enqueue(0, text, ephemeral=False)
            return
        self.room._private(self, text, ephemeral=False)

    def cut_off(self, reason: str, *, code: int = 1013) -> None:
        """Close the socket after what is due for it. 1013 (try again later) tells the
        client to reconnect and resync from a snapshot."""
        if self.closed:
            return
        room = self.room
        # Until its snapshot is out, nothing else may go first.
        due: Sequence[Item] = room._due if room is not None and not self.held else ()
        text = None if self.held else self._take(due)
        self.closed = True
        if room is not None:
            room._detach(self)
        task = asyncio.get_running_loop().create_task(self._farewell(text, code, reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    def stop(self) -> None:
        self.closed = True
        if self.room is not None:
            self.room._detach(self)
        self._state = self._chat = None

    # -- what the room calls --------------------------------------------------------------

    def _writable(self) -> bool:
        if self.transport is not None:
            return self.transport.get_write_buffer_size() <= self.limits.max_buffer
        return self._sending is None

    def _put(self, text: str, frame: bytes) -> bool:
        """The room's shared frame, if this socket takes it now; False if it is behind."""
        transport = self.transport
        if transport is None:
            if self._sending is not None:
                return False
            self._start_send(text)
            return True
        if transport.get_write_buffer_size() > self.limits.max_buffer:
            return False
        try:
            transport.write(frame)
        except RuntimeError:  # the socket is gone; the handler is about to leave the room
            self._lost()
        return True

    def _tick(self, due: Sequence[Item], now: float) -> bool:
        """A tick for a connection that is not plain: send what is due for it if it can,
        else queue it. Whether it is plain again."""
        if self.held or not self._writable():
            if not self._absorb(due) or self.held:
                return False
            if self._behind_since is None:
                self._behind_since = now
            elif now - self._behind_since >= self.limits.send_timeout:
                self.cut_off("not reading: cut off")
            return False
        self._behind_since = None
        text = self._take(due)
        if text is not None:
            if self.transport is not None:
                self._write(text)
            else:
                self._start_send(text)
        return not self.closed

    def _enqueue(self, n: int, text: str, *, ephemeral: bool) -> bool:
        """Queue one item, within the bounds. False if that cut the viewer off."""
        if ephemeral:
            if self._chat is None:
                self._chat = deque()
            elif len(self._chat) >= self.limits.max_chat_backlog:
                self._chat.popleft()
                self.dropped += 1
            _insert(self._chat, n, text)
            return True
        if self._state is None:
            self._state = deque()
        elif len(self._state) >= self.limits.max_state_backlog:
            self.cut_off("too far behind: reconnect to resync")
            return False
        _insert(self._state, n, text)
        return True

    def _absorb(self, due: Iterable[Item]) -> bool:
        """Queue what is due instead of sending it. False if that cut the viewer off."""
        return all(self._enqueue(n, text, ephemeral=ephemeral) for n, text, ephemeral in due)

    def _take(self, due: Sequence[Item]) -> str | None:
        """Everything queued and `due`, in the room's order, as one frame's text."""
        state, chat = self._state, self._chat
        self._state = self._chat = None
        if not state and not chat:
            return _join([text for _, text, _ in due]) if due else None
        own: list[Iterable[tuple[int, str]]] = [q for q in (state, chat) if q]
        if due:
            own.append([(n, text) for n, text, _ in due])
        return _join([text for _, text in heapq.merge(*own)])

    def _write(self, text: str) -> None:
        assert self.transport is not None
        try:
            self.transport.write(ws_frame(text))
        except RuntimeError:
            self._lost()

    def _start_send(self, text: str) -> asyncio.Task[None]:
        self._sending = asyncio.get_running_loop().create_task(self._send_one(text))
        return self._sending

    async def _send_one(self, text: str) -> None:
        try:
            await asyncio.wait_for(self._send(text), self.limits.send_timeout)
        except TimeoutError:
            self.cut_off("not reading: cut off")
        except Exception:
            self._lost()
        finally:
            self._sending = None
        # What queued meanwhile goes out at the next tick.
        if not self.plain and self.room is not None and not self.closed:
            self.room._schedule()

    def _lost(self) -> None:
        """The socket went away under us; the handler will leave the room."""
        self.closed = True
        if self.room is not None:
            self.room._detach(self)

    async def _farewell(self, text: str | None, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            if text is not None:
                if self.transport is not None:
                    self._write(text)
                else:
                    await asyncio.wait_for(self._send(text), 1.0)
            await asyncio.wait_for(self._close(code, reason), 1.0)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            await asyncio.sleep(1.0)
            # A peer that reads nothing would keep the buffer (and the socket) forever.
            if transport.get_write_buffer_size() > self.limits.max_buffer:
                transport.abort()


HOLD_S = 0.002  # how often a held tick looks again


class Priority:
    """What the host is doing in this process right now (a pin, a deal): `Hub.first`."""

    __slots__ = ("moves",)

    def __init__(self) -> None:
        self.moves = 0


class Room:
    __slots__ = (
        "_again",
        "_due",
        "_hurry",
        "_last",
        "_n",
        "_priority",
        "_shown",
        "_special",
        "_staff",
        "_timer",
        "_timer_at",
        "_users",
        "_window",
        "_writing",
        "connections",
        "limits",
        "show_id",
    )

    def __init__(
        self, show_id: int, limits: HubLimits | None = None, priority: Priority | None = None
    ) -> None:
        self.show_id = show_id
        self.limits = limits or HubLimits()
        self._priority = priority or Priority()
        self.connections: set[Connection] = set()
        # Connections that do not take the shared frame at the next tick.
        self._special: set[Connection] = set()
        self._staff: set[Connection] = set()
        self._users: dict[int, list[Connection]] = {}
        self._due: list[Item] = []
        self._n = 0
        self._timer: asyncio.Handle | None = None
        self._timer_at = 0.0
        self._last = 0.0
        self._window = 0.0
        self._shown = 0
        self._writing = False  # a tick is being written, part by part
        self._again = False  # another tick is due when it is done
        self._hurry = False  # what the host did is due: write the tick (or its rest) at once

    def add(self, connection: Connection) -> None:
        connection.room = self
        self.connections.add(connection)
        self._special.add(connection)
        if connection.staff:
            self._staff.add(connection)
        if connection.user_id is not None:
            self._users.setdefault(connection.user_id, []).append(connection)

    def remove(self, connection: Connection) -> None:
        self._detach(connection)
        self.connections.discard(connection)
        self._staff.discard(connection)
        if connection.user_id is not None:
            mine = self._users.get(connection.user_id, [])
            if connection in mine:
                mine.remove(connection)
            if not mine:
                self._users.pop(connection.user_id, None)
        if not self.connections and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def audience(self) -> int:
        """Its viewers: the host's and the moderators' sockets are not the audience (nor
        are they in the watch sessions)."""
        return len(self.connections) - len(self._staff)

    def _detach(self, connection: Connection) -> None:
        """No more frames for it (closed)."""
        connection.plain = False
        self._special.discard(connection)

    def _set_special(self, connection: Connection) -> None:
        connection.plain = False
        self._special.add(connection)

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
            seen = set(self._staff)
            seen.update(self._users.get(author, ()) if author is not None else ())
            for connection in seen:
                self._private(connection, event.text, ephemeral=True)
            return
        if event.type in PRIVATE or event.type in STAFF:
            targets = (
                self._staff
                if event.type in STAFF
                else self._users.get(event.data.get("buyer_id"), ())  # type: ignore[arg-type]
            )
            for connection in list(targets):
                if event.for_connection(connection.user_id, connection.staff):
                    self._private(connection, event.text, ephemeral=event.ephemeral)
            return
        self._n += 1
        self._due.append((self._n, event.text, event.ephemeral))
        self._schedule(prompt=event.type in PROMPT, lazy=event.type in LAZY)
        if event.type == USER_SANCTIONED and event.data.get("banned"):
            # A ban ends the viewer's sockets on every worker; reconnecting is refused.
            for connection in list(self._users.get(event.data.get("user_id"), ())):  # type: ignore[arg-type]
                connection.cut_off("banned", code=4403)

    def _private(self, connection: Connection, text: str, *, ephemeral: bool) -> None:
        if connection.closed:
            return
        self._n += 1
        if connection._enqueue(self._n, text, ephemeral=ephemeral):
            if connection.plain:
                self._set_special(connection)
            self._schedule()

    def _tick_s(self) -> float:
        limits = self.limits
        return min(limits.max_tick, max(limits.tick, len(self.connections) / limits.frames_per_s))

    def _schedule(self, *, prompt: bool = False, lazy: bool = False) -> None:
        """Write at the room's next tick (`prompt`: the shortest one; `lazy`: in a busy room,
        the quiet one): at once if the last write is that long ago, so a quiet room answers
        without delay and a busy one sends a frame a tick."""
        limits = self.limits
        if prompt:
            wait = limits.tick
        elif lazy and len(self.connections) >= limits.busy_room:
            wait = max(limits.quiet_tick, self._tick_s())
        else:
            wait = self._tick_s()
        if prompt:
            self._hurry = True
        loop = asyncio.get_running_loop()
        at = max(loop.time(), self._last + wait)
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer, self._timer_at = loop.call_at(at, self._flush), at

    def _flush(self) -> None:
        self._timer = None
        if self._writing:  # the last tick is still being written: this one comes after it
            self._again = True
            return
        self._last = asyncio.get_running_loop().time()
        due, self._due = self._due, []
        if not due:  # only viewers with something of their own queued, or behind
            self._done(self._write(list(self._special), (), "", b""))
            return
        text = _join([t for _, t, _ in due])
        self._writing = True
        self._step(self._targets(), 0, due, text, ws_frame(text))

    def _targets(self) -> list[Connection]:
        """Everyone, staff first: the host sees what it did before its crowd does."""
        if not self._staff:
            return list(self.connections)
        return [*self._staff, *(c for c in self.connections if not c.staff)]

    def _step(
        self, targets: list[Connection], start: int, due: list[Item], text: str, frame: bytes
    ) -> None:
        """Write one part of a tick; the rest at the next turn of the loop."""
        if self._hurry:
            self._merge(targets[start:], due)
            return
        loop = asyncio.get_running_loop()
        if self._priority.moves and loop.time() - self._last < self.limits.max_hold:
            loop.call_later(HOLD_S, self._step, targets, start, due, text, frame)
            return
        end = start + self.limits.chunk
        self._again = self._write(targets[start:end], due, text, frame) or self._again
        if end < len(targets):
            loop.call_soon(self._step, targets, end, due, text, frame)
            return
        self._writing = False
        self._done(self._again)

    def _merge(self, rest: list[Connection], due: list[Item]) -> None:
        """A tick with what the host did goes out at once, not part by part. If it came in
        while a tick was being written, it goes with what that tick had for the sockets it
        has yet to reach, and alone to the others (the part already written, and whoever
        came in since)."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last = loop.time()
        new, self._due = self._due, []
        both = due + new
        text = _join([t for _, t, _ in both])
        again = self._write(rest, both, text, ws_frame(text))
        if new:
            reached = set(rest)
            written = [c for c in self.connections if c not in reached]
            text = _join([t for _, t, _ in new])
            again = self._write(written, new, text, ws_frame(text)) or again
        self._writing = self._hurry = False
        self._done(again or self._again)

    def _done(self, again: bool) -> None:
        self._again = False
        if again or self._due:
            self._schedule()

    def _write(
        self, targets: Sequence[Connection], due: Sequence[Item], text: str, frame: bytes
    ) -> bool:
        """`due` to each of `targets`: the shared frame to those who take it, to the others
        what is theirs. Whether someone is left behind (another tick is needed)."""
        now = asyncio.get_running_loop().time()
        again = False
        try:
            for connection in targets:
                if connection.plain:
                    if not connection._put(text, frame):
                        self._set_special(connection)
                        connection._behind_since = now
                        again = connection._absorb(due) or again
                elif connection.closed:
                    continue
                elif connection._tick(due, now):
                    connection.plain = True
                    self._special.discard(connection)
                elif not connection.held and not connection.closed:
                    again = True
        except Exception:
            log.exception("room %s: a tick failed", self.show_id)
            again = True
        return again


class Hub:
    def __init__(self, bus: Bus, limits: HubLimits | None = None) -> None:
        self.bus = bus
        self.limits = limits or HubLimits()
        self.rooms: dict[int, Room] = {}
        self._lock = asyncio.Lock()
        self._priority = Priority()
        # Who came and went since watch sessions were last written (services/analytics.py),
        # so that it never walks the crowd.
        self.came: list[Connection] = []
        self.gone: list[Connection] = []

    def connection(
        self,
        send: Send,
        close: Close,
        *,
        user_id: int | None,
        staff: bool,
        transport: Transport | None = None,
    ) -> Connection:
        return Connection(
            send, close, user_id=user_id, staff=staff, limits=self.limits, transport=transport
        )

    async def join(self, show_id: int, connection: Connection) -> None:
        """Subscribe (once per room per process) before the snapshot is read, so no event
        published after the snapshot can be missed. The connection queues what is due
        until `connection.start()`."""
        async with self._lock:
            room = self.rooms.get(show_id)
            if room is None:
                room = self.rooms[show_id] = Room(show_id, self.limits, self._priority)
                await self.bus.subscribe(show_id, room.deliver)
            room.add(connection)
        self.came.append(connection)

    async def leave(self, show_id: int, connection: Connection) -> None:
        connection.stop()
        self.gone.append(connection)
        async with self._lock:
            room = self.rooms.get(show_id)
            if room is None:
                return
            room.remove(connection)
            if not room.connections:
                del self.rooms[show_id]
                await self.bus.unsubscribe(show_id, room.deliver)

    @contextlib.contextmanager
    def first(self) -> Iterator[None]:
        """Around the handling of what the host does on camera: until it is published,
        ticks being written here hold their remaining parts back (`HubLimits.max_hold`)."""
        self._priority.moves += 1
        try:
            yield
        finally:
            self._priority.moves -= 1

    def count(self, show_id: int) -> int:
        """The audience this process serves in the show (`Room.audience`)."""
        room = self.rooms.get(show_id)
        return room.audience if room else 0

    async def close(self) -> None:
        for show_id, room in list(self.rooms.items()):
            for connection in list(room.connections):
                connection.cut_off("server is restarting")
                await self.leave(show_id, connection)
