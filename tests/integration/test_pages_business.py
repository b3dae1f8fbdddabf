"""The business pages over real HTTP: the forms of signing, contracts, bookings, settlements
and competitions, and what a person sees when the rules refuse what they typed."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.harness import LiveServer, SignIn, World
from tests.integration.test_business import agency_with_host

HOSTILE = "<img src=x onerror=alert(1)>"


def local(moment: datetime) -> str:
    """What a datetime-local field sends (here read in UTC: tz_offset 0)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def error_of(page: str) -> str:
    found = re.search(r'data-testid="form-error">([^<]*)<', page)
    assert found, "no form error on the page"
    return html.unescape(found[1])


def test_business_pages_send_signed_out_visitors_to_sign_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as http:
        for path in (
            "/business",
            "/business/agencies/1",
            "/business/brands/1",
            "/business/contracts/1",
            "/business/agency/1/settlements",
            "/business/competitions",
        ):
            r = http.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/signin?next="), path
        # A party that is no party is no page.
        assert http.get("/business/planet/1/settlements").status_code == 404


def test_contract_form_shows_the_refusals_as_messages(world: World, signed_in: SignIn) -> None:
    agent, agency, host = agency_with_host(world)
    merchant = world.person("Merchant")
    brand, products = world.brand_with_products(merchant, products=2)
    page = signed_in(merchant)
    csrf = page.csrf("/business")
    now = datetime.now(UTC)
    good = {
        "csrf_token": csrf,
        "tz_offset": "0",
        "agency_id": str(agency["id"]),
        "starts_at": local(now - timedelta(days=1)),
        "ends_at": local(now + timedelta(days=30)),
        "product_ids": str(products[0]["id"]),
        "rate_host_0": "10",
        "rate_agency_0": "5",
    }
    path = f"/business/brands/{brand['id']}/contracts"

    # Shares over 100%: a 422 with the rule in words, and the form keeps what was typed.
    r = page.post(path, {**good, "rate_host_0": "70", "rate_agency_0": "40"})
    assert r.status_code == 422
    assert error_of(r.text) == "The host's 70.00% and the agency's 40.00% come to more than 100%."
    assert 'name="rate_host_0" value="70"' in r.text
    assert f'value="{products[0]["id"]}" checked' in r.text

    # Dates: an end before the start, a start left out, a rate outside the contract.
    r = page.post(path, {**good, "ends_at": local(now - timedelta(days=2))})
    assert r.status_code == 422
    assert error_of(r.text) == "The contract must end after it starts."
    r = page.post(path, {**good, "starts_at": ""})
    assert r.status_code == 422
    assert "Give the contract" in error_of(r.text)
    r = page.post(path, {**good, "rate_ends_0": local(now + timedelta(days=60))})
    assert r.status_code == 422
    assert "runs outside the contract's dates" in error_of(r.text)
    r = page.post(path, {**good, "starts_at": "tomorrow"})
    assert r.status_code == 422
    assert error_of(r.text) == "The start time is YYYY-MM-DD HH:MM."

    # Neither or both parties.
    r = page.post(path, {**good, "agency_id": ""})
    assert r.status_code == 422
    assert "with an agency or with a host" in error_of(r.text)
    # Numbers that are no id or no amount.
    r = page.post(path, {**good, "agency_id": "", "host_id": "9" * 30})
    assert r.status_code == 422
    assert error_of(r.text) == "The host's user id is not a valid id."
    r = page.post(path, {**good, "fixed_fee": "lots"})
    assert r.status_code == 422
    assert error_of(r.text) == "Not an amount: 'lots'."

    # A share given for a category only: the hostile text stays text.
    r = page.post(path, {**good, "rate_category_1": HOSTILE, "rate_host_1": "200"})
    assert r.status_code == 422
    assert HOSTILE not in r.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in r.text

    r = page.post(path, good)
    assert r.status_code == 303, r.text
    contract_path = r.headers["location"]
    assert re.fullmatch(r"/business/contracts/\d+", contract_path)

    # The same products, the same agency, overlapping dates: a 409 that names the contract.
    r = page.post(path, good)
    assert r.status_code == 409
    contract_id = contract_path.rsplit("/", 1)[1]
    assert error_of(r.text) == (
        f"Contract {contract_id} already covers some of these products in these dates."
    )

    # Without the CSRF field nothing is offered; someone else's brand is not theirs to offer.
    r = page.post(path, {**good, "csrf_token": ""})
    assert r.status_code == 403
    stranger = signed_in(world.person("Stranger"))
    r = stranger.post(path, {**good, "csrf_token": stranger.csrf("/business")})
    assert r.status_code == 403
    assert stranger.get(f"/business/brands/{brand['id']}").status_code == 403
    assert stranger.get(contract_path).status_code == 403

    # The agency's staff see the offer and accept it; a show outside its dates is refused.
    agency_page = signed_in(agent)
    acsrf = agency_page.csrf("/business")
    assert (
        f'data-testid="contract-{contract_id}"'
        in agency_page.get(f"/business/agencies/{agency['id']}").text
    )
    r = agency_page.post(f"{contract_path}/accept", {"csrf_token": acsrf})
    assert r.status_code == 303
    book = {
        "csrf_token": acsrf,
        "tz_offset": "0",
        "title": "Too late",
        "host_id": str(host.id),
        "scheduled_at": local(now + timedelta(days=40)),
        "currency": "USD",
    }
    r = agency_page.post(f"{contract_path}/shows", book)
    assert r.status_code == 422
    assert "outside the contract" in error_of(r.text)
    assert 'value="Too late"' in r.text
    # Accepting twice is fine; declining an accepted contract is refused in words.
    assert agency_page.post(f"{contract_path}/accept", {"csrf_token": acsrf}).status_code == 303
    r = agency_page.post(f"{contract_path}/decline", {"csrf_token": acsrf})
    assert r.status_code == 409
    assert error_of(r.text) == "This contract is active."


