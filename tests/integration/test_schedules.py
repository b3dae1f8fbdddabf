"""Schedules through the real API and room sockets: calendars per host, agency and brand
as each role sees them; a run of show edited while on air, followed by the staff's room
and applied with the console's own services; viewers who follow a host or asked for a
reminder hear (in the app and by email) when the show goes live; and bad input refused.
"""

from __future__ import annotations

import asyncio
import email
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from hawker.services import notifications
from hawker.services.context import build_context
from hawker.store.db import sync_engine
from hawker.store.tables import Follow, Notification, User
from tests.harness import Person, World
from tests.integration.test_business import agency_with_host, error, iso, now
from tests.integration.test_video import wait_until


def _show(host: Person, title: str, hours_ahead: float = 2, **extra: Any) -> dict[str, Any]:
    r = host.post(
        "/shows",
        json={"title": title, "scheduled_at": iso(now() + timedelta(hours=hours_ahead)), **extra},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _shelve(host: Person, show_id: int, product_ids: list[int]) -> list[dict[str, Any]]:
    shelf = []
    for product_id in product_ids:
        r = host.post(f"/shows/{show_id}/shelf", json={"product_id": product_id})
        assert r.status_code == 201, r.text
        shelf.append(r.json())
    return shelf


def _titles(r: Any) -> list[str]:
    assert r.status_code == 200, r.text
    return [show["title"] for show in r.json()["shows"]]


def _mail(directory: Path, to: str, timeout: float = 5.0) -> email.message.Message:
    """The email sent to `to` (written as an .eml file by the file backend)."""
    deadline = time.monotonic() + timeout
    while True:
        for path in sorted(directory.glob("*.eml")) if directory.exists() else []:
            msg = email.message_from_bytes(path.read_bytes())
            if msg["To"] == to:
                return msg
        if time.monotonic() > deadline:
            raise AssertionError(f"no email to {to} in {directory}")
        time.sleep(0.05)


def test_calendars_show_each_role_its_own_shows(world: World) -> None:
    agent, agency, host = agency_with_host(world)
    loner = world.person("Loner", host=True)
    merchant, other_merchant = world.person("Merchant"), world.person("Other merchant")
    brand, products = world.brand_with_products(merchant, products=1)
    other_brand, _ = world.brand_with_products(other_merchant, products=1)
    admin = world.person("Admin", admin=True)

    sells = _show(host, "Brand night", hours_ahead=3)
    _shelve(host, sells["id"], [products[0]["id"]])
    _show(host, "Chat only", hours_ahead=5)
    _show(loner, "Solo", hours_ahead=4)
    _show(host, "Far away", hours_ahead=24 * 60)

    host_cal = f"/hosts/{host.id}/calendar"
    assert _titles(host.get(host_cal)) == ["Brand night", "Chat only"]
    assert _titles(agent.get(host_cal)) == ["Brand night", "Chat only"]
    assert _titles(admin.get(host_cal)) == ["Brand night", "Chat only"]
    assert _titles(agent.get(f"/agencies/{agency['id']}/calendar")) == ["Brand night", "Chat only"]
    assert _titles(merchant.get(f"/brands/{brand['id']}/calendar")) == ["Brand night"]
    assert _titles(other_merchant.get(f"/brands/{other_brand['id']}/calendar")) == []
    assert _titles(loner.get(f"/hosts/{loner.id}/calendar")) == ["Solo"]
    # A later window finds the show two months ahead, and only it.
    later = {"from": iso(now() + timedelta(days=59)), "to": iso(now() + timedelta(days=62))}
    assert _titles(host.get(host_cal, params=later)) == ["Far away"]

    # Nobody sees a calendar that is not theirs.
    for who, path in [
        (loner, host_cal),
        (merchant, host_cal),
        (host, f"/agencies/{agency['id']}/calendar"),
        (agent, f"/hosts/{loner.id}/calendar"),
        (agent, f"/brands/{brand['id']}/calendar"),
        (other_merchant, f"/brands/{brand['id']}/calendar"),
    ]:
        r = who.get(path)
        assert r.status_code == 403 and error(r) == "forbidden", (who.display_name, path, r.text)
    assert world.anonymous.get(host_cal).status_code == 401

    # Bad periods are refused with a reason.
    r = host.get(host_cal, params={"from": iso(now()), "to": iso(now() - timedelta(days=1))})
    assert r.status_code == 422 and error(r) == "invalid_period"
    r = host.get(host_cal, params={"from": iso(now()), "to": iso(now() + timedelta(days=200))})
    assert r.status_code == 422 and error(r) == "invalid_period"
    r = host.get(host_cal, params={"from": "2026-12-01T10:00:00"})
    assert r.status_code == 422 and error(r) == "invalid_time"
    r = admin.get("/agencies/999999/calendar")
    assert r.status_code == 404 and error(r) == "agency_not_found"


def test_run_of_show_is_edited_on_air_and_applied(world: World) -> None:
    agent, _, host = agency_with_host(world)
    moderator, viewer = world.person("Moderator"), world.person("Viewer")
    merchant = world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=2, variants=1)
    show = _show(host, "Eight-hour marathon", hours_ahead=0.1)
    show_id = show["id"]
    first, second = _shelve(host, show_id, [p["id"] for p in products])
    assert host.post(f"/shows/{show_id}/moderators", json={"email": moderator.email}).is_success

    r = host.post(
        f"/shows/{show_id}/run",
        json={"title": "Opening", "offset_seconds": 0, "listing_id": first["id"], "pin": True},
    )
    assert r.status_code == 201, r.text
    r = host.post(
        f"/shows/{show_id}/run",
        json={
            "title": "Flash hour",
            "offset_seconds": 3600,
            "listing_id": second["id"],
            "pin": True,
            "deal": {"price": "5.00", "quantity": 5, "per_buyer_limit": 1, "duration_seconds": 600},
        },
    )
    assert r.status_code == 201, r.text
    run = r.json()
    assert [s["title"] for s in run["segments"]] == ["Opening", "Flash hour"]
    opening, flash = run["segments"]
    assert flash["deal"]["price"] == {"amount": "5.00", "currency": "USD"}
    assert flash["listing"]["number"] == 2
    assert run["now_id"] is None and run["next_id"] == opening["id"]  # not on air yet

    assert host.post(f"/shows/{show_id}/live").status_code == 200
    run = host.get(f"/shows/{show_id}/run").json()
    assert run["now_id"] == opening["id"] and run["next_id"] == flash["id"]

    # The staff's room hears every change; a viewer's does not.
    with world.socket(show_id, moderator) as staff_room, world.socket(show_id, viewer) as room:
        staff_room.snapshot()
        room.snapshot()
        # The producer (here the host's agency) moves the opening to a clock time ten
        # minutes ago and the flash hour to the start: the flash hour is on now.
        r = agent.patch(
            f"/shows/{show_id}/run/{opening['id']}", json={"at": iso(now() - timedelta(minutes=10))}
        )
        assert r.status_code == 200, r.text
        assert r.json()["segments"][0]["offset_seconds"] is None
        r = agent.patch(f"/shows/{show_id}/run/{flash['id']}", json={"offset_seconds": 0})
        assert r.status_code == 200, r.text
        event = staff_room.wait_for(
            "run.updated", lambda e: e["data"]["run"]["now_id"] == flash["id"]
        )
        assert [s["id"] for s in event["data"]["run"]["segments"]] == [opening["id"], flash["id"]]
        r = agent.post(f"/shows/{show_id}/run", json={"title": "Q&A", "offset_seconds": 7200})
        assert r.status_code == 201, r.text
        qa = r.json()["segments"][-1]
        staff_room.wait_for("run.updated", lambda e: e["data"]["run"]["next_id"] == qa["id"])

        # Applying the flash hour pins #2 and starts its deal: every viewer sees both.
        r = host.post(f"/shows/{show_id}/run/{flash['id']}/apply")
        assert r.status_code == 200, r.text
        applied = r.json()
        assert applied["pinned"]["id"] == second["id"]
        assert applied["deal"]["price"] == {"amount": "5.00", "currency": "USD"}
        room.wait_for("shelf.pinned", lambda e: e["data"]["listing"]["id"] == second["id"])
        room.wait_for("deal.updated", lambda e: e["data"]["deal"]["listing_id"] == second["id"])
        done = next(s for s in applied["run"]["segments"] if s["id"] == flash["id"])
        assert done["applied_at"] is not None
        # Applied again, the deal is refused where a second deal by hand would be.
        r = host.post(f"/shows/{show_id}/run/{flash['id']}/apply")
        assert r.status_code == 409 and error(r) == "deal_exists"

        r = host.delete(f"/shows/{show_id}/run/{qa['id']}")
        assert r.status_code == 200, r.text
        staff_room.wait_for("run.updated", lambda e: len(e["data"]["run"]["segments"]) == 2)
        assert not [e for e in room.events if e["type"] == "run.updated"]

    # Who may read and change it.
    assert moderator.get(f"/shows/{show_id}/run").status_code == 200
    r = viewer.get(f"/shows/{show_id}/run")
    assert r.status_code == 403 and error(r) == "forbidden"
    r = moderator.post(f"/shows/{show_id}/run", json={"title": "Mine", "offset_seconds": 60})
    assert r.status_code == 403 and error(r) == "forbidden"
    r = merchant.delete(f"/shows/{show_id}/run/{opening['id']}")
    assert r.status_code == 403 and error(r) == "forbidden"


