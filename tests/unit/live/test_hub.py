"""The room hub's fan-out, with fake sockets: sends that complete, stall or never return, and
fake transports whose write buffer fills and drains."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from hawker.live import events
from hawker.live.bus import MemoryBus
from hawker.live.events import Event
from hawker.live.hub import Connection, Hub, HubLimits, Room, ws_frame

LIMITS = HubLimits(tick=0.001, max_chat_backlog=4, max_state_backlog=8, send_timeout=30.0)
# Generous: these only stop a broken hub from hanging the run; nothing here measures time.
PATIENCE = 5.0


def flatten(frames: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for frame in frames:
        payload = json.loads(frame)
        out.extend(payload if isinstance(payload, list) else [payload])
    return out


class FakeSocket:
    """Sent to through ASGI (no transport). While `gate` is clear, a send waits: a viewer
    who is not reading."""

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
        return flatten(self.frames)


class FakeTransport:
    """A raw socket: frames are written as bytes. `backlog` stands for what the peer has not
    read yet; over the limit the viewer is behind."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.backlog = 0
        self.aborted = False
        self.closed: tuple[int, str] | None = None
        self.was_closed = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    async def send(self, text: str) -> None:
        raise AssertionError("a socket with a transport is written as bytes")

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.was_closed.set()

    def frames(self) -> list[str]:
        """What a WebSocket client makes of the bytes written."""
        client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
        for data in self.writes:
            client.receive_data(data)
        received = client.events_received()
        assert all(f.opcode is Opcode.TEXT and f.fin for f in received)
        return [bytes(f.data).decode() for f in received]

    def events(self) -> list[dict[str, Any]]:
        return flatten(self.frames())


async def until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - the hub has no event for these conditions
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), PATIENCE)


def chat(n: int, seq: int = 0) -> Event:
    return Event(events.CHAT_MESSAGE, seq, 0, {"message": {"id": n}}, show_id=1)


def state(n: int) -> Event:
    return Event(events.VIEWERS_COUNT, n, 0, {"count": n}, show_id=1)


def order(n: int, buyer: int) -> Event:
    return Event(events.ORDER_UPDATED, n, 0, {"buyer_id": buyer, "order": {"id": n}}, show_id=1)


def viewer(
    room: Room,
    sock: FakeSocket | FakeTransport,
    *,
    user_id: int | None = None,
    staff: bool = False,
    started: bool = True,
) -> Connection:
    transport = sock if isinstance(sock, FakeTransport) else None
    conn = Connection(
        sock.send,
        sock.close,
        user_id=user_id,
        staff=staff,
        limits=room.limits,
        transport=transport,
    )
    room.add(conn)
    if started:
        conn.start()
    return conn


async def stalled(room: Room, sock: FakeSocket) -> Connection:
    """A viewer whose one send in flight has not completed."""
    conn = viewer(room, sock)
    room.deliver(state(1))
    await asyncio.wait_for(sock.sending.wait(), PATIENCE)
    return conn


def seqs(got: list[dict[str, Any]], type_: str = events.VIEWERS_COUNT) -> list[int]:
    return [e["seq"] for e in got if e["type"] == type_]


def chat_ids(got: list[dict[str, Any]]) -> list[int]:
    return [e["data"]["message"]["id"] for e in got if e["type"] == events.CHAT_MESSAGE]


async def test_several_events_due_at_once_go_out_as_one_list_frame() -> None:
    room = Room(1, LIMITS)
    sock, raw = FakeSocket(), FakeTransport()
    viewer(room, sock), viewer(room, raw)
    room.deliver(state(1))
    room.deliver(chat(1, seq=1))
    room.deliver(state(2))
    await until(lambda: bool(sock.frames) and bool(raw.writes))
    for frames in (sock.frames, raw.frames()):
        assert len(frames) == 1
        payload = json.loads(frames[0])
        assert [(e["type"], e["seq"]) for e in payload] == [
            ("viewers.count", 1),
            ("chat.message", 1),
            ("viewers.count", 2),
        ]


async def test_a_frame_is_built_once_for_every_viewer_who_keeps_up() -> None:
    room = Room(1, LIMITS)
    raws = [FakeTransport() for _ in range(3)]
    for raw in raws:
        viewer(room, raw)
    await asyncio.sleep(0.01)
    room.deliver(state(1))
    room.deliver(state(2))
    await until(lambda: all(raw.writes for raw in raws))
    # The very same bytes object went to every socket.
    assert raws[0].writes[0] is raws[1].writes[0] is raws[2].writes[0]
    assert [e["seq"] for e in raws[0].events()] == [1, 2]


