"""The selling pages over real HTTP: my orders, the brand's orders with cancel and refund,
the viewer's buy sheet and the console's sales panel."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.harness import LiveServer, Person, SignIn, World

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Market St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "US",
}
GOOD_CARD = {"number": "4242424242424242", "expiry": "12/39", "cvc": "123"}
HOSTILE = "Ruby <b>Riot</b>"


def _selling(
    world: World, stock: int = 5
) -> tuple[Person, Person, dict[str, Any], dict[str, Any], int]:
    host, merchant = world.person("Host", host=True), world.person("Merchant")
    brand = merchant.post(
        "/brands", json={"name": f"Glow {uuid.uuid4().hex[:6]}", "currency": "USD"}
    ).json()
    r = merchant.post(
        f"/brands/{brand['id']}/products",
        json={
            "title": HOSTILE,
            "variants": [{"name": "Shade 7", "price": "20.00", "stock": stock}],
        },
    )
    assert r.status_code == 201, r.text
    show = host.post("/shows", json={"title": "Lipstick live"}).json()
    listing = host.post(f"/shows/{show['id']}/shelf", json={"product_id": r.json()["id"]}).json()
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    return host, merchant, show, listing, brand["id"]


def _order(
    world: World, show: dict[str, Any], listing: dict[str, Any], *, pay: bool
) -> tuple[Person, dict[str, Any]]:
    buyer = world.person("Ada")
    assert buyer.put("/me/address", json=ADDRESS).status_code == 200
    r = buyer.post(
        f"/shows/{show['id']}/orders",
        json={"listing_id": listing["id"], "idempotency_key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    if pay:
        assert buyer.post(f"/orders/{order['id']}/pay", json={"card": GOOD_CARD}).status_code == 202
        deadline = time.monotonic() + 10
        while order["status"] != "paid" and time.monotonic() < deadline:
            time.sleep(0.05)
            order = buyer.get(f"/orders/{order['id']}").json()
        assert order["status"] == "paid", order
    return buyer, order


def _in_stock(world: World, show_id: int) -> int:
    return int(world.anonymous.get(f"/shows/{show_id}/shelf").json()[0]["in_stock"])


def test_my_orders_needs_a_sign_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as http:
        r = http.get("/orders")
        assert r.status_code == 303 and r.headers["location"] == "/signin?next=/orders"
        r = http.get("/merchant/brands/1/orders")
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")


def test_my_orders_lists_what_i_bought_with_status_total_and_show(
    world: World, signed_in: SignIn
) -> None:
    _, _, show, listing, _ = _selling(world)
    buyer, order = _order(world, show, listing, pay=True)
    page = signed_in(buyer).get("/orders")
    assert page.status_code == 200
    assert f'data-testid="order-{order["id"]}"' in page.text
    assert "Paid" in page.text and "$20.00" in page.text and "#1" in page.text
    assert f'href="/shows/{show["id"]}"' in page.text and "Lipstick live" in page.text
    # The product title is text, never markup.
    assert "Ruby &lt;b&gt;Riot&lt;/b&gt;" in page.text and "<b>Riot</b>" not in page.text
    # Someone else's orders are not on my page.
    other = signed_in(world.person("Other")).get("/orders")
    assert (
        f'data-testid="order-{order["id"]}"' not in other.text
        and 'data-testid="no-orders"' in other.text
    )


def test_the_brand_cancels_a_pending_order_and_refunds_a_paid_one(
    world: World, signed_in: SignIn
) -> None:
    _, merchant, show, listing, brand_id = _selling(world, stock=2)
    _, pending = _order(world, show, listing, pay=False)
    buyer, paid = _order(world, show, listing, pay=True)
    assert _in_stock(world, show["id"]) == 0
    b = signed_in(merchant)
    path = f"/merchant/brands/{brand_id}/orders"
    page = b.get(path)
    assert page.status_code == 200
    assert f'data-testid="cancel-{pending["id"]}"' in page.text
    assert f'data-testid="refund-{pending["id"]}"' not in page.text  # nothing was paid
    assert f'data-testid="refund-{paid["id"]}"' in page.text
    assert "Ada Buyer" in page.text and "Ruby &lt;b&gt;Riot&lt;/b&gt;" in page.text
    csrf = b.csrf(path)

    r = b.post(f"{path}/{pending['id']}/cancel", {"csrf_token": "wrong"})
    assert r.status_code == 403
    assert merchant.get(f"/orders/{pending['id']}").json()["status"] == "pending"
    r = b.post(f"{path}/{pending['id']}/cancel", {"csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == f"{path}?done=cancelled"
    r = b.post(f"{path}/{paid['id']}/refund", {"csrf_token": csrf})
    assert r.status_code == 303
    page = b.get(r.headers["location"])
    assert "Order refunded" in page.text
    assert merchant.get(f"/orders/{pending['id']}").json()["status"] == "cancelled"
    assert merchant.get(f"/orders/{paid['id']}").json()["status"] == "refunded"
    assert _in_stock(world, show["id"]) == 2
    # A refunded order cannot be refunded twice: the page says why.
    r = b.post(f"{path}/{paid['id']}/refund", {"csrf_token": csrf})
    assert r.status_code == 409 and 'data-testid="error"' in r.text
    # The buyer sees it on their page too.
    assert "Refunded" in signed_in(buyer).get("/orders").text


def test_only_the_brand_sees_its_orders(world: World, signed_in: SignIn) -> None:
    _, _, show, listing, brand_id = _selling(world)
    _, order = _order(world, show, listing, pay=False)
    stranger = signed_in(world.person("Stranger"))
    assert stranger.get(f"/merchant/brands/{brand_id}/orders").status_code == 403
    r = stranger.post(
        f"/merchant/brands/{brand_id}/orders/{order['id']}/cancel",
        {"csrf_token": stranger.csrf("/orders")},
    )
    assert r.status_code == 403
    assert world.anonymous.get(f"/shows/{show['id']}/shelf").json()[0]["in_stock"] == 4


def test_the_console_shows_sales_figures_and_the_viewer_page_has_the_buy_sheet(
    world: World,
    signed_in: SignIn,
) -> None:
    host, _, show, listing, _ = _selling(world)
    _order(world, show, listing, pay=True)
    page = signed_in(host).get(f"/shows/{show['id']}/console")
    assert page.status_code == 200
    assert 'data-testid="figure-units">1<' in page.text
    assert 'data-testid="figure-gmv">$20.00<' in page.text
    assert 'data-testid="deal-form"' in page.text and 'data-testid="coupon-form"' in page.text
    viewer = world.anonymous.get(f"{world.server.base_url}/shows/{show['id']}")
    assert 'data-testid="buy-sheet"' in viewer.text and 'data-signed-in="false"' in viewer.text
