"""Contracts: what a brand agrees with an agency (or with a host directly).

A contract names the products it covers (a set of the brand's products, or all of them),
the commission rates and when each is in force, and a fixed fee if there is one. A rate
gives the host a share and the agency a share of what a buyer paid, in percent with at most
two decimals; the brand keeps the rest. A rate is for one product, for one category, or for
every product of the contract; the most specific rate in force at the moment of payment is
the one that counts.

Periods are half-open, [starts_at, ends_at): a contract that ends at midnight and the next
one that starts at midnight do not overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from hawker.domain.errors import Conflict, InvalidInput
from hawker.domain.money import Money

HUNDRED = Decimal(100)
# Shares are kept as basis points (1% = 100): whole numbers, exact in every database.
BASIS_POINTS = 10_000
MAX_RATES = 200
MAX_PRODUCTS = 1000
CATEGORY_LENGTH = 60
# Dates outside these are typos (0202 for 2026) or attempts to overflow date arithmetic.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class ContractStatus(StrEnum):
    OFFERED = "offered"  # the brand proposed it; the agency (or host) has not answered
    ACTIVE = "active"  # accepted: shows may be booked under it
    DECLINED = "declined"


class ProductNotInContract(Conflict):
    code = "product_not_in_contract"
    status = 409


class ShowOutsideContract(InvalidInput):
    code = "show_outside_contract"
    status = 422


def check_moment(value: datetime, what: str) -> datetime:
    """An aware moment between 2000 and 2100, in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"give {what} with a time zone (…Z or +08:00)", code="invalid_time")
    if not EARLIEST <= value < LATEST:
        raise InvalidInput(f"{what} is between 2000 and 2100", code="invalid_time")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    starts_at: datetime
    ends_at: datetime

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at

    def overlaps(self, other: Period) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at

    def within(self, other: Period) -> bool:
        return other.starts_at <= self.starts_at and self.ends_at <= other.ends_at


def check_period(starts_at: datetime, ends_at: datetime, what: str = "the contract") -> Period:
    start = check_moment(starts_at, f"the start of {what}")
    end = check_moment(ends_at, f"the end of {what}")
    if end <= start:
        raise InvalidInput(f"{what} must end after it starts", code="invalid_period")
    return Period(start, end)


def parse_share(value: Decimal | str | int, what: str) -> Decimal:
    """A share in percent, 0 to 100, with at most two decimals ("12.5" is 12.5%)."""
    if isinstance(value, (bool, float)):
        raise InvalidInput(f'{what} is a decimal string such as "12.5"', code="invalid_share")
    try:
        share = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(f"{what} is not a number: {value!r}", code="invalid_share") from exc
    if not share.is_finite() or share < 0 or share > HUNDRED:
        raise InvalidInput(f"{what} is a percentage from 0 to 100", code="invalid_share")
    if share != share.quantize(Decimal("0.01")):
        raise InvalidInput(f"{what} has at most two decimals", code="invalid_share")
    return share.quantize(Decimal("0.01"))


def to_basis_points(share: Decimal) -> int:
    return int(share * 100)


def from_basis_points(bp: int) -> Decimal:
    return (Decimal(bp) / 100).quantize(Decimal("0.01"))


def normalise_category(raw: str) -> str:
    """Categories match whatever their case and spacing: " Lip  Gloss" is "lip gloss"."""
    category = " ".join(raw.split()).casefold()
    if len(category) > CATEGORY_LENGTH:
        raise InvalidInput(
            f"a category has at most {CATEGORY_LENGTH} characters", code="invalid_category"
        )
    return category


class Scope(StrEnum):
    PRODUCT = "product"
    CATEGORY = "category"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Rate:
    period: Period
    host_share: Decimal
    agency_share: Decimal
    product_id: int | None = None
    category: str | None = None

    @property
    def scope(self) -> Scope:
        if self.product_id is not None:
            return Scope.PRODUCT
        if self.category is not None:
            return Scope.CATEGORY
        return Scope.ALL

    @property
    def target(self) -> tuple[Scope, int | str | None]:
        return self.scope, self.product_id if self.product_id is not None else self.category

    def to_json(self) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "category": self.category,
            "host_share": format(self.host_share, "f"),
            "agency_share": format(self.agency_share, "f"),
            "starts_at": self.period.starts_at.isoformat(),
            "ends_at": self.period.ends_at.isoformat(),
        }


# What a rate is for, from the most specific to the least.
_PRECEDENCE = {Scope.PRODUCT: 0, Scope.CATEGORY: 1, Scope.ALL: 2}


@dataclass(frozen=True, slots=True)
class Terms:
    """A contract's terms. Exactly one of `agency_id` and `host_id` is set."""

    brand_id: int
    agency_id: int | None
    host_id: int | None
    product_ids: frozenset[int] | None  # None: every product of the brand
    period: Period
    rates: tuple[Rate, ...]
    fixed_fee: Money | None = None

    @property
    def with_agency(self) -> bool:
        return self.agency_id is not None

    def covers(self, product_id: int) -> bool:
        return self.product_ids is None or product_id in self.product_ids


