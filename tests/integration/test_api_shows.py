from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert

from hawker.services.accounts import utcnow
from hawker.store.db import is_sqlite, sync_engine
from hawker.store.tables import ChatMessage
from tests.harness import World


def _numbers(shelf: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(item["number"], item["id"]) for item in shelf]


def test_a_show_is_scheduled_goes_live_and_ends_once(world: World) -> None:
    host = world.person("Host", host=True)
    r = host.post(
        "/shows", json={"title": "Spring drop", "scheduled_at": "2030-01-01T10:00:00+08:00"}
    )
    assert r.status_code == 422  # more than a year ahead
    r = host.post("/shows", json={"title": "Spring drop", "description": "New shades"})
    assert r.status_code == 201, r.text
    show = r.json()
    assert show["status"] == "scheduled"
    assert show["host"]["id"] == host.id
    assert "stream_key" not in show
    sid = show["id"]
    assert sid in [
        s["id"] for s in world.anonymous.get("/shows", params={"status": "scheduled"}).json()
    ]
    live = host.post(f"/shows/{sid}/live")
    assert live.status_code == 200, live.text
    assert live.json()["status"] == "live" and live.json()["started_at"]
    assert host.post(f"/shows/{sid}/live").status_code == 200  # pressing twice is fine
    assert sid in [s["id"] for s in world.anonymous.get("/shows", params={"status": "live"}).json()]
    ended = host.post(f"/shows/{sid}/end")
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended" and ended.json()["ended_at"]
    again = host.post(f"/shows/{sid}/live")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "show_ended"
    assert world.anonymous.get(f"/shows/{sid}").json()["status"] == "ended"


def test_only_hosts_schedule_and_only_their_own(world: World) -> None:
    host, other, viewer = (
        world.person("Host", host=True),
        world.person("Other", host=True),
        world.person("V"),
    )
    assert viewer.post("/shows", json={"title": "Mine"}).status_code == 403
    assert world.anonymous.post("/shows", json={"title": "Mine"}).status_code == 401
    r = other.post("/shows", json={"title": "For you", "host_id": host.id})
    assert r.status_code == 403
    sid = host.post("/shows", json={"title": "Mine"}).json()["id"]
    for method, path, body in [
        ("patch", f"/shows/{sid}", {"title": "Taken over"}),
        ("post", f"/shows/{sid}/live", None),
        ("post", f"/shows/{sid}/end", None),
        ("get", f"/shows/{sid}/stream-key", None),
        ("post", f"/shows/{sid}/moderators", {"email": other.email}),
    ]:
        r = getattr(other, method)(path, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    assert world.anonymous.get(f"/shows/{sid}").json()["title"] == "Mine"


def test_the_stream_key_is_the_hosts_secret(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    sid = host.post("/shows", json={"title": "Secret"}).json()["id"]
    r = host.get(f"/shows/{sid}/stream-key")
    assert r.status_code == 200
    key = r.json()["stream_key"]
    assert len(key) > 20
    assert viewer.get(f"/shows/{sid}/stream-key").status_code == 403
    assert world.anonymous.get(f"/shows/{sid}/stream-key").status_code == 401
    assert viewer.post(f"/shows/{sid}/stream-key").status_code == 403
    for public in (f"/shows/{sid}", f"/shows/{sid}/snapshot", "/shows"):
        assert key not in viewer.get(public).text
    rotated = host.post(f"/shows/{sid}/stream-key").json()["stream_key"]
    assert rotated != key
    assert host.get(f"/shows/{sid}/stream-key").json()["stream_key"] == rotated


def test_shelf_numbers_are_1_to_n_through_add_reorder_and_remove(world: World) -> None:
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=4)
    sid = host.post("/shows", json={"title": "Shelf"}).json()["id"]
    ids = []
    for product in products:
        r = host.post(f"/shows/{sid}/shelf", json={"product_id": product["id"]})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        assert r.json()["number"] == len(ids)
    a, b, c, d = ids
    assert _numbers(world.anonymous.get(f"/shows/{sid}/shelf").json()) == [
        (1, a),
        (2, b),
        (3, c),
        (4, d),
    ]
    r = host.put(f"/shows/{sid}/shelf/order", json={"listing_ids": [d, b, a, c]})
    assert r.status_code == 200, r.text
    assert _numbers(r.json()) == [(1, d), (2, b), (3, a), (4, c)]
    bad = host.put(f"/shows/{sid}/shelf/order", json={"listing_ids": [d, b, a]})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_order"
    r = host.delete(f"/shows/{sid}/shelf/{b}")
    assert r.status_code == 200, r.text
    assert _numbers(r.json()) == [(1, d), (2, a), (3, c)]
    assert _numbers(world.anonymous.get(f"/shows/{sid}/shelf").json()) == [(1, d), (2, a), (3, c)]
    r = host.patch(f"/shows/{sid}/shelf/{a}", json={"price": "5.555"})
    assert r.status_code == 200, r.text
    assert r.json()["price"] == {"amount": "5.56", "currency": "USD"}
    assert r.json()["number"] == 2


def test_a_listing_offers_chosen_variants_at_a_live_price(world: World) -> None:
    host, merchant = world.person("Host", host=True), world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=1, variants=3)
    variants = products[0]["variants"]
    sid = host.post("/shows", json={"title": "Deals"}).json()["id"]
    r = host.post(
        f"/shows/{sid}/shelf",
        json={"product_id": products[0]["id"], "price": "7.5", "variant_ids": [variants[1]["id"]]},
    )
    assert r.status_code == 201, r.text
    listing = r.json()
    assert listing["price"] == {"amount": "7.50", "currency": "USD"}
    assert [v["id"] for v in listing["variants"]] == [variants[1]["id"]]
    assert listing["in_stock"] == variants[1]["stock"]
    r = host.post(
        f"/shows/{sid}/shelf", json={"product_id": products[0]["id"], "variant_ids": [987654321]}
    )
    assert r.status_code == 422
    jpy = host.post("/shows", json={"title": "Tokyo", "currency": "JPY"}).json()["id"]
    r = host.post(f"/shows/{jpy}/shelf", json={"product_id": products[0]["id"]})
    assert r.status_code == 409  # a USD product in a yen show needs a USD -> JPY rate
    assert r.json()["error"]["code"] == "no_exchange_rate"
    admin = world.person("Admin", admin=True)
    assert admin.put("/rates/USD/JPY", json={"rate": "150"}).status_code == 201
    r = host.post(f"/shows/{jpy}/shelf", json={"product_id": products[0]["id"], "price": "1980.5"})
    assert r.json()["price"] == {"amount": "1981", "currency": "JPY"}


