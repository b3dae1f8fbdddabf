"""The Redis stock gate on a real Redis: the same answers as the reference model, and no
oversell, no buyer past the limit and no double hold with many processes at once."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from hawker.domain.stock import ReservationState
from hawker.live.gate import Hold, HoldStatus, Levels, PoolNotLoaded, ReserveRequest, StockGate
from hawker.live.gate_redis import RedisGate
from tests.harness import ENV, need_service
from tests.unit.live.test_gate_memory import NOW, GateMachine

pytestmark = pytest.mark.redis
HELD, SOLD = ReservationState.HELD, ReservationState.SOLD


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; everything under it is deleted afterwards."""
    try:
        client = redis.Redis.from_url(ENV.test_redis_url, socket_connect_timeout=2)
        client.ping()
    except redis.RedisError as exc:
        need_service("Redis", str(exc))
    name = f"hawker:test:{uuid.uuid4().hex[:10]}:"
    yield name
    keys = list(client.scan_iter(match=f"{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def gate(prefix: str) -> AsyncIterator[RedisGate]:
    g = RedisGate(ENV.test_redis_url, prefix=prefix)
    yield g
    await g.close()


def test_any_interleaving_answers_as_the_reference_does(prefix: str) -> None:
    class RedisGateMachine(GateMachine):
        def new_gate(self) -> StockGate:
            return RedisGate(ENV.test_redis_url, prefix=prefix)

    run_state_machine_as_test(
        RedisGateMachine,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None),
    )


async def test_two_processes_and_2000_buyers_never_oversell(prefix: str) -> None:
    # Two gates with two connection pools, as two server processes have.
    a = RedisGate(ENV.test_redis_url, prefix=prefix, max_connections=16)
    b = RedisGate(ENV.test_redis_url, prefix=prefix, max_connections=16)
    pool, units, limit = "d:stampede", 500, 2
    try:
        built = await asyncio.gather(
            *(
                g.ensure_pool(pool, initial=units, per_buyer_limit=limit)
                for g in (a, b)
                for _ in range(5)
            )
        )
        assert built.count(True) == 1
        # 500 buyers: each taps "k1" twice (once on each process: a double tap, or a retry
        # after a timeout) and then tries two more units, one of them for 2 at once.
        rng = random.Random(7)
        attempts: list[tuple[RedisGate, int, int, str]] = []
        for buyer in range(1, 501):
            attempts += [
                (a, buyer, 1, "k1"),
                (b, buyer, 1, "k1"),
                (rng.choice((a, b)), buyer, 1, "k2"),
                (rng.choice((a, b)), buyer, 2 if buyer % 3 == 0 else 1, "k3"),
            ]
        rng.shuffle(attempts)
        queue: asyncio.Queue[tuple[RedisGate, int, int, str]] = asyncio.Queue()
        for attempt in attempts:
            queue.put_nowait(attempt)
        answers: list[tuple[int, str, Hold]] = []

        async def worker(batched: bool) -> None:
            while not queue.empty():
                if batched:  # as the web layer batches concurrent taps
                    take = [queue.get_nowait() for _ in range(min(8, queue.qsize()))]
                    by_gate: dict[int, list[tuple[RedisGate, int, int, str]]] = {}
                    for t in take:
                        by_gate.setdefault(id(t[0]), []).append(t)
                    for group in by_gate.values():
                        holds = await group[0][0].reserve_many(
                            [
                                ReserveRequest(pool, buyer, q, key, 60_000, NOW)
                                for _, buyer, q, key in group
                            ]
                        )
                        answers.extend(
                            (buyer, key, h)
                            for (_, buyer, _, key), h in zip(group, holds, strict=True)
                        )
                else:
                    g, buyer, q, key = queue.get_nowait()
                    hold = await g.reserve(
                        pool, buyer=buyer, quantity=q, key=key, hold_ms=60_000, now_ms=NOW
                    )
                    answers.append((buyer, key, hold))

        await asyncio.gather(*(worker(batched=i % 4 == 0) for i in range(24)))
        assert len(answers) == 2_000

        levels = await a.levels(pool)
        assert levels == Levels(initial=units, sold=0, held=units, left=0)
        holds = await b.holds(pool)
        assert sum(h.quantity for h in holds) == units
        per_buyer = Counter[int]()
        for h in holds:
            per_buyer[h.buyer] += h.quantity
        assert max(per_buyer.values()) <= limit
        assert len({(h.buyer, h.key) for h in holds}) == len(holds)
        # Every OK answer names a reservation that exists, with its buyer; a key that was
        # sent twice got one reservation, and one of its two answers says it was a replay.
        by_id = {h.reservation_id: h for h in holds}
        granted: dict[tuple[int, str], set[int]] = {}
        for buyer, key, answer in answers:
            if answer.ok:
                assert by_id[answer.reservation_id].buyer == buyer
                granted.setdefault((buyer, key), set()).add(answer.reservation_id)
        assert all(len(ids) == 1 for ids in granted.values())
        new = [answer for _, _, answer in answers if answer.ok and not answer.replay]
        assert len(new) == len(holds)
        refusals = Counter(answer.status for _, _, answer in answers if not answer.ok)
        assert set(refusals) <= {HoldStatus.SOLD_OUT, HoldStatus.LIMIT_REACHED}
    finally:
        await a.drop(pool)
        await a.close()
        await b.close()


async def test_redis_restarting_empty_rebuilds_from_the_ledger(
    gate: RedisGate, prefix: str
) -> None:
    pool = "v:77"
    assert await gate.ensure_pool(pool, initial=10, per_buyer_limit=3)
    a = await gate.reserve(pool, buyer=1, quantity=2, key="a", hold_ms=60_000, now_ms=NOW)
    b = await gate.reserve(pool, buyer=2, quantity=3, key="b", hold_ms=1_000, now_ms=NOW)
    c = await gate.reserve(pool, buyer=3, quantity=1, key="c", hold_ms=60_000, now_ms=NOW)
    await gate.confirm(pool, a.reservation_id)
    await gate.release(pool, c.reservation_id)
    ledger = await gate.holds(pool)
    before = await gate.levels(pool)

    # Only this pool's keys go, as if Redis came back empty.
    client = redis.Redis.from_url(ENV.test_redis_url)
    assert client.delete(*gate.keys(pool)) >= 3
    client.close()
    with pytest.raises(PoolNotLoaded):
        await gate.reserve(pool, buyer=4, quantity=1, key="d", hold_ms=1_000, now_ms=NOW)

    other = RedisGate(ENV.test_redis_url, prefix=prefix)
    try:
        built = await asyncio.gather(
            *(
                g.ensure_pool(pool, initial=10, per_buyer_limit=3, ledger=ledger)
                for g in (gate, other, gate, other)
            )
        )
        assert built.count(True) == 1
        assert await other.levels(pool) == before == Levels(10, 2, 3, 5)
        assert await other.holds(pool) == ledger
        d = await other.reserve(pool, buyer=4, quantity=1, key="d", hold_ms=1_000, now_ms=NOW)
        assert d.reservation_id == max(e.reservation_id for e in ledger) + 1
        replay = await gate.reserve(pool, buyer=1, quantity=2, key="a", hold_ms=1, now_ms=NOW)
        assert (replay.reservation_id, replay.state, replay.replay) == (
            a.reservation_id,
            SOLD,
            True,
        )
        over = await gate.reserve(pool, buyer=1, quantity=2, key="e", hold_ms=1, now_ms=NOW)
        assert (over.status, over.already) == (HoldStatus.LIMIT_REACHED, 2)
        assert await gate.expire(pool, NOW + 1_000) == sorted([b.reservation_id, d.reservation_id])
        assert await gate.levels(pool) == Levels(10, 2, 0, 8)
    finally:
        await other.close()


async def test_scripts_flushed_from_redis_are_loaded_again(gate: RedisGate) -> None:
    pool = "v:78"
    assert await gate.ensure_pool(pool, initial=5, per_buyer_limit=None)
    other = "v:79"
    assert await gate.ensure_pool(other, initial=5, per_buyer_limit=None)
    await gate.redis.script_flush()
    hold = await gate.reserve(pool, buyer=1, quantity=1, key="a", hold_ms=1_000, now_ms=NOW)
    assert hold.ok
    await gate.redis.script_flush()
    # A batch over two pools goes as one pipeline; it too survives the flush.
    both = await gate.reserve_many(
        [
            ReserveRequest(pool, 2, 1, "a", 1_000, NOW),
            ReserveRequest(other, 2, 1, "a", 1_000, NOW),
        ]
    )
    assert [(h.status, h.reservation_id) for h in both] == [(HoldStatus.OK, 2), (HoldStatus.OK, 1)]
    await gate.redis.script_flush()
    assert await gate.confirm(pool, hold.reservation_id)
    await gate.redis.script_flush()
    assert await gate.expire(pool, NOW + 1_000) == [2]
    await gate.redis.script_flush()
    assert await gate.adjust(pool, 1) == Levels(6, 1, 0, 5)


async def test_a_batch_over_several_pools_answers_in_order_in_one_round_trip(
    gate: RedisGate,
) -> None:
    for pool, units in (("d:1", 1), ("d:2", 2)):
        assert await gate.ensure_pool(pool, initial=units, per_buyer_limit=1)
    answers = await gate.reserve_many(
        [
            ReserveRequest("d:1", 1, 1, "a", 1_000, NOW),
            ReserveRequest("d:2", 1, 1, "a", 1_000, NOW),
            ReserveRequest("d:1", 2, 1, "a", 1_000, NOW),
            ReserveRequest("d:2", 1, 1, "b", 1_000, NOW),
            ReserveRequest("d:2", 2, 1, "a", 2_000, NOW + 5),
        ]
    )
    assert [(h.status.value, h.reservation_id, h.expires_at_ms) for h in answers] == [
        ("ok", 1, NOW + 1_000),
        ("ok", 1, NOW + 1_000),
        ("sold_out", 0, 0),
        ("limit_reached", 0, 0),
        ("ok", 2, NOW + 2_005),
    ]
    with pytest.raises(PoolNotLoaded):
        await gate.reserve_many([ReserveRequest("d:404", 1, 1, "a", 1_000, NOW)])


async def test_concurrent_single_calls_each_get_their_own_answer(gate: RedisGate) -> None:
    # Calls made together share script calls; every caller still gets the answer to its
    # own attempt, and a pool that is not loaded fails only its own callers.
    assert await gate.ensure_pool("d:5", initial=100, per_buyer_limit=1)
    assert await gate.ensure_pool("d:6", initial=3, per_buyer_limit=None)

    async def attempt(pool: str, buyer: int) -> Hold | str:
        try:
            return await gate.reserve(
                pool, buyer=buyer, quantity=1, key="tap", hold_ms=1_000, now_ms=NOW
            )
        except PoolNotLoaded:
            return "not loaded"

    calls = [attempt(pool, buyer) for buyer in range(300) for pool in ("d:5", "d:6", "d:7")]
    answers = await asyncio.gather(*calls)
    by_pool: dict[str, list[Hold | str]] = {"d:5": [], "d:6": [], "d:7": []}
    for n, answer in enumerate(answers):
        by_pool[("d:5", "d:6", "d:7")[n % 3]].append(answer)
    assert by_pool["d:7"] == ["not loaded"] * 300
    five = [a for a in by_pool["d:5"] if isinstance(a, Hold)]
    assert [a.status for a in five].count(HoldStatus.OK) == 100
    # The ids were handed out once each, to the buyers whose answers name them.
    holds = {h.reservation_id: h.buyer for h in await gate.holds("d:5")}
    assert {a.reservation_id: buyer for buyer, a in enumerate(five) if a.ok} == holds
    six = [a for a in by_pool["d:6"] if isinstance(a, Hold)]
    assert [a.ok for a in six].count(True) == 3
    assert await gate.levels("d:6") == Levels(3, 0, 3, 0)


async def test_a_stock_job_runs_in_one_of_the_processes_sharing_the_gate(prefix: str) -> None:
    """Two workers' periodic reconcile: one of them takes each round, the other skips it, and
    the next round is open again once the first one's time is over."""
    first, second = (
        RedisGate(ENV.test_redis_url, prefix=prefix),
        RedisGate(ENV.test_redis_url, prefix=prefix),
    )
    try:
        turns = await asyncio.gather(first.lease("reconcile", 0.3), second.lease("reconcile", 0.3))
        assert sorted(turns) == [False, True]
        assert await first.lease("another job", 0.3), "each job has turns of its own"
        await asyncio.sleep(0.4)
        assert await second.lease("reconcile", 0.3)
    finally:
        await first.close()
        await second.close()
