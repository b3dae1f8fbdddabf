"""The crowd of bench/fanout.py: raw WebSocket viewers that cost their load generator little.

A viewer is an asyncio Protocol on uvloop: it sends the HTTP upgrade, then reads frame
headers and counts. Server frames are unmasked; the few frames a viewer sends (pongs, a
Socket.IO "40" or "3") are masked with a zero key, which leaves the payload as it is.
Nothing is decoded except in a sample of viewers, which parse every frame to time the
chat and the pins they receive.

An event is counted where the systems put one:
- hawker: every `{"v":1,"type":` in a text frame (a frame is one event or a JSON list);
- plain (the FastAPI loop): one per text frame, as it sends each message on its own;
- sio (python-socketio): one per `42` (EVENT) packet; Engine.IO pings (`2`) get a `3`.

`run_crowd` is the body of one load-generator process: it opens its share of the viewers,
reports progress, and answers the parent's commands on a pipe: `mark` (its counters and
the clock), `report` (the latency samples), `quit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import orjson
import uvloop

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
ZERO_MASK = b"\x00\x00\x00\x00"
HAWKER_EVENT = b'{"v":1,"type":'


def client_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame (mask key zero: the payload goes out unchanged)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + ZERO_MASK + payload


@dataclass
class Stats:
    opened: int = 0
    failed: int = 0
    closed: int = 0  # by the server, or lost, after the upgrade
    frames: int = 0
    events: int = 0
    bytes: int = 0
    errors: int = 0  # hawker `error` frames, for the driver's own sockets
    late: int = 0  # not joined by the deadline
    sampled: int = 0  # sampled viewers that joined

    def counters(self) -> dict[str, int]:
        return {
            "opened": self.opened,
            "failed": self.failed,
            "closed": self.closed,
            "frames": self.frames,
            "events": self.events,
            "bytes": self.bytes,
            "errors": self.errors,
            "late": self.late,
            "sampled": self.sampled,
        }


@dataclass
class Samples:
    """What the sampled viewers saw: chat latencies and pin arrivals (monotonic clock)."""

    chat: list[tuple[float, float]] = field(default_factory=list)  # (received, sent)
    pins: list[tuple[int, int, float]] = field(default_factory=list)  # (seq, listing, received)


class Viewer(asyncio.Protocol):
    """One socket in the room: upgrade, then count what arrives."""

    def __init__(
        self, request: bytes, mode: str, stats: Stats, samples: Samples | None = None
    ) -> None:
        self.watch_errors = False  # count Hawker's error frames (the driver's own sockets)
        self.request = request
        self.mode = mode
        self.stats = stats
        self.samples = samples
        self.transport: Any = None
        self.buf = b""
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the socket ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ready.done():
            if not self.ready.exception():
                self.stats.closed += 1  # a viewer that had joined, closed by the server or lost
        else:
            self.ready.set_exception(exc or ConnectionError("closed before joining"))
            self.ready.exception()  # retrieved: nobody may be waiting for it any more
        self.upgraded = False

    def send_text(self, text: str | bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            payload = text.encode() if isinstance(text, str) else text
            self.transport.write(client_frame(payload))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if data[9:12] != b"101":
                if not self.ready.done():
                    self.ready.set_exception(
                        ConnectionError(data[: data.find(b"\r\n")].decode("latin-1"))
                    )
                self.transport.close()
                return
            self.upgraded = True
            # Joined: the FastAPI loop sends nothing first; Hawker sends its snapshot and
            # Socket.IO its connect ("40"), which say the server has taken the viewer in.
            if self.mode == "plain" and not self.ready.done():
                self.ready.set_result(None)
            data = data[end + 4 :]
        n = len(data)
        pos = 0
        stats = self.stats
        while n - pos >= 2:
            length = data[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > n:
                break
            opcode = data[pos] & 0x0F
            if opcode <= 2:  # text, binary or a continuation
                stats.frames += 1
                stats.bytes += length
                self.on_payload(data, start, end)
            elif opcode == 9:  # ping: pong with the same payload
                self.transport.write(client_frame(data[start:end], 0xA))
            elif opcode == 8:  # close: answer, and let the server end the connection
                with contextlib.suppress(Exception):
                    self.transport.write(client_frame(data[start:end], 0x8))
                self.transport.close()
                return
            pos = end
        if pos < n:
            self.buf = data[pos:]

    # -- what a frame holds ----------------------------------------------------------------

    def on_payload(self, data: bytes, start: int, end: int) -> None:
        mode = self.mode
        if mode == "hawker":
            self.stats.events += data.count(HAWKER_EVENT, start, end)
            if not self.ready.done():
                self.ready.set_result(None)  # the snapshot
            if self.samples is not None:
                self.sample(orjson.loads(data[start:end]))
            if self.watch_errors:
                self.stats.errors += data.count(b'"type":"error"', start, end)
        elif mode == "plain":
            self.stats.events += 1
            if self.samples is not None:
                self.sample(orjson.loads(data[start:end]))
        else:  # Engine.IO packets: 4 message (42 = Socket.IO EVENT), 2 ping, 0 open
            kind = data[start : start + 2]
            if kind == b"42":
                self.stats.events += 1
                if self.samples is not None:
                    self.sample(orjson.loads(data[start + 2 : end])[1])
            elif kind == b"2":
                self.transport.write(client_frame(b"3"))
            elif kind == b"0{":
                self.transport.write(client_frame(b"40"))
            elif kind == b"40" and not self.ready.done():
                self.ready.set_result(None)

    def sample(self, payload: Any) -> None:
        samples = self.samples
        assert samples is not None
        now = time.monotonic()
        for event in payload if isinstance(payload, list) else (payload,):
            kind = event.get("type")
            if kind == "chat.message":
                body = event["data"].get("body", "")
                at = body.rfind(" t=")
                if at >= 0:
                    samples.chat.append((now, float(body[at + 3 :])))
            elif kind == "shelf.pinned":
                samples.pins.append((event["seq"], event["data"]["listing"]["id"], now))


def upgrade_request(host: str, port: int, path: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {KEY.decode()}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{auth}\r\n"
    ).encode()


async def open_viewer(
    host: str,
    port: int,
    request: bytes,
    mode: str,
    stats: Stats,
    samples: Samples | None = None,
    wait_s: float = 60.0,
) -> Viewer:
    loop = asyncio.get_running_loop()
    _, viewer = await asyncio.wait_for(
        loop.create_connection(lambda: Viewer(request, mode, stats, samples), host, port),
        wait_s,
    )
    try:
        await asyncio.wait_for(asyncio.shield(viewer.ready), wait_s)
    except BaseException:
        viewer.close()
        raise
    return viewer


# -- one load-generator process ------------------------------------------------------------


def run_crowd(pipe: Connection, spec: dict[str, Any]) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_crowd(pipe, spec))


async def _crowd(pipe: Connection, spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    samples = Samples()
    host, port, mode = spec["host"], spec["port"], spec["mode"]
    request = upgrade_request(host, port, spec["path"])
    viewers: list[Viewer] = []
    commands: asyncio.Queue[Any] = asyncio.Queue()

    def listen() -> None:
        # A thread with blocking reads: the pipe stays blocking, so a long send never fails
        # half-way (add_reader would make its descriptor non-blocking).
        while True:
            try:
                command = pipe.recv()
            except (EOFError, OSError):
                command = ("quit",)
            try:
                loop.call_soon_threadsafe(commands.put_nowait, command)
            except RuntimeError:  # the loop has ended (Ctrl-C)
                return
            if command[0] == "quit":
                return

    threading.Thread(target=listen, daemon=True).start()
    gate = asyncio.Semaphore(spec["concurrency"])
    sampled = set(random.Random(spec["index"]).sample(range(spec["count"]), spec["sampled"]))

    async def join(i: int) -> None:
        async with gate:
            for attempt in range(3):
                try:
                    viewer = await open_viewer(
                        host, port, request, mode, stats, samples if i in sampled else None
                    )
                except (OSError, TimeoutError, ConnectionError):
                    if attempt == 2:
                        stats.failed += 1
                        return
                    await asyncio.sleep(0.5 + random.random())
                    continue
                stats.opened += 1
                stats.sampled += i in sampled
                viewers.append(viewer)
                return

    async def progress() -> None:
        while True:
            pipe.send(("progress", spec["index"], stats.counters()))
            await asyncio.sleep(0.5)

    reporter = asyncio.create_task(progress())
    started = time.monotonic()
    joins = [asyncio.create_task(join(i)) for i in range(spec["count"])]
    # Who has not joined by the deadline stays out: the run's length is bounded, and
    # "viewers held" says how many the server took in.
    _, late = await asyncio.wait(joins, timeout=spec["join_timeout"])
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    stats.late = len(late)
    reporter.cancel()
    pipe.send(("joined", spec["index"], stats.counters(), time.monotonic() - started))
    while True:
        command = await commands.get()
        if command[0] == "mark":
            pipe.send(("mark", spec["index"], time.monotonic(), stats.counters()))
        elif command[0] == "report":
            pipe.send(("report", spec["index"], {"chat": samples.chat, "pins": samples.pins}))
        elif command[0] == "quit":
            break
    for viewer in viewers:
        viewer.close()
    await asyncio.sleep(0)
    pipe.close()
    os._exit(0)  # 20,000 sockets are the kernel's to close; skip the interpreter's teardown
