"""Two servers on one PostgreSQL and one Redis: a room is one room whichever worker you hit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from tests.harness import (
    ENV,
    LiveServer,
    World,
    live_server,
    need_service,
    postgres_database,
    test_settings,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    try:
        redis.Redis.from_url(ENV.test_redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        need_service("Redis", str(exc))
    tmp: Path = tmp_path_factory.mktemp("workers")
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        a = stack.enter_context(live_server(test_settings(url, tmp, redis_url=ENV.test_redis_url)))
        b = stack.enter_context(live_server(test_settings(url, tmp, redis_url=ENV.test_redis_url)))
        yield a, b


def test_viewers_on_two_workers_share_pins_and_chat(workers: tuple[LiveServer, LiveServer]) -> None:
    a, b = workers
    on_a, on_b = World(a), World(b)
    try:
        host = on_a.person("Host", host=True)
        show, shelf = on_a.live_show(host, listings=3)
        alice = on_a.person("Alice")
        bob = on_b.person("Bob")
        with on_a.socket(show["id"], alice) as room_a, on_b.socket(show["id"], bob) as room_b:
            room_a.snapshot()
            room_b.snapshot()
            # The host's pin goes through worker B; the viewer on worker A sees it.
            r = on_b.anonymous.put(
                f"/shows/{show['id']}/pin",
                json={"listing_id": shelf[1]["id"]},
                headers={"Authorization": f"Bearer {host.token}"},
            )
            assert r.status_code == 200, r.text
            pin_a = room_a.wait_for("shelf.pinned")
            pin_b = room_b.wait_for("shelf.pinned")
            assert pin_a["data"]["listing"]["number"] == pin_b["data"]["listing"]["number"] == 2
            assert pin_a["seq"] == pin_b["seq"]
            room_b.send({"type": "chat.send", "body": "hello from worker B"})
            heard = room_a.wait_for(
                "chat.message", lambda e: e["data"]["body"] == "hello from worker B"
            )
            assert heard["data"]["user"]["display_name"] == bob.display_name
    finally:
        on_a.close()
        on_b.close()


def test_the_viewer_count_is_global(workers: tuple[LiveServer, LiveServer]) -> None:
    a, b = workers
    on_a, on_b = World(a), World(b)
    try:
        host = on_a.person("Host", host=True)
        show, _ = on_a.live_show(host, listings=1)
        sid = show["id"]
        room_a = on_a.socket(sid, on_a.person("Ann"))
        room_b = on_b.socket(sid, on_b.person("Ben"))
        third = on_b.socket(sid)  # anonymous viewers count too
        with room_a, room_b, third:
            # Each viewer sees everyone, whichever worker holds them.
            for room in (room_a, room_b):
                room.wait_for("viewers.count", lambda e: e["data"]["count"] == 3, timeout=10)
            third.close()
            room_a.wait_for("viewers.count", lambda e: e["data"]["count"] == 2, timeout=10)
        r = on_a.anonymous.get(f"/shows/{sid}")
        assert r.status_code == 200
    finally:
        on_a.close()
        on_b.close()
