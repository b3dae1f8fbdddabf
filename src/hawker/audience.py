"""A simulated audience: viewers who join a show over real WebSockets, chat, ask for items
by number and like in bursts, and optionally a host who pins a new item every half minute.

It is a client of the public interfaces only (the REST API to sign in, the room socket to
watch and talk), so it runs against any Hawker server: `hawker demo` points it at its own
server, `hawker rehearse` at any other. It is meant to look alive, not to load-test: one
event loop, a few dozen sockets, a chat line every second or so.

What viewers do is a list of `Act`s, each happening at random moments at its own rate
across the whole audience: chat, likes and, when asked for, buying (a viewer gives an
address once, buys an item from the shelf and pays with the sandbox's good test card).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

log = logging.getLogger(__name__)

CLOSE_BANNED = 4403
CLOSE_NOT_FOUND = 4404
# The server lets a viewer send about one message a second; a little slower never trips it.
MIN_GAP_S = 1.1

NAMES = (
    "Keisha M.",
    "Priya",
    "wigsbytasha",
    "Maria G.",
    "Ngozi",
    "Jess",
    "Tiff",
    "Brianna",
    "Yuki",
    "Fatima",
    "Destiny",
    "Chloe",
    "Imani",
    "Sofia",
    "Amara",
    "Kim",
    "lashes_by_lola",
    "Aaliyah",
    "Renee",
    "Bianca",
    "Zainab",
    "Hannah",
    "Olivia P.",
    "Camila",
    "Tasha B.",
    "beautybyjade",
    "Monique",
    "Grace",
    "Ife",
    "Leilani",
    "Nia",
    "Rosa",
    "Shay",
    "Tamara",
    "glossgirl",
    "Adaeze",
    "Carmen",
    "Deja",
    "Esme",
    "Fiona",
    "Gabi",
    "Halima",
    "Jolene",
    "Kiki",
    "Lina",
    "Mei",
    "Nadia",
    "Ola",
    "Paige",
    "Quinn",
    "Rihanna fan",
    "Sade",
    "Talia",
    "Uche",
    "Vanessa",
    "Whitney",
    "Xiomara",
    "Yasmin",
    "Zoe",
    "curlqueen",
)

# Lines without numbers: a number here could be read as a request by mistake.
GENERIC = (
    "omg the colour!",
    "does it ship to Canada?",
    "obsessed 😍",
    "hi from Lagos!",
    "love your hair today",
    "can you do a closer look?",
    "how long does shipping take?",
    "restock when??",
    "the lighting is perfect",
    "just ordered!!",
    "first time here 👋",
    "💖💖💖",
    "this is the one",
    "is there a discount code?",
    "ship to the UK?",
    "you look amazing",
    "need this for my birthday",
    "my cart is full already 😭",
    "hello from Houston!",
    "girl yes",
    "how do I pay?",
    "can I get it by Friday?",
    "wait that's so pretty",
    "take my money",
    "the drop was worth the wait",
)
ABOUT_WIG = (
    "is this one glueless?",
    "can you show the part?",
    "what's the cap size?",
    "is it heat resistant?",
    "how's the density?",
    "does it shed?",
    "show the back please",
    "can you flip it?",
    "baby hairs included?",
)
ABOUT_LIPS = (
    "is it drying?",
    "what's the finish on this?",
    "does it transfer?",
    "swatch on the arm please",
    "is it vegan?",
    "how long does it last?",
)
ASK_ANY = ("#{n} please", "show me {n} again", "number {n}?", "{n} please!", "need {n}!!")
ASK_WIG = (
    "how long is #{n}",
    "#{n} in {colour}?",
    "is #{n} human hair?",
    "can you try on #{n}?",
    "show me {n} in {colour}",
    "#{n} in {length} inch?",
    "pin {n} pls",
)
ASK_LIPS = (
    "swatch #{n} please",
    "is #{n} transfer-proof?",
    "#{n} in {shade}?",
    "show me {n} on the lips",
    "does #{n} come in {shade}?",
    "number {n}!",
)


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    connected: int = 0
    peak: int = 0
    joins: int = 0
    leaves: int = 0
    signed_up: int = 0
    messages_sent: int = 0
    requests_sent: int = 0
    likes_sent: int = 0
    pins: int = 0
    orders: int = 0
    paid: int = 0
    refused: int = 0  # sold out, over a limit ...: what a real buyer would be told
    events_received: int = 0
    chat_received: int = 0
    server_viewers: int = 0  # the room's own count, from viewers.count
    pinned_number: int | None = None
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Account:
    email: str
    password: str
    display_name: str
    token: str | None = None
    busy: bool = False
    banned: bool = False


@dataclass
class Viewer:
    account: Account
    ws: ClientConnection
    ready: bool = False  # the snapshot came
    last_sent: float = 0.0
    quiet_until: float = 0.0  # after a rate limit, a mute or slow mode


@dataclass(frozen=True, slots=True)
class Item:
    """What the audience knows of one listing: enough to ask for it convincingly."""

    id: int
    number: int
    title: str
    kind: str  # "wig" | "lips" | "item"
    options: tuple[str, ...]  # variant names
    variant_ids: tuple[int, ...] = ()


class Act(Protocol):
    """Something viewers do `rate` times a second across the audience."""

    name: str
    rate: float

    async def __call__(self, audience: Audience, viewer: Viewer) -> None: ...


@dataclass
class Chat:
    rate: float
    name: str = "chat"

    async def __call__(self, audience: Audience, viewer: Viewer) -> None:
        body, is_request = audience.line()
        await audience.send(viewer, {"type": "chat.send", "body": body})
        viewer.last_sent = time.monotonic()
        audience.stats.messages_sent += 1
        if is_request:
            audience.stats.requests_sent += 1


@dataclass
class Likes:
    """Taps come in bursts: a few viewers at once, a handful of taps each."""

    rate: float
    name: str = "likes"

    async def __call__(self, audience: Audience, viewer: Viewer) -> None:
        crowd = [viewer, *audience.pick_many(audience.rng.randint(0, 4), exclude=viewer)]
        for member in crowd:
            count = audience.rng.randint(3, 30)
            await audience.send(member, {"type": "like", "count": count})
            audience.stats.likes_sent += count


@dataclass
class Buy:
    """A viewer buys one of the items on the shelf and pays for it, through the public API."""

    rate: float
    name: str = "buy"
    card: tuple[str, str, str] = ("4242 4242 4242 4242", "12/39", "123")
    addressed: set[str] = field(default_factory=set)

    async def __call__(self, audience: Audience, viewer: Viewer) -> None:
        http, token = audience._http, viewer.account.token
        items = [item for item in audience.shelf if item.variant_ids]
        if http is None or token is None or not items:
            return
        headers = _bearer(token)
        if viewer.account.email not in self.addressed:
            r = await http.put(
                "/me/address",
                headers=headers,
                json={
                    "name": viewer.account.display_name,
                    "line1": "1 Rehearsal Way",
                    "city": "Austin",
                    "postal_code": "78701",
                    "country": "US",
                },
            )
            if r.status_code != 200:
                audience.stats.errors[f"address {r.status_code}"] += 1
                return
            self.addressed.add(viewer.account.email)
        item = audience.rng.choice(items)
        r = await http.post(
            f"/shows/{audience.show_id}/orders",
            headers=headers,
            json={
                "listing_id": item.id,
                "variant_id": audience.rng.choice(item.variant_ids),
                "quantity": 1,
                "idempotency_key": secrets.token_hex(16),
            },
        )
        if r.status_code == 409:
            audience.stats.refused += 1
            return
        if r.status_code not in (200, 201):
            audience.stats.errors[f"buy {r.status_code}"] += 1
            return
        audience.stats.orders += 1
        number, expiry, cvc = self.card
        r = await http.post(
            f"/orders/{r.json()['id']}/pay",
            headers=headers,
            json={"card": {"number": number, "expiry": expiry, "cvc": cvc}},
        )
        if r.status_code == 202:
            audience.stats.paid += 1
        else:
            audience.stats.errors[f"pay {r.status_code}"] += 1


class AccountPool:
    """Demo viewers keep their accounts between runs; rehearsal viewers are new each time.

    A pool with a `store` file keeps its viewers' tokens there, so the next run joins
    without signing in again: a password check is deliberately slow, and forty of them
    would hold up the server just as the demo opens.
    """

    def __init__(
        self,
        *,
        prefix: str,
        domain: str,
        password: str | None,
        rng: random.Random,
        store: Path | None = None,
    ) -> None:
        self.prefix = prefix
        self.domain = domain
        self.fixed_password = password
        self.rng = rng
        self.store = store
        self.accounts: list[Account] = []
        self._tokens: dict[str, str] = {}
        if store is not None and store.exists():
            with contextlib.suppress(ValueError, OSError):
                loaded = orjson.loads(store.read_bytes())
                if isinstance(loaded, dict):
                    self._tokens = {str(k): str(v) for k, v in loaded.items()}

    @classmethod
    def stable(cls, rng: random.Random, store: Path | None = None) -> AccountPool:
        return cls(
            prefix="viewer",
            domain="audience.hawker.test",
            password="audience-demo",
            rng=rng,
            store=store,
        )

    @classmethod
    def throwaway(cls, rng: random.Random) -> AccountPool:
        run = secrets.token_hex(4)
        return cls(
            prefix=f"rehearsal-{run}", domain="rehearsal.hawker.test", password=None, rng=rng
        )

    @property
    def reusable(self) -> bool:
        return self.fixed_password is not None

    @property
    def keeps_tokens(self) -> bool:
        return self.store is not None

    def remember(self, account: Account) -> None:
        """Write the account's token (or its loss) to the store."""
        if self.store is None:
            return
        if account.token:
            self._tokens[account.email] = account.token
        else:
            self._tokens.pop(account.email, None)
        self.store.parent.mkdir(parents=True, exist_ok=True)
        partial = self.store.with_suffix(".tmp")
        partial.write_bytes(orjson.dumps(self._tokens))
        partial.chmod(0o600)
        partial.replace(self.store)

    def take(self) -> Account:
        idle = [a for a in self.accounts if not a.busy and not a.banned]
        if idle:
            account = self.rng.choice(idle)
        else:
            n = len(self.accounts)
            name = NAMES[n % len(NAMES)] + ("" if n < len(NAMES) else f" {n // len(NAMES) + 1}")
            email = f"{self.prefix}-{n + 1:03d}@{self.domain}"
            account = Account(
                email=email,
                password=self.fixed_password or secrets.token_urlsafe(12),
                display_name=name,
                token=self._tokens.get(email),
            )
            self.accounts.append(account)
        account.busy = True
        return account


