"""Commission lines of paid and refunded orders, and of contract fees.

The lines are written by the checkout in the same transaction as the order's status change
(`on_paid`, `on_refund`), so an order is never paid without its lines, nor its lines left
standing after a refund. The arithmetic is in domain/commissions.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import commissions as rules
from hawker.domain.commissions import BrandTotal, Line, LineKind, Party
from hawker.domain.contracts import rate_for, to_basis_points
from hawker.domain.money import Money
from hawker.domain.rates import rate_text
from hawker.services import contracts
from hawker.services.accounts import utcnow
from hawker.store.tables import CommissionLine, Contract, Order, Product, Show


async def on_paid(s: AsyncSession, order: Order) -> None:
    """The lines of an order that has just been paid, under the rates in force at payment.
    Nothing for a show that was not booked under a contract. Call inside the transaction
    that marks the order paid, before its commit."""
    show = (
        await s.execute(select(Show.contract_id, Show.host_id).where(Show.id == order.show_id))
    ).one_or_none()
    if show is None or show.contract_id is None:
        return
    if await _lines_of(s, order.id, LineKind.SALE):
        return  # written already (the same payment confirmed twice)
    contract = await contracts.access_contract(s, show.contract_id)
    terms = await contracts.load_terms(s, contract)
    category = await s.scalar(select(Product.category).where(Product.id == order.product_id))
    at = order.paid_at or utcnow()
    rate = rate_for(terms, order.product_id, category or "", at)
    lines = rules.sale_lines(
        order_id=order.id,
        total_minor=order.total_minor,
        currency=order.currency,
        host_share=rate.host_share if rate is not None else Decimal(0),
        agency_share=rate.agency_share if rate is not None else Decimal(0),
        with_agency=terms.with_agency,
        at=at,
        brand=brand_total(order),
    )
    s.add_all(_row(line, contract, order, show.host_id) for line in lines)


async def on_refund(s: AsyncSession, order: Order, at: datetime) -> None:
    """Undo a paid order's lines with negated ones dated `at` (the refund). The sale lines
    stay where they are, in a settlement that may be closed; the reversal goes into the
    next one. Call inside the transaction that refunds the order."""
    sale = await _lines_of(s, order.id, LineKind.SALE)
    if not sale or await _lines_of(s, order.id, LineKind.REFUND):
        return
    by_party = {row.party: row for row in sale}
    for line in rules.reversal([line_of(row) for row in sale], at):
        was = by_party[line.party.value]
        s.add(
            CommissionLine(
                contract_id=was.contract_id,
                order_id=was.order_id,
                show_id=was.show_id,
                product_id=was.product_id,
                title=was.title,
                brand_id=was.brand_id,
                agency_id=was.agency_id,
                host_id=was.host_id,
                **_amounts(line),
            )
        )


def brand_total(order: Order) -> BrandTotal | None:
    """The order's total in the brand's currency, if it was charged in another one."""
    if order.brand_currency is None or order.fx_rate is None or order.brand_total_minor is None:
        return None
    return BrandTotal(order.brand_total_minor, order.brand_currency, Decimal(order.fx_rate))


def fee_row(contract: Contract, fee: Money, at: datetime) -> CommissionLine:
    """The contract's fixed fee, owed by the brand to the agency (or the host)."""
    party = Party.AGENCY if contract.agency_id is not None else Party.HOST
    return CommissionLine(
        contract_id=contract.id,
        order_id=None,
        show_id=None,
        product_id=None,
        title=f"Fixed fee, contract #{contract.id}",
        brand_id=contract.brand_id,
        agency_id=contract.agency_id,
        host_id=contract.host_id,
        **_amounts(rules.fee_line(fee, party, at)),
    )


def line_of(row: CommissionLine) -> Line:
    return Line(
        party=Party(row.party),
        kind=LineKind(row.kind),
        base_minor=row.base_minor,
        share=Decimal(row.share_bp) / 100,
        amount_minor=row.amount_minor,
        currency=row.currency,
        at=row.at,
        order_id=row.order_id,
        rate=Decimal(row.fx_rate) if row.fx_rate is not None else None,
        brand_currency=row.brand_currency,
        brand_base_minor=row.brand_base_minor,
        brand_amount_minor=row.brand_amount_minor,
    )


async def _lines_of(s: AsyncSession, order_id: int, kind: LineKind) -> list[CommissionLine]:
    return list(
        (
            await s.scalars(
                select(CommissionLine)
                .where(CommissionLine.order_id == order_id, CommissionLine.kind == kind.value)
                .order_by(CommissionLine.id)
            )
        ).all()
    )


def _row(line: Line, contract: Contract, order: Order, host_id: int) -> CommissionLine:
    return CommissionLine(
        contract_id=contract.id,
        order_id=order.id,
        show_id=order.show_id,
        product_id=order.product_id,
        title=order.title,
        brand_id=order.brand_id,
        agency_id=contract.agency_id,
        host_id=host_id,
        **_amounts(line),
    )


def _amounts(line: Line) -> dict[str, object]:
    return {
        "party": line.party.value,
        "kind": line.kind.value,
        "base_minor": line.base_minor,
        "share_bp": to_basis_points(line.share),
        "amount_minor": line.amount_minor,
        "currency": line.currency,
        "brand_currency": line.brand_currency,
        "fx_rate": rate_text(line.rate) if line.rate is not None else None,
        "brand_base_minor": line.brand_base_minor,
        "brand_amount_minor": line.brand_amount_minor,
        "at": line.at,
        "created_at": utcnow(),
    }
