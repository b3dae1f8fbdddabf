"""The one pricing function: the cart's quote and the checkout's charge are the same call.

A line costs its listing price, or the deal price while a deal on that listing runs (the
caller passes `deal_price` only then). A coupon takes its discount off the lines it applies
to: those of its brand, in its show. All amounts are Decimal on the currency's minor unit;
a percent is rounded once, on the discount, half up.

The quote carries a fingerprint of what the buyer would pay. The checkout prices the cart
again and compares: a different fingerprint means the buyer saw another price, so they are
told (`PriceChanged`, with the new quote) and not charged. The fingerprint covers what is
charged, not every input: a listing price that moves while a deal price applies changes
nothing the buyer pays, so it does not interrupt the checkout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from hawker.domain.coupons import Coupon, CouponUsage, check_coupon, discount
from hawker.domain.errors import InvalidInput, PriceChanged
from hawker.domain.money import MAX_AMOUNT, Money, check_currency, round_amount
from hawker.domain.orders import check_quantity

# Lines per order; a live cart holds a few items, and this bounds the work per checkout.
MAX_LINES = 50
_FINGERPRINT_VERSION = "q1"


@dataclass(frozen=True, slots=True)
class LineInput:
    listing_id: int
    brand_id: int
    listing_price: Money
    quantity: int
    variant_id: int | None = None
    # Only while a deal on this listing runs (see deals.deal_price).
    deal_price: Money | None = None


@dataclass(frozen=True, slots=True)
class QuoteLine:
    listing_id: int
    variant_id: int | None
    brand_id: int
    quantity: int
    list_price: Money  # the listing price, shown struck through when a deal applies
    unit_price: Money
    line_total: Money
    on_deal: bool
    coupon_applies: bool

    def to_json(self) -> dict[str, object]:
        return {
            "listing_id": self.listing_id,
            "variant_id": self.variant_id,
            "quantity": self.quantity,
            "list_price": self.list_price.to_json(),
            "unit_price": self.unit_price.to_json(),
            "line_total": self.line_total.to_json(),
            "on_deal": self.on_deal,
            "coupon_applies": self.coupon_applies,
        }


@dataclass(frozen=True, slots=True)
class Quote:
    show_id: int
    currency: str
    lines: tuple[QuoteLine, ...]
    subtotal: Money
    discount: Money
    total: Money
    coupon_code: str | None
    fingerprint: str

    def to_json(self) -> dict[str, object]:
        return {
            "show_id": self.show_id,
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "subtotal": self.subtotal.to_json(),
            "discount": self.discount.to_json(),
            "total": self.total.to_json(),
            "coupon_code": self.coupon_code,
            "fingerprint": self.fingerprint,
        }


def price(
    lines: Sequence[LineInput],
    *,
    show_id: int,
    currency: str,
    now: datetime,
    coupon: Coupon | None = None,
    usage: CouponUsage | None = None,
) -> Quote:
    """Price a cart of one show. Raises InvalidInput / InvalidQuantity for a cart that cannot
    be bought as asked, CouponInvalid for a coupon that does not apply (the caller may price
    again without it)."""
    check_currency(currency)
    if not lines:
        raise InvalidInput("the cart is empty", code="empty_cart")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"at most {MAX_LINES} items per order", code="too_many_lines")
    seen: set[tuple[int, int | None]] = set()
    priced: list[QuoteLine] = []
    subtotal = eligible = Money.of(0, currency)
    any_eligible = False
    for line in lines:
        check_quantity(line.quantity)
        if (line.listing_id, line.variant_id) in seen:
            raise InvalidInput("an item is in the cart twice", code="duplicate_line")
        seen.add((line.listing_id, line.variant_id))
        listed = unit = _checked(line.listing_price, currency)
        on_deal = False
        if line.deal_price is not None:
            deal = _checked(line.deal_price, currency)
            # A listing price cut below the deal's must not turn the deal into a surcharge.
            if deal.amount <= unit.amount:
                unit, on_deal = deal, True
        applies = coupon is not None and coupon.applies_to(show_id=show_id, brand_id=line.brand_id)
        total = unit.times(line.quantity)
        priced.append(
            QuoteLine(
                listing_id=line.listing_id,
                variant_id=line.variant_id,
                brand_id=line.brand_id,
                quantity=line.quantity,
                list_price=listed,
                unit_price=unit,
                line_total=total,
                on_deal=on_deal,
                coupon_applies=applies,
            )
        )
        subtotal += total
        if applies:
            eligible += total
            any_eligible = True
    if subtotal.amount >= MAX_AMOUNT:
        raise InvalidInput("this order is too large to pay at once", code="order_too_large")
    off = Money.of(0, currency)
    if coupon is not None:
        check_coupon(
            coupon,
            currency=currency,
            show_id=show_id,
            eligible_subtotal=eligible if any_eligible else None,
            now=now,
            usage=usage if usage is not None else CouponUsage(),
        )
        off = discount(coupon, eligible)
    code = coupon.code if coupon is not None else None
    total_due = subtotal - off
    return Quote(
        show_id=show_id,
        currency=currency,
        lines=tuple(priced),
        subtotal=subtotal,
        discount=off,
        total=total_due,
        coupon_code=code,
        fingerprint=fingerprint(show_id, currency, priced, code, off),
    )


def check_price_unchanged(quote: Quote, seen_fingerprint: str) -> None:
    """At checkout: `quote` is the cart priced now, `seen_fingerprint` the one the buyer saw."""
    if quote.fingerprint != seen_fingerprint:
        raise PriceChanged(
            f"the price changed since you looked: the total is now {quote.total}", quote=quote
        )


def fingerprint(
    show_id: int,
    currency: str,
    lines: Sequence[QuoteLine],
    coupon_code: str | None,
    off: Money,
) -> str:
    """A short stable hash of what is charged. Lines are sorted: the order in which a cart
    lists its items is not a price."""
    payload = {
        "show": show_id,
        "currency": currency,
        "lines": sorted(
            # Variant ids start at 1, so -1 stands for "the listing has one variant".
            (
                line.listing_id,
                -1 if line.variant_id is None else line.variant_id,
                line.quantity,
                line.unit_price.minor,
            )
            for line in lines
        ),
        "coupon": coupon_code,
        "discount": off.minor,
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return f"{_FINGERPRINT_VERSION}-{hashlib.blake2b(encoded, digest_size=16).hexdigest()}"


def _checked(money: Money, currency: str) -> Money:
    if money.currency != currency:
        raise InvalidInput(
            f"a price in {money.currency} in a {currency} show", code="currency_mismatch"
        )
    if not money.amount.is_finite() or money.amount < 0:
        raise InvalidInput("a price must be 0 or more", code="invalid_amount")
    if money.amount != round_amount(money.amount, currency):
        # Money.of rounds; an unrounded price here was built by hand and would make totals
        # that no payment provider accepts.
        raise InvalidInput(f"{money} is not a whole number of minor units", code="invalid_amount")
    # Same value, written with the currency's decimals ("12.9" -> "12.90").
    return Money(round_amount(money.amount, currency), currency)
