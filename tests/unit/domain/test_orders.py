from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.errors import InvalidQuantity, InvalidTransition
from hawker.domain.orders import (
    MAX_QUANTITY,
    TERMINAL,
    OrderEvent,
    OrderStatus,
    StockEffect,
    check_quantity,
    releases_stock,
    step,
    transition,
)
from hawker.domain.stock import ReservationState, StockPool

S, E = OrderStatus, OrderEvent

ALLOWED = {
    (S.PENDING, E.PAY): (S.PAID, StockEffect.CONFIRM, False),
    (S.PENDING, E.DECLINE): (S.CANCELLED, StockEffect.RELEASE, False),
    (S.PENDING, E.EXPIRE): (S.EXPIRED, StockEffect.RELEASE, False),
    (S.PENDING, E.CANCEL): (S.CANCELLED, StockEffect.RELEASE, False),
    (S.PAID, E.FULFIL): (S.FULFILLED, StockEffect.NONE, False),
    (S.PAID, E.REFUND): (S.REFUNDED, StockEffect.RETURN, True),
    (S.PAID, E.CANCEL): (S.CANCELLED, StockEffect.RETURN, True),
}


@pytest.mark.parametrize(("start", "event"), sorted(ALLOWED))
def test_allowed_steps(start: OrderStatus, event: OrderEvent) -> None:
    status, stock, refund = ALLOWED[(start, event)]
    found = step(start, event)
    assert (found.status, found.stock, found.refund_payment) == (status, stock, refund)
    assert transition(start, event) is status


@pytest.mark.parametrize(
    ("start", "event"),
    [(s, e) for s in OrderStatus for e in OrderEvent if (s, e) not in ALLOWED],
)
def test_every_other_step_is_refused_with_invalid_state(
    start: OrderStatus, event: OrderEvent
) -> None:
    with pytest.raises(InvalidTransition) as info:
        transition(start, event)
    assert (info.value.code, info.value.status) == ("invalid_state", 409)
    assert info.value.details() == {"state": start.value, "event": event.value}
    assert start.value in info.value.message


def test_stock_comes_back_exactly_when_an_unfinished_or_paid_order_is_undone() -> None:
    releasing = {
        (s, e)
        for s in OrderStatus
        for e in OrderEvent
        if (s, e) in ALLOWED and releases_stock(s, e)
    }
    assert releasing == {
        (S.PENDING, E.DECLINE),
        (S.PENDING, E.EXPIRE),
        (S.PENDING, E.CANCEL),
        (S.PAID, E.REFUND),
        (S.PAID, E.CANCEL),
    }


def test_a_late_payment_for_an_expired_order_is_refused() -> None:
    # The service refunds that payment: the units went back on sale.
    with pytest.raises(InvalidTransition):
        transition(S.EXPIRED, E.PAY)


def test_plain_strings_work_as_status_and_event() -> None:
    # What a database row or a webhook hands over.
    assert transition("pending", "pay") is S.PAID  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(list(OrderEvent)), max_size=12))
def test_any_event_sequence_keeps_order_and_stock_in_step(events: list[OrderEvent]) -> None:
    """Apply any events an outside world may send; whenever the order accepts one, the stock
    gate accepts its effect too, and a finished order never moves again."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    pool = StockPool(3)
    reservation = pool.reserve(1, 2, "k", now, 300)
    status = S.PENDING
    payments_confirmed = 0
    for event in events:
        try:
            found = step(status, event)
        except InvalidTransition:
            continue
        assert status not in TERMINAL
        if found.stock is StockEffect.CONFIRM:
            pool.confirm(reservation.id)
            payments_confirmed += 1
        elif found.stock is StockEffect.RELEASE:
            pool.release(reservation.id)
        elif found.stock is StockEffect.RETURN:
            pool.refund(reservation.id)
        status = found.status
    assert payments_confirmed <= 1
    levels = pool.levels()
    expected_sold = 2 if status in (S.PAID, S.FULFILLED) else 0
    expected_held = 2 if status is S.PENDING else 0
    assert (levels.sold, levels.held, levels.left) == (
        expected_sold,
        expected_held,
        3 - expected_sold - expected_held,
    )
    state = pool.get(reservation.id).state
    assert (state is ReservationState.HELD) == (status is S.PENDING)


@pytest.mark.parametrize("quantity", [1, 2, MAX_QUANTITY])
def test_sensible_quantities_pass(quantity: int) -> None:
    assert check_quantity(quantity) == quantity


@pytest.mark.parametrize("quantity", [0, -1, -(10**9), MAX_QUANTITY + 1, 10**12, True, "2", 1.0])
def test_zero_negative_absurd_or_odd_quantities_are_422(quantity: object) -> None:
    with pytest.raises(InvalidQuantity) as info:
        check_quantity(quantity)  # type: ignore[arg-type]
    assert (info.value.code, info.value.status) == ("invalid_quantity", 422)
