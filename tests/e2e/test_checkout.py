"""Buying in the stream in a real browser: a viewer buys the pinned item with a sandbox card
and sees it confirmed while another viewer watches "N left" drop; then a flash deal, a
declined card, and the unit back on sale for everyone.

Each test runs on the embedded defaults and on PostgreSQL + Redis with two workers; there the
two people in a test are on different workers, so that what one does reaches the other only
through Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import PHONE, Site, open_page, sign_in
from tests.harness import Person, World

pytestmark = pytest.mark.browser

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "1 Market St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "us",
}


def _page(browser: Any, **options: Any) -> tuple[Any, Any, list[str]]:
    return open_page(browser, viewport=PHONE, is_mobile=True, has_touch=True, **options)


def _show_selling(world: World, host: Person, stock: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A show on air whose only item, #1 Ruby Riot lipstick, is pinned with `stock` units."""
    merchant = world.person("Merchant")
    brand = merchant.post(
        "/brands", json={"name": f"Glow {uuid.uuid4().hex[:6]}", "currency": "USD"}
    ).json()
    r = merchant.post(
        f"/brands/{brand['id']}/products",
        json={
            "title": "Ruby Riot lipstick",
            "variants": [{"name": "Shade 7", "price": "20.00", "stock": stock}],
        },
    )
    assert r.status_code == 201, r.text
    show = host.post("/shows", json={"title": "Lipstick live"}).json()
    listing = host.post(f"/shows/{show['id']}/shelf", json={"product_id": r.json()["id"]}).json()
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    assert (
        host.put(f"/shows/{show['id']}/pin", json={"listing_id": listing["id"]}).status_code == 200
    )
    return show, listing


def _pay(page: Any, number: str) -> None:
    page.fill('[data-testid="card-number"]', number)
    page.fill('[data-testid="card-expiry"]', "12/39")
    page.fill('[data-testid="card-cvc"]', "123")
    page.click('[data-testid="pay-go"]')


def test_buy_the_pinned_item_then_a_declined_card_on_a_flash_deal(browser: Any, site: Site) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    world = site.world
    host = world.person("Host", host=True)
    show, listing = _show_selling(world, host, stock=3)
    ada = world.person("Ada")
    base, other = site.urls
    path = f"/shows/{show['id']}"

    a_ctx, a, a_errors = _page(browser)
    b_ctx, b, b_errors = _page(browser)
    try:
        sign_in(a, base, ada, path)
        b.goto(other + path)
        expect(b.locator('[data-testid="pinned-left"]')).to_have_text("3 left")

        # One tap on "Buy now": the sheet asks for the address once, then the item is ready.
        a.click('[data-testid="pinned-buy"]')
        sheet = a.locator('[data-testid="buy-sheet"]')
        expect(sheet).to_contain_text("Where should we send it?")
        for name, value in ADDRESS.items():
            a.fill(f'#address-form [name="{name}"]', value)
        a.click('[data-testid="address-save"]')
        expect(a.locator('[data-testid="ship-line"]')).to_contain_text("1 Market St, Austin")
        expect(a.locator('[data-testid="buy-total"]')).to_have_text("$20.00")
        # The second tap buys: the unit is held and every viewer sees one fewer.
        a.click('[data-testid="buy-go"]')
        expect(a.locator('[data-testid="hold"]')).to_contain_text("pay within")
        expect(b.locator('[data-testid="pinned-left"]')).to_have_text("2 left")
        _pay(a, "4242 4242 4242 4242")
        expect(a.locator('[data-testid="toast"]')).to_contain_text("Paid! #1 Ruby Riot lipstick")
        expect(a.locator('[data-testid="done-title"]')).to_contain_text("is yours")
        expect(a.locator('[data-testid="my-orders"]')).to_be_visible()
        a.click("#done-close")
        expect(b.locator('[data-testid="pinned-left"]')).to_have_text("2 left")

        # A flash deal on the same item: both viewers see its card with the units left.
        r = host.post(
            f"/shows/{show['id']}/deals",
            json={
                "listing_id": listing["id"],
                "price": "9.90",
                "quantity": 2,
                "per_buyer_limit": 1,
                "duration_seconds": 600,
            },
        )
        assert r.status_code == 201, r.text
        for page in (a, b):
            deal = page.locator('[data-testid="deal"]')
            expect(deal).to_be_visible()
            expect(deal).to_contain_text("$9.90")
            expect(page.locator('[data-testid="deal-left"]')).to_have_text("2 left")

        # Ada buys from the deal card; the address is not asked again.
        a.click('[data-testid="deal-buy"]')
        expect(a.locator('[data-testid="buy-price"]')).to_have_text("$9.90")
        expect(a.locator('[data-testid="buy-total"]')).to_have_text("$9.90")
        a.click('[data-testid="buy-go"]')
        expect(a.locator('[data-testid="hold"]')).to_be_visible()
        expect(b.locator('[data-testid="deal-left"]')).to_have_text("1 left")
        _pay(a, "4000 0000 0000 9995")
        expect(sheet).to_contain_text("Your card was declined")
        expect(sheet).to_contain_text("insufficient funds")
        expect(sheet).to_contain_text("The item went back on sale")
        # The held unit is back in the deal for everyone.
        expect(b.locator('[data-testid="deal-left"]')).to_have_text("2 left")
        expect(a.locator('[data-testid="deal-left"]')).to_have_text("2 left")

        a.goto(f"{base}/orders")
        orders = a.locator('[data-testid="orders"]')
        expect(orders).to_contain_text("Ruby Riot lipstick")
        expect(orders.locator('[data-testid="order-status"]')).to_have_text(["Cancelled", "Paid"])
        assert a_errors == []
        assert b_errors == []
    finally:
        a_ctx.close()
        b_ctx.close()


