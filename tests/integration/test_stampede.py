"""A star host's flash sale: 2,000 buyers at once on 500 units, through two real server
processes that share one PostgreSQL and one Redis.

What the buyers and the merchant would notice if stock were wrong is what is checked: more
units promised than there were, a buyer past the deal's limit, a double tap that made two
orders, a counter that says units are left when none are (or the other way round).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from hawker.domain.stock import ReservationState
from hawker.live.gate_redis import RedisGate
from hawker.store.migrate import upgrade
from tests.harness import ENV, Buyer, bulk_buyers, need_service, postgres_database, spread_ids
from tests.processes import ServerProcess, server_env, servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Market St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "US",
}
GOOD_CARD = {"number": "4242 4242 4242 4242", "expiry": "12/39", "cvc": "123"}
UNITS = 500  # of the lipstick on the shelf, and of the gloss in the flash deal
DEAL_VARIANT_STOCK = 600  # the deal takes 500 of these; 100 stay with the variant
DEAL_LIMIT = 2
BUYERS = 2000
SELLING = ("pending", "paid", "fulfilled")


# -- the sale: a database, Redis, two workers and what the host put on the shelf -------------


@dataclass
class Sale:
    db_url: str
    workers: list[ServerProcess]
    show_id: int
    listings: dict[str, int]  # "plain" | "deal" -> listing id
    pools: dict[str, str]  # "plain" | "deal" | "rest" -> gate pool
    initial: dict[str, int]
    merchant_token: str
    buyers: list[Buyer] = field(default_factory=list)


def need_redis() -> None:
    try:
        redis.Redis.from_url(ENV.test_redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        need_service("Redis", str(exc))


@contextmanager
def flash_sale(tmp: Path, *, buyers: int = BUYERS, **worker_settings: object) -> Iterator[Sale]:
    """Two workers selling listing #1 (500 lipsticks) and a flash deal on listing #2 (500
    glosses, at most 2 each), and `buyers` signed-in buyers with an address."""
    need_redis()
    with ExitStack() as stack:
        db_url = stack.enter_context(postgres_database())
        upgrade(db_url)
        spread_ids(db_url)
        env = server_env(
            database_url=db_url,
            redis_url=ENV.test_redis_url,
            data_dir=tmp / "data",
            secret_key=secrets.token_urlsafe(32),
            **worker_settings,
        )
        # The sale's Redis keys go after the workers do (registered first, run last): a
        # worker still running would rebuild a pool it finds missing.
        made: list[Sale] = []

        @stack.callback
        def forget() -> None:
            for sale in made:
                _forget_redis_keys(sale)

        # A log line per request would cost the workers more than the buys they serve.
        workers = stack.enter_context(servers(2, env, tmp, ("--no-access-log",)))
        sale = _stock_the_shelf(db_url, workers)
        made.append(sale)
        sale.buyers = bulk_buyers(db_url, buyers, address=ADDRESS)
        yield sale


def _stock_the_shelf(db_url: str, workers: list[ServerProcess]) -> Sale:
    with httpx.Client(base_url=workers[0].api, timeout=30) as http:

        def person(name: str, host: bool = False) -> str:
            r = http.post(
                "/auth/signup",
                json={
                    "email": f"{name}.{secrets.token_hex(4)}@example.com",
                    "password": "correct horse battery",
                    "display_name": name.title(),
                    "host": host,
                },
            )
            assert r.status_code == 201, r.text
            return str(r.json()["token"])

        host = {"Authorization": f"Bearer {person('host', host=True)}"}
        merchant_token = person("merchant")
        merchant = {"Authorization": f"Bearer {merchant_token}"}
        brand = http.post(
            "/brands",
            json={"name": f"Lips {secrets.token_hex(4)}", "currency": "USD"},
            headers=merchant,
        ).json()

        def product(title: str, price: str, stock: int) -> dict[str, Any]:
            r = http.post(
                f"/brands/{brand['id']}/products",
                headers=merchant,
                json={"title": title, "variants": [{"name": "#7", "price": price, "stock": stock}]},
            )
            assert r.status_code == 201, r.text
            return dict(r.json())

        lipstick = product("Ruby lipstick", "20.00", UNITS)
        gloss = product("Coral gloss", "30.00", DEAL_VARIANT_STOCK)
        show = http.post("/shows", json={"title": "Lipstick King live"}, headers=host).json()
        listings = {}
        for name, item in (("plain", lipstick), ("deal", gloss)):
            r = http.post(
                f"/shows/{show['id']}/shelf", json={"product_id": item["id"]}, headers=host
            )
            assert r.status_code == 201, r.text
            listings[name] = r.json()["id"]
        assert http.post(f"/shows/{show['id']}/live", headers=host).status_code == 200
        r = http.post(
            f"/shows/{show['id']}/deals",
            headers=host,
            json={
                "listing_id": listings["deal"],
                "price": "9.90",
                "quantity": UNITS,
                "per_buyer_limit": DEAL_LIMIT,
                "duration_seconds": 3600,
            },
        )
        assert r.status_code == 201, r.text
        deal = r.json()
    return Sale(
        db_url=db_url,
        workers=workers,
        show_id=show["id"],
        listings=listings,
        pools={
            "plain": f"v:{lipstick['variants'][0]['id']}",
            "deal": f"d:{deal['id']}",
            "rest": f"v:{gloss['variants'][0]['id']}",
        },
        initial={"plain": UNITS, "deal": UNITS, "rest": DEAL_VARIANT_STOCK - UNITS},
        merchant_token=merchant_token,
    )


def _forget_redis_keys(sale: Sale) -> None:
    client = redis.Redis.from_url(ENV.test_redis_url)
    try:
        patterns = [f"hawker:gate:{{{pool}}}:*" for pool in sale.pools.values()]
        patterns.append(f"hawker:show:{sale.show_id}:*")
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


# -- the buyers -----------------------------------------------------------------------------


@dataclass
class Answer:
    """One request a buyer sent, and what came back (or the error that came instead)."""

    buyer: int
    key: str
    listing: str
    quantity: int
    worker: int
    status: int | None  # None: no HTTP answer (the connection failed)
    body: dict[str, Any] | None
    error: str | None = None
    incarnation: int = 0  # which start of the worker it reached (a killed one is restarted)

    @property
    def order_id(self) -> int | None:
        if self.status in (200, 201) and self.body is not None:
            return int(self.body["id"])
        return None

    @property
    def code(self) -> str | None:
        if self.body is not None and "error" in self.body:
            return str(self.body["error"]["code"])
        return None


@dataclass
class Paid:
    """A payment a buyer sent: 202 means the worker took the card and awaits the outcome."""

    buyer: int
    order_id: int
    worker: int
    status: int | None
    incarnation: int
    error: str | None = None


@dataclass
class Attempt:
    """One buy as a buyer means it: one key, sent once, twice at once (a double tap on two
    workers) or again after the answer (a retry)."""

    listing: str
    quantity: int
    key: str
    mode: str  # "once" | "double" | "retry"


def plan(rng: random.Random, n: int, buyer: Buyer) -> list[Attempt]:
    """Half the crowd wants lipsticks (1-3), the other half the deal's gloss (mostly 1 or 2,
    some ask for 3 of a limit of 2, and some come back for more with a new key, so that the
    limit is met across orders as well as within one)."""

    def mode() -> str:
        return rng.choices(["once", "double", "retry"], weights=[75, 15, 10])[0]

    if n % 2 == 0:
        return [Attempt("plain", rng.randint(1, 3), f"p-{buyer.id}", mode())]
    quantity = rng.choices([1, 2, 3], weights=[60, 30, 10])[0]
    attempts = [Attempt("deal", quantity, f"d-{buyer.id}", mode())]
    if rng.random() < 0.3:
        attempts.append(Attempt("deal", rng.randint(1, 2), f"d2-{buyer.id}", mode()))
    return attempts


class Crowd:
    """Sends the buyers' requests over two workers and keeps every answer."""

    def __init__(self, sale: Sale, *, connections: int = 16) -> None:
        self.sale = sale
        # Idle connections are dropped before the server's 5 s keep-alive ends them: reusing
        # one as the server closes it fails the request, from a worker that did not fail.
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=2.0,
        )
        self.clients = [
            httpx.AsyncClient(base_url=w.api, timeout=httpx.Timeout(120.0), limits=limits)
            for w in sale.workers
        ]
        # Requests wait their turn here rather than in the client's pool, whose queue costs
        # the load generator more than the servers it is meant to load.
        self.slots = [asyncio.Semaphore(connections) for _ in sale.workers]
        self.answers: list[Answer] = []
        self.pays: list[Paid] = []

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def send(self, buyer: Buyer, a: Attempt, worker: int) -> Answer:
        client = self.clients[worker]
        incarnation = self.sale.workers[worker].starts
        try:
            async with self.slots[worker]:
                # Taken as the request leaves: the process it reaches is the one that was
                # running then (a request to a killed one fails; it is never answered late
                # by the next one).
                incarnation = self.sale.workers[worker].starts
                r = await client.post(
                    f"/shows/{self.sale.show_id}/orders",
                    json={
                        "listing_id": self.sale.listings[a.listing],
                        "quantity": a.quantity,
                        "idempotency_key": a.key,
                    },
                    headers={"Authorization": f"Bearer {buyer.token}"},
                )
            json = r.headers.get("content-type", "").startswith("application/json")
            answer = Answer(
                buyer.id,
                a.key,
                a.listing,
                a.quantity,
                worker,
                r.status_code,
                r.json() if json else None,
                incarnation=incarnation,
            )
        except httpx.TransportError as exc:
            answer = Answer(
                buyer.id, a.key, a.listing, a.quantity, worker, None, None, repr(exc), incarnation
            )
        self.answers.append(answer)
        return answer

    async def attempt(self, buyer: Buyer, a: Attempt, home: int) -> list[Answer]:
        other = 1 - home
        if a.mode == "double":
            return list(await asyncio.gather(self.send(buyer, a, home), self.send(buyer, a, other)))
        first = await self.send(buyer, a, home)
        if a.mode == "retry":
            return [first, await self.send(buyer, a, other)]
        return [first]

    async def pay(self, buyer: Buyer, order_id: int, worker: int) -> Paid:
        incarnation = self.sale.workers[worker].starts
        try:
            async with self.slots[worker]:
                incarnation = self.sale.workers[worker].starts
                r = await self.clients[worker].post(
                    f"/orders/{order_id}/pay",
                    json={"card": GOOD_CARD},
                    headers={"Authorization": f"Bearer {buyer.token}"},
                )
            paid = Paid(buyer.id, order_id, worker, r.status_code, incarnation)
        except httpx.TransportError as exc:
            paid = Paid(buyer.id, order_id, worker, None, incarnation, repr(exc))
        self.pays.append(paid)
        return paid


