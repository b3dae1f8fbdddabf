"""Coupons: codes with percent or amount off for a show or a brand, and claimable drops
(the host drops a coupon into the stream; the first N viewers to claim it get it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hawker.domain import coupons as rules
from hawker.domain.errors import Conflict, CouponInvalid, InvalidInput, NotFound
from hawker.domain.money import Money
from hawker.domain.roles import Action, Actor, check_brand_staff, check_signed_in
from hawker.live import events
from hawker.services import stock
from hawker.services.accounts import utcnow
from hawker.services.checkout import coupon_rule
from hawker.services.context import Context
from hawker.services.shows import access_show_for
from hawker.store.tables import Brand, Coupon, CouponClaim


async def do_create_coupon(
    ctx: Context,
    actor: Actor,
    *,
    code: str,
    percent_off: int | None = None,
    amount_off: Decimal | str | None = None,
    min_spend: Decimal | str | None = None,
    uses_per_buyer: int = 1,
    total_uses: int | None = None,
    show_id: int | None = None,
    brand_id: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    claim_limit: int | None = None,
) -> dict[str, Any]:
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        if show_id is not None:
            show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
            currency = show.currency
        elif brand_id is not None:
            check_brand_staff(actor, brand_id)
            brand = await s.get(Brand, brand_id)
            if brand is None:
                raise NotFound(f"no brand {brand_id}", code="brand_not_found")
            currency = brand.currency
        else:
            raise InvalidInput("a coupon is for a show or a brand", code="coupon_scope_required")
        if brand_id is not None and show_id is not None:
            check_brand_staff(actor, brand_id)
        rule = rules.new_coupon(
            code=code,
            currency=currency,
            percent_off=percent_off,
            amount_off=Money.of(amount_off, currency) if amount_off is not None else None,
            min_spend=Money.of(min_spend, currency) if min_spend is not None else None,
            uses_per_buyer=uses_per_buyer,
            total_uses=total_uses,
            show_id=show_id,
            brand_id=brand_id,
            starts_at=starts_at,
            ends_at=ends_at,
            claim_limit=claim_limit,
            now=utcnow(),
        )
        taken = await s.scalar(
            select(Coupon.id).where(
                Coupon.code == rule.code,
                Coupon.show_id.is_(show_id) if show_id is None else Coupon.show_id == show_id,
                Coupon.brand_id.is_(brand_id) if brand_id is None else Coupon.brand_id == brand_id,
            )
        )
        if taken is not None:
            raise Conflict(f"coupon {rule.code} exists here already", code="coupon_exists")
        coupon = Coupon(
            code=rule.code,
            currency=currency,
            percent_off=rule.percent_off,
            amount_off_minor=rule.amount_off.minor if rule.amount_off else None,
            min_spend_minor=rule.min_spend.minor if rule.min_spend.amount else None,
            uses_per_buyer=rule.uses_per_buyer,
            total_uses=rule.total_uses,
            show_id=show_id,
            brand_id=brand_id,
            starts_at=rule.starts_at,
            ends_at=rule.ends_at,
            claim_limit=rule.claim_limit,
            created_by=user_id,
            created_at=utcnow(),
        )
        s.add(coupon)
        await s.commit()
    return await coupon_json(ctx, coupon)


async def coupon_json(ctx: Context, coupon: Coupon) -> dict[str, Any]:
    out: dict[str, Any] = {"id": coupon.id, **coupon_rule(coupon).to_json()}
    out["total_uses"] = coupon.total_uses
    out["uses_per_buyer"] = coupon.uses_per_buyer
    out["claim_limit"] = coupon.claim_limit
    out["dropped"] = coupon.dropped_at is not None
    if coupon.claim_limit is not None and coupon.dropped_at is not None:
        out["claims_left"] = (await stock.levels(ctx, stock.claim_pool(coupon.id))).left
    return out


async def list_show_coupons(ctx: Context, actor: Actor, show_id: int) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        rows = (
            await s.scalars(select(Coupon).where(Coupon.show_id == show_id).order_by(Coupon.id))
        ).all()
    return [await coupon_json(ctx, c) for c in rows]


async def dropped_coupons(ctx: Context, show_id: int) -> list[dict[str, Any]]:
    """The drops viewers of this show can still claim."""
    async with ctx.db.session() as s:
        rows = (
            await s.scalars(
                select(Coupon)
                .where(Coupon.show_id == show_id, Coupon.dropped_at.is_not(None))
                .order_by(Coupon.id)
            )
        ).all()
    now = utcnow()
    out = []
    for coupon in rows:
        ends = coupon.ends_at
        if ends is not None and ends <= now:
            continue
        out.append(await coupon_json(ctx, coupon))
    return out


async def do_drop(ctx: Context, actor: Actor, show_id: int, coupon_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        coupon = await s.get(Coupon, coupon_id)
        if coupon is None or coupon.show_id != show_id:
            raise NotFound(f"no coupon {coupon_id} in show {show_id}", code="coupon_not_found")
        if coupon.claim_limit is None:
            raise Conflict(
                "only a coupon with a claim limit can be dropped", code="coupon_not_claimable"
            )
        if coupon.dropped_at is None:
            coupon.dropped_at = utcnow()
            await s.commit()
    data = await coupon_json(ctx, coupon)
    await ctx.bus.publish(show_id, events.COUPON_DROPPED, {"coupon": data})
    return data


async def do_claim(ctx: Context, actor: Actor, coupon_id: int) -> dict[str, Any]:
    """First come, first served, once each: the gate counts the claims atomically."""
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        coupon = await s.get(Coupon, coupon_id)
        if coupon is None or coupon.dropped_at is None:
            raise NotFound(f"no coupon {coupon_id} to claim", code="coupon_not_found")
        if await s.get(CouponClaim, (coupon_id, user_id)) is not None:
            return {**await coupon_json(ctx, coupon), "claimed": True}
        rule = coupon_rule(coupon)
    rules.check_claim(rule, now=utcnow(), claims=0, already_claimed=False)
    pool = stock.claim_pool(coupon_id)
    hold = await stock.reserve(ctx, pool, buyer=user_id, quantity=1, key=stock.claim_key(user_id))
    if not hold.ok:
        if hold.status == "limit_reached":
            return {**await coupon_json(ctx, coupon), "claimed": True}
        raise CouponInvalid("all of these coupons have been claimed", code="coupon_all_claimed")
    try:
        async with ctx.db.session() as s:
            s.add(CouponClaim(coupon_id=coupon_id, user_id=user_id, claimed_at=utcnow()))
            await s.commit()
    except BaseException:
        await stock.settle(ctx, pool, hold.reservation_id, "release")
        raise
    await stock.settle(ctx, pool, hold.reservation_id, "confirm")
    if coupon.show_id is not None:
        ctx.mark_stock(coupon.show_id, pool)
    return {**await coupon_json(ctx, coupon), "claimed": True}
