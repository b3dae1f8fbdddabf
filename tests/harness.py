"""Test harness: a real Hawker server on a real database, and clients that talk to it."""

from __future__ import annotations

import itertools
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hawker.config import Settings
from hawker.store.migrate import upgrade
from hawker.web.server import config

ENV = Settings()
_ids = itertools.count(1)


def need_service(name: str, reason: str) -> None:
    """Skip a test whose service is missing, or fail it where CI says services are required."""
    if ENV.require_services:
        pytest.fail(f"{name} is required (HAWKER_REQUIRE_SERVICES=1) but {reason}")
    pytest.skip(f"{name} not reachable: {reason}")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    admin_url = ENV.test_postgres_url
    name = f"hawker_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        need_service("PostgreSQL", str(exc).strip())
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'hawker.db'}"
    else:
        with postgres_database() as url:
            yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_settings(db_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "host": "127.0.0.1",
        "port": free_port(),
        "like_flush_s": 0.2,
        "viewers_flush_s": 0.2,
        "rtmp_port": 0,  # no video ingest unless a test asks for it
        "gc_tuning": False,  # the collector is the test process's, shared by every test
        **overrides,
    }
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class LiveServer:
    settings: Settings
    base_url: str
    ws_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    upgrade(settings.db_url)
    server = uvicorn.Server(config(settings, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    live = LiveServer(
        settings,
        f"http://127.0.0.1:{settings.port}",
        f"ws://127.0.0.1:{settings.port}",
        server,
        thread,
    )
    try:
        yield live
    finally:
        live.stop()


def ctx_of(server: LiveServer) -> Any:
    """The services context of a server running in this process (for what no API shows)."""
    app: Any = server.server.config.app
    return app.state.ctx


@dataclass
class Person:
    """A signed-in user with an API client."""

    id: int
    email: str
    password: str
    display_name: str
    token: str
    http: httpx.Client

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.patch(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)


@dataclass
class World:
    """Builds what a test needs through the public API of a live server."""

    server: LiveServer
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def anonymous(self) -> httpx.Client:
        client = httpx.Client(base_url=self.server.base_url + "/api/v1", timeout=15)
        self.clients.append(client)
        return client

    def person(self, name: str = "viewer", *, host: bool = False, admin: bool = False) -> Person:
        n = next(_ids)
        email = f"{name.lower().replace(' ', '.')}.{n}.{uuid.uuid4().hex[:6]}@example.com"
        password = "correct horse battery"
        display = f"{name} {n}"
        r = self.anonymous.post(
            "/auth/signup",
            json={"email": email, "password": password, "display_name": display, "host": host},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        http = httpx.Client(
            base_url=self.server.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {body['token']}"},
            timeout=15,
        )
        self.clients.append(http)
        person = Person(body["user"]["id"], email, password, display, body["token"], http)
        if admin:
            _make_admin(self.server.settings.db_url, person.id)
        return person

    def brand_with_products(
        self, merchant: Person, *, products: int = 3, variants: int = 2, currency: str = "USD"
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        r = merchant.post(
            "/brands", json={"name": f"Brand {uuid.uuid4().hex[:8]}", "currency": currency}
        )
        assert r.status_code == 201, r.text
        brand = r.json()
        made = []
        for i in range(products):
            r = merchant.post(
                f"/brands/{brand['id']}/products",
                json={
                    "title": f"Product {i + 1}",
                    "description": "A fine thing",
                    "variants": [
                        {"name": f"Shade {j + 1}", "price": f"{10 + i}.90", "stock": 50}
                        for j in range(variants)
                    ],
                },
            )
            assert r.status_code == 201, r.text
            made.append(r.json())
        return brand, made

    def live_show(
        self, host: Person, *, listings: int = 3, merchant: Person | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A show on air with `listings` items on its shelf."""
        merchant = merchant or self.person("merchant")
        _, products = self.brand_with_products(merchant, products=listings)
        r = host.post("/shows", json={"title": "Spring lipstick live"})
        assert r.status_code == 201, r.text
        show = r.json()
        shelf = []
        for product in products:
            r = host.post(f"/shows/{show['id']}/shelf", json={"product_id": product["id"]})
            assert r.status_code == 201, r.text
            shelf.append(r.json())
        r = host.post(f"/shows/{show['id']}/live")
        assert r.status_code == 200, r.text
        return r.json(), shelf

    def socket(self, show_id: int, who: Person | None = None) -> RoomClient:
        headers = {"Authorization": f"Bearer {who.token}"} if who else {}
        ws = connect(
            f"{self.server.ws_url}/ws/shows/{show_id}",
            additional_headers=headers,
            open_timeout=10,
            max_size=None,
            legacy=True,  # a plain connection object; RoomClient closes it
        )
        return RoomClient(ws)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def _make_admin(db_url: str, user_id: int) -> None:
    # There is no API to become the first admin; `hawker create-admin` does the same.
    from sqlalchemy import update

    from hawker.store.db import sync_engine
    from hawker.store.tables import User

    engine = sync_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == user_id).values(is_admin=True))
    engine.dispose()


class RoomClient:
    """A viewer's socket: reads frames (one event or a list) into a flat event list."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._cursor = 0

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def _read(self, timeout: float) -> bool:
        try:
            raw = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return False
        payload = json.loads(raw)
        self.events.extend(payload if isinstance(payload, list) else [payload])
        return True

    def wait_for(
        self,
        type_: str,
        where: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The next event of `type_` (after the ones already returned) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self._cursor, len(self.events)):
                event = self.events[i]
                if event["type"] == type_ and where(event):
                    self._cursor = i + 1
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [e["type"] for e in self.events[self._cursor :]]
                raise AssertionError(f"no {type_} event within {timeout}s; saw {seen}")
            self._read(left)

    def snapshot(self) -> dict[str, Any]:
        return self.wait_for("room.snapshot")["data"]

    def wait_closed(self, timeout: float = 5.0) -> int | None:
        """Read (keeping the events) until the server closes the socket; its close code."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the socket stayed open for {timeout}s")
            try:
                self._read(left)
            except ConnectionClosed:
                return self.ws.close_code

    def since(
        self,
        type_: str,
        where: Callable[[dict[str, Any]], bool] = lambda _: True,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Every event from the cursor up to and including the next `type_` that matches."""
        start = self._cursor
        self.wait_for(type_, where, timeout)
        return self.events[start : self._cursor]

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> RoomClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def spread_ids(db_url: str, rng: random.Random | None = None) -> None:
    """Start every id sequence of a fresh PostgreSQL database at a random point, so that the
    ids it hands out (and so stock pools and room channels in a shared Redis) are not the
    ids of another test's database."""
    from sqlalchemy import text

    from hawker.store.db import sync_engine
    from hawker.store.tables import Base

    rng = rng or random.Random()
    engine = sync_engine(db_url)
    try:
        with engine.begin() as conn:
            for table in Base.metadata.sorted_tables:
                if "id" not in table.c or not table.c.id.primary_key:
                    continue
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n)"),
                    {"t": table.name, "n": rng.randrange(10**8, 2 * 10**9)},
                )
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Buyer:
    id: int
    token: str


def bulk_buyers(
    db_url: str, count: int, *, address: dict[str, str], city: str = "Austin"
) -> list[Buyer]:
    """`count` signed-in buyers with a shipping address, written straight to the database
    (a sign-up hashes a password on purpose slowly: thousands would take minutes). The rows
    are what sign-up and sign-in write: one password hash for all, API tokens stored as
    their SHA-256."""
    import hashlib
    import secrets
    from datetime import UTC, datetime, timedelta

    from argon2 import PasswordHasher
    from sqlalchemy import insert, select

    from hawker.store.db import sync_engine
    from hawker.store.tables import Address, User
    from hawker.store.tables import Session as SessionRow

    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    password_hash = PasswordHasher().hash("correct horse battery")
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    engine = sync_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(User),
                [
                    {
                        "email": f"buyer.{n}.{tag}@example.com",
                        "display_name": f"Buyer {n}",
                        "password_hash": password_hash,
                        "city": city,
                        "is_host": False,
                        "is_admin": False,
                        "created_at": now,
                    }
                    for n in range(count)
                ],
            )
            ids = conn.scalars(
                select(User.id)
                .where(User.email.like(f"buyer.%.{tag}@example.com"))
                .order_by(User.id)
            ).all()
            assert len(ids) == count
            conn.execute(
                insert(SessionRow),
                [
                    {
                        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                        "user_id": uid,
                        "kind": "token",
                        "csrf_token": secrets.token_urlsafe(24),
                        "created_at": now,
                        "expires_at": now + timedelta(days=1),
                    }
                    for uid, token in zip(ids, tokens, strict=True)
                ],
            )
            conn.execute(
                insert(Address),
                [
                    {
                        "user_id": uid,
                        "updated_at": now,
                        "line2": "",
                        "region": "",
                        "phone": "",
                        **address,
                    }
                    for uid in ids
                ],
            )
    finally:
        engine.dispose()
    return [Buyer(uid, token) for uid, token in zip(ids, tokens, strict=True)]


class Browser:
    """A cookie-signed-in page client, as a browser would be after the /signin form."""

    def __init__(self, server: LiveServer) -> None:
        self.http = httpx.Client(base_url=server.base_url, timeout=15, follow_redirects=False)

    def sign_in(self, who: Person) -> None:
        page = self.http.get("/signin")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, page.text
        r = self.http.post(
            "/signin",
            data={"email": who.email, "password": who.password, "csrf": token[1], "next": "/"},
        )
        assert r.status_code == 303, r.text

    def csrf(self, path: str = "/studio") -> str:
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', self.http.get(path).text)
        assert found, "no csrf meta: not signed in?"
        return found[1]

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, data: dict[str, str], **kw: object) -> httpx.Response:
        return self.http.post(path, data=data, **kw)  # type: ignore[arg-type]


# Signs a person in and gives their page client (the `signed_in` fixture, tests/conftest.py).
SignIn = Callable[[Person], Browser]
