"""Contracts: a brand offers one to an agency (or to a host directly), the other side
accepts or declines; shows are booked under an active one. The rules are in
domain/contracts.py; here they meet the database.

Offers and acceptances of one brand take the brand's row lock, so two offers sent at once
cannot both pass the overlap check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import contracts as rules
from hawker.domain.contracts import ContractStatus, Period, Rate, Terms
from hawker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from hawker.domain.money import Money
from hawker.domain.roles import (
    Actor,
    check_contract_party,
    check_signed_in,
    may_see_contract,
)
from hawker.services import commissions
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.store.tables import (
    Agency,
    AgencyHost,
    Brand,
    Contract,
    ContractRate,
    Product,
    User,
)

OFFERED, ACTIVE, DECLINED = (s.value for s in ContractStatus)


@dataclass(frozen=True, slots=True)
class RateInput:
    host_share: Decimal | str
    agency_share: Decimal | str = "0"
    product_id: int | None = None
    category: str | None = None
    # None: the contract's own start or end.
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def _rate(spec: RateInput, contract: Period) -> Rate:
    period = rules.check_period(
        spec.starts_at or contract.starts_at, spec.ends_at or contract.ends_at, "a rate"
    )
    category = None
    if spec.category is not None:
        category = rules.normalise_category(spec.category)
        if not category:
            raise InvalidInput("a category rate needs a category", code="invalid_category")
    return Rate(
        period=period,
        host_share=rules.parse_share(spec.host_share, "the host's share"),
        agency_share=rules.parse_share(spec.agency_share, "the agency's share"),
        product_id=spec.product_id,
        category=category,
    )


async def access_contract(s: AsyncSession, contract_id: int, *, lock: bool = False) -> Contract:
    query = select(Contract).where(Contract.id == contract_id)
    if lock:
        # Fresh values under the lock, even if this session read the row before it.
        query = query.with_for_update().execution_options(populate_existing=True)
    contract = await s.scalar(query)
    if contract is None:
        raise NotFound(f"no contract {contract_id}", code="contract_not_found")
    return contract


async def load_terms(s: AsyncSession, contract: Contract) -> Terms:
    rates = (
        await s.scalars(
            select(ContractRate)
            .where(ContractRate.contract_id == contract.id)
            .order_by(ContractRate.id)
        )
    ).all()
    return Terms(
        brand_id=contract.brand_id,
        agency_id=contract.agency_id,
        host_id=contract.host_id,
        product_ids=(frozenset(contract.product_ids) if contract.product_ids is not None else None),
        period=Period(contract.starts_at, contract.ends_at),
        rates=tuple(
            Rate(
                period=Period(r.starts_at, r.ends_at),
                host_share=rules.from_basis_points(r.host_bp),
                agency_share=rules.from_basis_points(r.agency_bp),
                product_id=r.product_id,
                category=r.category,
            )
            for r in rates
        ),
        fixed_fee=(
            Money.from_minor(contract.fixed_fee_minor, contract.currency)
            if contract.fixed_fee_minor is not None
            else None
        ),
    )


async def _others(
    s: AsyncSession, terms: Terms, statuses: Sequence[str], *, except_id: int = 0
) -> list[tuple[int, Terms]]:
    """The brand's other contracts with the same agency or host, in `statuses`."""
    query = select(Contract).where(
        Contract.brand_id == terms.brand_id,
        Contract.status.in_(statuses),
        Contract.id != except_id,
        Contract.starts_at < terms.period.ends_at,
        Contract.ends_at > terms.period.starts_at,
    )
    query = query.where(
        Contract.agency_id == terms.agency_id
        if terms.agency_id is not None
        else Contract.host_id == terms.host_id
    )
    return [(c.id, await load_terms(s, c)) for c in (await s.scalars(query)).all()]


async def _lock_brand(s: AsyncSession, brand_id: int) -> Brand:
    brand = await s.scalar(select(Brand).where(Brand.id == brand_id).with_for_update())
    if brand is None:
        raise NotFound(f"no brand {brand_id}", code="brand_not_found")
    return brand


