"""Two processes' buses on one real Redis: the same events, one seq per show."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
import redis

from hawker.live.events import CHAT_MESSAGE, ROOM_RESYNC, SHELF_PINNED, Event
from hawker.live.redis_bus import RedisBus
from tests.harness import ENV, need_service

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(ENV.test_redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        need_service("Redis", str(exc))
    return ENV.test_redis_url


async def test_events_reach_every_worker_in_seq_order(redis_url: str) -> None:
    show_id = uuid.uuid4().int % 10**9
    a, b = RedisBus(redis_url), RedisBus(redis_url)
    await a.start()
    await b.start()
    try:
        await asyncio.wait_for(a.wait_ready(), 5)
        await asyncio.wait_for(b.wait_ready(), 5)
        got_a: list[Event] = []
        got_b: list[Event] = []
        await a.subscribe(show_id, got_a.append)
        await b.subscribe(show_id, got_b.append)
        await asyncio.sleep(0.1)
        for i in range(20):
            bus = a if i % 2 else b  # both workers publish into the same room
            await bus.publish(show_id, SHELF_PINNED, {"i": i})
        await b.publish(show_id, CHAT_MESSAGE, {"body": "hi"})
        for _ in range(100):
            if len(got_a) == len(got_b) == 21:
                break
            await asyncio.sleep(0.02)
        first = got_a[0].seq
        assert [e.seq for e in got_a] == [*range(first, first + 20), first + 19]
        assert [e.data for e in got_a] == [e.data for e in got_b]
        # Ephemeral events carry the last state seq without advancing it.
        assert got_a[-1].type == CHAT_MESSAGE and got_a[-1].seq == first + 19
        assert await a.current_seq(show_id) == first + 19
    finally:
        await a.close()
        await b.close()


async def test_two_deployments_on_one_redis_keep_to_their_own_namespace(redis_url: str) -> None:
    """Pub/sub channels are server-wide: without namespaces, show 1 of one deployment would
    hear show 1 of the other, whatever database number each uses."""
    show_id = 1
    ours = RedisBus(redis_url, namespace=f"hawker-a-{uuid.uuid4().hex[:8]}")
    theirs = RedisBus(redis_url, namespace=f"hawker-b-{uuid.uuid4().hex[:8]}")
    await ours.start()
    await theirs.start()
    try:
        await asyncio.wait_for(ours.wait_ready(), 5)
        await asyncio.wait_for(theirs.wait_ready(), 5)
        heard_ours: list[Event] = []
        heard_theirs: list[Event] = []
        await ours.subscribe(show_id, heard_ours.append)
        await theirs.subscribe(show_id, heard_theirs.append)
        await asyncio.sleep(0.1)
        await theirs.publish(show_id, SHELF_PINNED, {"listing_id": 9})
        await ours.publish(show_id, CHAT_MESSAGE, {"body": "ours"})
        for _ in range(100):
            if heard_ours and heard_theirs:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert [e.data for e in heard_ours] == [{"body": "ours"}]
        assert [e.data for e in heard_theirs] == [{"listing_id": 9}]
    finally:
        for bus in (ours, theirs):
            await bus.redis.delete(*(f"{bus.prefix}{show_id}:{k}" for k in ("seq", "viewers")))
            await bus.close()


async def test_seq_keeps_growing_when_redis_loses_its_counters(redis_url: str) -> None:
    """Redis restarted empty: the next event must still look newer to every viewer."""
    show_id = uuid.uuid4().int % 10**9
    bus = RedisBus(redis_url)
    try:
        before = (await bus.publish(show_id, SHELF_PINNED, {})).seq
        for _ in range(5):
            before = (await bus.publish(show_id, SHELF_PINNED, {})).seq
        await bus.redis.delete(f"hawker:show:{show_id}:seq")
        # A restart takes far longer than the few events this room had meanwhile.
        await asyncio.sleep(0.05)
        after = (await bus.publish(show_id, SHELF_PINNED, {})).seq
        assert after > before
    finally:
        await bus.close()


async def test_a_restarted_redis_is_rejoined_and_every_room_told_to_resync(
    tmp_path: Path,
) -> None:
    from tests.integration.test_faults import own_redis

    with own_redis(tmp_path) as server:
        bus, other = RedisBus(server.url), RedisBus(server.url)
        await bus.start()
        try:
            await asyncio.wait_for(bus.wait_ready(), 5)
            got: list[Event] = []
            await bus.subscribe(7, got.append)
            await asyncio.sleep(0.1)  # SUBSCRIBE is sent, not awaited
            before = (await other.publish(7, SHELF_PINNED, {})).seq
            server.stop()
            for _ in range(100):
                if not bus.ready:
                    break
                await asyncio.sleep(0.02)
            assert not bus.ready
            # Away: a publish fails at once instead of waiting for Redis to come back.
            started = time.monotonic()
            with pytest.raises(redis.RedisError):
                await other.publish(7, SHELF_PINNED, {})
            assert time.monotonic() - started < 1
            # A room joined meanwhile is subscribed once Redis is back.
            await bus.subscribe(8, got.append)
            server.start()
            await asyncio.wait_for(bus.wait_ready(), 5)
            hints = [e for e in got if e.type == ROOM_RESYNC]
            assert {e.show_id for e in hints} == {7, 8}
            # The counter is gone with the restart: the snapshot a viewer asks for now is at
            # a seq past anything before, and the next event follows it without a gap.
            at = await bus.current_seq(7)
            assert at > before
            await asyncio.sleep(0.1)
            after = await other.publish(8, SHELF_PINNED, {})
            nxt = await other.publish(7, SHELF_PINNED, {})
            assert nxt.seq == at + 1
            for _ in range(100):
                if len([e for e in got if e.type == SHELF_PINNED]) >= 3:
                    break
                await asyncio.sleep(0.02)
            assert [e.seq for e in got if e.type == SHELF_PINNED] == [before, after.seq, nxt.seq]
        finally:
            await bus.close()
            await other.close()
