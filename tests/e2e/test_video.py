"""The show's video in a real Chromium: ffmpeg's test pattern over RTMP, played by the viewer
page and the host console's preview, commerce held until the picture shows it, the replay.

Debian's Chromium decodes H.264 through its own ffmpeg, so the page plays what Hawker serves:
the tests look at the <video> itself (its time advancing, a frame decoded), not only at the
requests it makes.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import PHONE, sign_in
from tests.harness import LiveServer, Person, World, free_port, live_server, test_settings
from tests.integration.test_video import publish, rtmp_url, wait_until

pytestmark = pytest.mark.video

PLAYING = """() => {
  const v = document.getElementById("player");
  return !!v && !v.hidden && v.readyState >= 2 && v.currentTime > 0.5 && !v.paused;
}"""


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("hawker-e2e-video")
    settings = test_settings(f"sqlite:///{tmp / 'hawker.db'}", tmp, rtmp_port=free_port())
    with live_server(settings) as live:
        yield live


@pytest.fixture
def world(video_server: LiveServer) -> Iterator[World]:
    w = World(video_server)
    yield w
    w.close()


@pytest.fixture
def encoders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Encoders a test starts; stopped (by their own process id) when it ends."""
    running: list[subprocess.Popen[bytes]] = []
    yield running
    for proc in running:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def show_with_key(world: World, listings: int = 2) -> tuple[Person, dict[str, Any], str]:
    host = world.person("host", host=True)
    show, shelf = world.live_show(host, listings=listings)
    key = host.get(f"/shows/{show['id']}/stream-key").json()["stream_key"]
    return host, {"id": show["id"], "shelf": shelf}, key


def video_time(page: Any) -> float:
    value: float = page.evaluate("() => document.getElementById('player').currentTime")
    return value


def assert_time_advances(page: Any) -> None:
    before = video_time(page)
    page.wait_for_function(
        f"() => document.getElementById('player').currentTime > {before} + 1", timeout=20_000
    )


def test_the_viewer_page_plays_the_stream_and_says_how_far_behind_live(
    browser: Any,
    world: World,
    video_server: LiveServer,
    encoders: list[subprocess.Popen[bytes]],
) -> None:
    _, show, key = show_with_key(world)
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{video_server.base_url}/shows/{show['id']}")
        # On air, but the host's encoder has not started yet.
        page.get_by_text("Starting soon").wait_for(timeout=10_000)

        encoders.append(publish(rtmp_url(video_server, key), 120))
        page.wait_for_function(PLAYING, timeout=30_000)
        assert_time_advances(page)
        assert page.get_by_text("Starting soon").count() == 0

        latency = page.get_by_test_id("latency")
        latency.wait_for(timeout=10_000)
        assert re.fullmatch(r"\d+(\.\d)? s behind live", latency.inner_text().strip())
        assert float(latency.get_attribute("data-seconds") or "nan") >= 0

        # Muted autoplay; one tap turns the sound on.
        assert page.evaluate("() => document.getElementById('player').muted")
        page.get_by_test_id("unmute").click()
        assert not page.evaluate("() => document.getElementById('player').muted")
        assert page.get_by_test_id("unmute").is_hidden()
    finally:
        page.close()


def test_a_pin_shows_when_the_picture_reaches_it(
    browser: Any,
    world: World,
    video_server: LiveServer,
    encoders: list[subprocess.Popen[bytes]],
) -> None:
    host, show, key = show_with_key(world)
    encoders.append(publish(rtmp_url(video_server, key), 120))
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{video_server.base_url}/shows/{show['id']}")
        page.wait_for_function(PLAYING, timeout=30_000)
        assert page.get_by_test_id("pinned").is_hidden()

        listing = show["shelf"][1]
        r = host.put(f"/shows/{show['id']}/pin", json={"listing_id": listing["id"]})
        assert r.status_code == 200, r.text

        card = page.get_by_test_id("pinned")
        card.wait_for(timeout=15_000)  # the hold is bounded at 10 s
        assert card.get_attribute("data-number") == str(listing["number"])
        # The pin was held for the picture, not applied on arrival: it went out once the
        # frame on screen was the one the host was showing when they pinned (or at the bound).
        released = page.evaluate("() => window.hawkerVideo.released")
        pins = [r for r in released if r["type"] == "shelf.pinned"]
        assert pins, released
        pin = pins[-1]
        assert pin["reason"] in ("picture", "bound"), pin
        if pin["reason"] == "picture":
            assert pin["shown"] >= pin["stream_at"]
        # Chat is never held.
        viewer = world.person("viewer")
        with world.socket(show["id"], viewer) as room:
            room.snapshot()
            room.send({"type": "chat.send", "body": "love the #2", "ref": 1})
            room.wait_for("ack")
        page.get_by_text("love the #2").wait_for(timeout=5_000)
    finally:
        page.close()


