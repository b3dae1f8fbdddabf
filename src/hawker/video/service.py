"""Live video use cases: who may publish, each show's stream state and health, stream time.

A publisher is matched to a show by its stream key, the one the host console shows (and
can rotate). A wrong or rotated key, a show that has ended, or a stream the server will not
carry (no video, a frame rate or picture over the limits) is refused with a message that
goes to the encoder, the log and the show's stream status. Each show has at most one
publisher; a newer one with the same key takes over (an encoder reconnecting after a
network drop often arrives before the server has noticed the old connection died).

Stream states: "offline" (nothing yet), "streaming", "reconnecting" (the encoder went away
and the show has not ended; the next publish resumes the same recording) and "ended".

The status of each show is also written to `<video_root>/<show_id>/status.json`, so that
every worker of a multi-process deployment can answer for it, not only the one that holds
the RTMP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select

from hawker.config import Settings
from hawker.services.context import Context
from hawker.store.tables import Show
from hawker.video import hls
from hawker.video.ingest import APP, VIDEO, IngestServer, Session, Timeouts, is_config, is_keyframe
from hawker.video.ingest import audio_codec as _audio_codec
from hawker.video.ingest import video_codec as _video_codec
from hawker.video.packager import Packager, StreamInfo, ffmpeg_exe
from hawker.video.recording import Recording

log = logging.getLogger(__name__)

OFFLINE, STREAMING, RECONNECTING, ENDED = "offline", "streaming", "reconnecting", "ended"
STATUS_FILE = "status.json"
MONITOR_S = 1.0
SHOW_CHECK_S = 2.0
STALE_STATUS_S = 10.0  # a status file not refreshed this long was left by a stopped process


def show_dir(settings: Settings, show_id: int) -> Path:
    return settings.video_root / str(show_id)


def ingest_url(settings: Settings) -> str:
    """The "Server" field for OBS; the stream key goes in its own field."""
    if settings.rtmp_public_url:
        return settings.rtmp_public_url
    host = settings.rtmp_host or settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"rtmp://{host}:{settings.rtmp_port}/{APP}"


def playlist_url(show_id: int) -> str:
    return f"/hls/{show_id}/{hls.LIVE}"


def replay_url(show_id: int) -> str:
    return f"/hls/{show_id}/{hls.REPLAY}"


class Publisher(Protocol):
    """Who sends a show its media: an RTMP `Session`, or a browser camera
    (`hawker.video.browser_ingest.CameraSession`)."""

    peer: str

    def disconnect(self, reason: str) -> None: ...


class _Rate:
    """Bytes or frames per second over a short window of arrivals."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._marks: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, now: float, amount: int) -> None:
        self._marks.append((now, amount))
        self._total += amount
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._marks and self._marks[0][0] < now - self.window_s:
            self._total -= self._marks.popleft()[1]

    def per_second(self, now: float) -> float:
        self._trim(now)
        return self._total / self.window_s


@dataclass
class Health:
    bitrate_kbps: float = 0.0
    fps: float = 0.0
    keyframe_interval_s: float | None = None
    dropped_frames: int = 0
    width: int = 0
    height: int = 0
    video_codec: str = ""
    audio_codec: str = ""
    pix_fmt: str = ""
    transcoding: bool = False
    restarts: int = 0
    on_air_s: float = 0.0
    encoder: str = ""
    warnings: list[str] = field(default_factory=list)


