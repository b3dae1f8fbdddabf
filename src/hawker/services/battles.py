"""Head-to-head battles: two live shows, a few minutes, the units each sells. Both rooms see
the same score and a countdown on the server's clock, and hear the result when time is up.

The score comes from the ledger (domain/competitions.py says what counts). A periodic job
on every worker reads it for each running battle and, when it moved, announces it to both
rooms as one `battle.score` event: combined per tick, not one event per sale, however fast
the units go. The workers race with a conditional update on the last announced score, so
each change is announced once; the end is announced once the same way (`battle.updated`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import competitions as rules
from hawker.domain.competitions import BattleStatus
from hawker.domain.errors import Conflict, NotFound
from hawker.domain.orders import OrderStatus
from hawker.domain.roles import Actor, check_may_run_battle, check_signed_in
from hawker.live import events
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.services.shows import LIVE, show_with_facts
from hawker.store.tables import Battle, Order, Show, User

RUNNING, ENDED = BattleStatus.RUNNING.value, BattleStatus.ENDED.value
TICK_S = 0.5
# A room still shows a battle's result this long after it ended (in its snapshot too).
RESULT_SHOWN = timedelta(minutes=5)
_SOLD = (OrderStatus.PAID.value, OrderStatus.FULFILLED.value)


async def do_start_battle(
    ctx: Context, actor: Actor, *, show_id: int, opponent_show_id: int, duration_seconds: int
) -> dict[str, Any]:
    """The host of either show (its agency, an admin) starts a battle between two shows on
    air, neither of which is in a battle already."""
    rules.check_battle(show_id, opponent_show_id, duration_seconds)
    async with ctx.db.session() as s:
        both = [await show_with_facts(s, show_id), await show_with_facts(s, opponent_show_id)]
        check_may_run_battle(actor, tuple(facts for _, facts in both))
        shows = [show for show, _ in both]
        user_id = check_signed_in(actor)
        # Both rows locked, in id order (no deadlock with a battle started the other way
        # round), so two battles for one show cannot both pass the check below.
        await s.execute(
            select(Show.id)
            .where(Show.id.in_((show_id, opponent_show_id)))
            .order_by(Show.id)
            .with_for_update()
        )
        for show in shows:
            await s.refresh(show)
            if show.status != LIVE:
                raise Conflict(
                    f"“{show.title}” is not on air; a battle is between two live shows",
                    code="show_not_live",
                )
        now = utcnow()
        busy = await s.scalar(
            select(Battle.id)
            .where(
                Battle.status == RUNNING,
                Battle.ends_at > now,
                or_(
                    Battle.show_a_id.in_((show_id, opponent_show_id)),
                    Battle.show_b_id.in_((show_id, opponent_show_id)),
                ),
            )
            .limit(1)
        )
        if busy is not None:
            raise Conflict(
                "one of the two shows is in a battle already; wait for its result",
                code="battle_running",
            )
        battle = Battle(
            show_a_id=show_id,
            show_b_id=opponent_show_id,
            status=RUNNING,
            started_at=now,
            ends_at=now + timedelta(seconds=duration_seconds),
            units_a=0,
            units_b=0,
            winner_show_id=None,
            ended_at=None,
            started_by=user_id,
        )
        s.add(battle)
        await s.commit()
        data = await _battle_json(s, battle)
    await _notify(ctx, battle, events.BATTLE_UPDATED, data)
    return data


async def do_end_battle(ctx: Context, actor: Actor, battle_id: int) -> dict[str, Any]:
    """End a running battle now (the same people who may start one); the result goes to both
    rooms at once. Ending one that is over already changes nothing."""
    async with ctx.db.session() as s:
        battle = await access_battle(s, battle_id)
        sides = (battle.show_a_id, battle.show_b_id)
        check_may_run_battle(actor, tuple([(await show_with_facts(s, i))[1] for i in sides]))
        now = utcnow()
        await s.execute(
            update(Battle)
            .where(Battle.id == battle_id, Battle.status == RUNNING, Battle.ends_at > now)
            .values(ends_at=now)
        )
        await s.commit()
    await tick_one(ctx, battle_id)
    return await get_battle(ctx, battle_id)


async def access_battle(s: AsyncSession, battle_id: int) -> Battle:
    battle = await s.get(Battle, battle_id)
    if battle is None:
        raise NotFound(f"no battle {battle_id}", code="battle_not_found")
    return battle


async def get_battle(ctx: Context, battle_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        return await _battle_json(s, await access_battle(s, battle_id))


async def current(ctx: Context, show_id: int) -> dict[str, Any] | None:
    """The show's battle for its room: the one running, or the last one's result for a
    while after it ended."""
    async with ctx.db.session() as s:
        battle = await s.scalar(
            select(Battle)
            .where(
                or_(Battle.show_a_id == show_id, Battle.show_b_id == show_id),
                or_(Battle.status == RUNNING, Battle.ended_at >= utcnow() - RESULT_SHOWN),
            )
            .order_by(Battle.id.desc())
            .limit(1)
        )
        return await _battle_json(s, battle) if battle is not None else None


async def _units(s: AsyncSession, battle: Battle) -> tuple[int, int]:
    """Units each show sold since the battle started (up to its end), net: an order that was
    refunded or cancelled no longer counts."""
    rows = await s.execute(
        select(Order.show_id, func.coalesce(func.sum(Order.quantity), 0))
        .where(
            Order.show_id.in_((battle.show_a_id, battle.show_b_id)),
            Order.status.in_(_SOLD),
            Order.paid_at >= battle.started_at,
            Order.paid_at < battle.ends_at,
        )
        .group_by(Order.show_id)
    )
    sold = {int(show_id): int(units) for show_id, units in rows.all()}
    return sold.get(battle.show_a_id, 0), sold.get(battle.show_b_id, 0)


async def tick_one(ctx: Context, battle_id: int) -> None:
    """Announce the battle's score if it moved, or its result if time is up."""
    async with ctx.db.session() as s:
        battle = await s.get(Battle, battle_id)
        if battle is None or battle.status != RUNNING:
            return
        now = utcnow()
        units_a, units_b = await _units(s, battle)
        if battle.ends_at <= now:
            winner = rules.battle_winner(((battle.show_a_id, units_a), (battle.show_b_id, units_b)))
            values: dict[str, Any] = {
                "status": ENDED,
                "units_a": units_a,
                "units_b": units_b,
                "winner_show_id": winner,
                "ended_at": now,
            }
            won = await s.execute(
                update(Battle)
                .where(Battle.id == battle.id, Battle.status == RUNNING)
                .values(values)
            )
            kind = events.BATTLE_UPDATED
        elif (units_a, units_b) != (battle.units_a, battle.units_b):
            values = {"units_a": units_a, "units_b": units_b}
            won = await s.execute(
                update(Battle)
                .where(
                    Battle.id == battle.id,
                    Battle.status == RUNNING,
                    Battle.units_a == battle.units_a,
                    Battle.units_b == battle.units_b,
                )
                .values(values)
            )
            kind = events.BATTLE_SCORE
        else:
            return
        await s.commit()
        if not won.rowcount:  # type: ignore[attr-defined]
            return  # another worker announced it
        for key, value in values.items():
            setattr(battle, key, value)
        data = await _battle_json(s, battle)
    await _notify(ctx, battle, kind, data)


