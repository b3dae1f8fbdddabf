"""A show's figures, through the real API and pages: viewers on real sockets, buyers paying
with the sandbox card, a refund and two pins; the report after the show, the dashboards
across shows (whose GMV agrees with the settlements to the cent), and each CSV against its
page."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.harness import (
    ENV,
    LiveServer,
    Person,
    World,
    ctx_of,
    database,
    live_server,
    need_service,
    postgres_database,
    test_settings,
)
from tests.integration.test_business import Table, agency_with_host, amount, iso, now, product
from tests.integration.test_checkout import GOOD_CARD, buyer, key, wait_order
from tests.integration.test_video import wait_until

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
WIG = "<b>Curly</b> wig"


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server that samples the viewer count five times a second, not once a minute."""
    tmp: Path = tmp_path_factory.mktemp(f"hawker-analytics-{request.param}")
    with (
        database(request.param, tmp) as url,
        live_server(test_settings(url, tmp, viewers_sample_s=0.2)) as live,
    ):
        yield live


@dataclass
class Scene:
    world: World
    host: Person
    agent: Person
    merchant: Person
    agency_id: int
    brand_id: int
    show_id: int
    listings: list[int]
    order_ids: dict[str, int]

    def page(self, who: Person, path: str) -> Any:
        return who.http.get(f"{self.world.server.base_url}{path}")


def buy(
    person: Person, show_id: int, listing_id: int, quantity: int = 1, variant_id: int | None = None
) -> int:
    """Buy and pay with the sandbox's good card; the paid order's id."""
    choice = {"variant_id": variant_id} if variant_id else {}
    r = person.post(
        f"/shows/{show_id}/orders",
        json={"listing_id": listing_id, "quantity": quantity, "idempotency_key": key(), **choice},
    )
    assert r.status_code == 201, r.text
    order_id = int(r.json()["id"])
    r = person.post(f"/orders/{order_id}/pay", json={"card": GOOD_CARD})
    assert r.status_code == 202, r.text
    wait_order(person, order_id, "paid")
    return order_id


@pytest.fixture(scope="module")
def scene(server: LiveServer) -> Iterator[Scene]:
    """An agency's host sells a brand's lipstick and wig under a contract. Four watch (three
    signed in, one not); Ada asks for #1, Bob for #1, Cy for #2. #1 is pinned: Ada buys one
    lipstick, Bob two; #2 is pinned: Cy buys the wig. Bob's order is refunded; the show ends."""
    world = World(server)
    agent, agency, host = agency_with_host(world)
    merchant = world.person("Merchant")
    brand = merchant.post("/brands", json={"name": f"Brand {uuid.uuid4().hex[:8]}"}).json()
    lipstick = product(merchant, brand["id"], "Ruby lipstick", "lips", "19.99")
    wig = product(merchant, brand["id"], WIG, "wigs", "120.00")
    contract = merchant.post(
        "/contracts",
        json={
            "brand_id": brand["id"],
            "agency_id": agency["id"],
            "starts_at": iso(now() - timedelta(hours=1)),
            "ends_at": iso(now() + timedelta(days=30)),
            "rates": [{"host_share": "10", "agency_share": "5"}],
        },
    ).json()
    assert agent.post(f"/contracts/{contract['id']}/accept").status_code == 200
    r = agent.post(
        "/shows",
        json={"title": "Lipstick <i>night</i>", "host_id": host.id, "contract_id": contract["id"]},
    )
    assert r.status_code == 201, r.text
    show_id = r.json()["id"]
    listings = []
    for pid in (lipstick, wig):
        r = agent.post(f"/shows/{show_id}/shelf", json={"product_id": pid})
        assert r.status_code == 201, r.text
        listings.append(r.json()["id"])
    assert host.post(f"/shows/{show_id}/live").status_code == 200

    ada, bob, cy = buyer(world, "Ada"), buyer(world, "Bob"), buyer(world, "Cy")
    sockets = [world.socket(show_id, who) for who in (ada, bob, cy)] + [world.socket(show_id)]
    for s in sockets:
        s.snapshot()

    def report() -> dict[str, Any]:
        got: dict[str, Any] = host.get(f"/shows/{show_id}/report").json()
        return got

    wait_until(lambda: report()["peak_viewers"] == 4, what="a sample of four viewers")
    wait_until(lambda: report()["unique_viewers"] == 4, what="four watch sessions")
    for who, text in ((ada, "#1 please"), (bob, "number 1"), (cy, "show me 2")):
        assert who.post(f"/shows/{show_id}/chat", json={"body": text}).status_code == 201
    assert host.put(f"/shows/{show_id}/pin", json={"listing_id": listings[0]}).status_code == 200
    orders = {"ada": buy(ada, show_id, listings[0]), "bob": buy(bob, show_id, listings[0], 2)}
    assert host.put(f"/shows/{show_id}/pin", json={"listing_id": listings[1]}).status_code == 200
    orders["cy"] = buy(cy, show_id, listings[1])
    assert merchant.post(f"/orders/{orders['bob']}/refund").status_code == 200
    assert host.post(f"/shows/{show_id}/end").status_code == 200
    for s in sockets:
        s.close()
    # No API tells when a worker has closed the sessions of the sockets that went away.
    wait_until(lambda: not ctx_of(server).watching, what="the watch sessions to close")
    yield Scene(world, host, agent, merchant, agency["id"], brand["id"], show_id, listings, orders)
    world.close()


