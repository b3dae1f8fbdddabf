"""Going live from the browser: the host's camera, recorded by MediaRecorder, sent over a socket.

The browser records WebM (Matroska) in short chunks and sends the bytes as they come. Here
they are parsed back into frames and each frame becomes the FLV tag an RTMP encoder would
have sent, handed to the same `ShowStream`: one packager, one recording, one set of health
figures, states and supervision for both ways of going live. A browser that drops off
leaves the show "reconnecting", and its next socket resumes the same recording.

H.264 (what Chromium records for `video/webm;codecs=h264`) is copied; VP9 and AV1 travel as
enhanced-RTMP tags and are transcoded by the packager, as is Opus audio (to AAC, which costs
little). VP8 has no FLV form that ffmpeg reads, so it is refused with a message.

The bytes come from a browser, so they are untrusted: element sizes are bounded, the
buffer is bounded, and anything that is not WebM ends that camera's session only.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hawker.domain.errors import Conflict
from hawker.domain.roles import Action, Actor
from hawker.services.context import Context
from hawker.services.shows import access_show_for
from hawker.video import service as video
from hawker.video.ingest import APP, AUDIO, DATA_AMF0, VIDEO, amf_encode, flv_tag

log = logging.getLogger(__name__)

MAX_ELEMENT = 8 * 1024 * 1024  # as for an RTMP message: a 4K keyframe is well under this
MAX_PENDING = 16 * 1024 * 1024
UNKNOWN = -1

# Matroska element ids (with their length marker, as written).
EBML, SEGMENT, CLUSTER = 0x1A45DFA3, 0x18538067, 0x1F43B675
INFO, TRACKS, TIMECODE_SCALE, WRITING_APP = 0x1549A966, 0x1654AE6B, 0x2AD7B1, 0x5741
TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE, CODEC_ID, CODEC_PRIVATE = 0xAE, 0xD7, 0x83, 0x86, 0x63A2
VIDEO_SETTINGS, PIXEL_WIDTH, PIXEL_HEIGHT = 0xE0, 0xB0, 0xBA
AUDIO_SETTINGS, SAMPLING_FREQUENCY, CHANNELS = 0xE1, 0xB5, 0x9F
TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK, REFERENCE_BLOCK = 0xE7, 0xA3, 0xA0, 0xA1, 0xFB
DOC_TYPE = 0x4282
# Masters whose children are read in line (they may be "unknown size" in a live recording).
_ENTERED = frozenset({SEGMENT, CLUSTER})


class StreamError(Exception):
    """The bytes are not a stream the server can carry; the camera's session ends."""


# -- WebM ---------------------------------------------------------------------------------


def _vint(data: bytes | bytearray, pos: int, *, marker: bool) -> tuple[int, int] | None:
    """An EBML variable-size integer at `pos`: (value, next pos), or None if incomplete.

    Ids keep their length marker (`marker`); sizes lose it, and all ones is "unknown".
    """
    if pos >= len(data):
        return None
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > (4 if marker else 8):
        raise StreamError(f"not a WebM stream (byte {first:#04x} cannot start an element)")
    if pos + length > len(data):
        return None
    value = first if marker else first & (0xFF >> length)
    for byte in data[pos + 1 : pos + length]:
        value = value << 8 | byte
    if not marker and value == (1 << (7 * length)) - 1:
        value = UNKNOWN
    return value, pos + length


