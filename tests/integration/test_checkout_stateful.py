"""Any interleaving of buy, pay, decline, expire, cancel and refund keeps the stock right.

The real services run on a real database (SQLite, and PostgreSQL when it is there) with the
in-process gate, bus and sandbox payments. After every step the ledger (the orders table)
and the gate must say the same thing, and it must be what the buyers and the merchant were
told: no unit sold twice, none lost, no buyer past the deal's limit, one order per key.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select, update

from hawker.config import Settings
from hawker.domain.errors import Conflict, InvalidInput, InvalidTransition, LimitReached, SoldOut
from hawker.domain.roles import Actor
from hawker.live.gate import Levels
from hawker.payments.port import CardDetails
from hawker.services import checkout, deals, shelf, shows, stock
from hawker.services.accounts import do_signup, load_actor, utcnow
from hawker.services.catalog import VariantInput, do_create_brand, do_create_product
from hawker.services.context import Context, build_context
from hawker.store.migrate import upgrade
from hawker.store.tables import Order, User
from tests.harness import postgres_database

T = TypeVar("T")

GOOD_CARD = CardDetails("4242 4242 4242 4242", "12/39", "123")
NO_FUNDS = CardDetails("4000 0000 0000 9995", "12/39", "123")
NEVER_COMPLETES = CardDetails("4000 0000 0000 0259", "12/39", "123")
ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Market St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "US",
}

PLAIN_STOCK = 6  # listing #1: a variant sold at the listing price, no limit
DEAL_VARIANT_STOCK = 8  # listing #2: its variant, of which the deal takes DEAL_UNITS
DEAL_UNITS = 5
DEAL_LIMIT = 2
BUYERS = 3

SELLING = ("pending", "paid", "fulfilled")
LIVE = st.sampled_from([True, True, True, False])  # pick an open order 3 times in 4
CARDS = ["good", "good", "good", "declined", "never"]
SOLD = ("paid", "fulfilled")


@dataclass(frozen=True)
class World:
    """What outlives the examples: a migrated database and its people."""

    db_url: str
    data_dir: Path
    host_id: int
    merchant_id: int
    buyer_ids: tuple[int, ...]


def _settings(world_db: str, data_dir: Path, redis_url: str | None = None) -> Settings:
    return Settings(
        database_url=world_db,
        data_dir=data_dir,
        redis_url=redis_url,
        secret_key="stateful-test-secret",
        sandbox_delay_s=0.0,
        hold_seconds=300,
        # Longer than any run: a payment's grace ends only when a step moves it past it,
        # never because a slow machine took that long between steps.
        payment_grace_s=3600,
    )


async def make_world(db_url: str, data_dir: Path) -> World:
    ctx = build_context(_settings(db_url, data_dir))
    try:
        tag = uuid.uuid4().hex[:8]

        async def person(name: str, host: bool = False) -> int:
            user = await do_signup(
                ctx,
                email=f"{name}.{tag}@example.com",
                password="correct horse battery",
                display_name=name.title(),
                host=host,
                city="Austin",
            )
            return user.id

        host_id = await person("host", host=True)
        merchant_id = await person("merchant")
        buyer_ids = []
        for n in range(BUYERS):
            buyer_id = await person(f"buyer{n}")
            await checkout.do_save_address(ctx, await _actor(ctx, buyer_id), ADDRESS)
            buyer_ids.append(buyer_id)
        return World(db_url, data_dir, host_id, merchant_id, tuple(buyer_ids))
    finally:
        await ctx.db.close()


async def _actor(ctx: Context, user_id: int) -> Actor:
    async with ctx.db.session() as s:
        user = await s.get(User, user_id)
        assert user is not None
        return await load_actor(s, user)


@dataclass
class Bought:
    """The model's view of one order: what its buyer and merchant were told."""

    id: int
    buyer: int
    pool: str
    listing: str
    quantity: int
    key: str
    status: str = "pending"
    intent: str | None = None  # None, "never" (a card that never completes)


