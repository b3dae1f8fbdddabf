from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from hawker.domain.coupons import Coupon, CouponUsage, new_coupon
from hawker.domain.errors import CouponInvalid, InvalidInput, InvalidQuantity, PriceChanged
from hawker.domain.money import CURRENCIES, Money, exponent
from hawker.domain.orders import MAX_QUANTITY
from hawker.domain.pricing import (
    MAX_LINES,
    LineInput,
    Quote,
    check_price_unchanged,
    price,
)

NOW = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
SHOW = 1


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def line(
    listing: int,
    amount: str,
    quantity: int = 1,
    *,
    brand: int = 10,
    deal: str | None = None,
    currency: str = "USD",
    variant: int | None = None,
) -> LineInput:
    return LineInput(
        listing_id=listing,
        brand_id=brand,
        listing_price=Money.of(amount, currency),
        quantity=quantity,
        variant_id=variant,
        deal_price=None if deal is None else Money.of(deal, currency),
    )


def coupon(currency: str = "USD", **terms: Any) -> Coupon:
    args: dict[str, Any] = {"code": "LIVE", "currency": currency, "show_id": SHOW, "now": NOW}
    args.update(terms)
    if "amount_off" not in args and "percent_off" not in args:
        args["percent_off"] = 10
    return new_coupon(**args)


def quote(lines: list[LineInput], currency: str = "USD", **kwargs: Any) -> Quote:
    return price(lines, show_id=SHOW, currency=currency, now=NOW, **kwargs)


def amounts(q: Quote) -> tuple[str, str, str]:
    return (str(q.subtotal.amount), str(q.discount.amount), str(q.total.amount))


def test_a_cart_with_a_deal_and_a_brand_coupon() -> None:
    cart = [
        line(1, "12.90", 2, brand=10, deal="9.90"),  # the flash deal
        line(2, "30.00", 1, brand=10),
        line(3, "8.00", 3, brand=20),  # another brand: the coupon does not touch it
    ]
    q = quote(cart, coupon=coupon(show_id=None, brand_id=10, percent_off=15))
    first, second, third = q.lines
    assert (first.unit_price, first.line_total, first.on_deal) == (usd("9.90"), usd("19.80"), True)
    assert first.list_price == usd("12.90")
    assert (second.unit_price, second.on_deal, second.coupon_applies) == (usd("30"), False, True)
    assert (third.line_total, third.coupon_applies) == (usd("24.00"), False)
    # 15 % of 49.80 = 7.47
    assert amounts(q) == ("73.80", "7.47", "66.33")
    assert q.coupon_code == "LIVE"
    assert q.to_json()["total"] == {"amount": "66.33", "currency": "USD"}


def test_yen_has_no_decimals() -> None:
    q = quote(
        [line(1, "999", 1, currency="JPY")], currency="JPY", coupon=coupon("JPY", percent_off=15)
    )
    assert amounts(q) == ("999", "150", "849")


def test_a_listing_cheaper_than_its_deal_keeps_its_own_price() -> None:
    q = quote([line(1, "8.00", 1, deal="9.90")])
    assert (q.lines[0].unit_price, q.lines[0].on_deal) == (usd("8.00"), False)


def test_an_amount_off_empties_the_cart_at_most() -> None:
    q = quote([line(1, "4.00")], coupon=coupon(percent_off=None, amount_off=usd("10")))
    assert amounts(q) == ("4.00", "4.00", "0.00")


def test_a_coupon_that_does_not_apply_is_refused_not_ignored() -> None:
    # The buyer typed it and expects money off: silence would be a surprise at the bank.
    with pytest.raises(CouponInvalid) as info:
        quote([line(1, "5")], coupon=coupon(show_id=None, brand_id=99))
    assert info.value.code == "coupon_not_applicable"
    with pytest.raises(CouponInvalid) as spend:
        quote([line(1, "5")], coupon=coupon(min_spend=usd("20")))
    assert spend.value.code == "coupon_min_spend"
    with pytest.raises(CouponInvalid) as used:
        quote([line(1, "5")], coupon=coupon(), usage=CouponUsage(used_by_buyer=1))
    assert used.value.code == "coupon_already_used"


def test_min_spend_counts_only_the_items_the_coupon_covers() -> None:
    brand_coupon = coupon(show_id=None, brand_id=10, min_spend=usd("20"))
    with pytest.raises(CouponInvalid):
        quote([line(1, "15", brand=10), line(2, "100", brand=20)], coupon=brand_coupon)
    assert quote([line(1, "10", 2, brand=10)], coupon=brand_coupon).discount == usd("2.00")