def test_run_of_show_refuses_bad_segments(world: World) -> None:
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    _, products = world.brand_with_products(merchant, products=2, variants=2)
    show = _show(host, "Marathon")
    other = _show(host, "Another show")
    (listing,) = _shelve(host, show["id"], [products[0]["id"]])
    (elsewhere,) = _shelve(host, other["id"], [products[1]["id"]])
    run = f"/shows/{show['id']}/run"

    def refused(body: dict[str, Any], status: int, code: str) -> None:
        r = host.post(run, json=body)
        assert r.status_code == status and error(r) == code, (body, r.text)
        assert r.json()["error"]["message"]

    deal = {"price": "5.00", "quantity": 5}
    refused(
        {"title": "X", "offset_seconds": 0, "listing_id": elsewhere["id"], "pin": True},
        422,
        "listing_not_on_shelf",
    )
    refused(
        {"title": "X", "offset_seconds": 0, "listing_id": 999999, "pin": True},
        422,
        "listing_not_on_shelf",
    )
    refused({"title": "X", "offset_seconds": 0, "pin": True}, 422, "segment_needs_listing")
    refused({"title": "X"}, 422, "invalid_segment_time")
    refused({"title": "X", "offset_seconds": 0, "at": iso(now())}, 422, "invalid_segment_time")
    refused({"title": "X", "offset_seconds": -5}, 422, "invalid_segment_time")
    refused({"title": "X", "offset_seconds": 90000}, 422, "invalid_segment_time")
    refused({"title": "X", "at": iso(now() + timedelta(days=5))}, 422, "invalid_segment_time")
    refused({"title": "X", "at": "2026-12-01T10:00:00"}, 422, "invalid_time")
    refused({"title": "   ", "offset_seconds": 0}, 422, "invalid_title")
    # Deal terms a deal would refuse are refused now, not on air.
    variants = [v["id"] for v in listing["variants"]]
    base = {"title": "Deal", "offset_seconds": 60, "listing_id": listing["id"]}
    refused(
        {**base, "deal": {**deal, "variant_id": variants[0], "price": "99.00"}},
        422,
        "invalid_deal_price",
    )
    refused(
        {**base, "deal": {**deal, "variant_id": variants[0], "per_buyer_limit": 9}},
        422,
        "invalid_deal_limit",
    )
    refused({**base, "deal": deal}, 422, "variant_required")  # two shades: which one?
    refused({**base, "deal": {**deal, "variant_id": 999999}}, 422, "variant_not_found")
    r = host.post(run, json={**base, "deal": {**deal, "variant_id": variants[1]}})
    assert r.status_code == 201, r.text
    segment = r.json()["segments"][0]

    # Not applied before the show is on air; unknown segments are not found.
    r = host.post(f"{run}/{segment['id']}/apply")
    assert r.status_code == 409 and error(r) == "show_not_live"
    r = host.patch(f"/shows/{other['id']}/run/{segment['id']}", json={"title": "Moved"})
    assert r.status_code == 404 and error(r) == "segment_not_found"
    r = host.patch(f"{run}/{segment['id']}", json={"listing_id": elsewhere["id"]})
    assert r.status_code == 422 and error(r) == "listing_not_on_shelf"
    r = host.patch(f"{run}/{segment['id']}", json={"deal": None, "pin": True})
    assert r.status_code == 200 and r.json()["segments"][0]["deal"] is None

    # An ended show's run is closed.
    assert host.post(f"/shows/{show['id']}/end").status_code == 200
    refused({"title": "Late", "offset_seconds": 0}, 409, "show_ended")