def test_pin_and_unpin(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    r = viewer.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    assert (
        world.anonymous.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]}).status_code
        == 401
    )
    viewer.post(f"/shows/{sid}/chat", json={"body": "#2 please"})
    r = host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]})
    assert r.status_code == 200
    assert r.json()["number"] == 2
    # The item as the shelf has it, its requests counted.
    assert r.json() == viewer.get(f"/shows/{sid}/shelf").json()[1]
    assert r.json()["requests"] == 1
    snap = viewer.get(f"/shows/{sid}/snapshot").json()
    assert snap["pinned"]["id"] == shelf[1]["id"]
    assert snap["show"]["pinned_listing_id"] == shelf[1]["id"]
    assert host.delete(f"/shows/{sid}/pin").status_code == 204
    assert viewer.get(f"/shows/{sid}/snapshot").json()["pinned"] is None
    other = world.live_show(world.person("Host2", host=True), listings=1)[1][0]
    r = host.put(f"/shows/{sid}/pin", json={"listing_id": other["id"]})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "listing_not_found"
    # The refused pin is no chapter of the replay, and the show's pin is as it was.
    chapters = viewer.get(f"/shows/{sid}/chapters").json()
    assert [(c["number"], c["title"]) for c in chapters] == [(2, shelf[1]["product"]["title"])]
    assert viewer.get(f"/shows/{sid}/snapshot").json()["pinned"] is None


def test_a_pin_does_not_wait_for_chat_being_written(world: World) -> None:
    """A chat message (an order, a pin) being written keeps its show's key locked for share
    until it commits; the host's pin locks the show without conflicting with that."""
    url = world.server.settings.db_url
    if is_sqlite(url):
        pytest.skip("SQLite locks the whole database for a write: no row locks to share")
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=2)
    engine = sync_engine(url)
    try:
        with engine.connect() as writing:
            writing.execute(
                insert(ChatMessage).values(
                    show_id=show["id"], user_id=viewer.id, body="hi", hidden=False,
                    created_at=utcnow(),
                )
            )  # fmt: skip
            # Not committed yet. A FOR UPDATE lock on the show would wait for it (here, for
            # ever: the client's timeout would end the test).
            r = host.put(f"/shows/{show['id']}/pin", json={"listing_id": shelf[1]["id"]})
            assert r.status_code == 200
            writing.rollback()
    finally:
        engine.dispose()