async def test_a_slow_viewer_loses_the_oldest_chat_but_no_state() -> None:
    room = Room(1, LIMITS)
    sock = FakeSocket(reading=False)
    conn = await stalled(room, sock)
    for n in range(1, 11):
        room.deliver(chat(n))
    for n in range(2, 10):  # exactly fills the state backlog of 8
        room.deliver(state(n))
    await asyncio.sleep(0.02)  # ticks pass while the send is stuck
    assert not conn.closed
    sock.gate.set()
    await until(lambda: len(sock.frames) >= 2)
    got = sock.events()
    assert seqs(got) == list(range(1, 10))
    # The four newest chat messages survive; the six oldest were dropped.
    assert chat_ids(got) == [7, 8, 9, 10]
    assert conn.dropped == 6
    assert sock.closed is None


async def test_a_viewer_with_a_full_write_buffer_is_skipped_and_catches_up_in_order() -> None:
    room = Room(1, LIMITS)
    slow, fast = FakeTransport(), FakeTransport()
    conn = viewer(room, slow)
    viewer(room, fast)
    room.deliver(state(1))
    await until(lambda: bool(slow.writes))
    slow.backlog = LIMITS.max_buffer + 1  # the peer stopped reading
    for n in range(1, 11):
        room.deliver(chat(n))
        if n < 9:  # 8 state events: the backlog is full, not over
            room.deliver(state(n + 1))
        await asyncio.sleep(0.002)  # one tick or so each
    await until(lambda: len(seqs(fast.events())) == 9)
    assert len(slow.writes) == 1  # nothing more went into the full buffer
    assert not conn.closed
    slow.backlog = 0  # it read everything
    await until(lambda: len(seqs(slow.events())) == 9)
    got = slow.events()
    assert seqs(got) == list(range(1, 10))
    assert chat_ids(got) == [7, 8, 9, 10]
    assert conn.dropped == 6
    # Back with the others: the next frame is the shared one again.
    room.deliver(state(10))
    await until(lambda: seqs(slow.events())[-1] == 10 and seqs(fast.events())[-1] == 10)
    assert slow.writes[-1] is fast.writes[-1]


async def test_a_viewer_past_the_state_backlog_is_cut_off_to_resync() -> None:
    room = Room(1, LIMITS)
    sock = FakeSocket(reading=False)
    conn = await stalled(room, sock)
    for n in range(2, 10):
        room.deliver(state(n))
    await asyncio.sleep(0.02)
    assert not conn.closed
    room.deliver(state(10))  # one past the backlog of 8
    await until(lambda: conn.closed)
    sock.gate.set()  # let the farewell flush go through
    await asyncio.wait_for(sock.was_closed.wait(), PATIENCE)
    assert sock.closed is not None and sock.closed[0] == 1013
    room.deliver(state(99))  # nothing more is queued for a closed connection
    await asyncio.sleep(0.02)
    assert all(e["seq"] != 99 for e in sock.events())


async def test_a_viewer_that_never_reads_is_cut_off() -> None:
    room = Room(1, HubLimits(tick=0.001, send_timeout=0.05))
    sock = FakeSocket(reading=False)
    viewer(room, sock)
    room.deliver(state(1))
    await asyncio.wait_for(sock.was_closed.wait(), PATIENCE)
    assert sock.closed is not None and sock.closed[0] == 1013


async def test_a_socket_that_stays_behind_is_cut_off_and_dropped() -> None:
    limits = HubLimits(tick=0.001, send_timeout=0.05)
    room = Room(1, limits)
    raw = FakeTransport()
    viewer(room, raw)
    raw.backlog = 10 * limits.max_buffer
    room.deliver(state(1))
    await asyncio.wait_for(raw.was_closed.wait(), PATIENCE)
    assert raw.closed is not None and raw.closed[0] == 1013
    # Its peer reads nothing: the socket is dropped rather than kept with its buffer.
    await until(lambda: raw.aborted)


