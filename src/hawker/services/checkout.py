"""Checkout: buy inside the stream, pay, and everything that can happen to an order after.

The order of steps is what keeps stock right:
- buy: the gate holds the units first (atomic, shared by all workers), then the ledger
  gets the pending order; if writing the order fails, the hold is given back.
- pay / decline / expire / cancel / refund: the ledger changes first (under the order's row
  lock, so a late payment and the expiry sweep cannot both win), then the gate follows.
  A gate that lost the pool rebuilds it from the ledger, which is already right.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    String,
    Table,
    Text,
    TextClause,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import orders as rules
from hawker.domain.coupons import Coupon as CouponRule
from hawker.domain.coupons import CouponUsage, normalise_code
from hawker.domain.errors import (
    Conflict,
    CouponInvalid,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentDeclined,
)
from hawker.domain.money import Money
from hawker.domain.pricing import LineInput, Quote, check_price_unchanged, price
from hawker.domain.rates import convert, convert_back
from hawker.domain.roles import Action, Actor, check_brand_staff, check_signed_in, may_in_show
from hawker.domain.stock import ReservationState, check_idempotency_key
from hawker.live import events
from hawker.live.gate import Hold
from hawker.payments.port import CardDetails, EventType, PaymentIntent
from hawker.services import commissions, stock
from hawker.services.accounts import utcnow
from hawker.services.coalesce import Coalescer, one_of, shared
from hawker.services.context import Context
from hawker.services.shows import ENDED, LIVE, access_show, show_with_facts
from hawker.store.tables import (
    Address,
    Brand,
    Coupon,
    CouponClaim,
    Deal,
    Listing,
    Order,
    Product,
    User,
    Variant,
)

log = logging.getLogger(__name__)

PENDING, PAID, FULFILLED = stock.PENDING, stock.PAID, stock.FULFILLED
CANCELLED, EXPIRED, REFUNDED = stock.CANCELLED, stock.EXPIRED, stock.REFUNDED


class AddressRequired(Conflict):
    code = "address_required"


# -- addresses ----------------------------------------------------------------------------


ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")


def check_address(fields: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    limits = {
        "name": 100,
        "line1": 200,
        "line2": 200,
        "city": 100,
        "region": 100,
        "postal_code": 20,
        "country": 2,
        "phone": 40,
    }
    for name in ADDRESS_FIELDS:
        value = " ".join(str(fields.get(name) or "").split())
        if name in ("name", "line1", "city", "postal_code", "country") and not value:
            raise InvalidInput(
                f"the address needs a {name.replace('_', ' ')}", code="invalid_address"
            )
        if len(value) > limits[name]:
            raise InvalidInput(
                f"{name} has at most {limits[name]} characters", code="invalid_address"
            )
        out[name] = value
    country = out["country"].upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise InvalidInput("country is a two-letter code such as US or CN", code="invalid_address")
    out["country"] = country
    return out


async def do_save_address(ctx: Context, actor: Actor, fields: Mapping[str, str]) -> dict[str, str]:
    user_id = check_signed_in(actor)
    clean = check_address(fields)
    async with ctx.db.session() as s:
        address = await s.get(Address, user_id)
        if address is None:
            address = Address(user_id=user_id, updated_at=utcnow(), **clean)
            s.add(address)
        else:
            for name, value in clean.items():
                setattr(address, name, value)
            address.updated_at = utcnow()
        await s.commit()
    return clean


async def get_address(ctx: Context, actor: Actor) -> dict[str, str] | None:
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        address = await s.get(Address, user_id)
        return _address_json(address) if address else None


def _address_json(address: Address) -> dict[str, str]:
    return {name: getattr(address, name) for name in ADDRESS_FIELDS}


# -- what is being bought ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One listing and variant of a live show, with the deal that runs on it, if any."""

    listing: Listing
    variant: Variant
    product: Product
    deal: Deal | None
    # Quotes without a coupon, by (quantity, deal price applies): they depend on nothing
    # else, and the buys of one coalesced read share the Item (see `_plain_quote`).
    quotes: dict[tuple[int, bool], Quote] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @property
    def pool(self) -> str:
        if self.deal is not None:
            return stock.deal_pool(self.deal.id)
        return stock.variant_pool(self.variant.id)


async def access_item(
    s: AsyncSession, show_id: int, listing_id: int, variant_id: int | None
) -> Item:
    listing = await s.get(Listing, listing_id)
    if listing is None or listing.show_id != show_id:
        raise NotFound(f"no listing {listing_id} in show {show_id}", code="listing_not_found")
    offered = set(listing.variant_ids or [])
    variants = (
        await s.scalars(
            select(Variant).where(Variant.product_id == listing.product_id).order_by(Variant.id)
        )
    ).all()
    choices = [v for v in variants if not offered or v.id in offered]
    if variant_id is None:
        if len(choices) != 1:
            raise InvalidInput(
                "pick a variant (shade, size ...) of this item", code="variant_required"
            )
        variant = choices[0]
    else:
        found = next((v for v in choices if v.id == variant_id), None)
        if found is None:
            raise NotFound(
                f"variant {variant_id} is not offered in listing #{listing.position}",
                code="variant_not_found",
            )
        variant = found
    product = await s.get(Product, listing.product_id)
    assert product is not None
    deal = await s.scalar(
        select(Deal)
        .where(
            Deal.listing_id == listing.id,
            Deal.variant_id == variant.id,
            Deal.closed_at.is_(None),
        )
        .order_by(Deal.id.desc())
        .limit(1)
    )
    return Item(listing, variant, product, deal)