@pytest.mark.parametrize(
    ("cart", "currency", "code"),
    [
        ([], "USD", "empty_cart"),
        ([line(i, "1") for i in range(MAX_LINES + 1)], "USD", "too_many_lines"),
        ([line(1, "1"), line(1, "2")], "USD", "duplicate_line"),
        ([line(1, "1", currency="EUR")], "USD", "currency_mismatch"),
        ([line(1, "1", deal="0.5", currency="EUR")], "USD", "currency_mismatch"),
        ([line(1, "999999999", MAX_QUANTITY)], "USD", "order_too_large"),
        ([line(1, "1")], "usd", "invalid_currency"),
    ],
)
def test_carts_that_cannot_be_bought_are_422(
    cart: list[LineInput], currency: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        quote(cart, currency)
    assert (info.value.code, info.value.status) == (code, 422)


def test_two_variants_of_one_listing_are_two_lines() -> None:
    q = quote([line(1, "5", variant=1), line(1, "5", variant=2)])
    assert q.total == usd("10")


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1])
def test_bad_quantities_are_refused(quantity: int) -> None:
    with pytest.raises(InvalidQuantity) as info:
        quote([line(1, "5", quantity)])
    assert info.value.code == "invalid_quantity"


def test_a_hand_built_price_off_the_minor_unit_is_refused() -> None:
    odd = dataclasses.replace(line(1, "1"), listing_price=Money(Decimal("1.005"), "USD"))
    with pytest.raises(InvalidInput) as info:
        quote([odd])
    assert info.value.code == "invalid_amount"
    # Same value with fewer decimals is fine and comes out with the currency's decimals.
    short = dataclasses.replace(line(1, "1"), listing_price=Money(Decimal("12.9"), "USD"))
    assert quote([short]).total.to_json()["amount"] == "12.90"


def test_the_checkout_tells_the_buyer_when_the_price_moved() -> None:
    seen = quote([line(1, "12.90", 1, deal="9.90")])
    check_price_unchanged(quote([line(1, "12.90", 1, deal="9.90")]), seen.fingerprint)
    now = quote([line(1, "12.90", 1)])  # the deal ended meanwhile
    with pytest.raises(PriceChanged) as info:
        check_price_unchanged(now, seen.fingerprint)
    assert (info.value.code, info.value.status) == ("price_changed", 409)
    assert info.value.quote is now
    assert info.value.details()["quote"] == now.to_json()
    assert "12.90" in info.value.message


# ---- properties -------------------------------------------------------------------------

currencies = st.sampled_from(sorted(CURRENCIES))


@st.composite
def carts(draw: st.DrawFn) -> tuple[str, list[LineInput], Coupon | None]:
    currency = draw(currencies)
    # Up to 100,000 of the currency per unit: large carts, never past the order cap.
    prices = st.integers(0, 10 ** (5 + exponent(currency)))
    n = draw(st.integers(1, 6))
    listings = draw(st.lists(st.integers(1, 50), min_size=n, max_size=n, unique=True))
    lines = []
    for listing in listings:
        listed = draw(prices)
        deal = draw(st.none() | prices)
        lines.append(
            LineInput(
                listing_id=listing,
                brand_id=draw(st.integers(1, 3)),
                listing_price=Money.from_minor(listed, currency),
                quantity=draw(st.integers(1, MAX_QUANTITY)),
                deal_price=None if deal is None else Money.from_minor(deal, currency),
            )
        )
    the_coupon = None
    if draw(st.booleans()):
        scope = draw(st.sampled_from(["show", "brand", "both"]))
        terms: dict[str, Any] = {
            "show_id": None if scope == "brand" else SHOW,
            "brand_id": None if scope == "show" else draw(st.integers(1, 3)),
            "min_spend": Money.from_minor(
                draw(st.integers(0, 10 ** (3 + exponent(currency)))), currency
            ),
        }
        if draw(st.booleans()):
            terms["percent_off"] = draw(st.integers(1, 100))
        else:
            terms["amount_off"] = Money.from_minor(draw(prices.filter(bool)), currency)
        the_coupon = coupon(currency, **terms)
    return currency, lines, the_coupon


