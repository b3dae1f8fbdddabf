from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
    InvalidInput,
    InvalidQuantity,
    InvalidTransition,
    LimitReached,
    NotFound,
    SoldOut,
)
from hawker.domain.orders import MAX_QUANTITY
from hawker.domain.stock import (
    MAX_HOLD_SECONDS,
    Levels,
    Reservation,
    ReservationState,
    StockPool,
)

T0 = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
HELD, SOLD = ReservationState.HELD, ReservationState.SOLD


def test_a_buy_holds_then_payment_sells() -> None:
    pool = StockPool(5, per_buyer_limit=2)
    r = pool.reserve(1, 2, "tap-1", T0, 300)
    assert (r.buyer, r.quantity, r.state) == (1, 2, HELD)
    assert r.expires_at == T0 + timedelta(seconds=300)
    assert pool.levels() == Levels(sold=0, held=2, left=3)
    assert pool.confirm(r.id).state is SOLD
    assert pool.levels() == Levels(sold=2, held=0, left=3)
    assert pool.bought_by(1) == 2


def test_the_same_key_never_holds_twice() -> None:
    pool = StockPool(5)
    first = pool.reserve(1, 1, "k", T0, 60)
    assert pool.reserve(1, 1, "k", T0 + timedelta(seconds=5), 60) == first
    assert pool.levels() == Levels(sold=0, held=1, left=4)
    # Even after the hold ended, the key answers with what became of it.
    pool.release(first.id)
    again = pool.reserve(1, 1, "k", T0, 60)
    assert (again.id, again.state) == (first.id, ReservationState.RELEASED)
    assert pool.levels() == Levels(sold=0, held=0, left=5)


def test_keys_belong_to_their_buyer() -> None:
    pool = StockPool(5)
    mine = pool.reserve(1, 1, "k", T0, 60)
    theirs = pool.reserve(2, 1, "k", T0, 60)
    assert mine.id != theirs.id and theirs.buyer == 2


def test_a_key_reused_for_another_quantity_is_refused() -> None:
    pool = StockPool(5)
    pool.reserve(1, 1, "k", T0, 60)
    with pytest.raises(InvalidInput) as info:
        pool.reserve(1, 2, "k", T0, 60)
    assert info.value.code == "idempotency_key_reused"


def test_a_repeated_key_gets_its_answer_even_when_sold_out() -> None:
    pool = StockPool(1)
    first = pool.reserve(1, 1, "k", T0, 60)
    assert pool.reserve(1, 1, "k", T0, 60) == first
    with pytest.raises(SoldOut):
        pool.reserve(2, 1, "k2", T0, 60)


def test_sold_out_and_limits_in_their_order() -> None:
    pool = StockPool(3, per_buyer_limit=2)
    pool.reserve(1, 2, "a", T0, 60)
    with pytest.raises(LimitReached) as over:
        pool.reserve(1, 1, "b", T0, 60)
    assert (over.value.code, over.value.status) == ("limit_reached", 409)
    assert over.value.details() == {"limit": 2, "already": 2}
    with pytest.raises(SoldOut) as short:
        pool.reserve(2, 2, "c", T0, 60)
    assert (short.value.code, short.value.left) == ("sold_out", 1)
    assert short.value.message == "only 1 left"
    pool.reserve(2, 1, "d", T0, 60)
    # Nothing left: sold out, even for a buyer who is also at the limit.
    with pytest.raises(SoldOut):
        pool.reserve(1, 1, "e", T0, 60)


def test_a_refused_request_does_not_use_up_its_key() -> None:
    pool = StockPool(1)
    r = pool.reserve(1, 1, "a", T0, 60)
    with pytest.raises(SoldOut):
        pool.reserve(2, 1, "retry", T0, 60)
    pool.release(r.id)
    assert pool.reserve(2, 1, "retry", T0, 60).state is HELD


