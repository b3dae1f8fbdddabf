"""The business behind the show, through the real API and pages: an agency signs a host by
invitation, a brand contracts the agency, a show booked under the contract sells, an order
is refunded, and the settlements show the right lines, as a page and as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.harness import Person, World
from tests.integration.test_checkout import GOOD_CARD, buyer, key, wait_order


def iso(moment: datetime) -> str:
    return moment.isoformat()


def now() -> datetime:
    return datetime.now(UTC)


def error(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


def agency_with_host(world: World) -> tuple[Person, dict[str, Any], Person]:
    agent = world.person("Agent")
    host = world.person("Host", host=True)
    r = agent.post("/agencies", json={"name": f"MCN {uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    agency = r.json()
    invited = agent.post(f"/agencies/{agency['id']}/invitations", json={"email": host.email})
    assert invited.status_code == 201, invited.text
    r = host.post(f"/invitations/{invited.json()['id']}/accept")
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    return agent, agency, host


def product(merchant: Person, brand_id: int, title: str, category: str, price: str) -> int:
    r = merchant.post(
        f"/brands/{brand_id}/products",
        json={
            "title": title,
            "category": category,
            "variants": [{"name": "One", "price": price, "stock": 20}],
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def buy_and_pay(world: World, show_id: int, listing_id: int, quantity: int = 1) -> int:
    """A new buyer buys and pays; the paid order's id."""
    person = buyer(world)
    r = person.post(
        f"/shows/{show_id}/orders",
        json={"listing_id": listing_id, "quantity": quantity, "idempotency_key": key()},
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert person.post(f"/orders/{order['id']}/pay", json={"card": GOOD_CARD}).status_code == 202
    wait_order(person, order["id"], "paid")
    return int(order["id"])


class Table(HTMLParser):
    """The `data-col` cells of each `data-testid` row of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self._row: str | None = None
        self._col: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-testid"):
            self._row = found["data-testid"]
            self.rows[self._row or ""] = {}
        elif tag == "td" and self._row and found.get("data-col"):
            self._col = found["data-col"]
            self.rows[self._row][self._col or ""] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._col = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row and self._col:
            self.rows[self._row][self._col] += data


def amount(shown: str) -> Decimal:
    """ "$1,234.50" or "−$2.50" as a Decimal."""
    text = shown.strip().replace("−", "-").replace("$", "").replace(",", "")
    return Decimal(text.split()[0])


def test_an_agency_runs_its_host_for_a_brand_from_signing_to_settlement(world: World) -> None:
    agent, agency, host = agency_with_host(world)
    assert [h["id"] for h in agent.get(f"/agencies/{agency['id']}/hosts").json()] == [host.id]
    merchant = world.person("Merchant")
    brand = merchant.post("/brands", json={"name": f"Brand {uuid.uuid4().hex[:8]}"}).json()
    lipstick = product(merchant, brand["id"], "<b>Ruby</b> lipstick", " Lip stick ", "19.99")
    wig = product(merchant, brand["id"], "=2+3 Curly wig", "Wigs", "120.00")
    other = product(merchant, brand["id"], "Hair clip", "", "5.00")
    start, end = now() - timedelta(hours=1), now() + timedelta(days=30)
    offer = {
        "brand_id": brand["id"],
        "agency_id": agency["id"],
        "product_ids": [lipstick, wig],
        "starts_at": iso(start),
        "ends_at": iso(end),
        "rates": [
            {"host_share": "10", "agency_share": "5"},
            {"category": "lip stick", "host_share": "12.5", "agency_share": "7.5"},
        ],
        "fixed_fee": "250.00",
    }
    r = merchant.post("/contracts", json=offer)
    assert r.status_code == 201, r.text
    contract = r.json()
    assert contract["status"] == "offered" and contract["fixed_fee"]["amount"] == "250.00"
    assert contract["rates"][1]["category"] == "lip stick"

    # Bad input is refused with a clear code.
    r = merchant.post("/contracts", json={**offer, "product_ids": [wig]})
    assert r.status_code == 409 and error(r) == "contracts_overlap", r.text
    r = merchant.post(
        "/contracts",
        json={
            **offer,
            "product_ids": [other],
            "rates": [{"host_share": "60", "agency_share": "40.5"}],
        },
    )
    assert r.status_code == 422 and error(r) == "shares_over_100", r.text
    assert "100%" in r.json()["error"]["message"]
    booking = {
        "title": "Singles' Day marathon",
        "host_id": host.id,
        "contract_id": contract["id"],
        "scheduled_at": iso(now() + timedelta(minutes=5)),
    }
    r = agent.post("/shows", json=booking)
    assert r.status_code == 409 and error(r) == "contract_not_active", r.text
    # The agency accepts; only then can a show be booked under the contract.
    assert host.post(f"/contracts/{contract['id']}/accept").status_code == 403
    r = agent.post(f"/contracts/{contract['id']}/accept")
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    r = agent.post("/shows", json={**booking, "scheduled_at": iso(end + timedelta(days=1))})
    assert r.status_code == 422 and error(r) == "show_outside_contract", r.text
    r = agent.post("/shows", json=booking)
    assert r.status_code == 201 and r.json()["contract_id"] == contract["id"], r.text
    show = r.json()

    # The shelf holds only the contract's products.
    listings = {}
    for pid in (lipstick, wig):
        r = agent.post(f"/shows/{show['id']}/shelf", json={"product_id": pid})
        assert r.status_code == 201, r.text
        listings[pid] = r.json()["id"]
    r = agent.post(f"/shows/{show['id']}/shelf", json={"product_id": other})
    assert r.status_code == 409 and error(r) == "product_not_in_contract", r.text
    r = agent.patch(f"/shows/{show['id']}", json={"scheduled_at": iso(end + timedelta(days=1))})
    assert r.status_code == 422 and error(r) == "show_outside_contract", r.text
    assert host.post(f"/shows/{show['id']}/live").status_code == 200

    # A show sells: one lipstick, two lipsticks, one wig. The two-lipstick order is refunded.
    ada_id = buy_and_pay(world, show["id"], listings[lipstick])
    bob_id = buy_and_pay(world, show["id"], listings[lipstick], quantity=2)
    cy_id = buy_and_pay(world, show["id"], listings[wig])
    r = merchant.post(f"/orders/{bob_id}/refund")
    assert r.status_code == 200, r.text

    pending = merchant.get(f"/brands/{brand['id']}/commissions").json()
    assert len(pending["lines"]) == 3 * 3 + 3 + 1
    r = merchant.post(f"/brands/{brand['id']}/settlements", json={})
    assert r.status_code == 201, r.text
    settled = r.json()
    assert merchant.get(f"/brands/{brand['id']}/commissions").json()["lines"] == []

    # Lipstick (12.5% + 7.5%): 19.99 -> host 2.50 (249.875 cents, half even), agency 1.50,
    # brand 15.99. 39.98 -> 5.00, 3.00, 31.98, then the same negated. Wig (10% + 5%):
    # 120.00 -> 12.00, 6.00, 102.00. And the agency's fixed fee.
    got = {
        (line["order_id"], line["kind"], line["party"]): line["amount"]["amount"]
        for line in settled["lines"]
    }
    assert got == {
        (ada_id, "sale", "host"): "2.50",
        (ada_id, "sale", "agency"): "1.50",
        (ada_id, "sale", "brand"): "15.99",
        (bob_id, "sale", "host"): "5.00",
        (bob_id, "sale", "agency"): "3.00",
        (bob_id, "sale", "brand"): "31.98",
        (bob_id, "refund", "host"): "-5.00",
        (bob_id, "refund", "agency"): "-3.00",
        (bob_id, "refund", "brand"): "-31.98",
        (cy_id, "sale", "host"): "12.00",
        (cy_id, "sale", "agency"): "6.00",
        (cy_id, "sale", "brand"): "102.00",
        (None, "fee", "agency"): "250.00",
    }
    (usd,) = settled["totals"]
    assert usd == {
        "currency": "USD",
        "orders": 3,
        "sales": {"amount": "139.99", "currency": "USD"},
        "host": {"amount": "14.50", "currency": "USD"},
        "agency": {"amount": "7.50", "currency": "USD"},
        "brand": {"amount": "117.99", "currency": "USD"},
        "fees": {"amount": "250.00", "currency": "USD"},
    }
    assert settled["line_count"] == 13 and settled["period_start"] is None

    # The agency's settlement holds its lines and its host's; the host's only its own.
    agency_settled = agent.post(f"/agencies/{agency['id']}/settlements").json()
    assert {line["party"] for line in agency_settled["lines"]} == {"host", "agency"}
    assert agency_settled["totals"][0]["agency"]["amount"] == "7.50"
    host_settled = host.post(f"/hosts/{host.id}/settlements").json()
    assert {line["party"] for line in host_settled["lines"]} == {"host"}
    assert host_settled["totals"][0]["host"]["amount"] == "14.50"

    # The page and the CSV show the same figures; untrusted text stays text.
    page = host.http.get(f"{world.server.base_url}/settlements/{settled['id']}")
    assert page.status_code == 403  # a host does not see the brand's figures
    page = merchant.http.get(f"{world.server.base_url}/settlements/{settled['id']}")
    assert page.status_code == 200, page.text
    assert "&lt;b&gt;Ruby&lt;/b&gt; lipstick" in page.text and "<b>Ruby</b>" not in page.text
    table = Table()
    table.feed(page.text)
    shown = table.rows
    download = merchant.http.get(f"{world.server.base_url}/settlements/{settled['id']}.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert len(rows) == 13 == len([k for k in shown if k.startswith("line-")])
    for row in rows:
        cells = shown[f"line-{row['line']}"]
        assert amount(cells["amount"]) == Decimal(row["amount"])
        assert amount(cells["paid"]) == Decimal(row["paid"])
        assert cells["share"].strip() == row["share_percent"] + "%"
        if row["order"]:
            assert cells["order"].strip().startswith(f"#{row['order']}")
        title = row["item"].removeprefix("'")
        assert cells["item"] == title
    assert any(row["item"].startswith("'=2+3 Curly wig") for row in rows)
    page_total = shown["total-USD"]
    sums: dict[str, Decimal] = {"host": Decimal(0), "agency": Decimal(0), "brand": Decimal(0)}
    fees = Decimal(0)
    for row in rows:
        if row["kind"] == "fee":
            fees += Decimal(row["amount"])
        else:
            sums[row["party"]] += Decimal(row["amount"])
    for party, total in sums.items():
        assert amount(page_total[party]) == total
    assert amount(page_total["fees"]) == fees
    assert amount(page_total["sales"]) == sum(sums.values()) == Decimal("139.99")

    # A closed settlement never changes: a later refund lands in the next one.
    r = merchant.post(f"/orders/{ada_id}/refund")
    assert r.status_code == 200, r.text
    assert merchant.get(f"/settlements/{settled['id']}").json() == settled
    later = merchant.post(f"/brands/{brand['id']}/settlements").json()
    assert later["period_start"] == settled["period_end"]
    assert sorted(
        (line["kind"], line["party"], line["amount"]["amount"]) for line in later["lines"]
    ) == [("refund", "agency", "-1.50"), ("refund", "brand", "-15.99"), ("refund", "host", "-2.50")]
    assert later["totals"][0]["sales"]["amount"] == "-19.99"


def test_a_contract_with_a_host_directly(world: World) -> None:
    host = world.person("Solo host", host=True)
    merchant = world.person("Merchant")
    brand = merchant.post(
        "/brands", json={"name": f"Brand {uuid.uuid4().hex[:8]}", "currency": "JPY"}
    ).json()
    item = product(merchant, brand["id"], "Matcha", "tea", "1999")
    offer = {
        "brand_id": brand["id"],
        "host_id": host.id,
        "starts_at": iso(now() - timedelta(hours=1)),
        "ends_at": iso(now() + timedelta(days=7)),
        "rates": [{"host_share": "7.5"}],
    }
    r = merchant.post(
        "/contracts", json={**offer, "rates": [{"host_share": "5", "agency_share": "1"}]}
    )
    assert r.status_code == 422 and error(r) == "agency_share_without_agency", r.text
    contract = merchant.post("/contracts", json=offer).json()
    assert host.post(f"/contracts/{contract['id']}/accept").json()["status"] == "active"
    r = host.post(
        "/shows", json={"title": "Tea time", "contract_id": contract["id"], "currency": "JPY"}
    )
    assert r.status_code == 201, r.text
    show = r.json()
    listing = host.post(f"/shows/{show['id']}/shelf", json={"product_id": item}).json()
    host.post(f"/shows/{show['id']}/live")
    buy_and_pay(world, show["id"], listing["id"])
    lines = host.get(f"/hosts/{host.id}/commissions").json()["lines"]
    # 1999 yen × 7.5% = 149.925 -> 150 yen; no agency line.
    assert [(x["party"], x["amount"]) for x in lines] == [
        ("host", {"amount": "150", "currency": "JPY"})
    ]
    brand_lines = merchant.get(f"/brands/{brand['id']}/commissions").json()
    assert sorted(x["party"] for x in brand_lines["lines"]) == ["brand", "host"]
    assert brand_lines["totals"][0]["brand"] == {"amount": "1849", "currency": "JPY"}


def test_hosts_are_signed_by_invitation_and_answer_it_themselves(world: World) -> None:
    agent = world.person("Agent")
    host, stranger = world.person("Host", host=True), world.person("Stranger")
    agency = agent.post("/agencies", json={"name": f"MCN {uuid.uuid4().hex[:8]}"}).json()
    path = f"/agencies/{agency['id']}/invitations"
    first = agent.post(path, json={"email": host.email})
    assert first.status_code == 201 and first.json()["status"] == "pending"
    again = agent.post(path, json={"email": host.email})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert [i["agency"]["name"] for i in host.get("/me/invitations").json()] == [agency["name"]]
    # Not signed yet: the agency may not book the host.
    r = agent.post("/shows", json={"title": "Too soon", "host_id": host.id})
    assert r.status_code == 403
    invitation = first.json()["id"]
    for who in (stranger, agent):
        r = who.post(f"/invitations/{invitation}/accept")
        assert r.status_code == 403 and error(r) == "forbidden"
    assert host.post(f"/invitations/{invitation}/decline").json()["status"] == "declined"
    r = host.post(f"/invitations/{invitation}/accept")
    assert r.status_code == 409 and error(r) == "invitation_answered"
    assert agent.get(f"/agencies/{agency['id']}/hosts").json() == []
    second = agent.post(path, json={"email": host.email}).json()
    assert host.post(f"/invitations/{second['id']}/accept").json()["status"] == "accepted"
    assert host.post(f"/invitations/{second['id']}/accept").status_code == 200
    r = agent.post(path, json={"email": host.email})
    assert r.status_code == 409 and error(r) == "already_signed"
    r = agent.post(path, json={"email": stranger.email})
    assert r.status_code == 422 and error(r) == "not_a_host"
    r = agent.post("/shows", json={"title": "Booked", "host_id": host.id})
    assert r.status_code == 201, r.text
    statuses = [i["status"] for i in agent.get(path).json()]
    assert statuses == ["accepted", "declined"]


def test_bad_contract_and_settlement_input_gets_a_clear_answer(world: World) -> None:
    merchant = world.person("Merchant")
    brand, products = world.brand_with_products(merchant, products=1)
    host = world.person("Host", host=True)
    base = {
        "brand_id": brand["id"],
        "host_id": host.id,
        "starts_at": iso(now()),
        "ends_at": iso(now() + timedelta(days=1)),
        "rates": [{"host_share": "10"}],
    }
    cases = [
        ({"ends_at": iso(now() - timedelta(days=1))}, 422, "invalid_period"),
        ({"starts_at": "2026-01-01T00:00:00"}, 422, "invalid_time"),
        ({"starts_at": "1900-01-01T00:00:00Z"}, 422, "invalid_time"),
        ({"host_id": None}, 422, "contract_party_required"),
        ({"product_ids": [products[0]["id"] + 10_000]}, 422, "products_not_of_brand"),
        ({"rates": [{"host_share": "101"}]}, 422, "invalid_share"),
        ({"rates": [{"host_share": "1.234"}]}, 422, "invalid_input"),
        ({"rates": [{"host_share": "10"}, {"host_share": "5"}]}, 422, "rates_overlap"),
        ({"fixed_fee": "-1"}, 422, "invalid_input"),
        ({"host_id": 2**40}, 404, "user_not_found"),
    ]
    for change, status, code in cases:
        r = merchant.post("/contracts", json={**base, **change})
        assert (r.status_code, error(r)) == (status, code), (change, r.text)
    assert merchant.post("/contracts", json=base).status_code == 201
    r = merchant.post("/contracts", json=base)
    assert r.status_code == 409 and error(r) == "contracts_overlap"
    # Another brand's staff cannot offer in this brand's name.
    r = host.post("/contracts", json={**base, "starts_at": iso(now() + timedelta(days=2))})
    assert r.status_code == 403

    path = f"/brands/{brand['id']}/settlements"
    r = merchant.post(path, json={"period_end": iso(now() + timedelta(hours=1))})
    assert r.status_code == 422 and error(r) == "period_not_over"
    first = merchant.post(path, json={"period_end": iso(now() - timedelta(minutes=1))})
    assert first.status_code == 201 and first.json()["lines"] == []
    r = merchant.post(path, json={"period_end": iso(now() - timedelta(minutes=2))})
    assert r.status_code == 409 and error(r) == "period_already_settled"
    assert [s["id"] for s in merchant.get(path).json()] == [first.json()["id"]]
    assert host.get(path).status_code == 403
    r = merchant.get("/settlements/999999999")
    assert r.status_code == 404 and error(r) == "settlement_not_found"
    page = merchant.http.get(f"{world.server.base_url}/settlements/{first.json()['id']}")
    assert page.status_code == 200 and "Nothing to settle" in page.text
    signed_out = httpx.get(f"{world.server.base_url}/settlements/{first.json()['id']}")
    assert signed_out.status_code == 303 and "/signin" in signed_out.headers["location"]
