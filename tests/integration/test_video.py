"""Live video end to end: ffmpeg publishes over RTMP, the server packages HLS and records.

Real ffmpeg (the imageio-ffmpeg binary) as the encoder, real sockets, a real server; a few
seconds of test pattern at low resolution per test.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

from hawker.video import hls
from hawker.video.service import stream_status, stream_time
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("hawker-video")
    settings = test_settings(
        f"sqlite:///{tmp / 'hawker.db'}",
        tmp,
        rtmp_port=free_port(),
        video_probe_s=2.0,
        video_max_fps=40,
        video_max_pixels=640 * 480,
    )
    with live_server(settings) as live:
        yield live


def rtmp_url(server: LiveServer, key: str) -> str:
    return f"rtmp://127.0.0.1:{server.settings.rtmp_port}/live/{key}"


def publish(
    url: str,
    seconds: float,
    *,
    size: str = "320x240",
    rate: int = 25,
    audio: bool = True,
    video: bool = True,
) -> subprocess.Popen[bytes]:
    """An encoder: test pattern and a tone, real time, a keyframe every second."""
    args = [FFMPEG, "-hide_banner", "-loglevel", "error", "-re"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    args += ["-t", str(seconds)]
    if video:
        args += [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(rate),
        ]
    if audio:
        args += ["-c:a", "aac"]
    args += ["-f", "flv", url]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(0.1)


def playlist(server: LiveServer, show_id: int, name: str = hls.LIVE) -> hls.Playlist | None:
    r = httpx.get(f"{server.base_url}/hls/{show_id}/{name}", timeout=10)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "no-cache" in r.headers["cache-control"]
    return hls.parse(r.text)


def segments(server: LiveServer, show_id: int, name: str = hls.LIVE) -> list[hls.Segment]:
    found = playlist(server, show_id, name)
    return found.segments if found else []


def assert_valid_segment(server: LiveServer, show_id: int, segment: hls.Segment, tmp: Path) -> None:
    r = httpx.get(f"{server.base_url}/hls/{show_id}/{segment.name}", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "video/mp2t"
    path = tmp / segment.name
    path.write_bytes(r.content)
    probe = subprocess.run(
        [FFMPEG, "-hide_banner", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert probe.returncode == 0 and not probe.stderr.strip(), probe.stderr
    info = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    assert "Video: h264" in info.stderr and "Audio: aac" in info.stderr


def new_show(world: World, host: Person | None = None) -> tuple[Person, int, str]:
    host = host or world.person("host", host=True)
    show, _ = world.live_show(host, listings=1)
    key = host.get(f"/shows/{show['id']}/stream-key").json()["stream_key"]
    return host, show["id"], key


def finish(encoder: subprocess.Popen[bytes], timeout: float = 30) -> tuple[int, str]:
    _, err = encoder.communicate(timeout=timeout)
    return encoder.returncode, err.decode(errors="replace")


def test_publish_with_the_stream_key_makes_a_live_playlist(
    world: World, server: LiveServer, tmp_path: Path
) -> None:
    _, show_id, key = new_show(world)
    assert playlist(server, show_id) is None  # nothing before the encoder comes
    encoder = publish(rtmp_url(server, key), 6)
    try:
        first = wait_until(lambda: segments(server, show_id), what="a live playlist")
        more = wait_until(
            lambda: [s for s in segments(server, show_id) if s.number > first[-1].number],
            what="newer segments",
        )
        assert stream_status(ctx_of(server), show_id)["state"] == "streaming"
        now = stream_time(ctx_of(server), show_id)
        assert now is not None and abs(time.time() - now.timestamp()) < 5
    finally:
        code, err = finish(encoder)
    assert code == 0, err
    text = httpx.get(f"{server.base_url}/hls/{show_id}/{hls.LIVE}").text
    assert "#EXT-X-PROGRAM-DATE-TIME:" in text
    live = segments(server, show_id)
    assert len(live) >= 3
    # Program date-times follow the wall clock, a segment apart.
    assert all(0.5 < (b.pdt - a.pdt).total_seconds() < 1.6 for a, b in itertools.pairwise(live))
    for segment in [*first[:1], *more[:1], live[-1]]:
        assert segment.duration <= 1.6
        assert_valid_segment(server, show_id, segment, tmp_path)


def test_a_wrong_or_rotated_key_is_refused(world: World, server: LiveServer) -> None:
    host, show_id, old_key = new_show(world)
    code, err = finish(publish(rtmp_url(server, "live_not-a-key"), 3), timeout=20)
    assert code != 0 and "unknown stream key" in err

    new_key = host.post(f"/shows/{show_id}/stream-key").json()["stream_key"]
    assert new_key != old_key
    code, err = finish(publish(rtmp_url(server, old_key), 3), timeout=20)
    assert code != 0 and "unknown stream key" in err
    assert playlist(server, show_id) is None
    assert stream_status(ctx_of(server), show_id)["state"] == "offline"


def test_two_shows_live_at_once(world: World, server: LiveServer) -> None:
    _, first_id, first_key = new_show(world)
    _, second_id, second_key = new_show(world)
    encoders = [
        publish(rtmp_url(server, first_key), 5),
        publish(rtmp_url(server, second_key), 5, size="160x120"),
    ]
    try:
        ctx = ctx_of(server)
        wait_until(
            lambda: all(
                stream_status(ctx, i)["state"] == "streaming" for i in (first_id, second_id)
            ),
            what="both shows streaming",
        )
        for show_id in (first_id, second_id):
            wait_until(
                lambda show_id=show_id: len(segments(server, show_id)) >= 2,
                what=f"segments of show {show_id}",
            )
        sizes = {stream_status(ctx, i)["health"]["width"] for i in (first_id, second_id)}
        assert sizes == {320, 160}  # each show has its own picture
    finally:
        for encoder in encoders:
            code, err = finish(encoder)
            assert code == 0, err


def test_garbage_on_the_rtmp_port_hurts_nobody(world: World, server: LiveServer) -> None:
    port = server.settings.rtmp_port
    junk = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        os.urandom(4000),
        b"\x03" + os.urandom(1536) + os.urandom(1536) + b"\x3f" + os.urandom(3000),  # bad chunks
        b"\x03",  # a handshake that never finishes
    ]
    held = []
    for payload in junk:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        with contextlib.suppress(OSError):  # the server may already have hung up on us
            sock.sendall(payload)
        held.append(sock)
    _, show_id, key = new_show(world)
    encoder = publish(rtmp_url(server, key), 3)
    code, err = finish(encoder)
    assert code == 0, err
    assert len(wait_until(lambda: segments(server, show_id), what="segments")) >= 2
    assert httpx.get(f"{server.base_url}/api/v1/shows/{show_id}").status_code == 200
    for sock in held:
        sock.close()


def test_a_killed_packager_comes_back_and_the_playlist_continues(
    world: World, server: LiveServer, tmp_path: Path
) -> None:
    _, show_id, key = new_show(world)
    ctx = ctx_of(server)
    encoder = publish(rtmp_url(server, key), 9)
    try:
        wait_until(lambda: len(segments(server, show_id)) >= 2, what="segments")
        pid = stream_status(ctx, show_id)["packager_pid"]
        assert pid
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: stream_status(ctx, show_id)["packager_pid"] not in (None, pid),
            what="a new packager",
        )

        def after_break() -> list[hls.Segment]:
            found = segments(server, show_id)
            marks = [i for i, s in enumerate(found) if s.discontinuity]
            return found[marks[-1] :] if marks and len(found) - marks[-1] >= 2 else []

        resumed = wait_until(after_break, what="segments after a discontinuity")
    finally:
        code, err = finish(encoder)
    assert code == 0, err  # the encoder never noticed
    assert stream_status(ctx, show_id)["health"]["restarts"] >= 1
    assert_valid_segment(server, show_id, resumed[-1], tmp_path)
    numbers = [s.number for s in segments(server, show_id, hls.REPLAY)]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_an_encoder_that_drops_and_returns_resumes_the_same_recording(
    world: World, server: LiveServer
) -> None:
    _, show_id, key = new_show(world)
    ctx = ctx_of(server)
    code, err = finish(publish(rtmp_url(server, key), 3))
    assert code == 0, err
    wait_until(lambda: stream_status(ctx, show_id)["state"] == "reconnecting", what="reconnecting")
    first_part = segments(server, show_id, hls.REPLAY)
    assert first_part

    encoder = publish(rtmp_url(server, key), 3)
    try:
        wait_until(lambda: stream_status(ctx, show_id)["state"] == "streaming", what="streaming")
    finally:
        code, err = finish(encoder)
    assert code == 0, err
    wait_until(lambda: stream_status(ctx, show_id)["state"] == "reconnecting", what="reconnecting")
    replay = segments(server, show_id, hls.REPLAY)
    assert replay[: len(first_part)] == first_part
    second_part = replay[len(first_part) :]
    assert second_part and second_part[0].discontinuity
    assert [s.number for s in replay] == list(range(len(replay)))
    assert second_part[0].pdt > first_part[-1].pdt  # the replay's timeline moves on
    assert sum(s.duration for s in replay) >= 5


@pytest.mark.parametrize(
    ("encoder", "problem"),
    [
        (dict(video=False), "no video"),
        (dict(size="800x600"), "larger than the limit"),
        (dict(size="96x64", rate=90), "frame rate"),
    ],
    ids=["audio-only", "huge-picture", "huge-frame-rate"],
)
def test_bad_input_is_refused_with_a_reason(
    world: World, server: LiveServer, encoder: dict[str, Any], problem: str
) -> None:
    _, show_id, key = new_show(world)
    _, other_id, other_key = new_show(world)
    ctx = ctx_of(server)
    good = publish(rtmp_url(server, other_key), 6)
    bad = publish(rtmp_url(server, key), 8, **encoder)
    try:

        def refused() -> dict[str, Any] | None:
            status = stream_status(ctx, show_id)
            return status if status["problem"] and status["state"] != "streaming" else None

        status = wait_until(refused, what="a refusal")
        assert problem in status["problem"]
        assert bad.wait(timeout=15) != 0  # the encoder was disconnected
        assert stream_status(ctx, other_id)["state"] == "streaming"  # the other show carries on
    finally:
        bad.kill()
        bad.wait()
        code, err = finish(good)
    assert code == 0, err
    assert len(segments(server, other_id)) >= 3


def test_pins_carry_stream_time_and_become_replay_chapters(world: World) -> None:
    server = world.server
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=3)
    sid = show["id"]
    key = host.get(f"/shows/{sid}/stream-key").json()["stream_key"]
    encoder = publish(rtmp_url(server, key), 12)
    try:
        wait_until(lambda: len(segments(server, sid)) >= 2, what="live segments")
        status = host.get(f"/shows/{sid}/stream").json()
        assert status["state"] == "streaming" and status["ingest_url"].startswith("rtmp://")
        viewer = world.person("Viewer")
        with world.socket(sid, viewer) as room:
            room.snapshot()
            for listing in (shelf[2], shelf[0]):
                assert (
                    host.put(f"/shows/{sid}/pin", json={"listing_id": listing["id"]}).status_code
                    == 200
                )
                pinned = room.wait_for("shelf.pinned")
                # The page holds the pin until its player reaches this picture.
                assert pinned["data"]["stream_at"] is not None
                time.sleep(2.5)
        r = host.post(f"/shows/{sid}/cover-from-stream")
        assert r.status_code == 200 and r.json()["cover_url"].startswith("/media/")
    finally:
        encoder.kill()
        encoder.wait()
    assert host.post(f"/shows/{sid}/end").status_code == 200
    replay = wait_until(
        lambda: (p := playlist(server, sid, hls.REPLAY)) and p.ended and p, what="a finished replay"
    )
    chapters = world.anonymous.get(f"/shows/{sid}/chapters").json()
    assert [c["number"] for c in chapters] == [3, 1]
    offsets = [c["replay_offset_s"] for c in chapters]
    assert all(o is not None for o in offsets)
    # In order, about 2.5 s apart (within a segment), and inside the recording.
    assert 1.0 <= offsets[1] - offsets[0] <= 4.0
    assert offsets[1] <= sum(s.duration for s in replay.segments)
