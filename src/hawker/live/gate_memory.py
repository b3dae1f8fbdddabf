"""The in-process stock gate: the embedded default, for one process.

Every method runs to its end without an `await` in between, so on one event loop each call
is atomic, as a Lua script is in Redis. It keeps the same state the Redis backend keeps
(counters, per-buyer counts, reservations, keys, holds by expiry) and answers alike; both
are tested against the reference model `hawker.domain.stock.StockPool`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

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

HELD = ReservationState.HELD
SOLD = ReservationState.SOLD
RELEASED = ReservationState.RELEASED
EXPIRED = ReservationState.EXPIRED
REFUNDED = ReservationState.REFUNDED

# event -> (from, to, units go back to left). A second call that finds the reservation
# already where the event leads answers False; so does a release that finds the hold
# expired, since the units are back either way.
MOVES: dict[str, tuple[ReservationState, ReservationState, bool, frozenset[ReservationState]]] = {
    "confirm": (HELD, SOLD, False, frozenset({SOLD})),
    "release": (HELD, RELEASED, True, frozenset({RELEASED, EXPIRED})),
    "refund": (SOLD, REFUNDED, True, frozenset({REFUNDED})),
}


class _Reservation:
    __slots__ = ("buyer", "expires_at_ms", "key", "quantity", "state")

    def __init__(
        self, buyer: int, quantity: int, key: str, expires_at_ms: int, state: ReservationState
    ) -> None:
        self.buyer = buyer
        self.quantity = quantity
        self.key = key
        self.expires_at_ms = expires_at_ms
        self.state = state


class _Pool:
    __slots__ = (
        "buyers",
        "by_expiry",
        "held",
        "initial",
        "keys",
        "left",
        "limit",
        "next_id",
        "reservations",
        "sold",
    )

    def __init__(self, initial: int, limit: int | None, ledger: Sequence[LedgerEntry]) -> None:
        plan = plan_pool(initial, limit, ledger)
        self.initial = plan.initial
        self.limit = plan.limit
        self.sold = plan.sold
        self.held = plan.held
        self.left = plan.left
        self.next_id = plan.next_id
        self.buyers = dict(plan.buyers)
        self.reservations: dict[int, _Reservation] = {}
        self.keys: dict[tuple[int, str], int] = {}
        # (expires_at_ms, id) of holds; entries whose hold ended are skipped when popped.
        self.by_expiry: list[tuple[int, int]] = []
        for e in plan.entries:
            self.reservations[e.reservation_id] = _Reservation(
                e.buyer, e.quantity, e.key, e.expires_at_ms, e.state
            )
            self.keys[(e.buyer, e.key)] = e.reservation_id
            if e.state is HELD:
                self.by_expiry.append((e.expires_at_ms, e.reservation_id))
        heapq.heapify(self.by_expiry)

    def reserve(self, buyer: int, quantity: int, key: str, hold_ms: int, now_ms: int) -> Hold:
        seen = self.keys.get((buyer, key))
        if seen is not None:
            r = self.reservations[seen]
            if r.quantity != quantity:
                return Hold(HoldStatus.KEY_REUSED, self.left, limit=self.limit)
            return Hold(
                HoldStatus.OK,
                self.left,
                seen,
                r.state,
                True,
                r.quantity,
                r.expires_at_ms,
                self.limit,
            )
        left = self.left
        if left == 0:
            return Hold(HoldStatus.SOLD_OUT, 0, limit=self.limit)
        already = self.buyers.get(buyer, 0)
        limit = self.limit
        if limit is not None and already + quantity > limit:
            return Hold(HoldStatus.LIMIT_REACHED, left, limit=limit, already=already)
        if quantity > left:
            return Hold(HoldStatus.SOLD_OUT, left, limit=limit)
        rid = self.next_id
        self.next_id = rid + 1
        expires = now_ms + hold_ms
        self.reservations[rid] = _Reservation(buyer, quantity, key, expires, HELD)
        self.keys[(buyer, key)] = rid
        heapq.heappush(self.by_expiry, (expires, rid))
        self.left = left - quantity
        self.held += quantity
        self.buyers[buyer] = already + quantity
        return Hold(HoldStatus.OK, self.left, rid, HELD, False, quantity, expires, limit, already)

    def move(self, rid: int, event: str) -> bool:
        r = self.reservations.get(rid)
        if r is None:
            raise NotFound(f"no reservation {rid}", code="reservation_not_found")
        source, target, give_back, done = MOVES[event]
        if r.state is not source:
            if r.state in done:
                return False
            raise InvalidTransition(
                f"a {r.state.value} reservation cannot {event}", state=r.state.value, event=event
            )
        self._end(r, target, give_back)
        return True

    def expire(self, now_ms: int) -> list[int]:
        out: list[int] = []
        queue = self.by_expiry
        while queue and queue[0][0] <= now_ms:
            _, rid = heapq.heappop(queue)
            r = self.reservations[rid]
            if r.state is HELD:
                self._end(r, EXPIRED, True)
                out.append(rid)
        out.sort()
        return out

    def _end(self, r: _Reservation, target: ReservationState, give_back: bool) -> None:
        q = r.quantity
        if r.state is HELD:
            self.held -= q
        else:
            self.sold -= q
        if target is SOLD:
            self.sold += q
        r.state = target
        if give_back:
            self.left += q
            remaining = self.buyers[r.buyer] - q
            if remaining:
                self.buyers[r.buyer] = remaining
            else:
                del self.buyers[r.buyer]

    def levels(self) -> Levels:
        return Levels(self.initial, self.sold, self.held, self.left)


class MemoryGate:
    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}

    def _pool(self, pool: str) -> _Pool:
        try:
            return self._pools[pool]
        except KeyError:
            raise PoolNotLoaded(pool) from None

    async def ensure_pool(
        self,
        pool: str,
        *,
        initial: int,
        per_buyer_limit: int | None,
        ledger: Sequence[LedgerEntry] = (),
    ) -> bool:
        check_pool_id(pool)
        if pool in self._pools:
            return False
        self._pools[pool] = _Pool(initial, per_buyer_limit, ledger)
        return True

    async def reserve(
        self, pool: str, *, buyer: int, quantity: int, key: str, hold_ms: int, now_ms: int
    ) -> Hold:
        ReserveRequest(pool, buyer, quantity, key, hold_ms, now_ms)
        return self._pool(pool).reserve(buyer, quantity, key, hold_ms, now_ms)

    async def reserve_many(self, requests: Sequence[ReserveRequest]) -> list[Hold]:
        # Like the Redis backend: every pool must be loaded before any request is decided.
        pools = {r.pool: self._pool(r.pool) for r in requests}
        return [
            pools[r.pool].reserve(r.buyer, r.quantity, r.key, r.hold_ms, r.now_ms) for r in requests
        ]

    async def confirm(self, pool: str, reservation_id: int) -> bool:
        return self._pool(pool).move(reservation_id, "confirm")

    async def release(self, pool: str, reservation_id: int) -> bool:
        return self._pool(pool).move(reservation_id, "release")

    async def refund(self, pool: str, reservation_id: int) -> bool:
        return self._pool(pool).move(reservation_id, "refund")

    async def expire(self, pool: str, now_ms: int) -> list[int]:
        return self._pool(pool).expire(now_ms)

    async def levels(self, pool: str) -> Levels:
        return self._pool(pool).levels()

    async def adjust(self, pool: str, delta: int) -> Levels:
        p = self._pool(pool)
        if p.left + delta < 0:
            raise stock_committed(p.sold + p.held, p.left)
        p.initial += delta
        p.left += delta
        return p.levels()

    async def holds(self, pool: str) -> list[LedgerEntry]:
        p = self._pool(pool)
        return [
            LedgerEntry(rid, r.buyer, r.quantity, r.key, r.state, r.expires_at_ms)
            for rid, r in sorted(p.reservations.items())
        ]

    async def drop(self, pool: str) -> None:
        self._pools.pop(pool, None)

    async def lease(self, job: str, seconds: float) -> bool:
        return True  # one process: always its turn

    async def close(self) -> None:
        self._pools.clear()
