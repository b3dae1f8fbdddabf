"""`hawker demo`: what a newcomer sees after one command, and an audience that is alive."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hawker.audience import AccountPool, Audience, in_background
from hawker.demo import HOST, LOGINS, DemoWorld, seed
from hawker.store.migrate import upgrade
from tests.harness import LiveServer, World, live_server, test_settings


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, DemoWorld]]:
    tmp: Path = tmp_path_factory.mktemp("hawker-demo")
    settings = test_settings(f"sqlite:///{tmp / 'hawker.db'}", tmp)
    upgrade(settings.db_url)
    first = asyncio.run(seed(settings))
    again = asyncio.run(seed(settings))
    assert again.show_id == first.show_id
    assert again.created == [], "a second run reuses everything"
    with live_server(settings) as live:
        yield live, first


@pytest.fixture
def api(demo_server: tuple[LiveServer, DemoWorld]) -> Iterator[httpx.Client]:
    live, _ = demo_server
    with httpx.Client(base_url=live.base_url + "/api/v1", timeout=15) as client:
        yield client


def _get(api: httpx.Client, path: str) -> Any:
    r = api.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def test_one_show_on_air_with_wigs_then_lipsticks(
    demo_server: tuple[LiveServer, DemoWorld], api: httpx.Client
) -> None:
    _, world = demo_server
    live = _get(api, "/shows?status=live")
    assert [show["id"] for show in live] == [world.show_id], "seeding twice made one show"
    show = live[0]
    shelf = _get(api, f"/shows/{show['id']}/shelf")

    assert [item["number"] for item in shelf] == list(range(1, len(shelf) + 1))
    wigs, rest = shelf[:12], shelf[12:]
    assert all("Wig" in item["product"]["title"] for item in wigs)
    assert rest and all("Lip" in item["product"]["title"] for item in rest)
    assert not any("Wig" in item["product"]["title"] for item in rest)
    titles = [item["product"]["title"] for item in shelf]
    assert len(set(titles)) == len(titles), "no product is listed twice"

    for wig in wigs:
        prices = {v["price"]["amount"] for v in wig["variants"]}
        assert len(wig["variants"]) >= 3 and len(prices) > 1, "lengths cost different amounts"
        assert any('"' in v["name"] for v in wig["variants"]), "variants name a length"
    shades = [v for item in rest for v in item["variants"]]
    assert len(shades) >= 24, "dozens of shades"
    assert len({v["name"] for v in shades}) == len(shades)
    assert len({v["stock"] for v in shades}) > 1, "each shade has its own stock"

    assert show["pinned_listing_id"] in {item["id"] for item in shelf}
    snapshot = _get(api, f"/shows/{show['id']}/snapshot")
    assert snapshot["pinned"]["id"] == show["pinned_listing_id"]


def test_pictures_are_served_locally(
    demo_server: tuple[LiveServer, DemoWorld], api: httpx.Client
) -> None:
    live, world = demo_server
    shelf = _get(api, f"/shows/{world.show_id}/shelf")
    images = {item["product"]["image"] for item in shelf}
    assert None not in images and len(images) == len(shelf)
    for url in sorted(images)[:3] + sorted(images)[-1:]:
        assert url.startswith("/media/")
        r = httpx.get(live.base_url + url, timeout=10)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("image/svg")
        assert b"<svg" in r.content


def test_shows_coming_up_and_staff_can_sign_in(
    demo_server: tuple[LiveServer, DemoWorld], api: httpx.Client
) -> None:
    _, world = demo_server
    upcoming = _get(api, "/shows?status=scheduled")
    assert sorted(show["id"] for show in upcoming) == sorted(world.scheduled_show_ids)
    assert len(upcoming) >= 1
    assert all(show["host"]["id"] == world.host_id for show in upcoming)

    brands = _get(api, "/brands")
    assert [brand["name"] for brand in brands] == ["Silk & Crown"], "seeding twice made one brand"
    products = _get(api, f"/brands/{world.brand_id}/products")
    assert len(products) == len({p["title"] for p in products}) == 14

    for login in LOGINS:
        r = api.post("/auth/token", json={"email": login.email, "password": login.password})
        assert r.status_code == 200, (login.email, r.text)


def test_audience_chats_and_asks_for_items_by_number(
    demo_server: tuple[LiveServer, DemoWorld], api: httpx.Client
) -> None:
    live, world = demo_server
    shelf = {item["id"]: item["number"] for item in _get(api, f"/shows/{world.show_id}/shelf")}
    audience = Audience(
        live.base_url,
        world.show_id,
        viewers=5,
        chat_rate=3.0,
        like_rate=1.0,
        churn=False,
        ramp_s=1.0,
        accounts=AccountPool.stable(random.Random(1)),
        seed=1,
        host=(HOST.email, HOST.password),
        pin_every=(2.0, 3.0),
    )
    watcher = World(live)
    try:
        with watcher.socket(world.show_id) as room, in_background(audience):
            first = room.snapshot()
            request = room.wait_for(
                "chat.message", lambda e: e["data"]["request"] is not None, timeout=45
            )["data"]
            assert shelf[request["request"]["listing_id"]] == request["request"]["number"]
            assert request["user"]["display_name"] and not request["staff"]
            # What the room shows a watcher: others chatting, counts of who asks, the host pinning.
            room.wait_for("requests.counted", timeout=20)
            pinned = room.wait_for("shelf.pinned", timeout=30)["data"]["listing"]
            assert pinned["id"] in shelf
            assert first["viewers"] >= 1
            assert _eventually(lambda: _get(api, f"/shows/{world.show_id}")["viewers"] > 1)
        stats = audience.stats
    finally:
        watcher.close()
    assert stats.messages_sent > 0 and stats.requests_sent > 0
    assert stats.connected == 0, "every viewer left when the audience stopped"
    assert audience.fatal is None
    # The server lets go of each socket soon after it closes; nobody stays in the room.
    assert _eventually(lambda: _get(api, f"/shows/{world.show_id}")["viewers"] == 0)


def test_a_rehearsal_audience_buys_and_the_room_sees_the_sales(
    demo_server: tuple[LiveServer, DemoWorld], api: httpx.Client
) -> None:
    live, world = demo_server
    audience = Audience(
        live.base_url,
        world.show_id,
        viewers=3,
        chat_rate=0.0,
        like_rate=0.0,
        churn=False,
        ramp_s=0.5,
        accounts=AccountPool.throwaway(random.Random(2)),
        seed=2,
        buy_rate=2.0,
    )
    watcher = World(live)
    try:
        with watcher.socket(world.show_id) as room, in_background(audience):
            room.snapshot()
            ticker = room.wait_for("sales.ticker", timeout=45)["data"]
            assert " bought #" in ticker["text"]
        stats = audience.stats
    finally:
        watcher.close()
    assert stats.orders > 0 and stats.paid > 0
    assert not [code for code in stats.errors if not code.startswith("buy 409")]


def _eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
