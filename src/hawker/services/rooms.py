"""The room snapshot: everything a viewer needs to draw the show, with the seq it is at."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain.roles import Actor, ShowFacts, is_staff, roles_in_show
from hawker.live.events import now_ms
from hawker.services import presence
from hawker.services.chat import recent_messages, remember_show, sanction_of
from hawker.services.context import Context
from hawker.services.shelf import shelf_json
from hawker.services.shows import access_show, show_facts, show_json
from hawker.store.tables import User


async def access_room(s: AsyncSession, actor: Actor, show_id: int) -> tuple[ShowFacts, bool]:
    """The show's facts and whether `actor` is banned from it (banned viewers may not watch)."""
    show = await access_show(s, show_id)
    facts = await show_facts(s, show)
    sanction = await sanction_of(s, show_id, actor.user_id)
    return facts, bool(sanction and sanction.banned)


async def build_snapshot(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    # Read seq before the state: events after it are applied on top, and state events
    # carry whole values, so one that is already in the snapshot is harmless. The viewer
    # count comes with the seq: the one this process last heard may be older than the seq,
    # and the event that changed it would then be skipped as already in the snapshot.
    seq, viewers = await ctx.bus.snapshot_position(show_id)
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        facts = await show_facts(s, show)
        host = await s.get(User, show.host_id)
        assert host is not None
        shelf = await shelf_json(s, show_id)
        chat = await recent_messages(s, show_id, ctx.settings.recent_chat, facts)
        sanction = await sanction_of(s, show_id, actor.user_id)
        me = await s.get(User, actor.user_id) if actor.user_id else None
    # What this viewer's chat is checked against should the database go away.
    numbers = {item["number"]: item["id"] for item in shelf}
    await remember_show(ctx, show, facts, numbers, me, sanction)
    pinned = next((item for item in shelf if item["id"] == show.pinned_listing_id), None)
    staff = is_staff(actor, facts)
    from hawker.services import checkout, coupons, deals

    open_deals = await deals.list_deals(ctx, show_id)
    drops = await coupons.dropped_coupons(ctx, show_id)
    figures = await checkout.figures(ctx, show_id) if staff else None
    muted = sanction.muted_until if sanction else None
    return {
        "seq": seq,
        "server_time": now_ms(),
        "show": show_json(ctx, show, host),
        "shelf": shelf,
        "pinned": pinned,
        "viewers": presence.viewers(ctx, show_id)
        if viewers is None
        else max(viewers, ctx.hub.count(show_id)),
        "likes": show.likes,
        "chat": chat,
        "slow_mode_seconds": show.slow_mode_seconds,
        "deals": open_deals,
        "coupons": drops,
        "figures": figures,
        "you": {
            "user_id": actor.user_id,
            "display_name": me.display_name if me else None,
            "roles": sorted(r.value for r in roles_in_show(actor, facts)),
            "staff": staff,
            "muted_until": muted.isoformat() if muted else None,
        },
    }