def test_expiry_releases_exactly_the_holds_whose_time_is_up() -> None:
    pool = StockPool(10)
    short = pool.reserve(1, 1, "a", T0, 10)
    long = pool.reserve(2, 2, "b", T0, 100)
    paid = pool.reserve(3, 3, "c", T0, 10)
    pool.confirm(paid.id)
    assert pool.expire(T0 + timedelta(seconds=9)) == []
    gone = pool.expire(T0 + timedelta(seconds=10))
    assert [(r.id, r.state) for r in gone] == [(short.id, ReservationState.EXPIRED)]
    assert pool.levels() == Levels(sold=3, held=2, left=5)
    assert pool.get(long.id).state is HELD
    with pytest.raises(InvalidTransition) as late:
        pool.confirm(short.id)
    assert (late.value.code, late.value.state, late.value.event) == (
        "invalid_state",
        "expired",
        "confirm",
    )


def test_a_payment_before_the_sweep_still_sells() -> None:
    pool = StockPool(1)
    r = pool.reserve(1, 1, "a", T0, 10)
    assert pool.confirm(r.id).state is SOLD
    assert pool.expire(T0 + timedelta(hours=1)) == []
    assert pool.levels() == Levels(sold=1, held=0, left=0)


def test_a_refund_puts_units_back_and_frees_the_buyers_limit() -> None:
    pool = StockPool(2, per_buyer_limit=1)
    r = pool.reserve(1, 1, "a", T0, 60)
    pool.confirm(r.id)
    pool.refund(r.id)
    assert pool.levels() == Levels(sold=0, held=0, left=2)
    assert pool.reserve(1, 1, "b", T0, 60).state is HELD
    with pytest.raises(InvalidTransition):
        pool.refund(r.id)


@pytest.mark.parametrize(("op"), ["confirm", "release", "refund"])
def test_unknown_reservations_are_not_found(op: str) -> None:
    with pytest.raises(NotFound) as info:
        getattr(StockPool(1), op)(42)
    assert info.value.code == "reservation_not_found"


@pytest.mark.parametrize(
    ("quantity", "key", "hold", "error", "code"),
    [
        (0, "k", 60, InvalidQuantity, "invalid_quantity"),
        (-3, "k", 60, InvalidQuantity, "invalid_quantity"),
        (MAX_QUANTITY + 1, "k", 60, InvalidQuantity, "invalid_quantity"),
        (1, "", 60, InvalidInput, "invalid_idempotency_key"),
        (1, "x" * 65, 60, InvalidInput, "invalid_idempotency_key"),
        (1, "a key", 60, InvalidInput, "invalid_idempotency_key"),
        (1, "k", 0, InvalidInput, "invalid_hold"),
        (1, "k", MAX_HOLD_SECONDS + 1, InvalidInput, "invalid_hold"),
    ],
)
def test_bad_requests_change_nothing(
    quantity: int, key: str, hold: int, error: type[Exception], code: str
) -> None:
    pool = StockPool(5)
    with pytest.raises(error) as info:
        pool.reserve(1, quantity, key, T0, hold)
    assert getattr(info.value, "code", None) == code
    assert pool.levels() == Levels(sold=0, held=0, left=5)


@pytest.mark.parametrize(("initial", "limit"), [(-1, None), (5, 0), (True, None)])
def test_a_pool_needs_sane_numbers(initial: int, limit: int | None) -> None:
    with pytest.raises(InvalidInput):
        StockPool(initial, limit)


def test_restore_rebuilds_the_levels_from_the_ledger() -> None:
    pool = StockPool(10, per_buyer_limit=3)
    a = pool.reserve(1, 2, "a", T0, 60)
    pool.reserve(2, 3, "b", T0, 60)
    c = pool.reserve(3, 1, "c", T0, 60)
    pool.confirm(a.id)
    pool.release(c.id)
    again = StockPool.restore(10, 3, pool.reservations())
    assert again.levels() == pool.levels() == Levels(sold=2, held=3, left=5)
    again.check_invariants()
    assert again.reserve(1, 2, "a", T0, 60) == pool.get(a.id)
    assert again.reserve(4, 1, "d", T0, 60).id == 4
    with pytest.raises(LimitReached):
        again.reserve(1, 2, "e", T0, 60)


