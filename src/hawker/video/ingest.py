"""RTMP ingest: the server side of an encoder's publish (OBS, ffmpeg, a phone app).

Only as much of RTMP as a publisher needs: the handshake, the chunk stream, the `connect`,
`createStream` and `publish` commands, and the audio, video and metadata messages, which are
handed on unchanged as FLV tags. Parsing the session here rather than in ffmpeg is what lets
the server read the stream key *before* any media flows and refuse a wrong or rotated one:
ffmpeg's own RTMP listener logs a mismatched stream name and carries on.

Everything from the socket is untrusted: sizes are bounded, every wait has a deadline, and a
malformed session ends that connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

HANDSHAKE_SIZE = 1536
MAX_MESSAGE = 8 * 1024 * 1024  # a 4K keyframe is well under this
MAX_CHUNK_STREAMS = 32
OUT_CHUNK_SIZE = 4096
WINDOW = 2_500_000
APP = "live"
SET_DATA_FRAME = b"\x02\x00\x0d@setDataFrame"

# RTMP message types.
SET_CHUNK_SIZE, ABORT, ACK, USER_CONTROL, WINDOW_ACK_SIZE, PEER_BANDWIDTH = 1, 2, 3, 4, 5, 6
AUDIO, VIDEO = 8, 9
DATA_AMF3, COMMAND_AMF3, DATA_AMF0, COMMAND_AMF0 = 15, 17, 18, 20


class ProtocolError(Exception):
    """The peer broke the protocol; its connection ends."""


# -- AMF0 ---------------------------------------------------------------------------------


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


def amf_decode(data: bytes) -> list[Any]:
    """All AMF0 values in `data` (objects and ECMA arrays become dicts)."""
    values: list[Any] = []
    pos = 0
    while pos < len(data):
        value, pos = _amf_value(data, pos, 0)
        values.append(value)
    return values


def _need(data: bytes, pos: int, n: int) -> None:
    if pos + n > len(data):
        raise ProtocolError("truncated AMF0 value")


def _amf_string(data: bytes, pos: int, long: bool = False) -> tuple[str, int]:
    size = 4 if long else 2
    _need(data, pos, size)
    n = int.from_bytes(data[pos : pos + size], "big")
    pos += size
    _need(data, pos, n)
    return data[pos : pos + n].decode("utf-8", "replace"), pos + n


def _amf_value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if depth > 16:
        raise ProtocolError("AMF0 nested too deep")
    _need(data, pos, 1)
    marker = data[pos]
    pos += 1
    if marker == 0:  # number
        _need(data, pos, 8)
        return struct.unpack(">d", data[pos : pos + 8])[0], pos + 8
    if marker == 1:  # boolean
        _need(data, pos, 1)
        return data[pos] != 0, pos + 1
    if marker == 2:
        return _amf_string(data, pos)
    if marker == 12:
        return _amf_string(data, pos, long=True)
    if marker in (3, 8):  # object, ECMA array (its count is a hint only)
        if marker == 8:
            _need(data, pos, 4)
            pos += 4
        result: dict[str, Any] = {}
        while True:
            key, pos = _amf_string(data, pos)
            _need(data, pos, 1)
            if key == "" and data[pos] == 9:
                return result, pos + 1
            result[key], pos = _amf_value(data, pos, depth + 1)
    if marker == 10:  # strict array
        _need(data, pos, 4)
        count = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if count > 10_000:
            raise ProtocolError("AMF0 array too long")
        items = []
        for _ in range(count):
            item, pos = _amf_value(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if marker == 11:  # date: ms + time zone
        _need(data, pos, 10)
        return struct.unpack(">d", data[pos : pos + 8])[0], pos + 10
    if marker == 5:
        return None, pos
    if marker == 6:
        return UNDEFINED, pos
    raise ProtocolError(f"AMF0 marker {marker} not supported")


def amf_encode(*values: Any) -> bytes:
    out = bytearray()
    for value in values:
        _amf_put(out, value)
    return bytes(out)


def _amf_put(out: bytearray, value: Any) -> None:
    if value is None:
        out.append(5)
    elif value is UNDEFINED:
        out.append(6)
    elif isinstance(value, bool):
        out += bytes((1, int(value)))
    elif isinstance(value, int | float):
        out.append(0)
        out += struct.pack(">d", float(value))
    elif isinstance(value, str):
        raw = value.encode()
        out.append(2)
        out += len(raw).to_bytes(2, "big") + raw
    elif isinstance(value, dict):
        out.append(3)
        for key, item in value.items():
            raw = key.encode()
            out += len(raw).to_bytes(2, "big") + raw
            _amf_put(out, item)
        out += b"\x00\x00\x09"
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


# -- chunk stream -------------------------------------------------------------------------


@dataclass(slots=True)
class Message:
    type_id: int
    stream_id: int
    timestamp: int  # ms, 32 bits
    payload: bytes


@dataclass(slots=True)
class _ChunkStream:
    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytearray = field(default_factory=bytearray)


class ChunkReader:
    """Reassembles messages from the peer's chunk stream."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.chunk_size = 128
        self.received = 0
        self._streams: dict[int, _ChunkStream] = {}

    async def _read(self, n: int) -> bytes:
        data = await self.reader.readexactly(n)
        self.received += n
        return data

    async def read(self) -> Message:
        while True:
            message = await self._chunk()
            if message is None:
                continue
            if message.type_id == SET_CHUNK_SIZE:
                if len(message.payload) < 4:
                    raise ProtocolError("short chunk size message")
                size = int.from_bytes(message.payload[:4], "big") & 0x7FFFFFFF
                if not 1 <= size <= 0xFFFFFF:
                    raise ProtocolError(f"chunk size {size} out of range")
                self.chunk_size = size
            elif message.type_id == ABORT and len(message.payload) >= 4:
                aborted = self._streams.get(int.from_bytes(message.payload[:4], "big"))
                if aborted is not None:
                    aborted.buffer.clear()
            return message

    async def _chunk(self) -> Message | None:
        first = (await self._read(1))[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + (await self._read(1))[0]
        elif csid == 1:
            extra = await self._read(2)
            csid = 64 + extra[0] + extra[1] * 256
        cs = self._streams.get(csid)
        if cs is None:
            if fmt != 0:
                raise ProtocolError(f"chunk stream {csid} starts without a full header")
            if len(self._streams) >= MAX_CHUNK_STREAMS:
                raise ProtocolError("too many chunk streams")
            cs = self._streams[csid] = _ChunkStream()
        starting = not cs.buffer
        if fmt < 3:
            header = await self._read((11, 7, 3)[fmt])
            stamp = int.from_bytes(header[0:3], "big")
            if fmt < 2:
                cs.length = int.from_bytes(header[3:6], "big")
                cs.type_id = header[6]
                if fmt == 0:
                    cs.stream_id = int.from_bytes(header[7:11], "little")
            cs.extended = stamp == 0xFFFFFF
            if cs.extended:
                stamp = int.from_bytes(await self._read(4), "big")
            if not starting:
                raise ProtocolError("a new message header in the middle of a message")
            if fmt == 0:
                cs.timestamp, cs.delta = stamp, 0
            else:
                cs.delta = stamp
                cs.timestamp = (cs.timestamp + stamp) & 0xFFFFFFFF
        else:
            if cs.extended:
                # Encoders repeat the extended timestamp on continuation chunks (librtmp, ffmpeg).
                stamp = int.from_bytes(await self._read(4), "big")
                if starting:
                    cs.timestamp = (cs.timestamp + stamp) & 0xFFFFFFFF
            elif starting:
                cs.timestamp = (cs.timestamp + cs.delta) & 0xFFFFFFFF
        if cs.length > MAX_MESSAGE:
            raise ProtocolError(f"a message of {cs.length} bytes is over the limit")
        take = min(self.chunk_size, cs.length - len(cs.buffer))
        if take:
            cs.buffer += await self._read(take)
        if len(cs.buffer) < cs.length:
            return None
        message = Message(cs.type_id, cs.stream_id, cs.timestamp, bytes(cs.buffer))
        cs.buffer.clear()
        return message


def encode_message(
    csid: int,
    type_id: int,
    payload: bytes,
    *,
    stream_id: int = 0,
    timestamp: int = 0,
    chunk_size: int = OUT_CHUNK_SIZE,
) -> bytes:
    out = bytearray()
    out.append(csid)  # fmt 0; csid < 64
    out += min(timestamp, 0xFFFFFF).to_bytes(3, "big")
    out += len(payload).to_bytes(3, "big")
    out.append(type_id)
    out += stream_id.to_bytes(4, "little")
    for start in range(0, max(len(payload), 1), chunk_size):
        if start:
            out.append(0xC0 | csid)
        out += payload[start : start + chunk_size]
    return bytes(out)


# -- FLV ----------------------------------------------------------------------------------

FLV_HEADER = b"FLV\x01\x05\x00\x00\x00\x09" + b"\x00\x00\x00\x00"  # audio + video, no tag yet


def flv_tag(type_id: int, timestamp: int, payload: bytes) -> bytes:
    size = len(payload)
    header = (
        bytes((type_id,))
        + size.to_bytes(3, "big")
        + (timestamp & 0xFFFFFF).to_bytes(3, "big")
        + bytes(((timestamp >> 24) & 0xFF,))
        + b"\x00\x00\x00"
    )
    return header + payload + (size + 11).to_bytes(4, "big")


def is_config(type_id: int, payload: bytes) -> bool:
    """A decoder configuration (AVC/HEVC/AV1 sequence start, AAC AudioSpecificConfig)."""
    if len(payload) < 2:
        return False
    if type_id == VIDEO:
        if payload[0] & 0x80:  # enhanced RTMP: packet type in the low nibble
            return payload[0] & 0x0F == 0
        return payload[0] & 0x0F in (7, 12) and payload[1] == 0
    if type_id != AUDIO:
        return False
    if payload[0] >> 4 == 9:  # enhanced RTMP audio (Opus, FLAC, ...): packet type 0 starts it
        return payload[0] & 0x0F == 0
    return payload[0] >> 4 == 10 and payload[1] == 0


def is_keyframe(payload: bytes) -> bool:
    return bool(payload) and (payload[0] >> 4) & 0x07 == 1


def video_codec(payload: bytes) -> str:
    if not payload:
        return "none"
    if payload[0] & 0x80 and len(payload) >= 5:
        return payload[1:5].decode("ascii", "replace").strip()  # FourCC: hvc1, av01, vp09
    return {7: "h264", 12: "hevc", 2: "h263", 4: "vp6", 5: "vp6a", 3: "screen"}.get(
        payload[0] & 0x0F, f"codec {payload[0] & 0x0F}"
    )


def audio_codec(payload: bytes) -> str:
    if not payload:
        return "none"
    if payload[0] >> 4 == 9 and len(payload) >= 5:  # enhanced RTMP: FourCC
        return payload[1:5].decode("ascii", "replace").strip().lower()
    return {10: "aac", 2: "mp3", 14: "mp3", 11: "speex", 6: "nellymoser", 1: "adpcm", 3: "pcm"}.get(
        payload[0] >> 4, f"codec {payload[0] >> 4}"
    )


# -- a publishing session -----------------------------------------------------------------


class Sink(Protocol):
    """Where an accepted publisher's media goes (the show's stream)."""

    def media(self, type_id: int, timestamp: int, payload: bytes) -> None: ...

    def metadata(self, values: dict[str, Any], tag: bytes) -> None: ...

    async def closed(self, session: Session, reason: str) -> None: ...


# (app, stream key, session) -> a sink for the media, or why the publish is refused.
OnPublish = Callable[[str, str, "Session"], Awaitable["Sink | str"]]


# How long a connection stays open after its encoder stopped the stream, for it to hang up.
LINGER_S = 2.0


@dataclass
class Timeouts:
    handshake: float = 10.0
    publish: float = 15.0  # from connect to publish
    idle: float = 10.0  # no bytes for this long: the encoder is gone


class Session:
    """One TCP connection from an encoder."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_publish: OnPublish,
        timeouts: Timeouts,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.on_publish = on_publish
        self.timeouts = timeouts
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.chunks = ChunkReader(reader)
        self.sink: Sink | None = None
        self.app = ""
        self.key = ""
        self._ack_window = 0
        self._acked = 0
        self._reason = ""
        self._stopped = False  # the encoder stopped its stream itself

    def disconnect(self, reason: str) -> None:
        """End the session from the server side (a refusal, a newer encoder, the show ended)."""
        if not self._reason:
            self._reason = reason
        self.writer.close()

    async def run(self) -> None:
        reason = "the encoder disconnected"
        try:
            await asyncio.wait_for(self._handshake(), self.timeouts.handshake)
            await self._loop()
            if self._stopped:
                await self._linger()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except TimeoutError:
            reason = "the encoder stopped sending"
        except ProtocolError as exc:
            reason = f"protocol error: {exc}"
            log.info("rtmp %s: %s", self.peer, reason)
        finally:
            self.writer.close()
            if self.sink is not None:
                await self.sink.closed(self, self._reason or reason)

    async def _linger(self) -> None:
        """The encoder stopped its stream: let it hang up, reading (and dropping) what else
        it sends for a moment. It sends its closing commands one after another, and one that
        finds the socket closed under it fails its whole run ("Broken pipe")."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER_S):
                while await self.reader.read(4096):
                    pass

    async def _handshake(self) -> None:
        c0c1 = await self.reader.readexactly(1 + HANDSHAKE_SIZE)
        if c0c1[0] != 3:
            raise ProtocolError(f"RTMP version {c0c1[0]} (expected 3)")
        # The plain handshake: S1 with a zero version field tells clients to skip digest checks.
        s1 = b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00" + os.urandom(HANDSHAKE_SIZE - 8)
        self.writer.write(b"\x03" + s1 + c0c1[1:])
        await self.writer.drain()
        await self.reader.readexactly(HANDSHAKE_SIZE)

    async def _loop(self) -> None:
        deadline = asyncio.get_running_loop().time() + self.timeouts.publish
        while True:
            if self.sink is None:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(self.chunks.read(), min(left, self.timeouts.idle))
            else:
                message = await asyncio.wait_for(self.chunks.read(), self.timeouts.idle)
            await self._acknowledge()
            if message.type_id in (AUDIO, VIDEO):
                if self.sink is not None:
                    self.sink.media(message.type_id, message.timestamp, message.payload)
            elif message.type_id in (COMMAND_AMF0, COMMAND_AMF3):
                # AMF3 command messages start with one format byte, then plain AMF0.
                amf3 = message.type_id == COMMAND_AMF3
                if not await self._command(amf_decode(message.payload[amf3:])):
                    return
            elif message.type_id in (DATA_AMF0, DATA_AMF3):
                payload = message.payload[1:] if message.type_id == DATA_AMF3 else message.payload
                self._data(payload)
            elif message.type_id == WINDOW_ACK_SIZE and len(message.payload) >= 4:
                self._ack_window = int.from_bytes(message.payload[:4], "big")
            elif message.type_id == USER_CONTROL and message.payload[:2] == b"\x00\x06":
                self._send(2, USER_CONTROL, b"\x00\x07" + message.payload[2:6])
                await self.writer.drain()

    async def _acknowledge(self) -> None:
        if self._ack_window and self.chunks.received - self._acked >= self._ack_window:
            self._acked = self.chunks.received
            self._send(2, ACK, (self._acked & 0xFFFFFFFF).to_bytes(4, "big"))
            await self.writer.drain()

    def _send(self, csid: int, type_id: int, payload: bytes, stream_id: int = 0) -> None:
        self.writer.write(encode_message(csid, type_id, payload, stream_id=stream_id))

    def _result(self, txn: float, *values: Any) -> None:
        self._send(3, COMMAND_AMF0, amf_encode("_result", txn, *values))

    def _status(self, level: str, code: str, description: str) -> None:
        info = {"level": level, "code": code, "description": description}
        self._send(5, COMMAND_AMF0, amf_encode("onStatus", 0, None, info), stream_id=1)

    async def _command(self, values: list[Any]) -> bool:
        """Handle one command; False ends the session."""
        if not values or not isinstance(values[0], str):
            raise ProtocolError("a command without a name")
        name = values[0]
        txn = values[1] if len(values) > 1 and isinstance(values[1], float) else 0.0
        args = values[3:]
        if name == "connect":
            options = values[2] if len(values) > 2 and isinstance(values[2], dict) else {}
            self.app = str(options.get("app", "")).strip("/")
            self._send(2, WINDOW_ACK_SIZE, WINDOW.to_bytes(4, "big"))
            self._send(2, PEER_BANDWIDTH, WINDOW.to_bytes(4, "big") + b"\x02")
            self._send(2, SET_CHUNK_SIZE, OUT_CHUNK_SIZE.to_bytes(4, "big"))
            self._result(
                txn,
                {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0},
                {
                    "level": "status",
                    "code": "NetConnection.Connect.Success",
                    "description": "Connection succeeded.",
                    "objectEncoding": 0.0,
                },
            )
        elif name == "createStream":
            self._result(txn, None, 1.0)
        elif name in ("releaseStream", "FCPublish"):
            self._result(txn, None, UNDEFINED)
        elif name == "publish":
            key = str(args[0]) if args and isinstance(args[0], str) else ""
            app = self.app
            if not key and app.startswith(APP + "/"):  # the key pasted into the server URL
                app, key = APP, app[len(APP) + 1 :]
            key = key.split("?", 1)[0]
            verdict: Sink | str
            if app != APP:
                verdict = f"unknown application {app!r}: publish to rtmp://…/{APP}"
            elif not key:
                verdict = "no stream key"
            else:
                verdict = await self.on_publish(app, key, self)
            if isinstance(verdict, str):
                log.info("rtmp %s: publish refused: %s", self.peer, verdict)
                self._status("error", "NetStream.Publish.BadName", verdict)
                await self.writer.drain()
                self._reason = verdict
                return False
            self.key = key
            self.sink = verdict
            self._status("status", "NetStream.Publish.Start", "Publishing.")
        elif name in ("FCUnpublish", "deleteStream", "closeStream"):
            if self.sink is not None:
                sink, self.sink, self._stopped = self.sink, None, True
                await sink.closed(self, "the encoder stopped the stream")
                return False
        elif name in ("play", "play2"):
            self._status("error", "NetStream.Play.Failed", "this server only takes publishers")
            await self.writer.drain()
            return False
        await self.writer.drain()
        return True

    def _data(self, payload: bytes) -> None:
        if self.sink is None:
            return
        try:
            values = amf_decode(payload)
        except ProtocolError:
            return  # metadata is advisory; a bad one is skipped, not fatal
        if values[:1] == ["@setDataFrame"]:  # an FLV file holds what follows it
            values = values[1:]
            payload = payload[len(SET_DATA_FRAME) :]
        if len(values) >= 2 and values[0] == "onMetaData" and isinstance(values[1], dict):
            self.sink.metadata(values[1], flv_tag(DATA_AMF0, 0, payload))


class IngestServer:
    """The RTMP listener: one Session per connection, each isolated from the others."""

    def __init__(
        self,
        host: str,
        port: int,
        on_publish: OnPublish,
        *,
        timeouts: Timeouts | None = None,
        max_connections: int = 64,
    ) -> None:
        self.host, self.port = host, port
        self.on_publish = on_publish
        self.timeouts = timeouts or Timeouts()
        self.max_connections = max_connections
        self.sessions: set[Session] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.sessions) >= self.max_connections:
            writer.close()
            return
        session = Session(reader, writer, self.on_publish, self.timeouts)
        self.sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        except Exception:  # one broken session must never take the listener down
            log.exception("rtmp session %s failed", session.peer)
        finally:
            self.sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            session.disconnect("the server is stopping")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)
        if self._server is not None:
            await self._server.wait_closed()
