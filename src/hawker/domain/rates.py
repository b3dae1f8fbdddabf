"""Exchange rates: a brand prices in its own currency, a show sells in its own.

A rate says what one unit of `base` is worth in `quote` (CNY -> USD 0.1380: 1 CNY is
0.138 USD). A listing of a product priced in another currency than its show's is priced at
the rate in force when its price is set, and keeps that rate; every order of it keeps it
too, so the brand's amount of an order is the charged amount converted back at the same
rate. Conversions round half-even to the target currency's minor unit, once.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from hawker.domain.errors import Conflict, InvalidInput
from hawker.domain.money import MAX_AMOUNT, Money, check_currency, exponent

# Rates are kept to 10 decimal places: enough for VND/BHD-style pairs, few enough that
# the text of a rate stays short and stable.
RATE_PLACES = 10
_RATE_QUANTUM = Decimal(1).scaleb(-RATE_PLACES)
# Between these bounds an order's total (under MAX_AMOUNT) stays a 64-bit count of minor
# units in any currency, whichever way it is converted.
MIN_RATE = Decimal("0.000001")
MAX_RATE = Decimal(1_000_000)


def check_pair(base: str, quote: str) -> tuple[str, str]:
    check_currency(base)
    check_currency(quote)
    if base == quote:
        raise InvalidInput("a rate is between two different currencies", code="invalid_rate")
    return base, quote


def check_rate(value: Decimal | str | int) -> Decimal:
    """A positive, finite rate of at most RATE_PLACES decimals (normalised: "0.1380" ->
    "0.138")."""
    if isinstance(value, float):  # pragma: no cover - guarded by types
        raise InvalidInput("a rate must not be a float", code="invalid_rate")
    try:
        rate = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"not a rate: {value!r}", code="invalid_rate") from exc
    if not rate.is_finite() or rate <= 0:
        raise InvalidInput("a rate must be a number above 0", code="invalid_rate")
    if not MIN_RATE <= rate < MAX_RATE:
        raise InvalidInput(
            f"a rate is at least {MIN_RATE} and under {MAX_RATE:,}", code="invalid_rate"
        )
    if rate != rate.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_EVEN):
        raise InvalidInput(f"a rate has at most {RATE_PLACES} decimal places", code="invalid_rate")
    rate = rate.quantize(_RATE_QUANTUM).normalize()
    # normalize() writes 100 as "1E+2"; keep the plain form.
    return rate.quantize(Decimal(1)) if rate == rate.to_integral_value() else rate


def rate_text(rate: Decimal) -> str:
    return format(rate, "f")


def no_rate(base: str, quote: str) -> Conflict:
    return Conflict(
        f"there is no exchange rate from {base} to {quote}; an admin sets one first",
        code="no_exchange_rate",
    )


def _to_minor(value: Decimal, currency: str) -> int:
    return int(value.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def convert(money: Money, rate: Decimal, to: str) -> Money:
    """`money` (in the rate's base) in `to` (its quote), half-even to `to`'s minor unit."""
    converted = Money.from_minor(_to_minor(money.amount * rate, to), to)
    if converted.amount >= MAX_AMOUNT:
        raise InvalidInput("this price is too large once converted", code="invalid_amount")
    return converted


def convert_back(minor: int, charged: str, rate: Decimal, to: str) -> int:
    """An amount charged in `charged` (the rate's quote), in minor units, back in the base
    `to`, in minor units. A negative amount (a refund) converts to exactly the negation of
    its positive."""
    sign = -1 if minor < 0 else 1
    return sign * _to_minor(Decimal(abs(minor)).scaleb(-exponent(charged)) / rate, to)
