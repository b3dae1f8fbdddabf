"""Buying inside the stream, through the real API, socket and sandbox payments."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.harness import Person, World

ADDRESS = {
    "name": "Ada Buyer",
    "line1": "1 Market St",
    "city": "Austin",
    "postal_code": "78701",
    "country": "US",
}
GOOD_CARD = {"number": "4242 4242 4242 4242", "expiry": "12/39", "cvc": "123"}
NO_FUNDS = {"number": "4000 0000 0000 9995", "expiry": "12/39", "cvc": "123"}


def key() -> str:
    return uuid.uuid4().hex


def buyer(world: World, name: str = "Buyer") -> Person:
    person = world.person(name)
    assert person.put("/me/address", json=ADDRESS).status_code == 200
    return person


def product_with_stock(
    world: World, merchant: Person, stock: int, price: str = "20.00"
) -> dict[str, Any]:
    r = merchant.post("/brands", json={"name": f"Brand {uuid.uuid4().hex[:8]}", "currency": "USD"})
    brand = r.json()
    r = merchant.post(
        f"/brands/{brand['id']}/products",
        json={
            "title": "Ruby lipstick",
            "variants": [{"name": "#7 Ruby", "price": price, "stock": stock}],
        },
    )
    assert r.status_code == 201, r.text
    return {**r.json(), "brand_id": brand["id"]}


def show_selling(
    world: World, stock: int, price: str = "20.00"
) -> tuple[Person, Person, dict[str, Any], dict[str, Any]]:
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    product = product_with_stock(world, merchant, stock, price)
    show = host.post("/shows", json={"title": "Lipstick live"}).json()
    listing = host.post(f"/shows/{show['id']}/shelf", json={"product_id": product["id"]}).json()
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    return host, merchant, show, listing


def wait_order(person: Person, order_id: int, status: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        order = person.get(f"/orders/{order_id}").json()
        if order["status"] == status or time.monotonic() > deadline:
            assert order["status"] == status, order
            return order
        time.sleep(0.05)


def in_stock(world: World, show_id: int) -> int:
    return int(world.anonymous.get(f"/shows/{show_id}/shelf").json()[0]["in_stock"])


def test_buy_pay_and_see_it_confirmed_in_the_stream(world: World) -> None:
    _, _, show, listing = show_selling(world, stock=5)
    ada = buyer(world, "Ada")
    with world.socket(show["id"], ada) as room:
        room.snapshot()
        k = key()
        r = ada.post(
            f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": k}
        )
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["status"] == "pending" and order["total"] == {
            "amount": "20.00",
            "currency": "USD",
        }
        # The same key again: the same order, not a second one.
        again = ada.post(
            f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": k}
        )
        assert again.status_code == 200 and again.json()["id"] == order["id"]
        # Held units leave the counter at once, for every viewer.
        room.wait_for("stock.left", lambda e: e["data"]["left"] == 4)
        r = ada.post(f"/orders/{order['id']}/pay", json={"card": GOOD_CARD})
        assert r.status_code == 202, r.text
        confirmed = room.wait_for(
            "order.updated", lambda e: e["data"]["order"]["status"] == "paid", timeout=10
        )
        assert confirmed["data"]["order"]["id"] == order["id"]
        ticker = room.wait_for("sales.ticker", timeout=5)
        assert ticker["data"]["text"].startswith("A.") and "bought #1" in ticker["data"]["text"]
    assert [o["id"] for o in ada.get("/me/orders").json()] == [order["id"]]
    assert in_stock(world, show["id"]) == 4


def test_a_declined_card_is_told_and_the_stock_comes_back(world: World) -> None:
    _, _, show, listing = show_selling(world, stock=1)
    bob = buyer(world, "Bob")
    order = bob.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    ).json()
    assert in_stock(world, show["id"]) == 0
    assert bob.post(f"/orders/{order['id']}/pay", json={"card": NO_FUNDS}).status_code == 202
    cancelled = wait_order(bob, order["id"], "cancelled")
    assert "insufficient" in (cancelled["decline_reason"] or "").lower()
    assert in_stock(world, show["id"]) == 1
    # Someone else can now buy the unit that came back.
    cy = buyer(world, "Cy")
    r = cy.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    )
    assert r.status_code == 201, r.text


def test_sold_out_and_bad_quantities(world: World) -> None:
    _, _, show, listing = show_selling(world, stock=2)
    ada, bob = buyer(world, "Ada"), buyer(world, "Bob")
    path = f"/shows/{show['id']}/orders"
    assert (
        ada.post(
            path, json={"listing_id": listing["id"], "quantity": 2, "idempotency_key": key()}
        ).status_code
        == 201
    )
    r = bob.post(path, json={"listing_id": listing["id"], "idempotency_key": key()})
    assert r.status_code == 409 and r.json()["error"]["code"] == "sold_out"
    for quantity in (0, -1, 100, 10**9):
        r = bob.post(
            path, json={"listing_id": listing["id"], "quantity": quantity, "idempotency_key": key()}
        )
        assert r.status_code == 422, (quantity, r.text)
    r = bob.post(
        path, json={"listing_id": listing["id"], "quantity": "1", "idempotency_key": key()}
    )
    assert r.status_code == 422


def test_no_address_no_order(world: World) -> None:
    _, _, show, listing = show_selling(world, stock=2)
    dee = world.person("Dee")
    r = dee.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "address_required"
    assert in_stock(world, show["id"]) == 2


def test_a_price_change_is_told_not_charged(world: World) -> None:
    host, _, show, listing = show_selling(world, stock=3)
    ada = buyer(world, "Ada")
    q = ada.post(f"/shows/{show['id']}/quote", json={"listing_id": listing["id"]}).json()
    assert q["total"]["amount"] == "20.00"
    assert (
        host.patch(
            f"/shows/{show['id']}/shelf/{listing['id']}", json={"price": "25.00"}
        ).status_code
        == 200
    )
    r = ada.post(
        f"/shows/{show['id']}/orders",
        json={
            "listing_id": listing["id"],
            "idempotency_key": key(),
            "quote_fingerprint": q["fingerprint"],
        },
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "price_changed"
    assert r.json()["error"]["quote"]["total"]["amount"] == "25.00"
    assert ada.get("/me/orders").json() == []


def test_flash_deal_price_limit_live_counter_and_end(world: World) -> None:
    host, _, show, listing = show_selling(world, stock=10)
    ada = buyer(world, "Ada")
    with world.socket(show["id"], ada) as room:
        room.snapshot()
        r = host.post(
            f"/shows/{show['id']}/deals",
            json={
                "listing_id": listing["id"],
                "price": "9.90",
                "quantity": 3,
                "per_buyer_limit": 1,
                "duration_seconds": 600,
            },
        )
        assert r.status_code == 201, r.text
        deal = r.json()
        assert deal["status"] == "running" and deal["left"] == 3
        room.wait_for("deal.updated", lambda e: e["data"]["deal"]["id"] == deal["id"])
        # The deal's units come out of the variant's stock.
        assert in_stock(world, show["id"]) == 7
        path = f"/shows/{show['id']}/orders"
        first = ada.post(path, json={"listing_id": listing["id"], "idempotency_key": key()})
        assert first.status_code == 201 and first.json()["unit_price"]["amount"] == "9.90"
        second = ada.post(path, json={"listing_id": listing["id"], "idempotency_key": key()})
        assert second.status_code == 409 and second.json()["error"]["code"] == "limit_reached"
        room.wait_for(
            "stock.left",
            lambda e: e["data"].get("deal_id") == deal["id"] and e["data"]["left"] == 2,
        )
        ended = host.post(f"/shows/{show['id']}/deals/{deal['id']}/end")
        assert ended.status_code == 200 and ended.json()["status"] == "ended"
        room.wait_for("deal.updated", lambda e: e["data"]["deal"]["status"] == "ended")
    # The two unsold deal units went back; the held one stays held.
    assert in_stock(world, show["id"]) == 9
    late = buyer(world, "Late")
    r = late.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    )
    assert r.status_code == 201 and r.json()["unit_price"]["amount"] == "20.00"


def test_a_deal_in_countdown_does_not_sell(world: World) -> None:
    host, _, show, listing = show_selling(world, stock=10)
    r = host.post(
        f"/shows/{show['id']}/deals",
        json={
            "listing_id": listing["id"],
            "price": "5.00",
            "quantity": 2,
            "countdown_seconds": 120,
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "scheduled"
    ada = buyer(world, "Ada")
    r = ada.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "deal_not_running"


def test_coupons_and_a_claimable_drop(world: World) -> None:
    host, _, show, listing = show_selling(world, stock=10, price="50.00")
    ada, bob = buyer(world, "Ada"), buyer(world, "Bob")
    r = host.post("/coupons", json={"code": "live10", "percent_off": 10, "show_id": show["id"]})
    assert r.status_code == 201, r.text
    order = ada.post(
        f"/shows/{show['id']}/orders",
        json={"listing_id": listing["id"], "idempotency_key": key(), "coupon_code": "LIVE10"},
    ).json()
    assert order["discount"]["amount"] == "5.00" and order["total"]["amount"] == "45.00"
    drop = host.post(
        "/coupons",
        json={"code": "FIRST1", "amount_off": "8.00", "show_id": show["id"], "claim_limit": 1},
    ).json()
    with world.socket(show["id"], bob) as room:
        room.snapshot()
        assert host.post(f"/shows/{show['id']}/coupons/{drop['id']}/drop").status_code == 200
        room.wait_for("coupon.dropped")
        assert bob.post(f"/coupons/{drop['id']}/claim").status_code == 200
    r = ada.post(f"/coupons/{drop['id']}/claim")
    assert r.status_code == 409 and r.json()["error"]["code"] == "coupon_all_claimed"
    r = ada.post(
        f"/shows/{show['id']}/orders",
        json={"listing_id": listing["id"], "idempotency_key": key(), "coupon_code": "FIRST1"},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "coupon_not_claimed"
    r = bob.post(
        f"/shows/{show['id']}/orders",
        json={"listing_id": listing["id"], "idempotency_key": key(), "coupon_code": "FIRST1"},
    )
    assert r.status_code == 201 and r.json()["total"]["amount"] == "42.00"


def test_the_merchant_refunds_and_the_stock_returns(world: World) -> None:
    _, merchant, show, listing = show_selling(world, stock=1)
    ada = buyer(world, "Ada")
    order = ada.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    ).json()
    ada.post(f"/orders/{order['id']}/pay", json={"card": GOOD_CARD})
    wait_order(ada, order["id"], "paid")
    assert in_stock(world, show["id"]) == 0
    stranger = world.person("Stranger")
    assert stranger.post(f"/orders/{order['id']}/refund").status_code == 403
    r = merchant.post(f"/orders/{order['id']}/refund")
    assert r.status_code == 200 and r.json()["status"] == "refunded"
    assert in_stock(world, show["id"]) == 1


@pytest.mark.parametrize(
    "card",
    [
        {"number": "4242 4242 4242 4241", "expiry": "12/39", "cvc": "123"},
        {"number": "4242 4242 4242 4242", "expiry": "01/20", "cvc": "123"},
    ],
)
def test_a_bad_card_is_refused_at_once_and_the_order_can_still_be_paid(
    world: World, card: dict[str, str]
) -> None:
    _, _, show, listing = show_selling(world, stock=1)
    ada = buyer(world, "Ada")
    order = ada.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    ).json()
    r = ada.post(f"/orders/{order['id']}/pay", json={"card": card})
    assert r.status_code == 402, r.text
    assert ada.post(f"/orders/{order['id']}/pay", json={"card": GOOD_CARD}).status_code == 202
    wait_order(ada, order["id"], "paid")


def test_ending_the_show_ends_its_deals_and_returns_their_units(world: World) -> None:
    host, _, show, listing = show_selling(world, stock=10)
    r = host.post(
        f"/shows/{show['id']}/deals",
        json={"listing_id": listing["id"], "price": "9.90", "quantity": 4, "duration_seconds": 600},
    )
    assert r.status_code == 201
    assert in_stock(world, show["id"]) == 6
    assert host.post(f"/shows/{show['id']}/end").status_code == 200
    assert world.anonymous.get(f"/shows/{show['id']}/deals").json() == []
    assert in_stock(world, show["id"]) == 10


def test_a_replay_stays_shoppable_at_the_listing_price(world: World) -> None:
    host, _, show, listing = show_selling(world, stock=5)
    scheduled = host.post("/shows", json={"title": "Next week"}).json()
    assert host.post(f"/shows/{show['id']}/end").status_code == 200
    ada = buyer(world, "Ada")
    r = ada.post(
        f"/shows/{show['id']}/orders", json={"listing_id": listing["id"], "idempotency_key": key()}
    )
    assert r.status_code == 201 and r.json()["unit_price"]["amount"] == "20.00"
    # A show that has not gone on air yet does not sell.
    item = host.post(
        f"/shows/{scheduled['id']}/shelf", json={"product_id": listing["product"]["id"]}
    ).json()
    r = ada.post(
        f"/shows/{scheduled['id']}/orders",
        json={"listing_id": item["id"], "idempotency_key": key()},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "show_not_live"
