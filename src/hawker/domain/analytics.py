"""Show figures: who may see them, and the arithmetic of the report and the charts.

No I/O here. Money is in minor units of one currency; percentages are Decimal strings with
one decimal place, never floats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from hawker.domain.errors import Forbidden, InvalidInput
from hawker.domain.roles import Actor, ShowFacts, check_signed_in, may_see_party

MINUTE = timedelta(minutes=1)
# A long marathon fits; a show left on air for days is charted for its first day.
MAX_MINUTES = 24 * 60
ONE_PLACE = Decimal("0.1")


def check_may_see_show(actor: Actor, show: ShowFacts, contract_brand_id: int | None) -> None:
    """A show's figures are the host's: the host sees them, and so do its agency's staff,
    the staff of the brand the show was booked for, and admins."""
    check_signed_in(actor)
    if actor.is_admin or actor.user_id == show.host_id or actor.agency_ids & show.host_agency_ids:
        return
    if contract_brand_id is not None and contract_brand_id in actor.brand_ids:
        return
    raise Forbidden("only the host, its agency, the show's brand or an admin may see its figures")


def check_may_see_dashboard(
    actor: Actor, party: str, party_id: int, host_agency_ids: frozenset[int] = frozenset()
) -> None:
    """Hosts see their own figures, agency staff their agency's and their hosts', brand
    staff their brand's; an admin sees all."""
    if may_see_party(actor, party, party_id, host_agency_ids):
        return
    raise Forbidden(f"only the {party} itself (or an admin) may see these figures")


def check_period(start: datetime | None, end: datetime | None) -> None:
    for moment in (start, end):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(
                "give the period's dates with a time zone (…Z or +08:00)", code="invalid_period"
            )
    if start is not None and end is not None and end <= start:
        raise InvalidInput("the period ends after it starts", code="invalid_period")


def percent(part: int, whole: int) -> str | None:
    """`part` of `whole` in percent with one decimal place; None when there is no whole."""
    if whole <= 0:
        return None
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(ONE_PLACE, rounding=ROUND_HALF_EVEN)
    return format(value, "f")


def average(values: Sequence[int]) -> str:
    """The mean with one decimal place ("0.0" for none)."""
    if not values:
        return "0.0"
    mean = Decimal(sum(values)) / Decimal(len(values))
    return format(mean.quantize(ONE_PLACE, rounding=ROUND_HALF_EVEN), "f")


def minute_of(start: datetime, moment: datetime) -> int:
    """The minute of the show (0 is the first) that `moment` falls in."""
    return max(0, int((moment - start) // MINUTE))


def minutes(start: datetime, end: datetime) -> int:
    """How many minutes the charts of a show from `start` to `end` have (at least one)."""
    return min(MAX_MINUTES, minute_of(start, end) + 1)


@dataclass(frozen=True, slots=True)
class Sale:
    at: datetime
    buyer_id: int
    total_minor: int


@dataclass(frozen=True, slots=True)
class Stay:
    """A watch session: who (None: not signed in, counted once per stay) and from when."""

    user_id: int | None
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Point:
    minute: int
    at: datetime
    viewers: int | None
    orders: int
    gmv_minor: int  # the total so far
    conversion: str | None  # buyers so far over viewers so far, in percent


def series(
    start: datetime,
    end: datetime,
    samples: Iterable[tuple[datetime, int]],
    sales: Iterable[Sale],
    stays: Iterable[Stay],
) -> list[Point]:
    """The show minute by minute: viewers (the highest sample of the minute), orders placed
    in the minute (and still paid), GMV so far and conversion so far."""
    n = minutes(start, end)
    viewers: list[int | None] = [None] * n
    for at, count in samples:
        i = minute_of(start, at)
        if i < n:
            viewers[i] = max(viewers[i] or 0, count)
    orders, gmv = [0] * n, [0] * n
    first_buy: dict[int, int] = {}
    for sale in sales:
        i = min(minute_of(start, sale.at), n - 1)
        orders[i] += 1
        gmv[i] += sale.total_minor
        first_buy[sale.buyer_id] = min(first_buy.get(sale.buyer_id, i), i)
    new_buyers = [0] * n
    for i in first_buy.values():
        new_buyers[i] += 1
    first_seen: dict[int, int] = {}
    new_viewers = [0] * n
    for stay in stays:
        i = min(minute_of(start, stay.joined_at), n - 1)
        if stay.user_id is None:
            new_viewers[i] += 1
        elif stay.user_id not in first_seen or i < first_seen[stay.user_id]:
            first_seen[stay.user_id] = i
    for i in first_seen.values():
        new_viewers[i] += 1
    out: list[Point] = []
    total = buyers = seen = 0
    for i in range(n):
        total += gmv[i]
        buyers += new_buyers[i]
        seen += new_viewers[i]
        out.append(
            Point(i, start + i * MINUTE, viewers[i], orders[i], total, percent(buyers, seen))
        )
    return out


def unique_viewers(stays: Iterable[Stay]) -> int:
    """Signed-in viewers once each, however often they came back; others once per stay."""
    users: set[int] = set()
    anonymous = 0
    for stay in stays:
        if stay.user_id is None:
            anonymous += 1
        else:
            users.add(stay.user_id)
    return len(users) + anonymous