def test_restore_refuses_a_ledger_that_oversold() -> None:
    held = [Reservation(i, i, 1, f"k{i}", T0, HELD) for i in (1, 2, 3)]
    with pytest.raises(InvalidInput) as info:
        StockPool.restore(2, None, held)
    assert info.value.code == "invalid_ledger"
    with pytest.raises(InvalidInput):
        StockPool.restore(5, None, [held[0], held[0]])


# ---- any interleaving -------------------------------------------------------------------


@dataclass
class Expected:
    buyer: int
    quantity: int
    key: str
    expires_at: datetime
    state: ReservationState


buyers = st.integers(1, 4)
quantities = st.integers(1, 4)


class StockMachine(RuleBasedStateMachine):
    """Buyers tap buy (new keys, double taps, retries), pay, get declined, let holds expire,
    cancel and get refunded, in any order. A plain model of what must happen runs alongside
    the pool; after every step they must agree and the invariants must hold."""

    requests = Bundle("requests")

    @initialize(initial=st.integers(0, 12), limit=st.none() | st.integers(1, 5))
    def start(self, initial: int, limit: int | None) -> None:
        self.initial = initial
        self.limit = limit
        self.pool = StockPool(initial, per_buyer_limit=limit)
        self.now = T0
        self.expected: dict[int, Expected] = {}
        self.by_key: dict[tuple[int, str], int] = {}
        self.keys_made = 0

    # -- the model's view
    def counted(self, state: ReservationState) -> int:
        return sum(e.quantity for e in self.expected.values() if e.state is state)

    def left(self) -> int:
        return self.initial - self.counted(SOLD) - self.counted(HELD)

    def bought_by(self, buyer: int) -> int:
        return sum(
            e.quantity
            for e in self.expected.values()
            if e.buyer == buyer and e.state in (HELD, SOLD)
        )

    def try_buy(self, buyer: int, quantity: int, key: str, hold: int) -> None:
        before = self.pool.levels()
        known = self.by_key.get((buyer, key))
        if known is not None:
            if quantity != self.expected[known].quantity:
                with pytest.raises(InvalidInput):
                    self.pool.reserve(buyer, quantity, key, self.now, hold)
            else:
                got = self.pool.reserve(buyer, quantity, key, self.now, hold)
                assert got.id == known, "a repeated key made a second reservation"
                assert got.state is self.expected[known].state
            assert self.pool.levels() == before
            return
        left, already = self.left(), self.bought_by(buyer)
        if left == 0:
            with pytest.raises(SoldOut):
                self.pool.reserve(buyer, quantity, key, self.now, hold)
        elif self.limit is not None and already + quantity > self.limit:
            with pytest.raises(LimitReached):
                self.pool.reserve(buyer, quantity, key, self.now, hold)
        elif quantity > left:
            with pytest.raises(SoldOut):
                self.pool.reserve(buyer, quantity, key, self.now, hold)
        else:
            got = self.pool.reserve(buyer, quantity, key, self.now, hold)
            assert got.id not in self.expected
            assert (got.buyer, got.quantity, got.state) == (buyer, quantity, HELD)
            self.expected[got.id] = Expected(
                buyer, quantity, key, self.now + timedelta(seconds=hold), HELD
            )
            self.by_key[(buyer, key)] = got.id
            return
        assert self.pool.levels() == before

    @rule(target=requests, buyer=buyers, quantity=quantities, hold=st.integers(1, 120))
    def buy(self, buyer: int, quantity: int, hold: int) -> tuple[int, int, str]:
        self.keys_made += 1
        key = f"tap-{self.keys_made}"
        self.try_buy(buyer, quantity, key, hold)
        return (buyer, quantity, key)

    @rule(request=requests, hold=st.integers(1, 120))
    def buy_again_with_the_same_key(self, request: tuple[int, int, str], hold: int) -> None:
        buyer, quantity, key = request
        self.try_buy(buyer, quantity, key, hold)

    @rule(request=requests, quantity=quantities)
    def reuse_a_key_for_another_quantity(
        self, request: tuple[int, int, str], quantity: int
    ) -> None:
        buyer, _, key = request
        self.try_buy(buyer, quantity, key, 60)

    @rule(buyer=buyers, quantity=st.sampled_from([0, -1, MAX_QUANTITY + 1, 10**9]))
    def buy_an_absurd_quantity(self, buyer: int, quantity: int) -> None:
        before = self.pool.levels()
        with pytest.raises(InvalidQuantity):
            self.pool.reserve(buyer, quantity, "absurd", self.now, 60)
        assert self.pool.levels() == before

    def move(self, rid: int, op: str, source: ReservationState, target: ReservationState) -> None:
        e = self.expected[rid]
        if e.state is source:
            got = getattr(self.pool, op)(rid)
            assert got.state is target
            e.state = target
        else:
            before = self.pool.levels()
            with pytest.raises(InvalidTransition):
                getattr(self.pool, op)(rid)
            assert self.pool.levels() == before

    def pick(self, data: st.DataObject) -> int:
        return data.draw(st.sampled_from(sorted(self.expected)))

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        self.move(self.pick(data), "confirm", HELD, SOLD)

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data())
    def decline(self, data: st.DataObject) -> None:
        self.move(self.pick(data), "release", HELD, ReservationState.RELEASED)

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        # The order machine's cancel: a pending order releases its hold, a paid one is
        # refunded by the merchant.
        rid = self.pick(data)
        if self.expected[rid].state is SOLD:
            self.move(rid, "refund", SOLD, ReservationState.REFUNDED)
        else:
            self.move(rid, "release", HELD, ReservationState.RELEASED)

    @precondition(lambda self: bool(self.expected))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        self.move(self.pick(data), "refund", SOLD, ReservationState.REFUNDED)

    @rule(seconds=st.integers(0, 90))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        due = sorted(
            rid for rid, e in self.expected.items() if e.state is HELD and e.expires_at <= self.now
        )
        gone = self.pool.expire(self.now)
        assert [r.id for r in gone] == due
        for rid in due:
            self.expected[rid].state = ReservationState.EXPIRED

    @invariant()
    def units_are_never_lost_or_oversold(self) -> None:
        levels = self.pool.levels()
        assert levels.sold + levels.held + levels.left == self.initial
        assert levels.left >= 0 and levels.sold <= self.initial
        assert levels == Levels(self.counted(SOLD), self.counted(HELD), self.left())
        self.pool.check_invariants()

    @invariant()
    def no_buyer_passes_the_limit(self) -> None:
        if self.limit is None:
            return
        for buyer in {e.buyer for e in self.expected.values()}:
            assert self.bought_by(buyer) <= self.limit
            assert self.pool.bought_by(buyer) == self.bought_by(buyer)

    @invariant()
    def one_reservation_per_key(self) -> None:
        found = self.pool.reservations()
        assert len(found) == len(self.expected) == len(self.by_key)
        assert len({(r.buyer, r.key) for r in found}) == len(found)
        for r in found:
            e = self.expected[r.id]
            assert (r.buyer, r.quantity, r.key, r.expires_at, r.state) == (
                e.buyer,
                e.quantity,
                e.key,
                e.expires_at,
                e.state,
            )

    @invariant()
    def the_ledger_rebuilds_the_same_pool(self) -> None:
        again = StockPool.restore(self.initial, self.limit, self.pool.reservations())
        assert again.levels() == self.pool.levels()


StockMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_any_interleaving_keeps_the_stock_right = StockMachine.TestCase
