"""Schedules: calendars of shows (per host, agency and brand) and the run of show of a long
show, which the host console follows and its producers adjust while on air.

A run of show is a list of segments, each at an offset from the show's start (the moment
it went live; before that, its scheduled time) or at a clock time. A segment may pin one
listing of the shelf and start a flash deal on it; the producer applies it from the console
when its time comes, through the same services as the console's own buttons (services/shelf
.py `do_pin`, services/deals.py `do_start_deal`). Every change to the run goes to the staff
of the room as one `run.updated` event holding the whole run, so applying it twice (after a
reconnect) is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import deals as deal_rules
from hawker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from hawker.domain.money import Money
from hawker.domain.roles import Action, Actor, check_signed_in, may_see_party
from hawker.live import events
from hawker.services import deals, shelf
from hawker.services.accounts import utcnow
from hawker.services.catalog import _text
from hawker.services.checkout import access_item
from hawker.services.context import Context
from hawker.services.shows import ENDED, LIVE, access_show_for, host_agencies, show_json
from hawker.store.tables import (
    Agency,
    AgencyHost,
    Brand,
    Contract,
    Listing,
    Product,
    RunSegment,
    Show,
    User,
)

PARTIES = ("host", "agency", "brand")
# A calendar is asked for a few weeks at a time; a quarter at most.
DEFAULT_SPAN = timedelta(days=35)
MAX_SPAN = timedelta(days=92)
# A marathon runs for hours, not days: a segment lies within a day of the show's start.
MAX_OFFSET_SECONDS = 24 * 3600
MAX_SEGMENTS = 200


# -- calendars ----------------------------------------------------------------------------


def check_calendar_access(
    actor: Actor, party: str, party_id: int, host_agency_ids: frozenset[int] = frozenset()
) -> None:
    """A host sees its own calendar, an agency's staff the agency's and its hosts', a
    brand's staff the brand's; an admin sees every calendar."""
    if may_see_party(actor, party, party_id, host_agency_ids):
        return
    raise Forbidden(
        {
            "host": "only the host itself, its agency or an admin may see this calendar",
            "agency": "only this agency's staff (or an admin) may see its calendar",
            "brand": "only this brand's staff (or an admin) may see its calendar",
        }[party]
    )


def moment(text: str | None) -> datetime | None:
    """A moment given as ISO 8601 text ("2026-12-01T10:00:00+08:00"), or None."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            f"{text[:40]!r} is not a date and time like 2026-12-01T10:00:00Z",
            code="invalid_time",
        ) from exc


def calendar_period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    for moment in (start, end):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(
                "give the period with a time zone (…Z or +08:00)", code="invalid_time"
            )
    if start is None:
        now = utcnow()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    if end is None:
        end = start + DEFAULT_SPAN
    if end <= start:
        raise InvalidInput("the period ends after it starts", code="invalid_period")
    if end - start > MAX_SPAN:
        raise InvalidInput(f"a calendar covers at most {MAX_SPAN.days} days", code="invalid_period")
    return start, end


async def _party_name(s: AsyncSession, party: str, party_id: int) -> str:
    if party == "host":
        user = await s.get(User, party_id)
        if user is None or not user.is_host:
            raise NotFound(f"no host {party_id}", code="host_not_found")
        return user.display_name
    if party == "agency":
        agency = await s.get(Agency, party_id)
        if agency is None:
            raise NotFound(f"no agency {party_id}", code="agency_not_found")
        return agency.name
    brand = await s.get(Brand, party_id)
    if brand is None:
        raise NotFound(f"no brand {party_id}", code="brand_not_found")
    return brand.name


def _shows_of(party: str, party_id: int) -> Any:
    """Which shows are a party's: a host's own; an agency's signed hosts' and those booked
    under its contracts; a brand's booked under its contracts or selling its products."""
    if party == "host":
        return Show.host_id == party_id
    if party == "agency":
        return or_(
            Show.host_id.in_(select(AgencyHost.host_id).where(AgencyHost.agency_id == party_id)),
            Show.contract_id.in_(select(Contract.id).where(Contract.agency_id == party_id)),
        )
    return or_(
        Show.contract_id.in_(select(Contract.id).where(Contract.brand_id == party_id)),
        Show.id.in_(
            select(Listing.show_id)
            .join(Product, Product.id == Listing.product_id)
            .where(Product.brand_id == party_id)
        ),
    )


