"""Viewer counts: how many are watching each show, across every worker, announced to the
room when the count changes."""

from __future__ import annotations

from hawker.services.context import Context


async def notify_counts(ctx: Context) -> None:
    # Report rooms this worker serves and rooms it just emptied (a zero must be reported
    # once, or the global count would keep this worker's last viewers).
    for show_id in set(ctx.hub.rooms) | set(ctx.last_counts):
        count = ctx.hub.count(show_id)
        ctx.viewer_totals[show_id] = await ctx.bus.publish_viewers(show_id, count)
        if count:
            ctx.last_counts[show_id] = count
        else:
            ctx.last_counts.pop(show_id, None)
            ctx.viewer_totals.pop(show_id, None)


def viewers(ctx: Context, show_id: int) -> int:
    """The global count as last heard, or this worker's own before the first report."""
    return max(ctx.viewer_totals.get(show_id, 0), ctx.hub.count(show_id))