async def do_offer_contract(
    ctx: Context,
    actor: Actor,
    *,
    brand_id: int,
    agency_id: int | None = None,
    host_id: int | None = None,
    product_ids: Sequence[int] | None = None,
    starts_at: datetime,
    ends_at: datetime,
    rates: Sequence[RateInput],
    fixed_fee: Decimal | str | None = None,
) -> dict[str, Any]:
    """The brand's staff offer a contract; it is in force once the other side accepts."""
    user_id = check_signed_in(actor)
    if not (actor.is_admin or brand_id in actor.brand_ids):
        raise Forbidden("only this brand's staff may offer its contracts")
    period = rules.check_period(starts_at, ends_at)
    parsed_rates = tuple(_rate(spec, period) for spec in rates)
    async with ctx.db.session() as s:
        brand = await _lock_brand(s, brand_id)
        if agency_id is not None and await s.get(Agency, agency_id) is None:
            raise NotFound(f"no agency {agency_id}", code="agency_not_found")
        if host_id is not None:
            host = await s.get(User, host_id)
            if host is None:
                raise NotFound(f"no user {host_id}", code="user_not_found")
            if not host.is_host:
                raise InvalidInput(f"{host.display_name} is not a host", code="not_a_host")
        fee = Money.of(fixed_fee, brand.currency) if fixed_fee is not None else None
        terms = Terms(
            brand_id=brand_id,
            agency_id=agency_id,
            host_id=host_id,
            product_ids=frozenset(product_ids) if product_ids is not None else None,
            period=period,
            rates=parsed_rates,
            fixed_fee=fee if fee is not None and fee.minor > 0 else None,
        )
        rows = await s.execute(
            select(Product.id, Product.category).where(Product.brand_id == brand_id)
        )
        products = {int(pid): str(category) for pid, category in rows.all()}
        rules.check_terms(terms, products)
        rules.check_no_overlap(terms, await _others(s, terms, (OFFERED, ACTIVE)))
        contract = Contract(
            brand_id=brand_id,
            agency_id=agency_id,
            host_id=host_id,
            status=OFFERED,
            product_ids=sorted(terms.product_ids) if terms.product_ids is not None else None,
            starts_at=period.starts_at,
            ends_at=period.ends_at,
            fixed_fee_minor=terms.fixed_fee.minor if terms.fixed_fee is not None else None,
            currency=brand.currency,
            created_by=user_id,
            created_at=utcnow(),
        )
        s.add(contract)
        await s.flush()
        s.add_all(
            ContractRate(
                contract_id=contract.id,
                product_id=rate.product_id,
                category=rate.category,
                host_bp=rules.to_basis_points(rate.host_share),
                agency_bp=rules.to_basis_points(rate.agency_share),
                starts_at=rate.period.starts_at,
                ends_at=rate.period.ends_at,
            )
            for rate in terms.rates
        )
        await s.commit()
        return await contract_json(s, contract)


async def do_answer_contract(
    ctx: Context, actor: Actor, contract_id: int, *, accept: bool
) -> dict[str, Any]:
    """The agency (or the host of a direct contract) accepts or declines an offer. The
    fixed fee, if any, is owed from the later of acceptance and the contract's start."""
    check_signed_in(actor)
    answer = ACTIVE if accept else DECLINED
    async with ctx.db.session() as s:
        contract = await access_contract(s, contract_id)
        check_contract_party(actor, agency_id=contract.agency_id, host_id=contract.host_id)
        await _lock_brand(s, contract.brand_id)
        contract = await access_contract(s, contract_id, lock=True)
        if contract.status != answer:
            if contract.status != OFFERED:
                raise Conflict(f"this contract is {contract.status}", code="contract_answered")
            now = utcnow()
            if accept:
                terms = await load_terms(s, contract)
                others = await _others(s, terms, (ACTIVE,), except_id=contract.id)
                rules.check_no_overlap(terms, others)
                if terms.fixed_fee is not None:
                    s.add(
                        commissions.fee_row(contract, terms.fixed_fee, max(now, contract.starts_at))
                    )
            contract.status = answer
            contract.answered_at = now
            await s.commit()
        return await contract_json(s, contract)


def _visible(actor: Actor) -> ColumnElement[bool]:
    if actor.is_admin:
        return true()
    return or_(
        Contract.brand_id.in_(actor.brand_ids or {-1}),
        Contract.agency_id.in_(actor.agency_ids or {-1}),
        Contract.host_id == actor.user_id,
    )


