"""Commission lines and settlements: who gets what of each paid order, to the minor unit.

Every paid order of a show booked under a contract gets one line per party: the host's
share, the agency's share (when the contract is with an agency) and the brand's share. A
refund adds the same lines negated, dated at the refund, so a settlement that is already
closed stays as it was and the reversal lands in the next one.

Rounding (the rule every figure follows):
- all amounts are whole minor units of the order's currency (cents, yen, fils);
- host = round_half_even(total × host%), commission = round_half_even(total × (host% +
  agency%)), agency = commission − host, brand = total − commission.

Because rounding is monotonic, 0 ≤ host ≤ commission ≤ total, so no line is negative and
host + agency + brand == total exactly: no minor unit is lost or invented. Each party's line
is within one minor unit of its exact share; the brand takes what rounding leaves.

An order charged in another currency than the brand's has a second total, in the brand's
currency (converted once, at the order's rate). That total is cut by the same rule, so the
lines add up exactly in both currencies: the charged one (what the buyer paid) and the
brand's (what the brand settles in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from hawker.domain.errors import Conflict, InvalidInput
from hawker.domain.money import Money

HUNDRED = Decimal(100)


class Party(StrEnum):
    HOST = "host"
    AGENCY = "agency"
    BRAND = "brand"


class LineKind(StrEnum):
    SALE = "sale"  # a paid order
    REFUND = "refund"  # that order refunded (or a paid order cancelled): the sale negated
    FEE = "fee"  # the contract's fixed fee


@dataclass(frozen=True, slots=True)
class Split:
    """An order total cut into shares, in minor units."""

    host: int
    agency: int
    brand: int

    @property
    def total(self) -> int:
        return self.host + self.agency + self.brand


def _share_of(total_minor: int, percent: Decimal) -> int:
    exact = Decimal(total_minor) * percent / HUNDRED
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def split(total_minor: int, host_share: Decimal, agency_share: Decimal) -> Split:
    """Cut a paid total (minor units, ≥ 0) by the shares in percent (their sum ≤ 100)."""
    if total_minor < 0:
        raise ValueError("a paid total is never negative")
    if host_share < 0 or agency_share < 0 or host_share + agency_share > HUNDRED:
        raise ValueError("shares are 0 to 100% together")
    host = _share_of(total_minor, host_share)
    commission = _share_of(total_minor, host_share + agency_share)
    return Split(host=host, agency=commission - host, brand=total_minor - commission)


@dataclass(frozen=True, slots=True)
class Line:
    """One party's amount of one order (or of a fee). Amounts are minor units; a refund's
    base and amount are negative."""

    party: Party
    kind: LineKind
    base_minor: int  # what the buyer paid (the fee itself, for a fee)
    share: Decimal  # the party's percent (the brand's is what is left)
    amount_minor: int
    currency: str
    at: datetime
    order_id: int | None = None
    # For an order charged in another currency than the brand's: its rate and this line in
    # the brand's currency. None: the line is in the brand's currency already.
    rate: Decimal | None = None
    brand_currency: str | None = None
    brand_base_minor: int | None = None
    brand_amount_minor: int | None = None

    def in_brand_currency(self) -> Line:
        """The line as the brand settles it."""
        if self.brand_currency is None:
            return self
        return replace(
            self,
            currency=self.brand_currency,
            base_minor=self.brand_base_minor or 0,
            amount_minor=self.brand_amount_minor or 0,
            rate=None,
            brand_currency=None,
            brand_base_minor=None,
            brand_amount_minor=None,
        )


@dataclass(frozen=True, slots=True)
class BrandTotal:
    """An order's total in the brand's currency, converted at `rate`."""

    total_minor: int
    currency: str
    rate: Decimal


def sale_lines(
    *,
    order_id: int,
    total_minor: int,
    currency: str,
    host_share: Decimal,
    agency_share: Decimal,
    with_agency: bool,
    at: datetime,
    brand: BrandTotal | None = None,
) -> list[Line]:
    """The lines of a paid order. No rate in force is a rate of 0%: the lines still say that
    the order sold under the contract, with the brand keeping all of it. `brand`: the
    order's total in the brand's currency, when it was charged in another one."""
    if not with_agency and agency_share:
        raise ValueError("no agency, no agency share")
    cut = split(total_minor, host_share, agency_share)
    brand_cut = split(brand.total_minor, host_share, agency_share) if brand else None

    def line(party: Party, share: Decimal, amount: int, brand_amount: int | None) -> Line:
        plain = Line(party, LineKind.SALE, total_minor, share, amount, currency, at, order_id)
        if brand is None:
            return plain
        return replace(
            plain,
            rate=brand.rate,
            brand_currency=brand.currency,
            brand_base_minor=brand.total_minor,
            brand_amount_minor=brand_amount,
        )

    lines = [line(Party.HOST, host_share, cut.host, brand_cut.host if brand_cut else None)]
    if with_agency:
        lines.append(
            line(Party.AGENCY, agency_share, cut.agency, brand_cut.agency if brand_cut else None)
        )
    brand_share = HUNDRED - host_share - agency_share
    lines.append(line(Party.BRAND, brand_share, cut.brand, brand_cut.brand if brand_cut else None))
    return lines


def reversal(sale: Iterable[Line], at: datetime) -> list[Line]:
    """The lines that undo a sale exactly: the same amounts negated, dated at the refund."""
    return [
        replace(
            line,
            kind=LineKind.REFUND,
            base_minor=-line.base_minor,
            amount_minor=-line.amount_minor,
            brand_base_minor=_negated(line.brand_base_minor),
            brand_amount_minor=_negated(line.brand_amount_minor),
            at=at,
        )
        for line in sale
        if line.kind is LineKind.SALE
    ]


def _negated(minor: int | None) -> int | None:
    return None if minor is None else -minor


def fee_line(fee: Money, party: Party, at: datetime) -> Line:
    return Line(party, LineKind.FEE, fee.minor, Decimal(0), fee.minor, fee.currency, at)


@dataclass
class Totals:
    """A settlement's sums in one currency, in minor units."""

    currency: str
    sales: int = 0  # what buyers paid, less refunds, for the orders in the lines
    host: int = 0
    agency: int = 0
    brand: int = 0
    fees: int = 0
    orders: set[int] = field(default_factory=set)

    def to_json(self) -> dict[str, object]:
        def money(minor: int) -> dict[str, str]:
            return Money.from_minor(minor, self.currency).to_json()

        return {
            "currency": self.currency,
            "orders": len(self.orders),
            "sales": money(self.sales),
            "host": money(self.host),
            "agency": money(self.agency),
            "brand": money(self.brand),
            "fees": money(self.fees),
        }


