"""Going live from the host console with the browser's camera (Chromium's fake camera and
microphone), and a viewer in another browser watching it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hawker.video import hls
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.harness import LiveServer, World, free_port, live_server, need_service, test_settings

pytestmark = pytest.mark.video

FAKE_MEDIA = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("hawker-camera-e2e")
    settings = test_settings(f"sqlite:///{tmp / 'hawker.db'}", tmp, rtmp_port=free_port())
    with live_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        need_service("Chromium", f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *FAKE_MEDIA]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def world(server: LiveServer) -> Iterator[World]:
    w = World(server)
    yield w
    w.close()


def live_segments(server: LiveServer, show_id: int) -> list[hls.Segment]:
    r = httpx.get(f"{server.base_url}/hls/{show_id}/{hls.LIVE}", timeout=10)
    return hls.parse(r.text).segments if r.status_code == 200 else []


def wait_for_segments(
    server: LiveServer, show_id: int, count: int, timeout: float = 30
) -> list[hls.Segment]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = live_segments(server, show_id)
        if len(found) >= count:
            return found
        time.sleep(0.25)
    raise AssertionError(f"fewer than {count} live segments after {timeout}s")


def test_host_goes_live_with_the_camera_and_a_viewer_watches(
    server: LiveServer, world: World, browser: Any
) -> None:
    host = world.person("Camera Host", host=True)
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]

    host_context = browser.new_context()
    viewer_context = browser.new_context()
    try:
        console = host_context.new_page()
        sign_in(console, server.base_url, host, f"/shows/{sid}/console")
        console.get_by_test_id("go-live-camera").click()
        console.get_by_text("Stop camera").wait_for(timeout=10_000)

        segments = wait_for_segments(server, sid, 3)
        r = httpx.get(f"{server.base_url}/hls/{sid}/{segments[-1].name}", timeout=10)
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp2t"
        assert len(r.content) > 1000
        status = host.get(f"/shows/{sid}/stream").json()
        assert status["state"] == "streaming"
        assert status["health"]["encoder"].startswith("browser camera")
        assert status["health"]["video_codec"] == "h264"  # Chromium's H.264 is copied
        # The console tells the host the stream is on air.
        console.wait_for_function(
            "document.getElementById('cx-camera-status').textContent.includes('streaming')",
            timeout=15_000,
        )

        viewer = viewer_context.new_page()
        viewer.goto(f"{server.base_url}/shows/{sid}")
        viewer.wait_for_function(
            "() => { const v = document.getElementById('player');"
            " return v && v.currentTime > 0 && !v.paused; }",
            timeout=30_000,
        )
        first = viewer.evaluate("document.getElementById('player').currentTime")
        viewer.wait_for_function(
            f"document.getElementById('player').currentTime > {first} + 1", timeout=15_000
        )

        # The host stops the camera: the show waits for them, as after an encoder drops.
        console.get_by_test_id("go-live-camera").click()
        deadline = time.monotonic() + 20
        while host.get(f"/shows/{sid}/stream").json()["state"] != "reconnecting":
            assert time.monotonic() < deadline, "the show did not go to reconnecting"
            time.sleep(0.25)
    finally:
        host_context.close()
        viewer_context.close()
