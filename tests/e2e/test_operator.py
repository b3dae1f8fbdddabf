"""The operator's path in a real browser, on pages only: an agency is started and invites a
host, the host signs, a brand offers a contract, the agency accepts it and books a show
under it; buyers buy (through the API, as in the other tests); the agency and the brand
close their settlements on the page and download the CSV."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import open_page, sign_in
from tests.harness import World
from tests.integration.test_checkout import buyer
from tests.integration.test_competitions import sell

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def _page(browser: Any) -> tuple[Any, Any, list[str]]:
    return open_page(browser, viewport={"width": 1280, "height": 900}, timezone_id="UTC")


def _local(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def test_an_agency_runs_its_host_for_a_brand_from_signing_to_settlement(
    browser: Any, world: World, tmp_path: Path
) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    base = world.server.base_url
    agent, host, merchant = (
        world.person("Agent"),
        world.person("Ada", host=True),
        world.person("Merchant"),
    )
    brand, products = world.brand_with_products(merchant, products=2, variants=1)
    lipstick, other = products
    agency_name = f"{HOSTILE} MCN {uuid.uuid4().hex[:6]}"

    (a_ctx, a, a_errors), (h_ctx, h, h_errors), (m_ctx, m, m_errors) = (
        _page(browser),
        _page(browser),
        _page(browser),
    )
    try:
        # The agency is started and invites the host by email.
        sign_in(a, base, agent, "/business")
        a.fill('[data-testid="agency-form"] input[name="name"]', agency_name)
        a.click('[data-testid="agency-form"] button[type=submit]')
        expect(a.locator('[data-testid="agency-name"]')).to_have_text(agency_name)
        agency_id = int(a.url.rsplit("/", 1)[1])
        expect(a.locator('[data-testid="no-hosts"]')).to_be_visible()
        a.fill('[data-testid="invite-form"] input[name="email"]', host.email)
        a.click('[data-testid="invite-form"] button[type=submit]')
        invitations = a.locator('[data-testid="invitations"] tbody tr')
        expect(invitations).to_have_count(1)
        expect(invitations.first.locator('[data-col="status"]')).to_have_text(
            "waiting for an answer"
        )

        # The host signs by accepting on their business page.
        sign_in(h, base, host, "/studio")
        h.click('[data-testid="business-link"]')
        mine = h.locator('[data-testid="my-invitations"]')
        expect(mine).to_contain_text(agency_name)
        mine.locator('button:has-text("Sign with them")').click()
        expect(mine).to_contain_text("accepted")
        a.reload()
        expect(a.locator(f'[data-testid="host-{host.id}"]')).to_contain_text(host.display_name)
        expect(invitations.first.locator('[data-col="status"]')).to_have_text("accepted")

        # The brand offers the agency a contract for one product: 10% host, 5% agency.
        now = datetime.now(UTC)
        sign_in(m, base, merchant, "/business")
        m.click(f'[data-testid="brand-link-{brand["id"]}"]')
        offer = m.locator('[data-testid="contract-form"]')
        offer.locator('select[name="agency_id"]').select_option(str(agency_id))
        offer.locator('input[name="starts_at"]').fill(_local(now - timedelta(hours=1)))
        offer.locator('input[name="ends_at"]').fill(_local(now + timedelta(days=30)))
        offer.locator(f'input[name="product_ids"][value="{lipstick["id"]}"]').check()
        offer.locator('input[name="rate_host_0"]').fill("10")
        offer.locator('input[name="rate_agency_0"]').fill("5")
        # First over 100%: the form says so and keeps what was typed.
        offer.locator('input[name="rate_host_1"]').fill("99")
        offer.locator('input[name="rate_agency_1"]').fill("2")
        offer.locator('select[name="rate_product_1"]').select_option(str(lipstick["id"]))
        offer.locator("button[type=submit]").click()
        expect(m.locator('[data-testid="form-error"]')).to_have_text(
            "The host's 99.00% and the agency's 2.00% come to more than 100%."
        )
        expect(offer.locator('input[name="rate_host_0"]')).to_have_value("10")
        offer.locator('input[name="rate_host_1"]').fill("")
        offer.locator('input[name="rate_agency_1"]').fill("")
        offer.locator('select[name="rate_product_1"]').select_option("")
        offer.locator("button[type=submit]").click()
        expect(m.locator('[data-testid="contract-status"]')).to_have_text("offered")
        expect(m.locator('[data-testid="contract-title"]')).to_contain_text(agency_name)
        contract_id = int(m.url.rsplit("/", 1)[1])

        # The agency sees the offer, accepts it and books the host's show under it.
        a.reload()
        expect(a.locator(f'[data-testid="contract-{contract_id}"]')).to_contain_text("offered")
        a.click(f'[data-testid="open-contract-{contract_id}"]')
        a.click('[data-testid="accept-contract"]')
        expect(a.locator('[data-testid="contract-status"]')).to_have_text("active")
        book = a.locator('[data-testid="book-form"]')
        book.locator('input[name="title"]').fill("Lipstick night")
        book.locator('select[name="host_id"]').select_option(str(host.id))
        book.locator('input[name="scheduled_at"]').fill(_local(now + timedelta(minutes=30)))
        book.locator("button[type=submit]").click()
        a.wait_for_url(f"{base}/studio/shows/*")
        show_id = int(a.url.rsplit("/", 1)[1])

        # The shelf holds only the contract's products; the host goes live and sells.
        r = host.post(f"/shows/{show_id}/shelf", json={"product_id": other["id"]})
        assert r.status_code == 409 and r.json()["error"]["code"] == "product_not_in_contract"
        listing = host.post(f"/shows/{show_id}/shelf", json={"product_id": lipstick["id"]}).json()
        assert host.post(f"/shows/{show_id}/live").status_code == 200
        sell(world, buyer(world), (show_id, listing["id"], listing["variants"][0]["id"]), 2)

        # The agency closes its settlement on the page: host 10% and agency 5% of $21.80.
        a.goto(f"{base}/business/agencies/{agency_id}")
        a.click('[data-testid="agency-settlements"]')
        expect(a.locator('[data-testid="open-count"]')).to_have_text("2 lines")
        expect(a.locator('[data-testid="open-totals-USD"] [data-col="host"]')).to_have_text("$2.18")
        a.click('[data-testid="close-settlement"]')
        a.wait_for_url(f"{base}/settlements/*")
        expect(a.locator('[data-testid="settlement-title"]')).to_contain_text(agency_name)
        total = a.locator('[data-testid="total-USD"]')
        expect(total.locator('[data-col="host"]')).to_have_text("$2.18")
        expect(total.locator('[data-col="agency"]')).to_have_text("$1.09")
        with a.expect_download() as download:
            a.click('[data-testid="csv-link"]')
        saved = tmp_path / "agency.csv"
        download.value.save_as(saved)
        rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
        assert sorted((r["party"], r["amount"]) for r in rows) == [
            ("agency", "1.09"),
            ("host", "2.18"),
        ]
        assert all(r["show"] == str(show_id) and r["contract"] == str(contract_id) for r in rows)
        # Nothing is left open, and the settlement is listed.
        a.go_back()
        a.reload()
        expect(a.locator('[data-testid="nothing-open"]')).to_be_visible()
        expect(a.locator('[data-testid="closed"] tbody tr')).to_have_count(1)

        # The brand closes its own: what buyers paid, split to the cent.
        m.goto(f"{base}/business/brands/{brand['id']}")
        m.click('[data-testid="brand-settlements"]')
        m.click('[data-testid="close-settlement"]')
        m.wait_for_url(f"{base}/settlements/*")
        total = m.locator('[data-testid="total-USD"]')
        expect(total.locator('[data-col="sales"]')).to_have_text("$21.80")
        expect(total.locator('[data-col="host"]')).to_have_text("$2.18")
        expect(total.locator('[data-col="agency"]')).to_have_text("$1.09")
        expect(total.locator('[data-col="brand"]')).to_have_text("$18.53")

        # The agency's name was shown on every page as text.
        for page in (a, h, m):
            assert page.evaluate("typeof window.__pwned") == "undefined"
        assert a_errors == [] and h_errors == [] and m_errors == []
    finally:
        a_ctx.close()
        h_ctx.close()
        m_ctx.close()