def stampede(sale: Sale, seed: int) -> list[Answer]:
    rng = random.Random(seed)
    plans = [(buyer, plan(rng, n, buyer)) for n, buyer in enumerate(sale.buyers)]

    async def run() -> list[Answer]:
        crowd = Crowd(sale)
        go = asyncio.Event()

        async def shop(n: int, buyer: Buyer, attempts: list[Attempt]) -> None:
            await go.wait()
            for a in attempts:
                await crowd.attempt(buyer, a, n % 2)

        try:
            tasks = [asyncio.create_task(shop(n, b, p)) for n, (b, p) in enumerate(plans)]
            await asyncio.sleep(0)
            go.set()  # everyone at once, as when the host says "3, 2, 1, buy!"
            await asyncio.gather(*tasks)
        finally:
            await crowd.aclose()
        return crowd.answers

    return asyncio.run(run())


# -- what the ledger and the gate say -------------------------------------------------------


@dataclass
class LedgerOrder:
    id: int
    buyer: int
    key: str
    pool: str
    quantity: int
    status: str
    reservation_id: int


def ledger(sale: Sale) -> list[LedgerOrder]:
    import psycopg

    with psycopg.connect(sale.db_url) as conn:
        rows = conn.execute(
            "SELECT id, buyer_id, idempotency_key, pool, quantity, status, reservation_id "
            "FROM orders WHERE show_id = %s",
            (sale.show_id,),
        ).fetchall()
    return [LedgerOrder(*row) for row in rows]


