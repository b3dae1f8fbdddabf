"""Two servers on one PostgreSQL and one Redis: a room is one room whichever worker you hit."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from hawker.store.migrate import upgrade
from tests.harness import (
    ENV,
    LiveServer,
    World,
    live_server,
    need_service,
    postgres_database,
    test_settings,
)
from tests.integration.test_faults import own_redis, world_on
from tests.processes import server_env, servers

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


def _sockets_on(port: int, state: str) -> set[str]:
    """The inodes of the TCP sockets on local `port` in `state` ("01" established,
    "0A" listening), from /proc."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == state:
                found.add(fields[9])
    return found


def _connections_per_process(parent: int, port: int) -> list[int]:
    """How many connections to `port` each child process of `parent` holds, most first."""
    established = _sockets_on(port, "01")
    counts = []
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        held = set()
        for fd in Path(f"/proc/{child}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    held.add(target[len("socket:[") : -1])
        counts.append(len(held & established))
    return sorted(counts, reverse=True)


def test_hawker_serve_with_two_workers_spreads_a_crowd_over_both(tmp_path: Path) -> None:
    """One `hawker serve --workers 2 --no-access-log` on one port: viewers who join land on
    both workers, not mostly on whichever wakes first, and they are all in the same room.
    The log has no line for each of them."""
    viewers = 40
    with own_redis(tmp_path) as own, postgres_database() as url:
        upgrade(url)
        env = server_env(
            database_url=url,
            redis_url=own.url,
            data_dir=tmp_path / "data",
            secret_key=uuid.uuid4().hex,
            viewers_flush_s=0.2,
            rtmp_port=0,
        )
        with servers(1, env, tmp_path, ("--workers", "2", "--no-access-log")) as (server,):
            # The first worker up answered; the second listens once its app has started.
            deadline = time.monotonic() + 60
            while len(_sockets_on(server.port, "0A")) < 2:
                assert time.monotonic() < deadline, "the second worker never listened"
                time.sleep(0.2)
            world = world_on(server)
            try:
                host = world.person("Host", host=True)
                show, _ = world.live_show(host, listings=1)
                sid = show["id"]
                with contextlib.ExitStack() as stack:
                    crowd = [stack.enter_context(world.socket(sid)) for _ in range(viewers)]
                    for viewer in crowd:
                        viewer.snapshot()
                    assert server.proc is not None
                    held = _connections_per_process(server.proc.pid, server.port)
                    # (the people made through the API keep a connection or two open too)
                    assert sum(held[:2]) >= viewers, held
                    assert held[1] >= viewers // 5, f"one worker took nearly all: {held}"
                    # One room: the global count and the host's message reach everyone.
                    studio = stack.enter_context(world.socket(sid, host))
                    studio.snapshot()
                    for viewer in crowd:
                        viewer.wait_for(
                            "viewers.count",
                            lambda e: e["data"]["count"] == viewers,
                            timeout=15,
                        )
                    studio.send({"type": "chat.send", "body": "welcome, all of you"})
                    for viewer in crowd:
                        viewer.wait_for("chat.message", timeout=10)
            finally:
                world.close()
            log = server.log_path.read_text()
            assert "WebSocket" not in log and "connection open" not in log, log[-2000:]