async def test_a_snapshot_waits_for_a_full_buffer_and_one_that_stays_full_is_cut_off() -> None:
    room = Room(1, HubLimits(tick=0.001, send_timeout=0.2))
    raw = FakeTransport()
    conn = viewer(room, raw, started=False)
    raw.backlog = 10 * room.limits.max_buffer
    sending = asyncio.create_task(conn.send_now(events.encode(events.ROOM_SNAPSHOT, {}, seq=0)))
    await asyncio.sleep(0.05)
    assert raw.writes == [] and not sending.done()
    raw.backlog = 0  # it read some
    await asyncio.wait_for(sending, PATIENCE)
    assert [e["type"] for e in raw.events()] == ["room.snapshot"]
    raw.backlog = 10 * room.limits.max_buffer  # and stops reading for good
    await asyncio.wait_for(conn.send_now(events.encode(events.ROOM_SNAPSHOT, {}, seq=0)), PATIENCE)
    assert conn.closed
    await asyncio.wait_for(raw.was_closed.wait(), PATIENCE)
    assert raw.closed is not None and raw.closed[0] == 1013
    assert len(raw.frames()) == 1


async def test_replies_to_a_client_that_does_not_read_are_bounded() -> None:
    room = Room(1, LIMITS)
    sock = FakeSocket(reading=False)
    conn = await stalled(room, sock)
    for _ in range(50):  # e.g. pings whose pongs are never read
        conn.send_direct(events.encode(events.PONG, {}))
    assert conn.closed
    sock.gate.set()
    await asyncio.wait_for(sock.was_closed.wait(), PATIENCE)
    assert sock.closed is not None and sock.closed[0] == 1013


async def test_what_is_meant_for_one_viewer_keeps_its_place_in_the_stream() -> None:
    room = Room(1, LIMITS)
    buyer, other = FakeTransport(), FakeTransport()
    viewer(room, buyer, user_id=5)
    viewer(room, other, user_id=6)
    await asyncio.sleep(0.01)
    room.deliver(state(1))
    room.deliver(order(1, buyer=5))
    room.deliver(state(2))
    conn = next(c for c in room.connections if c.user_id == 5)
    conn.send_direct(events.encode(events.PONG, {"ref": 1}))
    room.deliver(state(3))
    await until(lambda: len(seqs(other.events())) == 3 and len(seqs(buyer.events())) == 3)
    assert [e["type"] for e in buyer.events()] == [
        "viewers.count",
        "order.updated",
        "viewers.count",
        "pong",
        "viewers.count",
    ]
    assert [e["type"] for e in other.events()] == ["viewers.count"] * 3


async def test_nothing_goes_out_ahead_of_the_snapshot() -> None:
    room = Room(1, LIMITS)
    raw = FakeTransport()
    conn = viewer(room, raw, started=False)  # joined: the snapshot is being read
    room.deliver(state(1))
    room.deliver(chat(1, seq=1))
    await asyncio.sleep(0.02)
    assert raw.writes == []
    await conn.send_now(events.encode(events.ROOM_SNAPSHOT, {}, seq=0))
    conn.start()
    room.deliver(state(2))
    await until(lambda: len(seqs(raw.events())) == 2)
    assert [(e["type"], e["seq"]) for e in raw.events()] == [
        ("room.snapshot", 0),
        ("viewers.count", 1),
        ("chat.message", 1),
        ("viewers.count", 2),
    ]
    # A resync holds the stream again the same way.
    conn.hold()
    room.deliver(state(3))
    await asyncio.sleep(0.02)
    await conn.send_now(events.encode(events.ROOM_SNAPSHOT, {}, seq=3))
    conn.start()
    await until(lambda: seqs(raw.events())[-1] == 3)
    assert [e["type"] for e in raw.events()[-2:]] == ["room.snapshot", "viewers.count"]


def raw_room(limits: HubLimits, viewers: int = 2) -> tuple[Room, list[FakeTransport]]:
    room = Room(1, limits)
    raws = [FakeTransport() for _ in range(viewers)]
    for raw in raws:
        viewer(room, raw)
    return room, raws