def test_an_ended_show_keeps_its_shelf(world: World) -> None:
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=2)
    host.post(f"/shows/{show['id']}/end")
    r = host.delete(f"/shows/{show['id']}/shelf/{shelf[0]['id']}")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "show_ended"
    assert len(world.anonymous.get(f"/shows/{show['id']}/shelf").json()) == 2


def test_unknown_ids_are_404_with_stable_codes(world: World) -> None:
    host = world.person("Host", host=True)
    sid = host.post("/shows", json={"title": "Real"}).json()["id"]
    cases = [
        (world.anonymous.get("/shows/987654321"), "show_not_found"),
        (world.anonymous.get("/shows/987654321/shelf"), "show_not_found"),
        (world.anonymous.get("/shows/987654321/chat"), "show_not_found"),
        (host.post("/shows/987654321/live"), "show_not_found"),
        (host.post(f"/shows/{sid}/shelf", json={"product_id": 987654321}), "product_not_found"),
        (host.patch(f"/shows/{sid}/shelf/987654321", json={"price": "1"}), "listing_not_found"),
        (host.delete(f"/shows/{sid}/shelf/987654321"), "listing_not_found"),
        (host.put(f"/shows/{sid}/pin", json={"listing_id": 987654321}), "listing_not_found"),
        (host.post(f"/shows/{sid}/chat/987654321/hide"), "message_not_found"),
        (host.put(f"/shows/{sid}/sanctions/987654321", json={"ban": True}), "user_not_found"),
    ]
    for r, code in cases:
        assert r.status_code == 404, (code, r.text)
        assert r.json()["error"]["code"] == code


def _assert_422(r: Any) -> None:
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)


def test_invalid_input_is_422_never_500(world: World) -> None:
    host = world.person("Host", host=True)
    sid = host.post("/shows", json={"title": "Real"}).json()["id"]
    huge = 2**70
    for r in [
        host.post("/shows", json={"title": 5}),
        host.post("/shows", json={"title": ""}),
        host.post("/shows", json={"title": "x", "unknown": 1}),
        host.post("/shows", json={"title": "x", "currency": "usd"}),
        host.post("/shows", json={"title": "x", "scheduled_at": "2026-01-01T10:00:00"}),
        host.post("/shows", json={"title": "x", "host_id": True}),
        host.post("/shows", content=b"{not json", headers={"Content-Type": "application/json"}),
        host.post("/shows", json={"title": "nul\x00in title"}),
        host.get("/shows/not-a-number"),
        host.get(f"/shows/{huge}"),
        host.get("/shows", params={"host_id": str(huge)}),
        host.get("/shows", params={"status": "paused"}),
        host.get(f"/shows/{sid}/chat", params={"limit": 0}),
        host.put(f"/shows/{sid}/pin", json={"listing_id": huge}),
        host.put(f"/shows/{sid}/shelf/order", json={"listing_ids": [1.5]}),
        host.patch(f"/shows/{sid}/chat-settings", json={"slow_mode_seconds": 99999}),
        host.patch(f"/shows/{sid}/chat-settings", json={"slow_mode_seconds": True}),
        host.post(f"/shows/{sid}/likes", json={"count": 101}),
        host.post(f"/shows/{sid}/chat", json={"body": "x" * 301}),
        host.post(f"/shows/{sid}/chat", json={"body": "   "}),
    ]:
        _assert_422(r)


def test_a_method_a_path_does_not_serve_is_405_with_allow(world: World) -> None:
    host = world.person("Host", host=True)
    sid = host.post("/shows", json={"title": "Real"}).json()["id"]
    r = host.delete("/shows")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    r = host.patch(f"/shows/{sid}/shelf/order", json={"listing_ids": []})
    assert r.status_code == 405
    assert r.headers["allow"] == "PUT"


def test_moderators_are_added_and_removed_by_the_host(world: World) -> None:
    host, helper = world.person("Host", host=True), world.person("Helper")
    show, shelf = world.live_show(host, listings=1)
    sid = show["id"]
    assert helper.put(f"/shows/{sid}/pin", json={"listing_id": shelf[0]["id"]}).status_code == 403
    r = host.post(f"/shows/{sid}/moderators", json={"email": helper.email})
    assert r.status_code == 200, r.text
    assert [m["id"] for m in host.get(f"/shows/{sid}/moderators").json()] == [helper.id]
    assert helper.put(f"/shows/{sid}/pin", json={"listing_id": shelf[0]["id"]}).status_code == 200
    assert host.delete(f"/shows/{sid}/moderators/{helper.id}").status_code == 204
    assert helper.delete(f"/shows/{sid}/pin").status_code == 403
    assert (
        host.post(f"/shows/{sid}/moderators", json={"email": "nobody@example.com"}).status_code
        == 404
    )
