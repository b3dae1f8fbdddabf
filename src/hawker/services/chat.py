"""Chat and moderation: messages, requests by number, likes, hide, mute, ban, slow mode,
banned words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import chat as rules
from hawker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from hawker.domain.requests import parse_request
from hawker.domain.roles import Action, Actor, ShowFacts, check_in_show, is_staff
from hawker.live import events
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.services.shows import ENDED, LIVE, access_show, access_show_for, show_facts
from hawker.store.tables import AgencyMember, ChatMessage, Listing, Show, ShowSanction, User

MAX_LIKES_PER_FRAME = 100


async def sanction_of(s: AsyncSession, show_id: int, user_id: int | None) -> ShowSanction | None:
    if user_id is None:
        return None
    return await s.get(ShowSanction, (show_id, user_id))


def message_json(
    message: ChatMessage, user: User, *, number: int | None, staff: bool
) -> dict[str, Any]:
    return {
        "id": message.id,
        "user": {"id": user.id, "display_name": user.display_name},
        "body": message.body,
        "request": None
        if message.request_listing_id is None
        else {"listing_id": message.request_listing_id, "number": number},
        "staff": staff,
        "at": message.created_at.isoformat(),
    }


async def do_send_message(ctx: Context, actor: Actor, show_id: int, body: str) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        facts = await show_facts(s, show)
        check_in_show(actor, Action.CHAT_SEND, facts)
        assert actor.user_id is not None
        if show.status == ENDED:
            raise Conflict("the show has ended; chat is closed", code="show_ended")
        sanction = await sanction_of(s, show_id, actor.user_id)
        now = utcnow()
        muted = sanction.muted_until if sanction else None
        rules.check_may_chat(
            muted_until=muted.timestamp() if muted else None,
            banned=bool(sanction and sanction.banned),
            now=now.timestamp(),
        )
        text = rules.clean_message(body, ctx.settings.chat_max_length)
        staff = is_staff(actor, facts)
        if not staff and rules.find_banned_word(text, show.banned_words or []):
            raise InvalidInput(
                "your message holds a word this show does not allow", code="message_blocked"
            )
        ctx.chat_gate(show_id).check(
            actor.user_id, ctx.clock(), slow_mode=show.slow_mode_seconds, exempt=staff
        )
        listings = (
            await s.execute(select(Listing.position, Listing.id).where(Listing.show_id == show_id))
        ).all()
        by_number = dict(listings)
        number = parse_request(text, len(by_number)) if not staff else None
        message = ChatMessage(
            show_id=show_id,
            user_id=actor.user_id,
            body=text,
            request_listing_id=by_number.get(number) if number else None,
            hidden=False,
            created_at=now,
        )
        s.add(message)
        await s.commit()
        user = await s.get(User, actor.user_id)
        assert user is not None
        data = message_json(message, user, number=number, staff=staff)
        count = (
            await _request_count(s, show_id, message.request_listing_id)
            if message.request_listing_id
            else 0
        )
    await ctx.bus.publish(show_id, events.CHAT_MESSAGE, data)
    if message.request_listing_id:
        await ctx.bus.publish(
            show_id,
            events.REQUESTS_COUNTED,
            {"listing_id": message.request_listing_id, "number": number, "count": count},
        )
    return data


async def _request_count(s: AsyncSession, show_id: int, listing_id: int) -> int:
    return int(
        await s.scalar(
            select(func.count(func.distinct(ChatMessage.user_id))).where(
                ChatMessage.show_id == show_id,
                ChatMessage.request_listing_id == listing_id,
                ChatMessage.hidden.is_(False),
            )
        )
        or 0
    )


async def recent_messages(
    s: AsyncSession, show_id: int, limit: int, facts: ShowFacts
) -> list[dict[str, Any]]:
    rows = (
        await s.execute(
            select(ChatMessage, User, Listing.position)
            .join(User, User.id == ChatMessage.user_id)
            .outerjoin(Listing, Listing.id == ChatMessage.request_listing_id)
            .where(ChatMessage.show_id == show_id, ChatMessage.hidden.is_(False))
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
    ).all()
    # The same staff rule as when the message went out live (is_staff), so a badge does not
    # vanish on reload: host, moderators, the host's agency staff and admins.
    staff_ids = {facts.host_id, *facts.moderator_ids}
    if facts.host_agency_ids:
        staff_ids.update(
            (
                await s.scalars(
                    select(AgencyMember.user_id).where(
                        AgencyMember.agency_id.in_(facts.host_agency_ids)
                    )
                )
            ).all()
        )
    return [
        message_json(m, u, number=pos, staff=u.id in staff_ids or u.is_admin)
        for m, u, pos in reversed(rows)
    ]


async def do_like(ctx: Context, actor: Actor, show_id: int, count: int) -> None:
    """Taps are added up here and go out as one burst per show per second."""
    if not 1 <= count <= MAX_LIKES_PER_FRAME:
        raise InvalidInput(
            f"a like frame holds 1 to {MAX_LIKES_PER_FRAME} taps", code="invalid_likes"
        )
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        check_in_show(actor, Action.LIKE, await show_facts(s, show))
        if show.status != LIVE:
            raise Conflict("likes are for a show on air", code="show_not_live")
    ctx.pending_likes[show_id] += count


async def flush_likes(ctx: Context) -> None:
    pending = {k: v for k, v in ctx.pending_likes.items() if v}
    ctx.pending_likes.clear()
    for show_id, count in pending.items():
        async with ctx.db.session() as s:
            await s.execute(update(Show).where(Show.id == show_id).values(likes=Show.likes + count))
            await s.commit()
            total = await s.scalar(select(Show.likes).where(Show.id == show_id))
        await ctx.bus.publish(show_id, events.LIKES_BURST, {"count": count, "total": total})


# -- moderation ------------------------------------------------------------------------


async def do_hide_message(ctx: Context, actor: Actor, show_id: int, message_id: int) -> None:
    """Gone for everyone; kept in the record with who hid it."""
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        message = await s.get(ChatMessage, message_id)
        if message is None or message.show_id != show_id:
            raise NotFound(f"no message {message_id} in show {show_id}", code="message_not_found")
        if message.hidden:
            return
        message.hidden = True
        message.hidden_by = actor.user_id
        await s.commit()
        listing_id = message.request_listing_id
        count = await _request_count(s, show_id, listing_id) if listing_id else 0
        number = (await s.get(Listing, listing_id)).position if listing_id else None  # type: ignore[union-attr]
    await ctx.bus.publish(show_id, events.CHAT_HIDDEN, {"id": message_id})
    if listing_id:
        await ctx.bus.publish(
            show_id,
            events.REQUESTS_COUNTED,
            {"listing_id": listing_id, "number": number, "count": count},
        )


async def do_sanction(
    ctx: Context,
    actor: Actor,
    show_id: int,
    user_id: int,
    *,
    ban: bool | None = None,
    mute_seconds: int | None = None,
) -> dict[str, Any]:
    """Mute (for a while, 0 lifts it) or ban (True) / unban (False) a viewer in one show."""
    if mute_seconds is not None and not 0 <= mute_seconds <= 30 * 86400:
        raise InvalidInput("a mute lasts 0 seconds to 30 days", code="invalid_mute")
    async with ctx.db.session() as s:
        _, facts = await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        target = await s.get(User, user_id)
        if target is None:
            raise NotFound(f"no user {user_id}", code="user_not_found")
        if user_id == facts.host_id or user_id in facts.moderator_ids:
            raise Forbidden(
                "the host and moderators cannot be muted or banned", code="protected_user"
            )
        assert actor.user_id is not None
        sanction = await sanction_of(s, show_id, user_id)
        if sanction is None:
            sanction = ShowSanction(
                show_id=show_id,
                user_id=user_id,
                banned=False,
                by_user_id=actor.user_id,
                created_at=utcnow(),
            )
            s.add(sanction)
        if ban is not None:
            sanction.banned = ban
        if mute_seconds is not None:
            sanction.muted_until = (
                utcnow() + timedelta(seconds=mute_seconds) if mute_seconds else None
            )
        sanction.by_user_id = actor.user_id
        await s.commit()
        muted = sanction.muted_until
        data = {
            "user_id": user_id,
            "banned": sanction.banned,
            "muted_until": muted.isoformat() if muted and muted > utcnow() else None,
        }
    await ctx.bus.publish(show_id, events.USER_SANCTIONED, data)
    return data


async def do_chat_settings(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    slow_mode_seconds: int | None = None,
    banned_words: Sequence[str] | None = None,
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.CHAT_MODERATE, lock=True)
        if slow_mode_seconds is not None:
            show.slow_mode_seconds = rules.check_slow_mode(slow_mode_seconds)
        if banned_words is not None:
            show.banned_words = rules.normalise_banned_words(banned_words)
        await s.commit()
        settings = {
            "slow_mode_seconds": show.slow_mode_seconds,
            "banned_words": list(show.banned_words),
        }
    # Viewers learn the pace; the word list itself is for staff only (it would teach evasion).
    await ctx.bus.publish(
        show_id, events.CHAT_SETTINGS, {"slow_mode_seconds": settings["slow_mode_seconds"]}
    )
    return settings


async def get_chat_settings(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        return {
            "slow_mode_seconds": show.slow_mode_seconds,
            "banned_words": list(show.banned_words),
        }


async def list_sanctions(ctx: Context, actor: Actor, show_id: int) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        rows = (
            await s.execute(
                select(ShowSanction, User)
                .join(User, User.id == ShowSanction.user_id)
                .where(ShowSanction.show_id == show_id)
            )
        ).all()
        now = utcnow()
        out = []
        for sanction, user in rows:
            muted = sanction.muted_until
            if sanction.banned or (muted and muted > now):
                out.append(
                    {
                        "user": {"id": user.id, "display_name": user.display_name},
                        "banned": sanction.banned,
                        "muted_until": muted.isoformat() if muted and muted > now else None,
                    }
                )
        return out
