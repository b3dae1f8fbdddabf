"""Viewer counts: how many are watching each show, sent as a state event when it changes."""

from __future__ import annotations

from hawker.live import events
from hawker.services.context import Context


async def notify_counts(ctx: Context) -> None:
    shows = set(ctx.hub.rooms) | set(ctx.last_counts)
    for show_id in shows:
        count = ctx.hub.count(show_id)
        if ctx.last_counts.get(show_id) == count:
            continue
        if count:
            ctx.last_counts[show_id] = count
        else:
            ctx.last_counts.pop(show_id, None)
        await ctx.bus.publish(show_id, events.VIEWERS_COUNT, {"count": count})