class Shop:
    """A show on air on its own event loop, with the real services: listing #1 sells a
    variant, listing #2 runs a flash deal with a per-buyer limit."""

    def __init__(
        self, world: World, *, plain_stock: int = PLAIN_STOCK, redis_url: str | None = None
    ) -> None:
        self.world = world
        self.plain_stock = plain_stock
        self.loop = asyncio.new_event_loop()
        self.ctx = build_context(_settings(world.db_url, world.data_dir, redis_url))
        self.tag = uuid.uuid4().hex[:10]
        self.run(self._open())

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(step)

    async def _open(self) -> None:
        ctx = self.ctx

        async def deliver(headers: Any, body: bytes) -> int:
            await checkout.handle_webhook(ctx, headers, body)
            return 200

        # What context.start does for the sandbox, without the periodic jobs: the test is the
        # clock here, and decides when holds run out.
        ctx.payments.register(deliver)  # type: ignore[attr-defined]
        await ctx.bus.start()
        self.host = await _actor(ctx, self.world.host_id)
        merchant = await _actor(ctx, self.world.merchant_id)
        brand = await do_create_brand(ctx, merchant, name=f"Brand {self.tag}", currency="USD")
        self.merchant = await _actor(ctx, self.world.merchant_id)  # now a member of the brand
        self.buyers = {b: await _actor(ctx, b) for b in self.world.buyer_ids}
        plain = await do_create_product(
            ctx,
            self.merchant,
            brand.id,
            title="Ruby lipstick",
            variants=[VariantInput("#7 Ruby", "20.00", self.plain_stock)],
        )
        dealt = await do_create_product(
            ctx,
            self.merchant,
            brand.id,
            title="Coral gloss",
            variants=[VariantInput("Coral", "30.00", DEAL_VARIANT_STOCK)],
        )
        show = await shows.do_create_show(ctx, self.host, title="Lipstick live")
        self.show_id = show.id
        first = await shelf.do_add_listing(ctx, self.host, show.id, product_id=plain.id)
        second = await shelf.do_add_listing(ctx, self.host, show.id, product_id=dealt.id)
        await shows.do_go_live(ctx, self.host, show.id)
        deal = await deals.do_start_deal(
            ctx,
            self.host,
            show.id,
            listing_id=second["id"],
            variant_id=None,
            price="9.90",
            quantity=DEAL_UNITS,
            per_buyer_limit=DEAL_LIMIT,
            duration_seconds=3600,
        )
        self.listings = {"plain": first["id"], "deal": second["id"]}
        plain_variant = first["variants"][0]["id"]
        deal_variant = second["variants"][0]["id"]
        self.pools = {
            "plain": stock.variant_pool(plain_variant),
            "deal": stock.deal_pool(deal["id"]),
            "rest": stock.variant_pool(deal_variant),  # what the deal left of its variant
        }
        # The units each pool started with; the deal's came out of its variant's.
        self.initial = {
            "plain": self.plain_stock,
            "deal": DEAL_UNITS,
            "rest": DEAL_VARIANT_STOCK - DEAL_UNITS,
        }
        self.limits = {"plain": None, "deal": DEAL_LIMIT, "rest": None}

    def close(self) -> None:
        async def close() -> None:
            await self.ctx.payments.aclose()
            await self.ctx.bus.close()
            await self.ctx.gate.close()
            await self.ctx.db.close()

        try:
            self.run(close())
        finally:
            self.loop.close()