def test_the_replay_plays_with_chapters_in_pin_order_and_its_chat(
    browser: Any,
    world: World,
    video_server: LiveServer,
    encoders: list[subprocess.Popen[bytes]],
) -> None:
    host, show, key = show_with_key(world, listings=3)
    sid = show["id"]
    encoders.append(publish(rtmp_url(video_server, key), 60))
    first, third = show["shelf"][0], show["shelf"][2]

    def recorded() -> float:
        status = host.get(f"/shows/{sid}/stream").json()
        return float(status.get("recorded_s") or 0)

    wait_until(lambda: recorded() >= 2, timeout=30, what="two seconds recorded")
    assert host.put(f"/shows/{sid}/pin", json={"listing_id": third["id"]}).status_code == 200
    viewer = world.person("viewer")
    with world.socket(sid, viewer) as room:
        room.snapshot()
        room.send({"type": "chat.send", "body": "what shade is that", "ref": 1})
        room.wait_for("ack")
    start = recorded()
    wait_until(lambda: recorded() >= start + 3, timeout=30, what="three more seconds")
    assert host.put(f"/shows/{sid}/pin", json={"listing_id": first["id"]}).status_code == 200
    start = recorded()
    wait_until(lambda: recorded() >= start + 2, timeout=30, what="two more seconds")
    assert host.post(f"/shows/{sid}/end").status_code == 200

    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{video_server.base_url}/shows/{sid}")
        assert page.get_by_test_id("status").text_content() == "Replay"
        page.wait_for_function(PLAYING, timeout=30_000)
        assert_time_advances(page)

        chips = page.get_by_test_id("chapter")
        chips.nth(1).wait_for(timeout=10_000)
        texts = chips.all_inner_texts()
        assert len(texts) == 2
        assert texts[0].startswith(f"#{third['number']}") and texts[1].startswith(
            f"#{first['number']}"
        )
        assert all(re.search(r"— \d+:\d\d$", t) for t in texts), texts
        offsets = [float(chips.nth(i).get_attribute("data-offset") or "nan") for i in range(2)]
        assert offsets[0] < offsets[1]

        # A chapter jumps to the moment its item was pinned, and its item is on the card.
        chips.nth(1).click()
        page.wait_for_function(
            f"() => document.getElementById('player').currentTime >= {offsets[1] - 0.01}",
            timeout=10_000,
        )
        card = page.get_by_test_id("pinned")
        card.wait_for(timeout=5_000)
        assert card.get_attribute("data-number") == str(first["number"])
        assert page.get_by_test_id("deal").is_hidden()  # no flash deals on replays

        # The chat, replayed in step: the message went out before the second pin, so it is
        # on screen from there; at the very start of the replay it is not yet.
        toggle = page.get_by_test_id("replay-chat-toggle")
        toggle.click()
        assert toggle.get_attribute("aria-pressed") == "true"
        page.get_by_text("what shade is that").wait_for(timeout=10_000)
        page.evaluate("() => { const v = document.getElementById('player'); v.pause(); }")
        page.get_by_test_id("replay-seek").fill("0")
        page.get_by_text("what shade is that").wait_for(state="detached", timeout=10_000)
    finally:
        page.close()


def test_the_console_previews_the_stream_with_its_health_and_takes_a_cover(
    browser: Any,
    world: World,
    video_server: LiveServer,
    encoders: list[subprocess.Popen[bytes]],
) -> None:
    host, show, key = show_with_key(world)
    sid = show["id"]
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        sign_in(page, video_server.base_url, host, f"/shows/{sid}/console")
        port = video_server.settings.rtmp_port
        assert page.get_by_test_id("rtmp-url").inner_text() == f"rtmp://127.0.0.1:{port}/live"
        page.get_by_test_id("show-stream-key").click()
        page.wait_for_function(
            f"() => document.querySelector('[data-testid=stream-key]').textContent === {key!r}"
        )
        state = page.get_by_test_id("stream-state")
        state_is = "() => /{}/i.test(document.getElementById('cx-stream-state').textContent)"
        page.wait_for_function(state_is.format("offline"), timeout=10_000)

        encoders.append(publish(rtmp_url(video_server, key), 120))
        page.wait_for_function(state_is.format("on air"), timeout=30_000)
        assert "on air" in state.inner_text().lower()
        page.wait_for_function(
            "() => /\\d/.test(document.querySelector('[data-testid=stream-bitrate]').textContent)"
            " && document.querySelector('[data-testid=stream-fps]').textContent.trim() !== '–'",
            timeout=15_000,
        )
        page.wait_for_function(
            """() => { const v = document.getElementById('cx-preview');
                       return v && v.readyState >= 2 && v.currentTime > 0.5; }""",
            timeout=30_000,
        )

        page.get_by_test_id("cover-from-stream").click()
        cover = page.get_by_test_id("stream-cover")
        cover.wait_for(timeout=20_000)
        src = cover.get_attribute("src") or ""
        assert src.startswith("/media/cover-")
        assert world.anonymous.get(f"/shows/{sid}").json()["cover_url"] == src
    finally:
        page.close()