def _children(body: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(body):
        head = _vint(body, pos, marker=True)
        size = _vint(body, head[1], marker=False) if head else None
        if head is None or size is None or size[0] == UNKNOWN or size[1] + size[0] > len(body):
            raise StreamError("a truncated element in the stream header")
        yield head[0], body[size[1] : size[1] + size[0]]
        pos = size[1] + size[0]


def _uint(body: bytes) -> int:
    return int.from_bytes(body, "big") if body else 0


@dataclass
class Track:
    number: int
    kind: int  # 1 video, 2 audio
    codec: str  # Matroska codec id: V_MPEG4/ISO/AVC, V_VP9, A_OPUS, ...
    private: bytes = b""
    width: int = 0
    height: int = 0
    channels: int = 1
    rate: float = 48000.0


@dataclass(slots=True)
class Frame:
    track: Track
    timestamp: int  # ms
    keyframe: bool
    data: bytes


def _track(body: bytes) -> Track:
    track = Track(0, 0, "")
    for key, value in _children(body):
        if key == TRACK_NUMBER:
            track.number = _uint(value)
        elif key == TRACK_TYPE:
            track.kind = _uint(value)
        elif key == CODEC_ID:
            track.codec = value.decode("ascii", "replace").strip("\x00 ")
        elif key == CODEC_PRIVATE:
            track.private = value
        elif key == VIDEO_SETTINGS:
            for k, v in _children(value):
                if k == PIXEL_WIDTH:
                    track.width = _uint(v)
                elif k == PIXEL_HEIGHT:
                    track.height = _uint(v)
        elif key == AUDIO_SETTINGS:
            for k, v in _children(value):
                if k == CHANNELS:
                    track.channels = _uint(v) or 1
                elif k == SAMPLING_FREQUENCY and len(v) in (4, 8):
                    track.rate = struct.unpack(">f" if len(v) == 4 else ">d", v)[0]
    return track


class WebmReader:
    """Frames out of a WebM byte stream that arrives in arbitrary pieces.

    Segment and Cluster are entered rather than read whole: a live recording writes them
    with "unknown size" and they last as long as the stream. Every other element is read
    whole once its bytes are in; the ones not needed (cues, tags, void) are skipped.
    """

    def __init__(self) -> None:
        self.tracks: dict[int, Track] = {}
        self.writing_app = ""
        self.doc_type = ""
        self._buffer = bytearray()
        self._started = False
        self._scale_ms = 1.0  # TimecodeScale in ms (1 ms unless the header says otherwise)
        self._cluster = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        if len(self._buffer) > MAX_PENDING:
            raise StreamError("an element larger than the limit is still arriving")
        frames: list[Frame] = []
        pos = 0
        while True:
            head = _vint(self._buffer, pos, marker=True)
            size = _vint(self._buffer, head[1], marker=False) if head else None
            if head is None or size is None:
                break
            key, (length, start) = head[0], size
            if not self._started:
                if key != EBML:
                    raise StreamError("not a WebM stream (it does not start with an EBML header)")
            elif key == EBML:
                raise StreamError("a second recording started on the same connection")
            if key in _ENTERED:
                pos = start
                continue
            if length == UNKNOWN or length > MAX_ELEMENT:
                raise StreamError(f"element {key:#x} of {length} bytes is over the limit")
            if start + length > len(self._buffer):
                break
            body = bytes(self._buffer[start : start + length])
            pos = start + length
            frame = self._element(key, body)
            if frame is not None:
                frames.append(frame)
        del self._buffer[:pos]
        return frames

    def _element(self, key: int, body: bytes) -> Frame | None:
        if key == EBML:
            self._started = True
            for k, v in _children(body):
                if k == DOC_TYPE:
                    self.doc_type = v.decode("ascii", "replace").strip("\x00")
            if self.doc_type not in ("webm", "matroska"):
                raise StreamError(f"not a WebM stream (document type {self.doc_type!r})")
        elif key == INFO:
            for k, v in _children(body):
                if k == TIMECODE_SCALE and _uint(v):
                    self._scale_ms = _uint(v) / 1_000_000
                elif k == WRITING_APP:
                    self.writing_app = v.decode("utf-8", "replace")[:60]
        elif key == TRACKS:
            for k, v in _children(body):
                if k == TRACK_ENTRY:
                    track = _track(v)
                    self.tracks[track.number] = track
        elif key == TIMECODE:
            self._cluster = _uint(body)
        elif key == SIMPLE_BLOCK:
            return self._block(body, None)
        elif key == BLOCK_GROUP:
            block, referenced = None, False
            for k, v in _children(body):
                if k == BLOCK:
                    block = v
                elif k == REFERENCE_BLOCK:
                    referenced = True
            if block is not None:
                return self._block(block, not referenced)
        return None

    def _block(self, body: bytes, keyframe: bool | None) -> Frame | None:
        number = _vint(body, 0, marker=False)
        if number is None or number[1] + 3 > len(body):
            raise StreamError("a truncated block")
        track = self.tracks.get(number[0])
        if track is None:
            raise StreamError(f"a block for track {number[0]}, which the header does not list")
        pos = number[1]
        relative = struct.unpack(">h", body[pos : pos + 2])[0]
        flags = body[pos + 2]
        if flags & 0x06:
            raise StreamError("laced blocks are not supported")
        timestamp = max(0, round((self._cluster + relative) * self._scale_ms))
        key = bool(flags & 0x80) if keyframe is None else keyframe
        return Frame(track, timestamp, key, body[pos + 3 :])


# -- frames as FLV tags -------------------------------------------------------------------


def _nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an H.264 access unit in Annex B form (start codes)."""
    # Emulation prevention keeps 00 00 01 out of a unit's body, so a plain search is exact.
    units: list[bytes] = []
    found = data.find(b"\x00\x00\x01")
    while found >= 0:
        start = found + 3
        found = data.find(b"\x00\x00\x01", start)
        unit = data[start:] if found < 0 else data[start:found].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def avc_config(sps: bytes, pps: bytes) -> bytes:
    """An AVCDecoderConfigurationRecord (what FLV and MP4 carry instead of in-band SPS/PPS)."""
    return (
        bytes((1, sps[1], sps[2], sps[3], 0xFF, 0xE1))  # 4-byte NAL lengths, one SPS
        + len(sps).to_bytes(2, "big")
        + sps
        + b"\x01"
        + len(pps).to_bytes(2, "big")
        + pps
    )


def opus_head(channels: int, rate: float) -> bytes:
    """The Opus identification header, for a recording whose track leaves it out."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 312, int(rate), 0, 0)


# VPCodecConfigurationRecord: profile 0, level 3.1, 8 bit 4:2:0, BT.709. ffmpeg reads the
# real values from the bitstream; the record only has to be there.
VP9_CONFIG = bytes((1, 0, 0, 0, 0, 31, 0x82, 1, 1, 1, 0, 0))


class FlvMapper:
    """Turns one recording's frames into the tags `ShowStream.media` takes from RTMP."""

    def __init__(self, video_track: Track, audio_track: Track | None) -> None:
        self.video = video_track
        self.audio = audio_track
        self.video_name = {"V_MPEG4/ISO/AVC": "h264", "V_VP9": "vp9", "V_AV1": "av1"}.get(
            video_track.codec, ""
        )
        if not self.video_name:
            hint = " (VP8)" if video_track.codec == "V_VP8" else ""
            raise StreamError(
                f"the camera's video codec {video_track.codec}{hint} is not supported: record "
                "H.264 or VP9 (Chrome, Edge), or stream from OBS"
            )
        if self.video_name == "av1" and not video_track.private:
            raise StreamError("the AV1 track has no configuration record")
        self.audio_name = ""
        if audio_track is not None:
            self.audio_name = {"A_OPUS": "opus", "A_AAC": "aac"}.get(audio_track.codec, "")
            if not self.audio_name:
                log.info("camera: audio codec %s is not carried; video only", audio_track.codec)
        self._avc_private = video_track.codec == "V_MPEG4/ISO/AVC" and bool(video_track.private)
        self._avc_sent: bytes | None = None
        self._last: dict[int, int] = {}

    def head(self) -> list[tuple[int, int, bytes]]:
        """Tags that go before any frame: the decoder configurations known from the header."""
        tags: list[tuple[int, int, bytes]] = []
        if self.audio_name == "opus":
            assert self.audio is not None
            private = self.audio.private or opus_head(self.audio.channels, self.audio.rate)
            tags.append((AUDIO, 0, b"\x90Opus" + private))
        elif self.audio_name == "aac":
            assert self.audio is not None
            tags.append((AUDIO, 0, b"\xaf\x00" + self.audio.private))
        if self.video_name == "vp9":
            tags.append((VIDEO, 0, b"\x90vp09" + VP9_CONFIG))
        elif self.video_name == "av1":
            tags.append((VIDEO, 0, b"\x90av01" + self.video.private))
        elif self._avc_private:
            self._avc_sent = self.video.private
            tags.append((VIDEO, 0, b"\x17\x00\x00\x00\x00" + self.video.private))
        return tags

    def tags(self, frame: Frame) -> list[tuple[int, int, bytes]]:
        # Chromium sometimes stamps two frames with the same millisecond; a muxer wants each
        # track's timestamps to rise.
        last = self._last.get(frame.track.number)
        ts = frame.timestamp if last is None or frame.timestamp > last else last + 1
        self._last[frame.track.number] = ts
        frame.timestamp = ts
        if frame.track is self.audio:
            if self.audio_name == "opus":
                return [(AUDIO, ts, b"\x91Opus" + frame.data)]
            if self.audio_name == "aac":
                return [(AUDIO, ts, b"\xaf\x01" + frame.data)]
            return []
        if frame.track is not self.video:
            return []
        kind = 0x10 if frame.keyframe else 0x20
        if self.video_name == "vp9":
            return [(VIDEO, ts, bytes((0x80 | kind | 1,)) + b"vp09" + frame.data)]
        if self.video_name == "av1":
            return [(VIDEO, ts, bytes((0x80 | kind | 1,)) + b"av01" + frame.data)]
        if self._avc_private:  # already length-prefixed, as FLV wants
            return [(VIDEO, ts, bytes((kind | 7, 1, 0, 0, 0)) + frame.data)]
        return self._annex_b(frame, kind)

    def _annex_b(self, frame: Frame, kind: int) -> list[tuple[int, int, bytes]]:
        # Chromium writes H.264 with start codes and SPS/PPS in line at each keyframe. They
        # stay in the frame too, so a change of picture size mid-stream reaches the decoder.
        units = _nal_units(frame.data)
        tags: list[tuple[int, int, bytes]] = []
        sps = next((u for u in units if u[0] & 0x1F == 7 and len(u) >= 4), None)
        pps = next((u for u in units if u[0] & 0x1F == 8), None)
        if sps is not None and pps is not None:
            config = avc_config(sps, pps)
            if config != self._avc_sent:
                self._avc_sent = config
                tags.append((VIDEO, frame.timestamp, b"\x17\x00\x00\x00\x00" + config))
        if self._avc_sent is None:
            return tags  # nothing decodes before the first parameter sets
        body = b"".join(len(u).to_bytes(4, "big") + u for u in units if u[0] & 0x1F != 9)
        # No B-frames in a real-time recording: decode order is presentation order (CTS 0).
        tags.append((VIDEO, frame.timestamp, bytes((kind | 7, 1, 0, 0, 0)) + body))
        return tags


# -- a camera's session -------------------------------------------------------------------


class CameraSession:
    """One socket from a host's browser, publishing to one show (a `video.Publisher`)."""

    def __init__(self, peer: str, on_disconnect: Callable[[str], None]) -> None:
        self.peer = peer
        self.reason = ""
        self.stream: video.ShowStream | None = None
        self.reader = WebmReader()
        self.mapper: FlvMapper | None = None
        self.bytes_in = 0
        self._on_disconnect = on_disconnect

    def disconnect(self, reason: str) -> None:
        """End the session from the server side (a refusal, a newer publisher, the show ended)."""
        if not self.reason:
            self.reason = reason
        self._on_disconnect(reason)

    def feed(self, chunk: bytes) -> None:
        """Bytes of the recording, as the browser sent them. Raises StreamError on garbage."""
        self.bytes_in += len(chunk)
        frames = self.reader.feed(chunk)
        stream = self.stream
        if stream is None or stream.session is not self:
            return  # replaced by a newer camera or encoder: its media is not ours to mix in
        if self.mapper is None and self.reader.tracks:
            self._start(stream)
        if self.mapper is None:
            if frames:
                raise StreamError("frames before the track list")
            return
        for frame in frames:
            for type_id, timestamp, payload in self.mapper.tags(frame):
                stream.media(type_id, timestamp, payload)

    def _start(self, stream: video.ShowStream) -> None:
        tracks = list(self.reader.tracks.values())
        video_track = next((t for t in tracks if t.kind == 1), None)
        if video_track is None:
            raise StreamError("the recording has no video track (is the camera allowed?)")
        audio_track = next((t for t in tracks if t.kind == 2), None)
        mapper = self.mapper = FlvMapper(video_track, audio_track)
        codecs = "/".join(n for n in (mapper.video_name, mapper.audio_name) if n)
        values: dict[str, object] = {
            "encoder": f"browser camera ({self.reader.writing_app or 'MediaRecorder'}, {codecs})",
        }
        if video_track.width and video_track.height:
            values |= {"width": float(video_track.width), "height": float(video_track.height)}
        stream.metadata(values, flv_tag(DATA_AMF0, 0, amf_encode("onMetaData", values)))
        for type_id, timestamp, payload in mapper.head():
            stream.media(type_id, timestamp, payload)

    def fail(self, reason: str) -> None:
        """Bad bytes: the show's status and the log say why, as for a bad RTMP stream."""
        if self.stream is not None and self.stream.session is self:
            self.stream.refuse(f"camera: {reason}")
        else:
            self.disconnect(reason)


async def start(
    ctx: Context, actor: Actor, show_id: int, *, peer: str, on_disconnect: Callable[[str], None]
) -> CameraSession:
    """Let the show's host (or agency, or an admin) publish from the browser.

    Raises NotFound / Forbidden, or Conflict when the server will not take the stream (no
    video service in this process, the show has ended).
    """
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        key = show.stream_key
    service = video.service_for(ctx)
    if service is None:
        raise Conflict(
            "live video is off on this server (HAWKER_RTMP_PORT=0), or runs in another worker",
            code="video_off",
        )
    session = CameraSession(peer, on_disconnect)
    # The show's own key: the camera then goes through the very path an encoder does.
    verdict = await service.on_publish(APP, key, session)
    if isinstance(verdict, str):
        raise Conflict(verdict, code="stream_refused")
    session.stream = verdict
    log.info("show %s: camera from %s (user %s)", show_id, peer, actor.user_id)
    return session


async def stop(session: CameraSession, reason: str) -> None:
    """The socket closed: the show waits for the camera (or an encoder) to come back."""
    if session.stream is not None:
        await session.stream.closed(session, session.reason or reason)
