"""Currencies through the real API: an admin sets exchange rates, a brand that prices in
yuan sells in a dollar show, and the order, the commission lines and the settlement keep
both currencies and the rate."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

from tests.harness import Person, World
from tests.integration.test_business import Table, error, iso, now, product
from tests.integration.test_checkout import GOOD_CARD, buyer, key, wait_order


def money(amount: str, currency: str) -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def buy_and_pay(world: World, show_id: int, listing_id: int, quantity: int) -> dict[str, Any]:
    person: Person = buyer(world)
    r = person.post(
        f"/shows/{show_id}/orders",
        json={"listing_id": listing_id, "quantity": quantity, "idempotency_key": key()},
    )
    assert r.status_code == 201, r.text
    order: dict[str, Any] = r.json()
    assert person.post(f"/orders/{order['id']}/pay", json={"card": GOOD_CARD}).status_code == 202
    wait_order(person, order["id"], "paid")
    return order


def yuan_brand(world: World, name: str) -> tuple[Person, Person, Person, dict[str, Any], int]:
    """An admin, a host, and a merchant whose brand prices in yuan a scarf at 99.00 CNY;
    the brand and the scarf's product id."""
    admin = world.person("Admin", admin=True)
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    brand = merchant.post(
        "/brands", json={"name": f"{name} {uuid.uuid4().hex[:8]}", "currency": "CNY"}
    ).json()
    scarf = product(merchant, brand["id"], f"{name} scarf", "scarves", "99.00")
    return admin, host, merchant, brand, scarf


def test_a_brand_pricing_in_yuan_sells_in_a_dollar_show(world: World) -> None:
    admin, host, merchant, brand, scarf = yuan_brand(world, "Silk")
    offer = {
        "brand_id": brand["id"],
        "host_id": host.id,
        "starts_at": iso(now() - timedelta(hours=1)),
        "ends_at": iso(now() + timedelta(days=7)),
        "rates": [{"host_share": "10"}],
    }
    contract = merchant.post("/contracts", json=offer).json()
    assert host.post(f"/contracts/{contract['id']}/accept").json()["status"] == "active"
    show = host.post(
        "/shows", json={"title": "Silk night", "contract_id": contract["id"], "currency": "USD"}
    ).json()

    # No CNY -> USD rate yet: the product cannot be listed in a dollar show.
    r = host.post(f"/shows/{show['id']}/shelf", json={"product_id": scarf})
    assert r.status_code == 409 and error(r) == "no_exchange_rate", r.text
    assert "CNY" in r.json()["error"]["message"] and "USD" in r.json()["error"]["message"]

    r = admin.put("/rates/CNY/USD", json={"rate": "0.1380"})
    assert r.status_code == 201, r.text
    assert r.json()["rate"] == "0.138"
    assert {"base": "CNY", "quote": "USD", "rate": "0.138"}.items() <= next(
        x for x in world.anonymous.get("/rates").json() if x["base"] == "CNY"
    ).items()

    # Viewers see the price in dollars: 99.00 CNY × 0.138 = 13.662 -> 13.66 USD.
    r = host.post(f"/shows/{show['id']}/shelf", json={"product_id": scarf})
    assert r.status_code == 201, r.text
    listing = r.json()
    assert listing["price"] == money("13.66", "USD") and listing["rate"] == "0.138"
    assert world.anonymous.get(f"/shows/{show['id']}/shelf").json()[0]["price"] == money(
        "13.66", "USD"
    )
    # A new rate applies to prices set from now on; the listing keeps the one it used.
    assert admin.put("/rates/CNY/USD", json={"rate": "0.15"}).status_code == 201
    assert host.post(f"/shows/{show['id']}/live").status_code == 200

    # Two scarves: 27.32 USD charged; in yuan 27.32 / 0.138 = 197.971... -> 197.97 CNY.
    order = buy_and_pay(world, show["id"], listing["id"], quantity=2)
    assert order["total"] == money("27.32", "USD")
    assert order["brand_total"] == money("197.97", "CNY")
    assert order["rate"] == "0.138"
    seen = merchant.get(f"/brands/{brand['id']}/orders").json()
    assert [(o["id"], o["brand_total"], o["rate"]) for o in seen] == [
        (order["id"], money("197.97", "CNY"), "0.138")
    ]

    # Host 10%: 2.732 -> 2.73 USD and 19.797 -> 19.80 CNY; the brand keeps the rest of
    # each, so the lines add up exactly in both currencies.
    settled = merchant.post(f"/brands/{brand['id']}/settlements", json={}).json()
    got = {
        line["party"]: (line["amount"], line["brand_amount"], line["rate"])
        for line in settled["lines"]
    }
    assert got == {
        "host": (money("2.73", "USD"), money("19.80", "CNY"), "0.138"),
        "brand": (money("24.59", "USD"), money("178.17", "CNY"), "0.138"),
    }
    (usd,) = settled["totals"]
    assert (usd["currency"], usd["sales"], usd["host"], usd["brand"]) == (
        "USD",
        money("27.32", "USD"),
        money("2.73", "USD"),
        money("24.59", "USD"),
    )
    (cny,) = settled["brand_totals"]
    assert (cny["currency"], cny["sales"], cny["host"], cny["brand"]) == (
        "CNY",
        money("197.97", "CNY"),
        money("19.80", "CNY"),
        money("178.17", "CNY"),
    )

    # The page and the CSV show the rate and the amounts in yuan.
    page = merchant.http.get(f"{world.server.base_url}/settlements/{settled['id']}")
    assert page.status_code == 200, page.text
    table = Table()
    table.feed(page.text)
    rates = {row["rate"].strip() for key_, row in table.rows.items() if key_.startswith("line-")}
    assert rates == {"1 CNY = 0.138 USD"}
    assert "178.17" in table.rows["brand-total-CNY"]["brand"]
    rows = list(
        csv.DictReader(
            io.StringIO(
                merchant.http.get(f"{world.server.base_url}/settlements/{settled['id']}.csv").text
            )
        )
    )
    assert {
        (r["party"], r["currency"], r["amount"], r["rate"], r["brand_currency"], r["brand_amount"])
        for r in rows
    } == {
        ("host", "USD", "2.73", "0.138", "CNY", "19.80"),
        ("brand", "USD", "24.59", "0.138", "CNY", "178.17"),
    }

    # A price set now is set at the rate in force now.
    r = host.patch(f"/shows/{show['id']}/shelf/{listing['id']}", json={"price": "15.00"})
    assert r.status_code == 200, r.text
    order = buy_and_pay(world, show["id"], listing["id"], quantity=1)
    assert (order["total"], order["brand_total"], order["rate"]) == (
        money("15.00", "USD"),
        money("100.00", "CNY"),
        "0.15",
    )