async def list_contracts(
    ctx: Context,
    actor: Actor,
    *,
    brand_id: int | None = None,
    agency_id: int | None = None,
    host_id: int | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The contracts the actor may see (its brands', its agencies', its own), newest first."""
    check_signed_in(actor)
    if status is not None and status not in (OFFERED, ACTIVE, DECLINED):
        raise InvalidInput(
            f"status is one of {OFFERED}, {ACTIVE}, {DECLINED}", code="invalid_status"
        )
    query = select(Contract).where(_visible(actor))
    if brand_id is not None:
        query = query.where(Contract.brand_id == brand_id)
    if agency_id is not None:
        query = query.where(Contract.agency_id == agency_id)
    if host_id is not None:
        query = query.where(Contract.host_id == host_id)
    if status is not None:
        query = query.where(Contract.status == status)
    async with ctx.db.session() as s:
        rows = (await s.scalars(query.order_by(Contract.id.desc()).limit(200))).all()
        return [await contract_json(s, c) for c in rows]


async def get_contract(ctx: Context, actor: Actor, contract_id: int) -> dict[str, Any]:
    check_signed_in(actor)
    async with ctx.db.session() as s:
        contract = await access_contract(s, contract_id)
        if not may_see_contract(
            actor,
            brand_id=contract.brand_id,
            agency_id=contract.agency_id,
            host_id=contract.host_id,
        ):
            raise Forbidden("only the brand and the agency or host of this contract may see it")
        return await contract_json(s, contract)


# -- shows under a contract -------------------------------------------------------------------


async def host_is_party(s: AsyncSession, contract: Contract, host_id: int) -> bool:
    if contract.host_id is not None:
        return contract.host_id == host_id
    return await s.get(AgencyHost, (contract.agency_id, host_id)) is not None


async def check_booking(
    s: AsyncSession, actor: Actor, contract_id: int, host_id: int, scheduled_at: datetime
) -> None:
    """A show is booked under a contract by the agency (or the host of a direct contract),
    for a host the contract covers, within the contract's dates, once it is accepted."""
    contract = await access_contract(s, contract_id)
    check_contract_party(actor, agency_id=contract.agency_id, host_id=contract.host_id)
    if contract.status != ACTIVE:
        raise Conflict(
            f"contract {contract_id} is {contract.status}; shows are booked under an "
            "accepted contract",
            code="contract_not_active",
        )
    if not await host_is_party(s, contract, host_id):
        raise Conflict(
            f"this host is not covered by contract {contract_id}", code="host_not_in_contract"
        )
    rules.check_show_date(await load_terms(s, contract), scheduled_at)


async def check_show_date(s: AsyncSession, contract_id: int, scheduled_at: datetime) -> None:
    """A show under a contract stays inside its dates when it moves."""
    rules.check_show_date(await load_terms(s, await access_contract(s, contract_id)), scheduled_at)


async def check_shelf_product(s: AsyncSession, contract_id: int, product: Product) -> None:
    rules.check_product(
        await load_terms(s, await access_contract(s, contract_id)), product.id, product.brand_id
    )


# -- JSON ------------------------------------------------------------------------------------


async def contract_json(s: AsyncSession, contract: Contract) -> dict[str, Any]:
    terms = await load_terms(s, contract)
    brand = await s.get(Brand, contract.brand_id)
    agency = await s.get(Agency, contract.agency_id) if contract.agency_id is not None else None
    host = await s.get(User, contract.host_id) if contract.host_id is not None else None
    assert brand is not None
    return {
        "id": contract.id,
        "status": contract.status,
        "brand": {"id": brand.id, "name": brand.name},
        "agency": {"id": agency.id, "name": agency.name} if agency is not None else None,
        "host": {"id": host.id, "display_name": host.display_name} if host is not None else None,
        "product_ids": contract.product_ids,
        "starts_at": contract.starts_at.isoformat(),
        "ends_at": contract.ends_at.isoformat(),
        "fixed_fee": terms.fixed_fee.to_json() if terms.fixed_fee is not None else None,
        "rates": [rate.to_json() for rate in terms.rates],
        "created_at": contract.created_at.isoformat(),
        "answered_at": contract.answered_at.isoformat() if contract.answered_at else None,
    }