@dataclass
class GateView:
    initial: int
    sold: int
    held: int
    left: int
    held_ids: set[int]
    sold_ids: set[int]


def gate_view(sale: Sale) -> dict[str, GateView]:
    async def read() -> dict[str, GateView]:
        gate = RedisGate(ENV.test_redis_url)
        try:
            out = {}
            for name, pool in sale.pools.items():
                levels = await gate.levels(pool)
                holds = await gate.holds(pool)
                out[name] = GateView(
                    levels.initial,
                    levels.sold,
                    levels.held,
                    levels.left,
                    {h.reservation_id for h in holds if h.state is ReservationState.HELD},
                    {h.reservation_id for h in holds if h.state is ReservationState.SOLD},
                )
            return out
        finally:
            await gate.close()

    return asyncio.run(read())


def check_stock_is_right(sale: Sale, orders: list[LedgerOrder]) -> dict[str, GateView]:
    """The invariants every moment of a sale keeps, as the merchant's books and the room's
    counters show them. Returns the gate's view for further checks."""
    gate = gate_view(sale)
    by_pool: dict[str, list[LedgerOrder]] = defaultdict(list)
    for o in orders:
        by_pool[o.pool].append(o)
    for name, pool in sale.pools.items():
        mine = by_pool[pool]
        sold = sum(o.quantity for o in mine if o.status in ("paid", "fulfilled"))
        held = sum(o.quantity for o in mine if o.status == "pending")
        g = gate[name]
        assert sold + held <= sale.initial[name], f"{name}: {sold + held} units promised"
        assert g.initial == sale.initial[name], f"{name}: the gate counts {g.initial} units"
        assert g.sold + g.held + g.left == g.initial and g.left >= 0, (name, g)
        assert (g.sold, g.held) == (sold, held), (
            f"{name}: gate sold {g.sold} held {g.held}; ledger sold {sold} held {held}"
        )
        # Unit for unit: the very reservations the ledger holds and sold.
        assert g.held_ids == {o.reservation_id for o in mine if o.status == "pending"}, name
        assert g.sold_ids == {
            o.reservation_id for o in mine if o.status in ("paid", "fulfilled")
        }, name
    per_buyer: dict[int, int] = defaultdict(int)
    for o in by_pool[sale.pools["deal"]]:
        if o.status in SELLING:
            per_buyer[o.buyer] += o.quantity
    over = {b: n for b, n in per_buyer.items() if n > DEAL_LIMIT}
    assert not over, f"buyers past the deal's limit of {DEAL_LIMIT}: {over}"
    keys = [(o.buyer, o.key) for o in orders]
    assert len(keys) == len(set(keys)), "two orders for one idempotency key"
    return gate


