"""A show's figures in a real browser: the host's console charts the show while it is on
air, and after it ends the host's report page shows the figures, its charts (drawn on the
server as SVG) and what each pin sold; a hostile item title stays text."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import open_page, sign_in
from tests.harness import LiveServer, World, database, free_port, live_server, test_settings
from tests.integration.test_analytics import buy
from tests.integration.test_checkout import buyer
from tests.integration.test_video import publish, rtmp_url, wait_until

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The embedded server with video ingest, sampling the viewer count five times a second."""
    tmp: Path = tmp_path_factory.mktemp("hawker-e2e-analytics")
    settings = dict(viewers_sample_s=0.2, rtmp_port=free_port())
    with database("sqlite", tmp) as url, live_server(test_settings(url, tmp, **settings)) as live:
        yield live


def test_the_host_sees_the_show_charted_live_and_reported_after(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    host, merchant = world.person("Host", host=True), world.person("Merchant")
    brand = merchant.post("/brands", json={"name": "Glow"}).json()
    products = []
    for title, price in (("Ruby lipstick", "19.99"), (HOSTILE, "5.00")):
        r = merchant.post(
            f"/brands/{brand['id']}/products",
            json={"title": title, "variants": [{"name": "One", "price": price, "stock": 20}]},
        )
        assert r.status_code == 201, r.text
        products.append(r.json()["id"])
    show = host.post("/shows", json={"title": "Glow <b>up</b>"}).json()
    listings = [
        host.post(f"/shows/{show['id']}/shelf", json={"product_id": pid}).json()["id"]
        for pid in products
    ]
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    base = world.server.base_url

    ada, bob = buyer(world, "Ada"), buyer(world, "Bob")
    sockets = [world.socket(show["id"], who) for who in (ada, bob)]
    for s in sockets:
        s.snapshot()
    wait_until(
        lambda: host.get(f"/shows/{show['id']}/report").json()["peak_viewers"] >= 2,
        what="a sample of the two viewers",
    )
    assert ada.post(f"/shows/{show['id']}/chat", json={"body": "#1 please"}).status_code == 201
    assert host.put(f"/shows/{show['id']}/pin", json={"listing_id": listings[0]}).status_code == 200
    buy(ada, show["id"], listings[0], 2)
    buy(bob, show["id"], listings[1])

    context, page, errors = open_page(browser, viewport={"width": 1280, "height": 900})
    try:
        # On air: the console charts the show so far.
        sign_in(page, base, host, f"/shows/{show['id']}/console")
        live = page.get_by_test_id("live-charts")
        for chart in ("chart-viewers", "chart-orders", "chart-gmv", "chart-conversion"):
            expect(live.get_by_test_id(chart).locator("svg")).to_be_visible()
        expect(live.get_by_test_id("chart-gmv").locator("circle").last).to_have_attribute(
            "data-value", "$44.98"
        )

        assert host.post(f"/shows/{show['id']}/end").status_code == 200
        for s in sockets:
            s.close()

        # After the show: the report.
        page.goto(f"{base}/shows/{show['id']}/report")
        expect(page.get_by_test_id("report-title")).to_have_text("Glow <b>up</b>")
        expect(page.get_by_test_id("figure-gmv")).to_contain_text("$44.98")
        expect(page.get_by_test_id("figure-units")).to_contain_text("3")
        report = host.get(f"/shows/{show['id']}/report").json()
        assert report["peak_viewers"] == 2  # the buyers: the host's console is not the audience
        expect(page.get_by_test_id("figure-peak").locator("b")).to_have_text(
            str(report["peak_viewers"])
        )
        expect(page.get_by_test_id("figure-conversion")).to_contain_text("100.0%")
        charts = page.get_by_test_id("report-charts")
        for chart in ("chart-viewers", "chart-orders", "chart-gmv", "chart-conversion"):
            svg = charts.get_by_test_id(chart).locator("svg")
            expect(svg).to_be_visible()
            assert svg.bounding_box()["width"] > 200
        expect(charts.get_by_test_id("chart-gmv").locator("circle").last).to_have_attribute(
            "data-value", "$44.98"
        )
        expect(charts.get_by_test_id("chart-viewers").locator("polyline")).not_to_have_count(0)
        top = page.get_by_test_id("top-item")
        expect(top).to_have_count(2)
        expect(top.first).to_have_attribute("data-number", "1")
        item = page.get_by_test_id("item-2")
        expect(item.locator("[data-col=item]")).to_have_text(HOSTILE)
        expect(page.get_by_test_id("item-1").locator("[data-col=requests]")).to_have_text("1")
        pin = page.get_by_test_id("pin-1")
        expect(pin.locator("[data-col=item]")).to_have_text("#1 Ruby lipstick")
        expect(pin.locator("[data-col=gmv]")).to_have_text("$39.98")
        assert page.evaluate("window.__pwned") is None
        assert errors == []
    finally:
        context.close()


@pytest.mark.video
def test_a_pin_in_the_report_links_to_its_moment_in_the_replay(browser: Any, world: World) -> None:
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    key = host.get(f"/shows/{sid}/stream-key").json()["stream_key"]
    encoder = publish(rtmp_url(world.server, key), 60)
    try:

        def recorded() -> float:
            return float(host.get(f"/shows/{sid}/stream").json().get("recorded_s") or 0)

        wait_until(lambda: recorded() >= 6, timeout=40, what="six seconds recorded")
        assert host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]}).status_code == 200
        buy(buyer(world), sid, shelf[1]["id"], variant_id=shelf[1]["variants"][0]["id"])
        start = recorded()
        wait_until(lambda: recorded() >= start + 3, timeout=30, what="three more seconds")
        assert host.post(f"/shows/{sid}/end").status_code == 200
    finally:
        encoder.terminate()
        try:
            encoder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            encoder.kill()
            encoder.wait()
    (pin,) = wait_until(
        lambda: [p for p in host.get(f"/shows/{sid}/report").json()["pins"] if p["replay_url"]],
        timeout=30,
        what="the replay second of the pin",
    )
    second = int(pin["replay_offset_s"])
    assert second >= 5 and pin["replay_url"] == f"/shows/{sid}?t={second}"

    context, page, _ = open_page(browser, viewport={"width": 1280, "height": 900})
    try:
        sign_in(page, world.server.base_url, host, f"/shows/{sid}/report")
        row = page.get_by_test_id("pin-1")
        expect = pytest.importorskip("playwright.sync_api").expect
        expect(row.locator("[data-col=units]")).to_have_text("1")
        row.get_by_test_id("pin-replay").click()
        page.wait_for_url(f"**/shows/{sid}?t={second}")
        page.wait_for_function(
            f"() => document.getElementById('player').currentTime >= {second + 0.5}",
            timeout=30_000,
        )
        # It started there: nothing before the linked second was played.
        played = page.evaluate(
            """() => { const p = document.getElementById('player').played, out = [];
                       for (let i = 0; i < p.length; i++) out.push([p.start(i), p.end(i)]);
                       return out; }"""
        )
        assert all(end <= 0.5 or begin >= second - 0.5 for begin, end in played), played
    finally:
        context.close()
