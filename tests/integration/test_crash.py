"""A worker dies mid-sale (kill -9) and comes back: no paid order is lost or invented, the
ledger and the gate agree again, and buyers who retry get their one order.

The sandbox payment provider lives inside each worker, so a payment the killed worker took
may never report back: that order stays pending until its hold runs out and its units go
back on sale, which is what a real provider's lost webhook would lead to as well.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from hawker.config import Settings
from hawker.services import checkout, context, stock
from hawker.store.migrate import upgrade
from hawker.store.tables import Order
from tests.harness import ENV, Buyer, postgres_database, spread_ids
from tests.integration.test_checkout_stateful import Shop, make_world
from tests.integration.test_stampede import (
    REFUSALS,
    Answer,
    Attempt,
    Crowd,
    LedgerOrder,
    Sale,
    check_answers_match_ledger,
    check_stock_is_right,
    flash_sale,
    ledger,
    need_redis,
    plan,
    shown_left,
    unexpected,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

HOLD_SECONDS = 20
# A payment under way when its hold ends gets this much longer to be confirmed: long
# enough for a confirmation that waits behind a crowd of buys on a loaded machine (15 s
# once was not).
PAYMENT_GRACE_S = 40
BUYERS = 2000


class CrashCrowd(Crowd):
    """Buyers whose request died with the worker try again, with the same key, once the
    worker answers again (as an app does on a network error)."""

    def __init__(self, sale: Sale) -> None:
        super().__init__(sale)
        self.back = asyncio.Event()
        self.cut_off: list[Answer] = []

    async def send(self, buyer: Buyer, a: Attempt, worker: int) -> Answer:
        answer = await super().send(buyer, a, worker)
        for _ in range(3):
            if answer.status is not None:
                break
            self.cut_off.append(answer)
            await self.back.wait()
            answer = await super().send(buyer, a, worker)
        return answer


def paid_orders(sale: Sale) -> dict[int, LedgerOrder]:
    return {o.id: o for o in ledger(sale) if o.status == "paid"}


async def reconcile(sale: Sale) -> None:
    """The reconcile step every worker runs now and then, run once now: the ledger wins."""
    ctx = context.build_context(
        Settings(
            database_url=sale.db_url,
            redis_url=ENV.test_redis_url,
            data_dir=sale.workers[0].work_dir,
            hold_seconds=HOLD_SECONDS,
            secret_key="reconcile-only",
        )
    )
    try:
        await stock.reconcile(ctx)
    finally:
        await context.stop(ctx)


def test_kill_a_worker_mid_sale_and_no_paid_order_is_lost(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    with flash_sale(
        tmp_path, buyers=BUYERS, hold_seconds=HOLD_SECONDS, payment_grace_s=PAYMENT_GRACE_S
    ) as sale:
        victim = sale.workers[1]
        plans = [(buyer, plan(rng, n, buyer)) for n, buyer in enumerate(sale.buyers)]
        will_pay = {buyer.id: rng.random() < 0.7 for buyer in sale.buyers}
        # The crowd arrives over a few seconds, so that buys are still coming in while the
        # first payments go through.
        arrival = {buyer.id: rng.uniform(0, 8) for buyer in sale.buyers}
        at_kill: dict[int, LedgerOrder] = {}
        keys_at_kill: dict[tuple[int, str], int] = {}

        async def run() -> CrashCrowd:
            crowd = CrashCrowd(sale)
            go = asyncio.Event()

            async def shop(n: int, buyer: Buyer, attempts: list[Attempt]) -> None:
                await go.wait()
                await asyncio.sleep(arrival[buyer.id])
                for a in attempts:
                    answers = await crowd.attempt(buyer, a, n % 2)
                    new = [x for x in answers if x.status == 201]
                    if new and will_pay[buyer.id]:
                        await crowd.pay(buyer, new[0].order_id or 0, new[0].worker)

            async def kill_mid_sale() -> None:
                await go.wait()
                # Until the books show paid orders: then kill -9, mid-sale. (A sale that ends
                # without any is left alone, and fails the checks below.)
                while not all(t.done() for t in tasks):
                    if len(await asyncio.to_thread(paid_orders, sale)) >= 25:
                        break
                    await asyncio.sleep(0.2)
                else:
                    return
                victim.kill()
                # What the books say the moment the worker is gone.
                orders = await asyncio.to_thread(ledger, sale)
                at_kill.update({o.id: o for o in orders if o.status == "paid"})
                keys_at_kill.update({(o.buyer, o.key): o.id for o in orders})
                await asyncio.to_thread(victim.start)
                crowd.back.set()

            tasks: list[asyncio.Task[None]] = []
            try:
                tasks += [asyncio.create_task(shop(n, b, p)) for n, (b, p) in enumerate(plans)]
                killer = asyncio.create_task(kill_mid_sale())
                await asyncio.sleep(0)
                go.set()
                await asyncio.gather(*tasks, killer)
            finally:
                await crowd.aclose()
            return crowd

        crowd = asyncio.run(run())
        assert victim.starts == 2, "the worker was killed and started again"
        assert crowd.cut_off, "the kill cut some buyers off mid-request"
        others = [a for a in crowd.cut_off if a.worker != 1]
        assert not others, f"only the killed worker's buyers, not {others[:3]}"
        answers = [a for a in crowd.answers if a.status is not None]
        heard = {(a.buyer, a.key) for a in answers}
        unanswered = [a for a in crowd.cut_off if (a.buyer, a.key) not in heard]
        assert not unanswered, f"retries after the restart went unanswered: {unanswered[:3]}"
        assert at_kill, "some orders were paid before the kill"

        # Every buyer in the end heard a clear answer; a retry after the crash is answered
        # like any repeat (the order the key made, or the hold it had, written now).
        odd = unexpected(answers, REFUSALS | {(409, "hold_expired")})
        assert not odd, f"seed {seed}: {len(odd)} unexpected answers, e.g. {odd[:5]}"
        for a in answers:
            known = keys_at_kill.get((a.buyer, a.key))
            if known is not None and a.order_id is not None:
                assert a.order_id == known, f"{a.key}: a second order after the crash"

        # Holds whose payment died with the worker run out; their units come back.
        pending = _wait_no_pending(sale, HOLD_SECONDS + PAYMENT_GRACE_S + 60)
        assert not pending, f"orders still pending after their hold: {pending[:5]}"
        asyncio.run(reconcile(sale))

        orders = ledger(sale)
        check_answers_match_ledger(answers, orders)
        gate = check_stock_is_right(sale, orders)
        now_paid = {o.id: o for o in orders if o.status == "paid"}
        lost = sorted(set(at_kill) - set(now_paid))
        assert not lost, f"paid orders lost in the crash: {lost}"
        # A payment a living worker took (202) and never lost reached its order.
        survived = {
            p.order_id
            for p in crowd.pays
            if p.status == 202 and (p.worker, p.incarnation) != (1, 1)
        }
        missing = {o.id: o.status for o in orders if o.id in survived - set(now_paid)}
        assert not missing, f"seed {seed}: payments taken but orders not paid: {missing}"
        # Every viewer sees exactly the units not paid for back on sale.
        for name in ("plain", "deal"):
            sold = sum(o.quantity for o in now_paid.values() if o.pool == sale.pools[name])
            assert gate[name].left == sale.initial[name] - sold
        for worker in sale.workers:
            left = shown_left(sale, worker)
            assert left == {"plain": gate["plain"].left, "deal": gate["deal"].left}
        per_buyer: dict[int, int] = defaultdict(int)
        for o in now_paid.values():
            if o.pool == sale.pools["deal"]:
                per_buyer[o.buyer] += o.quantity
        assert max(per_buyer.values(), default=0) <= 2


def _wait_no_pending(sale: Sale, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pending = [o.id for o in ledger(sale) if o.status == "pending"]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.5)


def test_a_worker_that_died_between_ledger_and_gate_is_mended(tmp_path: Path) -> None:
    """The ledger is written first, the gate moved second: a worker killed in between
    leaves the gate behind the ledger. The reconcile step makes the gate follow: units of
    an order that expired go back on sale, and a paid order counts as sold, so that the
    merchant can refund it and get its units back."""
    need_redis()
    with postgres_database() as url:
        upgrade(url)
        spread_ids(url)
        world = asyncio.run(make_world(url, tmp_path))
        shop = Shop(world, plain_stock=5, redis_url=ENV.test_redis_url)
        try:
            ctx = shop.ctx
            buyers = [shop.buyers[b] for b in world.buyer_ids]

            async def buy(n: int, quantity: int) -> int:
                order, _ = await checkout.do_buy(
                    ctx,
                    buyers[n],
                    shop.show_id,
                    listing_id=shop.listings["plain"],
                    variant_id=None,
                    quantity=quantity,
                    idempotency_key=f"{shop.tag}-{n}",
                )
                return int(order["id"])

            paid, expired, pending = shop.run(buy(0, 1)), shop.run(buy(1, 2)), shop.run(buy(2, 1))

            async def die_after_the_ledger() -> None:
                # Exactly the rows the payment webhook and the expiry sweep commit before
                # they move the gate; the worker dies before it does.
                now = datetime.now(UTC)
                async with ctx.db.session() as s:
                    await s.execute(
                        update(Order).where(Order.id == paid).values(status="paid", paid_at=now)
                    )
                    await s.execute(
                        update(Order)
                        .where(Order.id == expired)
                        .values(status="expired", closed_at=now)
                    )
                    await s.commit()

            shop.run(die_after_the_ledger())
            pool = shop.pools["plain"]
            stale = shop.run(stock.levels(ctx, pool))
            assert (stale.sold, stale.held, stale.left) == (0, 4, 1), "the gate is behind"

            shop.run(stock.reconcile(ctx))
            mended = shop.run(stock.levels(ctx, pool))
            assert (mended.sold, mended.held, mended.left) == (1, 1, 3)
            refunded = shop.run(checkout.do_refund(ctx, shop.merchant, paid))
            assert refunded["status"] == "refunded"
            assert shop.run(stock.levels(ctx, pool)).left == 4
            assert pending  # still held for its buyer
        finally:
            shop.close()
            _forget(list(shop.pools.values()), shop.show_id)


def _forget(pools: list[str], show_id: int) -> None:
    import redis

    client = redis.Redis.from_url(ENV.test_redis_url)
    try:
        for pattern in [*(f"hawker:gate:{{{p}}}:*" for p in pools), f"hawker:show:{show_id}:*"]:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
