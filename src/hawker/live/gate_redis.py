"""The Redis stock gate: any number of processes share each pool, decided by Lua scripts.

Each pool is one family of keys whose hash tag is the pool id, so that a Redis Cluster keeps
a pool on one node and a script can touch all of it:

    {prefix}{v:123}:meta    hash  initial, limit (0: none), left, sold, held, next (id)
    {prefix}{v:123}:buyers  hash  buyer -> units held or bought
    {prefix}{v:123}:res     hash  id -> "state|buyer|quantity|expires_ms|key"
    {prefix}{v:123}:keys    hash  "buyer:key" -> id
    {prefix}{v:123}:exp     zset  id by expires_ms, holds only

The scripts are package files (gate_*.lua) run with EVALSHA; a Redis that lost them (a
restart, SCRIPT FLUSH) gets them again on the NOSCRIPT reply. Redis must not evict these
keys (maxmemory-policy noeviction): a pool that lost its `keys` but kept its `meta` would
not know a repeated request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError

from hawker.domain.errors import InvalidTransition, NotFound
from hawker.domain.stock import ReservationState
from hawker.live.gate import (
    Hold,
    HoldStatus,
    LedgerEntry,
    Levels,
    PoolNotLoaded,
    ReserveRequest,
    check_pool_id,
    plan_pool,
    stock_committed,
)

PREFIX = "hawker:gate:"
# Expired holds per script call: a sweep after a big sale does not block Redis for long.
EXPIRE_BATCH = 500
_LETTER = {
    "h": ReservationState.HELD,
    "s": ReservationState.SOLD,
    "r": ReservationState.RELEASED,
    "e": ReservationState.EXPIRED,
    "f": ReservationState.REFUNDED,
}
_LETTER_OF = {state: letter for letter, state in _LETTER.items()}
_STATES = [_LETTER[letter] for letter in "hsref"]  # index = the number gate_reserve.lua returns
_OK = HoldStatus.OK
_CODES = [_OK, _OK, HoldStatus.SOLD_OUT, HoldStatus.LIMIT_REACHED, HoldStatus.KEY_REUSED]


def _script(name: str) -> str:
    return files("hawker.live").joinpath(name).read_text()


class RedisGate:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = PREFIX,
        max_connections: int = 32,
        max_batch: int = 64,
        lanes: int = 4,
    ) -> None:
        # In a stampede, a buy waits its turn for a connection instead of failing with
        # "too many connections"; more connections than cores on the Redis side buy nothing.
        # After a Redis restart every pooled connection is dead: each command gets one more
        # try on a fresh connection, so that the first buys after it do not fail for that.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=10,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=2.0,
        )
        self.redis: Redis = Redis.from_pool(pool)
        self.prefix = prefix
        # Concurrent `reserve` calls share script calls (see `reserve`): at most `lanes`
        # batches in flight, each of at most `max_batch` attempts of one pool.
        self.max_batch = max_batch
        self.lanes = lanes
        self._waiting: dict[str, list[tuple[ReserveRequest, asyncio.Future[Hold]]]] = {}
        self._lane_tasks: set[asyncio.Task[None]] = set()
        # Counted apart from the tasks: a lane that found nothing to do is gone at once,
        # while a task's done-callback runs a tick later, and an attempt arriving in that
        # tick would otherwise wait for a lane that will never come.
        self._lanes_running = 0
        self._reserve = self.redis.register_script(_script("gate_reserve.lua"))
        self._move = self.redis.register_script(_script("gate_move.lua"))
        self._expire = self.redis.register_script(_script("gate_expire.lua"))
        self._build = self.redis.register_script(_script("gate_build.lua"))
        self._adjust = self.redis.register_script(_script("gate_adjust.lua"))
        self._keys: dict[str, list[str]] = {}

    def keys(self, pool: str) -> list[str]:
        """The pool's Redis keys: meta, buyers, res, keys, exp."""
        found = self._keys.get(pool)
        if found is None:
            base = f"{self.prefix}{{{check_pool_id(pool)}}}:"
            found = [base + part for part in ("meta", "buyers", "res", "keys", "exp")]
            if len(self._keys) > 10_000:  # pools come and go with deals; stay bounded
                self._keys.clear()
            self._keys[pool] = found
        return found

    async def ensure_pool(
        self,
        pool: str,
        *,
        initial: int,
        per_buyer_limit: int | None,
        ledger: Sequence[LedgerEntry] = (),
    ) -> bool:
        keys = self.keys(pool)
        if await self.redis.exists(keys[0]):
            return False  # the common case, without sending the ledger
        plan = plan_pool(initial, per_buyer_limit, ledger)
        args: list[Any] = [
            plan.initial,
            plan.limit or 0,
            plan.left,
            plan.sold,
            plan.held,
            plan.next_id,
            len(plan.buyers),
        ]
        for buyer, units in plan.buyers.items():
            args += (buyer, units)
        for e in plan.entries:
            args += (
                e.reservation_id,
                f"{_LETTER_OF[e.state]}|{e.buyer}|{e.quantity}|{e.expires_at_ms}|{e.key}",
                f"{e.buyer}:{e.key}",
                e.expires_at_ms if e.state is ReservationState.HELD else "",
            )
        return bool(await self._build(keys=keys, args=args))

    async def reserve(
        self, pool: str, *, buyer: int, quantity: int, key: str, hold_ms: int, now_ms: int
    ) -> Hold:
        """One attempt, batched with the attempts other tasks make meanwhile.

        A script call costs the client far more than Redis (packing, a write, parsing), so
        calls that arrive together go together: the first one starts a lane, which takes
        what is waiting for a pool after this loop tick and sends it as one `reserve_many`;
        while lanes are busy, new attempts gather for the next batch. Alone, an attempt goes
        at once, a loop tick later. Each attempt is still decided on its own."""
        request = ReserveRequest(pool, buyer, quantity, key, hold_ms, now_ms)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Hold] = loop.create_future()
        self._waiting.setdefault(pool, []).append((request, answer))
        if self._lanes_running < self.lanes:
            self._lanes_running += 1
            task = loop.create_task(self._lane())
            self._lane_tasks.add(task)
            task.add_done_callback(self._lane_tasks.discard)
        return await answer

    async def _lane(self) -> None:
        try:
            await asyncio.sleep(0)  # let the attempts of this loop tick join
            await self._drain()
        finally:
            self._lanes_running -= 1

    async def _drain(self) -> None:
        while self._waiting:
            pool, waiting = next(iter(self._waiting.items()))
            batch = waiting[: self.max_batch]
            if len(waiting) > self.max_batch:
                del waiting[: self.max_batch]
            else:
                del self._waiting[pool]
            try:
                holds = await self.reserve_many([request for request, _ in batch])
            except Exception as exc:  # PoolNotLoaded, a lost connection: each caller's
                for _, answer in batch:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for (_, answer), hold in zip(batch, holds, strict=True):
                if not answer.done():  # its caller may have given up (and may retry)
                    answer.set_result(hold)

    async def reserve_many(self, requests: Sequence[ReserveRequest]) -> list[Hold]:
        # One script call per pool decides that pool's attempts in order; several pools go
        # in one pipeline, so a batch is one round trip either way.
        if not requests:
            return []
        by_pool: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            by_pool.setdefault(r.pool, []).append(i)
        calls: list[tuple[str, list[int], str]] = []
        for pool, indexes in by_pool.items():
            attempts = "\n".join(
                f"{r.buyer} {r.quantity} {r.key} {r.now_ms + r.hold_ms}"
                for r in (requests[i] for i in indexes)
            )
            calls.append((pool, indexes, attempts))
        if len(calls) == 1:
            pool, _, attempts = calls[0]
            results: list[Any] = [await self._reserve(keys=self.keys(pool), args=(attempts,))]
        else:
            results = await self._pipelined(calls)
        holds: list[Hold | None] = [None] * len(requests)
        for (pool, indexes, _), found in zip(calls, results, strict=True):
            out = _ints(found)
            if out[0] == -1:
                raise PoolNotLoaded(pool)
            for n, i in enumerate(indexes):
                holds[i] = _hold(out, n * 7, requests[i].quantity)
        return holds  # type: ignore[return-value]  # every slot was filled above

    async def _pipelined(self, calls: list[tuple[str, list[int], str]]) -> list[Any]:
        pipe = self.redis.pipeline(transaction=False)
        for pool, _, attempts in calls:
            keys = self.keys(pool)
            pipe.evalsha(self._reserve.sha, len(keys), *keys, attempts)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        for n, out in enumerate(results):
            # The script was flushed: that call did nothing; the script call loads it again.
            if isinstance(out, NoScriptError):
                pool, _, attempts = calls[n]
                results[n] = await self._reserve(keys=self.keys(pool), args=(attempts,))
            elif isinstance(out, Exception):
                raise out
        return results

    async def _move_one(self, pool: str, reservation_id: int, event: str) -> bool:
        code, state = await self._move(keys=self.keys(pool), args=(reservation_id, event))
        if code >= 0:
            return bool(code)
        if code == -2:
            raise PoolNotLoaded(pool)
        if code == -1:
            raise NotFound(f"no reservation {reservation_id}", code="reservation_not_found")
        found = _LETTER[state.decode()].value
        raise InvalidTransition(f"a {found} reservation cannot {event}", state=found, event=event)

    async def confirm(self, pool: str, reservation_id: int) -> bool:
        return await self._move_one(pool, reservation_id, "confirm")

    async def release(self, pool: str, reservation_id: int) -> bool:
        return await self._move_one(pool, reservation_id, "release")

    async def refund(self, pool: str, reservation_id: int) -> bool:
        return await self._move_one(pool, reservation_id, "refund")

    async def expire(self, pool: str, now_ms: int) -> list[int]:
        keys = self.keys(pool)
        gone: list[int] = []
        while True:
            out = await self._expire(keys=keys, args=(now_ms, EXPIRE_BATCH))
            if out and out[0] == -1:
                raise PoolNotLoaded(pool)
            gone += out
            if len(out) < EXPIRE_BATCH:
                return sorted(gone)

    async def levels(self, pool: str) -> Levels:
        found: list[Any] = await self.redis.hmget(
            self.keys(pool)[0], ["initial", "sold", "held", "left"]
        )
        if found[0] is None:
            raise PoolNotLoaded(pool)
        return Levels(*(int(v) for v in found))

    async def adjust(self, pool: str, delta: int) -> Levels:
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise TypeError("delta is a whole number of units")
        out = await self._adjust(keys=self.keys(pool)[:1], args=(delta,))
        if out[0] == -1:
            raise PoolNotLoaded(pool)
        levels = Levels(*(int(v) for v in out[1:]))
        if out[0] == 0:
            raise stock_committed(levels.sold + levels.held, levels.left)
        return levels

    async def holds(self, pool: str) -> list[LedgerEntry]:
        keys = self.keys(pool)
        pipe = self.redis.pipeline(transaction=True)  # meta and res seen at one moment
        pipe.exists(keys[0])
        pipe.hgetall(keys[2])
        exists, stored = await pipe.execute()
        if not exists:
            raise PoolNotLoaded(pool)
        out = []
        for rid, enc in stored.items():
            state, buyer, quantity, expires, key = enc.decode().split("|", 4)
            out.append(
                LedgerEntry(int(rid), int(buyer), int(quantity), key, _LETTER[state], int(expires))
            )
        out.sort()
        return out

    async def drop(self, pool: str) -> None:
        await self.redis.delete(*self.keys(pool))

    async def lease(self, job: str, seconds: float) -> bool:
        taken = await self.redis.set(
            f"{self.prefix}lease:{job}", "1", nx=True, px=max(1, int(seconds * 1000))
        )
        return bool(taken)

    async def close(self) -> None:
        for task in list(self._lane_tasks):
            task.cancel()
        for waiting in self._waiting.values():
            for _, answer in waiting:
                answer.cancel()
        self._waiting.clear()
        await self.redis.aclose()


def _ints(found: bytes) -> list[int]:
    return [int(v) for v in found.split(b",")]


def _hold(out: list[int], at: int, quantity: int) -> Hold:
    code, rid, left, already, limit, expires, state = out[at : at + 7]
    if code > 1:
        return Hold(_CODES[code], left, limit=limit or None, already=already)
    return Hold(
        _OK, left, rid, _STATES[state], code == 1, quantity, expires, limit or None, already
    )
