"""Shows: schedule, go live, end; the stream key; moderators; listing and loading shows."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain.errors import Conflict, InvalidInput, NotFound
from hawker.domain.money import check_currency
from hawker.domain.roles import (
    Action,
    Actor,
    ShowFacts,
    check_in_show,
    check_may_create_show,
    check_signed_in,
)
from hawker.live import events
from hawker.services import contracts, presence
from hawker.services.accounts import utcnow
from hawker.services.catalog import _text, check_image_url
from hawker.services.context import Context
from hawker.store.tables import AgencyHost, Show, ShowModerator, User

SCHEDULED, LIVE, ENDED = "scheduled", "live", "ended"
STATUSES = (SCHEDULED, LIVE, ENDED)


def new_stream_key() -> str:
    return "live_" + secrets.token_urlsafe(24)


async def access_show(s: AsyncSession, show_id: int, *, lock: bool = False) -> Show:
    query = select(Show).where(Show.id == show_id)
    if lock:
        # FOR NO KEY UPDATE: a show's changes never touch its key, and this lock leaves the
        # rows that refer to the show (chat, orders, pins) free to be written meanwhile,
        # where FOR UPDATE would queue a pin behind every chat write in flight, and them
        # behind it.
        query = query.with_for_update(key_share=True)
    show = await s.scalar(query)
    if show is None:
        raise NotFound(f"no show {show_id}", code="show_not_found")
    return show


async def host_agencies(s: AsyncSession, host_id: int) -> frozenset[int]:
    return frozenset(
        (await s.scalars(select(AgencyHost.agency_id).where(AgencyHost.host_id == host_id))).all()
    )


def _ids_of(column: Any, *where: Any) -> Any:
    """The ids in `column` of the rows `where` picks, as one "1,2,3" text (None if none)."""
    return select(func.aggregate_strings(cast(column, String), ",")).where(*where).scalar_subquery()


def _ids(text: str | None) -> frozenset[int]:
    return frozenset(int(i) for i in text.split(",")) if text else frozenset()


async def show_with_facts(
    s: AsyncSession, show_id: int, *, lock: bool = False
) -> tuple[Show, ShowFacts]:
    """A show and who runs it besides its host (its moderators, its host's agencies), in one
    round trip: every staff action asks, and a pin waits for each of its round trips in
    turn. `lock` as in `access_show`."""
    query = select(
        Show,
        _ids_of(ShowModerator.user_id, ShowModerator.show_id == Show.id),
        _ids_of(AgencyHost.agency_id, AgencyHost.host_id == Show.host_id),
    ).where(Show.id == show_id)
    if lock:
        query = query.with_for_update(key_share=True, of=Show)
    row = (await s.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"no show {show_id}", code="show_not_found")
    show, moderators, agencies = row
    return show, ShowFacts(show.host_id, _ids(moderators), _ids(agencies))


async def access_show_for(
    s: AsyncSession, actor: Actor, show_id: int, action: Action, *, lock: bool = False
) -> tuple[Show, ShowFacts]:
    """Load a show and check that `actor` may do `action` in it."""
    show, facts = await show_with_facts(s, show_id, lock=lock)
    check_in_show(actor, action, facts)
    return show, facts


def _when(value: datetime | None) -> datetime:
    moment = value or utcnow()
    if moment.tzinfo is None:
        raise InvalidInput(
            "give the start time with a time zone (…Z or +08:00)", code="invalid_time"
        )
    if moment < utcnow() - timedelta(days=1) or moment > utcnow() + timedelta(days=366):
        raise InvalidInput("a show starts within the next year", code="invalid_time")
    # In UTC: SQLite keeps no offset, so 20:00+08:00 would read back as 20:00 UTC.
    return moment.astimezone(UTC)


async def do_create_show(
    ctx: Context,
    actor: Actor,
    *,
    title: str,
    host_id: int | None = None,
    scheduled_at: datetime | None = None,
    description: str = "",
    cover_url: str | None = None,
    currency: str = "USD",
    contract_id: int | None = None,
) -> Show:
    """Schedule a show; with `contract_id`, booked under that contract (see
    services/contracts.py `check_booking`)."""
    # Signed in first: an anonymous caller has no host to default to, and must learn to
    # sign in rather than that "user None" does not exist.
    host_id = host_id if host_id is not None else check_signed_in(actor)
    title = _text(title, "title", 1, 140)
    description = _text(description, "description", 0, 2000)
    cover = check_image_url(cover_url) if cover_url else None
    check_currency(currency)
    start = _when(scheduled_at)
    async with ctx.db.session() as s:
        host = await s.get(User, host_id) if host_id is not None else None
        if host is None:
            raise NotFound(f"no user {host_id}", code="user_not_found")
        check_may_create_show(actor, host.id, await host_agencies(s, host.id))
        if not host.is_host:
            raise InvalidInput(f"{host.display_name} is not a host", code="not_a_host")
        if contract_id is not None:
            await contracts.check_booking(s, actor, contract_id, host.id, start)
        show = Show(
            title=title,
            description=description,
            host_id=host.id,
            status=SCHEDULED,
            currency=currency,
            scheduled_at=start,
            cover_url=cover,
            stream_key=new_stream_key(),
            slow_mode_seconds=0,
            banned_words=[],
            likes=0,
            contract_id=contract_id,
            created_at=utcnow(),
        )
        s.add(show)
        await s.commit()
        return show


async def do_update_show(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    scheduled_at: datetime | None = None,
    cover_url: str | None = None,
) -> Show:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        if title is not None:
            show.title = _text(title, "title", 1, 140)
        if description is not None:
            show.description = _text(description, "description", 0, 2000)
        if scheduled_at is not None:
            if show.status != SCHEDULED:
                raise Conflict("only a scheduled show can move", code="show_not_scheduled")
            show.scheduled_at = _when(scheduled_at)
            if show.contract_id is not None:
                await contracts.check_show_date(s, show.contract_id, show.scheduled_at)
        if cover_url is not None:
            show.cover_url = check_image_url(cover_url) if cover_url else None
        await s.commit()
    await notify_show_state(ctx, show)
    return show


async def do_go_live(ctx: Context, actor: Actor, show_id: int) -> Show:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        if show.status == LIVE:
            return show  # pressing "go live" twice is not an error
        if show.status != SCHEDULED:
            raise Conflict("an ended show cannot go live again", code="show_ended")
        show.status = LIVE
        show.started_at = utcnow()
        await s.commit()
    await notify_show_state(ctx, show)
    from hawker.services import notifications

    await notifications.notify_show_live(ctx, show_id)  # followers, reminders
    return show


async def do_end_show(ctx: Context, actor: Actor, show_id: int) -> Show:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        if show.status == ENDED:
            return show
        show.status = ENDED
        show.ended_at = utcnow()
        await s.commit()
    from hawker.services import deals
    from hawker.video import service as video

    await deals.end_all(ctx, show_id)  # flash deals do not run on replays
    await video.finish_recording(ctx, show_id)  # the replay becomes a complete recording
    await notify_show_state(ctx, show)
    return show


async def do_rotate_stream_key(ctx: Context, actor: Actor, show_id: int) -> str:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE, lock=True)
        show.stream_key = new_stream_key()
        await s.commit()
        return show.stream_key


async def get_stream_key(ctx: Context, actor: Actor, show_id: int) -> str:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        return show.stream_key


async def do_add_moderator(ctx: Context, actor: Actor, show_id: int, email: str) -> User:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        user = await s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no account with email {email!r}", code="user_not_found")
        if await s.get(ShowModerator, (show_id, user.id)) is None:
            s.add(ShowModerator(show_id=show_id, user_id=user.id))
            await s.commit()
        return user


async def do_remove_moderator(ctx: Context, actor: Actor, show_id: int, user_id: int) -> None:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
        existing = await s.get(ShowModerator, (show_id, user_id))
        if existing is None:
            raise NotFound(
                f"user {user_id} is not a moderator of show {show_id}", code="not_a_moderator"
            )
        await s.delete(existing)
        await s.commit()


async def list_moderators(ctx: Context, actor: Actor, show_id: int) -> list[User]:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_REQUESTS)
        return list(
            (
                await s.scalars(
                    select(User)
                    .join(ShowModerator, ShowModerator.user_id == User.id)
                    .where(ShowModerator.show_id == show_id)
                )
            ).all()
        )


async def list_shows(
    ctx: Context, *, status: str | None = None, host_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status is one of {', '.join(STATUSES)}", code="invalid_status")
    async with ctx.db.session() as s:
        query = select(Show, User).join(User, User.id == Show.host_id)
        if status is not None:
            query = query.where(Show.status == status)
        if host_id is not None:
            query = query.where(Show.host_id == host_id)
        if status == SCHEDULED:
            query = query.order_by(Show.scheduled_at, Show.id)
        else:
            query = query.order_by(Show.started_at.desc(), Show.id.desc())
        rows = (await s.execute(query.limit(limit))).all()
        return [show_json(ctx, show, host) for show, host in rows]


async def get_show(ctx: Context, show_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        host = await s.get(User, show.host_id)
        assert host is not None
        return show_json(ctx, show, host)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat()


def show_json(ctx: Context, show: Show, host: User) -> dict[str, Any]:
    return {
        "id": show.id,
        "title": show.title,
        "description": show.description,
        "status": show.status,
        "host": {"id": host.id, "display_name": host.display_name},
        "currency": show.currency,
        "scheduled_at": _iso(show.scheduled_at),
        "started_at": _iso(show.started_at),
        "ended_at": _iso(show.ended_at),
        "cover_url": show.cover_url,
        "pinned_listing_id": show.pinned_listing_id,
        "slow_mode_seconds": show.slow_mode_seconds,
        "likes": show.likes,
        "viewers": presence.viewers(ctx, show.id),
        "contract_id": show.contract_id,
    }


async def notify_show_state(ctx: Context, show: Show) -> None:
    await ctx.bus.publish(
        show.id,
        events.SHOW_STATE,
        {
            "status": show.status,
            "title": show.title,
            "started_at": _iso(show.started_at),
            "ended_at": _iso(show.ended_at),
        },
    )