async def tick(ctx: Context) -> None:
    """Score and end the running battles, on every worker."""
    async with ctx.db.session() as s:
        running = (await s.scalars(select(Battle.id).where(Battle.status == RUNNING))).all()
    for battle_id in running:
        await tick_one(ctx, battle_id)


async def _notify(ctx: Context, battle: Battle, kind: str, data: dict[str, Any]) -> None:
    # The same value to both rooms: both see the same score.
    for show_id in (battle.show_a_id, battle.show_b_id):
        await ctx.bus.publish(show_id, kind, {"battle": data})


async def _battle_json(s: AsyncSession, battle: Battle) -> dict[str, Any]:
    rows = (
        await s.execute(
            select(Show.id, Show.title, User.id, User.display_name)
            .join(User, User.id == Show.host_id)
            .where(Show.id.in_((battle.show_a_id, battle.show_b_id)))
        )
    ).all()
    shows = {int(sid): (title, int(uid), name) for sid, title, uid, name in rows}

    def side(show_id: int, units: int) -> dict[str, Any]:
        title, host_id, host_name = shows.get(show_id, ("", 0, ""))
        return {
            "show_id": show_id,
            "title": title,
            "host": {"id": host_id, "display_name": host_name},
            "units": units,
        }

    ended = battle.status == ENDED
    return {
        "id": battle.id,
        "status": battle.status,
        "started_at": battle.started_at.isoformat(),
        "ends_at": battle.ends_at.isoformat(),
        "ended_at": battle.ended_at.isoformat() if battle.ended_at else None,
        "sides": [side(battle.show_a_id, battle.units_a), side(battle.show_b_id, battle.units_b)],
        "winner_show_id": battle.winner_show_id,
        "draw": ended and battle.winner_show_id is None,
        # The rooms count down against this, not against the device's own clock.
        "server_time": utcnow().isoformat(),
    }
