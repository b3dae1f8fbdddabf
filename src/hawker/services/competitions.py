"""Sales competitions: an admin, an agency or a brand enters hosts or shows, the ledger ranks
them over the window (domain/competitions.py says how), and the winners are fixed once it
ends.

While a competition runs, its leaderboard is read from the ledger each time it is asked for
(the page polls it), so it moves with every sale and every refund. When the window is over,
a periodic job on every worker fixes the figures, the ranks and the winners in one
transaction; the worker whose conditional update wins does it, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import competitions as rules
from hawker.domain.competitions import Entrant, EntrantKind, Metric, Organizer, Score
from hawker.domain.contracts import Period
from hawker.domain.errors import InvalidInput, NotFound
from hawker.domain.money import Money, check_currency
from hawker.domain.orders import OrderStatus
from hawker.domain.roles import Actor, check_may_organise, check_signed_in
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.store.tables import (
    Agency,
    AgencyHost,
    Brand,
    Competition,
    CompetitionEntry,
    Contract,
    Listing,
    Order,
    Product,
    Show,
    User,
)

PAID, FULFILLED = OrderStatus.PAID.value, OrderStatus.FULFILLED.value
REFUNDED, CANCELLED = OrderStatus.REFUNDED.value, OrderStatus.CANCELLED.value
E = TypeVar("E", EntrantKind, Metric)
TICK_S = 1.0


async def do_create_competition(
    ctx: Context,
    actor: Actor,
    *,
    title: str,
    entrant_kind: str,
    entrant_ids: Sequence[int],
    currency: str,
    starts_at: datetime,
    ends_at: datetime,
    metric: str = Metric.GMV.value,
    agency_id: int | None = None,
    brand_id: int | None = None,
) -> dict[str, Any]:
    """An agency's competition (`agency_id`), a brand's (`brand_id`) or, with neither, the
    platform's (admins only)."""
    user_id = check_signed_in(actor)
    if agency_id is not None and brand_id is not None:
        raise InvalidInput(
            "a competition is run by one agency or one brand, not both", code="one_organizer"
        )
    organizer = (
        Organizer.AGENCY
        if agency_id is not None
        else Organizer.BRAND
        if brand_id is not None
        else Organizer.ADMIN
    )
    organizer_id = agency_id if agency_id is not None else brand_id
    check_may_organise(actor, organizer.value, organizer_id)
    clean_title = rules.check_title(title)
    kind = rules.check_entrant_kind(organizer, _choice(EntrantKind, entrant_kind, "entrant_kind"))
    measure = _choice(Metric, metric, "metric")
    check_currency(currency)
    period = rules.check_window(starts_at, ends_at, utcnow())
    ids = rules.check_entrants(entrant_ids)
    async with ctx.db.session() as s:
        if agency_id is not None and await s.get(Agency, agency_id) is None:
            raise NotFound(f"no agency {agency_id}", code="agency_not_found")
        if brand_id is not None and await s.get(Brand, brand_id) is None:
            raise NotFound(f"no brand {brand_id}", code="brand_not_found")
        rules.check_eligible(organizer, organizer_id, await _entrants(s, kind, ids))
        competition = Competition(
            title=clean_title,
            agency_id=agency_id,
            brand_id=brand_id,
            entrant_kind=kind.value,
            metric=measure.value,
            currency=currency,
            starts_at=period.starts_at,
            ends_at=period.ends_at,
            final_at=None,
            created_by=user_id,
            created_at=utcnow(),
        )
        s.add(competition)
        await s.flush()
        s.add_all(
            CompetitionEntry(
                competition_id=competition.id,
                host_id=entrant if kind is EntrantKind.HOST else None,
                show_id=entrant if kind is EntrantKind.SHOW else None,
            )
            for entrant in ids
        )
        await s.commit()
        return await _competition_json(s, competition, standings=True)


