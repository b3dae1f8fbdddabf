"""Money: Decimal amounts in an ISO 4217 currency, rounded per currency. No float, ever."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from hawker.domain.errors import InvalidInput

# Minor-unit exponents (ISO 4217). Currencies not listed have two decimals.
_EXPONENTS: dict[str, int] = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}

# The currencies Hawker accepts. A typo ("USDD", "usd ") must not become a price.
CURRENCIES: frozenset[str] = frozenset(
    {
        "AED",
        "ARS",
        "AUD",
        "BDT",
        "BHD",
        "BRL",
        "CAD",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CZK",
        "DKK",
        "EGP",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "ISK",
        "JOD",
        "JPY",
        "KES",
        "KRW",
        "KWD",
        "MXN",
        "MYR",
        "NGN",
        "NOK",
        "NZD",
        "OMR",
        "PEN",
        "PHP",
        "PKR",
        "PLN",
        "QAR",
        "RON",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TND",
        "TRY",
        "TWD",
        "UAH",
        "USD",
        "VND",
        "ZAR",
    }
)

# Large enough for any real price, small enough that minor units fit a 64-bit column.
MAX_AMOUNT = Decimal("1000000000")


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def check_currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise InvalidInput(f"unknown currency {currency!r}", code="invalid_currency")
    return currency


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Parse and round an amount. Refuses floats, NaN, infinities and absurd values."""
        if isinstance(amount, float):  # pragma: no cover - guarded by types, kept for callers
            raise InvalidInput("money must not be a float", code="invalid_amount")
        check_currency(currency)
        try:
            value = Decimal(amount)
        except (InvalidOperation, ValueError) as exc:
            raise InvalidInput(f"not an amount: {amount!r}", code="invalid_amount") from exc
        if not value.is_finite():
            raise InvalidInput("amount must be a finite number", code="invalid_amount")
        if value < 0:
            raise InvalidInput("amount must not be negative", code="invalid_amount")
        if value >= MAX_AMOUNT:
            raise InvalidInput("amount is too large", code="invalid_amount")
        # "-0" is not negative, but it must not show up as a price of "-0.00".
        return cls(round_amount(abs(value), currency), currency)

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(minor).scaleb(-exponent(currency)), currency)

    @property
    def minor(self) -> int:
        """The amount in minor units (cents), exact."""
        return int(self.amount.scaleb(exponent(self.currency)))

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidInput(
                f"cannot mix {self.currency} and {other.currency}", code="currency_mismatch"
            )

    def to_json(self) -> dict[str, str]:
        return {"amount": format(self.amount, "f"), "currency": self.currency}

    def __str__(self) -> str:
        return f"{format(self.amount, ',f')} {self.currency}"


def round_amount(value: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit (2.345 USD -> 2.35, 1234.5 JPY -> 1235)."""
    quantum = Decimal(1).scaleb(-exponent(currency))
    return value.quantize(quantum, rounding=ROUND_HALF_UP)
