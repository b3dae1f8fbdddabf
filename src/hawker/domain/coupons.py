"""Coupons: codes with percent or amount off, limited to a show, a brand, or both.

There is no global coupon. A discount is money that someone gives up: the brand (brand
scope) or the show's host and agency (show scope). A code that applies everywhere has no one
who agreed to fund it, and, once leaked, it would drain every merchant on the server.

A coupon may be a claimable drop: the host drops it into the stream and the first
`claim_limit` viewers to claim it may use it. Claims are counted by the service (the stock
gate does it well: a pool of `claim_limit` units, one per viewer); here only the rules.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from hawker.domain.errors import CouponInvalid, InvalidInput
from hawker.domain.money import Money, check_currency, round_amount

CODE_PATTERN = re.compile(r"[A-Z0-9-]{3,32}")
MAX_USES = 10_000_000


def normalise_code(raw: str) -> str:
    """Codes are case-insensitive and typed on phones: " save-10 " and "ＳＡＶＥ-10" are SAVE-10."""
    code = unicodedata.normalize("NFKC", raw).strip().upper()
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidInput(
            "a coupon code is 3 to 32 characters of A-Z, 0-9 and '-'",
            code="invalid_coupon_code",
        )
    return code


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    currency: str
    percent_off: int | None
    amount_off: Money | None
    min_spend: Money
    uses_per_buyer: int
    total_uses: int | None  # None: as many as buyers want
    show_id: int | None
    brand_id: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    claim_limit: int | None = None  # set: a drop, only for the first N who claim it

    @property
    def claimable(self) -> bool:
        return self.claim_limit is not None

    def applies_to(self, *, show_id: int, brand_id: int) -> bool:
        """Whether a line of this brand, sold in this show, gets the discount."""
        return (self.show_id is None or self.show_id == show_id) and (
            self.brand_id is None or self.brand_id == brand_id
        )

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "percent_off": self.percent_off,
            "amount_off": self.amount_off.to_json() if self.amount_off else None,
            "min_spend": self.min_spend.to_json(),
            "show_id": self.show_id,
            "brand_id": self.brand_id,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "claimable": self.claimable,
        }


@dataclass(frozen=True, slots=True)
class CouponUsage:
    """What the store knows when a buyer uses a coupon."""

    used_by_buyer: int = 0  # orders of this buyer that used it (paid or pending)
    used_total: int = 0
    claimed: bool = False  # for a drop: this buyer is among the first N


def new_coupon(
    *,
    code: str,
    currency: str,
    percent_off: int | None = None,
    amount_off: Money | None = None,
    min_spend: Money | None = None,
    uses_per_buyer: int = 1,
    total_uses: int | None = None,
    show_id: int | None = None,
    brand_id: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    claim_limit: int | None = None,
    now: datetime,
) -> Coupon:
    """Check the terms a host or merchant asks for and make the coupon."""
    check_currency(currency)
    if (percent_off is None) == (amount_off is None):
        raise InvalidInput(
            "a coupon takes either a percent or an amount off, not both",
            code="invalid_coupon_discount",
        )
    if percent_off is not None and (not _whole(percent_off) or not 1 <= percent_off <= 100):
        raise InvalidInput("percent off is 1 to 100", code="invalid_coupon_discount")
    if amount_off is not None and (amount_off.currency != currency or amount_off.amount <= 0):
        raise InvalidInput(
            f"the amount off is more than 0 {currency}", code="invalid_coupon_discount"
        )
    spend = min_spend if min_spend is not None else Money.of(0, currency)
    if spend.currency != currency:
        raise InvalidInput(f"the minimum spend is in {currency}", code="invalid_coupon_min_spend")
    if not _whole(uses_per_buyer) or not 1 <= uses_per_buyer <= MAX_USES:
        raise InvalidInput("uses per buyer is at least 1", code="invalid_coupon_uses")
    if total_uses is not None and (not _whole(total_uses) or not 1 <= total_uses <= MAX_USES):
        raise InvalidInput("total uses is at least 1", code="invalid_coupon_uses")
    if show_id is None and brand_id is None:
        raise InvalidInput(
            "a coupon is limited to a show or a brand: someone has to fund the discount",
            code="invalid_coupon_scope",
        )
    if claim_limit is not None:
        if show_id is None:
            raise InvalidInput(
                "a claimable coupon is dropped into one show", code="invalid_coupon_scope"
            )
        if not _whole(claim_limit) or not 1 <= claim_limit <= MAX_USES:
            raise InvalidInput("a drop is for at least 1 viewer", code="invalid_coupon_claims")
    if ends_at is not None:
        if ends_at <= now:
            raise InvalidInput("the coupon would end in the past", code="invalid_coupon_window")
        if starts_at is not None and starts_at >= ends_at:
            raise InvalidInput("a coupon must start before it ends", code="invalid_coupon_window")
    return Coupon(
        code=normalise_code(code),
        currency=currency,
        percent_off=percent_off,
        amount_off=amount_off,
        min_spend=spend,
        uses_per_buyer=uses_per_buyer,
        total_uses=total_uses,
        show_id=show_id,
        brand_id=brand_id,
        starts_at=starts_at,
        ends_at=ends_at,
        claim_limit=claim_limit,
    )


def check_claim(coupon: Coupon, *, now: datetime, claims: int, already_claimed: bool) -> None:
    """May this viewer claim this drop? A second claim by the same viewer is harmless (the
    service answers it with the first), so it is not an error."""
    if not coupon.claimable:
        raise CouponInvalid("this coupon is not claimed, just used", code="coupon_not_claimable")
    _check_window(coupon, now)
    if already_claimed:
        return
    assert coupon.claim_limit is not None
    if claims >= coupon.claim_limit:
        raise CouponInvalid("all of these coupons have been claimed", code="coupon_all_claimed")


def check_coupon(
    coupon: Coupon,
    *,
    currency: str,
    show_id: int,
    eligible_subtotal: Money | None,
    now: datetime,
    usage: CouponUsage,
) -> None:
    """Whether the buyer may use the coupon on a cart; `eligible_subtotal` is the sum of the
    lines it applies to (None: no line does). Raises CouponInvalid with the reason."""
    _check_window(coupon, now)
    if currency != coupon.currency or (coupon.show_id is not None and coupon.show_id != show_id):
        raise CouponInvalid("this coupon is not for this show", code="coupon_not_applicable")
    if eligible_subtotal is None:
        raise CouponInvalid(
            "this coupon does not apply to anything in your cart", code="coupon_not_applicable"
        )
    if coupon.claimable and not usage.claimed:
        raise CouponInvalid(
            "claim this coupon in the show before you use it", code="coupon_not_claimed"
        )
    if usage.used_by_buyer >= coupon.uses_per_buyer:
        raise CouponInvalid("you have already used this coupon", code="coupon_already_used")
    if coupon.total_uses is not None and usage.used_total >= coupon.total_uses:
        raise CouponInvalid("this coupon has been used up", code="coupon_used_up")
    if eligible_subtotal.amount < coupon.min_spend.amount:
        raise CouponInvalid(
            f"spend at least {coupon.min_spend} on eligible items to use this coupon",
            code="coupon_min_spend",
        )


def discount(coupon: Coupon, eligible_subtotal: Money) -> Money:
    """The amount off: percent rounded half up to the currency's minor unit, and never more
    than what the coupon applies to (an amount off a cheaper cart takes it to zero)."""
    if eligible_subtotal.currency != coupon.currency:
        raise CouponInvalid("this coupon is not for this show", code="coupon_not_applicable")
    if coupon.percent_off is not None:
        raw = eligible_subtotal.amount * Decimal(coupon.percent_off) / Decimal(100)
        off = round_amount(raw, eligible_subtotal.currency)
    else:
        assert coupon.amount_off is not None
        off = coupon.amount_off.amount
    return Money(min(off, eligible_subtotal.amount), eligible_subtotal.currency)


def _check_window(coupon: Coupon, now: datetime) -> None:
    if coupon.starts_at is not None and now < coupon.starts_at:
        raise CouponInvalid("this coupon is not valid yet", code="coupon_not_started")
    if coupon.ends_at is not None and now >= coupon.ends_at:
        raise CouponInvalid("this coupon has expired", code="coupon_expired")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