def shown_left(sale: Sale, worker: ServerProcess) -> dict[str, int]:
    """What every viewer's screen says is left: the shelf's stock and the deal's counter."""
    with httpx.Client(base_url=worker.api, timeout=30) as http:
        shelf = {item["id"]: item for item in http.get(f"/shows/{sale.show_id}/shelf").json()}
        deals = http.get(f"/shows/{sale.show_id}/deals").json()
    return {"plain": int(shelf[sale.listings["plain"]]["in_stock"]), "deal": int(deals[0]["left"])}


# What a buyer in a stampede may hear besides their order: the answers the issue names, and
# the checkout shedding load ("try again"), which holds nothing back.
REFUSALS = {(409, "sold_out"), (409, "limit_reached"), (503, "checkout_busy")}


def unexpected(answers: list[Answer], allowed: set[tuple[int, str]]) -> list[Answer]:
    return [
        a
        for a in answers
        if a.status not in (200, 201) and (a.status or 0, a.code or "") not in allowed
    ]


def check_answers_match_ledger(answers: list[Answer], orders: list[LedgerOrder]) -> None:
    """Every buyer was told the truth: an order they were given exists, with what they
    asked for; a key answered twice got one order, announced as new once; a refused key
    has no order."""
    in_ledger = {(o.buyer, o.key): o for o in orders}
    by_key: dict[tuple[int, str], list[Answer]] = defaultdict(list)
    for a in answers:
        by_key[(a.buyer, a.key)].append(a)
    for key, said in by_key.items():
        given = {a.order_id for a in said if a.order_id is not None}
        order = in_ledger.get(key)
        if order is None:
            assert not given, f"{key}: told of order {given}, which the ledger does not have"
            continue
        assert given <= {order.id}, f"{key}: told of orders {given}; the ledger has {order.id}"
        assert order.quantity == said[0].quantity
        assert order.pool.startswith("d:") == (said[0].listing == "deal")


# -- the test ---------------------------------------------------------------------------------


def test_two_thousand_buyers_on_two_workers_never_oversell(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    with flash_sale(tmp_path) as sale:
        answers = stampede(sale, seed)
        orders = ledger(sale)

        # Each buyer heard yes, sold out or over the limit: nothing else, nothing broken.
        odd = unexpected(answers, REFUSALS)
        assert not odd, f"seed {seed}: {len(odd)} unexpected answers, e.g. {odd[:5]}"
        check_answers_match_ledger(answers, orders)
        # A double tap or a retry made one order, announced as new exactly once.
        created: dict[tuple[int, str], int] = defaultdict(int)
        for a in answers:
            if a.status == 201:
                created[(a.buyer, a.key)] += 1
        assert set(created.values()) == {1}, f"seed {seed}: a key created twice"
        assert set(created) == {(o.buyer, o.key) for o in orders}

        # Exactly the 500 units of each pool went, none more; the deal's variant kept its 100.
        gate = check_stock_is_right(sale, orders)
        for name in ("plain", "deal"):
            held = sum(o.quantity for o in orders if o.pool == sale.pools[name])
            assert held == UNITS, f"seed {seed}: {held} of {UNITS} {name} units held"
            assert gate[name].left == 0
        assert gate["rest"].left == DEAL_VARIANT_STOCK - UNITS
        assert all(o.status == "pending" for o in orders)
        # Every viewer, on either worker, sees both sold out.
        for worker in sale.workers:
            assert shown_left(sale, worker) == {"plain": 0, "deal": 0}
        # The buyers did meet both refusals: the test asked for more than there was.
        codes = {a.code for a in answers}
        assert {"sold_out", "limit_reached"} <= codes