class ShowStream:
    """One show's video: its recording, its current publisher and packager, its health."""

    def __init__(self, service: VideoService, show_id: int, key: str) -> None:
        s = service.settings
        self.service = service
        self.show_id = show_id
        self.key = key
        self.dir = show_dir(s, show_id)
        self.recording = Recording(
            self.dir, segment_seconds=s.segment_seconds, live_window=s.live_window
        )
        self.state = OFFLINE
        if self.recording.segments:
            self.state = ENDED if self.recording.ended else RECONNECTING
        self.problem: str | None = None
        self.changed_at = time.time()
        self.session: Publisher | None = None
        self.packager: Packager | None = None
        self.health = Health()
        self.lock = asyncio.Lock()
        self._session_started = 0.0
        self._on_air_before = 0.0
        self._bytes = _Rate()
        self._frames: deque[int] = deque()  # video timestamps over the last 2 s of stream time
        self._last_key_ts: int | None = None
        self._video_frames = 0

    # -- transitions ----------------------------------------------------------------------

    def _set(self, state: str, problem: str | None = None) -> None:
        if state != self.state or problem != self.problem:
            self.state, self.problem, self.changed_at = state, problem, time.time()
            log.info("show %s: stream %s (%s)", self.show_id, state, problem or "no problem")
            self.write_status()

    async def attach(self, session: Publisher) -> None:
        """A publisher was accepted: a new packager run picks up where the recording is."""
        settings = self.service.settings
        self.session = session
        self.health = Health(
            restarts=self.health.restarts, dropped_frames=self.health.dropped_frames
        )
        self._session_started = time.monotonic()
        self._bytes = _Rate()
        self._frames.clear()
        self._last_key_ts = None
        self._video_frames = 0
        self.packager = Packager(
            self.dir,
            ffmpeg=self.service.ffmpeg,
            segment_seconds=settings.segment_seconds,
            next_number=lambda: self.recording.next_number,
            on_segment=self._segment,
            on_info=self._info,
        )
        self.packager.start()
        self._set(STREAMING)

    async def detach(self, reason: str, *, refused: bool = False) -> None:
        """The publisher is gone: flush its packager; the show waits for it to come back."""
        session, packager = self.session, self.packager
        self.session, self.packager = None, None
        if session is not None:
            session.disconnect(reason)
            self._on_air_before += time.monotonic() - self._session_started
        if packager is not None:
            self.health.restarts += packager.restarts
            self.health.dropped_frames += packager.dropped_frames
            await packager.close()
        if self.state == ENDED:
            return
        self._set(RECONNECTING if self.recording.segments else OFFLINE, reason if refused else None)

    async def end(self) -> None:
        async with self.lock:
            await self.detach("the show has ended")
            self.recording.finish()
            self._set(ENDED)

    def refuse(self, reason: str) -> None:
        """Bad input while publishing: drop the publisher, say why in the status and the log."""
        log.warning("show %s: stream refused: %s", self.show_id, reason)
        self.problem = reason
        if self.session is not None:
            self.session.disconnect(reason)

    # -- the ingest sink ------------------------------------------------------------------

    def media(self, type_id: int, timestamp: int, payload: bytes) -> None:
        if self.packager is None:
            return
        now = time.monotonic()
        self._bytes.add(now, len(payload))
        if type_id == VIDEO and not is_config(type_id, payload):
            self._video_frames += 1
            self._frames.append(timestamp)
            while self._frames and self._frames[0] < timestamp - 2000:
                self._frames.popleft()
            if is_keyframe(payload):
                if self._last_key_ts is not None and timestamp > self._last_key_ts:
                    self.health.keyframe_interval_s = (timestamp - self._last_key_ts) / 1000
                self._last_key_ts = timestamp
            self._check_rate()
            if not self.health.video_codec:
                self.health.video_codec = _video_codec(payload)
        elif type_id != VIDEO and not self.health.audio_codec:
            self.health.audio_codec = _audio_codec(payload)
        self.packager.feed(type_id, timestamp, payload)

    def _check_rate(self) -> None:
        limit = self.service.settings.video_max_fps
        span = self._frames[-1] - self._frames[0] if self._frames else 0
        # Judge over a second of stream time, or sooner if timestamps barely move at all.
        if span >= 1000 or len(self._frames) > 4 * limit:
            fps = (len(self._frames) - 1) * 1000 / max(span, 1)
            self.health.fps = round(fps, 1)
            if fps > limit * 1.25:  # some slack for timestamp jitter
                self.refuse(f"the frame rate ({fps:.0f} fps) is over the limit of {limit} fps")

    def metadata(self, values: dict[str, Any], tag: bytes) -> None:
        if self.packager is not None:
            self.packager.metadata(tag)
        encoder = values.get("encoder")
        if isinstance(encoder, str):
            self.health.encoder = encoder[:100]
        width, height = values.get("width"), values.get("height")
        if isinstance(width, float) and isinstance(height, float):
            self._check_size(int(width), int(height))

    def _info(self, info: StreamInfo) -> None:
        self.health.pix_fmt = info.pix_fmt
        if info.video:
            self.health.video_codec = info.video
        if info.audio:
            self.health.audio_codec = info.audio
        if info.width and info.height:
            self._check_size(info.width, info.height)
        if self.packager is not None:
            self.health.transcoding = not (self.packager.copy_video and self.packager.copy_audio)
        playable = ("", "yuv420p", "yuvj420p", "nv12")
        if info.pix_fmt not in playable and not self.health.transcoding:
            warning = f"the picture is {info.pix_fmt}: browsers play yuv420p (OBS: NV12)"
            if warning not in self.health.warnings:
                self.health.warnings.append(warning)

    def _check_size(self, width: int, height: int) -> None:
        self.health.width, self.health.height = width, height
        limit = self.service.settings.video_max_pixels
        if width * height > limit or width > 8192 or height > 8192:
            self.refuse(f"the picture ({width}x{height}) is larger than the limit ({limit} pixels)")

    def _segment(self, segment: hls.Segment) -> None:
        self.recording.add(segment)

    async def closed(self, session: Publisher, reason: str) -> None:
        async with self.lock:
            if session is not self.session:
                return  # an encoder that was replaced; its successor owns the stream
            await self.detach(reason, refused=self.problem == reason)

    # -- reading --------------------------------------------------------------------------

    def tick(self) -> None:
        """Once a second: the health figures and the checks that need time to pass."""
        if self.packager is None:
            return
        now = time.monotonic()
        self.health.bitrate_kbps = round(self._bytes.per_second(now) * 8 / 1000, 1)
        self.health.on_air_s = round(self._on_air_before + now - self._session_started, 1)
        probe = self.service.settings.video_probe_s
        if not self._video_frames and now - self._session_started > probe:
            self.refuse(f"no video in the stream after {probe:.0f} s (audio only, or no frames)")
        self.write_status()

    def stream_time(self) -> datetime | None:
        if self.packager is not None:
            moment = self.packager.clock.now()
            if moment is not None:
                return moment
        newest = self.recording.newest
        return newest.end if newest else None

    def status(self) -> dict[str, Any]:
        packager = self.packager
        health = dict(vars(self.health))
        if packager is not None:
            health["restarts"] = self.health.restarts + packager.restarts
            health["dropped_frames"] = self.health.dropped_frames + packager.dropped_frames
            if packager.problem:
                health["warnings"] = [*self.health.warnings, packager.problem]
        moment = self.stream_time()
        return {
            "show_id": self.show_id,
            "state": self.state,
            "problem": self.problem,
            "since": datetime.fromtimestamp(self.changed_at, UTC).isoformat(),
            "peer": self.session.peer if self.session else None,
            "health": health,
            "stream_time": hls.format_pdt(moment) if moment else None,
            "segments": len(self.recording.segments),
            "recorded_s": round(self.recording.duration, 3),
            "playlist": playlist_url(self.show_id) if self.recording.segments else None,
            "replay": replay_url(self.show_id) if self.recording.segments else None,
            "packager_pid": packager.pid if packager else None,
            "updated_at": time.time(),
        }

    def write_status(self) -> None:
        try:
            hls.write_atomic(self.dir / STATUS_FILE, json.dumps(self.status()))
        except OSError:
            log.exception("show %s: cannot write the stream status", self.show_id)