class CheckoutMachine(Shop, RuleBasedStateMachine):
    world: World  # set by the test that runs the machine

    def __init__(self) -> None:
        RuleBasedStateMachine.__init__(self)
        Shop.__init__(self, self.world)
        self.orders: dict[int, Bought] = {}
        self.keys = itertools.count(1)

    def teardown(self) -> None:
        self.close()

    # -- the model's expectations -------------------------------------------------------------

    def _committed(self, pool: str, buyer: int | None = None) -> int:
        return sum(
            o.quantity
            for o in self.orders.values()
            if o.pool == self.pools[pool] and o.status in SELLING and buyer in (None, o.buyer)
        )

    def _pick(self, n: int, live: bool) -> Bought:
        """Mostly an order something can still happen to; now and then any order, to see
        that the finished ones refuse what no longer applies."""
        ids = sorted(i for i, o in self.orders.items() if o.status in ("pending", "paid"))
        if not live or not ids:
            ids = sorted(self.orders)
        return self.orders[ids[n % len(ids)]]

    # -- buying --------------------------------------------------------------------------------

    @rule(buyer=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3))
    def buy_a_lipstick(self, buyer: int, quantity: int) -> None:
        self._buy(buyer, "plain", quantity)

    @rule(buyer=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3))
    def buy_the_deal(self, buyer: int, quantity: int) -> None:
        self._buy(buyer, "deal", quantity)

    def _buy(self, buyer: int, listing: str, quantity: int) -> None:
        """A new buy, with a fresh key: refused exactly when the stock or the limit says so."""
        buyer_id = self.world.buyer_ids[buyer]
        key = f"{self.tag}-{next(self.keys)}"
        left = self.initial[listing] - self._committed(listing)
        limit = self.limits[listing]
        already = self._committed(listing, buyer_id)
        try:
            order, created = self.run(
                checkout.do_buy(
                    self.ctx,
                    self.buyers[buyer_id],
                    self.show_id,
                    listing_id=self.listings[listing],
                    variant_id=None,
                    quantity=quantity,
                    idempotency_key=key,
                )
            )
        except SoldOut as exc:
            assert left == 0 or quantity > left, f"refused as sold out with {left} left"
            assert not (limit is not None and left > 0 and already + quantity > limit)
            assert exc.details().get("left") == (left if quantity > left else 0)
            return
        except LimitReached:
            assert limit is not None and left > 0 and already + quantity > limit, (
                f"refused over the limit with {already} of {limit} bought"
            )
            return
        assert left >= quantity, f"sold {quantity} with {left} left"
        assert limit is None or already + quantity <= limit, "sold past the buyer's limit"
        assert created and order["status"] == "pending" and order["quantity"] == quantity
        assert order["id"] not in self.orders, "a new key answered with an old order"
        self.orders[order["id"]] = Bought(
            order["id"], buyer_id, self.pools[listing], listing, quantity, key
        )

    @precondition(lambda self: self.orders)
    @rule(n=st.integers(0, 10**6), live=LIVE, same=st.booleans())
    def buy_again_with_a_used_key(self, n: int, live: bool, same: bool) -> None:
        """A double tap or a retried request: the same order back, never a second one; the
        key with another quantity is a client bug and is refused."""
        o = self._pick(n, live)
        quantity = o.quantity if same else o.quantity % 3 + 1
        call = checkout.do_buy(
            self.ctx,
            self.buyers[o.buyer],
            self.show_id,
            listing_id=self.listings[o.listing],
            variant_id=None,
            quantity=quantity,
            idempotency_key=o.key,
        )
        if not same:
            with pytest.raises(InvalidInput) as refused:
                self.run(call)
            assert refused.value.code == "idempotency_key_reused"
            return
        order, created = self.run(call)
        assert not created and order["id"] == o.id
        assert order["status"] == o.status

    # -- paying --------------------------------------------------------------------------------

    def _pay(self, o: Bought, card: CardDetails) -> None:
        async def pay() -> None:
            try:
                await checkout.do_pay(self.ctx, self.buyers[o.buyer], o.id, card)
            finally:
                await self.ctx.payments.drain()  # type: ignore[attr-defined]  # the webhook arrives

        if o.status not in ("pending", "paid"):
            with pytest.raises(Conflict):
                self.run(pay())
            return
        self.run(pay())

    @precondition(lambda self: self.orders)
    @rule(n=st.integers(0, 10**6), live=LIVE, card=st.sampled_from(CARDS))
    def pay(self, n: int, live: bool, card: str) -> None:
        """Pay with the sandbox card that succeeds, is declined, or never completes; the
        outcome arrives by the signed webhook before the next step."""
        o = self._pick(n, live)
        self._pay(o, {"good": GOOD_CARD, "declined": NO_FUNDS, "never": NEVER_COMPLETES}[card])
        if o.status == "pending" and o.intent is None:
            if card == "never":
                o.intent = "never"  # stays pending; later cards are not even tried
            else:
                o.status = "paid" if card == "good" else "cancelled"

    # -- time, the buyer and the merchant -----------------------------------------------------

    @precondition(lambda self: self.orders)
    @rule(n=st.integers(0, 10**6), live=LIVE, past_grace=st.booleans())
    def hold_runs_out(self, n: int, live: bool, past_grace: bool) -> None:
        """The hold of one order runs out (and, or not yet, the extra time a payment under
        way gets) and the sweep comes by (any other order it finds due would be a bug:
        nothing else ran out)."""
        o = self._pick(n, live)
        ago = 1 + (self.ctx.settings.payment_grace_s if past_grace else 0)

        async def expire() -> int:
            async with self.ctx.db.session() as s:
                await s.execute(
                    update(Order)
                    .where(Order.id == o.id, Order.status == "pending")
                    .values(hold_expires_at=utcnow() - timedelta(seconds=ago))
                )
                await s.commit()
            return await checkout.sweep_expired(self.ctx)

        swept = self.run(expire())
        due = o.status == "pending" and (past_grace or o.intent is None)
        assert swept == (1 if due else 0)
        if due:
            o.status = "expired"

    @precondition(lambda self: self.orders)
    @rule(n=st.integers(0, 10**6), live=LIVE, by_merchant=st.booleans())
    def cancel(self, n: int, live: bool, by_merchant: bool) -> None:
        """The buyer cancels what is not paid yet; the merchant cancels any open order (a
        paid one is refunded)."""
        o = self._pick(n, live)
        refused: type[Conflict]
        if by_merchant:
            call = checkout.do_cancel(self.ctx, self.merchant, o.id)
            may, refused = o.status in ("pending", "paid"), InvalidTransition
        else:
            call = checkout.do_cancel(self.ctx, self.buyers[o.buyer], o.id)
            may, refused = o.status == "pending", Conflict
        if not may:
            with pytest.raises(refused):
                self.run(call)
            return
        assert self.run(call)["status"] == "cancelled"
        o.status = "cancelled"

    @precondition(lambda self: self.orders)
    @rule(n=st.integers(0, 10**6), live=LIVE)
    def merchant_refunds(self, n: int, live: bool) -> None:
        o = self._pick(n, live)
        call = checkout.do_refund(self.ctx, self.merchant, o.id)
        if o.status != "paid":
            with pytest.raises(InvalidTransition):
                self.run(call)
            return
        assert self.run(call)["status"] == "refunded"
        o.status = "refunded"

    # -- what must hold after every step ------------------------------------------------------

    @invariant()
    def ledger_gate_and_model_agree(self) -> None:
        self.run(self._check())

    async def _check(self) -> None:
        async with self.ctx.db.session() as s:
            rows = (
                await s.execute(
                    select(Order.id, Order.status, Order.buyer_id, Order.idempotency_key).where(
                        Order.show_id == self.show_id
                    )
                )
            ).all()
            # One order per key: the ledger holds exactly the orders buyers were told of.
            assert {r.id: r.status for r in rows} == {o.id: o.status for o in self.orders.values()}
            assert len({(r.buyer_id, r.idempotency_key) for r in rows}) == len(rows)
            for name, pool in self.pools.items():
                sums = dict(
                    (
                        await s.execute(
                            select(Order.status, func.coalesce(func.sum(Order.quantity), 0))
                            .where(Order.pool == pool)
                            .group_by(Order.status)
                        )
                    ).all()
                )
                sold = sum(int(sums.get(status, 0)) for status in SOLD)
                held = int(sums.get("pending", 0))
                levels = await stock.levels(self.ctx, pool)
                where = f"pool {name} ({pool})"
                assert levels.initial == self.initial[name], f"{where}: units came or went"
                assert (levels.sold, levels.held) == (sold, held), (
                    f"{where}: the gate says sold {levels.sold} held {levels.held}, "
                    f"the ledger sold {sold} held {held}"
                )
                assert levels.sold + levels.held + levels.left == levels.initial, where
                assert levels.left >= 0, f"{where}: oversold"
                assert sold + held == self._committed(name), where
                limit = self.limits[name]
                if limit is not None:
                    per_buyer = (
                        await s.execute(
                            select(Order.buyer_id, func.sum(Order.quantity))
                            .where(Order.pool == pool, Order.status.in_(SELLING))
                            .group_by(Order.buyer_id)
                        )
                    ).all()
                    assert all(units <= limit for _, units in per_buyer), f"{where}: {per_buyer}"


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hawker.db'}"
        upgrade(url)
        yield asyncio.run(make_world(url, tmp_path))
        return
    with postgres_database() as url:
        upgrade(url)
        yield asyncio.run(make_world(url, tmp_path))


