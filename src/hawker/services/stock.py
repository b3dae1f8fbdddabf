"""Stock: the gate (fast, atomic, shared by workers) kept in step with the ledger (durable).

Every pool the gate holds is rebuilt from the database when the gate lacks it: at first
use, after a process start, after Redis restarted empty. The ledger is the orders table
(and the coupon claims): a pending order is a held reservation, a paid one a sold one.

Pools:
- `v:<variant id>`: a variant's stock; `initial` is `variants.stock`, the units put up for
  sale (a flash deal carves its units out of it and gives back what it did not sell);
- `d:<deal id>`: a flash deal's units, with its per-buyer limit;
- `c:<coupon id>`: a coupon's uses (total and per buyer);
- `k:<coupon id>`: the claims of a coupon dropped into a show (first N viewers, once each).
"""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain.errors import DomainError, NotFound
from hawker.domain.stock import ReservationState
from hawker.live.gate import Hold, LedgerEntry, Levels, PoolNotLoaded
from hawker.services.context import Context
from hawker.store.tables import Coupon, CouponClaim, Deal, Order, Variant

# Far more uses than any coupon will see, for "no total limit".
UNLIMITED = 10**12

PENDING, PAID, FULFILLED = "pending", "paid", "fulfilled"
CANCELLED, EXPIRED, REFUNDED = "cancelled", "expired", "refunded"
OPEN_STATUSES = (PENDING, PAID, FULFILLED)


def variant_pool(variant_id: int) -> str:
    return f"v:{variant_id}"


def deal_pool(deal_id: int) -> str:
    return f"d:{deal_id}"


def coupon_pool(coupon_id: int) -> str:
    return f"c:{coupon_id}"


def claim_pool(coupon_id: int) -> str:
    return f"k:{coupon_id}"


def now_ms() -> int:
    return int(time.time() * 1000)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def reservation_state(order: Order) -> ReservationState:
    return ledger_state(order.status, order.paid_at)


def ledger_state(status: str, paid_at: datetime | None) -> ReservationState:
    if status == PENDING:
        return ReservationState.HELD
    if status in (PAID, FULFILLED):
        return ReservationState.SOLD
    if status == EXPIRED:
        return ReservationState.EXPIRED
    if status == REFUNDED or (status == CANCELLED and paid_at is not None):
        return ReservationState.REFUNDED
    return ReservationState.RELEASED


async def _ledger(s: AsyncSession, pool: str) -> tuple[int, int | None, list[LedgerEntry]]:
    kind, _, raw_id = pool.partition(":")
    pool_id = int(raw_id)
    if kind in ("v", "d"):
        if kind == "v":
            variant = await s.get(Variant, pool_id)
            if variant is None:
                raise NotFound(f"no variant {pool_id}", code="variant_not_found")
            initial, limit = variant.stock, None
        else:
            deal = await s.get(Deal, pool_id)
            if deal is None:
                raise NotFound(f"no deal {pool_id}", code="deal_not_found")
            initial, limit = deal.quantity, deal.per_buyer_limit
        orders = (await s.scalars(select(Order).where(Order.pool == pool))).all()
        return (
            initial,
            limit,
            [
                LedgerEntry(
                    o.reservation_id,
                    o.buyer_id,
                    o.quantity,
                    o.idempotency_key,
                    reservation_state(o),
                    ms(o.hold_expires_at),
                )
                for o in orders
            ],
        )
    coupon = await s.get(Coupon, pool_id)
    if coupon is None:
        raise NotFound(f"no coupon {pool_id}", code="coupon_not_found")
    if kind == "c":
        orders = (
            await s.scalars(
                select(Order).where(
                    Order.coupon_id == pool_id, Order.coupon_reservation_id.is_not(None)
                )
            )
        ).all()
        return (
            coupon.total_uses or UNLIMITED,
            coupon.uses_per_buyer,
            [
                LedgerEntry(
                    o.coupon_reservation_id or 0,
                    o.buyer_id,
                    1,
                    o.idempotency_key,
                    reservation_state(o),
                    ms(o.hold_expires_at),
                )
                for o in orders
            ],
        )
    claims = (
        await s.scalars(
            select(CouponClaim)
            .where(CouponClaim.coupon_id == pool_id)
            .order_by(CouponClaim.claimed_at)
        )
    ).all()
    return (
        coupon.claim_limit or 0,
        1,
        [
            LedgerEntry(
                i, c.user_id, 1, claim_key(c.user_id), ReservationState.SOLD, ms(c.claimed_at)
            )
            for i, c in enumerate(claims, start=1)
        ],
    )


def claim_key(user_id: int) -> str:
    return f"claim-{user_id}"


async def load_pool(ctx: Context, pool: str) -> None:
    async with ctx.db.session() as s:
        initial, limit, ledger = await _ledger(s, pool)
    await ctx.gate.ensure_pool(pool, initial=initial, per_buyer_limit=limit, ledger=ledger)


