"""The in-process stock gate, and the differential test every gate backend must pass: any
sequence of buys, repeats, payments, declines, refunds, expiry, stock edits and rebuilds
answers exactly as the reference model `hawker.domain.stock.StockPool` does."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hawker.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    InvalidQuantity,
    InvalidTransition,
    LimitReached,
    NotFound,
    SoldOut,
)
from hawker.domain.orders import MAX_QUANTITY
from hawker.domain.stock import Reservation, ReservationState, StockPool
from hawker.live.gate import (
    Hold,
    HoldStatus,
    LedgerEntry,
    Levels,
    PoolNotLoaded,
    ReserveRequest,
    StockGate,
    make_gate,
)
from hawker.live.gate_memory import MemoryGate
from hawker.live.gate_redis import RedisGate

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
NOW = 1_772_395_200_000  # T0 in ms
HELD, SOLD = ReservationState.HELD, ReservationState.SOLD
RELEASED, EXPIRED, REFUNDED = (
    ReservationState.RELEASED,
    ReservationState.EXPIRED,
    ReservationState.REFUNDED,
)


def ms(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def entry(r: Reservation) -> LedgerEntry:
    return LedgerEntry(r.id, r.buyer, r.quantity, r.key, r.state, ms(r.expires_at))


async def pool_of(initial: int, limit: int | None = None) -> MemoryGate:
    gate = MemoryGate()
    assert await gate.ensure_pool("v:1", initial=initial, per_buyer_limit=limit)
    return gate


async def buy(
    gate: StockGate,
    buyer: int,
    quantity: int = 1,
    key: str = "k",
    hold_ms: int = 60_000,
    now_ms: int = NOW,
) -> Hold:
    return await gate.reserve(
        "v:1", buyer=buyer, quantity=quantity, key=key, hold_ms=hold_ms, now_ms=now_ms
    )


# ---- behaviour ----------------------------------------------------------------------------


async def test_a_buy_holds_then_payment_sells() -> None:
    gate = await pool_of(5, limit=2)
    hold = await buy(gate, 1, 2, "tap-1")
    assert (hold.status, hold.reservation_id, hold.state, hold.replay) == ("ok", 1, HELD, False)
    assert (hold.left, hold.expires_at_ms) == (3, NOW + 60_000)
    assert await gate.levels("v:1") == Levels(initial=5, sold=0, held=2, left=3)
    assert await gate.confirm("v:1", hold.reservation_id) is True
    assert await gate.levels("v:1") == Levels(initial=5, sold=2, held=0, left=3)


async def test_a_double_tap_gets_the_same_reservation_never_a_second() -> None:
    gate = await pool_of(5)
    first = await buy(gate, 1, 1, "tap")
    again = await buy(gate, 1, 1, "tap", now_ms=NOW + 5_000)
    assert (again.reservation_id, again.replay, again.expires_at_ms) == (
        first.reservation_id,
        True,
        first.expires_at_ms,
    )
    assert await gate.levels("v:1") == Levels(5, 0, 1, 4)
    # Long after the hold ended, the key still answers with what became of it.
    await gate.release("v:1", first.reservation_id)
    late = await buy(gate, 1, 1, "tap")
    assert (late.reservation_id, late.state, late.replay) == (first.reservation_id, RELEASED, True)
    assert await gate.levels("v:1") == Levels(5, 0, 0, 5)


async def test_refusals_are_answers_that_check_turns_into_the_domain_errors() -> None:
    gate = await pool_of(3, limit=2)
    await buy(gate, 1, 2, "a")
    over = await buy(gate, 1, 1, "b")
    assert (over.status, over.limit, over.already) == (HoldStatus.LIMIT_REACHED, 2, 2)
    with pytest.raises(LimitReached) as limit:
        over.check()
    assert limit.value.details() == {"limit": 2, "already": 2}
    short = await buy(gate, 2, 2, "c")
    assert (short.status, short.left) == (HoldStatus.SOLD_OUT, 1)
    with pytest.raises(SoldOut) as only:
        short.check()
    assert (only.value.message, only.value.left) == ("only 1 left", 1)
    await buy(gate, 2, 1, "d")
    # Nothing left: sold out comes first, even for a buyer at the limit.
    gone = await buy(gate, 1, 1, "e")
    with pytest.raises(SoldOut) as none:
        gone.check()
    assert (none.value.message, none.value.left) == ("sold out", 0)
    reused = await buy(gate, 2, 2, "d")
    with pytest.raises(InvalidInput) as bad:
        reused.check()
    assert bad.value.code == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("quantity", "key", "hold_ms", "error", "code"),
    [
        (0, "k", 1000, InvalidQuantity, "invalid_quantity"),
        (-1, "k", 1000, InvalidQuantity, "invalid_quantity"),
        (MAX_QUANTITY + 1, "k", 1000, InvalidQuantity, "invalid_quantity"),
        (True, "k", 1000, InvalidQuantity, "invalid_quantity"),
        (1, "", 1000, InvalidInput, "invalid_idempotency_key"),
        (1, "a|b", 1000, InvalidInput, "invalid_idempotency_key"),
        (1, "k" * 65, 1000, InvalidInput, "invalid_idempotency_key"),
        (1, "k", 0, InvalidInput, "invalid_hold"),
        (1, "k", 3_600_001, InvalidInput, "invalid_hold"),
    ],
)
async def test_bad_input_is_refused_before_the_backend_is_asked(
    quantity: int, key: str, hold_ms: int, error: type[DomainError], code: str
) -> None:
    gate = MemoryGate()  # no pool at all: the input is refused first
    with pytest.raises(error) as info:
        await gate.reserve("v:1", buyer=1, quantity=quantity, key=key, hold_ms=hold_ms, now_ms=NOW)
    assert info.value.code == code
    with pytest.raises(error):
        ReserveRequest("v:1", 1, quantity, key, hold_ms, NOW)


async def test_a_pool_the_backend_lost_says_so_and_is_rebuilt_from_the_ledger() -> None:
    gate = await pool_of(10, limit=3)
    a = await buy(gate, 1, 2, "a")
    await buy(gate, 2, 3, "b", hold_ms=1_000)
    c = await buy(gate, 3, 1, "c")
    await gate.confirm("v:1", a.reservation_id)
    await gate.release("v:1", c.reservation_id)
    ledger = await gate.holds("v:1")
    await gate.drop("v:1")
    with pytest.raises(PoolNotLoaded):
        await buy(gate, 4, 1, "d")
    with pytest.raises(PoolNotLoaded):
        await gate.reserve_many([ReserveRequest("v:1", 4, 1, "d", 1000, NOW)])
    assert await gate.ensure_pool("v:1", initial=10, per_buyer_limit=3, ledger=ledger)
    assert not await gate.ensure_pool("v:1", initial=99, per_buyer_limit=None, ledger=[])
    assert await gate.levels("v:1") == Levels(10, 2, 3, 5)
    assert await gate.holds("v:1") == ledger
    replay = await buy(gate, 1, 2, "a")
    assert (replay.reservation_id, replay.state, replay.replay) == (1, SOLD, True)
    assert (await buy(gate, 4, 1, "d")).reservation_id == 4  # after the ledger's ids
    assert (await buy(gate, 1, 2, "e")).status is HoldStatus.LIMIT_REACHED
    # The rebuilt holds still expire.
    assert await gate.expire("v:1", NOW + 1_000) == [2]


@pytest.mark.parametrize(
    "ledger",
    [
        [LedgerEntry(i, i, 1, f"k{i}", HELD, NOW) for i in (1, 2, 3)],  # 3 units of 2
        [LedgerEntry(1, 1, 1, "k", SOLD, NOW), LedgerEntry(1, 2, 1, "j", SOLD, NOW)],
        [LedgerEntry(1, 1, 1, "k", SOLD, NOW), LedgerEntry(2, 1, 1, "k", HELD, NOW)],
    ],
    ids=["oversold", "same-id", "same-key"],
)
async def test_a_ledger_that_breaks_the_rules_is_refused(ledger: list[LedgerEntry]) -> None:
    gate = MemoryGate()
    with pytest.raises(InvalidInput) as info:
        await gate.ensure_pool("v:1", initial=2, per_buyer_limit=None, ledger=ledger)
    assert info.value.code == "invalid_ledger"
    with pytest.raises(PoolNotLoaded):
        await gate.levels("v:1")


async def test_moves_are_idempotent_and_illegal_ones_refused() -> None:
    gate = await pool_of(5)
    r = (await buy(gate, 1, 1, "a")).reservation_id
    assert await gate.confirm("v:1", r) is True
    assert await gate.confirm("v:1", r) is False
    with pytest.raises(InvalidTransition) as sold:
        await gate.release("v:1", r)
    assert sold.value.details() == {"state": "sold", "event": "release"}
    assert await gate.refund("v:1", r) is True
    assert await gate.refund("v:1", r) is False
    assert await gate.levels("v:1") == Levels(5, 0, 0, 5)
    with pytest.raises(NotFound):
        await gate.confirm("v:1", 42)


async def test_expiry_is_to_the_millisecond_and_a_late_release_is_harmless() -> None:
    gate = await pool_of(5)
    r = (await buy(gate, 1, 2, "a", hold_ms=1_500)).reservation_id
    assert await gate.expire("v:1", NOW + 1_499) == []
    assert await gate.expire("v:1", NOW + 1_500) == [r]
    assert await gate.expire("v:1", NOW + 9_999) == []
    assert await gate.levels("v:1") == Levels(5, 0, 0, 5)
    # A declined payment after the sweep: the units are back already.
    assert await gate.release("v:1", r) is False
    with pytest.raises(InvalidTransition):
        await gate.confirm("v:1", r)


async def test_restock_and_stock_edits_never_take_committed_units() -> None:
    gate = await pool_of(3)
    await buy(gate, 1, 2, "a")
    assert await gate.adjust("v:1", 5) == Levels(8, 0, 2, 6)
    assert await gate.adjust("v:1", -6) == Levels(2, 0, 2, 0)
    with pytest.raises(Conflict) as info:
        await gate.adjust("v:1", -1)
    assert info.value.code == "stock_committed"
    assert await gate.levels("v:1") == Levels(2, 0, 2, 0)


async def test_a_batch_answers_in_order_as_single_calls_would() -> None:
    gate = await pool_of(3, limit=2)
    other = "d:9"
    assert await gate.ensure_pool(other, initial=1, per_buyer_limit=None)
    answers = await gate.reserve_many(
        [
            ReserveRequest("v:1", 1, 2, "a", 1000, NOW),
            ReserveRequest(other, 1, 1, "a", 1000, NOW),
            ReserveRequest("v:1", 1, 2, "a", 1000, NOW),  # the same tap twice in one batch
            ReserveRequest("v:1", 1, 1, "b", 1000, NOW),
            ReserveRequest("v:1", 2, 2, "c", 1000, NOW),
            ReserveRequest(other, 2, 1, "a", 1000, NOW),
        ]
    )
    assert [(a.status.value, a.reservation_id, a.replay) for a in answers] == [
        ("ok", 1, False),
        ("ok", 1, False),
        ("ok", 1, True),
        ("limit_reached", 0, False),
        ("sold_out", 0, False),
        ("sold_out", 0, False),
    ]
    assert await gate.levels("v:1") == Levels(3, 0, 2, 1)


async def test_the_settings_pick_the_backend() -> None:
    assert isinstance(make_gate(None), MemoryGate)
    redis_gate = make_gate("redis://127.0.0.1:1/0")  # nothing is dialled until used
    assert isinstance(redis_gate, RedisGate)
    await redis_gate.close()


# ---- any interleaving, against the reference ------------------------------------------------

buyers = st.integers(1, 4)
quantities = st.integers(1, 4)
holds_s = st.integers(1, 120)


class GateMachine(RuleBasedStateMachine):
    """Runs a gate and the reference model side by side: every answer, every level and every
    reservation must agree after every step, and the invariants must hold. A backend's test
    subclasses it and overrides `new_gate`."""

    requests = Bundle("requests")
    pool = "v:1"

    def new_gate(self) -> StockGate:
        return MemoryGate()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.gate: StockGate | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        if self.gate is not None:
            gate = self.gate
            self.run(gate.drop(self.pool))
            self.run(gate.close())
        self.loop.close()

    @property
    def g(self) -> StockGate:
        assert self.gate is not None
        return self.gate

    @initialize(initial=st.integers(0, 12), limit=st.none() | st.integers(1, 5))
    def start(self, initial: int, limit: int | None) -> None:
        self.gate = self.new_gate()
        self.run(self.g.drop(self.pool))
        assert self.run(self.g.ensure_pool(self.pool, initial=initial, per_buyer_limit=limit))
        self.limit = limit
        self.ref = StockPool(initial, per_buyer_limit=limit)
        self.now = T0
        self.keys_made = 0

    # -- one reserve, and what the reference says it must answer
    def expected(self, buyer: int, quantity: int, key: str, hold: int) -> Hold:
        known = any((r.buyer, r.key) == (buyer, key) for r in self.ref.reservations())
        try:
            r = self.ref.reserve(buyer, quantity, key, self.now, hold)
        except SoldOut as e:
            return Hold(HoldStatus.SOLD_OUT, e.left, limit=self.limit)
        except LimitReached as e:
            return Hold(
                HoldStatus.LIMIT_REACHED, self.ref.levels().left, limit=e.limit, already=e.already
            )
        except InvalidInput as e:
            assert e.code == "idempotency_key_reused"
            return Hold(HoldStatus.KEY_REUSED, self.ref.levels().left, limit=self.limit)
        return Hold(
            HoldStatus.OK,
            self.ref.levels().left,
            r.id,
            r.state,
            known,
            r.quantity,
            ms(r.expires_at),
            self.limit,
            0 if known else self.ref.bought_by(buyer) - quantity,
        )

    def compare(self, got: Hold, want: Hold) -> None:
        assert got == want
        if want.status is not HoldStatus.OK:
            with pytest.raises(DomainError) as gate_error:
                got.check()
            try:
                want.check()
            except DomainError as e:
                assert (type(gate_error.value), gate_error.value.message) == (type(e), e.message)

    def try_buy(self, buyer: int, quantity: int, key: str, hold: int) -> None:
        got = self.run(
            self.g.reserve(
                self.pool,
                buyer=buyer,
                quantity=quantity,
                key=key,
                hold_ms=hold * 1000,
                now_ms=ms(self.now),
            )
        )
        self.compare(got, self.expected(buyer, quantity, key, hold))

    def new_key(self) -> str:
        self.keys_made += 1
        return f"tap-{self.keys_made}"

    @rule(target=requests, buyer=buyers, quantity=quantities, hold=holds_s)
    def buy(self, buyer: int, quantity: int, hold: int) -> tuple[int, int, str]:
        key = self.new_key()
        self.try_buy(buyer, quantity, key, hold)
        return (buyer, quantity, key)

    @rule(request=requests, hold=holds_s)
    def buy_again_with_the_same_key(self, request: tuple[int, int, str], hold: int) -> None:
        buyer, quantity, key = request
        self.try_buy(buyer, quantity, key, hold)

    @rule(request=requests, quantity=quantities)
    def reuse_a_key_for_another_quantity(
        self, request: tuple[int, int, str], quantity: int
    ) -> None:
        buyer, _, key = request
        self.try_buy(buyer, quantity, key, 60)

    @rule(
        attempts=st.lists(
            st.tuples(buyers, quantities, st.booleans(), holds_s), min_size=1, max_size=6
        ),
        data=st.data(),
    )
    def buy_in_a_batch(
        self, attempts: list[tuple[int, int, bool, int]], data: st.DataObject
    ) -> None:
        requests: list[ReserveRequest] = []
        for buyer, quantity, repeat, hold in attempts:
            mine = [r for r in self.ref.reservations() if r.buyer == buyer]
            if repeat and mine:
                old = data.draw(st.sampled_from(mine))
                quantity, key = old.quantity, old.key
            else:
                key = self.new_key()
            requests.append(
                ReserveRequest(self.pool, buyer, quantity, key, hold * 1000, ms(self.now))
            )
        got = self.run(self.g.reserve_many(requests))
        assert len(got) == len(requests)
        for answer, r in zip(got, requests, strict=True):
            self.compare(answer, self.expected(r.buyer, r.quantity, r.key, r.hold_ms // 1000))

    @rule(buyer=buyers, quantity=st.sampled_from([0, -1, MAX_QUANTITY + 1, 10**9]))
    def buy_an_absurd_quantity(self, buyer: int, quantity: int) -> None:
        with pytest.raises(InvalidQuantity):
            self.run(
                self.g.reserve(
                    self.pool,
                    buyer=buyer,
                    quantity=quantity,
                    key="absurd",
                    hold_ms=1000,
                    now_ms=ms(self.now),
                )
            )

    # -- moves: the gate answers a repeat with False where the reference refuses it
    def move(self, rid: int, op: str) -> None:
        done = {"confirm": {SOLD}, "release": {RELEASED, EXPIRED}, "refund": {REFUNDED}}[op]
        try:
            state = self.ref.get(rid).state
        except NotFound:
            with pytest.raises(NotFound):
                self.run(getattr(self.g, op)(self.pool, rid))
            return
        if state in done:
            assert self.run(getattr(self.g, op)(self.pool, rid)) is False
            return
        try:
            getattr(self.ref, op)(rid)
        except InvalidTransition as want:
            with pytest.raises(InvalidTransition) as got:
                self.run(getattr(self.g, op)(self.pool, rid))
            assert got.value.details() == want.details()
        else:
            assert self.run(getattr(self.g, op)(self.pool, rid)) is True

    def pick(self, data: st.DataObject) -> int:
        # Now and then an id nobody was given.
        ids = [r.id for r in self.ref.reservations()] + [10_000]
        return data.draw(st.sampled_from(ids))

    @rule(data=st.data(), op=st.sampled_from(["confirm", "release", "refund"]))
    def pay_decline_or_refund(self, data: st.DataObject, op: str) -> None:
        self.move(self.pick(data), op)

    @precondition(lambda self: bool(self.ref.reservations()))
    @rule(data=st.data())
    def webhook_twice(self, data: st.DataObject) -> None:
        rid = self.pick(data)
        self.move(rid, "confirm")
        self.move(rid, "confirm")

    @rule(seconds=st.integers(0, 90), extra_ms=st.sampled_from([0, 0, 1, 999]))
    def time_passes(self, seconds: int, extra_ms: int) -> None:
        self.now += timedelta(seconds=seconds, milliseconds=extra_ms)
        want = [r.id for r in self.ref.expire(self.now)]
        assert self.run(self.g.expire(self.pool, ms(self.now))) == want

    @precondition(lambda self: any(r.state is HELD for r in self.ref.reservations()))
    @rule(data=st.data(), early_ms=st.sampled_from([0, 1]))
    def time_reaches_a_hold_s_end(self, data: st.DataObject, early_ms: int) -> None:
        ends = sorted({r.expires_at for r in self.ref.reservations() if r.state is HELD})
        end = data.draw(st.sampled_from(ends)) - timedelta(milliseconds=early_ms)
        if end >= self.now:  # time never runs backwards
            self.now = end
            want = [r.id for r in self.ref.expire(self.now)]
            assert self.run(self.g.expire(self.pool, ms(self.now))) == want

    @rule(delta=st.integers(-6, 6))
    def restock_or_edit_stock(self, delta: int) -> None:
        try:
            again = StockPool.restore(self.ref.initial + delta, self.limit, self.ref.reservations())
        except InvalidInput:
            before = self.run(self.g.levels(self.pool))
            with pytest.raises(Conflict):
                self.run(self.g.adjust(self.pool, delta))
            assert self.run(self.g.levels(self.pool)) == before
        else:
            self.ref = again
            level = again.levels()
            assert self.run(self.g.adjust(self.pool, delta)) == Levels(
                again.initial, level.sold, level.held, level.left
            )

    @rule()
    def the_backend_loses_the_pool_and_rebuilds_it_from_the_ledger(self) -> None:
        self.run(self.g.drop(self.pool))
        with pytest.raises(PoolNotLoaded):
            self.run(self.g.levels(self.pool))
        ledger = [entry(r) for r in self.ref.reservations()]
        assert self.run(
            self.g.ensure_pool(
                self.pool, initial=self.ref.initial, per_buyer_limit=self.limit, ledger=ledger
            )
        )

    @rule()
    def a_second_process_ensures_the_pool_too(self) -> None:
        assert not self.run(
            self.g.ensure_pool(self.pool, initial=0, per_buyer_limit=None, ledger=[])
        )

    @invariant()
    def levels_and_reservations_agree_with_the_reference(self) -> None:
        if self.gate is None:
            return
        levels = self.run(self.g.levels(self.pool))
        want = self.ref.levels()
        assert levels == Levels(self.ref.initial, want.sold, want.held, want.left)
        assert levels.sold + levels.held + levels.left == levels.initial
        assert levels.left >= 0
        found = self.run(self.g.holds(self.pool))
        assert found == sorted(entry(r) for r in self.ref.reservations())
        if self.limit is not None:
            per_buyer: dict[int, int] = {}
            for e in found:
                if e.state in (HELD, SOLD):
                    per_buyer[e.buyer] = per_buyer.get(e.buyer, 0) + e.quantity
            assert all(units <= self.limit for units in per_buyer.values())
        self.ref.check_invariants()


GateMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestMemoryGateAgainstTheReference = GateMachine.TestCase