class VideoService:
    """The RTMP listener and every show's stream in this process."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.ffmpeg = ffmpeg_exe(ctx.settings.ffmpeg_path)
        self.streams: dict[int, ShowStream] = {}
        s = ctx.settings
        self.ingest = IngestServer(
            s.rtmp_host or s.host,
            s.rtmp_port,
            self.on_publish,
            timeouts=Timeouts(idle=s.ingest_idle_s),
        )
        self._monitor: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.ingest.port

    async def start(self) -> None:
        self.settings.video_root.mkdir(parents=True, exist_ok=True)
        await self.ingest.start()
        self._monitor = asyncio.create_task(self._watch(), name="video monitor")
        log.info("RTMP ingest on %s (%s)", self.ingest.port, ingest_url(self.settings))

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
        await self.ingest.close()
        for stream in list(self.streams.values()):
            async with stream.lock:
                await stream.detach("the server is stopping")

    async def on_publish(self, app: str, key: str, session: Publisher) -> ShowStream | str:
        async with self.ctx.db.session() as s:
            show = await s.scalar(select(Show).where(Show.stream_key == key))
        if show is None:
            return "unknown stream key (wrong, or rotated): copy it from the host console"
        if show.status == "ended":
            return f"show {show.id} has ended; create a new show to go live again"
        stream = self.streams.get(show.id)
        if stream is None:
            stream = self.streams[show.id] = ShowStream(self, show.id, key)
        async with stream.lock:
            stream.key = key
            if stream.state == ENDED:
                return f"show {show.id} has ended; create a new show to go live again"
            if stream.session is not None:
                log.info(
                    "show %s: a new encoder (%s) takes over from %s",
                    show.id,
                    session.peer,
                    stream.session.peer,
                )
                await stream.detach("another encoder is publishing with this stream key")
            log.info("show %s: publishing from %s", show.id, session.peer)
            await stream.attach(session)
        return stream

    async def _watch(self) -> None:
        last_check = 0.0
        while True:
            await asyncio.sleep(MONITOR_S)
            try:
                for stream in list(self.streams.values()):
                    stream.tick()
                if time.monotonic() - last_check >= SHOW_CHECK_S:
                    last_check = time.monotonic()
                    await self._check_shows()
            except Exception:  # the monitor must outlive any one bad tick
                log.exception("video monitor tick failed")

    async def _check_shows(self) -> None:
        """Shows that ended, and keys that were rotated, while an encoder is connected."""
        watched = [s for s in self.streams.values() if s.state != ENDED]
        if not watched:
            return
        async with self.ctx.db.session() as s:
            rows = (
                await s.execute(
                    select(Show.id, Show.status, Show.stream_key).where(
                        Show.id.in_([w.show_id for w in watched])
                    )
                )
            ).all()
        facts = {row[0]: (row[1], row[2]) for row in rows}
        for stream in watched:
            status, key = facts.get(stream.show_id, ("ended", ""))
            if status == "ended":
                await stream.end()
            elif key != stream.key and isinstance(stream.session, Session):
                # Only an encoder holds the key; a browser camera signed in as the host.
                stream.refuse("the stream key was rotated: use the new key")

    async def finish(self, show_id: int) -> None:
        stream = self.streams.get(show_id)
        if stream is not None:
            await stream.end()
        else:
            _finish_on_disk(self.settings, show_id)


# -- the API the rest of Hawker uses ------------------------------------------------------

_running: dict[int, VideoService] = {}


def service_for(ctx: Context) -> VideoService | None:
    """The video service running in this process for `ctx` (None without RTMP ingest)."""
    return _running.get(id(ctx))


async def start(ctx: Context) -> None:
    if not ctx.settings.rtmp_port or id(ctx) in _running:
        return
    service = VideoService(ctx)
    try:
        await service.start()
    except OSError as exc:  # the port is taken: the shop still runs, without ingest
        log.error(
            "video ingest not started: cannot listen on RTMP port %s: %s",
            ctx.settings.rtmp_port,
            exc,
        )
        return
    _running[id(ctx)] = service


async def stop(ctx: Context) -> None:
    service = _running.pop(id(ctx), None)
    if service is not None:
        await service.stop()


def stream_status(ctx: Context, show_id: int) -> dict[str, Any]:
    """State, problem and health of a show's stream, as the host console shows it."""
    service = service_for(ctx)
    stream = service.streams.get(show_id) if service else None
    if stream is not None:
        return stream.status()
    directory = show_dir(ctx.settings, show_id)
    status: dict[str, Any] | None = None
    with contextlib.suppress(OSError, ValueError):
        status = json.loads((directory / STATUS_FILE).read_text())
    if status is None:
        recording = hls.read(directory / hls.REPLAY)
        state = OFFLINE if recording is None else (ENDED if recording.ended else RECONNECTING)
        return {
            "show_id": show_id,
            "state": state,
            "problem": None,
            "health": None,
            "playlist": playlist_url(show_id) if recording else None,
            "replay": replay_url(show_id) if recording else None,
        }
    stale = time.time() - status.get("updated_at", 0) > STALE_STATUS_S
    if status.get("state") == STREAMING and stale:
        status["state"] = RECONNECTING  # the process that had the encoder is gone
    return status