def test_the_report_after_the_show(scene: Scene) -> None:
    r = scene.host.get(f"/shows/{scene.show_id}/report")
    assert r.status_code == 200, r.text
    report = r.json()
    usd = "USD"
    assert report["show"]["status"] == "ended"
    assert report["peak_viewers"] == 4
    assert Decimal(0) < Decimal(report["average_viewers"]) <= 4
    assert report["unique_viewers"] == 4
    assert report["average_watch_seconds"] == report["watch_seconds"] // 4
    # Bob's two lipsticks were refunded: they count as a refund, not as sales.
    assert (report["orders"], report["units"], report["buyers"]) == (2, 2, 2)
    assert report["gmv"] == {"amount": "139.99", "currency": usd}
    assert report["refunded_orders"] == 1
    assert report["refunds"] == {"amount": "39.98", "currency": usd}
    assert report["conversion"] == "50.0"  # Ada and Cy of the four who watched
    assert [
        (i["number"], i["title"], i["requests"], i["orders"], i["units"], i["gmv"]["amount"])
        for i in report["items"]
    ] == [(1, "Ruby lipstick", 2, 1, 1, "19.99"), (2, WIG, 1, 1, 1, "120.00")]
    assert [i["number"] for i in report["top_items"]] == [2, 1]
    pins = [(p["number"], p["orders"], p["units"], p["gmv"]["amount"]) for p in report["pins"]]
    assert pins == [(1, 1, 1, "19.99"), (2, 1, 1, "120.00")]
    # No video was streamed, so there is no replay moment to link to.
    assert all(p["replay_url"] is None for p in report["pins"])
    series = report["series"]
    assert sum(p["orders"] for p in series) == 2
    assert series[-1]["gmv"] == {"amount": "139.99", "currency": usd}
    assert series[-1]["conversion"] == "50.0"
    assert max(p["viewers"] or 0 for p in series) == 4


def test_gmv_agrees_with_the_settlements_to_the_cent(scene: Scene) -> None:
    brand = scene.merchant.get(f"/brands/{scene.brand_id}/dashboard").json()
    settled = scene.merchant.post(f"/brands/{scene.brand_id}/settlements")
    assert settled.status_code == 201, settled.text
    (brand_total,) = brand["totals"]
    (settled_total,) = settled.json()["totals"]
    assert brand_total["gmv"] == settled_total["sales"] == {"amount": "139.99", "currency": "USD"}
    assert brand_total["orders"] == 2 and brand_total["units"] == 2

    agency = scene.agent.get(f"/agencies/{scene.agency_id}/dashboard").json()
    agency_settled = scene.agent.post(f"/agencies/{scene.agency_id}/settlements").json()
    assert agency["totals"][0]["gmv"] == agency_settled["totals"][0]["sales"]

    host = scene.host.get(f"/hosts/{scene.host.id}/dashboard").json()
    host_settled = scene.host.post(f"/hosts/{scene.host.id}/settlements").json()
    assert host["totals"][0]["gmv"] == host_settled["totals"][0]["sales"]
    (row,) = host["shows"]
    assert row["show_id"] == scene.show_id
    assert (row["peak_viewers"], row["unique_viewers"], row["conversion"]) == (4, 4, "50.0")
    assert row["refunds"] == {"amount": "39.98", "currency": "USD"}


