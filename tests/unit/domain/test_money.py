from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.errors import InvalidInput
from hawker.domain.money import CURRENCIES, MAX_AMOUNT, Money, exponent, round_amount

amounts = st.decimals(min_value=0, max_value=MAX_AMOUNT - 1, places=6, allow_nan=False)
currencies = st.sampled_from(sorted(CURRENCIES))


@pytest.mark.parametrize(
    ("raw", "currency", "expected"),
    [
        ("2.345", "USD", "2.35"),  # half up, not banker's rounding
        ("2.344", "USD", "2.34"),
        ("0.125", "EUR", "0.13"),
        ("12.9", "USD", "12.90"),
        ("1234.5", "JPY", "1235"),
        ("1234.49", "JPY", "1234"),
        ("0.5", "KRW", "1"),
        ("1.2345", "KWD", "1.235"),
        ("1.2344", "KWD", "1.234"),
        ("7", "KWD", "7.000"),
        (12, "USD", "12.00"),
        (Decimal("0.005"), "USD", "0.01"),
    ],
)
def test_rounds_half_up_to_the_currency_minor_unit(
    raw: str | int | Decimal, currency: str, expected: str
) -> None:
    money = Money.of(raw, currency)
    assert money.to_json() == {"amount": expected, "currency": currency}


def test_exponents_follow_iso_4217() -> None:
    assert (exponent("JPY"), exponent("KWD"), exponent("USD")) == (0, 3, 2)


@pytest.mark.parametrize(
    "raw",
    ["-0.01", "-1", "NaN", "sNaN", "Infinity", "-Infinity", "1e9", "1000000000", "abc", "", "1,5"],
)
def test_refuses_what_is_not_a_price(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Money.of(raw, "USD")
    assert info.value.code == "invalid_amount"


def test_refuses_floats() -> None:
    with pytest.raises(InvalidInput):
        Money.of(12.9, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "USDD", "XXX", "", "US$", " USD"])
def test_refuses_unknown_currencies(currency: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Money.of("1", currency)
    assert info.value.code == "invalid_currency"


def test_negative_zero_is_plain_zero() -> None:
    assert Money.of("-0", "USD").to_json()["amount"] == "0.00"
    assert Money.of("-0.000", "JPY").to_json()["amount"] == "0"


@given(amounts, currencies)
def test_rounding_moves_at_most_half_a_minor_unit(value: Decimal, currency: str) -> None:
    money = Money.of(value, currency)
    quantum = Decimal(1).scaleb(-exponent(currency))
    assert money.amount.as_tuple().exponent == -exponent(currency)
    assert abs(money.amount - value) <= quantum / 2
    assert money.amount == round_amount(money.amount, currency)


@given(amounts, currencies)
def test_minor_units_round_trip(value: Decimal, currency: str) -> None:
    money = Money.of(value, currency)
    assert isinstance(money.minor, int)
    assert Money.from_minor(money.minor, currency) == money
    assert Money.of(money.to_json()["amount"], currency) == money


@given(st.integers(min_value=0, max_value=10**12), currencies)
def test_from_minor_is_exact(minor: int, currency: str) -> None:
    assert Money.from_minor(minor, currency).minor == minor


@given(amounts, amounts, currencies)
def test_sums_stay_exact(a: Decimal, b: Decimal, currency: str) -> None:
    x, y = Money.of(a, currency), Money.of(b, currency)
    assert (x + y).minor == x.minor + y.minor
    assert x.times(3).minor == 3 * x.minor


def test_mixing_currencies_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        _ = Money.of("1", "USD") + Money.of("1", "EUR")
    assert info.value.code == "currency_mismatch"
