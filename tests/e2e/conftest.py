"""A real Chromium against a real server on SQLite (one per module), or against two
`hawker serve` workers on PostgreSQL + Redis where a test asks for the `site` fixture."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from hawker.store.migrate import upgrade
from tests.harness import (
    ENV,
    LiveServer,
    Person,
    World,
    database,
    live_server,
    need_service,
    postgres_database,
    spread_ids,
    test_settings,
)
from tests.processes import server_env, servers

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Overrides the two-database `server`: what a browser sees does not depend on the database."""
    tmp: Path = tmp_path_factory.mktemp("hawker-e2e")
    with database("sqlite", tmp) as url, live_server(test_settings(url, tmp)) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        need_service("Chromium", f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, **options: Any) -> tuple[Any, Any, list[str]]:
    """A fresh browser context (its own cookies; `options` as Playwright's `new_context`)
    and page, with the page's script errors. A wait longer than 15 s fails the test."""
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def sign_in(page: Any, base_url: str, person: Person, next_path: str) -> None:
    """Sign in through the sign-in form, as a person would, and land on `next_path`."""
    page.goto(f"{base_url}/signin?next={next_path}")
    page.fill("#email", person.email)
    page.fill("#password", person.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


@dataclass(frozen=True)
class Site:
    """Where a browser test's people go. `world` makes accounts, shows and deals through the
    API of the first server; viewers open pages on `urls[0]` and `urls[1]`: the one server of
    the embedded defaults twice, or two workers on PostgreSQL + Redis, so that what one
    viewer does reaches the other only through Redis."""

    world: World
    urls: tuple[str, str]


@dataclass(frozen=True)
class _Worker:
    """What `World` reads of a server, for a `hawker serve` process."""

    base_url: str
    ws_url: str


SITES = [
    pytest.param("embedded", id="embedded"),
    pytest.param(
        "postgres+redis", id="postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]
    ),
]


@pytest.fixture(scope="module", params=SITES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The same site on the embedded defaults (SQLite, in-process bus and stock gate) and
    scaled out (PostgreSQL, Redis bus and stock gate, two `hawker serve` workers)."""
    if request.param == "embedded":
        server: LiveServer = request.getfixturevalue("server")
        world = World(server)
        yield Site(world, (server.base_url, server.base_url))
        world.close()
        return
    try:
        with redis.Redis.from_url(ENV.test_redis_url, socket_connect_timeout=2) as client:
            client.ping()
    except redis.RedisError as exc:
        need_service("Redis", str(exc))
    tmp: Path = tmp_path_factory.mktemp("hawker-e2e-scaled")
    with ExitStack() as stack:
        db_url = stack.enter_context(postgres_database())
        upgrade(db_url)
        # Pools and room channels in the shared Redis are named by ids: start them where no
        # other test's database is, and drop this site's keys after its workers are gone.
        spread_ids(db_url)
        stack.callback(_forget_redis_keys, db_url)
        env = server_env(
            database_url=db_url,
            redis_url=ENV.test_redis_url,
            data_dir=tmp / "data",
            secret_key=secrets.token_urlsafe(32),
            rtmp_port=0,  # two workers, no video: neither takes the RTMP port
            like_flush_s=0.2,
            viewers_flush_s=0.2,
        )
        a, b = stack.enter_context(servers(2, env, tmp))
        world = World(_Worker(a.base_url, a.base_url.replace("http", "ws", 1)))
        stack.callback(world.close)
        yield Site(world, (a.base_url, b.base_url))


def _forget_redis_keys(db_url: str) -> None:
    """Delete the Redis keys of every show and stock pool of a test database."""
    from sqlalchemy import select

    from hawker.services.stock import claim_pool, coupon_pool, deal_pool, variant_pool
    from hawker.store.db import sync_engine
    from hawker.store.tables import Coupon, Deal, Show, Variant

    engine = sync_engine(db_url)
    try:
        with engine.connect() as conn:
            shows = conn.scalars(select(Show.id)).all()
            pools = [variant_pool(i) for i in conn.scalars(select(Variant.id))]
            pools += [deal_pool(i) for i in conn.scalars(select(Deal.id))]
            for i in conn.scalars(select(Coupon.id)):
                pools += [coupon_pool(i), claim_pool(i)]
    finally:
        engine.dispose()
    prefixes = tuple(
        [f"hawker:gate:{{{pool}}}:" for pool in pools] + [f"hawker:show:{s}:" for s in shows]
    )
    client = redis.Redis.from_url(ENV.test_redis_url, decode_responses=True)
    try:
        keys = [k for k in client.scan_iter(match="hawker:*", count=1000) if k.startswith(prefixes)]
        if keys:
            client.delete(*keys)
    finally:
        client.close()
