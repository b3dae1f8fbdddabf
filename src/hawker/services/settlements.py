"""Settlements: one party's commission lines up to a moment, closed and frozen.

A party is a brand (every line of its orders: what it owes the host and the agency and what
it keeps), an agency (its own lines and those of the hosts under its contracts) or a host
(its own lines). Closing takes every line of the party that no settlement of the party
holds yet and that is dated before the period's end, and marks it with the settlement, in
one statement: a line goes into exactly one settlement of each party, and a settlement,
once closed, never gains or loses a line. A refund after the close is a new line, dated at
the refund, so it goes into the next settlement. So does a line committed while a close
ran (a payment confirmed in the same instant).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from hawker.domain import commissions as rules
from hawker.domain.commissions import Party
from hawker.domain.contracts import check_moment, from_basis_points
from hawker.domain.errors import InvalidInput, NotFound
from hawker.domain.money import Money
from hawker.domain.roles import Actor, check_party, check_signed_in
from hawker.services.accounts import utcnow
from hawker.services.commissions import line_of
from hawker.services.context import Context
from hawker.store.tables import Agency, Brand, CommissionLine, Settlement, User

PARTIES = tuple(p.value for p in Party)


def check_party_kind(party: str) -> Party:
    if party not in PARTIES:
        raise InvalidInput(f"a party is one of {', '.join(PARTIES)}", code="invalid_party")
    return Party(party)


def _scope(
    party: Party, party_id: int
) -> tuple[list[ColumnElement[bool]], InstrumentedAttribute[int | None]]:
    """Which lines are the party's, and the column that says which of its settlements
    holds each."""
    c = CommissionLine
    if party is Party.BRAND:
        return [c.brand_id == party_id], c.brand_settlement_id
    if party is Party.AGENCY:
        return [
            c.agency_id == party_id,
            c.party.in_((Party.HOST.value, Party.AGENCY.value)),
        ], c.agency_settlement_id
    return [c.host_id == party_id, c.party == Party.HOST.value], c.host_settlement_id


async def _party_name(s: AsyncSession, party: Party, party_id: int, *, lock: bool = False) -> str:
    """The party's name; with `lock`, its row stays locked to the end of the transaction,
    so that two closes of one party's settlement take turns."""
    found: Brand | Agency | User | None
    if party is Party.BRAND:
        found = await s.get(Brand, party_id, with_for_update=lock)
    elif party is Party.AGENCY:
        found = await s.get(Agency, party_id, with_for_update=lock)
    else:
        found = await s.get(User, party_id, with_for_update=lock)
    if found is None:
        code = "user_not_found" if party is Party.HOST else f"{party.value}_not_found"
        raise NotFound(f"no {party.value} {party_id}", code=code)
    return found.display_name if isinstance(found, User) else found.name


async def open_lines(ctx: Context, actor: Actor, party: str, party_id: int) -> dict[str, Any]:
    """The party's lines that no settlement holds yet, with their sums: what the next
    settlement would take."""
    kind = check_party_kind(party)
    check_party(actor, kind.value, party_id)
    where, column = _scope(kind, party_id)
    async with ctx.db.session() as s:
        name = await _party_name(s, kind, party_id)
        rows = await _rows(s, [*where, column.is_(None)])
        lines = await _lines_json(s, rows)
    return {
        "party": kind.value,
        "party_id": party_id,
        "party_name": name,
        **_totals_json(rows),
        "lines": lines,
    }


async def do_close(
    ctx: Context, actor: Actor, party: str, party_id: int, *, period_end: datetime | None = None
) -> dict[str, Any]:
    """Close the party's settlement up to `period_end` (now if not given)."""
    user_id = check_signed_in(actor)
    kind = check_party_kind(party)
    check_party(actor, kind.value, party_id)
    now = utcnow()
    end = check_moment(period_end, "the period's end") if period_end is not None else now
    where, column = _scope(kind, party_id)
    async with ctx.db.session() as s:
        await _party_name(s, kind, party_id, lock=True)
        last = await s.scalar(
            select(Settlement)
            .where(Settlement.party == kind.value, Settlement.party_id == party_id)
            .order_by(Settlement.period_end.desc())
            .limit(1)
        )
        rules.check_period_end(end, now=now, last_end=last.period_end if last else None)
        settlement = Settlement(
            party=kind.value,
            party_id=party_id,
            period_start=last.period_end if last is not None else None,
            period_end=end,
            line_count=0,
            totals=[],
            closed_by=user_id,
            closed_at=now,
        )
        s.add(settlement)
        await s.flush()
        await s.execute(
            update(CommissionLine)
            .where(*where, column.is_(None), CommissionLine.at < end)
            .values({column.key: settlement.id})
            .execution_options(synchronize_session=False)
        )
        rows = await _rows(s, [column == settlement.id])
        settlement.line_count = len(rows)
        sums = _totals_json(rows)
        settlement.totals = sums["totals"]
        settlement.brand_totals = sums["brand_totals"]
        await s.commit()
        settlement_id = settlement.id
    return await get_settlement(ctx, actor, settlement_id)