def _deal_rule(deal: Deal) -> Any:
    from hawker.domain.deals import Deal as DealRule

    return DealRule(
        listing_id=deal.listing_id,
        price=Money.from_minor(deal.price_minor, deal.currency),
        quantity=deal.quantity,
        per_buyer_limit=deal.per_buyer_limit,
        starts_at=deal.starts_at or utcnow(),
        ends_at=deal.ends_at or utcnow(),
    )


async def _coupon(s: AsyncSession, code: str, show_id: int, brand_id: int) -> Coupon:
    normal = normalise_code(code)
    found = (
        await s.scalars(
            select(Coupon)
            .where(Coupon.code == normal)
            .order_by(Coupon.show_id.is_(None), Coupon.id)
        )
    ).all()
    for coupon in found:
        if coupon.show_id in (None, show_id) and coupon.brand_id in (None, brand_id):
            return coupon
    if found:
        raise CouponInvalid("this coupon is not for this item", code="coupon_not_applicable")
    raise NotFound(f"no coupon {normal!r}", code="coupon_not_found")


def coupon_rule(c: Coupon, listing: Listing | None = None) -> CouponRule:
    """The coupon's rule; on `listing`, in the currency the listing is charged in. A brand's
    coupon on a listing priced from the brand's currency at a rate is taken at that same
    rate: its amount off and minimum spend converted once (half-even), as the price was."""
    currency, rate = c.currency, None
    if (
        listing is not None
        and listing.currency != c.currency
        and listing.brand_currency == c.currency
        and listing.fx_rate is not None
    ):
        currency, rate = listing.currency, Decimal(listing.fx_rate)

    def money(minor: int) -> Money:
        amount = Money.from_minor(minor, c.currency)
        return amount if rate is None else convert(amount, rate, currency)

    return CouponRule(
        code=c.code,
        currency=currency,
        percent_off=c.percent_off,
        amount_off=money(c.amount_off_minor) if c.amount_off_minor is not None else None,
        min_spend=money(c.min_spend_minor or 0),
        uses_per_buyer=c.uses_per_buyer,
        total_uses=c.total_uses,
        show_id=c.show_id,
        brand_id=c.brand_id,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        claim_limit=c.claim_limit,
    )


def _deal_price(item: Item, now: datetime) -> Money | None:
    """The deal's price if a deal on this item is running at `now`."""
    if item.deal is None:
        return None
    rule = _deal_rule(item.deal)
    return rule.price if rule.starts_at <= now < rule.ends_at else None


def _line(item: Item, quantity: int, deal_price: Money | None) -> LineInput:
    return LineInput(
        listing_id=item.listing.id,
        brand_id=item.product.brand_id,
        listing_price=Money.from_minor(item.listing.price_minor, item.listing.currency),
        quantity=quantity,
        variant_id=item.variant.id,
        deal_price=deal_price,
    )


async def _quote(
    ctx: Context,
    s: AsyncSession | None,
    buyer_id: int,
    show_id: int,
    currency: str,
    item: Item,
    quantity: int,
    coupon: Coupon | None,
) -> Quote:
    now = utcnow()
    usage = None
    if coupon is not None:
        assert s is not None, "a coupon is read in a session"
        claimed = await s.get(CouponClaim, (coupon.id, buyer_id)) is not None
        # Uses are counted atomically by the gate at checkout; here only the claim matters.
        usage = CouponUsage(claimed=claimed)
    return price(
        [_line(item, quantity, _deal_price(item, now))],
        show_id=show_id,
        currency=currency,
        now=now,
        coupon=coupon_rule(coupon, item.listing) if coupon else None,
        usage=usage,
    )


def _plain_quote(show_id: int, currency: str, item: Item, quantity: int) -> Quote:
    """`_quote` without a coupon, which depends on nothing but the quantity and whether the
    deal is on: priced once per Item (in a flash sale, the buys of one coalesced read share
    it, and every one of them asks for the same price)."""
    now = utcnow()
    deal_price = _deal_price(item, now)
    key = (quantity, deal_price is not None)
    found = item.quotes.get(key)
    if found is None:
        found = item.quotes[key] = price(
            [_line(item, quantity, deal_price)], show_id=show_id, currency=currency, now=now
        )
    return found


