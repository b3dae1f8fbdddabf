"""What the room sees of sales as they happen, combined per tick rather than once per sale:
"N left" for each stock pool that moved, one sales-ticker line, the host's live figures."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from hawker.live import events
from hawker.services import checkout, stock
from hawker.services.context import Context
from hawker.store.tables import Deal


async def flush(ctx: Context) -> None:
    dirty, ctx.dirty_stock = ctx.dirty_stock, defaultdict(set)
    for show_id, pools in dirty.items():
        for pool in sorted(pools):
            left = (await stock.levels(ctx, pool)).left
            data: dict[str, object] = {"pool": pool, "left": left}
            kind, _, raw = pool.partition(":")
            if kind == "d":
                data["deal_id"] = int(raw)
            elif kind == "v":
                data["variant_id"] = int(raw)
            await ctx.bus.publish(show_id, events.STOCK_LEFT, data)
            if kind == "d" and left == 0:
                # "Sold out" for everyone at once, not at the next deals tick.
                from hawker.services import deals

                async with ctx.db.session() as s:
                    deal = await s.scalar(select(Deal).where(Deal.id == int(raw)))
                if deal is not None:
                    await deals.announce(ctx, deal, left)
    sales, ctx.sales = ctx.sales, {}
    for show_id, (who, number, count) in sales.items():
        text = (
            f"{who} bought #{number}"
            if count <= 1
            else f"{who} and {count - 1} more bought #{number}"
        )
        await ctx.bus.publish(
            show_id, events.SALES_TICKER, {"text": text, "number": number, "count": count}
        )
    shows, ctx.dirty_figures = ctx.dirty_figures, set()
    for show_id in shows:
        await ctx.bus.publish(show_id, events.FIGURES_UPDATED, await checkout.figures(ctx, show_id))
