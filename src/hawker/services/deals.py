"""Flash deals: a host puts N units of one variant on sale at a deal price, for a while,
at most L per buyer. The units are carved out of the variant's stock when the deal is made
and what did not sell goes back when it ends, so the two pools never sell one unit twice.

Every worker ticks the deals; the one whose conditional update wins announces a change,
so the room hears each start, sell-out and end once.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from hawker.domain import deals as rules
from hawker.domain.errors import Conflict, NotFound
from hawker.domain.money import Money
from hawker.domain.roles import Action, Actor
from hawker.live import events
from hawker.services import stock
from hawker.services.accounts import utcnow
from hawker.services.checkout import _deal_rule, access_item
from hawker.services.context import Context, on_camera
from hawker.services.shows import LIVE, access_show_for
from hawker.services.stream import stream_at
from hawker.store.tables import Deal, Listing, Variant


@on_camera
async def do_start_deal(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    listing_id: int,
    variant_id: int | None,
    price: Decimal | str,
    quantity: int,
    per_buyer_limit: int,
    duration_seconds: int,
    countdown_seconds: int = 0,
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        if show.status != LIVE:
            raise Conflict("flash deals run while the show is on air", code="show_not_live")
        item = await access_item(s, show_id, listing_id, variant_id)
        if item.deal is not None:
            raise Conflict(
                f"#{item.listing.position} already has a deal; end it first", code="deal_exists"
            )
        listing_price = Money.from_minor(item.listing.price_minor, item.listing.currency)
        rule = rules.new_deal(
            listing_id=listing_id,
            listing_price=listing_price,
            price=Money.of(price, show.currency),
            quantity=quantity,
            per_buyer_limit=per_buyer_limit,
            duration_seconds=duration_seconds,
            countdown_seconds=countdown_seconds,
            now=utcnow(),
        )
        variant_id = item.variant.id
    # Carve the units out of the variant first: the gate refuses atomically if fewer are
    # left than the deal wants, whatever buyers do meanwhile.
    await stock.adjust(ctx, stock.variant_pool(variant_id), -quantity)
    try:
        async with ctx.db.session() as s:
            await s.execute(
                update(Variant)
                .where(Variant.id == variant_id)
                .values(stock=Variant.stock - quantity)
            )
            deal = Deal(
                show_id=show_id,
                listing_id=listing_id,
                variant_id=variant_id,
                price_minor=rule.price.minor,
                currency=rule.price.currency,
                quantity=quantity,
                per_buyer_limit=per_buyer_limit,
                starts_at=rule.starts_at,
                ends_at=rule.ends_at,
                status=rules.deal_status(rule, utcnow(), quantity).value,
                created_at=utcnow(),
            )
            s.add(deal)
            await s.commit()
    except BaseException:
        await stock.adjust(ctx, stock.variant_pool(variant_id), quantity)
        raise
    data = await deal_json(ctx, deal)
    await ctx.bus.publish(
        show_id, events.DEAL_UPDATED, {"deal": data, "stream_at": stream_at(ctx, show_id)}
    )
    return data


@on_camera
async def do_end_deal(ctx: Context, actor: Actor, show_id: int, deal_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        deal = await s.get(Deal, deal_id)
        if deal is None or deal.show_id != show_id:
            raise NotFound(f"no deal {deal_id} in show {show_id}", code="deal_not_found")
        ended = rules.end_deal(_deal_rule(deal), utcnow())
        deal.starts_at, deal.ends_at = ended.starts_at, ended.ends_at
        await s.commit()
    await tick_one(ctx, deal_id)
    async with ctx.db.session() as s:
        deal = await s.get(Deal, deal_id)
        assert deal is not None
    return await deal_json(ctx, deal)


async def end_all(ctx: Context, show_id: int) -> None:
    """The show is over: every deal still open ends now, and its unsold units go back."""
    now = utcnow()
    async with ctx.db.session() as s:
        open_deals = (
            await s.scalars(select(Deal).where(Deal.show_id == show_id, Deal.closed_at.is_(None)))
        ).all()
        for deal in open_deals:
            ended = rules.end_deal(_deal_rule(deal), now)
            deal.starts_at, deal.ends_at = ended.starts_at, ended.ends_at
        await s.commit()
    for deal in open_deals:
        await tick_one(ctx, deal.id)


async def list_deals(ctx: Context, show_id: int, *, open_only: bool = True) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        query = select(Deal).where(Deal.show_id == show_id).order_by(Deal.id)
        if open_only:
            query = query.where(Deal.closed_at.is_(None))
        rows = (await s.scalars(query)).all()
    return [await deal_json(ctx, d) for d in rows]


async def deal_json(ctx: Context, deal: Deal, left: int | None = None) -> dict[str, Any]:
    if left is None:
        left = (
            0
            if deal.closed_at is not None
            else (await stock.levels(ctx, stock.deal_pool(deal.id))).left
        )
    async with ctx.db.session() as s:
        listing = await s.get(Listing, deal.listing_id)
        variant = await s.get(Variant, deal.variant_id)
    rule = _deal_rule(deal)
    now = utcnow()
    status = (
        rules.deal_status(rule, now, left).value
        if deal.closed_at is None
        else ("sold_out" if deal.status == "sold_out" else "ended")
    )
    return {
        "id": deal.id,
        "listing_id": deal.listing_id,
        "number": listing.position if listing else None,
        "variant": {"id": deal.variant_id, "name": variant.name if variant else ""},
        "price": rule.price.to_json(),
        "list_price": Money.from_minor(listing.price_minor, listing.currency).to_json()
        if listing
        else None,
        "quantity": deal.quantity,
        "left": left,
        "per_buyer_limit": deal.per_buyer_limit,
        "starts_at": rule.starts_at.isoformat(),
        "ends_at": rule.ends_at.isoformat(),
        "status": status,
        # The client counts down against this, not against its own (possibly wrong) clock.
        "server_time": now.isoformat(),
    }


async def announce(ctx: Context, deal: Deal, left: int) -> None:
    """Tell the room when the deal's status changed; only the worker that records it does."""
    if deal.closed_at is not None:
        return
    status = rules.deal_status(_deal_rule(deal), utcnow(), left).value
    if status == deal.status:
        return
    async with ctx.db.session() as s:
        won = await s.execute(
            update(Deal).where(Deal.id == deal.id, Deal.status == deal.status).values(status=status)
        )
        await s.commit()
    if won.rowcount:  # type: ignore[attr-defined]
        deal.status = status
        await ctx.bus.publish(
            deal.show_id, events.DEAL_UPDATED, {"deal": await deal_json(ctx, deal, left)}
        )


