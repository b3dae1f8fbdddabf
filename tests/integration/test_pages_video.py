"""The video parts of the pages over real HTTP: what the viewer page and the console are
given to play, the player library installed at setup, the replayed chat."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Browser, LiveServer, World, free_port, live_server, test_settings
from tests.integration.test_video import publish, rtmp_url, wait_until

pytestmark = pytest.mark.video


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("hawker-pages-video")
    settings = test_settings(f"sqlite:///{tmp / 'hawker.db'}", tmp, rtmp_port=free_port())
    with live_server(settings) as live:
        yield live


@pytest.fixture
def world(video_server: LiveServer) -> Iterator[World]:
    w = World(video_server)
    yield w
    w.close()


def page(server: LiveServer, path: str) -> str:
    r = httpx.get(f"{server.base_url}{path}", timeout=15)
    assert r.status_code == 200, r.text
    return r.text


def test_the_player_library_is_served_from_setup(video_server: LiveServer) -> None:
    r = httpx.get(f"{video_server.base_url}/static/vendor/hls.min.js", timeout=15)
    assert r.status_code == 200, "hls.js is missing: `make setup` installs it from npm"
    assert "Hls" in r.text[:200_000]
    assert httpx.get(f"{video_server.base_url}/static/js/player.js").status_code == 200


def test_a_live_show_page_plays_its_live_playlist(world: World, video_server: LiveServer) -> None:
    host = world.person("host", host=True)
    show, _ = world.live_show(host, listings=1)
    html = page(video_server, f"/shows/{show['id']}")
    assert f'data-live-url="/hls/{show["id"]}/live.m3u8"' in html
    assert 'data-replay-url=""' in html
    assert '<script src="/static/vendor/hls.min.js"></script>' in html
    assert 'data-testid="player"' in html and "muted" in html and "playsinline" in html


def test_an_ended_show_without_video_says_so(world: World, video_server: LiveServer) -> None:
    host = world.person("host", host=True)
    show, _ = world.live_show(host, listings=1)
    assert host.post(f"/shows/{show['id']}/end").status_code == 200
    html = page(video_server, f"/shows/{show['id']}")
    assert 'data-replay-url=""' in html
    assert "This show has ended" in html
    chat = httpx.get(f"{video_server.base_url}/shows/{show['id']}/replay-chat").json()
    assert chat == {"messages": [], "next_after_id": None}


def test_replay_chat_of_an_unknown_show_is_a_json_404(video_server: LiveServer) -> None:
    r = httpx.get(f"{video_server.base_url}/shows/987654/replay-chat")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "show_not_found"


def test_the_console_shows_the_real_ingest_address(world: World, video_server: LiveServer) -> None:
    host = world.person("host", host=True)
    show, _ = world.live_show(host, listings=1)
    browser = Browser(video_server)
    try:
        browser.sign_in(host)
        html = browser.get(f"/shows/{show['id']}/console").text
    finally:
        browser.http.close()
    port = video_server.settings.rtmp_port
    assert f'data-testid="rtmp-url">rtmp://127.0.0.1:{port}/live</code>' in html
    assert f'data-live-url="/hls/{show["id"]}/live.m3u8"' in html
    assert 'data-testid="cover-from-stream"' in html
    assert 'data-testid="stream-preview"' in html


def test_the_replay_page_and_its_chat_in_step_with_the_recording(
    world: World, video_server: LiveServer
) -> None:
    host = world.person("host", host=True)
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    key = host.get(f"/shows/{sid}/stream-key").json()["stream_key"]
    viewer = world.person("viewer")
    encoder = publish(rtmp_url(video_server, key), 30)
    try:

        def recorded() -> float:
            return float(host.get(f"/shows/{sid}/stream").json().get("recorded_s") or 0)

        wait_until(lambda: recorded() >= 2, timeout=30, what="two seconds recorded")
        first = viewer.post(f"/shows/{sid}/chat", json={"body": "hello from the start"})
        assert first.status_code == 201, first.text
        hidden = viewer.post(f"/shows/{sid}/chat", json={"body": "hide me"}).json()
        assert host.post(f"/shows/{sid}/chat/{hidden['id']}/hide").status_code in (200, 204)
        start = recorded()
        wait_until(lambda: recorded() >= start + 3, timeout=30, what="three more seconds")
        later = host.post(f"/shows/{sid}/chat", json={"body": "<b>and later</b>"})
        assert later.status_code == 201, later.text
        start = recorded()
        wait_until(lambda: recorded() >= start + 2, timeout=30, what="two more seconds")
        assert host.post(f"/shows/{sid}/end").status_code == 200
    finally:
        encoder.terminate()
        encoder.wait(timeout=15)
    if encoder.returncode not in (0, 255, -15):
        raise subprocess.CalledProcessError(encoder.returncode, "ffmpeg")

    html = page(video_server, f"/shows/{sid}")
    assert f'data-replay-url="/hls/{sid}/replay.m3u8"' in html
    assert re.search(r'data-testid="status">Replay<', html)

    out = httpx.get(f"{video_server.base_url}/shows/{sid}/replay-chat").json()
    bodies = [m["body"] for m in out["messages"]]
    assert bodies == ["hello from the start", "<b>and later</b>"]  # the hidden one stays hidden
    offsets = [m["replay_offset_s"] for m in out["messages"]]
    duration = float(host.get(f"/shows/{sid}/stream").json()["recorded_s"])
    assert 0 < offsets[0] < offsets[1] <= duration
    assert offsets[1] - offsets[0] >= 2  # three seconds of picture went by between them
    assert out["messages"][1]["staff"] is True and out["messages"][0]["staff"] is False

    paged = httpx.get(f"{video_server.base_url}/shows/{sid}/replay-chat?limit=1").json()
    assert [m["body"] for m in paged["messages"]] == ["hello from the start"]
    rest = httpx.get(
        f"{video_server.base_url}/shows/{sid}/replay-chat?after_id={paged['next_after_id']}"
    ).json()
    assert [m["body"] for m in rest["messages"]] == ["<b>and later</b>"]
    assert rest["next_after_id"] is None
