"""Show figures over time and after the show: viewers, watch time, sales, conversion, what
each pin sold; and dashboards per host, agency and brand across shows.

Sales come from the ledger (the orders table: paid and fulfilled orders count, refunded
ones do not), the same orders whose commission lines the settlements add up, so GMV here
agrees with a settlement to the cent. Viewers come from two cheap records:

- a sample of each live show's viewer count per interval (`viewers_sample_s`), written by
  one process per interval and stamped with the interval's start, so samples are whole
  intervals apart whichever process writes them and however late its turn comes;
- a watch session per viewer socket, written by the process serving it from its room list
  at the presence tick, so the socket itself does no extra work. A stay shorter than one
  tick may go unseen; a session of a process that died stays open and counts up to the
  show's end.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import analytics as rules
from hawker.domain.analytics import Sale, Stay
from hawker.domain.errors import InvalidInput, NotFound
from hawker.domain.money import Money
from hawker.domain.roles import Actor
from hawker.live.hub import Connection
from hawker.services import shows
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.services.shelf import request_counts
from hawker.store.tables import (
    Agency,
    AgencyHost,
    Brand,
    Contract,
    Listing,
    Order,
    Pin,
    Product,
    Show,
    User,
    ViewerSample,
    WatchSession,
)

SAMPLE_JOB = "viewer-samples"
PAID, FULFILLED, REFUNDED, CANCELLED = "paid", "fulfilled", "refunded", "cancelled"
COUNTED = (PAID, FULFILLED)
# What a pin sold: orders of the pinned item placed within this long after the pin.
PIN_WINDOW = timedelta(minutes=5)
TOP_ITEMS = 5
PARTIES = ("host", "agency", "brand")
MAX_SHOWS = 500


def counted() -> ColumnElement[bool]:
    return Order.status.in_(COUNTED)


def refunded() -> ColumnElement[bool]:
    # A paid order cancelled is a refund too (the ledger's rule, services/stock.py).
    return (Order.status == REFUNDED) | ((Order.status == CANCELLED) & Order.paid_at.is_not(None))


# -- recording (periodic jobs) ---------------------------------------------------------------


async def sample_viewers(ctx: Context) -> int:
    """Write the viewer count of every live show, once per interval across all processes.
    The count is the global one the room shows (read from the bus, not this process's)."""
    every = ctx.settings.viewers_sample_s
    # The interval is named by the clock, so the process that takes its lease stamps it
    # with its start: a reply held up in a busy process cannot bring two samples closer.
    slot = int(time.time() // every)
    if not await ctx.gate.lease(f"{SAMPLE_JOB}:{slot}", every * 2):
        return 0
    now = datetime.fromtimestamp(slot * every, UTC)
    async with ctx.db.session() as s:
        live = (await s.scalars(select(Show.id).where(Show.status == "live"))).all()
        if not live:
            return 0
        rows = []
        for show_id in live:
            _, count = await ctx.bus.snapshot_position(show_id)
            rows.append({"show_id": show_id, "at": now, "viewers": count or 0})
        await s.execute(insert(ViewerSample), rows)
        await s.commit()
    return len(rows)


async def track_watching(ctx: Context) -> None:
    """Open a watch session for each viewer socket this process newly serves and close the
    ones that are gone: one insert and one update per tick at most, whatever the crowd.
    The host's and moderators' sockets are not the audience and are left out."""
    now = utcnow()
    hub = ctx.hub
    came = [
        (c, c.room.show_id)
        for c in hub.came
        if c.room is not None and not c.staff and not c.closed and c not in ctx.watching
    ]
    gone = [c for c in hub.gone if c in ctx.watching]
    hub.came, hub.gone = [], []
    if not came and not gone:
        return
    try:
        await _write_watching(ctx, now, came, gone)
    except BaseException:  # the next tick tries again
        hub.came[:0], hub.gone[:0] = [c for c, _ in came], gone
        raise


async def _write_watching(
    ctx: Context, now: datetime, came: list[tuple[Connection, int]], gone: list[Connection]
) -> None:
    async with ctx.db.session() as s:
        ids: list[int] = []
        if came:
            rows = [
                {"show_id": show_id, "user_id": c.user_id, "joined_at": now} for c, show_id in came
            ]
            ids = list(
                (
                    await s.scalars(
                        insert(WatchSession).returning(
                            WatchSession.id, sort_by_parameter_order=True
                        ),
                        rows,
                    )
                ).all()
            )
        if gone:
            await s.execute(
                update(WatchSession),
                [
                    {
                        "id": ctx.watching[c][0],
                        "left_at": now,
                        "seconds": max(0, int((now - ctx.watching[c][1]).total_seconds())),
                    }
                    for c in gone
                ],
            )
        await s.commit()
    for c in gone:
        del ctx.watching[c]
    for (c, _), session_id in zip(came, ids, strict=True):
        ctx.watching[c] = (session_id, now)


# -- one show ---------------------------------------------------------------------------------


async def access_show_figures(s: AsyncSession, actor: Actor, show_id: int) -> Show:
    show, facts = await shows.show_with_facts(s, show_id)
    brand_id = (
        await s.scalar(select(Contract.brand_id).where(Contract.id == show.contract_id))
        if show.contract_id is not None
        else None
    )
    rules.check_may_see_show(actor, facts, brand_id)
    return show


def _span(show: Show) -> tuple[datetime, datetime]:
    start = show.started_at or show.scheduled_at
    end = show.ended_at or utcnow()
    return start, max(start, end)


def _stays_seconds(rows: list[Any], end: datetime) -> int:
    """Watch time: closed sessions as written, open ones up to the show's end (or now)."""
    total = 0
    for row in rows:
        if row.seconds is not None:
            total += row.seconds
        else:
            total += max(0, int((end - row.joined_at).total_seconds()))
    return total


async def show_report(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    """The show's figures: so far while it is live, final once it ended."""
    from hawker.services import stream

    async with ctx.db.session() as s:
        show = await access_show_figures(s, actor, show_id)
        start, end = _span(show)
        host_name = await s.scalar(select(User.display_name).where(User.id == show.host_id))
        samples = (
            await s.execute(
                select(ViewerSample.at, ViewerSample.viewers)
                .where(ViewerSample.show_id == show_id)
                .order_by(ViewerSample.at)
            )
        ).all()
        stays = (
            await s.execute(
                select(WatchSession.user_id, WatchSession.joined_at, WatchSession.seconds).where(
                    WatchSession.show_id == show_id
                )
            )
        ).all()
        orders = (
            await s.execute(
                select(
                    Order.listing_number,
                    Order.listing_id,
                    Order.title,
                    Order.buyer_id,
                    Order.quantity,
                    Order.total_minor,
                    Order.created_at,
                    Order.status,
                ).where(Order.show_id == show_id, counted() | refunded())
            )
        ).all()
        listings = (
            await s.execute(
                select(Listing.id, Listing.position, Product.title)
                .join(Product, Product.id == Listing.product_id)
                .where(Listing.show_id == show_id)
                .order_by(Listing.position)
            )
        ).all()
        requests = await request_counts(s, show_id)
        pins = (await s.scalars(select(Pin).where(Pin.show_id == show_id).order_by(Pin.id))).all()
    replay = {c["pinned_at"]: c["replay_offset_s"] for c in await stream.chapters(ctx, show_id)}

    currency = show.currency
    sold = [o for o in orders if o.status in COUNTED]
    back = [o for o in orders if o.status not in COUNTED]
    sales = [Sale(o.created_at, o.buyer_id, o.total_minor) for o in sold]
    stay_list = [Stay(r.user_id, r.joined_at) for r in stays]
    viewers = rules.unique_viewers(stay_list)
    buyers = len({o.buyer_id for o in sold})
    watch = _stays_seconds(list(stays), end)

    def money(minor: int) -> dict[str, str]:
        return Money.from_minor(minor, currency).to_json()

    items: dict[int, dict[str, Any]] = {}
    for listing_id, number, title in listings:
        items[number] = _item(number, listing_id, title, requests.get(listing_id, 0))
    for o in sold:
        item = items.setdefault(o.listing_number, _item(o.listing_number, o.listing_id, o.title, 0))
        item["orders"] += 1
        item["units"] += o.quantity
        item["gmv_minor"] += o.total_minor
    ranked = sorted(
        (i for i in items.values() if i["units"]),
        key=lambda i: (-i["units"], -i["gmv_minor"], i["number"]),
    )

    pin_rows = []
    for pin in pins:
        window = [
            o
            for o in sold
            if o.listing_number == pin.number
            and pin.pinned_at <= o.created_at < pin.pinned_at + PIN_WINDOW
        ]
        offset = replay.get(pin.pinned_at.isoformat())
        pin_rows.append(
            {
                "number": pin.number,
                "title": pin.title,
                "pinned_at": pin.pinned_at.isoformat(),
                "show_second": max(0, int((pin.pinned_at - start).total_seconds())),
                "orders": len(window),
                "units": sum(o.quantity for o in window),
                "gmv": money(sum(o.total_minor for o in window)),
                "replay_offset_s": offset,
                "replay_url": (f"/shows/{show_id}?t={int(offset)}" if offset is not None else None),
            }
        )

    points = rules.series(start, end, [(a, v) for a, v in samples], sales, stay_list)
    return {
        "show": {
            "id": show.id,
            "title": show.title,
            "status": show.status,
            "host_id": show.host_id,
            "host_name": host_name or "",
            "currency": currency,
            "started_at": show.started_at.isoformat() if show.started_at else None,
            "ended_at": show.ended_at.isoformat() if show.ended_at else None,
        },
        "peak_viewers": max((v for _, v in samples), default=0),
        "average_viewers": rules.average([v for _, v in samples]),
        "unique_viewers": viewers,
        "watch_seconds": watch,
        "average_watch_seconds": watch // viewers if viewers else 0,
        "orders": len(sold),
        "units": sum(o.quantity for o in sold),
        "buyers": buyers,
        "gmv": money(sum(o.total_minor for o in sold)),
        "refunded_orders": len(back),
        "refunds": money(sum(o.total_minor for o in back)),
        "conversion": rules.percent(buyers, viewers),
        "items": [_item_json(i, currency) for _, i in sorted(items.items())],
        "top_items": [_item_json(i, currency) for i in ranked[:TOP_ITEMS]],
        "pins": pin_rows,
        "series": [
            {
                "minute": p.minute,
                "at": p.at.isoformat(),
                "viewers": p.viewers,
                "orders": p.orders,
                "gmv": money(p.gmv_minor),
                "conversion": p.conversion,
            }
            for p in points
        ],
    }


def _item(number: int, listing_id: int | None, title: str, requests: int) -> dict[str, Any]:
    return {
        "number": number,
        "listing_id": listing_id,
        "title": title,
        "requests": requests,
        "orders": 0,
        "units": 0,
        "gmv_minor": 0,
    }


def _item_json(item: dict[str, Any], currency: str) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k != "gmv_minor"}
    out["gmv"] = Money.from_minor(item["gmv_minor"], currency).to_json()
    return out


# -- dashboards across shows ------------------------------------------------------------------


def check_party(party: str) -> str:
    if party not in PARTIES:
        raise InvalidInput(f"a dashboard is one of {', '.join(PARTIES)}", code="invalid_party")
    return party


async def _party_name(s: AsyncSession, party: str, party_id: int) -> str:
    table: Any = {"host": User, "agency": Agency, "brand": Brand}[party]
    column = table.display_name if party == "host" else table.name
    name = await s.scalar(select(column).where(table.id == party_id))
    if name is None:
        code = "user_not_found" if party == "host" else f"{party}_not_found"
        raise NotFound(f"no {party} {party_id}", code=code)
    return str(name)


async def dashboard(
    ctx: Context,
    actor: Actor,
    party: str,
    party_id: int,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Per show (that went on air in the period, latest first) and in total: viewers, watch
    time, orders, units, GMV and conversion. A brand's dashboard counts only its products'
    sales; viewers and watch time are the whole show's."""
    check_party(party)
    rules.check_period(start, end)
    async with ctx.db.session() as s:
        agencies = await shows.host_agencies(s, party_id) if party == "host" else frozenset()
        rules.check_may_see_dashboard(actor, party, party_id, agencies)
        name = await _party_name(s, party, party_id)
        query = select(Show, User.display_name).join(User, User.id == Show.host_id)
        query = query.where(Show.started_at.is_not(None))
        if party == "host":
            query = query.where(Show.host_id == party_id)
        elif party == "agency":
            hosts = select(AgencyHost.host_id).where(AgencyHost.agency_id == party_id)
            query = query.where(Show.host_id.in_(hosts))
        else:
            listed = (
                select(Listing.show_id)
                .join(Product, Product.id == Listing.product_id)
                .where(Product.brand_id == party_id)
            )
            sold_in = select(Order.show_id).where(Order.brand_id == party_id)
            query = query.where(Show.id.in_(listed) | Show.id.in_(sold_in))
        if start is not None:
            query = query.where(Show.started_at >= start)
        if end is not None:
            query = query.where(Show.started_at < end)
        found = (
            await s.execute(query.order_by(Show.started_at.desc(), Show.id.desc()).limit(MAX_SHOWS))
        ).all()
        ids = [show.id for show, _ in found]
        mine: list[ColumnElement[bool]] = [Order.show_id.in_(ids)]
        if party == "brand":
            mine.append(Order.brand_id == party_id)
        sales = {
            int(r.show_id): r
            for r in (
                await s.execute(
                    select(
                        Order.show_id,
                        func.count(Order.id).label("orders"),
                        func.coalesce(func.sum(Order.quantity), 0).label("units"),
                        func.coalesce(func.sum(Order.total_minor), 0).label("gmv"),
                        func.count(func.distinct(Order.buyer_id)).label("buyers"),
                    )
                    .where(*mine, counted())
                    .group_by(Order.show_id)
                )
            ).all()
        }
        refunds = {
            int(show_id): int(total)
            for show_id, total in (
                await s.execute(
                    select(Order.show_id, func.coalesce(func.sum(Order.total_minor), 0))
                    .where(*mine, refunded())
                    .group_by(Order.show_id)
                )
            ).all()
        }
        peaks = {
            int(show_id): int(peak)
            for show_id, peak in (
                await s.execute(
                    select(ViewerSample.show_id, func.max(ViewerSample.viewers))
                    .where(ViewerSample.show_id.in_(ids))
                    .group_by(ViewerSample.show_id)
                )
            ).all()
        }
        watched = {
            int(r.show_id): r
            for r in (
                await s.execute(
                    select(
                        WatchSession.show_id,
                        func.count(func.distinct(WatchSession.user_id)).label("users"),
                        func.count(WatchSession.id).label("stays"),
                        func.count(WatchSession.user_id).label("signed_in_stays"),
                        func.coalesce(func.sum(WatchSession.seconds), 0).label("seconds"),
                    )
                    .where(WatchSession.show_id.in_(ids))
                    .group_by(WatchSession.show_id)
                )
            ).all()
        }
    rows = []
    totals: dict[str, dict[str, int]] = defaultdict(
        lambda: {"shows": 0, "orders": 0, "units": 0, "gmv": 0, "refunds": 0}
    )
    for show, host_name in found:
        sale = sales.get(show.id)
        watch = watched.get(show.id)
        viewers = (int(watch.users) + int(watch.stays) - int(watch.signed_in_stays)) if watch else 0
        orders, units, gmv, buyers = (
            (int(sale.orders), int(sale.units), int(sale.gmv), int(sale.buyers))
            if sale
            else (0, 0, 0, 0)
        )
        t = totals[show.currency]
        t["shows"] += 1
        t["orders"] += orders
        t["units"] += units
        t["gmv"] += gmv
        t["refunds"] += refunds.get(show.id, 0)
        rows.append(
            {
                "show_id": show.id,
                "title": show.title,
                "host_id": show.host_id,
                "host_name": host_name,
                "status": show.status,
                "started_at": show.started_at.isoformat() if show.started_at else None,
                "peak_viewers": peaks.get(show.id, 0),
                "unique_viewers": viewers,
                "watch_seconds": int(watch.seconds) if watch else 0,
                "orders": orders,
                "units": units,
                "buyers": buyers,
                "gmv": Money.from_minor(gmv, show.currency).to_json(),
                "refunds": Money.from_minor(refunds.get(show.id, 0), show.currency).to_json(),
                "conversion": rules.percent(buyers, viewers),
            }
        )
    return {
        "party": party,
        "party_id": party_id,
        "party_name": name,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "shows": rows,
        "totals": [
            {
                "currency": currency,
                "shows": t["shows"],
                "orders": t["orders"],
                "units": t["units"],
                "gmv": Money.from_minor(t["gmv"], currency).to_json(),
                "refunds": Money.from_minor(t["refunds"], currency).to_json(),
            }
            for currency, t in sorted(totals.items())
        ],
    }