def test_followers_and_reminders_hear_when_the_show_goes_live(world: World) -> None:
    host = world.person("Host", host=True)
    fan, reminded, both, stranger = (
        world.person("Fan"),
        world.person("Reminded"),
        world.person("Both"),
        world.person("Stranger"),
    )
    show = _show(host, "Lipstick <b>night</b>")
    other = _show(host, "Tomorrow")

    r = fan.put(f"/hosts/{host.id}/follow")
    assert r.status_code == 200 and r.json()["following"] and r.json()["followers"] == 1
    assert both.put(f"/hosts/{host.id}/follow").json()["followers"] == 2
    assert fan.put(f"/hosts/{host.id}/follow").json()["followers"] == 2  # again: no change
    assert [h["id"] for h in fan.get("/me/following").json()] == [host.id]
    r = reminded.put(f"/shows/{show['id']}/reminder")
    assert r.status_code == 200 and r.json()["reminder"] is True
    assert both.put(f"/shows/{show['id']}/reminder").status_code == 200
    assert stranger.put(f"/shows/{other['id']}/reminder").status_code == 200

    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    mail_dir = world.server.settings.mail_root
    for person in (fan, reminded, both):
        r = person.get("/me/notifications")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["unread"] == 1, (person.display_name, body)
        (note,) = body["items"]
        assert note["title"] == f"{host.display_name} is live: Lipstick <b>night</b>"
        assert note["url"] == f"/shows/{show['id']}" and note["read_at"] is None
        msg = _mail(mail_dir, person.email)
        assert msg["Subject"] == note["title"]
        assert f"/shows/{show['id']}" in msg.get_payload(decode=True).decode()
    assert stranger.get("/me/notifications").json() == {"unread": 0, "items": []}
    assert host.get("/me/notifications").json()["unread"] == 0
    # One email each, "both" included.
    sent = [email.message_from_bytes(p.read_bytes())["To"] for p in mail_dir.glob("*.eml")]
    assert sorted(sent) == sorted([fan.email, reminded.email, both.email])

    # Going live twice tells nobody twice.
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    assert fan.get("/me/notifications").json()["unread"] == 1

    note_id = fan.get("/me/notifications").json()["items"][0]["id"]
    r = reminded.post(f"/me/notifications/{note_id}/read")
    assert r.status_code == 404 and error(r) == "notification_not_found"
    assert fan.post(f"/me/notifications/{note_id}/read").json() == {"unread": 0}
    assert fan.get("/me/notifications", params={"unread": "true"}).json()["items"] == []
    assert both.post("/me/notifications/read").json() == {"unread": 0}

    r = fan.delete(f"/hosts/{host.id}/follow")
    assert r.status_code == 200 and not r.json()["following"]