async def test_a_big_room_ticks_slower_but_what_the_host_does_goes_at_once() -> None:
    # Two viewers at one frame a second each: a two-second tick.
    room, raws = raw_room(HubLimits(tick=0.001, frames_per_s=1, max_tick=10.0))
    await asyncio.sleep(0.01)
    room.deliver(chat(1))
    room.deliver(state(1))  # a count: it waits for the tick too
    await asyncio.sleep(0.1)
    assert all(raw.writes == [] for raw in raws)
    room.deliver(Event(events.SHELF_PINNED, 2, 0, {"listing": {"id": 7}}, show_id=1))
    await until(lambda: all(raw.writes for raw in raws))
    for raw in raws:
        assert [e["type"] for e in raw.events()] == [
            "chat.message",
            "viewers.count",
            "shelf.pinned",
        ]


class Logged(FakeTransport):
    """A raw socket that adds itself to `written` at each write, so that the order sockets
    are written in shows; `first` runs at the turn of the event loop after the first."""

    def __init__(
        self, written: list[FakeTransport], first: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.written = written
        self.first = first

    def write(self, data: bytes) -> None:
        super().write(data)
        if not self.written and self.first is not None:
            asyncio.get_running_loop().call_soon(self.first)
        self.written.append(self)


def parted_room(
    meanwhile: Callable[[], None],
) -> tuple[Room, dict[FakeTransport, Connection], list[FakeTransport]]:
    """Six raw viewers in a room written two sockets a turn of the event loop; `meanwhile`
    runs at the turn after the first write. The room, its viewers by socket, and the
    sockets in the order they are written to."""
    room = Room(1, HubLimits(tick=0.001, chunk=2))
    written: list[FakeTransport] = []
    conns: dict[FakeTransport, Connection] = {}
    for raw in [Logged(written, meanwhile) for _ in range(6)]:
        conns[raw] = viewer(room, raw)
    return room, conns, written


async def test_a_big_room_is_written_in_parts_and_what_comes_between_keeps_its_place() -> None:
    # Between the parts the process serves the rest.
    between: list[int] = []
    room, conns, written = parted_room(lambda: meanwhile())
    raws = list(conns)

    def meanwhile() -> None:
        between.append(len(written))
        # A reply to a viewer the tick has not reached yet, and the room's next event.
        waiting = next(raw for raw in raws if raw not in written)
        conns[waiting].send_direct(events.encode(events.PONG, {"ref": 1}))
        room.deliver(state(2))
        between.append(raws.index(waiting))

    await asyncio.sleep(0.01)
    room.deliver(state(1))
    await until(lambda: all(seqs(raw.events()) == [1, 2] for raw in raws))
    assert between[0] == 2
    for i, raw in enumerate(raws):
        expected = ["viewers.count", "pong", "viewers.count"] if i == between[1] else None
        assert [e["type"] for e in raw.events()] == (expected or ["viewers.count", "viewers.count"])


async def test_staff_are_written_first_so_the_host_sees_its_own_move_before_its_crowd() -> None:
    # A room written one socket a turn; the host's and a moderator's sockets came in last.
    room = Room(1, HubLimits(tick=0.001, chunk=1))
    written: list[FakeTransport] = []
    crowd = [Logged(written) for _ in range(30)]
    for raw in crowd:
        viewer(room, raw)
    host, moderator = Logged(written), Logged(written)
    viewer(room, host, user_id=1, staff=True)
    viewer(room, moderator, user_id=2, staff=True)
    await asyncio.sleep(0.01)
    room.deliver(state(1))
    await until(lambda: len(written) == 32)
    assert set(written[:2]) == {host, moderator}
    assert set(written[2:]) == set(crowd)


def pin(seq: int) -> Event:
    return Event(events.SHELF_PINNED, seq, 0, {"listing": {"id": 7}}, show_id=1)


async def test_a_pin_during_a_tick_reaches_every_socket_before_anything_else_runs() -> None:
    # The pin comes in after the first part: the four sockets the tick has yet to reach
    # take it in the same frame as the tick, the first two on its own, and all six before
    # the event loop serves anything else.
    seen_then: list[int] = []
    room, conns, written = parted_room(lambda: meanwhile())
    raws = list(conns)

    def meanwhile() -> None:
        room.deliver(pin(2))
        asyncio.get_running_loop().call_soon(lambda: seen_then.append(len(written)))

    await asyncio.sleep(0.01)
    room.deliver(state(1))
    await until(lambda: all(seqs(raw.events(), events.SHELF_PINNED) == [2] for raw in raws))
    assert seen_then == [8]  # 2 + 4 in the tick, then 2 with the pin alone
    first_part = written[:2]
    for raw in raws:
        assert [(e["type"], e["seq"]) for e in raw.events()] == [
            ("viewers.count", 1),
            ("shelf.pinned", 2),
        ]
        assert len(raw.writes) == (2 if raw in first_part else 1)


async def raw_hub(limits: HubLimits, viewers: int) -> tuple[Hub, list[FakeTransport]]:
    hub = Hub(MemoryBus(), limits)
    raws = [FakeTransport() for _ in range(viewers)]
    for raw in raws:
        conn = hub.connection(raw.send, raw.close, user_id=None, staff=False, transport=raw)
        await hub.join(1, conn)
        conn.start()
    await asyncio.sleep(0.01)
    return hub, raws


async def test_while_the_host_moves_ticks_wait_and_then_go_out_with_the_move() -> None:
    hub, raws = await raw_hub(HubLimits(tick=0.001, chunk=2, max_hold=60.0), viewers=6)
    room = hub.rooms[1]
    with hub.first():
        room.deliver(chat(1))
        # Many turns of the event loop, each of which would have written a part.
        await asyncio.sleep(0.05)
        assert all(raw.writes == [] for raw in raws)
        room.deliver(pin(2))
        # What the host did and the tick it held go out together, to everyone at once.
        await until(lambda: all(raw.writes for raw in raws))
    for raw in raws:
        assert len(raw.writes) == 1
        assert [e["type"] for e in raw.events()] == ["chat.message", "shelf.pinned"]
    # Once the move is done, the next ticks go out part by part again.
    room.deliver(chat(3))
    await until(lambda: all(len(raw.writes) == 2 for raw in raws))


async def test_a_tick_is_held_for_the_host_no_longer_than_max_hold() -> None:
    hub, raws = await raw_hub(HubLimits(tick=0.001, chunk=2, max_hold=0.0), viewers=6)
    with hub.first():
        hub.rooms[1].deliver(chat(1))
        await until(lambda: all(raw.writes for raw in raws))


async def test_a_busy_room_sends_its_count_alone_only_now_and_then() -> None:
    room, raws = raw_room(HubLimits(tick=0.001, busy_room=2, quiet_tick=60.0))
    await asyncio.sleep(0.01)
    room.deliver(state(1))
    room.deliver(state(2))
    await asyncio.sleep(0.1)
    assert all(raw.writes == [] for raw in raws)
    # Anything else takes the counts along at the next tick.
    room.deliver(chat(1))
    await until(lambda: all(raw.writes for raw in raws))
    for raw in raws:
        assert [(e["type"], e["seq"]) for e in raw.events()] == [
            ("viewers.count", 1),
            ("viewers.count", 2),
            ("chat.message", 0),
        ]


def test_frames_are_valid_websocket_frames_at_every_length() -> None:
    for size in (0, 125, 126, 65535, 65536, 200_000):
        text = "é" * (size // 2) + "x" * (size % 2)
        client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
        client.receive_data(ws_frame(text))
        (frame,) = client.events_received()
        assert frame.opcode is Opcode.TEXT and frame.fin and not frame.rsv1
        assert bytes(frame.data).decode() == text


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
    await asyncio.sleep(0.01)
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
        await until(lambda n=n: len(seqs(fine.events())) > n)
    assert seqs(fine.events()) == [1, 2, 3, 4, 5]
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
    limits = HubLimits(busy_room=5, busy_chat_per_s=3, tick=0.01)
    room = Room(1, limits)
    socks = {"host": FakeTransport(), "author": FakeTransport()}
    socks |= {f"viewer{i}": FakeTransport() for i in range(5)}
    viewer(room, socks["host"], user_id=1, staff=True)
    viewer(room, socks["author"], user_id=2)
    for i in range(5):
        viewer(room, socks[f"viewer{i}"], user_id=10 + i)
    for i in range(10):
        room.deliver(
            Event(events.CHAT_MESSAGE, 0, 0, {"id": i, "user": {"id": 2}, "body": f"m{i}"})
        )
    await asyncio.sleep(0.1)
    bodies = {name: [e["data"]["body"] for e in s.events()] for name, s in socks.items()}
    everything = [f"m{i}" for i in range(10)]
    assert bodies["host"] == everything
    assert bodies["author"] == everything
    assert all(bodies[f"viewer{i}"] == everything[:3] for i in range(5))
