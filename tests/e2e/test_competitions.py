"""Competitions and battles in a real browser: a leaderboard page that moves with the sales
and shows its winner when the competition ends, without a reload; and a battle seen from a
viewer's phone and from the other host's console, which calls time on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import PHONE, Site, open_page, sign_in
from tests.harness import World
from tests.integration.test_checkout import buyer
from tests.integration.test_competitions import sell

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def _show_on_air(world: World, host: Any, product_id: int) -> tuple[int, int, int]:
    show = host.post("/shows", json={"title": f"{host.display_name} live"}).json()
    listing = host.post(f"/shows/{show['id']}/shelf", json={"product_id": product_id}).json()
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    return show["id"], listing["id"], listing["variants"][0]["id"]


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def test_the_leaderboard_moves_with_sales_and_shows_the_winner(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    admin = world.person("Admin", admin=True)
    ada, eve = world.person("Ada", host=True), world.person(HOSTILE, host=True)
    merchant = world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=1)
    a = _show_on_air(world, ada, products[0]["id"])
    e = _show_on_air(world, eve, products[0]["id"])
    sell(world, buyer(world), a, 1)
    now = datetime.now(UTC)
    r = admin.post(
        "/competitions",
        json={
            "title": "Spring <b>sprint</b>",
            "entrant_kind": "host",
            "entrant_ids": [ada.id, eve.id],
            "metric": "units",
            "currency": "USD",
            "starts_at": _iso(now - timedelta(minutes=5)),
            # Long enough to watch it move, short enough to see it end.
            "ends_at": _iso(now + timedelta(seconds=12)),
        },
    )
    assert r.status_code == 201, r.text
    competition = r.json()

    context, page, errors = open_page(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page.goto(f"{world.server.base_url}/competitions/{competition['id']}")
        expect(page.locator('[data-testid="competition-title"]')).to_have_text(
            "Spring <b>sprint</b>"
        )
        expect(page.locator('[data-testid="competition-status"]')).to_have_text("Live")
        expect(page.locator('[data-testid="competition-clock"]')).to_contain_text("ends in")
        rows = page.locator('[data-testid="standings"] tbody tr')
        expect(rows.nth(0)).to_have_attribute("data-testid", f"standing-{ada.id}")
        expect(rows.nth(0).locator('[data-col="units"]')).to_have_text("1")

        # Eve sells two units: the page moves her to the top by itself.
        sell(world, buyer(world), e, 2)
        expect(rows.nth(0)).to_have_attribute("data-testid", f"standing-{eve.id}", timeout=10_000)
        top = page.locator(f'[data-testid="standing-{eve.id}"]')
        expect(top.locator('[data-col="units"]')).to_have_text("2")
        expect(top.locator('[data-col="gmv"]')).to_have_text("$21.80")
        expect(top.locator('[data-col="name"]')).to_have_text(eve.display_name)
        expect(top.locator('[data-col="rank"]')).to_have_text("1")

        # The window closes: the winner is fixed and shown, still without a reload.
        expect(page.locator('[data-testid="competition-status"]')).to_have_text(
            "Final", timeout=30_000
        )
        winners = page.locator('[data-testid="winners"]')
        expect(winners).to_be_visible()
        expect(winners).to_contain_text(f"Winner: {eve.display_name}")
        assert page.locator("img, b").count() == 0  # names and titles stayed text
        assert page.evaluate("typeof window.__pwned") == "undefined"

        page.goto(f"{world.server.base_url}/competitions")
        listed = page.locator(f'[data-testid="competition-{competition["id"]}"]')
        expect(listed).to_contain_text("Spring <b>sprint</b>")
        expect(listed).to_contain_text("Final")
        assert errors == []
    finally:
        context.close()


def test_a_battle_on_a_viewers_phone_and_in_the_other_hosts_console(
    browser: Any, site: Site
) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    world = site.world
    ada, bea = world.person("Ada", host=True), world.person("Bea", host=True)
    merchant = world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=1)
    a = _show_on_air(world, ada, products[0]["id"])
    b = _show_on_air(world, bea, products[0]["id"])
    first, second = site.urls

    phone_ctx, phone, phone_errors = open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True
    )
    desk_ctx, desk, desk_errors = open_page(browser, viewport={"width": 1280, "height": 900})
    try:
        phone.goto(f"{first}/shows/{a[0]}")
        sign_in(desk, second, bea, f"/shows/{b[0]}/console")
        expect(phone.locator('[data-testid="status"]')).to_have_text("Live")
        expect(phone.locator('[data-testid="battle"]')).to_be_hidden()

        # Bea challenges Ada from her console.
        desk.locator('[data-testid="battle-opponent"]').focus()
        desk.select_option('[data-testid="battle-opponent"]', str(a[0]))
        desk.click('[data-testid="battle-start"]')
        for page in (phone, desk):
            card = page.locator('[data-testid="battle"]')
            expect(card).to_be_visible()
            expect(page.locator(f'[data-testid="battle-units-{a[0]}"]')).to_have_text("0")
            expect(page.locator(f'[data-testid="battle-units-{b[0]}"]')).to_have_text("0")
            expect(page.locator('[data-testid="battle-clock"]')).to_contain_text("4:")
        expect(phone.locator('[data-testid="battle"]')).to_contain_text("Bea")

        sell(world, buyer(world), a, 3)
        sell(world, buyer(world), b, 1)
        for page in (phone, desk):
            expect(page.locator(f'[data-testid="battle-units-{a[0]}"]')).to_have_text("3")
            expect(page.locator(f'[data-testid="battle-units-{b[0]}"]')).to_have_text("1")

        # Bea calls time: both see the result.
        desk.click('[data-testid="battle-end"]')
        for page in (phone, desk):
            result = page.locator('[data-testid="battle-result"]')
            expect(result).to_be_visible()
            expect(result).to_have_text(f"{ada.display_name} wins, 3–1")
            expect(page.locator('[data-testid="battle-clock"]')).to_have_text("Final")
        expect(desk.locator('[data-testid="battle-end"]')).to_be_hidden()
        # A reload shows the result from the snapshot.
        phone.reload()
        expect(phone.locator('[data-testid="battle-result"]')).to_have_text(
            f"{ada.display_name} wins, 3–1"
        )
        assert phone_errors == [] and desk_errors == []
    finally:
        phone_ctx.close()
        desk_ctx.close()