class AudienceError(Exception):
    """The audience cannot go on (no such show, the server refuses everyone)."""


class Audience:
    def __init__(
        self,
        base_url: str,
        show_id: int,
        *,
        viewers: int = 30,
        chat_rate: float = 1.0,
        like_rate: float = 0.15,
        churn: bool = True,
        ramp_s: float = 10.0,
        accounts: AccountPool | None = None,
        host: tuple[str, str] | None = None,
        pin_every: tuple[float, float] = (20.0, 40.0),
        buy_rate: float = 0.0,
        acts: Sequence[Act] | None = None,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ws_url = self.base_url.replace("http", "ws", 1) + f"/ws/shows/{show_id}"
        self.show_id = show_id
        self.size = max(1, viewers)
        self.churn = churn
        self.ramp_s = ramp_s
        self.rng = random.Random(seed)
        self.pool = accounts or AccountPool.throwaway(self.rng)
        self.host = host
        self.pin_every = pin_every
        self.acts: list[Act] = (
            list(acts) if acts is not None else [Chat(chat_rate), Likes(like_rate)]
        )
        if buy_rate > 0:
            self.acts.append(Buy(buy_rate))
        self.stats = Stats()
        self.shelf: list[Item] = []
        self.requests: Counter[int] = Counter()  # listing id -> viewers who asked
        self.slow_mode = 0
        self.fatal: str | None = None  # why it could not go on
        self.ended: str | None = None  # why it stopped by itself, as planned
        self.present: dict[int, Viewer] = {}  # id(account) -> viewer
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # held so they are not collected early
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        # Each run favours a few items, the way a real room does.
        self._taste = [self.rng.paretovariate(1.2) for _ in range(200)]

    # -- running -----------------------------------------------------------------------

    async def run(self, duration: float | None = None) -> Stats:
        """Run until `duration` seconds pass, `request_stop()` is called or the show ends."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.stats = Stats()
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/api/v1", timeout=15, trust_env=False
        )
        drivers = [asyncio.create_task(self._populate(), name="populate")]
        drivers += [asyncio.create_task(self._drive(act), name=act.name) for act in self.acts]
        if self.host is not None:
            drivers.append(asyncio.create_task(self._host(*self.host), name="host"))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), duration)
        finally:
            for task in drivers:
                task.cancel()
            await asyncio.gather(*drivers, return_exceptions=True)
            await self._leave_all()
            await self._sign_out_all()
            await self._http.aclose()
        if self.fatal:
            raise AudienceError(self.fatal)
        return self.stats

    def request_stop(self) -> None:
        """Stop soon; safe to call from any thread or a signal handler."""
        if self._loop is None or self._stop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._stop.set()
        else:
            self._loop.call_soon_threadsafe(self._stop.set)

    def _fail(self, message: str) -> None:
        self.fatal = self.fatal or message
        self.request_stop()

    async def _leave_all(self) -> None:
        # A cancelled visit closes its socket on the way out (see _visit); one still
        # signing in just stops.
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sign_out_all(self) -> None:
        if self.pool.keeps_tokens:
            return  # the next run picks these sessions up again
        assert self._http is not None
        signed_in = [a for a in self.pool.accounts if a.token]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        self._http.post("/auth/signout", headers=_bearer(a.token))
                        for a in signed_in
                    ),
                    return_exceptions=True,
                ),
                5,
            )

    # -- population: viewers come and go -------------------------------------------------

    def _target(self, now: float, state: dict[str, float]) -> int:
        if not self.churn:
            return self.size
        if now >= state.get("next_change", 0.0):
            low = max(1, round(self.size * 0.6))
            state["target"] = self.rng.randint(low, self.size)
            state["next_change"] = now + self.rng.uniform(20, 45)
        return int(state.get("target", self.size))

    async def _populate(self) -> None:
        state: dict[str, float] = {"target": float(self.size), "next_change": time.monotonic() + 30}
        ramp_gap = self.ramp_s / self.size
        while True:
            now = time.monotonic()
            if len(self._tasks) < self._target(now, state):
                task = asyncio.create_task(self._watch(self.pool.take()))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            # Back off while joins keep failing: the server may be down or restarting.
            failures = self.stats.errors["connect_failed"] + self.stats.errors["sign_in_failed"]
            in_ramp = self.stats.joins < self.size and now - self.stats.started < self.ramp_s * 2
            gap = ramp_gap if in_ramp else self.rng.uniform(0.5, 3.0)
            await asyncio.sleep(gap + min(10.0, 0.2 * failures))

    async def _sign_in(self, account: Account) -> str:
        assert self._http is not None
        if account.token:
            return account.token
        if self.pool.reusable:
            r = await self._http.post(
                "/auth/token", json={"email": account.email, "password": account.password}
            )
            if r.status_code == 200:
                account.token = str(r.json()["token"])
                self.pool.remember(account)
                return account.token
        r = await self._http.post(
            "/auth/signup",
            json={
                "email": account.email,
                "password": account.password,
                "display_name": account.display_name,
            },
        )
        if r.status_code != 201:
            raise AudienceError(f"sign-up refused ({r.status_code}): {r.text[:200]}")
        self.stats.signed_up += 1
        account.token = str(r.json()["token"])
        self.pool.remember(account)
        return account.token

    async def _watch(self, account: Account) -> None:
        """One viewer's visit: connect, read the room until it is time to leave."""
        try:
            try:
                token = await self._sign_in(account)
            except (httpx.HTTPError, AudienceError, ValueError, KeyError) as exc:
                self.stats.errors["sign_in_failed"] += 1
                log.debug("sign in of %s failed: %s", account.email, exc)
                return
            try:
                ws = await connect(
                    self.ws_url,
                    additional_headers=_bearer(token),
                    open_timeout=10,
                    close_timeout=3,
                    max_size=None,
                    compression=None,
                    proxy=None,
                )
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.stats.errors["connect_failed"] += 1
                log.debug("connect failed: %s", exc)
                return
            await self._visit(Viewer(account, ws))
        finally:
            account.busy = False

    async def _visit(self, viewer: Viewer) -> None:
        key = id(viewer.account)
        self.present[key] = viewer
        self.stats.connected += 1
        self.stats.joins += 1
        self.stats.peak = max(self.stats.peak, self.stats.connected)
        stay = self.rng.uniform(30, 240) if self.churn else None
        try:
            async with asyncio.timeout(stay):
                async for raw in viewer.ws:
                    self._on_frame(viewer, raw)
        except TimeoutError:
            pass  # time to go
        except ConnectionClosed:
            pass  # the close code below says why
        finally:
            del self.present[key]
            self.stats.connected -= 1
            self.stats.leaves += 1
            with contextlib.suppress(Exception):
                await viewer.ws.close()
        code = viewer.ws.close_code
        if code == CLOSE_NOT_FOUND:
            self._fail(f"there is no show {self.show_id} at {self.base_url}")
        elif code == CLOSE_BANNED:
            viewer.account.banned = True
            self.stats.errors["banned"] += 1
        elif code not in (None, 1000, 1001) and (self._stop is None or not self._stop.is_set()):
            self.stats.errors[f"closed_{code}"] += 1

    # -- what viewers hear -----------------------------------------------------------------

    def _on_frame(self, viewer: Viewer, raw: str | bytes) -> None:
        payload = orjson.loads(raw)
        for event in payload if isinstance(payload, list) else (payload,):
            self.stats.events_received += 1
            self._on_event(viewer, event)

    def _on_event(self, viewer: Viewer, event: dict[str, Any]) -> None:
        kind, data = event.get("type"), event.get("data") or {}
        if kind == "chat.message":
            self.stats.chat_received += 1
        elif kind == "room.snapshot":
            if (data.get("you") or {}).get("user_id") is None:
                # The token has expired or was revoked: the room took us for a guest.
                # Forget it and leave; the next visit signs in again.
                viewer.account.token = None
                self.pool.remember(viewer.account)
                closing = asyncio.get_running_loop().create_task(viewer.ws.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
                return
            viewer.ready = True
            self._learn_shelf(data.get("shelf") or [])
            pinned = data.get("pinned")
            self.stats.pinned_number = pinned["number"] if pinned else None
            self.slow_mode = int(data.get("slow_mode_seconds") or 0)
            self.stats.server_viewers = int(data.get("viewers") or 0)
        elif kind == "shelf.updated":
            self._learn_shelf(data.get("shelf") or [])
        elif kind == "shelf.pinned":
            self.stats.pinned_number = data["listing"]["number"]
        elif kind == "shelf.unpinned":
            self.stats.pinned_number = None
        elif kind == "requests.counted":
            self.requests[int(data["listing_id"])] = int(data["count"])
        elif kind == "viewers.count":
            self.stats.server_viewers = int(data.get("count") or 0)
        elif kind == "chat.settings":
            self.slow_mode = int(data.get("slow_mode_seconds") or 0)
        elif kind == "show.state" and data.get("status") == "ended":
            self.ended = "the show has ended"
            self.request_stop()
        elif kind == "error":
            code = str(data.get("code") or "error")
            self.stats.errors[code] += 1
            wait = float(data.get("retry_after") or (60 if code == "muted" else 0))
            viewer.quiet_until = max(viewer.quiet_until, time.monotonic() + wait)
            if code == "show_not_found":
                self._fail(f"there is no show {self.show_id} at {self.base_url}")

    def _learn_shelf(self, listings: list[dict[str, Any]]) -> None:
        items = []
        for listing in listings:
            title = str(listing["product"]["title"])
            lowered = title.lower()
            kind = (
                "wig"
                if "wig" in lowered
                else "lips"
                if "lip" in lowered or "gloss" in lowered
                else "item"
            )
            variants = [v for v in listing.get("variants") or () if int(v.get("stock", 0)) > 0]
            options = tuple(str(v["name"]) for v in listing.get("variants") or ())
            items.append(
                Item(
                    int(listing["id"]),
                    int(listing["number"]),
                    title,
                    kind,
                    options,
                    tuple(int(v["id"]) for v in variants),
                )
            )
        self.shelf = sorted(items, key=lambda item: item.number)

    # -- what viewers say -------------------------------------------------------------------

    def line(self) -> tuple[str, bool]:
        """A chat line, and whether it asks for an item by number."""
        rng = self.rng
        pinned = self._item(self.stats.pinned_number)
        roll = rng.random()
        if self.shelf and roll < 0.42:
            item = pinned if pinned and rng.random() < 0.35 else self._favourite()
            return self._ask(item), True
        if pinned and roll < 0.6:
            return rng.choice(
                ABOUT_WIG
                if pinned.kind == "wig"
                else ABOUT_LIPS
                if pinned.kind == "lips"
                else GENERIC
            ), False
        return rng.choice(GENERIC), False

    def _item(self, number: int | None) -> Item | None:
        return next((item for item in self.shelf if item.number == number), None)

    def _favourite(self) -> Item:
        weights = [self._taste[i % len(self._taste)] for i in range(len(self.shelf))]
        return self.rng.choices(self.shelf, weights)[0]

    def _ask(self, item: Item) -> str:
        rng = self.rng
        if item.kind == "wig" and item.options:
            colour, _, length = rng.choice(item.options).partition(", ")
            template = rng.choice(ASK_WIG + ASK_ANY)
            return template.format(n=item.number, colour=colour, length=length.strip('" '))
        if item.kind == "lips" and item.options:
            # "#07 Ruby Riot" -> "Ruby Riot": a second number would muddle the request.
            shade = rng.choice(item.options).lstrip("#0123456789 ") or "that shade"
            return rng.choice(ASK_LIPS + ASK_ANY).format(n=item.number, shade=shade)
        return rng.choice(ASK_ANY).format(n=item.number)

    # -- acting ------------------------------------------------------------------------------

    def pick(self, *, exclude: Viewer | None = None) -> Viewer | None:
        now = time.monotonic()
        gap = max(MIN_GAP_S, self.slow_mode + 0.2)
        ready = [
            v
            for v in self.present.values()
            if v.ready and v is not exclude and now >= v.quiet_until and now - v.last_sent >= gap
        ]
        return self.rng.choice(ready) if ready else None

    def pick_many(self, n: int, *, exclude: Viewer | None = None) -> list[Viewer]:
        ready = [v for v in self.present.values() if v.ready and v is not exclude]
        return self.rng.sample(ready, min(n, len(ready)))

    async def send(self, viewer: Viewer, frame: dict[str, Any]) -> None:
        await viewer.ws.send(orjson.dumps(frame).decode())

    async def _drive(self, act: Act) -> None:
        if act.rate <= 0:
            return
        while True:
            await asyncio.sleep(self.rng.expovariate(act.rate))
            viewer = self.pick()
            if viewer is None:
                continue
            try:
                await act(self, viewer)
            except ConnectionClosed:
                pass  # the viewer left while speaking; _visit counts why
            except Exception:
                self.stats.errors[f"{act.name}_failed"] += 1
                log.exception("%s failed", act.name)

    # -- the host ---------------------------------------------------------------------------

    async def _host(self, email: str, password: str) -> None:
        """Pin a different item every 20 to 40 s, often the one most asked for, and say so."""
        assert self._http is not None
        r = await self._http.post("/auth/token", json={"email": email, "password": password})
        if r.status_code != 200:
            self.stats.errors["host_sign_in_failed"] += 1
            log.warning("the host could not sign in (%s); nothing will be pinned", r.status_code)
            return
        headers = _bearer(str(r.json()["token"]))
        try:
            for turn in itertools.count():
                await asyncio.sleep(self.rng.uniform(*self.pin_every) if turn else 3.0)
                if not self.shelf:
                    # No viewer has seen the room yet: read the shelf the way a page would.
                    r = await self._http.get(f"/shows/{self.show_id}/shelf")
                    if r.status_code == 200:
                        self._learn_shelf(r.json())
                item = self._next_pin()
                if item is None:
                    continue
                try:
                    r = await self._http.put(
                        f"/shows/{self.show_id}/pin", json={"listing_id": item.id}, headers=headers
                    )
                    if r.status_code != 200:
                        self.stats.errors[f"pin_{r.status_code}"] += 1
                        continue
                    self.stats.pins += 1
                    price = r.json().get("price") or {}
                    body = f"Now showing #{item.number}: {item.title}!"
                    if price.get("amount"):
                        body += (
                            f" Live price {price['amount']} {price.get('currency', '')}".rstrip()
                        )
                    await self._http.post(
                        f"/shows/{self.show_id}/chat", json={"body": body}, headers=headers
                    )
                except httpx.HTTPError:
                    self.stats.errors["pin_failed"] += 1
        finally:
            with contextlib.suppress(Exception):
                await self._http.post("/auth/signout", headers=headers)

    def _next_pin(self) -> Item | None:
        choices = [item for item in self.shelf if item.number != self.stats.pinned_number]
        if not choices:
            return None
        asked = [item for item in choices if self.requests.get(item.id)]
        if asked and self.rng.random() < 0.5:
            return max(asked, key=lambda item: self.requests[item.id])
        return self.rng.choice(choices)


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@contextlib.contextmanager
def in_background(audience: Audience, duration: float | None = None) -> Iterator[Audience]:
    """Run the audience on its own event loop in a thread; stop it (and wait) on exit.

    For callers that are not async themselves (tests, a sync script)."""
    failure: list[BaseException] = []

    def main() -> None:
        try:
            asyncio.run(audience.run(duration))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=main, name="audience", daemon=True)
    thread.start()
    try:
        yield audience
    finally:
        deadline = time.monotonic() + 5
        while audience._loop is None and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        audience.request_stop()
        thread.join(timeout=30)
    if thread.is_alive():
        raise RuntimeError("the audience did not stop")
    if failure:
        raise failure[0]