def test_agency_invitation_settlement_and_competition_forms(
    world: World, signed_in: SignIn
) -> None:
    agent = signed_in(world.person("Agent"))
    csrf = agent.csrf("/business")
    r = agent.post("/business/agencies", {"csrf_token": csrf, "name": ""})
    assert r.status_code == 422
    assert 'data-testid="form-error"' in r.text
    name = f"{HOSTILE} {uuid.uuid4().hex[:6]}"
    r = agent.post("/business/agencies", {"csrf_token": csrf, "name": name})
    assert r.status_code == 303
    agency_path = r.headers["location"]
    agency_id = int(agency_path.rsplit("/", 1)[1])
    # Taken names are refused in words.
    r = agent.post("/business/agencies", {"csrf_token": csrf, "name": name})
    assert r.status_code == 409
    assert "exists" in error_of(r.text)

    page = agent.get(agency_path).text
    assert HOSTILE not in page and "&lt;img src=x" in page

    # Inviting: nobody by that email, somebody who is no host.
    invite = f"{agency_path}/invitations"
    r = agent.post(invite, {"csrf_token": csrf, "email": "nobody@example.com"})
    assert r.status_code == 404
    assert error_of(r.text) == "No account with email 'nobody@example.com'."
    viewer = world.person("Viewer")
    r = agent.post(invite, {"csrf_token": csrf, "email": viewer.email})
    assert r.status_code == 422
    assert "is not a host" in error_of(r.text)
    host = world.person("Host", host=True)
    assert agent.post(invite, {"csrf_token": csrf, "email": host.email}).status_code == 303

    # Only the invited host answers; the answer shows on the agency's page.
    hosted = signed_in(host)
    hcsrf = hosted.csrf("/business")
    desk = hosted.get("/business").text
    invitation_id = re.search(r'data-testid="accept-invitation-(\d+)"', desk)
    assert invitation_id, desk
    accept = f"/business/invitations/{invitation_id[1]}/accept"
    assert agent.post(accept, {"csrf_token": csrf}).status_code == 403
    assert hosted.post(accept, {"csrf_token": hcsrf}).status_code == 303
    assert f'data-testid="host-{host.id}"' in agent.get(agency_path).text
    r = hosted.post(f"/business/invitations/{invitation_id[1]}/decline", {"csrf_token": hcsrf})
    assert r.status_code == 409
    assert error_of(r.text) == "This invitation was accepted already."

    # Settlements: a period that is not over is refused; others' figures are not theirs.
    settle = f"/business/agency/{agency_id}/settlements"
    future = local(datetime.now(UTC) + timedelta(days=1))
    r = agent.post(settle, {"csrf_token": csrf, "tz_offset": "0", "period_end": future})
    assert r.status_code == 422
    assert "its end cannot be in the future" in error_of(r.text)
    assert hosted.get(settle).status_code == 403
    assert hosted.post(settle, {"csrf_token": hcsrf}).status_code == 403

    # Competitions: no entrants, entrants given as words, an end before the start.
    now = datetime.now(UTC)
    contest = {
        "csrf_token": csrf,
        "tz_offset": "0",
        "title": "Spring sprint",
        "organizer": f"agency:{agency_id}",
        "entrant_kind": "host",
        "entrant_ids": "",
        "metric": "units",
        "currency": "USD",
        "starts_at": local(now),
        "ends_at": local(now + timedelta(days=1)),
    }
    r = agent.post("/business/competitions", contest)
    assert r.status_code == 422
    assert error_of(r.text) == "A competition needs at least one entrant."
    r = agent.post("/business/competitions", {**contest, "entrant_ids": "Ada"})
    assert r.status_code == 422
    assert error_of(r.text) == "An entrant id is a whole number."
    r = agent.post(
        "/business/competitions", {**contest, "entrant_ids": str(host.id), "ends_at": local(now)}
    )
    assert r.status_code == 422
    assert error_of(r.text) == "The competition must end after it starts."
    r = agent.post("/business/competitions", {**contest, "entrant_ids": f"{host.id}"})
    assert r.status_code == 303
    assert re.fullmatch(r"/competitions/\d+", r.headers["location"])
    # A host may not run the agency's competitions.
    r = hosted.post("/business/competitions", {**contest, "csrf_token": hcsrf})
    assert r.status_code == 403

    # A battle needs two shows on air.
    r = agent.post(
        "/business/battles",
        {"csrf_token": csrf, "show_id": "999999", "opponent_show_id": "999998", "minutes": "5"},
    )
    assert r.status_code == 404
    assert 'data-testid="form-error"' in r.text