async def reserve(ctx: Context, pool: str, *, buyer: int, quantity: int, key: str) -> Hold:
    hold_ms = ctx.settings.hold_seconds * 1000
    for _ in range(2):
        try:
            return await ctx.gate.reserve(
                pool, buyer=buyer, quantity=quantity, key=key, hold_ms=hold_ms, now_ms=now_ms()
            )
        except PoolNotLoaded:
            await load_pool(ctx, pool)
    raise RuntimeError(f"stock pool {pool} could not be loaded")


async def levels(ctx: Context, pool: str) -> Levels:
    for _ in range(2):
        try:
            return await ctx.gate.levels(pool)
        except PoolNotLoaded:
            await load_pool(ctx, pool)
    raise RuntimeError(f"stock pool {pool} could not be loaded")


async def settle(ctx: Context, pool: str, reservation_id: int, move: str) -> bool:
    """Move a reservation in the gate: "confirm" (paid), "release" (not paid), "refund"."""
    for _ in range(2):
        try:
            action = getattr(ctx.gate, move)
            done: bool = await action(pool, reservation_id)
            return done
        except PoolNotLoaded:
            # A rebuilt pool already reflects the ledger, which the caller has just written.
            await load_pool(ctx, pool)
            return False
    return False


async def adjust(ctx: Context, pool: str, delta: int, *, ledger_written: bool = False) -> Levels:
    """Move a pool's units by `delta`. With `ledger_written`, the database already says so:
    a pool the gate has to rebuild is then right as it is, and is not moved twice."""
    for _ in range(2):
        try:
            return await ctx.gate.adjust(pool, delta)
        except PoolNotLoaded:
            await load_pool(ctx, pool)
            if ledger_written:
                return await ctx.gate.levels(pool)
    raise RuntimeError(f"stock pool {pool} could not be loaded")


async def left_of(ctx: Context, pools: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pool in pools:
        out[pool] = (await levels(ctx, pool)).left
    return out


# An orphan hold (the gate has it, the ledger does not) is released only once its own hold
# time is over: until then its order may still be on its way to the database, however slow
# the write, and releasing it could sell its units twice. The sweep expires pending orders at
# the same moment, so a hold that ends this way ends the same way either path.


async def reconcile(ctx: Context) -> int:
    """Release holds the gate has but the ledger never got (a worker died between the two).
    The ledger wins. Runs at start and now and then, on the pools of the shows on air."""
    from hawker.store.tables import Listing, Show

    async with ctx.db.session() as s:
        listings = (
            await s.execute(
                select(Listing.product_id, Listing.variant_ids)
                .join(Show, Show.id == Listing.show_id)
                .where(Show.status == "live")
            )
        ).all()
        product_ids = {p for p, _ in listings}
        variant_ids = (
            (await s.scalars(select(Variant.id).where(Variant.product_id.in_(product_ids)))).all()
            if product_ids
            else []
        )
        deal_ids = (await s.scalars(select(Deal.id).where(Deal.closed_at.is_(None)))).all()
    released = 0
    for pool in [*(variant_pool(v) for v in variant_ids), *(deal_pool(d) for d in deal_ids)]:
        released += await reconcile_pool(ctx, pool)
    return released


RECONCILE_S = 30.0


async def reconcile_turn(ctx: Context) -> int:
    """The periodic reconcile: each round, one of the processes sharing the gate runs it (it
    reads every hold of every open pool, so one process doing it is plenty)."""
    if not await ctx.gate.lease("reconcile", RECONCILE_S * 0.9):
        return 0
    return await reconcile(ctx)


async def reconcile_pool(ctx: Context, pool: str) -> int:
    """Make the gate follow the ledger. Every step writes the ledger first and moves the
    gate second, so a worker that died in between left the gate behind: a paid order still
    held, an expired or cancelled one still holding its units, a refunded one still sold.
    The gate is read before the ledger: whatever the ledger says is then the newer truth,
    and a move some live worker makes meanwhile is one the gate answers "already done"."""
    try:
        holds = await ctx.gate.holds(pool)
    except PoolNotLoaded:
        return 0  # built from the ledger when first used: nothing to mend
    open_ = [h for h in holds if h.state in (ReservationState.HELD, ReservationState.SOLD)]
    if not open_:
        return 0
    async with ctx.db.session() as s:
        rows = (
            await s.execute(
                select(Order.reservation_id, Order.status, Order.paid_at).where(Order.pool == pool)
            )
        ).all()
    ledger = {rid: ledger_state(status, paid_at) for rid, status, paid_at in rows}
    now = now_ms()
    moved = 0
    for h in open_:
        found = ledger.get(h.reservation_id)
        if found is None:
            # A hold the ledger never got (a worker died between the two).
            move = "release" if h.state is ReservationState.HELD and h.expires_at_ms < now else None
        elif h.state is ReservationState.HELD:
            move = {ReservationState.HELD: None, ReservationState.SOLD: "confirm"}.get(
                found, "release"
            )
        else:
            move = None if found in (ReservationState.HELD, ReservationState.SOLD) else "refund"
        if move is None:
            continue
        try:
            if await getattr(ctx.gate, move)(pool, h.reservation_id):
                moved += 1
        except DomainError:
            continue  # moved on meanwhile; the next round sees where it is now
    return moved
