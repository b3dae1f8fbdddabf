"""Going live from the browser, without a browser: a WebM recording sent as MediaRecorder does.

ffmpeg records its test pattern in real time as WebM/Matroska (as a browser's MediaRecorder
would) and the bytes go over the camera socket in small binary frames, signed in as the
host. The server packages them like an RTMP stream: same playlist, recording and states.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hawker.video import hls
from hawker.video.service import stream_status
from tests.harness import (
    LiveServer,
    Person,
    World,
    ctx_of,
    free_port,
    live_server,
    test_settings,
)

pytestmark = pytest.mark.video

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CODECS = {
    # What Chromium records for "video/webm;codecs=h264,opus" (copied, audio to AAC) ...
    "h264": [
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-g",
        "20",
        "-pix_fmt",
        "yuv420p",
        "-f",
        "matroska",
    ],
    # ... and the fallback, "video/webm;codecs=vp9,opus" (transcoded).
    "vp9": [
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-g",
        "20",
        "-b:v",
        "300k",
        "-f",
        "webm",
    ],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("hawker-camera")
    settings = test_settings(
        f"sqlite:///{tmp / 'hawker.db'}",
        tmp,
        rtmp_port=free_port(),
        video_probe_s=3.0,
        ingest_idle_s=4.0,
    )
    with live_server(settings) as live:
        yield live


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def segments(server: LiveServer, show_id: int, name: str = hls.LIVE) -> list[hls.Segment]:
    r = httpx.get(f"{server.base_url}/hls/{show_id}/{name}", timeout=10)
    return hls.parse(r.text).segments if r.status_code == 200 else []


def probe(server: LiveServer, show_id: int, segment: hls.Segment, tmp: Path) -> str:
    """What ffmpeg finds in a served segment, after decoding all of it without an error."""
    r = httpx.get(f"{server.base_url}/hls/{show_id}/{segment.name}", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp2t"
    path = tmp / segment.name
    path.write_bytes(r.content)
    decode = subprocess.run(
        [FFMPEG, "-hide_banner", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert decode.returncode == 0 and not decode.stderr.strip(), decode.stderr
    return subprocess.run(
        [FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=30
    ).stderr


def camera(
    server: LiveServer, show_id: int, who: Person | None, **headers: str
) -> ClientConnection:
    if who is not None:
        headers["Authorization"] = f"Bearer {who.token}"
    return connect(
        f"{server.ws_url}/ws/ingest/{show_id}",
        additional_headers=headers,
        open_timeout=10,
        max_size=None,
    )


def frames(ws: ClientConnection, timeout: float = 10) -> Iterator[dict[str, Any]]:
    """The server's JSON frames until it closes the socket."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            raw = ws.recv(timeout=max(deadline - time.monotonic(), 0.01))
        except (ConnectionClosed, TimeoutError):
            return
        yield json.loads(raw)


def refusal(ws: ClientConnection) -> tuple[int | None, dict[str, Any]]:
    errors = [f for f in frames(ws) if f["type"] == "error"]
    assert errors, "the server closed without saying why"
    return ws.close_code, errors[0]


def ready(ws: ClientConnection) -> dict[str, Any]:
    first: dict[str, Any] = json.loads(ws.recv(timeout=10))
    assert first["type"] == "ready", first
    return first