def test_a_host_starts_a_battle_from_the_page(world: World, signed_in: SignIn) -> None:
    ada, bea = world.person("Ada", host=True), world.person("Bea", host=True)
    show_a, _ = world.live_show(ada, listings=1)
    show_b, _ = world.live_show(bea, listings=1)
    page = signed_in(ada)
    csrf = page.csrf("/business")
    assert 'data-testid="battle-form"' in page.get("/business/competitions").text
    battle = {
        "csrf_token": csrf,
        "show_id": str(show_a["id"]),
        "opponent_show_id": str(show_b["id"]),
        "minutes": "3",
    }
    r = page.post("/business/battles", {**battle, "minutes": "90"})
    assert r.status_code == 422
    assert error_of(r.text) == "A battle lasts 1 to 60 minutes."
    r = page.post("/business/battles", battle)
    assert r.status_code == 303
    assert r.headers["location"] == f"/shows/{show_a['id']}/console"
    r = page.post("/business/battles", battle)
    assert r.status_code == 409
    assert error_of(r.text) == "One of the two shows is in a battle already; wait for its result."
    # A viewer may not start one between others' shows.
    viewer = signed_in(world.person("Viewer"))
    r = viewer.post("/business/battles", {**battle, "csrf_token": viewer.csrf("/business")})
    assert r.status_code == 403


def test_who_sees_which_business_page(world: World, signed_in: SignIn) -> None:
    agent, agency, host = agency_with_host(world)
    merchant = world.person("Merchant")
    brand, _ = world.brand_with_products(merchant, products=1)
    now = datetime.now(UTC)
    r = merchant.post(
        "/contracts",
        json={
            "brand_id": brand["id"],
            "agency_id": agency["id"],
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=5)).isoformat(),
            "rates": [{"host_share": "10", "agency_share": "5"}],
        },
    )
    assert r.status_code == 201, r.text
    people = {
        "viewer": world.person("Viewer"),
        "host": host,
        "agency": agent,
        "merchant": merchant,
        "other_merchant": world.person("Other merchant"),
        "admin": world.person("Admin", admin=True),
    }
    world.brand_with_products(people["other_merchant"], products=1)
    pages = {
        # Everyone signed in has a desk and the contest forms (the services judge each post).
        "/business": set(people),
        "/business/competitions": set(people),
        f"/business/agencies/{agency['id']}": {"agency", "admin"},
        f"/business/brands/{brand['id']}": {"merchant", "admin"},
        f"/business/contracts/{r.json()['id']}": {"agency", "merchant", "admin"},
        f"/business/agency/{agency['id']}/settlements": {"agency", "admin"},
        f"/business/brand/{brand['id']}/settlements": {"merchant", "admin"},
        f"/business/host/{host.id}/settlements": {"host", "admin"},
    }
    for role, person in people.items():
        page = signed_in(person)
        for path, allowed in pages.items():
            expected = 200 if role in allowed else 403
            assert page.get(path).status_code == expected, (role, path)
    # The contract's page offers its answer to the agency only.
    contract = f"/business/contracts/{r.json()['id']}"
    assert 'data-testid="accept-contract"' in signed_in(agent).get(contract).text
    assert 'data-testid="accept-contract"' not in signed_in(merchant).get(contract).text


def test_a_host_with_a_direct_contract_answers_and_books_on_the_page(
    world: World, signed_in: SignIn
) -> None:
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    brand, _ = world.brand_with_products(merchant, products=1)
    now = datetime.now(UTC)
    r = merchant.post(
        "/contracts",
        json={
            "brand_id": brand["id"],
            "host_id": host.id,
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=5)).isoformat(),
            "rates": [{"host_share": "12.5"}],
            "fixed_fee": "50",
        },
    )
    assert r.status_code == 201, r.text
    contract = f"/business/contracts/{r.json()['id']}"
    page = signed_in(host)
    csrf = page.csrf("/business")
    desk = page.get("/business").text
    assert f'href="{contract}"' in desk
    assert page.post(f"{contract}/accept", {"csrf_token": csrf}).status_code == 303
    shown = page.get(contract).text
    assert "12.50%" in shown and "$50.00" in shown
    r = page.post(
        f"{contract}/shows",
        {
            "csrf_token": csrf,
            "tz_offset": "480",
            "title": "Direct deal live",
            "host_id": str(host.id),
            "scheduled_at": local(now + timedelta(hours=8, minutes=30)),
            "currency": "USD",
        },
    )
    assert r.status_code == 303, r.text
    show_id = int(r.headers["location"].rsplit("/", 1)[1])
    show = host.get(f"/shows/{show_id}").json()
    assert show["title"] == "Direct deal live"
    # Read at UTC+8: half an hour from now.
    assert abs(datetime.fromisoformat(show["scheduled_at"]) - (now + timedelta(minutes=30))) < (
        timedelta(minutes=1)
    )
