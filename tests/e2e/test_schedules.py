"""Schedules in a real browser: two consoles of one show (the host's and its agency
producer's) follow the run of show as it is changed on air, and applying a segment pins its
item and starts its deal on a viewer's phone; a calendar page shows an agency its hosts'
shows; a viewer who follows a host from the show page finds the notification when the host
goes live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import PHONE, open_page, sign_in
from tests.harness import World
from tests.integration.test_business import agency_with_host

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def test_consoles_follow_the_run_of_show_and_apply_it(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    agent, _, host = agency_with_host(world)
    merchant = world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=2, variants=1)
    show = host.post("/shows", json={"title": "Singles' Day marathon"}).json()
    listings = [
        host.post(f"/shows/{show['id']}/shelf", json={"product_id": p["id"]}).json()
        for p in products
    ]
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    base, path = world.server.base_url, f"/shows/{show['id']}"

    host_ctx, desk, desk_errors = open_page(browser, viewport={"width": 1280, "height": 900})
    agent_ctx, producer, producer_errors = open_page(
        browser, viewport={"width": 1280, "height": 900}
    )
    phone_ctx, phone, phone_errors = open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True
    )
    try:
        sign_in(desk, base, host, f"{path}/console")
        sign_in(producer, base, agent, f"{path}/console")
        phone.goto(f"{base}{path}")
        expect(desk.locator('[data-testid="run"]')).to_contain_text("No segments yet")

        # The host plans the opening from the console: pin #1 from the start.
        desk.fill('[data-testid="run-title"]', "Opening")
        desk.fill('[data-testid="run-minutes"]', "0")
        desk.select_option('[data-testid="run-listing"]', str(listings[0]["id"]))
        desk.click('[data-testid="run-add"]')
        for page in (desk, producer):
            expect(page.locator('[data-testid="run-now"]')).to_have_text("Opening")
            expect(page.locator('[data-testid="run-next"]')).to_have_text("–")

        # The producer adds a flash deal ten minutes in: both consoles see it next.
        r = agent.post(
            f"{path}/run",
            json={
                "title": HOSTILE,
                "offset_seconds": 600,
                "listing_id": listings[1]["id"],
                "pin": True,
                "deal": {"price": "5.00", "quantity": 7, "duration_seconds": 600},
            },
        )
        assert r.status_code == 201, r.text
        flash = r.json()["segments"][-1]
        for page in (desk, producer):
            expect(page.locator('[data-testid="run-next"]')).to_have_text(HOSTILE)
            expect(page.locator('[data-testid="run-next-in"]')).to_contain_text("in ")
            segment = page.locator(f'[data-testid="run-segment-{flash["id"]}"]')
            expect(segment).to_contain_text("deal $5.00 × 7")

        # Running ahead of plan, the producer brings it forward from the console, five
        # minutes at a time; at the start it is on now, in both consoles.
        moved = producer.locator(f'[data-testid="run-segment-{flash["id"]}"] .cx-run-time')
        expect(moved).to_have_text("+10:00")
        for label in ("+5:00", "+0:00"):
            producer.click(f'[data-testid="run-earlier-{flash["id"]}"]')
            expect(moved).to_have_text(label)
        for page in (desk, producer):
            expect(page.locator('[data-testid="run-now"]')).to_have_text(HOSTILE)
            expect(page.locator(f'[data-testid="run-segment-{flash["id"]}"]')).to_have_class("now")

        # The host applies it: the viewer sees #2 pinned and the deal start.
        desk.click(f'[data-testid="run-apply-{flash["id"]}"]')
        expect(desk.locator('[data-testid="run-message"]')).to_contain_text("Applied")
        expect(phone.locator('[data-testid="pinned"]')).to_be_visible()
        expect(phone.locator('[data-testid="pinned"]')).to_contain_text("Product 2")
        expect(phone.locator('[data-testid="deal"]')).to_be_visible()
        expect(phone.locator('[data-testid="deal"]')).to_contain_text("$5.00")
        for page in (desk, producer):
            expect(page.locator(f'[data-testid="run-segment-{flash["id"]}"]')).to_contain_text(
                "✓ applied"
            )
        # Applied twice, the deal is refused, with the reason shown.
        desk.click(f'[data-testid="run-apply-{flash["id"]}"]')
        expect(desk.locator('[data-testid="run-message"]')).to_contain_text("already has a deal")

        # The producer takes the opening off the run: gone from the host's console too.
        opening = desk.locator('[data-testid="run"] li', has_text="Opening")
        expect(opening).to_have_count(1)
        producer.locator('[data-testid="run"] li', has_text="Opening").locator(
            '[data-testid^="run-remove-"]'
        ).click()
        expect(opening).to_have_count(0)

        # With "apply each segment when its time comes" on, the host's console carries
        # out a segment the producer brings forward to now: #1 is pinned again.
        desk.check('[data-testid="run-auto"]')
        r = agent.post(
            f"{path}/run",
            json={
                "title": "Back to #1",
                "offset_seconds": 1200,
                "listing_id": listings[0]["id"],
                "pin": True,
            },
        )
        assert r.status_code == 201, r.text
        back = r.json()["segments"][-1]
        expect(desk.locator('[data-testid="run-next"]')).to_have_text("Back to #1")
        assert agent.patch(f"{path}/run/{back['id']}", json={"offset_seconds": 0}).is_success
        expect(desk.locator('[data-testid="run-now"]')).to_have_text("Back to #1")
        expect(phone.locator('[data-testid="pinned"]')).to_contain_text("Product 1")
        expect(producer.locator(f'[data-testid="run-segment-{back["id"]}"]')).to_contain_text(
            "✓ applied"
        )
        assert desk.evaluate("typeof window.__pwned") == "undefined"
        assert desk_errors == [] and producer_errors == [] and phone_errors == []
    finally:
        host_ctx.close()
        agent_ctx.close()
        phone_ctx.close()


def test_calendar_page_and_a_followers_notification(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    agent, agency, host = agency_with_host(world)
    viewer = world.person("Viewer")
    soon = datetime.now(UTC) + timedelta(hours=1)
    show = host.post(
        "/shows", json={"title": f"Live at {HOSTILE}", "scheduled_at": soon.isoformat()}
    ).json()
    base = world.server.base_url

    agent_ctx, desk, desk_errors = open_page(browser, viewport={"width": 1280, "height": 900})
    phone_ctx, phone, phone_errors = open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True
    )
    try:
        sign_in(desk, base, agent, "/calendar")
        desk.click(f'[data-testid="calendar-link-agency-{agency["id"]}"]')
        entry = desk.locator(f'[data-testid="calendar-show-{show["id"]}"]')
        expect(entry).to_contain_text(f"Live at {HOSTILE}")
        expect(entry).to_contain_text(host.display_name)
        expect(entry).to_contain_text("Scheduled")
        expect(desk.locator(f'[data-testid="day-{soon.date().isoformat()}"]')).to_contain_text(
            f"Live at {HOSTILE}"
        )

        # A viewer follows the host from the show page, before it starts.
        sign_in(phone, base, viewer, f"/shows/{show['id']}")
        follow = phone.locator('[data-testid="follow"]')
        expect(follow).to_have_text("Follow")
        follow.click()
        expect(follow).to_have_text("Following")
        expect(phone.locator('[data-testid="notifications-badge"]')).to_be_hidden()

        assert host.post(f"/shows/{show['id']}/live").status_code == 200
        phone.goto(f"{base}/")
        expect(phone.locator('[data-testid="notifications-badge"]')).to_have_text("1")
        phone.click('[data-testid="notifications-link"]')
        notes = phone.locator('[data-testid="notifications"] li')
        expect(notes).to_have_count(1)
        expect(notes.first).to_contain_text(f"{host.display_name} is live: Live at {HOSTILE}")
        phone.click('[data-testid="notifications-read-all"]')
        expect(phone.locator('[data-testid="notifications-badge"]')).to_be_hidden()
        assert phone.evaluate("typeof window.__pwned") == "undefined"
        assert desk_errors == [] and phone_errors == []
    finally:
        agent_ctx.close()
        phone_ctx.close()
