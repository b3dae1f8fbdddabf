"""The show's video as the rest of the shop sees it: stream time for commerce events,
the host's stream status, where viewers play it, replay chapters and replayed chat, a cover
taken from the stream."""

from __future__ import annotations

import bisect
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select

from hawker.domain.errors import Conflict
from hawker.domain.roles import Action, Actor
from hawker.services.chat import message_json
from hawker.services.context import Context
from hawker.services.shows import (
    ENDED,
    access_show,
    access_show_for,
    notify_show_state,
    show_with_facts,
)
from hawker.store.tables import AgencyMember, ChatMessage, Listing, Pin, User
from hawker.video import hls

REPLAY_CHAT_PAGE = 500


def stream_at(ctx: Context, show_id: int) -> str | None:
    """The program date-time on screen now, as ISO text, for a commerce event: a viewer's
    page holds the event until its player reaches that picture (chat is never held)."""
    from hawker.video import service as video

    moment = video.stream_time(ctx, show_id)
    return moment.isoformat() if moment else None


def stream_time(ctx: Context, show_id: int) -> datetime | None:
    from hawker.video import service as video

    return video.stream_time(ctx, show_id)


def ingest_url(ctx: Context) -> str:
    """The "Server" an encoder such as OBS streams to; the key goes in its own field."""
    from hawker.video import service as video

    return video.ingest_url(ctx.settings)


def playback(ctx: Context, show_id: int, status: str) -> dict[str, str | None]:
    """What a viewer's page plays: the live playlist while the show is on, the replay once it
    has ended and a recording exists (None: nothing was ever streamed)."""
    from hawker.video import service as video

    directory = video.show_dir(ctx.settings, show_id)
    replay = status == ENDED and (directory / hls.REPLAY).is_file()
    return {
        "live": video.playlist_url(show_id),
        "replay": video.replay_url(show_id) if replay else None,
    }


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
        moment = pin.stream_at
        offset = video.replay_offset(ctx, show_id, moment) if moment else None
        out.append(
            {
                "number": pin.number,
                "title": pin.title,
                "listing_id": pin.listing_id,
                "pinned_at": pin.pinned_at.isoformat(),
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


Timeline = tuple[list[float], list[hls.Segment], list[float]]


def _timeline(ctx: Context, show_id: int) -> Timeline:
    """The replay's segments with the wall-clock start (epoch s) and replay offset of each."""
    from hawker.video import service as video

    playlist = hls.read(video.show_dir(ctx.settings, show_id) / hls.REPLAY)
    segments = playlist.segments if playlist else []
    starts, offsets, offset = [], [], 0.0
    for segment in segments:
        starts.append(segment.pdt.timestamp())
        offsets.append(offset)
        offset += segment.duration
    return starts, segments, offsets


def _offset_at(timeline: Timeline, moment: float) -> float:
    """Seconds into the replay at which the picture of wall-clock `moment` was on screen. A
    moment in a gap (the encoder was away) maps to the next picture, one before the recording
    to 0 and one after it to its end."""
    starts, segments, offsets = timeline
    at = bisect.bisect_right(starts, moment) - 1
    if at < 0:
        return 0.0
    segment = segments[at]
    return offsets[at] + min(moment - starts[at], segment.duration)


async def replay_chat(
    ctx: Context, show_id: int, *, after_id: int = 0, limit: int = REPLAY_CHAT_PAGE
) -> dict[str, Any]:
    """The show's chat as it went by, each message with the second of the replay at which it
    was sent, for a replay page that shows chat in step with the picture. Hidden messages
    stay hidden. Paged by message id: pass `next_after_id` back for the next page."""
    limit = max(1, min(limit, REPLAY_CHAT_PAGE))
    async with ctx.db.session() as s:
        _, facts = await show_with_facts(s, show_id)
        rows = (
            await s.execute(
                select(ChatMessage, User, Listing.position)
                .join(User, User.id == ChatMessage.user_id)
                .outerjoin(Listing, Listing.id == ChatMessage.request_listing_id)
                .where(
                    ChatMessage.show_id == show_id,
                    ChatMessage.hidden.is_(False),
                    ChatMessage.id > after_id,
                )
                .order_by(ChatMessage.id)
                .limit(limit + 1)
            )
        ).all()
        # The staff badge as the room showed it live: host, moderators, the host's agency.
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
    more = len(rows) > limit
    rows = rows[:limit]
    timeline = _timeline(ctx, show_id)
    messages = []
    for message, user, number in rows:
        staff = user.id in staff_ids or user.is_admin
        out = message_json(message, user, number=number, staff=staff)
        sent = message.created_at
        offset = _offset_at(timeline, sent.timestamp()) if sent and timeline[0] else None
        out["replay_offset_s"] = round(offset, 2) if offset is not None else None
        messages.append(out)
    return {
        "messages": messages,
        "next_after_id": messages[-1]["id"] if more and messages else None,
    }