async def quote(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    listing_id: int,
    variant_id: int | None,
    quantity: int,
    coupon_code: str | None,
) -> dict[str, Any]:
    buyer_id = check_signed_in(actor)
    rules.check_quantity(quantity)
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        item = await access_item(s, show_id, listing_id, variant_id)
        coupon = (
            await _coupon(s, coupon_code, show_id, item.product.brand_id) if coupon_code else None
        )
        q = await _quote(ctx, s, buyer_id, show_id, show.currency, item, quantity, coupon)
    return q.to_json()


# -- buying -----------------------------------------------------------------------------------


async def do_buy(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    listing_id: int,
    variant_id: int | None,
    quantity: int,
    idempotency_key: str,
    coupon_code: str | None = None,
    quote_fingerprint: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Hold the units and open a pending order. Returns (order, created): the same key again
    returns the same order with created=False, never a second one."""
    buyer_id = check_signed_in(actor)
    key = check_idempotency_key(idempotency_key)
    rules.check_quantity(quantity)
    # The reads come from queries shared with the buys arriving at the same moment (see
    # services/coalesce.py): as fresh as a query of one's own, at a fraction of the cost.
    # Asked together, answered in the order of the checks: one wait instead of three.
    reads = _reads(ctx)
    existing, facts, shipping = await asyncio.gather(
        reads.orders.ask((buyer_id, key)),
        reads.items.ask((show_id, listing_id, variant_id)),
        reads.addresses.ask(buyer_id),
    )
    if existing is not None:
        return _same_request(existing, listing_id, variant_id, quantity), False
    assert facts is not None, "every key gets an answer"
    status, currency, found = facts
    if isinstance(found, DomainError) and found.code == "show_not_found":
        raise copy.copy(found)
    if status not in (LIVE, ENDED):
        raise Conflict("buying opens when the show is on air", code="show_not_live")
    if isinstance(found, DomainError):
        raise copy.copy(found)
    item = found
    if status == ENDED and item.deal is not None:
        # A replay sells at the listing price from the variant's own stock: no flash deals.
        item = replace(item, deal=None)
    if shipping is None:
        raise AddressRequired("add a shipping address first (PUT /api/v1/me/address)")
    coupon: Coupon | None = None
    if coupon_code:
        async with ctx.db.session() as s:
            coupon = await _coupon(s, coupon_code, show_id, item.product.brand_id)
            q = await _quote(ctx, s, buyer_id, show_id, currency, item, quantity, coupon)
    else:
        q = _plain_quote(show_id, currency, item, quantity)
    if quote_fingerprint is not None:
        check_price_unchanged(q, quote_fingerprint)
    if item.deal is not None:
        from hawker.domain.deals import DealStatus, deal_status

        if deal_status(_deal_rule(item.deal), utcnow(), 1) is DealStatus.SCHEDULED:
            from hawker.domain.errors import DealNotRunning

            raise DealNotRunning("the deal has not started yet")

    hold = (await stock.reserve(ctx, item.pool, buyer=buyer_id, quantity=quantity, key=key)).check()
    if hold.replay:
        replayed = await _replayed(ctx, buyer_id, key, listing_id, variant_id, quantity)
        if replayed is not None:
            return replayed, False
        if hold.state is not ReservationState.HELD:
            raise Conflict("this request's hold has ended; buy again", code="hold_expired")
        # The gate holds for this key but no order was written (a worker died in between,
        # or the first request is still on its way): write it now; the unique key decides.
        try:
            order = await _write_order(
                ctx, buyer_id, show_id, item, q, hold, None, None, key, shipping
            )
        except IntegrityError:
            again = await _replayed(ctx, buyer_id, key, listing_id, variant_id, quantity)
            if again is None:
                raise
            return again, False
        except CheckoutBusy:
            # A hold left behind by a worker that died: too old to write its order now (the
            # reconciler is about to release it), and "try again" would meet it again.
            raise Conflict(
                "this request's hold has ended; buy again", code="hold_expired"
            ) from None
        ctx.mark_stock(show_id, item.pool)
        return order, True
    coupon_hold: Hold | None = None
    try:
        if coupon is not None and q.discount.amount > 0:
            coupon_hold = await stock.reserve(
                ctx, stock.coupon_pool(coupon.id), buyer=buyer_id, quantity=1, key=key
            )
            if not coupon_hold.ok:
                raise CouponInvalid(
                    "you have already used this coupon"
                    if coupon_hold.status == "limit_reached"
                    else "this coupon has been used up",
                    code="coupon_already_used"
                    if coupon_hold.status == "limit_reached"
                    else "coupon_used_up",
                )
        order = await _write_order(
            ctx,
            buyer_id,
            show_id,
            item,
            q,
            hold,
            coupon if coupon_hold else None,
            coupon_hold,
            key,
            shipping,
        )
    except BaseException as exc:
        if isinstance(exc, IntegrityError):
            # A double tap's twin found this hold and wrote its order first: that order
            # holds these units, so they stay held, and this request answers with it.
            again = await _replayed(ctx, buyer_id, key, listing_id, variant_id, quantity)
            if again is not None:
                if coupon is not None and coupon_hold is not None and coupon_hold.ok:
                    await stock.settle(
                        ctx, stock.coupon_pool(coupon.id), coupon_hold.reservation_id, "release"
                    )
                ctx.mark_stock(show_id, item.pool)
                return again, False
        await stock.settle(ctx, item.pool, hold.reservation_id, "release")
        if coupon is not None and coupon_hold is not None and coupon_hold.ok:
            await stock.settle(
                ctx, stock.coupon_pool(coupon.id), coupon_hold.reservation_id, "release"
            )
        raise
    ctx.mark_stock(show_id, item.pool)
    return order, True


async def _write_order(
    ctx: Context,
    buyer_id: int,
    show_id: int,
    item: Item,
    q: Quote,
    hold: Hold,
    coupon: Coupon | None,
    coupon_hold: Hold | None,
    key: str,
    shipping: dict[str, str],
) -> dict[str, Any]:
    line = q.lines[0]
    fx_rate = item.listing.fx_rate
    brand_currency = item.listing.brand_currency if fx_rate is not None else None
    order = Order(
        buyer_id=buyer_id,
        show_id=show_id,
        listing_id=item.listing.id,
        listing_number=item.listing.position,
        product_id=item.product.id,
        brand_id=item.product.brand_id,
        variant_id=item.variant.id,
        deal_id=item.deal.id if item.deal is not None else None,
        coupon_id=coupon.id if coupon is not None else None,
        title=f"{item.product.title} — {item.variant.name}"[:300],
        quantity=line.quantity,
        unit_price_minor=line.unit_price.minor,
        subtotal_minor=q.subtotal.minor,
        discount_minor=q.discount.minor,
        total_minor=q.total.minor,
        currency=q.currency,
        brand_currency=brand_currency,
        fx_rate=fx_rate,
        brand_total_minor=(
            convert_back(q.total.minor, q.currency, Decimal(fx_rate), brand_currency)
            if fx_rate is not None and brand_currency is not None
            else None
        ),
        status=PENDING,
        pool=item.pool,
        reservation_id=hold.reservation_id,
        coupon_reservation_id=coupon_hold.reservation_id if coupon_hold else None,
        idempotency_key=key,
        hold_expires_at=datetime.fromtimestamp(hold.expires_at_ms / 1000, tz=utcnow().tzinfo),
        shipping=shipping,
        created_at=utcnow(),
    )
    held_at_ms = hold.expires_at_ms - ctx.settings.hold_seconds * 1000
    written = await _reads(ctx).writes.get(_NewOrder(order, held_at_ms))
    if isinstance(written, Exception):
        raise written
    assert written is not None, "every write gets an answer"
    return written


class CheckoutBusy(DomainError):
    code = "checkout_busy"
    status = 503


# A hold whose order is not on its way to the ledger by then is given back and the buyer is
# told to try again: under overload an answer in seconds beats a hold that waits for minutes.
# (Stock stays right either way: the reconciler leaves a hold alone until its time is over.)
WRITE_DEADLINE_MS = 5_000


class _NewOrder:
    """An order row waiting for the next group commit (hashed by identity: each is its own)."""

    __slots__ = ("held_at_ms", "order")

    def __init__(self, order: Order, held_at_ms: int) -> None:
        self.order = order
        self.held_at_ms = held_at_ms


async def _commit_orders(
    ctx: Context, batch: list[_NewOrder]
) -> dict[_NewOrder, dict[str, Any] | Exception]:
    """Group commit: the orders of the buys that arrive together go in one transaction, so a
    stampede pays one commit (one WAL flush) per batch, not per order. A batch that breaks a
    unique constraint (a key raced by two requests) is written again one order at a time,
    so that only the offending request fails."""
    out: dict[_NewOrder, dict[str, Any] | Exception] = {}
    late = stock.now_ms() - WRITE_DEADLINE_MS
    for new in batch:
        if new.held_at_ms < late:
            out[new] = CheckoutBusy("the checkout is too busy to take this order now; try again")
    batch = [new for new in batch if new not in out]
    pending = [new.order for new in batch]
    if not batch:
        return out
    try:
        await _insert_orders(ctx, pending)
        return {**out, **{new: order_json(new.order) for new in batch}}
    except IntegrityError:
        if len(batch) == 1:
            return {**out, batch[0]: _integrity_error()}
    for new in batch:
        try:
            await _insert_orders(ctx, [new.order])
            out[new] = order_json(new.order)
        except IntegrityError as exc:
            out[new] = exc
    return out


_ORDERS = cast(Table, Order.__table__)
_ORDER_COLUMNS = tuple(c.key for c in _ORDERS.columns if c.key != "id")
# Plain SQL, not the ORM's unit of work: the rows are new and never change in this
# session, and flushing hundreds of tracked objects a batch cost more than the insert.
_INSERT_ORDERS = insert(_ORDERS).returning(_ORDERS.c.id, sort_by_parameter_order=True)


def _unnest_insert() -> TextClause:
    """PostgreSQL: the whole batch as one array per column. One statement text for every
    batch size, so the driver and the server parse and plan it once; a multi-row VALUES
    list is a new, long text per batch, and parsing it was most of a batch's cost."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]

    def array_type(name: str) -> str:
        column_type = _ORDERS.c[name].type
        # TEXT, not VARCHAR(n): a cast to VARCHAR(n) cuts a long value short in silence,
        # where the column itself refuses it.
        if isinstance(column_type, String) and not isinstance(column_type, Text):
            return "TEXT[]"
        return f"{column_type.compile(dialect=dialect)}[]"

    names = ", ".join(_ORDER_COLUMNS)
    arrays = ", ".join(f"CAST(:{name} AS {array_type(name)})" for name in _ORDER_COLUMNS)
    return text(
        f"INSERT INTO orders ({names}) SELECT {names} FROM unnest({arrays}) AS u({names}) "
        "RETURNING id, buyer_id, idempotency_key"
    )


_UNNEST_ORDERS = _unnest_insert()


async def _insert_orders(ctx: Context, orders: list[Order]) -> None:
    """Insert `orders` in one transaction and give each its id (all or none are written)."""
    async with ctx.db.session() as s:
        if ctx.db.sqlite:
            rows = [{name: getattr(o, name) for name in _ORDER_COLUMNS} for o in orders]
            ids = list((await s.execute(_INSERT_ORDERS, rows)).scalars().all())
        else:
            columns: dict[str, list[Any]] = {
                name: [getattr(o, name) for o in orders] for name in _ORDER_COLUMNS
            }
            columns["shipping"] = [json.dumps(shipping) for shipping in columns["shipping"]]
            # RETURNING promises no order: each id is matched by the row's unique key.
            made = {
                (buyer_id, key): order_id
                for order_id, buyer_id, key in (await s.execute(_UNNEST_ORDERS, columns)).all()
            }
            ids = [made[(o.buyer_id, o.idempotency_key)] for o in orders]
        await s.commit()
    for order, order_id in zip(orders, ids, strict=True):
        order.id = order_id


def _integrity_error() -> IntegrityError:
    return IntegrityError("INSERT INTO orders", None, Exception("unique constraint"))


@dataclass(slots=True)
class _Reads:
    orders: Coalescer[tuple[int, str], Order]
    items: Coalescer[tuple[int, int, int | None], tuple[str, str, Item | DomainError]]
    addresses: Coalescer[int, dict[str, str]]
    writes: Coalescer[_NewOrder, dict[str, Any] | Exception]


def _reads(ctx: Context) -> _Reads:
    return shared(
        ctx.db,
        "checkout",
        lambda: _Reads(
            Coalescer(lambda keys: _orders_by_key(ctx, keys)),
            Coalescer(lambda keys: _items(ctx, keys)),
            Coalescer(lambda keys: _addresses(ctx, keys)),
            # SQLite has one writer at a time: more than one commit in flight only queues up
            # on its lock (and may time out there); PostgreSQL overlaps their WAL flushes.
            Coalescer(
                lambda batch: _commit_orders(ctx, batch),
                max_batch=500,
                lanes=1 if ctx.db.sqlite else 4,
            ),
        ),
    )


async def _orders_by_key(ctx: Context, keys: list[tuple[int, str]]) -> dict[tuple[int, str], Order]:
    # Plain SQL: in a stampede nearly every key finds nothing, and the ORM's per-query setup
    # cost more than the query; the rare order found becomes a detached Order to answer with.
    async with ctx.db.reads() as conn:
        rows = (
            await conn.execute(
                select(_ORDERS).where(
                    one_of(ctx.db, _ORDERS.c.buyer_id, list({b for b, _ in keys})),
                    one_of(ctx.db, _ORDERS.c.idempotency_key, list({k for _, k in keys})),
                )
            )
        ).all()
    found = [Order(**row._mapping) for row in rows]
    return {(o.buyer_id, o.idempotency_key): o for o in found}


async def _items(
    ctx: Context, keys: list[tuple[int, int, int | None]]
) -> dict[tuple[int, int, int | None], tuple[str, str, Item | DomainError]]:
    out: dict[tuple[int, int, int | None], tuple[str, str, Item | DomainError]] = {}
    async with ctx.db.session() as s:
        for key in keys:
            show_id, listing_id, variant_id = key
            try:
                show = await access_show(s, show_id)
            except DomainError as exc:
                out[key] = ("", "", exc)
                continue
            try:
                found: Item | DomainError = await access_item(s, show_id, listing_id, variant_id)
            except DomainError as exc:
                found = exc
            out[key] = (show.status, show.currency, found)
    return out


_ADDRESSES = cast(Table, Address.__table__)


async def _addresses(ctx: Context, buyer_ids: list[int]) -> dict[int, dict[str, str]]:
    # Plain SQL: one row per buyer in the batch, read-only, so no ORM objects to build.
    columns = [_ADDRESSES.c[name] for name in ADDRESS_FIELDS]
    async with ctx.db.reads() as conn:
        rows = (
            await conn.execute(
                select(_ADDRESSES.c.user_id, *columns).where(
                    one_of(ctx.db, _ADDRESSES.c.user_id, buyer_ids)
                )
            )
        ).all()
    return {row[0]: dict(zip(ADDRESS_FIELDS, row[1:], strict=True)) for row in rows}


async def _order_by_key(s: AsyncSession, buyer_id: int, key: str) -> Order | None:
    return await s.scalar(
        select(Order).where(Order.buyer_id == buyer_id, Order.idempotency_key == key)
    )


def _same_request(
    order: Order, listing_id: int, variant_id: int | None, quantity: int
) -> dict[str, Any]:
    if (
        order.listing_id != listing_id
        or order.quantity != quantity
        or (variant_id is not None and order.variant_id != variant_id)
    ):
        raise InvalidInput(
            "this idempotency key was used for another order", code="idempotency_key_reused"
        )
    return order_json(order)


async def _replayed(
    ctx: Context, buyer_id: int, key: str, listing_id: int, variant_id: int | None, quantity: int
) -> dict[str, Any] | None:
    """The order a repeated key already made, or None if it was never written."""
    async with ctx.db.session() as s:
        order = await _order_by_key(s, buyer_id, key)
    return None if order is None else _same_request(order, listing_id, variant_id, quantity)


# -- paying -----------------------------------------------------------------------------------


async def _access_order(s: AsyncSession, order_id: int, *, lock: bool = False) -> Order:
    query = select(Order).where(Order.id == order_id)
    if lock:
        query = query.with_for_update()
    order = await s.scalar(query)
    if order is None:
        raise NotFound(f"no order {order_id}", code="order_not_found")
    return order


async def _check_may_see(s: AsyncSession, actor: Actor, order: Order) -> None:
    if actor.user_id == order.buyer_id or actor.is_admin or order.brand_id in actor.brand_ids:
        return
    _, facts = await show_with_facts(s, order.show_id)
    if may_in_show(actor, Action.SHOW_MANAGE, facts):
        return
    check_signed_in(actor)
    raise Forbidden("this is not your order")


async def get_order(ctx: Context, actor: Actor, order_id: int) -> dict[str, Any]:
    check_signed_in(actor)
    async with ctx.db.session() as s:
        order = await _access_order(s, order_id)
        await _check_may_see(s, actor, order)
        return order_json(order)


async def list_my_orders(ctx: Context, actor: Actor, limit: int = 100) -> list[dict[str, Any]]:
    buyer_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        rows = (
            await s.scalars(
                select(Order)
                .where(Order.buyer_id == buyer_id)
                .order_by(Order.id.desc())
                .limit(limit)
            )
        ).all()
        return [order_json(o) for o in rows]


async def list_brand_orders(
    ctx: Context, actor: Actor, brand_id: int, limit: int = 200
) -> list[dict[str, Any]]:
    check_brand_staff(actor, brand_id)
    async with ctx.db.session() as s:
        if await s.get(Brand, brand_id) is None:
            raise NotFound(f"no brand {brand_id}", code="brand_not_found")
        rows = (
            await s.scalars(
                select(Order)
                .where(Order.brand_id == brand_id)
                .order_by(Order.id.desc())
                .limit(limit)
            )
        ).all()
        return [order_json(o) for o in rows]


async def do_pay(ctx: Context, actor: Actor, order_id: int, card: CardDetails) -> dict[str, Any]:
    """Charge the card. The answer comes later, from the provider's signed webhook: the order
    stays pending (payment "processing") until then, and the buyer's page is told."""
    buyer_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        order = await _access_order(s, order_id)
        if order.buyer_id != buyer_id:
            raise Forbidden("this is not your order")
        if order.status == PAID or order.status == FULFILLED:
            return order_json(order)
        if order.status != PENDING:
            raise Conflict(f"this order is {order.status}", code="order_not_pending")
        if _time_to_pay_over(ctx, order):
            raise Conflict(
                "the time to pay has run out; the item went back on sale", code="hold_expired"
            )
        amount = Money.from_minor(order.total_minor, order.currency)
        intent_id = order.payment_intent_id
    if intent_id is None:
        intent = await ctx.payments.create_intent(
            amount,
            order_ref=f"order-{order_id}",
            idempotency_key=f"order-{order_id}",
            metadata={"order_id": str(order_id)},
        )
        async with ctx.db.session() as s:
            order = await _access_order(s, order_id, lock=True)
            order.payment_intent_id = intent.id
            order.decline_reason = None
            await s.commit()
        intent_id = intent.id
    current = await ctx.payments.get_intent(intent_id)
    if current.status.value == "failed":
        # A declined card leaves the order cancelled (stock back); a new buy is a new order.
        raise PaymentDeclined(
            current.failure_message or "the card was declined",
            reason=current.decline_code or "declined",
        )
    await ctx.payments.confirm_intent(intent_id, card)
    async with ctx.db.session() as s:
        return {**order_json(await _access_order(s, order_id)), "payment": "processing"}


def _time_to_pay_over(ctx: Context, order: Order) -> bool:
    """Whether the order's hold is over: at its hold time, or with a payment under way, that
    much later (`payment_grace_s`, as `sweep_expired` has it)."""
    end = order.hold_expires_at
    if order.payment_intent_id is not None:
        end += timedelta(seconds=ctx.settings.payment_grace_s)
    return end <= utcnow()


async def handle_webhook(ctx: Context, headers: Mapping[str, str], body: bytes) -> None:
    """A payment provider's event. Verified, deduplicated, and idempotent in the ledger, so a
    replayed or twice-delivered event changes nothing the second time."""
    event = ctx.payments.verify_webhook(headers, body)
    if not ctx.seen_events.first_time(event.id):
        return
    try:
        intent = event.intent
        if intent is None:
            return
        if event.type == EventType.INTENT_SUCCEEDED:
            await _on_paid(ctx, intent)
        elif event.type == EventType.INTENT_FAILED:
            await _on_declined(ctx, intent)
    except Exception:
        ctx.seen_events.forget(event.id)  # let the provider's retry through
        raise


async def _order_of_intent(s: AsyncSession, intent: PaymentIntent) -> Order | None:
    return await s.scalar(
        select(Order).where(Order.payment_intent_id == intent.id).with_for_update()
    )


async def _on_paid(ctx: Context, intent: PaymentIntent) -> None:
    refund_late = False
    async with ctx.db.session() as s:
        order = await _order_of_intent(s, intent)
        if order is None or order.status in (PAID, FULFILLED):
            return
        if order.status != PENDING:
            # Paid after the hold expired or the order was cancelled: the units may be sold
            # to someone else already, so the money goes back.
            refund_late = True
        else:
            order.status = rules.transition(rules.OrderStatus.PENDING, rules.OrderEvent.PAY).value
            order.paid_at = utcnow()
            await commissions.on_paid(s, order)
            await s.commit()
        data = order_json(order)
        buyer = await s.get(User, order.buyer_id)
    if refund_late:
        await ctx.payments.refund(intent.id, idempotency_key=f"late-{intent.id}")
        return
    await stock.settle(ctx, order.pool, order.reservation_id, "confirm")
    if order.coupon_id is not None and order.coupon_reservation_id is not None:
        await stock.settle(
            ctx, stock.coupon_pool(order.coupon_id), order.coupon_reservation_id, "confirm"
        )
    await ctx.bus.publish(
        order.show_id, events.ORDER_UPDATED, {"buyer_id": order.buyer_id, "order": data}
    )
    ctx.note_sale(order.show_id, _ticker_name(buyer), order.listing_number, order.quantity)


def _ticker_name(user: User | None) -> str:
    """ "A. from Austin": an initial and a city, never a full name."""
    if user is None:
        return "Someone"
    initial = (user.display_name.strip()[:1] or "?").upper()
    return f"{initial}. from {user.city}" if user.city else f"{initial}."


async def _on_declined(ctx: Context, intent: PaymentIntent) -> None:
    async with ctx.db.session() as s:
        order = await _order_of_intent(s, intent)
        if order is None or order.status != PENDING:
            return
        order.status = rules.transition(rules.OrderStatus.PENDING, rules.OrderEvent.DECLINE).value
        order.decline_reason = (
            intent.failure_message or intent.decline_code or "the card was declined"
        )
        order.closed_at = utcnow()
        await s.commit()
        data = order_json(order)
    await _give_back(ctx, order, "release")
    await ctx.bus.publish(
        order.show_id, events.ORDER_UPDATED, {"buyer_id": order.buyer_id, "order": data}
    )


async def _give_back(ctx: Context, order: Order, move: str) -> None:
    await stock.settle(ctx, order.pool, order.reservation_id, move)
    if order.coupon_id is not None and order.coupon_reservation_id is not None:
        await stock.settle(
            ctx, stock.coupon_pool(order.coupon_id), order.coupon_reservation_id, move
        )
    ctx.mark_stock(order.show_id, order.pool)


async def do_cancel(ctx: Context, actor: Actor, order_id: int) -> dict[str, Any]:
    """The buyer cancels a pending order; the brand's staff (or an admin) cancel any open
    order, refunding it if it was paid. The units go back on sale."""
    check_signed_in(actor)

    def check(order: Order) -> None:
        staff = actor.is_admin or order.brand_id in actor.brand_ids
        if not staff and actor.user_id != order.buyer_id:
            raise Forbidden("only the buyer or the brand may cancel this order")
        if not staff and order.status != PENDING:
            raise Conflict(
                "a paid order is cancelled by the seller; ask them for a refund",
                code="order_not_pending",
            )

    return await _step_order(ctx, order_id, rules.OrderEvent.CANCEL, check)


async def do_refund(ctx: Context, actor: Actor, order_id: int) -> dict[str, Any]:
    return await _step_order(
        ctx, order_id, rules.OrderEvent.REFUND, lambda o: check_brand_staff(actor, o.brand_id)
    )


async def _step_order(
    ctx: Context, order_id: int, event: rules.OrderEvent, check: Callable[[Order], None]
) -> dict[str, Any]:
    """Move an order by `event` under its row lock, then the gate and the payment after it,
    then tell the buyer's page."""
    async with ctx.db.session() as s:
        order = await _access_order(s, order_id, lock=True)
        check(order)
        step = rules.step(rules.OrderStatus(order.status), event)
        order.status = step.status.value
        order.closed_at = utcnow()
        if step.refund_payment:
            await commissions.on_refund(s, order, order.closed_at)
        await s.commit()
        data = order_json(order)
    await _after_step(ctx, order, step)
    await ctx.bus.publish(
        order.show_id, events.ORDER_UPDATED, {"buyer_id": order.buyer_id, "order": data}
    )
    return data


async def _after_step(ctx: Context, order: Order, step: rules.Step) -> None:
    if step.stock is rules.StockEffect.RELEASE:
        await _give_back(ctx, order, "release")
        if order.payment_intent_id:
            # Already final is fine: a decline, or a success that is refunded on arrival.
            with contextlib.suppress(DomainError):
                await ctx.payments.cancel_intent(order.payment_intent_id)
    elif step.stock is rules.StockEffect.RETURN:
        await _give_back(ctx, order, "refund")
        ctx.mark_figures(order.show_id)
        if step.refund_payment and order.payment_intent_id:
            await ctx.payments.refund(order.payment_intent_id, idempotency_key=f"refund-{order.id}")


async def sweep_expired(ctx: Context, batch: int = 200) -> int:
    """Expire pending orders whose hold ran out: their units go back on sale. Workers may
    all sweep; each order is taken by one (row locks, skipped by the others).

    A payment under way when the hold ends (the buyer paid in its last seconds, the provider
    is slow to confirm) gets `payment_grace_s` more: expiring it would take the buyer's
    money only to give it back. A payment that never completes still ends then."""
    now = utcnow()
    grace = timedelta(seconds=ctx.settings.payment_grace_s)
    async with ctx.db.session() as s:
        query = (
            select(Order)
            .where(
                Order.status == PENDING,
                Order.hold_expires_at <= now,
                or_(Order.payment_intent_id.is_(None), Order.hold_expires_at <= now - grace),
            )
            .order_by(Order.hold_expires_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        expired = list((await s.scalars(query)).all())
        for order in expired:
            order.status = rules.transition(
                rules.OrderStatus.PENDING, rules.OrderEvent.EXPIRE
            ).value
            order.closed_at = now
        await s.commit()
        payloads = [(o, order_json(o)) for o in expired]
    for order, data in payloads:
        await _after_step(
            ctx, order, rules.Step(rules.OrderStatus.EXPIRED, rules.StockEffect.RELEASE)
        )
        await ctx.bus.publish(
            order.show_id, events.ORDER_UPDATED, {"buyer_id": order.buyer_id, "order": data}
        )
    return len(expired)


# -- live figures -----------------------------------------------------------------------------


async def figures(ctx: Context, show_id: int) -> dict[str, Any]:
    """Units, orders, GMV and orders per minute, from the ledger."""
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        sold = (Order.show_id == show_id, Order.status.in_((PAID, FULFILLED)))
        units, count, gmv = (
            await s.execute(
                select(
                    func.coalesce(func.sum(Order.quantity), 0),
                    func.count(Order.id),
                    func.coalesce(func.sum(Order.total_minor), 0),
                ).where(*sold)
            )
        ).one()
        last_minute = await s.scalar(
            select(func.count(Order.id)).where(
                *sold, Order.paid_at >= utcnow() - timedelta(minutes=1)
            )
        )
    return {
        "units": int(units),
        "orders": int(count),
        "gmv": Money.from_minor(int(gmv), show.currency).to_json(),
        "orders_per_minute": int(last_minute or 0),
    }


def order_json(o: Order) -> dict[str, Any]:
    def money(minor: int) -> dict[str, str]:
        return Money.from_minor(minor, o.currency).to_json()

    return {
        "id": o.id,
        "status": o.status,
        "show_id": o.show_id,
        "listing_id": o.listing_id,
        "number": o.listing_number,
        "variant_id": o.variant_id,
        "deal_id": o.deal_id,
        "title": o.title,
        "quantity": o.quantity,
        "unit_price": money(o.unit_price_minor),
        "subtotal": money(o.subtotal_minor),
        "discount": money(o.discount_minor),
        "total": money(o.total_minor),
        # What the brand gets paid in: the total in its currency, at the listing's rate.
        "brand_total": (
            Money.from_minor(o.brand_total_minor, o.brand_currency).to_json()
            if o.brand_currency is not None and o.brand_total_minor is not None
            else money(o.total_minor)
        ),
        "rate": o.fx_rate,
        "idempotency_key": o.idempotency_key,
        "hold_expires_at": o.hold_expires_at.isoformat(),
        "decline_reason": o.decline_reason,
        "shipping": o.shipping,
        "created_at": o.created_at.isoformat(),
        "paid_at": (o.paid_at.isoformat() if o.paid_at else None),
    }
