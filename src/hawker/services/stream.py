"""The show's video as the rest of the shop sees it: stream time for commerce events,
the host's stream status, replay chapters, a cover taken from the stream."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select

from hawker.domain.errors import Conflict
from hawker.domain.roles import Action, Actor
from hawker.services.chat import _aware
from hawker.services.context import Context
from hawker.services.shows import access_show, access_show_for, notify_show_state
from hawker.store.tables import Pin


def stream_at(ctx: Context, show_id: int) -> str | None:
    """The program date-time on screen now, as ISO text, for a commerce event: a viewer's
    page holds the event until its player reaches that picture (chat is never held)."""
    from hawker.video import service as video

    moment = video.stream_time(ctx, show_id)
    return moment.isoformat() if moment else None


def stream_time(ctx: Context, show_id: int) -> datetime | None:
    from hawker.video import service as video

    return video.stream_time(ctx, show_id)


async def status(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    """What the host's console shows about the stream: where to send it, its state, health."""
    from hawker.video import service as video

    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
    return {
        "ingest_url": video.ingest_url(ctx.settings),
        "ingest_enabled": bool(ctx.settings.rtmp_port),
        **video.stream_status(ctx, show_id),
    }


async def chapters(ctx: Context, show_id: int) -> list[dict[str, Any]]:
    """One chapter per pin, in order, with the second of the replay it starts at."""
    from hawker.video import service as video

    async with ctx.db.session() as s:
        await access_show(s, show_id)
        pins = (await s.scalars(select(Pin).where(Pin.show_id == show_id).order_by(Pin.id))).all()
    out = []
    for pin in pins:
        moment = _aware(pin.stream_at)
        offset = video.replay_offset(ctx, show_id, moment) if moment else None
        out.append(
            {
                "number": pin.number,
                "title": pin.title,
                "listing_id": pin.listing_id,
                "pinned_at": (_aware(pin.pinned_at) or datetime.now()).isoformat(),
                "replay_offset_s": round(offset, 2) if offset is not None else None,
            }
        )
    return out


async def do_cover_from_stream(ctx: Context, actor: Actor, show_id: int) -> str:
    """Take the newest picture of the stream as the show's cover image."""
    from hawker.video import service as video

    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_MANAGE)
    jpeg = await video.grab_frame(ctx, show_id)
    if jpeg is None:
        raise Conflict("there is no picture yet: start streaming first", code="no_stream")
    name = f"cover-{show_id}-{secrets.token_hex(6)}.jpg"
    ctx.settings.media_dir.mkdir(parents=True, exist_ok=True)
    (ctx.settings.media_dir / name).write_bytes(jpeg)
    async with ctx.db.session() as s:
        show = await access_show(s, show_id, lock=True)
        show.cover_url = f"/media/{name}"
        await s.commit()
    await notify_show_state(ctx, show)
    return f"/media/{name}"