def test_host_drops_a_coupon_runs_a_deal_and_sees_the_sale_in_the_figures(
    browser: Any, site: Site
) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    world = site.world
    host = world.person("Host", host=True)
    show, listing = _show_selling(world, host, stock=5)
    ada = world.person("Ada")
    assert ada.put("/me/address", json={**ADDRESS, "country": "US"}).status_code == 200
    base, console_base = site.urls
    path = f"/shows/{show['id']}"

    h_ctx, console, h_errors = open_page(browser, viewport={"width": 1280, "height": 860})
    a_ctx, a, a_errors = _page(browser)
    try:
        sign_in(console, console_base, host, f"{path}/console")
        sign_in(a, base, ada, path)
        expect(console.locator('[data-testid="figure-units"]')).to_have_text("0")

        # A coupon for the first 10 viewers, dropped into the stream and claimed.
        console.fill('[data-testid="coupon-code"]', "first5")
        console.fill('[data-testid="coupon-value"]', "5.00")
        console.select_option('[data-testid="coupon-kind"]', "amount")
        console.fill('[data-testid="coupon-claims"]', "10")
        console.click('[data-testid="coupon-create"]')
        coupons = console.locator('[data-testid="coupons"]')
        expect(coupons).to_contain_text("FIRST5")
        coupons.get_by_role("button", name="Drop").click()
        card = a.locator('[data-testid^="coupon-"]', has_text="FIRST5")
        expect(card).to_contain_text("$5.00 off")
        expect(card).to_contain_text("10 left")
        card.get_by_role("button", name="Claim").click()
        expect(card).to_contain_text("Yours")
        expect(coupons).to_contain_text("9 / 10 left")

        # The claimed coupon is applied; a price change on the way is told, not charged.
        a.click('[data-testid="pinned-buy"]')
        expect(a.locator('[data-testid="buy-total"]')).to_have_text("$15.00")
        r = host.patch(f"/shows/{show['id']}/shelf/{listing['id']}", json={"price": "25.00"})
        assert r.status_code == 200, r.text
        a.click('[data-testid="buy-go"]')
        expect(a.locator('[data-testid="buy-alert"]')).to_contain_text("now $20.00")
        expect(a.locator('[data-testid="hold"]')).to_be_hidden()

        # The order is made but its answer is lost on the way back: tapping again gets the
        # same order, not a second one.
        lost: list[str] = []

        def lose_answer(route: Any) -> None:
            if lost:
                route.continue_()
                return
            route.fetch()
            lost.append(route.request.url)
            route.abort("connectionfailed")

        orders_url = f"{base}/api/v1/shows/{show['id']}/orders"
        a.route(orders_url, lose_answer)
        a.click('[data-testid="buy-go"]')
        alert = a.locator('[data-testid="buy-alert"]')
        expect(alert).to_contain_text("you will not get two orders")
        a.click('[data-testid="buy-go"]')
        expect(a.locator('[data-testid="hold"]')).to_be_visible()
        a.unroute(orders_url)
        assert len(lost) == 1
        _pay(a, "4242 4242 4242 4242")
        expect(a.locator('[data-testid="done-title"]')).to_contain_text("Paid!")
        expect(console.locator('[data-testid="figure-units"]')).to_have_text("1")
        expect(console.locator('[data-testid="figure-gmv"]')).to_have_text("$20.00")
        assert len(ada.get("/me/orders").json()) == 1

        # A flash deal from the console form, seen by the viewer, ended by the host.
        console.click('[data-testid="deal-1"]')
        console.fill('[data-testid="deal-price"]', "9.90")
        console.fill('[data-testid="deal-quantity"]', "2")
        console.click('[data-testid="deal-start"]')
        deals = console.locator('[data-testid="deals"]')
        expect(deals).to_contain_text("2 / 2 left")
        expect(a.locator('[data-testid="deal-left"]')).to_have_text("2 left")
        expect(a.locator('[data-testid="deal"]')).to_contain_text("$9.90")
        deals.get_by_role("button", name="End").click()
        expect(a.locator('[data-testid="deal-left"]')).to_have_text("Ended")
        assert a_errors == []
        assert h_errors == []
    finally:
        h_ctx.close()
        a_ctx.close()