def recording(codec: str, seconds: float) -> subprocess.Popen[bytes]:
    """A camera and a microphone, recorded in real time as MediaRecorder would (WebM, Opus)."""
    return subprocess.Popen(
        [
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=20",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            str(seconds),
            *CODECS[codec][:-2],
            "-c:a",
            "libopus",
            "-cluster_time_limit",
            "250",
            "-flush_packets",
            "1",
            *CODECS[codec][-2:],
            "pipe:1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def send_recording(ws: ClientConnection, source: subprocess.Popen[bytes], limit: int) -> None:
    """Chunks as they come, each cut to the server's frame limit, as camera.js does."""
    assert source.stdout is not None
    while chunk := os.read(source.stdout.fileno(), 64 * 1024):
        for start in range(0, len(chunk), limit):
            ws.send(chunk[start : start + limit])


def go_live(server: LiveServer, show_id: int, host: Person, codec: str, seconds: float) -> None:
    with camera(server, show_id, host) as ws:
        hello = ready(ws)
        source = recording(codec, seconds)
        limit = hello["max_frame_bytes"]
        sender = threading.Thread(target=send_recording, args=(ws, source, limit))
        sender.start()
        sender.join(timeout=seconds + 30)
        _, err = source.communicate(timeout=10)
        assert source.returncode == 0, err


def new_show(world: World) -> tuple[Person, int]:
    host = world.person("host", host=True)
    show, _ = world.live_show(host, listings=1)
    return host, show["id"]


@pytest.mark.parametrize("codec", ["h264", "vp9"])
def test_the_host_goes_live_with_a_camera_and_comes_back_after_a_drop(
    world: World, server: LiveServer, tmp_path: Path, codec: str
) -> None:
    host, show_id = new_show(world)
    ctx = ctx_of(server)
    seen: dict[str, Any] = {}

    def watch() -> None:
        # While the camera sends, viewers already get a playlist with fresh segments.
        found = wait_until(
            lambda: (live := segments(server, show_id))[1:] and live, what="live segments"
        )
        seen["live"] = found
        seen["status"] = stream_status(ctx, show_id)

    watcher = threading.Thread(target=watch)
    watcher.start()
    go_live(server, show_id, host, codec, 5)
    watcher.join(timeout=30)
    assert seen.get("live"), "no live playlist while the camera was on"
    status = seen["status"]
    assert status["state"] == "streaming"
    assert status["health"]["encoder"].startswith("browser camera")
    assert status["health"]["transcoding"]  # Opus always becomes AAC; VP9 becomes H.264
    info = probe(server, show_id, seen["live"][-1], tmp_path)
    assert "Video: h264" in info and "Audio: aac" in info and "320x240" in info

    # The browser went away: the show waits for it, and its next socket carries on recording.
    wait_until(lambda: stream_status(ctx, show_id)["state"] == "reconnecting", what="reconnecting")
    first_part = segments(server, show_id, hls.REPLAY)
    go_live(server, show_id, host, codec, 4)
    wait_until(lambda: stream_status(ctx, show_id)["state"] == "reconnecting", what="reconnecting")
    replay = segments(server, show_id, hls.REPLAY)
    assert replay[: len(first_part)] == first_part
    second_part = replay[len(first_part) :]
    assert second_part and second_part[0].discontinuity
    assert [s.number for s in replay] == list(range(len(replay)))
    probe(server, show_id, second_part[-1], tmp_path)


def _cookie_sign_in(server: LiveServer, who: Person) -> httpx.Client:
    http = httpx.Client(base_url=server.base_url, timeout=15, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', http.get("/signin").text)
    assert token
    r = http.post(
        "/signin",
        data={"email": who.email, "password": who.password, "csrf": token[1], "next": "/"},
    )
    assert r.status_code == 303, r.text
    return http


def test_only_who_runs_the_show_may_publish(world: World, server: LiveServer) -> None:
    host, show_id = new_show(world)
    viewer = world.person("viewer")
    other_host = world.person("other host", host=True)

    with camera(server, show_id, None) as ws:
        code, error = refusal(ws)
    assert code == 4401 and error["code"] == "not_signed_in"
    for who in (viewer, other_host):
        with camera(server, show_id, who) as ws:
            code, error = refusal(ws)
        assert code == 4403 and error["code"] == "forbidden", error
    with camera(server, show_id + 1000, host) as ws:
        code, error = refusal(ws)
    assert code == 4404 and error["code"] == "show_not_found"

    # The host's session cookie works from our own pages, not from another site's.
    http = _cookie_sign_in(server, host)
    cookie = f"hawker_session={http.cookies['hawker_session']}"
    with camera(server, show_id, None, Cookie=cookie, Origin="http://evil.example") as ws:
        code, error = refusal(ws)
    assert code == 4401
    with camera(server, show_id, None, Cookie=cookie, Origin=server.base_url) as ws:
        assert ready(ws)["keyframe_interval_ms"] == 1000
    http.close()
    assert segments(server, show_id) == []
    wait_until(lambda: stream_status(ctx_of(server), show_id)["state"] == "offline", what="offline")


def test_garbage_ends_that_camera_only(world: World, server: LiveServer) -> None:
    host, show_id = new_show(world)
    with camera(server, show_id, host) as ws:
        ready(ws)
        ws.send(os.urandom(4000))
        code, error = refusal(ws)
    assert code == 4400 and error["code"] == "bad_stream"
    assert "not a WebM stream" in error["message"]
    status = stream_status(ctx_of(server), show_id)
    assert status["state"] == "offline" and "not a WebM stream" in status["problem"]

    # A codec the packager cannot take is refused with a way out.
    vp8 = subprocess.run(
        [
            FFMPEG,
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "1",
            "-c:v",
            "libvpx",
            "-f",
            "webm",
            "pipe:1",
        ],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    with camera(server, show_id, host) as ws:
        ready(ws)
        ws.send(vp8[:8000])
        code, error = refusal(ws)
    assert code == 4400 and "H.264 or VP9" in error["message"]

    # The server carries on: the same show goes live from a good camera.
    go_live(server, show_id, host, "h264", 3)
    assert len(wait_until(lambda: segments(server, show_id), what="segments")) >= 1
    assert httpx.get(f"{server.base_url}/api/v1/shows/{show_id}").status_code == 200
