"""The shelf: add, reorder, reprice and remove listings; pin and unpin.

Listing numbers are positions 1..N (domain/shelf.py). Positions are rewritten in one
transaction under the show's row lock, so two producers reordering at once cannot
leave two listings with one number.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import shelf as rules
from hawker.domain.errors import Conflict, InvalidInput, NotFound
from hawker.domain.money import Money
from hawker.domain.rates import convert, rate_text
from hawker.domain.roles import Action, Actor
from hawker.live import events
from hawker.services import contracts
from hawker.services.accounts import utcnow
from hawker.services.catalog import access_product, products_json
from hawker.services.context import Context, on_camera
from hawker.services.rates import rate_in_force
from hawker.services.shows import ENDED, access_show_for
from hawker.services.stream import stream_at, stream_time
from hawker.store.tables import ChatMessage, Listing, Pin, Product, Show, Stamp, Variant


async def _listings(s: AsyncSession, show_id: int) -> list[Listing]:
    return list(
        (
            await s.scalars(
                select(Listing).where(Listing.show_id == show_id).order_by(Listing.position)
            )
        ).all()
    )


async def request_counts(
    s: AsyncSession, show_id: int, listing_id: int | None = None
) -> dict[int, int]:
    """Listing id -> how many different viewers asked for it (for one listing only, if
    given)."""
    asked = (
        ChatMessage.request_listing_id.is_not(None)
        if listing_id is None
        else ChatMessage.request_listing_id == listing_id
    )
    rows = await s.execute(
        select(ChatMessage.request_listing_id, func.count(func.distinct(ChatMessage.user_id)))
        .where(ChatMessage.show_id == show_id, asked, ChatMessage.hidden.is_(False))
        .group_by(ChatMessage.request_listing_id)
    )
    # The query filters out NULL listing ids.
    return {int(listing_id or 0): int(n) for listing_id, n in rows.all()}


async def shelf_json(s: AsyncSession, show_id: int) -> list[dict[str, Any]]:
    listings = await _listings(s, show_id)
    products = {
        p["id"]: p for p in await products_json(s, list({li.product_id for li in listings}))
    }
    counts = await request_counts(s, show_id)
    return [listing_json(li, products[li.product_id], counts.get(li.id, 0)) for li in listings]


async def item_json(ctx: Context, show_id: int, listing_id: int) -> dict[str, Any] | None:
    """One listing as `shelf_json` has it, without reading the rest of the shelf; None if
    the show has no such listing. Plain reads, on a connection of their own: a pin reads
    its item while its own transaction waits for the show's lock."""
    async with ctx.db.reads() as conn, AsyncSession(bind=conn) as s:
        listing = await s.get(Listing, listing_id)
        if listing is None or listing.show_id != show_id:
            return None
        (product,) = await products_json(s, [listing.product_id])
        counts = await request_counts(s, show_id, listing_id)
        return listing_json(listing, product, counts.get(listing_id, 0))


def listing_json(listing: Listing, product: dict[str, Any], requests: int) -> dict[str, Any]:
    offered = set(listing.variant_ids or [])
    variants = [v for v in product["variants"] if not offered or v["id"] in offered]
    return {
        "id": listing.id,
        "number": listing.position,
        "price": Money.from_minor(listing.price_minor, listing.currency).to_json(),
        # 1 of the brand's currency in the show's, for a product priced in another currency.
        "rate": listing.fx_rate,
        "product": {
            "id": product["id"],
            "title": product["title"],
            "description": product["description"],
            "brand": product["brand"],
            "image": product["images"][0]["url"] if product["images"] else None,
        },
        "variants": variants,
        "in_stock": sum(v["stock"] for v in variants),
        "requests": requests,
    }


async def get_shelf(ctx: Context, show_id: int) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        from hawker.services.shows import access_show

        await access_show(s, show_id)
        return await shelf_json(s, show_id)