async def list_settlements(
    ctx: Context, actor: Actor, party: str, party_id: int
) -> list[dict[str, Any]]:
    """The party's settlements, latest first, without their lines."""
    kind = check_party_kind(party)
    check_party(actor, kind.value, party_id)
    async with ctx.db.session() as s:
        name = await _party_name(s, kind, party_id)
        rows = (
            await s.scalars(
                select(Settlement)
                .where(Settlement.party == kind.value, Settlement.party_id == party_id)
                .order_by(Settlement.period_end.desc())
                .limit(500)
            )
        ).all()
        return [_summary(r, name) for r in rows]


async def get_settlement(ctx: Context, actor: Actor, settlement_id: int) -> dict[str, Any]:
    """A closed settlement with its lines and its sums per currency, as they were closed."""
    check_signed_in(actor)
    async with ctx.db.session() as s:
        settlement = await s.get(Settlement, settlement_id)
        if settlement is None:
            raise NotFound(f"no settlement {settlement_id}", code="settlement_not_found")
        kind = Party(settlement.party)
        check_party(actor, kind.value, settlement.party_id)
        name = await _party_name(s, kind, settlement.party_id)
        _, column = _scope(kind, settlement.party_id)
        rows = await _rows(s, [column == settlement.id])
        return {**_summary(settlement, name), "lines": await _lines_json(s, rows)}


# -- JSON ------------------------------------------------------------------------------------


def _summary(settlement: Settlement, name: str) -> dict[str, Any]:
    return {
        "id": settlement.id,
        "party": settlement.party,
        "party_id": settlement.party_id,
        "party_name": name,
        "period_start": settlement.period_start.isoformat() if settlement.period_start else None,
        "period_end": settlement.period_end.isoformat(),
        "closed_at": settlement.closed_at.isoformat(),
        "line_count": settlement.line_count,
        "totals": settlement.totals,
        # Closed before exchange rates: every line was in its brand's currency.
        "brand_totals": (
            settlement.brand_totals if settlement.brand_totals is not None else settlement.totals
        ),
    }


def _totals_json(rows: list[CommissionLine]) -> dict[str, list[dict[str, object]]]:
    """Sums per currency charged, and per brand currency (what a brand settles in: lines of
    orders charged in another currency count at their orders' rates)."""
    lines = [line_of(r) for r in rows]
    return {
        "totals": [t.to_json() for t in rules.totals(lines)],
        "brand_totals": [t.to_json() for t in rules.totals(li.in_brand_currency() for li in lines)],
    }


async def _rows(s: AsyncSession, where: list[ColumnElement[bool]]) -> list[CommissionLine]:
    return list(
        (
            await s.scalars(
                select(CommissionLine).where(*where).order_by(CommissionLine.at, CommissionLine.id)
            )
        ).all()
    )


async def _lines_json(s: AsyncSession, rows: list[CommissionLine]) -> list[dict[str, Any]]:
    """Lines as the page, the CSV and the API show them, each with who is paid."""

    async def names(table: Any, ids: set[int | None], attr: str) -> dict[int, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        found = (
            await s.execute(select(table.id, getattr(table, attr)).where(table.id.in_(wanted)))
        ).all()
        return {int(i): str(n) for i, n in found}

    brands = await names(Brand, {r.brand_id for r in rows}, "name")
    agencies = await names(Agency, {r.agency_id for r in rows}, "name")
    hosts = await names(User, {r.host_id for r in rows}, "display_name")

    def payee(row: CommissionLine) -> str:
        if row.party == Party.BRAND.value:
            return brands.get(row.brand_id, "")
        if row.party == Party.AGENCY.value:
            return agencies.get(row.agency_id or 0, "")
        return hosts.get(row.host_id or 0, "")

    return [
        {
            "id": row.id,
            "at": row.at.isoformat(),
            "kind": row.kind,
            "party": row.party,
            "payee": payee(row),
            "order_id": row.order_id,
            "show_id": row.show_id,
            "contract_id": row.contract_id,
            "title": row.title,
            "base": Money.from_minor(row.base_minor, row.currency).to_json(),
            "share": format(from_basis_points(row.share_bp), "f"),
            "amount": Money.from_minor(row.amount_minor, row.currency).to_json(),
            "rate": row.fx_rate,
            "brand_amount": _brand_money(row.brand_amount_minor, row.brand_currency)
            or Money.from_minor(row.amount_minor, row.currency).to_json(),
        }
        for row in rows
    ]


def _brand_money(minor: int | None, currency: str | None) -> dict[str, str] | None:
    return Money.from_minor(minor, currency).to_json() if minor is not None and currency else None