def _followers(world: World, host_id: int, count: int) -> list[str]:
    """`count` new accounts that follow the host, written straight to the database; their
    emails."""
    tag = uuid.uuid4().hex[:8]
    emails = [f"fan{i}-{tag}@example.com" for i in range(count)]
    engine = sync_engine(world.server.settings.db_url)
    try:
        with engine.begin() as conn:
            ids = conn.scalars(
                insert(User).returning(User.id, sort_by_parameter_order=True),
                [
                    {"email": e, "display_name": "Fan", "password_hash": "-", "created_at": now()}
                    for e in emails
                ],
            ).all()
            conn.execute(
                insert(Follow),
                [{"user_id": i, "host_id": host_id, "created_at": now()} for i in ids],
            )
    finally:
        engine.dispose()
    return emails


def _mailed(directory: Path, addresses: list[str]) -> Counter[str]:
    """How many emails each of `addresses` was sent."""
    wanted = set(addresses)
    return Counter(
        to
        for path in directory.glob("*.eml")
        if (to := email.message_from_bytes(path.read_bytes())["To"]) in wanted
    )


def _unmailed(world: World, show_id: int) -> int:
    engine = sync_engine(world.server.settings.db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count()).where(
                        Notification.show_id == show_id, Notification.mailed_at.is_(None)
                    )
                )
                or 0
            )
    finally:
        engine.dispose()