async def _close(ctx: Context, deal: Deal) -> None:
    """After the end: the units not sold and not held go back to the variant. Holds that are
    released later come back to the deal's pool and are moved on the next tick."""
    pool = stock.deal_pool(deal.id)
    left = (await stock.levels(ctx, pool)).left
    if deal.closed_at is None:
        async with ctx.db.session() as s:
            won = await s.execute(
                update(Deal)
                .where(Deal.id == deal.id, Deal.closed_at.is_(None))
                .values(closed_at=utcnow())
            )
            await s.commit()
        if not won.rowcount:  # type: ignore[attr-defined]
            return
        deal.closed_at = utcnow()
    if left <= 0:
        return
    await stock.adjust(ctx, pool, -left)
    async with ctx.db.session() as s:
        await s.execute(
            update(Deal).where(Deal.id == deal.id).values(quantity=Deal.quantity - left)
        )
        await s.execute(
            update(Variant).where(Variant.id == deal.variant_id).values(stock=Variant.stock + left)
        )
        await s.commit()
    await stock.adjust(ctx, stock.variant_pool(deal.variant_id), left, ledger_written=True)
    ctx.mark_stock(deal.show_id, stock.variant_pool(deal.variant_id))


async def tick_one(ctx: Context, deal_id: int) -> None:
    async with ctx.db.session() as s:
        deal = await s.get(Deal, deal_id)
    if deal is None:
        return
    left = (await stock.levels(ctx, stock.deal_pool(deal.id))).left
    await announce(ctx, deal, left)
    if deal.closed_at is None and deal.ends_at <= utcnow():
        if deal.status != "sold_out":
            await announce(ctx, deal, left)
        await _close(ctx, deal)
        await ctx.bus.publish(
            deal.show_id, events.DEAL_UPDATED, {"deal": await deal_json(ctx, deal, 0)}
        )


async def tick(ctx: Context) -> None:
    """Start, sell out and end deals on time, on every worker."""
    horizon = utcnow()
    async with ctx.db.session() as s:
        ids = (await s.scalars(select(Deal.id).where(Deal.closed_at.is_(None)))).all()
        # Deals closed within the hold time may still get units back from unpaid holds.
        recent = (
            await s.scalars(
                select(Deal.id).where(
                    Deal.closed_at.is_not(None),
                    Deal.closed_at >= horizon - _hold(ctx),
                )
            )
        ).all()
    for deal_id in ids:
        await tick_one(ctx, deal_id)
    for deal_id in recent:
        async with ctx.db.session() as s:
            deal = await s.get(Deal, deal_id)
        if deal is not None:
            await _close(ctx, deal)


def _hold(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.settings.hold_seconds + 60)
