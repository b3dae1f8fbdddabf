from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.coupons import (
    Coupon,
    CouponUsage,
    check_claim,
    check_coupon,
    discount,
    new_coupon,
    normalise_code,
)
from hawker.domain.errors import CouponInvalid, InvalidInput
from hawker.domain.money import CURRENCIES, Money, exponent, round_amount

NOW = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
USD = "USD"


def usd(amount: str) -> Money:
    return Money.of(amount, USD)


def make(**overrides: Any) -> Coupon:
    args: dict[str, Any] = {
        "code": "save10",
        "currency": USD,
        "percent_off": 10,
        "show_id": 1,
        "now": NOW,
    }
    args.update(overrides)
    return new_coupon(**args)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("save10", "SAVE10"),
        ("  Save-10 ", "SAVE-10"),
        ("ＳＡＶＥ１０", "SAVE10"),  # a phone keyboard in full-width mode
        ("abc", "ABC"),
        ("A" * 32, "A" * 32),
    ],
)
def test_codes_are_case_insensitive_and_tidy(raw: str, code: str) -> None:
    assert normalise_code(raw) == code


@pytest.mark.parametrize(
    "raw", ["", "ab", "A" * 33, "SAVE 10", "SAVE_10", "ÄBC", "SAVE10!", "<b>x</b>", "1\n2\n3"]
)
def test_malformed_codes_are_422(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_code(raw)
    assert (info.value.code, info.value.status) == ("invalid_coupon_code", 422)


@given(st.from_regex(r"[A-Za-z0-9-]{3,32}", fullmatch=True))
def test_normalising_is_idempotent_and_ignores_case(raw: str) -> None:
    code = normalise_code(raw)
    assert normalise_code(code) == code == normalise_code(raw.swapcase())


def test_a_coupon_is_made_with_its_normalised_code_and_sane_defaults() -> None:
    coupon = make(code=" live-now ")
    assert coupon.code == "LIVE-NOW"
    assert coupon.min_spend == usd("0")
    assert (coupon.uses_per_buyer, coupon.total_uses, coupon.claimable) == (1, None, False)
    assert coupon.to_json()["percent_off"] == 10


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"amount_off": usd("5")}, "invalid_coupon_discount"),  # both percent and amount
        ({"percent_off": None}, "invalid_coupon_discount"),  # neither
        ({"percent_off": 0}, "invalid_coupon_discount"),
        ({"percent_off": 101}, "invalid_coupon_discount"),
        ({"percent_off": None, "amount_off": usd("0")}, "invalid_coupon_discount"),
        ({"percent_off": None, "amount_off": Money.of("5", "EUR")}, "invalid_coupon_discount"),
        ({"min_spend": Money.of("5", "EUR")}, "invalid_coupon_min_spend"),
        ({"uses_per_buyer": 0}, "invalid_coupon_uses"),
        ({"total_uses": 0}, "invalid_coupon_uses"),
        ({"show_id": None}, "invalid_coupon_scope"),  # global: nobody funds it
        ({"show_id": None, "brand_id": 3, "claim_limit": 10}, "invalid_coupon_scope"),
        ({"claim_limit": 0}, "invalid_coupon_claims"),
        ({"ends_at": NOW}, "invalid_coupon_window"),
        (
            {"starts_at": NOW + timedelta(hours=2), "ends_at": NOW + timedelta(hours=1)},
            "invalid_coupon_window",
        ),
        ({"currency": "usd"}, "invalid_currency"),
        ({"code": "x"}, "invalid_coupon_code"),
    ],
)
def test_terms_that_make_no_sense_are_refused(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        make(**overrides)
    assert (info.value.code, info.value.status) == (code, 422)


def test_scope_show_brand_or_both() -> None:
    show = make(show_id=1)
    brand = make(show_id=None, brand_id=3)
    both = make(show_id=1, brand_id=3)
    assert show.applies_to(show_id=1, brand_id=99) and not show.applies_to(show_id=2, brand_id=3)
    assert brand.applies_to(show_id=5, brand_id=3) and not brand.applies_to(show_id=5, brand_id=4)
    assert both.applies_to(show_id=1, brand_id=3)
    assert not both.applies_to(show_id=1, brand_id=4)
    assert not both.applies_to(show_id=2, brand_id=3)


def check(
    coupon: Coupon,
    subtotal: str | None = "50",
    *,
    show_id: int = 1,
    currency: str = USD,
    now: datetime = NOW,
    **usage: Any,
) -> None:
    check_coupon(
        coupon,
        currency=currency,
        show_id=show_id,
        eligible_subtotal=None if subtotal is None else Money.of(subtotal, currency),
        now=now,
        usage=CouponUsage(**usage),
    )


def reason(coupon: Coupon, subtotal: str | None = "50", **kwargs: Any) -> str:
    with pytest.raises(CouponInvalid) as info:
        check(coupon, subtotal, **kwargs)
    assert info.value.status == 409
    return info.value.code


def test_a_coupon_that_applies_passes() -> None:
    check(
        make(min_spend=usd("50"), uses_per_buyer=2, total_uses=10),
        "50",
        used_by_buyer=1,
        used_total=9,
    )


def test_each_reason_a_coupon_does_not_apply() -> None:
    window = make(starts_at=NOW + timedelta(minutes=5), ends_at=NOW + timedelta(hours=1))
    assert reason(window) == "coupon_not_started"
    assert reason(window, now=NOW + timedelta(hours=1)) == "coupon_expired"
    check(window, now=NOW + timedelta(minutes=5))
    assert reason(make(), show_id=2) == "coupon_not_applicable"
    assert reason(make(), currency="EUR") == "coupon_not_applicable"
    assert reason(make(), None) == "coupon_not_applicable"
    assert reason(make(uses_per_buyer=2), used_by_buyer=2) == "coupon_already_used"
    assert reason(make(total_uses=100), used_total=100) == "coupon_used_up"
    assert reason(make(min_spend=usd("50.01")), "50") == "coupon_min_spend"
    drop = make(claim_limit=20)
    assert reason(drop) == "coupon_not_claimed"
    check(drop, claimed=True)


def test_a_brand_coupon_works_in_any_show_of_its_currency() -> None:
    check(make(show_id=None, brand_id=3), show_id=42)


def test_claiming_a_drop() -> None:
    drop = make(claim_limit=2, ends_at=NOW + timedelta(minutes=10))
    check_claim(drop, now=NOW, claims=1, already_claimed=False)
    with pytest.raises(CouponInvalid) as gone:
        check_claim(drop, now=NOW, claims=2, already_claimed=False)
    assert gone.value.code == "coupon_all_claimed"
    # Claiming twice is not an error: the viewer keeps the first claim.
    check_claim(drop, now=NOW, claims=2, already_claimed=True)
    with pytest.raises(CouponInvalid) as late:
        check_claim(drop, now=NOW + timedelta(minutes=10), claims=0, already_claimed=False)
    assert late.value.code == "coupon_expired"
    with pytest.raises(CouponInvalid) as plain:
        check_claim(make(), now=NOW, claims=0, already_claimed=False)
    assert plain.value.code == "coupon_not_claimable"


@pytest.mark.parametrize(
    ("currency", "percent", "subtotal", "off"),
    [
        ("USD", 10, "49.99", "5.00"),  # 4.999 rounds half up
        ("USD", 15, "0.10", "0.02"),  # 0.015 -> 0.02, half up
        ("USD", 15, "0.09", "0.01"),  # 0.0135
        ("JPY", 15, "999", "150"),  # 149.85
        ("JPY", 33, "10", "3"),  # 3.3
        ("KWD", 7, "1.000", "0.070"),
        ("USD", 100, "12.34", "12.34"),
        ("USD", 50, "0.00", "0.00"),
    ],
)
def test_percent_off_rounds_half_up_per_currency(
    currency: str, percent: int, subtotal: str, off: str
) -> None:
    coupon = make(currency=currency, percent_off=percent)
    got = discount(coupon, Money.of(subtotal, currency))
    assert got.to_json() == {"amount": off, "currency": currency}


def test_amount_off_never_takes_more_than_the_eligible_items_cost() -> None:
    coupon = make(percent_off=None, amount_off=usd("20"))
    assert discount(coupon, usd("50")) == usd("20")
    assert discount(coupon, usd("12.50")) == usd("12.50")


currencies = st.sampled_from(sorted(CURRENCIES))


@st.composite
def coupons_and_subtotals(draw: st.DrawFn) -> tuple[Coupon, Money]:
    currency = draw(currencies)
    minor = draw(st.integers(0, 10**11))
    subtotal = Money.from_minor(minor, currency)
    if draw(st.booleans()):
        coupon = make(currency=currency, percent_off=draw(st.integers(1, 100)))
    else:
        off = Money.from_minor(draw(st.integers(1, 10**11)), currency)
        coupon = make(currency=currency, percent_off=None, amount_off=off)
    return coupon, subtotal


@given(coupons_and_subtotals())
def test_discount_is_on_the_minor_unit_and_within_the_eligible_subtotal(
    case: tuple[Coupon, Money],
) -> None:
    coupon, subtotal = case
    off = discount(coupon, subtotal)
    assert off.currency == subtotal.currency
    assert Decimal(0) <= off.amount <= subtotal.amount
    assert off.amount == round_amount(off.amount, off.currency)
    assert off.amount.as_tuple().exponent == -exponent(off.currency)
    if coupon.percent_off is not None:
        exact = subtotal.amount * coupon.percent_off / 100
        assert abs(off.amount - exact) <= Decimal(1).scaleb(-exponent(off.currency)) / 2
    else:
        assert coupon.amount_off is not None
        assert off.amount == min(coupon.amount_off.amount, subtotal.amount)


@given(
    spend=st.integers(0, 10_000),
    subtotal=st.integers(0, 10_000),
    per_buyer=st.integers(1, 5),
    used=st.integers(0, 6),
    total=st.none() | st.integers(1, 50),
    used_total=st.integers(0, 60),
)
def test_a_coupon_applies_exactly_when_every_rule_holds(
    spend: int, subtotal: int, per_buyer: int, used: int, total: int | None, used_total: int
) -> None:
    coupon = make(
        min_spend=Money.from_minor(spend, USD), uses_per_buyer=per_buyer, total_uses=total
    )
    expected = subtotal >= spend and used < per_buyer and (total is None or used_total < total)
    try:
        check_coupon(
            coupon,
            currency=USD,
            show_id=1,
            eligible_subtotal=Money.from_minor(subtotal, USD),
            now=NOW,
            usage=CouponUsage(used_by_buyer=used, used_total=used_total),
        )
    except CouponInvalid:
        assert not expected
    else:
        assert expected
