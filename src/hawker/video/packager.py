"""One live stream's ffmpeg: FLV in on stdin, MPEG-TS segments out, supervised.

ffmpeg gets the publisher's audio and video as an FLV stream on its stdin and cuts it into
short MPEG-TS segments (`-f segment`), printing one CSV line per finished segment on stdout.
H.264 video and AAC audio pass through untouched (`-c copy`): no decode, no encode, a few
percent of a core at most; anything else is transcoded.

ffmpeg is a child process that can die (a bug, a bad frame, someone's `kill`). It is then
restarted with backoff, fed from the next keyframe, and its first segment is flagged as a
discontinuity; segment numbers carry on from the recording, so neither the live playlist nor
the recording starts over.

Timestamps are rebased so that each ffmpeg run starts at 0, and `-copyts` keeps them: the
times ffmpeg prints for a segment then map back exactly to the encoder's timestamps, and
through the `WallClock` to a program date-time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hawker.video import hls
from hawker.video.ingest import (
    AUDIO,
    FLV_HEADER,
    VIDEO,
    audio_codec,
    flv_tag,
    is_config,
    is_keyframe,
    video_codec,
)

log = logging.getLogger(__name__)

MAX_QUEUE_BYTES = 16 * 1024 * 1024  # ffmpeg this far behind is stuck: drop to the next keyframe
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 10.0
HEALTHY_AFTER_S = 30.0  # a run this long resets the backoff
STOP_GRACE_S = 5.0

_STREAM_LINE = re.compile(r"Stream #0:\d+.*?: (Video|Audio): ([\w-]+)(.*)")
_SIZE = re.compile(r", (\d{2,5})x(\d{2,5})[, \[]")
_PIX_FMT = re.compile(r"^[^,]*, (\w+)[(,]")


@cache
def ffmpeg_exe(configured: str | None = None) -> str:
    if configured:
        return configured
    import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no type hints

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass
class StreamInfo:
    """What ffmpeg found in the input (it probes the real bitstream, not the metadata)."""

    video: str = ""
    width: int = 0
    height: int = 0
    pix_fmt: str = ""
    audio: str = ""


def command(
    ffmpeg: str,
    directory: Path,
    *,
    first_number: int,
    segment_seconds: float,
    copy_video: bool,
    copy_audio: bool,
) -> list[str]:
    video = (
        ["-c:v", "copy"]
        if copy_video
        else [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            # Cut points must fall on keyframes for the segments to be short.
            "-force_key_frames",
            f"expr:gte(t,n_forced*{segment_seconds})",
        ]
    )
    audio = ["-c:a", "copy"] if copy_audio else ["-c:a", "aac", "-b:a", "128k"]
    return [
        ffmpeg,
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "info",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        *video,
        *audio,
        "-copyts",
        "-f",
        "segment",
        "-segment_format",
        "mpegts",
        "-segment_time",
        str(segment_seconds),
        "-segment_start_number",
        str(first_number),
        "-segment_list",
        "pipe:1",
        "-segment_list_type",
        "csv",
        "-segment_list_flags",
        "+live",
        str(directory / "seg_%06d.ts"),
    ]


class Packager:
    """Feeds one publisher's media to a supervised ffmpeg; reports finished segments."""

    def __init__(
        self,
        directory: Path,
        *,
        ffmpeg: str,
        segment_seconds: float,
        next_number: Callable[[], int],
        on_segment: Callable[[hls.Segment], None],
        on_info: Callable[[StreamInfo], None],
    ) -> None:
        self.dir = directory
        self.ffmpeg = ffmpeg
        self.segment_seconds = segment_seconds
        self.next_number = next_number
        self.on_segment = on_segment
        self.on_info = on_info
        self.clock = hls.WallClock()
        self.restarts = 0
        self.dropped_frames = 0
        self.copy_video = True
        self.copy_audio = True
        self.problem: str | None = None
        self._metadata: bytes | None = None
        self._video_config: bytes | None = None
        self._audio_config: bytes | None = None
        self._audio_seen: bytes | None = None
        self._have_video = asyncio.Event()
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._proc: asyncio.subprocess.Process | None = None
        self._accepting = False  # a process is up and wants input
        self._need_key = True
        self._base: int | None = None
        self._first_of_run = True
        self._closing = False
        self._stderr: deque[str] = deque(maxlen=40)
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"packager {self.dir.name}")

    # -- input ----------------------------------------------------------------------------

    def metadata(self, tag: bytes) -> None:
        self._metadata = tag

    def feed(self, type_id: int, timestamp: int, payload: bytes) -> None:
        self.clock.observe(timestamp, time.time())
        if is_config(type_id, payload):
            if type_id == VIDEO:
                self._video_config = payload
                self._have_video.set()
            else:
                self._audio_config = payload
        elif type_id == AUDIO and self._audio_seen is None:
            self._audio_seen = payload
        if not self._accepting:
            if type_id == VIDEO and not is_config(type_id, payload):
                self.dropped_frames += self._base is not None  # lost while ffmpeg restarts
            return
        if self._need_key:
            if type_id != VIDEO or not is_keyframe(payload) or is_config(type_id, payload):
                return
            self._need_key = False
            if self._base is None:
                self._base = timestamp
        assert self._base is not None
        if timestamp < self._base:
            return  # audio from just before the keyframe this run starts at
        if self._queued > MAX_QUEUE_BYTES:
            dropped = sum(1 for tag in self._queue if tag[0] == VIDEO)
            self.dropped_frames += dropped
            log.warning("%s: ffmpeg is behind; dropped %d frames", self.dir.name, dropped)
            self._queue.clear()
            self._queued = 0
            self._need_key = True
            return
        tag = flv_tag(type_id, timestamp - self._base, payload)
        self._queue.append(tag)
        self._queued += len(tag)
        self._wake.set()

    # -- supervision ----------------------------------------------------------------------

    async def close(self) -> None:
        """Finish: ffmpeg writes out what it has (the last segment) and exits."""
        self._closing = True
        self._have_video.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_S + 2)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _supervise(self) -> None:
        backoff = FIRST_BACKOFF_S
        await self._have_video.wait()
        while not self._closing:
            started = time.monotonic()
            try:
                code = await self._run_once()
            except OSError as exc:  # the binary is missing or cannot run
                code = -1
                self._stderr.append(str(exc))
            if self._closing:
                break
            self.restarts += 1
            tail = " | ".join(list(self._stderr)[-5:])
            self.problem = f"the packager stopped (exit {code}); restarting"
            log.warning(
                "%s: ffmpeg exited with %s, restarting in %.1fs: %s",
                self.dir.name,
                code,
                backoff,
                tail,
            )
            if time.monotonic() - started > HEALTHY_AFTER_S:
                backoff = FIRST_BACKOFF_S
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _run_once(self) -> int:
        assert self._video_config is not None
        self.copy_video = video_codec(self._video_config) == "h264"
        audio = self._audio_config or self._audio_seen
        self.copy_audio = audio is None or audio_codec(audio) in ("aac", "mp3")
        args = command(
            self.ffmpeg,
            self.dir,
            first_number=self.next_number(),
            segment_seconds=self.segment_seconds,
            copy_video=self.copy_video,
            copy_audio=self.copy_audio,
        )
        proc = self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self._queue.clear()
        self._queued = 0
        self._need_key, self._base, self._first_of_run = True, None, True
        head = [FLV_HEADER]
        if self._metadata:
            head.append(self._metadata)
        head += [flv_tag(VIDEO, 0, self._video_config)]
        if self._audio_config:
            head.append(flv_tag(AUDIO, 0, self._audio_config))
        proc.stdin.write(b"".join(head))
        self._accepting = True
        readers = [
            asyncio.create_task(self._read_segments(proc.stdout)),
            asyncio.create_task(self._read_log(proc.stderr)),
        ]
        try:
            await self._write(proc)
            return await proc.wait()
        finally:
            self._accepting = False
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await asyncio.gather(*readers, return_exceptions=True)
            self._proc = None

    async def _write(self, proc: asyncio.subprocess.Process) -> None:
        """Copy the queue to ffmpeg until it exits, or until close (then end its input)."""
        assert proc.stdin is not None
        exited = asyncio.create_task(proc.wait())
        try:
            while True:
                while self._queue:
                    tag = self._queue.popleft()
                    self._queued -= len(tag)
                    proc.stdin.write(tag)
                try:
                    await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return
                if self._closing:
                    break
                self._wake.clear()
                waiter = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if exited.done():
                    return
            proc.stdin.close()
            try:
                await asyncio.wait_for(asyncio.shield(exited), STOP_GRACE_S)
            except TimeoutError:
                proc.kill()
        finally:
            await asyncio.gather(exited, return_exceptions=True)

    async def _read_segments(self, stdout: asyncio.StreamReader) -> None:
        async for raw in stdout:
            parts = raw.decode(errors="replace").strip().split(",")
            if len(parts) != 3 or self._base is None:
                continue
            number = hls.segment_number(Path(parts[0]).name)
            try:
                start, end = float(parts[1]), float(parts[2])
            except ValueError:
                continue
            pdt = self.clock.at(self._base + round(start * 1000))
            if number is None or pdt is None:
                continue
            segment = hls.Segment(number, max(end - start, 0.001), pdt, self._first_of_run)
            self._first_of_run = False
            self.problem = None
            self.on_segment(segment)

    async def _read_log(self, stderr: asyncio.StreamReader) -> None:
        info = StreamInfo()
        in_input = False  # the output section lists streams the same way
        async for raw in stderr:
            line = raw.decode(errors="replace").rstrip()
            self._stderr.append(line)
            if line.startswith("Input #"):
                in_input = True
            elif line.startswith(("Output #", "Stream mapping")):
                in_input = False
            match = _STREAM_LINE.search(line) if in_input else None
            if match is None:
                continue
            kind, codec, rest = match.groups()
            if kind == "Video" and not info.video:
                info.video = codec
                size = _SIZE.search(rest)
                if size:
                    info.width, info.height = int(size.group(1)), int(size.group(2))
                pix = _PIX_FMT.search(rest)
                info.pix_fmt = pix.group(1) if pix else ""
                self.on_info(info)
            elif kind == "Audio" and not info.audio:
                info.audio = codec
                self.on_info(info)

    def log_tail(self, lines: int = 5) -> list[str]:
        return list(self._stderr)[-lines:]
