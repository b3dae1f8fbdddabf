"""The stock gate's rules as a pure, deterministic model: the reference the real gates
(in-process and Redis Lua) are tested against.

A pool starts with `initial` units. Every unit is, at all times, exactly one of:
left (on sale), held (reserved for a buyer who has not paid yet) or sold. So

    sold + held + left == initial,   left >= 0,
    and for every buyer: sold + held <= per_buyer_limit (when there is one).

A reservation moves

    held --confirm--> sold --refund--> refunded   (units back to left)
    held --release--> released                    (units back to left)
    held --expire---> expired                     (units back to left)

`reserve` decides in one step, in this order, so that every backend answers alike:
1. a bad quantity or key is refused (422);
2. a key this buyer already used returns that reservation as it is now, whatever happened
   since (a double tap or a retried request never holds twice);
3. nothing left: SoldOut;
4. over the buyer's limit: LimitReached;
5. fewer left than asked: SoldOut (with how many are left);
6. otherwise a new hold until `now + hold_seconds`.
A refused request does not use up its key: a retry may succeed once units come back.

Expiry is explicit (`expire(now)`), never a side effect of another call, so that the service
learns of each expired hold and can expire its order. A payment confirmed after
`expires_at` but before the sweep still finds its units held, and sells them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hawker.domain.errors import (
    InvalidInput,
    InvalidTransition,
    LimitReached,
    NotFound,
    SoldOut,
)
from hawker.domain.orders import check_quantity

_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_HOLD_SECONDS = 3600


class ReservationState(StrEnum):
    HELD = "held"
    SOLD = "sold"
    RELEASED = "released"
    EXPIRED = "expired"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    buyer: int
    quantity: int
    key: str
    expires_at: datetime
    state: ReservationState


@dataclass(frozen=True, slots=True)
class Levels:
    sold: int
    held: int
    left: int


def check_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput(
            "an idempotency key is 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', ':', '-'",
            code="invalid_idempotency_key",
        )
    return key


def _counts(reservations: Iterable[Reservation]) -> tuple[int, int, dict[int, int]]:
    sold = held = 0
    per_buyer: dict[int, int] = {}
    for r in reservations:
        if r.state is ReservationState.SOLD:
            sold += r.quantity
        elif r.state is ReservationState.HELD:
            held += r.quantity
        else:
            continue
        per_buyer[r.buyer] = per_buyer.get(r.buyer, 0) + r.quantity
    return sold, held, per_buyer


class StockPool:
    """One pool of units (a variant's stock, or a flash deal's quantity)."""

    def __init__(self, initial: int, per_buyer_limit: int | None = None) -> None:
        if isinstance(initial, bool) or not isinstance(initial, int) or initial < 0:
            raise InvalidInput("stock must be 0 or more units", code="invalid_stock")
        if per_buyer_limit is not None and (
            isinstance(per_buyer_limit, bool) or per_buyer_limit < 1
        ):
            raise InvalidInput("a per-buyer limit is at least 1", code="invalid_limit")
        self.initial = initial
        self.per_buyer_limit = per_buyer_limit
        # Counters are kept apart from the reservations on purpose: the invariant checks
        # compare them with a recount, the way a real gate keeps counters in Redis.
        self._sold = 0
        self._held = 0
        self._left = initial
        self._per_buyer: dict[int, int] = {}
        self._reservations: dict[int, Reservation] = {}
        self._keys: dict[tuple[int, str], int] = {}
        self._next_id = 1

    @classmethod
    def restore(
        cls,
        initial: int,
        per_buyer_limit: int | None,
        reservations: Iterable[Reservation],
    ) -> StockPool:
        """Rebuild a pool from the durable ledger (what the gate does at start)."""
        pool = cls(initial, per_buyer_limit)
        for r in reservations:
            if r.id in pool._reservations or (r.buyer, r.key) in pool._keys:
                raise InvalidInput(
                    f"reservation {r.id} appears twice in the ledger", code="invalid_ledger"
                )
            pool._reservations[r.id] = r
            pool._keys[(r.buyer, r.key)] = r.id
            pool._next_id = max(pool._next_id, r.id + 1)
        sold, held, per_buyer = _counts(pool._reservations.values())
        if sold + held > initial:
            raise InvalidInput(
                f"the ledger holds {sold + held} units of {initial}", code="invalid_ledger"
            )
        pool._sold, pool._held, pool._left = sold, held, initial - sold - held
        pool._per_buyer = per_buyer
        # A ledger may hold a buyer above a limit set lower later; the pool then refuses
        # that buyer until they are back under it, and never sells more.
        return pool

    def levels(self) -> Levels:
        return Levels(sold=self._sold, held=self._held, left=self._left)

    def bought_by(self, buyer: int) -> int:
        """Units this buyer holds or bought (what counts against the limit)."""
        return self._per_buyer.get(buyer, 0)

    def get(self, reservation_id: int) -> Reservation:
        try:
            return self._reservations[reservation_id]
        except KeyError:
            raise NotFound(
                f"no reservation {reservation_id}", code="reservation_not_found"
            ) from None

    def reservations(self) -> list[Reservation]:
        return list(self._reservations.values())

    def reserve(
        self, buyer: int, quantity: int, key: str, now: datetime, hold_seconds: int
    ) -> Reservation:
        check_quantity(quantity)
        check_idempotency_key(key)
        if not 1 <= hold_seconds <= MAX_HOLD_SECONDS:
            raise InvalidInput(f"a hold lasts 1 to {MAX_HOLD_SECONDS} seconds", code="invalid_hold")
        seen = self._keys.get((buyer, key))
        if seen is not None:
            found = self._reservations[seen]
            if found.quantity != quantity:
                raise InvalidInput(
                    "this idempotency key was used for another request",
                    code="idempotency_key_reused",
                )
            return found
        if self._left == 0:
            raise SoldOut("sold out", left=0)
        limit = self.per_buyer_limit
        already = self.bought_by(buyer)
        if limit is not None and already + quantity > limit:
            raise LimitReached(
                f"at most {limit} per buyer; you already have {already}",
                limit=limit,
                already=already,
            )
        if quantity > self._left:
            raise SoldOut(f"only {self._left} left", left=self._left)
        reservation = Reservation(
            id=self._next_id,
            buyer=buyer,
            quantity=quantity,
            key=key,
            expires_at=now + timedelta(seconds=hold_seconds),
            state=ReservationState.HELD,
        )
        self._next_id += 1
        self._reservations[reservation.id] = reservation
        self._keys[(buyer, key)] = reservation.id
        self._left -= quantity
        self._held += quantity
        self._per_buyer[buyer] = already + quantity
        return reservation

    def confirm(self, reservation_id: int) -> Reservation:
        r = self._move(reservation_id, ReservationState.HELD, ReservationState.SOLD, "confirm")
        self._held -= r.quantity
        self._sold += r.quantity
        return r

    def release(self, reservation_id: int) -> Reservation:
        r = self._move(reservation_id, ReservationState.HELD, ReservationState.RELEASED, "release")
        self._held -= r.quantity
        self._give_back(r)
        return r

    def refund(self, reservation_id: int) -> Reservation:
        r = self._move(reservation_id, ReservationState.SOLD, ReservationState.REFUNDED, "refund")
        self._sold -= r.quantity
        self._give_back(r)
        return r

    def expire(self, now: datetime) -> list[Reservation]:
        """Release every hold whose time is up (`expires_at <= now`); returns them by id."""
        due = sorted(
            rid
            for rid, r in self._reservations.items()
            if r.state is ReservationState.HELD and r.expires_at <= now
        )
        out = []
        for rid in due:
            r = self._move(rid, ReservationState.HELD, ReservationState.EXPIRED, "expire")
            self._held -= r.quantity
            self._give_back(r)
            out.append(r)
        return out

    def check_invariants(self) -> None:
        """Recount from the reservations and compare with the counters. For tests and for
        a gate that wants to audit itself; raises AssertionError on a broken invariant."""
        sold, held, per_buyer = _counts(self._reservations.values())
        broken = [
            message
            for ok, message in (
                ((sold, held) == (self._sold, self._held), "counters drifted from the ledger"),
                (self._sold + self._held + self._left == self.initial, "units came or went"),
                (self._left >= 0, "negative stock"),
                (per_buyer == self._per_buyer, "buyer counts drifted"),
                (len(self._keys) == len(self._reservations), "a key maps to two reservations"),
            )
            if not ok
        ]
        if broken:
            raise AssertionError("; ".join(broken))

    def _move(
        self,
        reservation_id: int,
        source: ReservationState,
        target: ReservationState,
        event: str,
    ) -> Reservation:
        current = self.get(reservation_id)
        if current.state is not source:
            raise InvalidTransition(
                f"a {current.state.value} reservation cannot {event}",
                state=current.state.value,
                event=event,
            )
        moved = replace(current, state=target)
        self._reservations[reservation_id] = moved
        return moved

    def _give_back(self, r: Reservation) -> None:
        self._left += r.quantity
        remaining = self._per_buyer[r.buyer] - r.quantity
        if remaining:
            self._per_buyer[r.buyer] = remaining
        else:
            del self._per_buyer[r.buyer]
