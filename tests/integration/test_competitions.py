"""Sales competitions and head-to-head battles, through the real API and room sockets.

A battle between two live shows is driven by simulated buyers buying and paying with
sandbox cards at once in both shows: both rooms see the same score, and the show with more
units wins. A competition is run through the API from entering hosts to fixed winners,
with a refund moving the live ranking and a later one leaving the result alone.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.harness import Buyer, Person, World, bulk_buyers
from tests.integration.test_business import agency_with_host, error, iso, now
from tests.integration.test_checkout import ADDRESS, GOOD_CARD, key


def _live_show(world: World, host: Person, product_id: int) -> tuple[int, int, int]:
    """A show on air with one item, a product at 10.90: (show id, listing id, variant id)."""
    r = host.post("/shows", json={"title": f"{host.display_name} live"})
    assert r.status_code == 201, r.text
    show_id = r.json()["id"]
    r = host.post(f"/shows/{show_id}/shelf", json={"product_id": product_id})
    assert r.status_code == 201, r.text
    listing = r.json()
    assert host.post(f"/shows/{show_id}/live").status_code == 200
    return show_id, listing["id"], listing["variants"][0]["id"]


def _merchant(world: World) -> tuple[Person, int, int]:
    """A merchant, its brand and its one product (two shades at 10.90, 50 of each)."""
    merchant = world.person("Merchant")
    brand, products = world.brand_with_products(merchant, products=1)
    return merchant, brand["id"], products[0]["id"]


def sell(world: World, buyer: Buyer, show: tuple[int, int, int], quantity: int) -> int:
    """A simulated buyer buys `quantity` of the show's item and pays with a good card; the
    order's id (paid a moment later, when the sandbox's webhook arrives)."""
    show_id, listing_id, variant_id = show
    with httpx.Client(
        base_url=world.server.base_url + "/api/v1",
        headers={"Authorization": f"Bearer {buyer.token}"},
        timeout=20,
    ) as client:
        r = client.post(
            f"/shows/{show_id}/orders",
            json={
                "listing_id": listing_id,
                "variant_id": variant_id,
                "quantity": quantity,
                "idempotency_key": key(),
            },
        )
        assert r.status_code == 201, r.text
        order_id = int(r.json()["id"])
        r = client.post(f"/orders/{order_id}/pay", json={"card": GOOD_CARD})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 15
        while client.get(f"/orders/{order_id}").json()["status"] != "paid":
            assert time.monotonic() < deadline, f"order {order_id} was not paid"
            time.sleep(0.05)
    return order_id


def _units(event: dict[str, Any]) -> dict[int, int]:
    return {side["show_id"]: side["units"] for side in event["data"]["battle"]["sides"]}


def test_a_battle_driven_by_buyers_both_rooms_see_one_score_and_more_units_win(
    world: World,
) -> None:
    merchant, _, item = _merchant(world)
    ada, bea = world.person("Ada", host=True), world.person("Bea <b>", host=True)
    a, b = _live_show(world, ada, item), _live_show(world, bea, item)
    buyers = bulk_buyers(world.server.settings.db_url, 8, address=ADDRESS)
    # Sold before the battle: not part of its score.
    sell(world, buyers[0], b, 5)
    with world.socket(a[0]) as room_a, world.socket(b[0]) as room_b:
        assert room_a.snapshot()["battle"] is None and room_b.snapshot()["battle"] is None
        r = ada.post(
            "/battles", json={"show_id": a[0], "opponent_show_id": b[0], "duration_seconds": 600}
        )
        assert r.status_code == 201, r.text
        battle = r.json()
        assert battle["status"] == "running" and _units({"data": {"battle": battle}}) == {
            a[0]: 0,
            b[0]: 0,
        }
        for room in (room_a, room_b):
            started = room.wait_for("battle.updated")
            assert started["data"]["battle"]["id"] == battle["id"]
            assert started["data"]["battle"]["ends_at"] == battle["ends_at"]

        # Buyers in both shows at once: A sells 2 + 1 + 1 = 4 units; B sells 2 + 3, then
        # the 3 are refunded, so B's score is 2. An order never paid counts for nobody.
        plan = [(buyers[2], a, 2), (buyers[3], a, 1), (buyers[4], a, 1)]
        plan += [(buyers[5], b, 2), (buyers[6], b, 3)]
        with ThreadPoolExecutor(max_workers=len(plan)) as pool:
            orders = list(pool.map(lambda step: sell(world, *step), plan))
        unpaid = httpx.post(
            f"{world.server.base_url}/api/v1/shows/{a[0]}/orders",
            headers={"Authorization": f"Bearer {buyers[7].token}"},
            json={"listing_id": a[1], "variant_id": a[2], "quantity": 9, "idempotency_key": key()},
        )
        assert unpaid.status_code == 201, unpaid.text
        for room in (room_a, room_b):
            room.wait_for("battle.score", lambda e: _units(e) == {a[0]: 4, b[0]: 5}, timeout=15)
        r = merchant.post(f"/orders/{orders[-1]}/refund")
        assert r.status_code == 200, r.text
        scores = [
            room.wait_for("battle.score", lambda e: _units(e) == {a[0]: 4, b[0]: 2}, timeout=15)
            for room in (room_a, room_b)
        ]
        # Both rooms got the very same score, as state events in their own seq.
        assert scores[0]["data"] == scores[1]["data"]
        assert all(e["seq"] > 0 for e in scores)

        # B's host calls time; the result reaches both rooms.
        r = bea.post(f"/battles/{battle['id']}/end")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ended" and r.json()["winner_show_id"] == a[0]
        results = [
            room.wait_for("battle.updated", lambda e: e["data"]["battle"]["status"] == "ended")
            for room in (room_a, room_b)
        ]
        assert results[0]["data"] == results[1]["data"]
        final = results[0]["data"]["battle"]
        assert final["winner_show_id"] == a[0] and not final["draw"]
        assert _units(results[0]) == {a[0]: 4, b[0]: 2}
        # Ending it again changes nothing; the result stays fixed after a late refund.
        r = ada.post(f"/battles/{battle['id']}/end")
        assert r.status_code == 200 and r.json()["ended_at"] == final["ended_at"]
        assert merchant.post(f"/orders/{orders[0]}/refund").status_code == 200
    # A viewer who comes in later sees the result in the snapshot.
    with world.socket(b[0]) as late:
        shown = late.snapshot()["battle"]
        assert shown["id"] == battle["id"] and shown["winner_show_id"] == a[0]
        assert {s["show_id"]: s["units"] for s in shown["sides"]} == {a[0]: 4, b[0]: 2}
        assert shown["sides"][1]["host"]["display_name"] == bea.display_name
    assert world.anonymous.get(f"/battles/{battle['id']}").json()["status"] == "ended"


def test_a_battle_ends_by_itself_when_time_is_up_and_bad_requests_are_refused(
    world: World,
) -> None:
    _, _, item = _merchant(world)
    ada, bea = world.person("Ada", host=True), world.person("Bea", host=True)
    a, b = _live_show(world, ada, item), _live_show(world, bea, item)
    with world.socket(a[0]) as room_a, world.socket(b[0]) as room_b:
        room_a.snapshot()
        room_b.snapshot()
        body = {"show_id": a[0], "opponent_show_id": b[0], "duration_seconds": 10}
        r = bea.post("/battles", json={**body, "show_id": b[0], "opponent_show_id": a[0]})
        assert r.status_code == 201, r.text
        battle = r.json()

        # While it runs, what is refused, with a clear code.
        scheduled = ada.post("/shows", json={"title": "Later"}).json()["id"]
        cases: list[tuple[Person | httpx.Client, dict[str, Any], int, str]] = [
            (ada, body, 409, "battle_running"),
            (ada, {**body, "opponent_show_id": a[0]}, 422, "same_show"),
            (ada, {**body, "opponent_show_id": scheduled}, 409, "show_not_live"),
            (ada, {**body, "opponent_show_id": 2**40}, 404, "show_not_found"),
            (ada, {**body, "duration_seconds": 5}, 422, "invalid_input"),
            (ada, {**body, "duration_seconds": "60"}, 422, "invalid_input"),
            (world.person("Viewer"), body, 403, "forbidden"),
            (world.anonymous, body, 401, "not_signed_in"),
        ]
        for who, sent, status, code in cases:
            r = who.post("/battles", json=sent)
            assert (r.status_code, error(r)) == (status, code), (sent, r.text)
        r = ada.post("/battles/999999999/end")
        assert r.status_code == 404 and error(r) == "battle_not_found"
        r = world.person("Stranger", host=True).post(f"/battles/{battle['id']}/end")
        assert r.status_code == 403 and error(r) == "forbidden"

        # Nothing sold: a draw, announced in both rooms when the time is up.
        results = [
            room.wait_for(
                "battle.updated", lambda e: e["data"]["battle"]["status"] == "ended", timeout=20
            )
            for room in (room_a, room_b)
        ]
        assert results[0]["data"] == results[1]["data"]
        final = results[0]["data"]["battle"]
        assert final["draw"] and final["winner_show_id"] is None
        assert datetime.fromisoformat(final["ended_at"]) >= datetime.fromisoformat(
            battle["ends_at"]
        )
    # Once it is over, a new battle between the same shows may start.
    r = ada.post("/battles", json=body)
    assert r.status_code == 201, r.text


def _standing(competition: dict[str, Any]) -> list[tuple[int, int, int, str]]:
    """(rank, entrant id, units, GMV) per row, best first."""
    return [
        (row["rank"], row["entrant"]["id"], row["units"], row["gmv"]["amount"])
        for row in competition["standings"]
    ]


def _final(world: World, competition_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        found: dict[str, Any] = world.anonymous.get(f"/competitions/{competition_id}").json()
        if found["status"] == "final":
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.2)


def test_a_competition_from_entrants_to_winners(world: World) -> None:
    agent, agency, ada = agency_with_host(world)
    bea = world.person("Bea <i>", host=True)
    invited = agent.post(f"/agencies/{agency['id']}/invitations", json={"email": bea.email})
    assert bea.post(f"/invitations/{invited.json()['id']}/accept").status_code == 200
    merchant, brand_id, item = _merchant(world)
    a, b = _live_show(world, ada, item), _live_show(world, bea, item)
    started = now() - timedelta(minutes=1)
    contest = {
        "title": "  Singles' Day   <script>x</script>",
        "agency_id": agency["id"],
        "entrant_kind": "host",
        "entrant_ids": [ada.id, bea.id],
        "metric": "gmv",
        "currency": "USD",
        "starts_at": iso(started),
        "ends_at": iso(now() + timedelta(hours=1)),
    }
    r = agent.post("/competitions", json=contest)
    assert r.status_code == 201, r.text
    live = r.json()
    assert live["title"] == "Singles' Day <script>x</script>"
    assert live["status"] == "running" and live["winners"] == []
    assert live["organizer"] == {"kind": "agency", "id": agency["id"], "name": agency["name"]}
    assert _standing(live) == [(1, ada.id, 0, "0.00"), (1, bea.id, 0, "0.00")]

    # Sales: Ada 2 + 1 units of a 10.90 item; Bea 4 and 1. Each item is 10.90.
    buyers = bulk_buyers(world.server.settings.db_url, 4, address=ADDRESS)
    plan = [(buyers[0], a, 2), (buyers[1], a, 1), (buyers[2], b, 4), (buyers[3], b, 1)]
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        orders = list(pool.map(lambda step: sell(world, *step), plan))
    board = world.anonymous.get(f"/competitions/{live['id']}").json()
    assert _standing(board) == [(1, bea.id, 5, "54.50"), (2, ada.id, 3, "32.70")]
    assert [w["id"] for w in board["winners"]] == [bea.id]  # the leader, for now

    # A refund moves the live ranking at once.
    assert merchant.post(f"/orders/{orders[2]}/refund").status_code == 200
    board = world.anonymous.get(f"/competitions/{live['id']}").json()
    assert _standing(board) == [(1, ada.id, 3, "32.70"), (2, bea.id, 1, "10.90")]

    # The same sales under other rules: by units, the shows as entrants (an admin's
    # contest); in euros nothing counts; a brand's contest counts its products' orders.
    admin = world.person("Admin", admin=True)
    by_units = admin.post(
        "/competitions",
        json={**contest, "agency_id": None, "entrant_kind": "show", "entrant_ids": [b[0], a[0]],
              "metric": "units"},
    )  # fmt: skip
    assert by_units.status_code == 201, by_units.text
    assert _standing(by_units.json()) == [(1, a[0], 3, "32.70"), (2, b[0], 1, "10.90")]
    assert by_units.json()["standings"][0]["entrant"]["host"]["id"] == ada.id
    euros = agent.post("/competitions", json={**contest, "currency": "EUR"}).json()
    assert [row["units"] for row in euros["standings"]] == [0, 0] and euros["winners"] == []
    brand_contest = {**contest, "agency_id": None, "brand_id": brand_id, "entrant_kind": "show"}
    r = merchant.post("/competitions", json={**brand_contest, "entrant_ids": [a[0], b[0]]})
    assert r.status_code == 201, r.text
    assert _standing(r.json())[0] == (1, a[0], 3, "32.70")

    # A contest that ends in a moment over the same sales: the winners are fixed at its end.
    short = agent.post(
        "/competitions", json={**contest, "ends_at": iso(now() + timedelta(seconds=2))}
    )
    assert short.status_code == 201, short.text
    final = _final(world, short.json()["id"])
    assert _standing(final) == [(1, ada.id, 3, "32.70"), (2, bea.id, 1, "10.90")]
    assert [w["id"] for w in final["winners"]] == [ada.id] and final["final_at"]
    # A refund after the end leaves the result alone; the running contest moves.
    assert merchant.post(f"/orders/{orders[0]}/refund").status_code == 200
    assert (
        world.anonymous.get(f"/competitions/{short.json()['id']}").json()["standings"]
        == (final["standings"])
    )
    board = world.anonymous.get(f"/competitions/{live['id']}").json()
    assert _standing(board) == [(1, ada.id, 1, "10.90"), (1, bea.id, 1, "10.90")]
    assert {w["id"] for w in board["winners"]} == {ada.id, bea.id}

    # The leaderboard page and the list: figures as the API gives them, names as text.
    page = httpx.get(f"{world.server.base_url}/competitions/{short.json()['id']}")
    assert page.status_code == 200
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text and "<script>x</script>" not in page.text
    assert "Bea &lt;i&gt;" in page.text and "Winner: " + ada.display_name in page.text
    listing = httpx.get(f"{world.server.base_url}/competitions")
    assert listing.status_code == 200 and f"/competitions/{live['id']}" in listing.text
    ids = [c["id"] for c in world.anonymous.get("/competitions").json()]
    assert {live["id"], short.json()["id"]} <= set(ids)


def test_bad_competitions_are_refused_with_a_clear_answer(world: World) -> None:
    agent, agency, ada = agency_with_host(world)
    outsider = world.person("Outsider", host=True)
    viewer = world.person("Viewer")
    merchant = world.person("Merchant")
    brand, _ = world.brand_with_products(merchant, products=1)
    other_show = outsider.post("/shows", json={"title": "Not theirs"}).json()["id"]
    base = {
        "title": "Spring contest",
        "agency_id": agency["id"],
        "entrant_kind": "host",
        "entrant_ids": [ada.id],
        "currency": "USD",
        "starts_at": iso(now()),
        "ends_at": iso(now() + timedelta(days=7)),
    }
    cases: list[tuple[Person | httpx.Client, dict[str, Any], int, str]] = [
        (agent, {"entrant_ids": []}, 422, "no_entrants"),
        (agent, {"ends_at": iso(now() - timedelta(days=1))}, 422, "invalid_period"),
        (
            agent,
            {"starts_at": iso(now() - timedelta(days=3)), "ends_at": iso(now() - timedelta(1))},
            422,
            "competition_over",
        ),
        (agent, {"ends_at": iso(now() + timedelta(days=400))}, 422, "window_too_long"),
        (agent, {"starts_at": "2026-01-01T00:00:00"}, 422, "invalid_time"),
        (agent, {"entrant_ids": [viewer.id]}, 422, "not_a_host"),
        (agent, {"entrant_ids": [2**40]}, 422, "entrant_not_found"),
        (agent, {"entrant_kind": "show", "entrant_ids": [2**40]}, 422, "entrant_not_found"),
        (agent, {"entrant_ids": [ada.id, ada.id]}, 422, "duplicate_entrants"),
        (agent, {"entrant_ids": [ada.id, outsider.id]}, 409, "entrant_not_eligible"),
        (agent, {"entrant_kind": "show", "entrant_ids": [other_show]}, 409, "entrant_not_eligible"),
        (agent, {"entrant_kind": "brand"}, 422, "invalid_input"),
        (agent, {"metric": "likes"}, 422, "invalid_input"),
        (agent, {"currency": "XYZ"}, 422, "invalid_currency"),
        (agent, {"title": "   "}, 422, "invalid_title"),
        (agent, {"entrant_ids": [0]}, 422, "invalid_input"),
        (agent, {"brand_id": brand["id"]}, 422, "one_organizer"),
        (agent, {"agency_id": 2**40}, 403, "forbidden"),
        (merchant, {"agency_id": None, "brand_id": brand["id"]}, 422, "invalid_entrant_kind"),
        (
            merchant,
            {"agency_id": None, "brand_id": brand["id"], "entrant_kind": "show",
             "entrant_ids": [other_show]},
            409,
            "entrant_not_eligible",
        ),
        (viewer, {}, 403, "forbidden"),
        (agent, {"agency_id": None}, 403, "forbidden"),
        (world.anonymous, {}, 401, "not_signed_in"),
    ]  # fmt: skip
    for who, change, status, code in cases:
        r = who.post("/competitions", json={**base, **change})
        assert (r.status_code, error(r)) == (status, code), (change, r.text)
        assert r.json()["error"]["message"]
    r = agent.post("/competitions", json=base)
    assert r.status_code == 201, r.text
    r = world.anonymous.get("/competitions/999999999")
    assert r.status_code == 404 and error(r) == "competition_not_found"
    page = httpx.get(f"{world.server.base_url}/competitions/999999999")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    r = world.anonymous.get(f"/competitions/{2**63}")
    assert r.status_code == 422