def on_minor_unit(money: Money) -> bool:
    return money.amount.as_tuple().exponent == -exponent(money.currency)


@given(carts())
def test_quote_arithmetic_holds_for_any_cart(
    case: tuple[str, list[LineInput], Coupon | None],
) -> None:
    currency, lines, the_coupon = case
    try:
        q = quote(lines, currency, coupon=the_coupon)
    except CouponInvalid as exc:
        assert the_coupon is not None
        eligible = [x for x in lines if the_coupon.applies_to(show_id=SHOW, brand_id=x.brand_id)]
        assert exc.code in ("coupon_not_applicable", "coupon_min_spend")
        assert not eligible or exc.code == "coupon_min_spend"
        return
    assert q.currency == currency
    assert q.total.amount == q.subtotal.amount - q.discount.amount
    assert q.total.amount >= 0
    assert q.subtotal.amount == sum((x.line_total.amount for x in q.lines), Decimal(0))
    eligible_total = sum((x.line_total.amount for x in q.lines if x.coupon_applies), Decimal(0))
    assert 0 <= q.discount.amount <= eligible_total
    if the_coupon is None:
        assert q.discount.amount == 0
    for given_line, priced in zip(lines, q.lines, strict=True):
        candidates = [given_line.listing_price.amount]
        if given_line.deal_price is not None:
            candidates.append(given_line.deal_price.amount)
        assert priced.unit_price.amount == min(candidates)
        assert priced.line_total.amount == priced.unit_price.amount * given_line.quantity
    for money in (q.subtotal, q.discount, q.total, *(x.line_total for x in q.lines)):
        assert money.currency == currency and on_minor_unit(money)


def payable(q: Quote) -> object:
    return (
        q.show_id,
        q.currency,
        q.coupon_code,
        q.discount.minor,
        sorted((x.listing_id, x.variant_id or -1, x.quantity, x.unit_price.minor) for x in q.lines),
    )


@given(carts(), st.randoms(use_true_random=False))
def test_the_fingerprint_ignores_line_order_and_repeats(
    case: tuple[str, list[LineInput], Coupon | None], rnd: random.Random
) -> None:
    currency, lines, _ = case
    q = quote(lines, currency)
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert quote(shuffled, currency).fingerprint == q.fingerprint
    assert quote(lines, currency).fingerprint == q.fingerprint


@given(carts(), st.data())
def test_the_fingerprint_changes_exactly_when_what_is_paid_changes(
    case: tuple[str, list[LineInput], Coupon | None], data: st.DataObject
) -> None:
    currency, lines, the_coupon = case
    prices = st.integers(0, 10 ** (5 + exponent(currency)))
    i = data.draw(st.integers(0, len(lines) - 1))
    target = lines[i]
    change = data.draw(st.sampled_from(["listing_price", "deal_price", "quantity", "coupon"]))
    if change == "listing_price":
        changed = dataclasses.replace(
            target, listing_price=Money.from_minor(data.draw(prices), currency)
        )
    elif change == "deal_price":
        deal = data.draw(st.none() | prices)
        changed = dataclasses.replace(
            target, deal_price=None if deal is None else Money.from_minor(deal, currency)
        )
    else:
        changed = dataclasses.replace(target, quantity=data.draw(st.integers(1, MAX_QUANTITY)))
    other = [*lines[:i], changed, *lines[i + 1 :]]
    other_coupon = None if change == "coupon" else the_coupon
    try:
        before = quote(lines, currency, coupon=the_coupon)
        after = quote(other, currency, coupon=other_coupon)
    except CouponInvalid:
        assume(False)
        return
    assert (before.fingerprint == after.fingerprint) == (payable(before) == payable(after))
    # What the buyer sees moving always moves the fingerprint.
    if before.total != after.total or before.lines[i].quantity != after.lines[i].quantity:
        assert before.fingerprint != after.fingerprint


def test_a_listing_price_hidden_by_a_running_deal_does_not_interrupt_checkout() -> None:
    seen = quote([line(1, "12.90", deal="9.90")])
    moved = quote([line(1, "14.90", deal="9.90")])
    assert moved.fingerprint == seen.fingerprint
    assert quote([line(1, "12.91")]).fingerprint != quote([line(1, "12.90")]).fingerprint
    with_coupon = quote([line(1, "12.90")], coupon=coupon())
    assert with_coupon.fingerprint != quote([line(1, "12.90")]).fingerprint