def check_terms(terms: Terms, brand_products: Mapping[int, str]) -> Terms:
    """Refuse terms that cannot work. `brand_products` maps the brand's product ids to their
    categories."""
    if (terms.agency_id is None) == (terms.host_id is None):
        raise InvalidInput(
            "a contract is with an agency or with a host, one of the two",
            code="contract_party_required",
        )
    if terms.product_ids is not None:
        if not terms.product_ids:
            raise InvalidInput(
                "name the products, or leave them out for all of the brand's",
                code="no_products",
            )
        if len(terms.product_ids) > MAX_PRODUCTS:
            raise InvalidInput(f"at most {MAX_PRODUCTS} products", code="too_many_products")
        foreign = sorted(terms.product_ids - set(brand_products))
        if foreign:
            raise InvalidInput(
                f"products {foreign} are not the brand's", code="products_not_of_brand"
            )
    if not terms.rates:
        raise InvalidInput("a contract needs at least one rate", code="rates_required")
    if len(terms.rates) > MAX_RATES:
        raise InvalidInput(f"at most {MAX_RATES} rates", code="too_many_rates")
    for rate in terms.rates:
        _check_rate(terms, rate)
    for i, rate in enumerate(terms.rates):
        for other in terms.rates[i + 1 :]:
            if rate.target == other.target and rate.period.overlaps(other.period):
                raise InvalidInput(
                    f"two rates for {_describe(rate)} overlap in time", code="rates_overlap"
                )
    return terms


def _check_rate(terms: Terms, rate: Rate) -> None:
    if rate.host_share + rate.agency_share > HUNDRED:
        raise InvalidInput(
            f"the host's {rate.host_share}% and the agency's {rate.agency_share}% "
            f"come to more than 100%",
            code="shares_over_100",
        )
    if not terms.with_agency and rate.agency_share:
        raise InvalidInput(
            "a contract with a host directly has no agency share",
            code="agency_share_without_agency",
        )
    if not rate.period.within(terms.period):
        raise InvalidInput(
            f"the rate for {_describe(rate)} runs outside the contract's dates",
            code="rate_outside_contract",
        )
    if rate.product_id is not None and rate.category is not None:
        raise InvalidInput(
            "a rate is for a product or for a category, not both", code="invalid_rate_scope"
        )
    if rate.product_id is not None and not terms.covers(rate.product_id):
        raise InvalidInput(
            f"product {rate.product_id} has a rate but is not in the contract",
            code="rate_product_not_in_contract",
        )
    if rate.category is not None and not rate.category:
        raise InvalidInput("a category rate needs a category", code="invalid_category")


def _describe(rate: Rate) -> str:
    if rate.product_id is not None:
        return f"product {rate.product_id}"
    if rate.category is not None:
        return f"category {rate.category!r}"
    return "all products"


def overlap(a: Terms, b: Terms) -> bool:
    """Whether two contracts would both cover one sale: the same brand and the same agency
    or host, dates that overlap, and at least one product in common."""
    if (a.brand_id, a.agency_id, a.host_id) != (b.brand_id, b.agency_id, b.host_id):
        return False
    if not a.period.overlaps(b.period):
        return False
    if a.product_ids is None or b.product_ids is None:
        return True
    return bool(a.product_ids & b.product_ids)


def check_no_overlap(terms: Terms, others: Iterable[tuple[int, Terms]]) -> None:
    for other_id, other in others:
        if overlap(terms, other):
            raise Conflict(
                f"contract {other_id} already covers some of these products in these dates",
                code="contracts_overlap",
            )


def rate_for(terms: Terms, product_id: int, category: str, at: datetime) -> Rate | None:
    """The rate that counts for a sale of `product_id` at `at`: the most specific one in
    force (product, then category, then all), or None if no rate is in force."""
    if not terms.covers(product_id):
        return None
    found = [
        rate
        for rate in terms.rates
        if rate.period.contains(at)
        and (
            rate.scope is Scope.ALL
            or rate.product_id == product_id
            or (rate.scope is Scope.CATEGORY and category and rate.category == category)
        )
    ]
    return min(found, key=lambda rate: _PRECEDENCE[rate.scope], default=None)


def check_show_date(terms: Terms, scheduled_at: datetime) -> None:
    if not terms.period.contains(scheduled_at):
        raise ShowOutsideContract(
            f"the show is at {scheduled_at.isoformat()}, outside the contract "
            f"({terms.period.starts_at.isoformat()} to {terms.period.ends_at.isoformat()})"
        )


def check_product(terms: Terms, product_id: int, brand_id: int) -> None:
    """A show under a contract sells only the contract's products."""
    if brand_id != terms.brand_id or not terms.covers(product_id):
        raise ProductNotInContract(
            f"product {product_id} is not in this show's contract; its shelf holds only "
            "the contract's products"
        )