def _check_editable(show: Show) -> None:
    if show.status == ENDED:
        raise Conflict("the show has ended; its shelf is final", code="show_ended")


async def do_add_listing(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    product_id: int,
    price: Decimal | str | int | None = None,
    variant_ids: Sequence[int] = (),
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        _check_editable(show)
        product = await access_product(s, product_id)
        if show.contract_id is not None:
            await contracts.check_shelf_product(s, show.contract_id, product)
        variants = (await s.scalars(select(Variant).where(Variant.product_id == product.id))).all()
        if not variants:
            raise InvalidInput("the product has no variants to sell", code="no_variants")
        unknown = set(variant_ids) - {v.id for v in variants}
        if unknown:
            raise InvalidInput(
                f"variants {sorted(unknown)} are not of product {product_id}",
                code="invalid_variants",
            )
        offered = [v for v in variants if not variant_ids or v.id in variant_ids]
        brand_currency = offered[0].currency
        fx = await _exchange(s, brand_currency, show.currency)
        if price is None:
            # Default live price: the lowest regular price of the offered variants, in the
            # show's currency.
            cheapest = min(offered, key=lambda v: v.price_minor)
            live = Money.from_minor(cheapest.price_minor, brand_currency)
            if fx is not None:
                live = convert(live, fx, show.currency)
        else:
            live = Money.of(price, show.currency)
        count = len(await _listings(s, show_id))
        rules.check_room_for_listing(count)
        s.add(
            Listing(
                show_id=show_id,
                product_id=product.id,
                position=count + 1,
                price_minor=live.minor,
                currency=live.currency,
                brand_currency=brand_currency if fx is not None else None,
                fx_rate=rate_text(fx) if fx is not None else None,
                variant_ids=sorted(set(variant_ids)),
                created_at=utcnow(),
            )
        )
        await s.commit()
        shelf = await shelf_json(s, show_id)
    await notify_shelf(ctx, show_id, shelf)
    return shelf[-1]


async def _exchange(s: AsyncSession, brand_currency: str, show_currency: str) -> Decimal | None:
    """The rate from the brand's currency to the show's now; None when they are the same."""
    if brand_currency == show_currency:
        return None
    return await rate_in_force(s, brand_currency, show_currency, utcnow())


async def _renumber(s: AsyncSession, show_id: int, ordered_ids: Sequence[int]) -> None:
    # Move every listing out of the way first: (show_id, position) is unique.
    await s.execute(
        update(Listing)
        .where(Listing.show_id == show_id)
        .values(position=-Listing.position - 1000000)
    )
    for listing_id, number in rules.renumber(ordered_ids).items():
        await s.execute(update(Listing).where(Listing.id == listing_id).values(position=number))


async def do_reorder(
    ctx: Context, actor: Actor, show_id: int, listing_ids: Sequence[int]
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        _check_editable(show)
        current = [li.id for li in await _listings(s, show_id)]
        await _renumber(s, show_id, rules.reorder(current, listing_ids))
        await s.commit()
        shelf = await shelf_json(s, show_id)
    await notify_shelf(ctx, show_id, shelf)
    return shelf


async def _access_listing(s: AsyncSession, show_id: int, listing_id: int) -> Listing:
    listing = await s.get(Listing, listing_id)
    if listing is None or listing.show_id != show_id:
        raise NotFound(f"no listing {listing_id} in show {show_id}", code="listing_not_found")
    return listing


async def do_update_listing(
    ctx: Context, actor: Actor, show_id: int, listing_id: int, *, price: Decimal | str | int
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        _check_editable(show)
        listing = await _access_listing(s, show_id, listing_id)
        listing.price_minor = Money.of(price, show.currency).minor
        if listing.brand_currency is not None:
            # A new price is set at the rate in force now.
            fx = await _exchange(s, listing.brand_currency, show.currency)
            listing.fx_rate = rate_text(fx) if fx is not None else None
        await s.commit()
        shelf = await shelf_json(s, show_id)
    # A price drop is shown when the viewer's picture reaches the moment it was made.
    await notify_shelf(ctx, show_id, shelf, stream_at=stream_at(ctx, show_id))
    return next(item for item in shelf if item["id"] == listing_id)


async def do_remove_listing(
    ctx: Context, actor: Actor, show_id: int, listing_id: int
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        _check_editable(show)
        listing = await _access_listing(s, show_id, listing_id)
        was_pinned = show.pinned_listing_id == listing_id
        if was_pinned:
            show.pinned_listing_id = None
        await s.execute(
            update(ChatMessage)
            .where(ChatMessage.request_listing_id == listing_id)
            .values(request_listing_id=None)
        )
        await s.delete(listing)
        await s.flush()
        await _renumber(s, show_id, [li.id for li in await _listings(s, show_id)])
        await s.commit()
        shelf = await shelf_json(s, show_id)
    if was_pinned:
        await ctx.bus.publish(show_id, events.SHELF_UNPINNED, {"listing_id": listing_id})
    await notify_shelf(ctx, show_id, shelf)
    return shelf


@on_camera
async def do_pin(ctx: Context, actor: Actor, show_id: int, listing_id: int) -> dict[str, Any]:
    # The pin and the item it shows are read side by side: on a worker writing to a crowd,
    # each round trip waits its turn. Nothing is published unless the pin is committed.
    both: tuple[datetime | BaseException | None, dict[str, Any] | BaseException | None]
    both = await asyncio.gather(
        _pin(ctx, actor, show_id, listing_id),
        item_json(ctx, show_id, listing_id),
        return_exceptions=True,
    )
    pinned, item = both
    if isinstance(pinned, BaseException):
        raise pinned
    if isinstance(item, BaseException):
        raise item
    if item is None:  # taken off the shelf since: its removal has unpinned it
        raise NotFound(f"no listing {listing_id} in show {show_id}", code="listing_not_found")
    await ctx.bus.publish(
        show_id,
        events.SHELF_PINNED,
        {"listing": item, "stream_at": pinned.isoformat() if pinned else None},
    )
    return item


async def _pin(ctx: Context, actor: Actor, show_id: int, listing_id: int) -> datetime | None:
    """Pin the listing in the show; the moment of the stream it was pinned at. The chapter
    is written from the listing's own row, which checks that the show has it: a round trip
    fewer on the pin's way to the crowd."""
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHELF_PIN, lock=True)
        _check_editable(show)
        at = stream_time(ctx, show_id)
        chapter = (
            insert(Pin)
            .from_select(
                ["show_id", "listing_id", "number", "title", "pinned_at", "stream_at"],
                select(
                    Listing.show_id,
                    Listing.id,
                    Listing.position,
                    Product.title,
                    literal(utcnow(), Stamp),
                    literal(at, Stamp),
                )
                .join(Product, Product.id == Listing.product_id)
                .where(Listing.id == listing_id, Listing.show_id == show_id),
            )
            .returning(Pin.id)
        )
        if await s.scalar(chapter) is None:
            raise NotFound(f"no listing {listing_id} in show {show_id}", code="listing_not_found")
        show.pinned_listing_id = listing_id
        await s.commit()
    return at


@on_camera
async def do_unpin(ctx: Context, actor: Actor, show_id: int) -> None:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHELF_PIN, lock=True)
        was = show.pinned_listing_id
        show.pinned_listing_id = None
        await s.commit()
    if was is not None:
        await ctx.bus.publish(show_id, events.SHELF_UNPINNED, {"listing_id": was})


async def notify_shelf(
    ctx: Context, show_id: int, shelf: list[dict[str, Any]], *, stream_at: str | None = None
) -> None:
    # The whole shelf, not a delta: applying it twice (after a resync) is harmless.
    await ctx.bus.publish(show_id, events.SHELF_UPDATED, {"shelf": shelf, "stream_at": stream_at})