async def calendar(
    ctx: Context,
    actor: Actor,
    party: str,
    party_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """The shows of a host, agency or brand that start (or started) in [start, end), in
    time order."""
    if party not in PARTIES:
        raise InvalidInput(f"a calendar is one of {', '.join(PARTIES)}", code="invalid_party")
    start, end = calendar_period(start, end)
    async with ctx.db.session() as s:
        agencies = await host_agencies(s, party_id) if party == "host" else frozenset()
        check_calendar_access(actor, party, party_id, agencies)
        name = await _party_name(s, party, party_id)
        moment = func.coalesce(Show.started_at, Show.scheduled_at)
        rows = (
            await s.execute(
                select(Show, User)
                .join(User, User.id == Show.host_id)
                .where(_shows_of(party, party_id), moment >= start, moment < end)
                .order_by(moment, Show.id)
                .limit(1000)
            )
        ).all()
        segments = dict(
            (
                await s.execute(
                    select(RunSegment.show_id, func.count())
                    .where(RunSegment.show_id.in_([show.id for show, _ in rows]))
                    .group_by(RunSegment.show_id)
                )
            ).all()
        )
    return {
        "party": {"kind": party, "id": party_id, "name": name},
        "from": start.isoformat(),
        "to": end.isoformat(),
        "shows": [
            {**show_json(ctx, show, host), "segments": segments.get(show.id, 0)}
            for show, host in rows
        ],
    }


# -- the run of show ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealTerms:
    price: Decimal | str
    quantity: int
    per_buyer_limit: int
    duration_seconds: int
    variant_id: int | None = None


def _base(show: Show) -> datetime:
    return show.started_at or show.scheduled_at


def starts_at(show: Show, segment: RunSegment) -> datetime:
    if segment.at is not None:
        return segment.at
    return _base(show) + timedelta(seconds=segment.offset_seconds or 0)


async def _segment_rows(s: AsyncSession, show: Show) -> list[RunSegment]:
    rows = (await s.scalars(select(RunSegment).where(RunSegment.show_id == show.id))).all()
    return sorted(rows, key=lambda seg: (starts_at(show, seg), seg.id))


async def run_json(s: AsyncSession, show: Show) -> dict[str, Any]:
    segments = await _segment_rows(s, show)
    listing_ids = {seg.listing_id for seg in segments if seg.listing_id is not None}
    labels: dict[int, dict[str, Any]] = {}
    if listing_ids:
        for listing, title in (
            await s.execute(
                select(Listing, Product.title)
                .join(Product, Product.id == Listing.product_id)
                .where(Listing.id.in_(listing_ids))
            )
        ).all():
            labels[listing.id] = {"id": listing.id, "number": listing.position, "title": title}
    now = utcnow()
    now_id = next_id = None
    if show.status == LIVE:
        for seg in segments:
            if starts_at(show, seg) <= now:
                now_id = seg.id
            elif next_id is None:
                next_id = seg.id
    elif show.status != ENDED and segments:
        next_id = segments[0].id
    return {
        "show_id": show.id,
        "status": show.status,
        "scheduled_at": show.scheduled_at.isoformat(),
        "started_at": show.started_at.isoformat() if show.started_at else None,
        "server_time": now.isoformat(),
        "now_id": now_id,
        "next_id": next_id,
        "segments": [
            _segment_json(show, seg, labels.get(seg.listing_id) if seg.listing_id else None)
            for seg in segments
        ],
    }


def _segment_json(show: Show, seg: RunSegment, listing: dict[str, Any] | None) -> dict[str, Any]:
    deal = None
    if seg.deal_price_minor is not None:
        deal = {
            "price": Money.from_minor(seg.deal_price_minor, show.currency).to_json(),
            "quantity": seg.deal_quantity,
            "per_buyer_limit": seg.deal_per_buyer_limit,
            "duration_seconds": seg.deal_duration_seconds,
            "variant_id": seg.deal_variant_id,
        }
    return {
        "id": seg.id,
        "title": seg.title,
        "offset_seconds": seg.offset_seconds,
        "at": seg.at.isoformat() if seg.at else None,
        "starts_at": starts_at(show, seg).isoformat(),
        "listing": listing,
        "pin": seg.pin,
        "deal": deal,
        "applied_at": seg.applied_at.isoformat() if seg.applied_at else None,
    }


async def get_run(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    """The run of show, for the show's staff (host, moderators, its agency, admins)."""
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_REQUESTS)
        return await run_json(s, show)


async def _check_segment(s: AsyncSession, show: Show, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check a segment's fields as a whole (new, or an existing one with changes applied)
    and return the column values."""
    title = _text(str(fields.get("title") or ""), "title", 1, 120)
    offset, at = fields.get("offset_seconds"), fields.get("at")
    if (offset is None) == (at is None):
        raise InvalidInput(
            "give a segment either offset_seconds (from the show's start) or at (a clock time)",
            code="invalid_segment_time",
        )
    if offset is not None and not 0 <= offset <= MAX_OFFSET_SECONDS:
        raise InvalidInput(
            f"a segment starts 0 to {MAX_OFFSET_SECONDS // 3600} h into the show",
            code="invalid_segment_time",
        )
    if at is not None:
        if at.tzinfo is None:
            raise InvalidInput(
                "give the segment's time with a time zone (…Z or +08:00)", code="invalid_time"
            )
        if abs(at - _base(show)) > timedelta(seconds=MAX_OFFSET_SECONDS):
            raise InvalidInput(
                "a segment's clock time lies within a day of the show's start",
                code="invalid_segment_time",
            )
    listing_id, pin, deal = fields.get("listing_id"), bool(fields.get("pin")), fields.get("deal")
    values: dict[str, Any] = {
        "title": title,
        "offset_seconds": offset,
        "at": at,
        "listing_id": listing_id,
        "pin": pin,
        "deal_variant_id": None,
        "deal_price_minor": None,
        "deal_quantity": None,
        "deal_per_buyer_limit": None,
        "deal_duration_seconds": None,
    }
    if listing_id is None:
        if pin or deal is not None:
            raise InvalidInput(
                "name the listing (listing_id) the segment pins or puts on a deal",
                code="segment_needs_listing",
            )
        return values
    listing = await s.get(Listing, listing_id)
    if listing is None or listing.show_id != show.id:
        raise InvalidInput(
            f"listing {listing_id} is not on this show's shelf", code="listing_not_on_shelf"
        )
    if deal is not None:
        terms: DealTerms = deal
        try:
            item = await access_item(s, show.id, listing.id, terms.variant_id)
        except NotFound as exc:  # a variant the listing does not offer: bad input here
            raise InvalidInput(exc.message, code=exc.code) from exc
        # The same rules as starting the deal by hand, checked now rather than on air.
        rule = deal_rules.new_deal(
            listing_id=listing.id,
            listing_price=Money.from_minor(listing.price_minor, listing.currency),
            price=Money.of(terms.price, show.currency),
            quantity=terms.quantity,
            per_buyer_limit=terms.per_buyer_limit,
            duration_seconds=terms.duration_seconds,
            now=utcnow(),
        )
        values.update(
            deal_variant_id=item.variant.id if terms.variant_id is not None else None,
            deal_price_minor=rule.price.minor,
            deal_quantity=terms.quantity,
            deal_per_buyer_limit=terms.per_buyer_limit,
            deal_duration_seconds=terms.duration_seconds,
        )
    return values


async def _producer_show(s: AsyncSession, actor: Actor, show_id: int) -> Show:
    show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
    if show.status == ENDED:
        raise Conflict("the show has ended; its run of show is closed", code="show_ended")
    return show


async def _segment(s: AsyncSession, show_id: int, segment_id: int) -> RunSegment:
    seg = await s.get(RunSegment, segment_id)
    if seg is None or seg.show_id != show_id:
        raise NotFound(f"no segment {segment_id} in show {show_id}", code="segment_not_found")
    return seg


def _fields_of(show: Show, seg: RunSegment) -> dict[str, Any]:
    deal = None
    if seg.deal_price_minor is not None:
        deal = DealTerms(
            price=Money.from_minor(seg.deal_price_minor, show.currency).amount,
            quantity=seg.deal_quantity or 0,
            per_buyer_limit=seg.deal_per_buyer_limit or 0,
            duration_seconds=seg.deal_duration_seconds or 0,
            variant_id=seg.deal_variant_id,
        )
    return {
        "title": seg.title,
        "offset_seconds": seg.offset_seconds,
        "at": seg.at,
        "listing_id": seg.listing_id,
        "pin": seg.pin,
        "deal": deal,
    }


async def do_add_segment(
    ctx: Context, actor: Actor, show_id: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Add a segment; `fields`: title, offset_seconds or at, listing_id, pin, deal
    (`DealTerms`). The host, its agency or an admin may, until the show ends."""
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        show = await _producer_show(s, actor, show_id)
        count = await s.scalar(
            select(func.count()).select_from(RunSegment).where(RunSegment.show_id == show_id)
        )
        if (count or 0) >= MAX_SEGMENTS:
            raise Conflict(
                f"a run of show has at most {MAX_SEGMENTS} segments", code="too_many_segments"
            )
        values = await _check_segment(s, show, fields)
        s.add(RunSegment(show_id=show_id, created_by=user_id, created_at=utcnow(), **values))
        await s.commit()
        run = await run_json(s, show)
    await notify_run(ctx, run)
    return run


async def do_edit_segment(
    ctx: Context, actor: Actor, show_id: int, segment_id: int, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a segment: move it (a new offset_seconds or at; giving one clears the other),
    retitle it, change what it pins or its deal (`deal` None: no deal)."""
    async with ctx.db.session() as s:
        show = await _producer_show(s, actor, show_id)
        seg = await _segment(s, show_id, segment_id)
        fields = _fields_of(show, seg)
        if "offset_seconds" in changes:
            fields["at"] = None
        if "at" in changes:
            fields["offset_seconds"] = None
        fields.update(changes)
        for name, value in (await _check_segment(s, show, fields)).items():
            setattr(seg, name, value)
        await s.commit()
        run = await run_json(s, show)
    await notify_run(ctx, run)
    return run


async def do_remove_segment(
    ctx: Context, actor: Actor, show_id: int, segment_id: int
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show = await _producer_show(s, actor, show_id)
        await s.delete(await _segment(s, show_id, segment_id))
        await s.commit()
        run = await run_json(s, show)
    await notify_run(ctx, run)
    return run


async def do_apply_segment(
    ctx: Context, actor: Actor, show_id: int, segment_id: int
) -> dict[str, Any]:
    """Carry out a segment's step now: pin its listing, start its deal. Each goes through
    the service the console's own buttons use, with its checks (a deal already running on
    the item is refused there)."""
    async with ctx.db.session() as s:
        show = await _producer_show(s, actor, show_id)
        if show.status != LIVE:
            raise Conflict("a segment is applied while the show is on air", code="show_not_live")
        seg = await _segment(s, show_id, segment_id)
        terms = _fields_of(show, seg)["deal"]
        listing_id, pin = seg.listing_id, seg.pin
    if listing_id is None and (pin or terms is not None):
        raise Conflict(
            "the segment's item is no longer on the shelf; pick another", code="listing_gone"
        )
    pinned = deal = None
    if pin and listing_id is not None:
        pinned = await shelf.do_pin(ctx, actor, show_id, listing_id)
    if terms is not None and listing_id is not None:
        deal = await deals.do_start_deal(
            ctx,
            actor,
            show_id,
            listing_id=listing_id,
            variant_id=terms.variant_id,
            price=terms.price,
            quantity=terms.quantity,
            per_buyer_limit=terms.per_buyer_limit,
            duration_seconds=terms.duration_seconds,
        )
    async with ctx.db.session() as s:
        seg = await _segment(s, show_id, segment_id)
        seg.applied_at = utcnow()
        await s.commit()
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        run = await run_json(s, show)
    await notify_run(ctx, run)
    return {"run": run, "pinned": pinned, "deal": deal}


async def notify_run(ctx: Context, run: dict[str, Any]) -> None:
    # Staff only: the run says which deals come when, which viewers learn when they start.
    await ctx.bus.publish(run["show_id"], events.RUN_UPDATED, {"run": run})


async def my_calendars(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """The calendars the signed-in person keeps: its own as a host, its agencies' (and their
    hosts'), its brands'. An admin may open any by its address."""
    user_id = check_signed_in(actor)
    found: list[dict[str, Any]] = []
    async with ctx.db.session() as s:
        me = await s.get(User, user_id)
        if me is not None and me.is_host:
            found.append({"kind": "host", "id": me.id, "name": me.display_name})
        if actor.agency_ids:
            for agency in (
                await s.scalars(
                    select(Agency).where(Agency.id.in_(actor.agency_ids)).order_by(Agency.name)
                )
            ).all():
                found.append({"kind": "agency", "id": agency.id, "name": agency.name})
            for host in (
                await s.scalars(
                    select(User)
                    .join(AgencyHost, AgencyHost.host_id == User.id)
                    .where(AgencyHost.agency_id.in_(actor.agency_ids), User.id != user_id)
                    .distinct()
                    .order_by(User.display_name)
                )
            ).all():
                found.append({"kind": "host", "id": host.id, "name": host.display_name})
        if actor.brand_ids:
            for brand in (
                await s.scalars(
                    select(Brand).where(Brand.id.in_(actor.brand_ids)).order_by(Brand.name)
                )
            ).all():
                found.append({"kind": "brand", "id": brand.id, "name": brand.name})
    return found