def stream_time(ctx: Context, show_id: int) -> datetime | None:
    """The program date-time of the picture the host is showing now, or None if not streaming.

    A commerce event (a pin, a deal) stamped with it is shown to each viewer when their player
    reaches that program date-time. In the process holding the encoder this is the newest
    frame received; elsewhere, the end of the newest segment on disk (up to a segment older).
    """
    service = service_for(ctx)
    stream = service.streams.get(show_id) if service else None
    if stream is not None:
        return stream.stream_time() if stream.state == STREAMING else None
    playlist = hls.read(show_dir(ctx.settings, show_id) / hls.LIVE)
    status = stream_status(ctx, show_id)
    if playlist is None or not playlist.segments or status.get("state") != STREAMING:
        return None
    return playlist.segments[-1].end


def replay_offset(ctx: Context, show_id: int, moment: datetime) -> float | None:
    """Seconds into the replay at which `moment` (a stream time) was on screen, or None."""
    playlist = hls.read(show_dir(ctx.settings, show_id) / hls.REPLAY)
    if playlist is None:
        return None
    offset = 0.0
    for segment in playlist.segments:
        if segment.pdt <= moment < segment.end:
            return offset + (moment - segment.pdt).total_seconds()
        if moment < segment.pdt:  # in a gap (the encoder was away): the next picture
            return offset
        offset += segment.duration
    return None


async def finish_recording(ctx: Context, show_id: int) -> None:
    """The show ended: stop its stream and close its recording (the replay becomes VOD)."""
    service = service_for(ctx)
    if service is not None:
        await service.finish(show_id)
    else:
        _finish_on_disk(ctx.settings, show_id)


def _finish_on_disk(settings: Settings, show_id: int) -> None:
    directory = show_dir(settings, show_id)
    if (directory / hls.REPLAY).exists():
        Recording(
            directory, segment_seconds=settings.segment_seconds, live_window=settings.live_window
        ).finish()


async def grab_frame(ctx: Context, show_id: int) -> bytes | None:
    """A JPEG of the newest recorded picture (a cover image taken from the stream)."""
    playlist = hls.read(show_dir(ctx.settings, show_id) / hls.REPLAY)
    if playlist is None or not playlist.segments:
        return None
    segment = show_dir(ctx.settings, show_id) / playlist.segments[-1].name
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(ctx.settings.ffmpeg_path),
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        str(segment),
        "-frames:v",
        "1",
        "-vf",
        "scale='min(1280,iw)':-2",
        "-f",
        "image2",
        "-c:v",
        "mjpeg",
        "pipe:1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(10):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out if proc.returncode == 0 and out else None