def test_the_report_page_and_its_csv_show_the_same_figures(scene: Scene) -> None:
    page = scene.page(scene.host, f"/shows/{scene.show_id}/report")
    assert page.status_code == 200, page.text
    # Untrusted text (titles) stays text, in the tables and in the charts.
    assert "&lt;b&gt;Curly&lt;/b&gt; wig" in page.text and WIG not in page.text
    assert "Lipstick &lt;i&gt;night&lt;/i&gt;" in page.text
    for chart in ("chart-viewers", "chart-orders", "chart-gmv", "chart-conversion"):
        assert f'data-testid="{chart}"' in page.text
    table = Table()
    table.feed(page.text)
    download = scene.page(scene.host, f"/shows/{scene.show_id}/report.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["number"] for row in rows] == ["1", "2"]
    for row in rows:
        cells = table.rows[f"item-{row['number']}"]
        assert cells["item"] == row["item"]
        for column in ("requests", "orders", "units"):
            assert cells[column].strip() == row[column]
        assert amount(cells["gmv"]) == Decimal(row["gmv"])
    assert table.rows["pin-1"]["gmv"].strip() == "$19.99"


def test_a_dashboard_page_and_its_csv_show_the_same_figures(scene: Scene) -> None:
    path = f"/dashboards/agency/{scene.agency_id}"
    page = scene.page(scene.agent, path)
    assert page.status_code == 200, page.text
    for chart in ("chart-gmv", "chart-units", "chart-peak"):
        assert f'data-testid="{chart}"' in page.text
    assert "<i>night</i>" not in page.text
    table = Table()
    table.feed(page.text)
    rows = list(csv.DictReader(io.StringIO(scene.page(scene.agent, f"{path}.csv").text)))
    assert len(rows) == 1
    for row in rows:
        cells = table.rows[f"show-{row['show']}"]
        assert cells["title"] == row["title"]
        for column in ("peak_viewers", "viewers", "orders", "units"):
            assert cells[column].strip() == row[column]
        assert cells["conversion"].strip() == row["conversion_percent"] + "%"
        assert amount(cells["gmv"]) == Decimal(row["gmv"]) == Decimal("139.99")
        assert amount(cells["refunds"]) == Decimal(row["refunds"])
    assert amount(table.rows["total-USD"]["gmv"]) == Decimal("139.99")
    # A period with no show in it, and one given wrong.
    empty = scene.page(scene.agent, f"{path}?from=2000-01-01&to=2000-01-31")
    assert empty.status_code == 200 and 'data-testid="no-shows"' in empty.text
    assert scene.page(scene.agent, f"{path}?from=&to=").status_code == 200  # the empty form
    assert scene.page(scene.agent, f"{path}?from=yesterday").status_code == 422


def test_who_sees_which_figures(scene: Scene) -> None:
    stranger = scene.world.person("Stranger", host=True)
    report = f"/shows/{scene.show_id}/report"
    assert scene.agent.get(report).status_code == 200  # the host's agency
    assert scene.merchant.get(report).status_code == 200  # the brand it was booked for
    r = stranger.get(report)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert scene.world.anonymous.get(report).status_code == 401
    assert scene.agent.get(f"/hosts/{scene.host.id}/dashboard").status_code == 200
    assert stranger.get(f"/hosts/{scene.host.id}/dashboard").status_code == 403
    assert scene.host.get(f"/brands/{scene.brand_id}/dashboard").status_code == 403
    assert scene.page(stranger, f"/dashboards/agency/{scene.agency_id}").status_code == 403
    r = scene.host.get("/shows/999999/report")
    assert r.status_code == 404 and r.json()["error"]["code"] == "show_not_found"
    r = scene.host.get(f"/hosts/{scene.host.id}/dashboard", params={"from": "2026-01-01T00:00"})
    assert r.status_code == 422
    r = scene.host.get(
        f"/hosts/{scene.host.id}/dashboard",
        params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period"
    assert scene.page(scene.host, f"/dashboards/planet/{scene.host.id}").status_code == 422


@pytest.mark.postgres
@pytest.mark.redis
def test_two_workers_take_turns_to_sample_and_each_records_its_own_viewers(
    tmp_path: Path,
) -> None:
    """One sample per interval whichever worker writes it, with the count of both workers'
    viewers; each worker records the watch sessions of its own sockets."""
    from sqlalchemy import select

    from hawker.store.db import sync_engine
    from hawker.store.tables import ViewerSample, WatchSession

    try:
        redis.Redis.from_url(ENV.test_redis_url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        need_service("Redis", str(exc))
    every = 0.3
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        shared = {
            "redis_url": ENV.test_redis_url,
            "redis_namespace": f"analytics-{uuid.uuid4().hex[:8]}",
            "viewers_sample_s": every,
        }
        a = stack.enter_context(live_server(test_settings(url, tmp_path / "a", **shared)))
        b = stack.enter_context(live_server(test_settings(url, tmp_path / "b", **shared)))
        on_a, on_b = World(a), World(b)
        stack.callback(on_a.close)
        stack.callback(on_b.close)
        host = on_a.person("Host", host=True)
        show, _ = on_a.live_show(host, listings=1)
        person = on_a.person("Ann")
        ann, ben = on_a.socket(show["id"], person), on_b.socket(show["id"])
        ann.snapshot()
        ben.snapshot()
        wait_until(
            lambda: host.get(f"/shows/{show['id']}/report").json()["peak_viewers"] == 2,
            what="a sample of both workers' viewers",
        )
        wait_until(
            lambda: host.get(f"/shows/{show['id']}/report").json()["unique_viewers"] == 2,
            what="a watch session on each worker",
        )
        ann.close()
        ben.close()
        engine = sync_engine(url)
        with engine.connect() as conn:
            moments = conn.scalars(
                select(ViewerSample.at)
                .where(ViewerSample.show_id == show["id"])
                .order_by(ViewerSample.at)
            ).all()
            users = conn.scalars(
                select(WatchSession.user_id).where(WatchSession.show_id == show["id"])
            ).all()
        engine.dispose()
    assert len(moments) >= 2
    # One sample per interval, stamped with its start: whole intervals apart, whichever worker
    # wrote each and however late its turn came.
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(moments)]
    assert all(gap / every == pytest.approx(round(gap / every), abs=0.01) for gap in gaps), gaps
    assert min(gaps) >= every * 0.99
    assert len(users) == 2 and set(users) == {person.id, None}
