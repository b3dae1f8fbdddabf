"""Flash deals: a lower price on a listing for a few units, a short time, a few per buyer.

    scheduled --starts_at--> running --left == 0--> sold_out
                                     --ends_at----> ended

The status is never stored: it is a pure function of the deal, the clock and the units
left, so every process and every viewer that knows those three agrees on it, and a deal
ends by itself when its time is up. Units come back when a hold expires or an order is
refunded, so a sold-out deal that has time left runs again: "N left" is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hawker.domain.errors import DealNotRunning, InvalidInput, SoldOut
from hawker.domain.money import Money

MIN_DURATION_SECONDS = 10
MAX_DURATION_SECONDS = 24 * 3600
MAX_COUNTDOWN_SECONDS = 10 * 60
# A deal's units are held in one pool; a million is beyond any real flash sale.
MAX_DEAL_QUANTITY = 1_000_000


class DealStatus(StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SOLD_OUT = "sold_out"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Deal:
    listing_id: int
    price: Money
    quantity: int
    per_buyer_limit: int
    # Buying opens at starts_at; before it, viewers see the countdown.
    starts_at: datetime
    ends_at: datetime

    def status(self, now: datetime, left: int) -> DealStatus:
        return deal_status(self, now, left)

    def seconds_to_start(self, now: datetime) -> int:
        return max(0, _ceil_seconds(self.starts_at - now))

    def seconds_to_end(self, now: datetime) -> int:
        return max(0, _ceil_seconds(self.ends_at - now))


def _ceil_seconds(delta: timedelta) -> int:
    # A countdown shows 1 until the very end, never 0 while the deal has not opened.
    whole, rest = divmod(delta, timedelta(seconds=1))
    return int(whole) + (1 if rest else 0)


def deal_status(deal: Deal, now: datetime, left: int) -> DealStatus:
    if now < deal.starts_at:
        return DealStatus.SCHEDULED
    # Sold out wins over ended: "sold out" is the more useful thing to tell a viewer who
    # comes back after the end.
    if left <= 0:
        return DealStatus.SOLD_OUT
    if now >= deal.ends_at:
        return DealStatus.ENDED
    return DealStatus.RUNNING


def check_deal_running(deal: Deal, now: datetime, left: int) -> None:
    """Raise DealNotRunning (scheduled or ended) or SoldOut unless the deal takes orders."""
    status = deal_status(deal, now, left)
    if status is DealStatus.RUNNING:
        return
    if status is DealStatus.SCHEDULED:
        raise DealNotRunning(f"the deal starts in {deal.seconds_to_start(now)} s")
    if status is DealStatus.SOLD_OUT:
        raise SoldOut("the deal is sold out", left=0)
    raise DealNotRunning("the deal has ended")


def deal_price(deal: Deal | None, now: datetime, left: int) -> Money | None:
    """The price a line gets from this deal now: the deal price while it runs, else None."""
    if deal is None or deal_status(deal, now, left) is not DealStatus.RUNNING:
        return None
    return deal.price


def new_deal(
    *,
    listing_id: int,
    listing_price: Money,
    price: Money,
    quantity: int,
    per_buyer_limit: int,
    duration_seconds: int,
    countdown_seconds: int = 0,
    now: datetime,
) -> Deal:
    """Check what a host asks for and make the deal; it opens after the countdown."""
    if price.currency != listing_price.currency:
        raise InvalidInput(
            f"the deal price must be in {listing_price.currency}", code="invalid_deal_price"
        )
    if not 0 < price.amount < listing_price.amount:
        raise InvalidInput(
            f"the deal price must be above 0 and below the listing price ({listing_price})",
            code="invalid_deal_price",
        )
    if not _whole(quantity) or not 1 <= quantity <= MAX_DEAL_QUANTITY:
        raise InvalidInput(
            f"a deal has 1 to {MAX_DEAL_QUANTITY} units", code="invalid_deal_quantity"
        )
    if not _whole(per_buyer_limit) or not 1 <= per_buyer_limit <= quantity:
        raise InvalidInput(
            "the limit per buyer is at least 1 and at most the deal's units",
            code="invalid_deal_limit",
        )
    if not _whole(duration_seconds) or not (
        MIN_DURATION_SECONDS <= duration_seconds <= MAX_DURATION_SECONDS
    ):
        raise InvalidInput(
            f"a deal lasts {MIN_DURATION_SECONDS} s to {MAX_DURATION_SECONDS // 3600} h",
            code="invalid_deal_duration",
        )
    if not _whole(countdown_seconds) or not 0 <= countdown_seconds <= MAX_COUNTDOWN_SECONDS:
        raise InvalidInput(
            f"a countdown is 0 to {MAX_COUNTDOWN_SECONDS // 60} minutes",
            code="invalid_deal_countdown",
        )
    starts_at = now + timedelta(seconds=countdown_seconds)
    return Deal(
        listing_id=listing_id,
        price=price,
        quantity=quantity,
        per_buyer_limit=per_buyer_limit,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(seconds=duration_seconds),
    )


def end_deal(deal: Deal, now: datetime) -> Deal:
    """The host stops a deal early. A deal that has not opened yet never opens."""
    if now >= deal.ends_at:
        return deal
    if now < deal.starts_at:
        return replace(deal, starts_at=now, ends_at=now)
    return replace(deal, ends_at=now)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