def test_any_interleaving_keeps_stock_right(world: World) -> None:
    class Machine(CheckoutMachine):
        pass

    Machine.world = world
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_double_taps_at_the_same_moment_make_one_order(world: World) -> None:
    """A buyer taps "buy" twice (or the app retries while the first request is still on its
    way): both taps are answered with the one order, and the units the order holds stay
    held. Many pairs at once, so that some twin finds the first tap's hold before its order
    is written."""
    pairs = 60
    shop = Shop(world, plain_stock=pairs + 10)
    try:

        async def tap_twice(n: int) -> list[tuple[dict[str, Any], bool] | BaseException]:
            buyer = shop.buyers[world.buyer_ids[n % BUYERS]]

            async def tap(delay: float) -> tuple[dict[str, Any], bool]:
                await asyncio.sleep(delay)
                return await checkout.do_buy(
                    shop.ctx,
                    buyer,
                    shop.show_id,
                    listing_id=shop.listings["plain"],
                    variant_id=None,
                    quantity=1,
                    idempotency_key=f"{shop.tag}-tap-{n}",
                )

            # The twin a little later each time, to meet the first tap at every step.
            return list(await asyncio.gather(tap(0), tap(n * 0.0002), return_exceptions=True))

        async def stampede() -> list[list[tuple[dict[str, Any], bool] | BaseException]]:
            return list(await asyncio.gather(*(tap_twice(n) for n in range(pairs))))

        answers = shop.run(stampede())
        failed = [
            (n, a) for n, pair in enumerate(answers) for a in pair if isinstance(a, BaseException)
        ]
        assert not failed, f"{len(failed)} taps failed, e.g. {failed[:3]}"
        for pair in answers:
            (first, made_first), (second, made_second) = pair  # type: ignore[misc]
            assert first["id"] == second["id"], "a double tap made two orders"
            assert made_first + made_second == 1, "one order, announced as new once"

        async def books() -> tuple[int, Levels]:
            async with shop.ctx.db.session() as s:
                held = await s.scalar(
                    select(func.coalesce(func.sum(Order.quantity), 0)).where(
                        Order.pool == shop.pools["plain"], Order.status == "pending"
                    )
                )
            return int(held or 0), await stock.levels(shop.ctx, shop.pools["plain"])

        held, levels = shop.run(books())
        assert held == pairs
        # The room's "N left" is the gate's: it must not offer units the orders hold.
        assert (levels.held, levels.left) == (pairs, 10), levels
    finally:
        shop.close()