def totals(lines: Iterable[Line]) -> list[Totals]:
    """Sums per currency (sorted by currency). `sales` counts each order's base once per
    kind, however many parties' lines of it there are."""
    by_currency: dict[str, Totals] = {}
    counted: set[tuple[int, LineKind]] = set()
    for line in lines:
        t = by_currency.setdefault(line.currency, Totals(line.currency))
        if line.kind is LineKind.FEE:
            t.fees += line.amount_minor
            continue
        if line.order_id is not None and (line.order_id, line.kind) not in counted:
            counted.add((line.order_id, line.kind))
            t.sales += line.base_minor
            t.orders.add(line.order_id)
        if line.party is Party.HOST:
            t.host += line.amount_minor
        elif line.party is Party.AGENCY:
            t.agency += line.amount_minor
        else:
            t.brand += line.amount_minor
    return [by_currency[c] for c in sorted(by_currency)]


# -- settlements ------------------------------------------------------------------------


def check_period_end(end: datetime, *, now: datetime, last_end: datetime | None) -> datetime:
    """A settlement closes a period that is over (its end is not in the future) and that
    starts where the last one ended."""
    if end > now:
        raise InvalidInput(
            "a settlement closes a period that is over; its end cannot be in the future",
            code="period_not_over",
        )
    if last_end is not None and end <= last_end:
        raise Conflict(
            f"the period up to {last_end.isoformat()} is already settled",
            code="period_already_settled",
        )
    return end
