"""The room hub's fan-out, with fake sockets: sends that complete, stall or never return."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from hawker.live import events
from hawker.live.bus import MemoryBus
from hawker.live.events import Event
from hawker.live.hub import Connection, Hub, HubLimits

LIMITS = HubLimits(tick=0.001, max_chat_backlog=4, max_state_backlog=8, send_timeout=30.0)
# Generous: these only stop a broken hub from hanging the run; nothing here measures time.
PATIENCE = 5.0


class FakeSocket:
    """Records what the hub sends. While `gate` is clear, a send waits: a viewer who is not
    reading."""

    def __init__(self, *, reading: bool = True) -> None:
        self.frames: list[str] = []
        self.gate = asyncio.Event()
        if reading:
            self.gate.set()
        self.closed: tuple[int, str] | None = None
        self.sending = asyncio.Event()
        self.was_closed = asyncio.Event()

    async def send(self, text: str) -> None:
        self.sending.set()
        await self.gate.wait()
        self.frames.append(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.was_closed.set()

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for frame in self.frames:
            payload = json.loads(frame)
            out.extend(payload if isinstance(payload, list) else [payload])
        return out


async def until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - the hub has no event for these conditions
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), PATIENCE)


def chat(n: int, seq: int = 0) -> Event:
    return Event(events.CHAT_MESSAGE, seq, 0, {"message": {"id": n}}, show_id=1)


def state(n: int) -> Event:
    return Event(events.VIEWERS_COUNT, n, 0, {"count": n}, show_id=1)


def connect(sock: FakeSocket, limits: HubLimits = LIMITS, user_id: int | None = None) -> Connection:
    conn = Connection(sock.send, sock.close, user_id=user_id, staff=False, limits=limits)
    conn.start()
    return conn


async def stalled(sock: FakeSocket, limits: HubLimits = LIMITS) -> Connection:
    """A connection whose writer is stuck inside a send that has not completed."""
    conn = connect(sock, limits)
    conn.offer(state(1))
    await asyncio.wait_for(sock.sending.wait(), PATIENCE)
    return conn


async def test_several_events_due_at_once_go_out_as_one_list_frame() -> None:
    sock = FakeSocket()
    conn = Connection(sock.send, sock.close, user_id=None, staff=False, limits=LIMITS)
    conn.offer(state(1))
    conn.offer(chat(1, seq=1))
    conn.offer(state(2))
    conn.start()
    await until(lambda: bool(sock.frames))
    assert len(sock.frames) == 1
    payload = json.loads(sock.frames[0])
    assert isinstance(payload, list)
    assert [(e["type"], e["seq"]) for e in payload] == [
        ("viewers.count", 1),
        ("chat.message", 1),
        ("viewers.count", 2),
    ]
    await conn.stop()


async def test_a_slow_viewer_loses_the_oldest_chat_but_no_state() -> None:
    sock = FakeSocket(reading=False)
    conn = await stalled(sock)
    for n in range(1, 11):
        conn.offer(chat(n))
    for n in range(2, 10):  # exactly fills the state backlog of 8
        conn.offer(state(n))
    assert not conn.closed
    sock.gate.set()
    await until(lambda: len(sock.frames) >= 2)
    got = sock.events()
    assert [e["seq"] for e in got if e["type"] == "viewers.count"] == list(range(1, 10))
    # The four newest chat messages survive; the six oldest were dropped.
    assert [e["data"]["message"]["id"] for e in got if e["type"] == "chat.message"] == [7, 8, 9, 10]
    assert conn.dropped == 6
    assert sock.closed is None
    await conn.stop()


async def test_a_viewer_past_the_state_backlog_is_cut_off_to_resync() -> None:
    sock = FakeSocket(reading=False)
    conn = await stalled(sock)
    for n in range(2, 10):
        conn.offer(state(n))
    assert not conn.closed
    conn.offer(state(10))  # one past the backlog of 8
    assert conn.closed
    sock.gate.set()  # let the farewell flush go through
    await asyncio.wait_for(sock.was_closed.wait(), PATIENCE)
    assert sock.closed is not None and sock.closed[0] == 1013
    conn.offer(state(99))  # nothing more is queued for a closed connection
    assert all(e["seq"] != 99 for e in sock.events())
    await conn.stop()


async def test_a_viewer_that_never_reads_is_cut_off() -> None:
    sock = FakeSocket(reading=False)
    conn = connect(sock, HubLimits(tick=0.001, send_timeout=0.05))
    conn.offer(state(1))
    await asyncio.wait_for(sock.was_closed.wait(), PATIENCE)
    assert sock.closed is not None and sock.closed[0] == 1013
    await conn.stop()


async def test_replies_to_a_client_that_does_not_read_are_bounded() -> None:
    sock = FakeSocket(reading=False)
    conn = await stalled(sock)
    for _ in range(50):  # e.g. pings whose pongs are never read
        conn.send_direct(events.encode(events.PONG, {}))
    assert conn.closed
    sock.gate.set()
    await asyncio.wait_for(sock.was_closed.wait(), PATIENCE)
    assert sock.closed is not None and sock.closed[0] == 1013
    await conn.stop()


async def room_of(
    hub: Hub, show_id: int, socks: list[FakeSocket], users: list[int | None]
) -> list[Connection]:
    conns = []
    for sock, user in zip(socks, users, strict=True):
        conn = hub.connection(sock.send, sock.close, user_id=user, staff=False)
        await hub.join(show_id, conn)
        conn.start()
        conns.append(conn)
    return conns


async def test_an_event_is_encoded_once_for_the_whole_room() -> None:
    bus = MemoryBus()
    hub = Hub(bus, LIMITS)
    socks = [FakeSocket() for _ in range(3)]
    await room_of(hub, 7, socks, [None, None, None])
    event = await bus.publish(7, events.SHELF_UNPINNED, {"listing_id": 3})
    await until(lambda: all(s.frames for s in socks))
    assert all(s.frames[0] is event.text for s in socks)
    await hub.close()


async def test_one_stalled_viewer_does_not_hold_up_the_others() -> None:
    bus = MemoryBus()
    hub = Hub(bus, LIMITS)
    stuck, fine = FakeSocket(reading=False), FakeSocket()
    await room_of(hub, 7, [stuck, fine], [1, 2])
    for n in range(5):
        await bus.publish(7, events.VIEWERS_COUNT, {"count": n})
        await until(lambda n=n: len([e for e in fine.events() if e["type"] == "viewers.count"]) > n)
    assert [e["seq"] for e in fine.events()] == [1, 2, 3, 4, 5]
    assert stuck.frames == []
    stuck.gate.set()
    await hub.close()


async def test_a_ban_closes_that_viewers_sockets_only() -> None:
    bus = MemoryBus()
    hub = Hub(bus, LIMITS)
    banned, other = FakeSocket(), FakeSocket()
    await room_of(hub, 7, [banned, other], [41, 42])
    await bus.publish(
        7, events.USER_SANCTIONED, {"user_id": 41, "banned": True, "muted_until": None}
    )
    await asyncio.wait_for(banned.was_closed.wait(), PATIENCE)
    assert banned.closed is not None and banned.closed[0] == 4403
    # The ban itself is the last thing the banned viewer hears.
    assert banned.events()[-1]["type"] == events.USER_SANCTIONED
    await until(lambda: bool(other.frames))
    assert other.closed is None
    await hub.close()


async def test_leaving_the_last_viewer_unsubscribes_the_room() -> None:
    bus = MemoryBus()
    hub = Hub(bus, LIMITS)
    socks = [FakeSocket(), FakeSocket()]
    conns = await room_of(hub, 7, socks, [1, 2])
    assert hub.count(7) == 2
    await hub.leave(7, conns[0])
    assert hub.count(7) == 1
    await hub.leave(7, conns[1])
    assert hub.count(7) == 0
    assert 7 not in hub.rooms
    event = await bus.publish(7, events.VIEWERS_COUNT, {"count": 0})
    assert event.seq == 1
    assert all(not s.frames for s in socks)


async def test_a_busy_room_shows_viewers_a_sample_of_its_chat_and_staff_all_of_it() -> None:
    import asyncio
    import json

    from hawker.live.events import CHAT_MESSAGE, Event
    from hawker.live.hub import Connection, HubLimits, Room

    limits = HubLimits(busy_room=5, busy_chat_per_s=3, tick=0.01)
    room = Room(1, limits)
    bodies: dict[str, list[str]] = {}

    def connection(name: str, *, user_id: int, staff: bool = False) -> Connection:
        bodies[name] = []

        async def send(text: str) -> None:
            frame = json.loads(text)
            for event in frame if isinstance(frame, list) else [frame]:
                bodies[name].append(event["data"]["body"])

        async def close(code: int, reason: str) -> None:
            return None

        c = Connection(send, close, user_id=user_id, staff=staff, limits=limits)
        room.connections.add(c)
        c.start()
        return c

    connections = [connection("host", user_id=1, staff=True), connection("author", user_id=2)]
    connections += [connection(f"viewer{i}", user_id=10 + i) for i in range(5)]
    for i in range(10):
        room.deliver(Event(CHAT_MESSAGE, 0, 0, {"id": i, "user": {"id": 2}, "body": f"m{i}"}))
    await asyncio.sleep(0.1)
    for c in connections:
        await c.stop()
    everything = [f"m{i}" for i in range(10)]
    assert bodies["host"] == everything
    assert bodies["author"] == everything
    assert all(bodies[f"viewer{i}"] == everything[:3] for i in range(5))
