"""HLS playlists: segments with their program date-time, read and written atomically.

ffmpeg only cuts the segments; the playlists are written here, because here is where the
wall-clock time of each segment is known precisely (see `WallClock`). ffmpeg's own hls muxer
stamps EXT-X-PROGRAM-DATE-TIME from the moment its muxer started, which is late by however
long it took to probe the input, and jumps when it restarts.
"""

from __future__ import annotations

import math
import os
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

LIVE = "live.m3u8"
REPLAY = "replay.m3u8"
SEGMENT = re.compile(r"seg_(\d{6,9})\.ts")
NAME = re.compile(rf"({re.escape(LIVE)}|{re.escape(REPLAY)}|{SEGMENT.pattern})")


def segment_name(number: int) -> str:
    return f"seg_{number:06d}.ts"


def segment_number(name: str) -> int | None:
    match = SEGMENT.fullmatch(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class Segment:
    number: int
    duration: float  # seconds
    pdt: datetime  # program date-time of its first frame (UTC)
    discontinuity: bool = False

    @property
    def name(self) -> str:
        return segment_name(self.number)

    @property
    def end(self) -> datetime:
        return self.pdt + timedelta(seconds=self.duration)


def format_pdt(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_pdt(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def target_duration(segments: list[Segment], floor: float) -> int:
    # Rounded, as the spec asks (EXTINF rounded to the nearest integer must not exceed it).
    longest = max((s.duration for s in segments), default=floor)
    return max(1, math.ceil(floor), round(longest + 0.0005))


def entry(segment: Segment) -> str:
    lines = ["#EXT-X-DISCONTINUITY"] if segment.discontinuity else []
    lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_pdt(segment.pdt)}")
    lines.append(f"#EXTINF:{segment.duration:.3f},")
    lines.append(segment.name)
    return "\n".join(lines) + "\n"


def render(
    segments: list[Segment],
    *,
    target: int,
    discontinuity_sequence: int = 0,
    ended: bool = False,
    playlist_type: str | None = None,
) -> str:
    """A media playlist; its media sequence is the number of its first segment."""
    head = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{segments[0].number if segments else 0}",
    ]
    if discontinuity_sequence:
        head.append(f"#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}")
    if playlist_type:
        head.append(f"#EXT-X-PLAYLIST-TYPE:{playlist_type}")
    head.append("#EXT-X-INDEPENDENT-SEGMENTS")
    body = "".join(entry(s) for s in segments)
    return "\n".join(head) + "\n" + body + ("#EXT-X-ENDLIST\n" if ended else "")


@dataclass
class Playlist:
    segments: list[Segment]
    ended: bool = False
    discontinuity_sequence: int = 0


def parse(text: str) -> Playlist:
    """Read a playlist written by `render` (or by ffmpeg): segments, PDT, discontinuities."""
    segments: list[Segment] = []
    ended = False
    disc_seq = 0
    pdt: datetime | None = None
    duration: float | None = None
    discontinuity = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = parse_pdt(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXT-X-DISCONTINUITY-SEQUENCE:"):
            disc_seq = int(line.split(":", 1)[1])
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            number = segment_number(line.rsplit("/", 1)[-1])
            if number is None or duration is None:
                continue
            if pdt is None:  # a segment without its own PDT follows on from the previous one
                pdt = segments[-1].end if segments else datetime.fromtimestamp(0, UTC)
            segments.append(Segment(number, duration, pdt, discontinuity))
            pdt, duration, discontinuity = None, None, False
    return Playlist(segments, ended, disc_seq)


def read(path: Path) -> Playlist | None:
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        return None


def write_atomic(path: Path, text: str) -> None:
    """Readers (the web server, nginx) see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class WallClock:
    """Maps an encoder's timestamps (ms) to wall-clock time.

    Each frame's arrival gives an upper bound on when it was captured: arrival = capture +
    encoder and network delay. The smallest offset seen recently (arrival - timestamp) is the
    least delayed frame, so the best estimate of the capture clock. A window, not all time,
    so that an encoder clock running slower than ours does not pin the mapping to the past.
    """

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._offsets: deque[tuple[float, float]] = deque()  # (arrival, offset), offsets rising
        self._last_ts: int | None = None

    def observe(self, timestamp_ms: int, arrival: float) -> None:
        offset = arrival - timestamp_ms / 1000
        while self._offsets and self._offsets[-1][1] >= offset:
            self._offsets.pop()
        self._offsets.append((arrival, offset))
        while self._offsets[0][0] < arrival - self.window_s and len(self._offsets) > 1:
            self._offsets.popleft()
        self._last_ts = timestamp_ms

    def at(self, timestamp_ms: int) -> datetime | None:
        if not self._offsets:
            return None
        return datetime.fromtimestamp(timestamp_ms / 1000 + self._offsets[0][1], UTC)

    def now(self) -> datetime | None:
        """The program date-time of the newest frame received."""
        return None if self._last_ts is None else self.at(self._last_ts)
