"""The stock gate alone, without HTTP or a database: 15,000 units, 100,000 buy attempts of one
unit each (every attempt a different buyer, limit 2), on the in-process gate and on Redis,
one call per attempt (one caller; 64 callers at once, which the Redis gate batches by itself)
and in `reserve_many` batches. Checks that exactly 15,000 were held.

    .venv/bin/python bench/gate.py [--redis-url redis://127.0.0.1:6379/0] [--attempts N]

The last line is JSON with the figures (reserves per second; null where Redis is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable

import redis

from hawker.config import Settings
from hawker.live.gate import Hold, ReserveRequest, StockGate
from hawker.live.gate_memory import MemoryGate
from hawker.live.gate_redis import RedisGate

UNITS = 15_000
POOL = "d:bench"
HOLD_MS = 300_000
NOW = 1_772_395_200_000

Run = Callable[[StockGate, int], Awaitable[list[Hold]]]


async def singles(gate: StockGate, attempts: int, concurrency: int) -> list[Hold]:
    """One call per attempt; `concurrency` callers at once, as a server's requests are."""
    out: list[Hold] = []
    step = concurrency

    async def caller(first: int) -> None:
        for buyer in range(first, attempts, step):
            out.append(
                await gate.reserve(
                    POOL, buyer=buyer, quantity=1, key=f"b{buyer}", hold_ms=HOLD_MS, now_ms=NOW
                )
            )

    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return out


async def batches(gate: StockGate, attempts: int, size: int, in_flight: int) -> list[Hold]:
    """`reserve_many` of `size` attempts, `in_flight` batches at once."""
    out: list[Hold] = []
    starts = list(range(0, attempts, size))

    async def caller(lane: int) -> None:
        for start in starts[lane::in_flight]:
            requests = [
                ReserveRequest(POOL, buyer, 1, f"b{buyer}", HOLD_MS, NOW)
                for buyer in range(start, min(start + size, attempts))
            ]
            out.extend(await gate.reserve_many(requests))

    await asyncio.gather(*(caller(i) for i in range(in_flight)))
    return out


async def measure(
    gate: StockGate, attempts: int, run: Callable[[], Awaitable[list[Hold]]]
) -> float:
    await gate.drop(POOL)
    await gate.ensure_pool(POOL, initial=UNITS, per_buyer_limit=2)
    started = time.perf_counter()
    holds = await run()
    elapsed = time.perf_counter() - started
    levels = await gate.levels(POOL)
    sold = sum(1 for h in holds if h.ok)
    assert len(holds) == attempts, "every attempt gets an answer"
    assert sold == levels.held == min(UNITS, attempts), f"held {levels.held}, ok {sold}"
    assert levels.left == UNITS - levels.held and levels.sold == 0
    await gate.drop(POOL)
    return attempts / elapsed


def redis_reachable(url: str) -> bool:
    try:
        with contextlib.closing(redis.Redis.from_url(url, socket_connect_timeout=2)) as client:
            client.ping()
    except redis.RedisError:
        return False
    return True


async def main(attempts: int, redis_url: str, batch: int) -> dict[str, float | int | None]:
    figures: dict[str, float | int | None] = {"units": UNITS, "attempts": attempts, "batch": batch}
    memory = MemoryGate()
    figures["memory_single_per_s"] = await measure(
        memory, attempts, lambda: singles(memory, attempts, 1)
    )
    figures["memory_batch_per_s"] = await measure(
        memory, attempts, lambda: batches(memory, attempts, batch, 1)
    )
    if not redis_reachable(redis_url):
        print(f"Redis not reachable at {redis_url}: skipped")
        figures.update(redis_sequential_per_s=None, redis_single_per_s=None, redis_batch_per_s=None)
        return figures
    gate = RedisGate(redis_url, prefix=f"hawker:bench:{uuid.uuid4().hex[:8]}:")
    try:
        figures["redis_sequential_per_s"] = await measure(
            gate, attempts, lambda: singles(gate, attempts, 1)
        )
        figures["redis_single_per_s"] = await measure(
            gate, attempts, lambda: singles(gate, attempts, 64)
        )
        figures["redis_batch_per_s"] = await measure(
            gate, attempts, lambda: batches(gate, attempts, batch, 4)
        )
    finally:
        await gate.drop(POOL)
        await gate.close()
    return figures


if __name__ == "__main__":
    settings = Settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=settings.redis_url or settings.test_redis_url)
    parser.add_argument("--attempts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--no-uvloop",
        action="store_true",
        help="plain asyncio (the server runs on uvloop when it is installed)",
    )
    args = parser.parse_args()
    runner: Callable[..., object] = asyncio.run
    if not args.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    result = runner(main(args.attempts, args.redis_url, args.batch))
    assert isinstance(result, dict)
    labels = {
        "memory_single_per_s": "in-process, one call per attempt",
        "memory_batch_per_s": f"in-process, reserve_many of {args.batch}",
        "redis_sequential_per_s": "Redis, one caller, one call at a time",
        "redis_single_per_s": "Redis, one call per attempt, 64 callers",
        "redis_batch_per_s": f"Redis, reserve_many of {args.batch} (4 in flight)",
    }
    print(f"{UNITS:,} units, {args.attempts:,} attempts of 1 unit, limit 2 per buyer")
    for name, label in labels.items():
        value = result.get(name)
        shown = "skipped" if value is None else f"{value:>12,.0f} reserves/s"
        print(f"  {label:<45} {shown}")
    print(json.dumps({k: round(v) if isinstance(v, float) else v for k, v in result.items()}))