def test_a_brand_coupon_in_yuan_applies_in_a_dollar_show_at_the_listing_rate(
    world: World,
) -> None:
    admin, host, merchant, brand, scarf = yuan_brand(world, "Jade")
    code = f"JADE{uuid.uuid4().hex[:6]}".upper()
    r = merchant.post(
        "/coupons",
        json={"code": code, "amount_off": "20", "min_spend": "150", "brand_id": brand["id"]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["amount_off"] == money("20.00", "CNY")
    assert admin.put("/rates/CNY/USD", json={"rate": "0.138"}).status_code == 201
    show = host.post("/shows", json={"title": "Jade night", "currency": "USD"}).json()
    listing = host.post(f"/shows/{show['id']}/shelf", json={"product_id": scarf}).json()
    assert listing["price"] == money("13.66", "USD")
    assert host.post(f"/shows/{show['id']}/live").status_code == 200

    def order(quantity: int) -> Any:
        return buyer(world).post(
            f"/shows/{show['id']}/orders",
            json={
                "listing_id": listing["id"],
                "quantity": quantity,
                "idempotency_key": key(),
                "coupon_code": code.lower(),
            },
        )

    # The minimum spend, 150 CNY, is 20.70 USD at the listing's rate: one scarf is short.
    r = order(1)
    assert r.status_code == 409 and error(r) == "coupon_min_spend", r.text
    assert "20.70 USD" in r.json()["error"]["message"]
    # Two scarves, 27.32 USD: 20 CNY off is 2.76 USD off.
    r = order(2)
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["discount"] == money("2.76", "USD")
    assert placed["total"] == money("24.56", "USD")
    assert placed["rate"] == "0.138"


def test_bad_rates_get_a_clear_answer(world: World) -> None:
    admin = world.person("Admin", admin=True)
    someone = world.person("Someone")
    r = someone.put("/rates/EUR/GBP", json={"rate": "0.85"})
    assert r.status_code == 403, r.text
    for path, body, status, code in (
        ("/rates/EUR/EUR", {"rate": "1"}, 422, "invalid_rate"),
        ("/rates/eur/GBP", {"rate": "0.85"}, 422, "invalid_currency"),
        ("/rates/EUR/XXX", {"rate": "0.85"}, 422, "invalid_currency"),
        ("/rates/EUR/GBP", {"rate": "0"}, 422, "invalid_rate"),
        ("/rates/EUR/GBP", {"rate": "-0.85"}, 422, "invalid_rate"),
        ("/rates/EUR/GBP", {"rate": "lots"}, 422, "invalid_rate"),
        ("/rates/EUR/GBP", {"rate": "0.123456789012"}, 422, "invalid_rate"),
        (
            "/rates/EUR/GBP",
            {"rate": "0.85", "valid_from": "2026-11-29T10:00:00"},
            422,
            "invalid_time",
        ),
    ):
        r = admin.put(path, json=body)
        assert r.status_code == status and error(r) == code, (path, body, r.text)
        assert r.json()["error"]["message"]
    r = admin.put("/rates/EUR/GBP", json={"rate": 0.85})  # a JSON number is not exact
    assert r.status_code == 422, r.text
    start = iso(now() + timedelta(days=1))
    assert (
        admin.put("/rates/EUR/GBP", json={"rate": "0.85", "valid_from": start}).status_code == 201
    )
    r = admin.put("/rates/EUR/GBP", json={"rate": "0.86", "valid_from": start})
    assert r.status_code == 409 and error(r) == "rate_exists", r.text
