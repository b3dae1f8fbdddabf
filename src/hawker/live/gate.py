"""The stock gate: the one atomic step that checks stock left, the buyer's limit and the
idempotency key, and holds a reservation. Two backends answer alike:

- `MemoryGate` (gate_memory.py): the embedded default, one process;
- `RedisGate` (gate_redis.py): Lua scripts, any number of processes.

Both follow the reference model `hawker.domain.stock.StockPool` (same order of checks, same
answers) and are tested against it. The rules in short:

- A pool is a string id ("v:123" for a variant's stock, "d:45" for a flash deal's units);
  `sold + held + left == initial` always, and no buyer's `sold + held` passes the limit.
- `reserve` answers in this order: a repeated (buyer, key) returns the reservation it made, as
  it is now (`replay=True`), never a second one; nothing left -> sold_out; over the limit ->
  limit_reached; fewer left than asked -> sold_out; otherwise a new hold. The two hot refusals
  come back as a status, not an exception: raising costs, and a flash sale refuses almost
  everyone. `Hold.check()` turns a status into the domain error.
- Reservation ids are assigned by the gate, per pool, increasing; after a rebuild from the
  ledger they continue after the ledger's largest id.
- A backend that lost a pool (first use, process start, Redis restarted empty) raises
  `PoolNotLoaded`; the caller rebuilds it with `ensure_pool(ledger)` and asks again. Every
  request carries its idempotency key, so asking again never holds twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, Protocol

from hawker.domain.errors import Conflict, InvalidInput, LimitReached, SoldOut
from hawker.domain.orders import check_quantity
from hawker.domain.stock import MAX_HOLD_SECONDS, ReservationState, check_idempotency_key

MAX_HOLD_MS = MAX_HOLD_SECONDS * 1000
# No braces: the Redis backend puts the pool id in a cluster hash tag.
_POOL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class PoolNotLoaded(Exception):
    """The backend does not have this pool (yet, or any more): rebuild it from the ledger
    with `ensure_pool` and ask again. Not a domain error: a buyer never sees it."""

    def __init__(self, pool: str) -> None:
        super().__init__(f"stock pool {pool!r} is not loaded")
        self.pool = pool


class HoldStatus(StrEnum):
    OK = "ok"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    # The buyer's key was used before for another quantity: a client bug, answered with
    # InvalidInput("idempotency_key_reused") by `check()`. A status and not an exception so
    # that one bad request in a `reserve_many` batch does not hide the others' answers.
    KEY_REUSED = "idempotency_key_reused"


@dataclass(frozen=True, slots=True)
class Hold:
    """The gate's answer to one reserve.

    OK: `reservation_id`, `state` (HELD for a new hold; a replay reports the reservation as
    it is now, e.g. SOLD or RELEASED), `expires_at_ms`. `left` is the pool's units left after
    this step, which is what a "N left" counter shows. SOLD_OUT: `left` is how many are left
    (0, or fewer than asked). LIMIT_REACHED: `limit` and `already` (the buyer's units)."""

    status: HoldStatus
    left: int
    reservation_id: int = 0
    state: ReservationState | None = None
    replay: bool = False
    quantity: int = 0
    expires_at_ms: int = 0
    limit: int | None = None
    already: int = 0

    @property
    def ok(self) -> bool:
        return self.status is HoldStatus.OK

    def check(self) -> Hold:
        """Return self when OK; otherwise raise the domain error the reference model raises."""
        status = self.status
        if status is HoldStatus.OK:
            return self
        if status is HoldStatus.SOLD_OUT:
            raise SoldOut(
                "sold out" if self.left == 0 else f"only {self.left} left", left=self.left
            )
        if status is HoldStatus.LIMIT_REACHED:
            limit = self.limit or 0
            raise LimitReached(
                f"at most {limit} per buyer; you already have {self.already}",
                limit=limit,
                already=self.already,
            )
        raise InvalidInput(
            "this idempotency key was used for another request", code="idempotency_key_reused"
        )


@dataclass(frozen=True, slots=True)
class ReserveRequest:
    """One buy attempt. Validated on construction, so that a batch holds only requests the
    backend can take (a bad one fails its own caller, not the batch)."""

    pool: str
    buyer: int
    quantity: int
    key: str
    hold_ms: int
    now_ms: int

    def __post_init__(self) -> None:
        check_quantity(self.quantity)
        check_idempotency_key(self.key)
        if isinstance(self.buyer, bool) or not isinstance(self.buyer, int):
            raise InvalidInput("a buyer is a user id", code="invalid_buyer")
        hold = self.hold_ms
        if isinstance(hold, bool) or not isinstance(hold, int) or not 1 <= hold <= MAX_HOLD_MS:
            raise InvalidInput(
                f"a hold lasts 1 ms to {MAX_HOLD_SECONDS} seconds", code="invalid_hold"
            )
        if isinstance(self.now_ms, bool) or not isinstance(self.now_ms, int) or self.now_ms < 0:
            raise InvalidInput("now is a time in ms", code="invalid_time")


class LedgerEntry(NamedTuple):
    """One reservation as the durable ledger (and `holds()`) knows it."""

    reservation_id: int
    buyer: int
    quantity: int
    key: str
    state: ReservationState
    expires_at_ms: int


@dataclass(frozen=True, slots=True)
class Levels:
    initial: int
    sold: int
    held: int
    left: int


class StockGate(Protocol):
    async def ensure_pool(
        self,
        pool: str,
        *,
        initial: int,
        per_buyer_limit: int | None,
        ledger: Sequence[LedgerEntry] = (),
    ) -> bool:
        """Build the pool from the ledger if the backend does not have it; True if it did.
        A pool that exists is left as it is (whatever `initial` says: use `adjust`)."""
        ...

    async def reserve(
        self, pool: str, *, buyer: int, quantity: int, key: str, hold_ms: int, now_ms: int
    ) -> Hold:
        """One buy attempt (validated first: InvalidQuantity / InvalidInput). The Redis
        backend batches concurrent calls by itself, so callers need not."""
        ...

    async def reserve_many(self, requests: Sequence[ReserveRequest]) -> list[Hold]:
        """Many reserves in one round trip; answers in order. Each request is decided on its
        own, exactly as `reserve` would (same pool: in the order given). PoolNotLoaded if
        any pool is missing; attempts on other pools may have been decided by then, and
        asking again after `ensure_pool` is safe: the same keys get the same reservations
        (as replays)."""
        ...

    async def confirm(self, pool: str, reservation_id: int) -> bool:
        """held -> sold. False if already sold; InvalidTransition from any other state."""
        ...

    async def release(self, pool: str, reservation_id: int) -> bool:
        """held -> released, units back. False if already released or expired (the units
        are back either way); InvalidTransition if sold or refunded."""
        ...

    async def refund(self, pool: str, reservation_id: int) -> bool:
        """sold -> refunded, units back. False if already refunded; InvalidTransition if it
        was never sold."""
        ...

    async def expire(self, pool: str, now_ms: int) -> list[int]:
        """Expire every hold with `expires_at_ms <= now_ms`; their ids, ascending. With
        several processes sweeping, each expired id is returned to exactly one of them."""
        ...

    async def levels(self, pool: str) -> Levels: ...

    async def adjust(self, pool: str, delta: int) -> Levels:
        """Restock (delta > 0) or take stock away; Conflict("stock_committed") rather than
        let `left` go below 0."""
        ...

    async def holds(self, pool: str) -> list[LedgerEntry]:
        """Every reservation the gate knows in this pool (any state), by id."""
        ...

    async def drop(self, pool: str) -> None: ...

    async def lease(self, job: str, seconds: float) -> bool:
        """Whether this process runs the stock job `job` now: of all the processes sharing
        the gate, one a `seconds` (the others' turns are skipped, not queued)."""
        ...

    async def close(self) -> None: ...


# ---- shared by the backends -------------------------------------------------------------


def check_pool_id(pool: str) -> str:
    if not isinstance(pool, str) or not _POOL.fullmatch(pool):
        raise InvalidInput(
            "a pool id is 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', ':', '-'",
            code="invalid_pool",
        )
    return pool


@dataclass(frozen=True, slots=True)
class Plan:
    """A pool as the ledger describes it, checked: what a backend loads."""

    initial: int
    limit: int | None
    sold: int
    held: int
    left: int
    next_id: int
    buyers: dict[int, int]
    entries: list[LedgerEntry]


def _bad_ledger(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_ledger")


def plan_pool(initial: int, per_buyer_limit: int | None, ledger: Iterable[LedgerEntry]) -> Plan:
    """Check a ledger the way `StockPool.restore` does and count it up."""
    if isinstance(initial, bool) or not isinstance(initial, int) or initial < 0:
        raise InvalidInput("stock must be 0 or more units", code="invalid_stock")
    if per_buyer_limit is not None and (
        isinstance(per_buyer_limit, bool)
        or not isinstance(per_buyer_limit, int)
        or per_buyer_limit < 1
    ):
        raise InvalidInput("a per-buyer limit is at least 1", code="invalid_limit")
    entries: list[LedgerEntry] = []
    ids: set[int] = set()
    keys: set[tuple[int, str]] = set()
    sold = held = 0
    buyers: dict[int, int] = {}
    next_id = 1
    for raw in ledger:
        entry = LedgerEntry(
            raw.reservation_id,
            raw.buyer,
            raw.quantity,
            raw.key,
            ReservationState(raw.state),
            raw.expires_at_ms,
        )
        rid = entry.reservation_id
        if isinstance(rid, bool) or not isinstance(rid, int) or rid < 1:
            raise _bad_ledger(f"reservation id {rid!r} is not a positive integer")
        if rid in ids or (entry.buyer, entry.key) in keys:
            raise _bad_ledger(f"reservation {rid} appears twice in the ledger")
        if not isinstance(entry.quantity, int) or entry.quantity < 1:
            raise _bad_ledger(f"reservation {rid} has no units")
        check_idempotency_key(entry.key)
        ids.add(rid)
        keys.add((entry.buyer, entry.key))
        next_id = max(next_id, rid + 1)
        if entry.state is ReservationState.SOLD:
            sold += entry.quantity
        elif entry.state is ReservationState.HELD:
            held += entry.quantity
        else:
            entries.append(entry)
            continue
        buyers[entry.buyer] = buyers.get(entry.buyer, 0) + entry.quantity
        entries.append(entry)
    if sold + held > initial:
        raise _bad_ledger(f"the ledger holds {sold + held} units of {initial}")
    entries.sort(key=lambda e: e.reservation_id)
    return Plan(
        initial, per_buyer_limit, sold, held, initial - sold - held, next_id, buyers, entries
    )


def stock_committed(committed: int, left: int) -> Conflict:
    return Conflict(
        f"{committed} units are sold or held; the stock can go down by at most {left}",
        code="stock_committed",
    )


def make_gate(redis_url: str | None, namespace: str = "hawker") -> StockGate:
    """The backend the settings pick: Redis when a URL is given, else in-process."""
    if redis_url:
        from hawker.live.gate_redis import RedisGate

        return RedisGate(redis_url, prefix=f"{namespace}:gate:")
    from hawker.live.gate_memory import MemoryGate

    return MemoryGate()
