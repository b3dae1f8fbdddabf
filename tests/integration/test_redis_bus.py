"""Two processes' buses on one real Redis: the same events, one seq per show."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from hawker.live.events import CHAT_MESSAGE, SHELF_PINNED, Event
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
