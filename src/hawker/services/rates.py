"""Exchange rates: set by an admin, read when a listing of a foreign-priced product gets
its price (domain/rates.py)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain.contracts import check_moment
from hawker.domain.errors import Conflict
from hawker.domain.rates import check_pair, check_rate, no_rate, rate_text
from hawker.domain.roles import Actor, check_admin
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.store.tables import ExchangeRate


async def rate_in_force(s: AsyncSession, base: str, quote: str, at: datetime) -> Decimal:
    """The rate of the pair at `at`; Conflict `no_exchange_rate` when none is set."""
    found = await s.scalar(
        select(ExchangeRate.rate)
        .where(
            ExchangeRate.base == base,
            ExchangeRate.quote == quote,
            ExchangeRate.valid_from <= at,
        )
        .order_by(ExchangeRate.valid_from.desc())
        .limit(1)
    )
    if found is None:
        raise no_rate(base, quote)
    return Decimal(found)


async def do_set_rate(
    ctx: Context,
    actor: Actor | None,
    base: str,
    quote: str,
    rate: Decimal | str,
    *,
    valid_from: datetime | None = None,
) -> dict[str, Any]:
    """Record a rate of the pair from `valid_from` (now if not given) on. `actor` None is
    the operator's command line."""
    if actor is not None:
        check_admin(actor)
    check_pair(base, quote)
    value = check_rate(rate)
    now = utcnow()
    start = check_moment(valid_from, "valid_from") if valid_from is not None else now
    async with ctx.db.session() as s:
        taken = await s.scalar(
            select(ExchangeRate.id).where(
                ExchangeRate.base == base,
                ExchangeRate.quote == quote,
                ExchangeRate.valid_from == start,
            )
        )
        if taken is not None:
            raise Conflict(
                f"a {base}/{quote} rate from {start.isoformat()} is already set",
                code="rate_exists",
            )
        row = ExchangeRate(
            base=base,
            quote=quote,
            rate=rate_text(value),
            valid_from=start,
            set_by=actor.user_id if actor is not None else None,
            created_at=now,
        )
        s.add(row)
        await s.commit()
        return rate_json(row)


async def list_rates(ctx: Context) -> list[dict[str, Any]]:
    """Every pair's rate in force now and any set to start later, by pair then date."""
    now = utcnow()
    async with ctx.db.session() as s:
        rows = (
            await s.scalars(
                select(ExchangeRate).order_by(
                    ExchangeRate.base, ExchangeRate.quote, ExchangeRate.valid_from.desc()
                )
            )
        ).all()
    out: list[dict[str, Any]] = []
    in_force: set[tuple[str, str]] = set()
    for row in rows:
        pair = (row.base, row.quote)
        if pair in in_force:
            continue  # older than the rate in force: history, not shown
        if row.valid_from <= now:
            in_force.add(pair)
        out.append(rate_json(row))
    return out


def rate_json(row: ExchangeRate) -> dict[str, Any]:
    return {
        "base": row.base,
        "quote": row.quote,
        "rate": row.rate,
        "valid_from": row.valid_from.isoformat(),
    }