def test_a_host_with_many_followers_goes_live_and_each_gets_one_email(world: World) -> None:
    # More followers than one batch of emails: the rest go in the batches after.
    host = world.person("Big host", host=True)
    show = _show(host, "Launch night")
    fans = _followers(world, host.id, notifications.MAIL_BATCH * 2 + 50)
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    mail_dir = world.server.settings.mail_root
    wait_until(lambda: _unmailed(world, show["id"]) == 0, what="every email sent")
    assert _mailed(mail_dir, fans) == Counter(fans)
    msg = _mail(mail_dir, fans[-1])
    assert msg["Subject"] == f"{host.display_name} is live: Launch night"
    assert f"/shows/{show['id']}" in msg.get_payload(decode=True).decode()


def test_processes_share_the_emails_and_none_is_sent_twice(world: World) -> None:
    # Two more processes' worth of senders beside the server's own, all at once.
    if world.server.settings.db_url.startswith("sqlite"):
        pytest.skip("one process serves an SQLite database")
    host = world.person("Shared host", host=True)
    show = _show(host, "Shared night")
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    fans = _followers(world, host.id, notifications.MAIL_BATCH * 3)

    async def send() -> list[int]:
        contexts = [build_context(world.server.settings) for _ in range(2)]
        try:
            assert await notifications.notify_show_live(contexts[0], show["id"]) == len(fans)
            return list(await asyncio.gather(*(notifications.send_emails(ctx) for ctx in contexts)))
        finally:
            for ctx in contexts:
                await ctx.db.close()

    sent = asyncio.run(send())
    assert sum(sent) <= len(fans)
    wait_until(lambda: _unmailed(world, show["id"]) == 0, what="every email sent")
    assert _mailed(world.server.settings.mail_root, fans) == Counter(fans)


def test_follows_and_reminders_refuse_bad_input(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show = _show(host, "On soon")
    r = viewer.put(f"/hosts/{viewer.id}/follow")
    assert r.status_code == 422 and error(r) == "not_a_host"
    r = host.put(f"/hosts/{host.id}/follow")
    assert r.status_code == 422 and error(r) == "cannot_follow_self"
    r = viewer.put("/hosts/999999/follow")
    assert r.status_code == 404 and error(r) == "user_not_found"
    r = world.anonymous.put(f"/hosts/{host.id}/follow")
    assert r.status_code == 401 and error(r) == "not_signed_in"
    r = viewer.put("/shows/999999/reminder")
    assert r.status_code == 404 and error(r) == "show_not_found"
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    r = viewer.put(f"/shows/{show['id']}/reminder")
    assert r.status_code == 409 and error(r) == "show_live"
    assert host.post(f"/shows/{show['id']}/end").status_code == 200
    r = viewer.put(f"/shows/{show['id']}/reminder")
    assert r.status_code == 409 and error(r) == "show_ended"
    assert "replay" in r.json()["error"]["message"]
    assert world.anonymous.get("/me/notifications").status_code == 401
