"""Orders: the quantity a line may hold and the order status machine.

    pending --pay--> paid --fulfil--> fulfilled
    pending --decline | cancel--> cancelled
    pending --expire--> expired
    paid --refund--> refunded
    paid --cancel--> cancelled  (the merchant cancels a paid order: the buyer is refunded)

Every step also says what happens to the units the order holds in the stock gate, so the
service that applies an event cannot forget to move the stock with it. A payment that
arrives for an order that already expired is an `InvalidTransition`: its units went back on
sale, so the service refunds that payment instead of selling stock it no longer holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hawker.domain.errors import InvalidQuantity, InvalidTransition

# Per line. More than this of one item in one order is a typo or a reseller's script, and
# a cap keeps every total far from the largest amount that money accepts.
MAX_QUANTITY = 99


def check_quantity(quantity: int) -> int:
    # bool is an int in Python; `True` units of lipstick is a client bug, not a quantity.
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidQuantity("the quantity must be a whole number")
    if quantity < 1:
        raise InvalidQuantity("the quantity must be at least 1")
    if quantity > MAX_QUANTITY:
        raise InvalidQuantity(f"at most {MAX_QUANTITY} of one item per order")
    return quantity


class OrderStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class OrderEvent(StrEnum):
    PAY = "pay"  # the provider confirmed the payment
    DECLINE = "decline"  # the provider refused the payment
    EXPIRE = "expire"  # the stock hold ran out before the payment came
    CANCEL = "cancel"  # the buyer (pending) or the merchant (pending or paid) cancels
    REFUND = "refund"  # the merchant refunds a paid order
    FULFIL = "fulfil"  # the merchant ships it


class StockEffect(StrEnum):
    """What a step does to the order's units, in the stock gate's words."""

    NONE = "none"
    CONFIRM = "confirm"  # held -> sold
    RELEASE = "release"  # held -> left (a hold that ends unpaid)
    RETURN = "return"  # sold -> left (a paid order undone)


@dataclass(frozen=True, slots=True)
class Step:
    status: OrderStatus
    stock: StockEffect
    # The money goes back to the buyer: a paid order that is cancelled or refunded.
    refund_payment: bool = False

    @property
    def releases_stock(self) -> bool:
        return self.stock in (StockEffect.RELEASE, StockEffect.RETURN)


_S, _E, _K = OrderStatus, OrderEvent, StockEffect
TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], Step] = {
    (_S.PENDING, _E.PAY): Step(_S.PAID, _K.CONFIRM),
    (_S.PENDING, _E.DECLINE): Step(_S.CANCELLED, _K.RELEASE),
    (_S.PENDING, _E.EXPIRE): Step(_S.EXPIRED, _K.RELEASE),
    (_S.PENDING, _E.CANCEL): Step(_S.CANCELLED, _K.RELEASE),
    (_S.PAID, _E.FULFIL): Step(_S.FULFILLED, _K.NONE),
    (_S.PAID, _E.REFUND): Step(_S.REFUNDED, _K.RETURN, refund_payment=True),
    (_S.PAID, _E.CANCEL): Step(_S.CANCELLED, _K.RETURN, refund_payment=True),
}

TERMINAL: frozenset[OrderStatus] = frozenset({_S.FULFILLED, _S.CANCELLED, _S.EXPIRED, _S.REFUNDED})


def step(status: OrderStatus, event: OrderEvent) -> Step:
    """The step that `event` takes from `status`, or InvalidTransition (409 `invalid_state`)."""
    found = TRANSITIONS.get((OrderStatus(status), OrderEvent(event)))
    if found is None:
        raise InvalidTransition(
            f"a {OrderStatus(status).value} order cannot {OrderEvent(event).value}",
            state=OrderStatus(status).value,
            event=OrderEvent(event).value,
        )
    return found


def transition(status: OrderStatus, event: OrderEvent) -> OrderStatus:
    return step(status, event).status


def releases_stock(status: OrderStatus, event: OrderEvent) -> bool:
    return step(status, event).releases_stock
