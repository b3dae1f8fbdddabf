"""A viewer who stops reading, among viewers who keep up, over real sockets: the others get
every state event in order and on time, and the one who stopped is cut off and dropped."""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.harness import LiveServer, RoomClient, World, ctx_of
from tests.integration.test_ws_room import assert_consecutive_from

# How long a viewer may stay behind before being cut off; short, so the test is too.
SEND_TIMEOUT = 2.0


@pytest.fixture(autouse=True, scope="module")
def quick_cut_off(server: LiveServer) -> Iterator[None]:
    hub = ctx_of(server).hub
    before = hub.limits
    hub.limits = dataclasses.replace(before, send_timeout=SEND_TIMEOUT)
    yield
    hub.limits = before


class Reader(threading.Thread):
    """Reads a viewer's socket as fast as frames come, as a phone on a good line does."""

    def __init__(self, room: RoomClient) -> None:
        super().__init__(daemon=True)
        self.room = room
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.room._read(0.2)
            except ConnectionClosed:
                return


def client_frame(payload: bytes) -> bytes:
    """A masked text frame, as a client must send it (RFC 6455, 5.3)."""
    assert len(payload) < 126
    mask = os.urandom(4)
    return (
        bytes((0x81, 0x80 | len(payload)))
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def stalled_viewer(server: LiveServer, show_id: int) -> socket.socket:
    """A viewer whose app stopped reading: after the handshake it never reads again, and
    asks for snapshot after snapshot (a big frame each) meanwhile."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.settings.port))
    sock.sendall(
        f"GET /ws/shows/{show_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.settings.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def how_it_ended(sock: socket.socket, timeout: float) -> tuple[str, int | None]:
    """Read what the server sent until it ends the connection: ("eof" or "reset", and the
    close code if a close frame came through)."""
    sock.settimeout(timeout)
    data = bytearray()
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
        ended = "eof"
    except ConnectionResetError:
        ended = "reset"
    code = None
    at = 0
    while at + 2 <= len(data):
        opcode, size = data[at] & 0x0F, data[at + 1] & 0x7F
        head = 2
        if size == 126:
            size, head = int.from_bytes(data[at + 2 : at + 4], "big"), 4
        elif size == 127:
            size, head = int.from_bytes(data[at + 2 : at + 10], "big"), 10
        if opcode == 0x8 and size >= 2 and at + head + 2 <= len(data):
            code = int.from_bytes(data[at + head : at + head + 2], "big")
        at += head + size
    return ended, code


def shelf_pins(events: list[dict[str, Any]]) -> list[int]:
    return [e["data"]["listing"]["id"] for e in events if e["type"] == "shelf.pinned"]


def test_a_viewer_who_stops_reading_is_cut_off_and_the_others_miss_nothing(
    world: World,
) -> None:
    host = world.person("Host", host=True)
    # A long shelf makes a big snapshot, so the stalled viewer's buffers fill quickly.
    show, shelf = world.live_show(host, listings=40)
    sid = show["id"]
    hub = ctx_of(world.server).hub
    fast = [world.socket(sid, world.person(f"Fast {i}")) for i in range(3)]
    first_seq = [room.snapshot()["seq"] for room in fast]
    readers = [Reader(room) for room in fast]
    for reader in readers:
        reader.start()
    slow = stalled_viewer(world.server, sid)
    try:
        slow.settimeout(0.5)
        pinned: list[int] = []
        deadline = time.monotonic() + 60
        cut_at = None
        asking = True
        while cut_at is None or time.monotonic() < cut_at + 1.0:
            assert time.monotonic() < deadline, "the stalled viewer was never cut off"
            if asking:
                try:
                    slow.sendall(client_frame(b'{"type":"resync"}') * 10)
                except TimeoutError:
                    pass  # the server stopped reading it too
                except OSError:
                    asking = False  # dropped by the server
            listing = shelf[len(pinned) % len(shelf)]["id"]
            r = host.put(f"/shows/{sid}/pin", json={"listing_id": listing})
            assert r.status_code == 200, r.text
            pinned.append(listing)
            if cut_at is None and hub.count(sid) == len(fast):
                cut_at = time.monotonic()
        # The others heard every pin, in order, with no state event missing on the way.
        deadline = time.monotonic() + 5
        while any(len(shelf_pins(room.events)) < len(pinned) for room in fast):
            assert time.monotonic() < deadline, "a viewer who reads did not get every pin"
            time.sleep(0.05)
        for room, seq in zip(fast, first_seq, strict=True):
            assert shelf_pins(room.events) == pinned
            assert_consecutive_from(seq, room.events[1:])
        assert len(pinned) > 20
        # The stalled viewer's socket was closed by the server: a 1013 if the close frame
        # could still get through its full buffers, else dropped outright.
        ended, code = how_it_ended(slow, timeout=10)
        assert ended in {"eof", "reset"}
        assert code in {None, 1013}
    finally:
        slow.close()
        for reader in readers:
            reader.stop.set()
        for room in fast:
            room.close()