def _choice(kind: type[E], value: str, field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{field} is one of {allowed}", code=f"invalid_{field}") from None


async def _entrants(s: AsyncSession, kind: EntrantKind, ids: Sequence[int]) -> list[Entrant]:
    """What the rules need of each entrant, in the order given. Refuses ids that name no
    host (or a user who is not a host) or no show."""
    if kind is EntrantKind.HOST:
        users = {u.id: u for u in (await s.scalars(select(User).where(User.id.in_(ids)))).all()}
        missing = [i for i in ids if i not in users]
        if missing:
            raise InvalidInput(f"no host {_ids(missing)}", code="entrant_not_found")
        not_hosts = [users[i].display_name for i in ids if not users[i].is_host]
        if not_hosts:
            raise InvalidInput(f"{', '.join(not_hosts[:5])}: not a host", code="not_a_host")
        agencies = await _agencies_of(s, ids)
        return [Entrant(i, users[i].display_name, agencies.get(i, frozenset())) for i in ids]
    shows = {sh.id: sh for sh in (await s.scalars(select(Show).where(Show.id.in_(ids)))).all()}
    missing = [i for i in ids if i not in shows]
    if missing:
        raise InvalidInput(f"no show {_ids(missing)}", code="entrant_not_found")
    agencies = await _agencies_of(s, [sh.host_id for sh in shows.values()])
    brands: dict[int, set[int]] = {i: set() for i in ids}
    on_shelf = await s.execute(
        select(Listing.show_id, Product.brand_id)
        .join(Product, Product.id == Listing.product_id)
        .where(Listing.show_id.in_(ids))
        .distinct()
    )
    for show_id, brand in on_shelf.all():
        brands[int(show_id)].add(int(brand))
    under_contract = await s.execute(
        select(Show.id, Contract.brand_id)
        .join(Contract, Contract.id == Show.contract_id)
        .where(Show.id.in_(ids))
    )
    for show_id, brand in under_contract.all():
        brands[int(show_id)].add(int(brand))
    return [
        Entrant(
            i,
            shows[i].title,
            agencies.get(shows[i].host_id, frozenset()),
            frozenset(brands[i]),
        )
        for i in ids
    ]


def _ids(ids: Sequence[int]) -> str:
    return ", ".join(map(str, ids[:5])) + (" …" if len(ids) > 5 else "")


async def _agencies_of(s: AsyncSession, host_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    found: dict[int, set[int]] = {}
    rows = await s.execute(
        select(AgencyHost.host_id, AgencyHost.agency_id).where(AgencyHost.host_id.in_(host_ids))
    )
    for host_id, agency_id in rows.all():
        found.setdefault(int(host_id), set()).add(int(agency_id))
    return {host: frozenset(agencies) for host, agencies in found.items()}


# -- figures from the ledger -----------------------------------------------------------------


def counted(competition: Competition) -> ColumnElement[bool]:
    """The orders a competition counts: paid within its window, in its currency (and of its
    brand's products, for a brand's competition), not refunded or cancelled before the
    window closed."""
    conditions = [
        Order.currency == competition.currency,
        Order.paid_at.is_not(None),
        Order.paid_at >= competition.starts_at,
        Order.paid_at < competition.ends_at,
        or_(
            Order.status.in_((PAID, FULFILLED)),
            and_(
                Order.status.in_((REFUNDED, CANCELLED)),
                Order.closed_at >= competition.ends_at,
            ),
        ),
    ]
    if competition.brand_id is not None:
        conditions.append(Order.brand_id == competition.brand_id)
    return and_(*conditions)


async def _scores(
    s: AsyncSession, competition: Competition, entries: Sequence[CompetitionEntry]
) -> list[Score]:
    """Each entrant's net units and GMV, in the order entered."""
    units, gmv = (
        func.coalesce(func.sum(Order.quantity), 0),
        func.coalesce(func.sum(Order.total_minor), 0),
    )
    if competition.entrant_kind == EntrantKind.SHOW.value:
        ids = [e.show_id for e in entries if e.show_id is not None]
        query = (
            select(Order.show_id, units, gmv)
            .where(counted(competition), Order.show_id.in_(ids))
            .group_by(Order.show_id)
        )
    else:
        ids = [e.host_id for e in entries if e.host_id is not None]
        query = (
            select(Show.host_id, units, gmv)
            .join(Show, Show.id == Order.show_id)
            .where(counted(competition), Show.host_id.in_(ids))
            .group_by(Show.host_id)
        )
    sold = {int(key): (int(u), int(g)) for key, u, g in (await s.execute(query)).all()}
    return [Score(i, *sold.get(i, (0, 0))) for i in ids]


# -- reading ---------------------------------------------------------------------------------


async def access_competition(s: AsyncSession, competition_id: int) -> Competition:
    competition = await s.get(Competition, competition_id)
    if competition is None:
        raise NotFound(f"no competition {competition_id}", code="competition_not_found")
    return competition


async def get_competition(ctx: Context, competition_id: int) -> dict[str, Any]:
    """A competition with its leaderboard: live from the ledger while it runs, as fixed at
    the end once it is final. Public: a contest's leaderboard is there to be seen."""
    async with ctx.db.session() as s:
        competition = await access_competition(s, competition_id)
        return await _competition_json(s, competition, standings=True)


async def list_competitions(ctx: Context, *, limit: int = 50) -> list[dict[str, Any]]:
    """Competitions, the latest to end first."""
    async with ctx.db.session() as s:
        rows = (
            await s.scalars(
                select(Competition)
                .order_by(Competition.ends_at.desc(), Competition.id.desc())
                .limit(limit)
            )
        ).all()
        return [await _competition_json(s, c, standings=False) for c in rows]


async def _entries(s: AsyncSession, competition_id: int) -> list[CompetitionEntry]:
    return list(
        (
            await s.scalars(
                select(CompetitionEntry)
                .where(CompetitionEntry.competition_id == competition_id)
                .order_by(CompetitionEntry.id)
            )
        ).all()
    )


async def _competition_json(
    s: AsyncSession, competition: Competition, *, standings: bool
) -> dict[str, Any]:
    now = utcnow()
    period = Period(competition.starts_at, competition.ends_at)
    status = rules.status_of(period, competition.final_at is not None, now)
    entries = await _entries(s, competition.id)
    out: dict[str, Any] = {
        "id": competition.id,
        "title": competition.title,
        "organizer": await _organizer_json(s, competition),
        "entrant_kind": competition.entrant_kind,
        "metric": competition.metric,
        "currency": competition.currency,
        "starts_at": competition.starts_at.isoformat(),
        "ends_at": competition.ends_at.isoformat(),
        "status": status.value,
        "final_at": competition.final_at.isoformat() if competition.final_at else None,
        "entrants": len(entries),
        "server_time": now.isoformat(),
    }
    if not standings:
        return out
    if competition.final_at is not None:
        scores = [
            Score(_entrant_id(e), e.units or 0, e.gmv_minor or 0)
            for e in sorted(entries, key=lambda e: (e.rank or 0, e.id))
        ]
    else:
        scores = await _scores(s, competition, entries)
    metric = Metric(competition.metric)
    names = await _entrant_refs(s, competition.entrant_kind, [_entrant_id(e) for e in entries])
    table = [
        {
            "rank": standing.rank,
            "entrant": names[standing.score.entrant_id],
            "units": standing.score.units,
            "gmv": Money.from_minor(standing.score.gmv_minor, competition.currency).to_json(),
            "winner": standing.winner,
        }
        for standing in rules.rank(scores, metric)
    ]
    out["standings"] = table
    # Who leads now; once final, who won. Nobody while nothing has sold.
    out["winners"] = [row["entrant"] for row in table if row["winner"]]
    return out


def _entrant_id(entry: CompetitionEntry) -> int:
    found = entry.host_id if entry.host_id is not None else entry.show_id
    assert found is not None
    return found


async def _entrant_refs(s: AsyncSession, kind: str, ids: Sequence[int]) -> dict[int, Any]:
    if kind == EntrantKind.HOST.value:
        users = (await s.execute(select(User.id, User.display_name).where(User.id.in_(ids)))).all()
        return {
            int(uid): {"kind": kind, "id": int(uid), "name": name, "host": None}
            for uid, name in users
        }
    rows = (
        await s.execute(
            select(Show.id, Show.title, User.id, User.display_name)
            .join(User, User.id == Show.host_id)
            .where(Show.id.in_(ids))
        )
    ).all()
    return {
        int(sid): {
            "kind": kind,
            "id": int(sid),
            "name": title,
            "host": {"id": int(uid), "display_name": host},
        }
        for sid, title, uid, host in rows
    }


async def _organizer_json(s: AsyncSession, competition: Competition) -> dict[str, Any]:
    if competition.agency_id is not None:
        agency = await s.get(Agency, competition.agency_id)
        name = agency.name if agency else ""
        return {"kind": Organizer.AGENCY.value, "id": competition.agency_id, "name": name}
    if competition.brand_id is not None:
        brand = await s.get(Brand, competition.brand_id)
        name = brand.name if brand else ""
        return {"kind": Organizer.BRAND.value, "id": competition.brand_id, "name": name}
    return {"kind": Organizer.ADMIN.value, "id": None, "name": "Hawker"}


# -- the end: the winners are fixed ----------------------------------------------------------


async def finish(ctx: Context, competition_id: int) -> bool:
    """Fix the figures, ranks and winners of a competition whose window is over. Every
    worker may try; the one whose update sets `final_at` writes them, in the same
    transaction, so a competition is final with all its figures or not at all."""
    now = utcnow()
    async with ctx.db.session() as s:
        competition = await access_competition(s, competition_id)
        if competition.final_at is not None or competition.ends_at > now:
            return False
        entries = await _entries(s, competition.id)
        scores = await _scores(s, competition, entries)
        won = await s.execute(
            update(Competition)
            .where(Competition.id == competition.id, Competition.final_at.is_(None))
            .values(final_at=now)
        )
        if not won.rowcount:  # type: ignore[attr-defined]
            await s.rollback()
            return False
        by_entrant = {_entrant_id(e): e for e in entries}
        for standing in rules.rank(scores, Metric(competition.metric)):
            entry = by_entrant[standing.score.entrant_id]
            entry.units = standing.score.units
            entry.gmv_minor = standing.score.gmv_minor
            entry.rank = standing.rank
        await s.commit()
    return True


async def tick(ctx: Context) -> None:
    """Fix the winners of every competition whose window is over."""
    async with ctx.db.session() as s:
        due = (
            await s.scalars(
                select(Competition.id).where(
                    Competition.final_at.is_(None), Competition.ends_at <= utcnow()
                )
            )
        ).all()
    for competition_id in due:
        await finish(ctx, competition_id)
