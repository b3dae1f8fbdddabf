"""The room socket: snapshot, deltas with seq, resync, reconnect, chat, likes, bad frames."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event

from hawker.domain.roles import Actor
from hawker.services import chat
from hawker.services.accounts import load_actor
from hawker.services.context import Context, build_context
from hawker.store.db import sync_engine
from hawker.store.tables import Listing, User
from tests.harness import Person, World, test_settings

EPHEMERAL = {"chat.message", "likes.burst"}


def state_seqs(events: list[dict[str, Any]]) -> list[int]:
    return [
        e["seq"]
        for e in events
        if e["type"] not in EPHEMERAL | {"room.snapshot", "error", "ack", "pong"}
    ]


def assert_consecutive_from(seq: int, events: list[dict[str, Any]]) -> None:
    seqs = state_seqs(events)
    assert seqs == list(range(seq + 1, seq + 1 + len(seqs))), seqs


def test_snapshot_first_then_state_events_one_seq_apart(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=3)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        first = room.wait_for("room.snapshot")
        assert room.events[0] is first
        snap = first["data"]
        assert first["v"] == 1 and first["seq"] == snap["seq"]
        assert snap["show"]["id"] == sid and snap["show"]["status"] == "live"
        assert snap["show"]["host"] == {"id": host.id, "display_name": host.display_name}
        assert [item["number"] for item in snap["shelf"]] == [1, 2, 3]
        assert snap["you"]["user_id"] == viewer.id and snap["you"]["staff"] is False
        assert snap["viewers"] >= 1
        host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[0]["id"]})
        host.delete(f"/shows/{sid}/pin")
        host.put(
            f"/shows/{sid}/shelf/order",
            json={"listing_ids": [shelf[2]["id"], shelf[0]["id"], shelf[1]["id"]]},
        )
        host.patch(f"/shows/{sid}", json={"title": "New title"})
        seen = room.since("show.state", lambda e: e["data"]["title"] == "New title")
        kinds = [e["type"] for e in seen if e["type"] != "viewers.count"]
        assert kinds == ["shelf.pinned", "shelf.unpinned", "shelf.updated", "show.state"]
        assert_consecutive_from(snap["seq"], seen)
        updated = next(e for e in seen if e["type"] == "shelf.updated")
        assert [(i["number"], i["id"]) for i in updated["data"]["shelf"]] == [
            (1, shelf[2]["id"]),
            (2, shelf[0]["id"]),
            (3, shelf[1]["id"]),
        ]


def test_a_refused_action_publishes_nothing(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        snap = room.snapshot()
        r = viewer.put(f"/shows/{sid}/pin", json={"listing_id": shelf[0]["id"]})
        assert r.status_code == 403
        room.send({"type": "shelf.pin", "listing_id": shelf[0]["id"], "ref": 5})
        error = room.wait_for("error")
        assert error["data"]["code"] == "forbidden" and error["data"]["ref"] == 5
        assert (
            host.put(
                f"/shows/{sid}/shelf/order", json={"listing_ids": [shelf[0]["id"]]}
            ).status_code
            == 422
        )
        # The next thing the host does is the next seq: nothing was published in between.
        host.patch(f"/shows/{sid}/chat-settings", json={"slow_mode_seconds": 0})
        room.since("chat.settings")
        # Everything after the snapshot: a viewer count may arrive before the error frame.
        seen = room.events[1:]
        assert not [e for e in seen if e["type"] in {"shelf.pinned", "shelf.updated"}]
        assert_consecutive_from(snap["seq"], seen)


def test_resync_gets_a_fresh_snapshot(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        old = room.snapshot()
        host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]})
        room.wait_for("shelf.pinned")
        room.send({"type": "resync"})
        fresh = room.snapshot()
        assert fresh["pinned"]["id"] == shelf[1]["id"]
        assert fresh["seq"] > old["seq"]


def test_a_reconnect_gets_the_current_state(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=3)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        room.snapshot()
    host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[2]["id"]})
    host.delete(f"/shows/{sid}/shelf/{shelf[0]['id']}")
    host.post(f"/shows/{sid}/chat", json={"body": "welcome back"})
    with world.socket(sid, viewer) as room:
        snap = room.snapshot()
        assert snap["pinned"]["id"] == shelf[2]["id"] and snap["pinned"]["number"] == 2
        assert [i["id"] for i in snap["shelf"]] == [shelf[1]["id"], shelf[2]["id"]]
        assert snap["chat"][-1]["body"] == "welcome back"
        assert snap["chat"][-1]["staff"] is True


def test_staff_badges_are_the_same_live_and_after_a_reload(world: World) -> None:
    host, admin, viewer = (
        world.person("Host", host=True),
        world.person("Admin", admin=True),
        world.person("V"),
    )
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        room.snapshot()
        assert admin.post(f"/shows/{sid}/chat", json={"body": "admin here"}).status_code == 201
        assert viewer.post(f"/shows/{sid}/chat", json={"body": "viewer here"}).status_code == 201
        live = {
            e["data"]["body"]: e["data"]["staff"]
            for e in [room.wait_for("chat.message"), room.wait_for("chat.message")]
        }
    assert live == {"admin here": True, "viewer here": False}
    stored = {m["body"]: m["staff"] for m in world.anonymous.get(f"/shows/{sid}/chat").json()}
    assert stored == live


def test_anonymous_viewers_watch_but_do_not_chat(world: World) -> None:
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=1)
    with world.socket(show["id"]) as room:
        snap = room.snapshot()
        assert snap["you"]["user_id"] is None and snap["you"]["roles"] == []
        room.send({"type": "chat.send", "body": "hi", "ref": 1})
        assert room.wait_for("error")["data"]["code"] == "not_signed_in"
        host.put(f"/shows/{show['id']}/pin", json={"listing_id": shelf[0]["id"]})
        assert room.wait_for("shelf.pinned")["data"]["listing"]["id"] == shelf[0]["id"]


def test_an_unknown_show_closes_with_4404(world: World) -> None:
    with world.socket(987654321) as room:
        assert room.wait_closed() == 4404
        assert room.events[0]["data"]["code"] == "show_not_found"
    with world.socket(2**70) as room:
        assert room.wait_closed() == 4404


def test_viewer_counts_follow_sockets_and_leave_the_staff_out(world: World) -> None:
    host = world.person("Host", host=True)
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    moderator = world.person("Mod")
    assert host.post(f"/shows/{sid}/moderators", json={"email": moderator.email}).status_code == 200
    with world.socket(sid, host) as room, world.socket(sid, moderator) as modding:
        # The host's console and a moderator are not the audience.
        assert room.snapshot()["viewers"] == 0
        modding.snapshot()
        others = [world.socket(sid, None) for _ in range(2)]
        room.wait_for("viewers.count", lambda e: e["data"]["count"] == 2)
        for other in others:
            other.close()
        room.wait_for("viewers.count", lambda e: e["data"]["count"] == 0)
    # The server notices the last socket close on its own time; wait for it, do not race it.
    deadline = time.monotonic() + 5
    while world.anonymous.get(f"/shows/{sid}").json()["viewers"] != 0:
        assert time.monotonic() < deadline, "the closed sockets are still counted"
        time.sleep(0.05)


def test_chat_links_requests_and_counts_distinct_viewers(world: World) -> None:
    host = world.person("Host", host=True)
    ann, bob = world.person("Ann"), world.person("Bob")
    show, shelf = world.live_show(host, listings=3)
    sid = show["id"]
    with world.socket(sid, ann) as a, world.socket(sid, bob) as b:
        a.snapshot(), b.snapshot()
        a.send({"type": "chat.send", "body": "#2 please", "ref": 1})
        ack = a.wait_for("ack")
        assert ack["data"]["ref"] == 1
        msg = b.wait_for("chat.message")["data"]
        assert msg["id"] == ack["data"]["id"]
        assert msg["request"] == {"listing_id": shelf[1]["id"], "number": 2}
        assert msg["user"] == {"id": ann.id, "display_name": ann.display_name}
        assert b.wait_for("requests.counted")["data"] == {
            "listing_id": shelf[1]["id"],
            "number": 2,
            "count": 1,
        }
        a.send({"type": "chat.send", "body": "number 2 again", "ref": 2})
        assert b.wait_for("requests.counted")["data"]["count"] == 1  # the same viewer twice
        b.send({"type": "chat.send", "body": "show me 2", "ref": 1})
        assert b.wait_for("requests.counted")["data"]["count"] == 2
        b.send({"type": "chat.send", "body": "I'm 25 and love it", "ref": 2})
        plain = a.wait_for("chat.message", lambda e: e["data"]["body"].startswith("I'm"))
        assert plain["data"]["request"] is None
    snap = host.get(f"/shows/{sid}/snapshot").json()
    assert [i["requests"] for i in snap["shelf"]] == [0, 2, 0]
    bodies = [m["body"] for m in host.get(f"/shows/{sid}/chat").json()]
    assert bodies == ["#2 please", "number 2 again", "show me 2", "I'm 25 and love it"]


def test_likes_are_combined_into_bursts(world: World) -> None:
    host, fan = world.person("Host", host=True), world.person("Fan")
    show, _ = world.live_show(host, listings=1)
    with world.socket(show["id"], fan) as room:
        room.snapshot()
        for _ in range(30):
            room.send({"type": "like"})
        bursts = [
            e
            for e in room.since("likes.burst", lambda e: e["data"]["total"] >= 30)
            if e["type"] == "likes.burst"
        ]
        assert sum(b["data"]["count"] for b in bursts) == 30
        assert bursts[-1]["data"]["total"] == 30
        assert len(bursts) < 30
        room.send({"type": "like", "count": 101, "ref": 9})
        assert room.wait_for("error")["data"]["code"] == "invalid_likes"
    assert world.anonymous.get(f"/shows/{show['id']}").json()["likes"] == 30


def test_bad_frames_get_an_error_and_the_socket_stays_open(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    with world.socket(show["id"], viewer) as room:
        room.snapshot()
        room.ws.send("this is not json")
        assert room.wait_for("error")["data"]["code"] == "malformed_frame"
        room.send({"no": "type"})  # type: ignore[dict-item]
        assert room.wait_for("error")["data"]["code"] == "malformed_frame"
        room.ws.send(json.dumps([1, 2, 3]))
        assert room.wait_for("error")["data"]["code"] == "malformed_frame"
        room.send({"type": "dance", "ref": "r1"})
        error = room.wait_for("error")["data"]
        assert error["code"] == "unknown_type" and error["ref"] == "r1"
        room.send({"type": "chat.send", "body": 42})
        assert room.wait_for("error")["data"]["code"] == "malformed_frame"
        room.send({"type": "shelf.pin", "listing_id": 2**70})
        assert room.wait_for("error")["data"]["code"] in {"malformed_frame", "forbidden"}
        room.send({"type": "chat.send", "body": "y" * 301, "ref": 3})
        error = room.wait_for("error")["data"]
        assert error["code"] == "message_too_long" and error["ref"] == 3
        room.send({"type": "ping", "ref": 4})
        assert room.wait_for("pong")["data"]["ref"] == 4


def test_an_oversized_frame_closes_the_socket_with_1009(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    with world.socket(show["id"], viewer) as room:
        room.snapshot()
        room.send({"type": "chat.send", "body": "z" * (17 * 1024)})
        assert room.wait_closed() == 1009


def test_the_host_pins_over_the_socket_and_viewers_see_it(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, shelf = world.live_show(host, listings=2)
    with world.socket(show["id"], host) as console, world.socket(show["id"], viewer) as room:
        console.snapshot(), room.snapshot()
        console.send({"type": "shelf.pin", "listing_id": shelf[1]["id"], "ref": 1})
        assert console.wait_for("ack")["data"] == {"ref": 1, "listing_id": shelf[1]["id"]}
        assert room.wait_for("shelf.pinned")["data"]["listing"]["number"] == 2
        console.send({"type": "shelf.unpin", "ref": 2})
        assert room.wait_for("shelf.unpinned")["data"] == {"listing_id": shelf[1]["id"]}
        # An id no database column can hold is a bad frame, not the end of the socket.
        console.send({"type": "shelf.pin", "listing_id": 2**70, "ref": 3})
        assert console.wait_for("error")["data"]["code"] == "malformed_frame"
        console.send({"type": "ping", "ref": 4})
        assert console.wait_for("pong")["data"]["ref"] == 4


def test_viewers_joining_together_share_a_reading_yet_see_the_latest_chat(world: World) -> None:
    """Viewers who join at the same moment are given one reading of the room; a chat message
    sent in between still shows in the next viewer's history, and a pin in their state."""
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    with world.socket(sid, world.person("First")) as first:
        before = first.snapshot()
        with world.socket(sid, world.person("Second")) as second:
            assert second.snapshot()["chat"] == before["chat"]
        host.post(f"/shows/{sid}/chat", json={"body": "just in"})
        first.wait_for("chat.message")
        with world.socket(sid, world.person("Third")) as third:
            assert [m["body"] for m in third.snapshot()["chat"]][-1:] == ["just in"]
        host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]})
        first.wait_for("shelf.pinned")
        with world.socket(sid, world.person("Fourth")) as fourth:
            assert fourth.snapshot()["pinned"]["id"] == shelf[1]["id"]


def test_a_burst_of_chat_arrives_once_each_in_id_order_and_a_refusal_stays_its_own(
    world: World,
) -> None:
    """Thirty viewers send at the same moment (they go to the database together); a muted
    viewer and one with a banned word send in the same burst and get their own errors,
    while everyone else's message goes out exactly once, in the order of the ids."""
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    viewers = [world.person(f"Fan{n}") for n in range(30)]
    muted, rude = world.person("Muted"), world.person("Rude")
    host.put(f"/shows/{sid}/sanctions/{muted.id}", json={"mute_seconds": 600})
    host.patch(f"/shows/{sid}/chat-settings", json={"banned_words": ["scam"]})
    everyone = [*viewers, muted, rude]
    rooms = [world.socket(sid, who) for who in everyone]
    try:
        with world.socket(sid, host) as console:
            console.snapshot()
            for room in rooms:
                room.snapshot()
            bodies = [f"hello from fan {n}" for n in range(30)]
            bodies[7] = "#2 please"
            for n, room in enumerate(rooms):
                body = bodies[n] if n < 30 else "let me talk" if n == 30 else "a scam!"
                room.send({"type": "chat.send", "body": body, "ref": n})
            acked = {}
            for n, room in enumerate(rooms[:30]):
                ack = room.wait_for("ack", timeout=15)["data"]
                assert ack["ref"] == n
                acked[ack["id"]] = bodies[n]
            muted_error = rooms[30].wait_for("error")["data"]
            assert muted_error["code"] == "muted" and muted_error["ref"] == 30
            blocked = rooms[31].wait_for("error")["data"]
            assert blocked["code"] == "message_blocked" and blocked["ref"] == 31
            # Sent after every ack, so published after every message of the burst.
            assert host.post(f"/shows/{sid}/chat", json={"body": "thanks all"}).status_code == 201
            seen = console.since("chat.message", lambda e: e["data"]["body"] == "thanks all")
            heard = [e["data"] for e in seen if e["type"] == "chat.message"][:-1]
            assert [m["id"] for m in heard] == sorted(acked)
            assert {m["id"]: m["body"] for m in heard} == acked
            request = next(m for m in heard if m["body"] == "#2 please")
            assert request["request"] == {"listing_id": shelf[1]["id"], "number": 2}
            # Counted before its sender had the ack, so before the host's message.
            counted = [e["data"] for e in seen if e["type"] == "requests.counted"]
            assert counted == [{"listing_id": shelf[1]["id"], "number": 2, "count": 1}]
            for room in rooms[:30]:
                assert not any(e["type"] == "error" for e in room.events)
    finally:
        for room in rooms:
            room.close()
    stored = world.anonymous.get(f"/shows/{sid}/chat").json()
    assert [(m["id"], m["body"]) for m in stored] == [
        *sorted(acked.items()),
        (stored[-1]["id"], "thanks all"),
    ]


@asynccontextmanager
async def worker_of_its_own(
    world: World, tmp_path: Path, people: list[Person]
) -> AsyncIterator[tuple[Context, list[Actor]]]:
    """A worker on this loop, so that the test decides what happens when, and its actors
    for `people`."""
    ctx = build_context(test_settings(world.server.settings.db_url, tmp_path))
    await ctx.bus.start()
    try:
        actors = []
        for person in people:
            async with ctx.db.session() as s:
                user = await s.get(User, person.id)
                assert user is not None
                actors.append(await load_actor(s, user))
        yield ctx, actors
    finally:
        await ctx.payments.aclose()
        await ctx.bus.close()
        await ctx.gate.close()
        await ctx.db.close()


def test_a_sender_who_gives_up_does_not_take_their_message_back(
    world: World, tmp_path: Path
) -> None:
    """A viewer whose socket closes while their message waits for the show's writer: the
    message is written all the same, with the others of its batch."""
    host = world.person("Host", host=True)
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    fans = [world.person(f"Fan{n}") for n in range(3)]

    async def send_and_give_up() -> list[Any]:
        async with worker_of_its_own(world, tmp_path, fans) as (ctx, actors):
            sends = [
                asyncio.create_task(chat.do_send_message(ctx, actor, sid, f"fan {n}"))
                for n, actor in enumerate(actors)
            ]
            await asyncio.sleep(0)  # all three wait for the writer
            sends[1].cancel()
            results = await asyncio.gather(*sends, return_exceptions=True)
            await chat.wait_for_writers(ctx)
            return results

    results = asyncio.run(send_and_give_up())
    assert isinstance(results[1], asyncio.CancelledError)
    assert [r["body"] for r in (results[0], results[2])] == ["fan 0", "fan 2"]
    bodies = [m["body"] for m in world.anonymous.get(f"/shows/{sid}/chat").json()]
    assert sorted(bodies) == ["fan 0", "fan 1", "fan 2"]


def test_an_item_taken_off_the_shelf_as_chat_asking_for_it_is_written_fails_no_one(
    world: World, tmp_path: Path
) -> None:
    """Three viewers ask for #1 in one batch, and #1 leaves the shelf between the batch's
    reading and its writing. The database refuses the batch (the listing it asks for is
    gone); each message goes again alone, checked afresh, and is sent as plain chat."""
    if world.server.settings.db_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time: the shelf cannot change mid-batch")
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    fans = [world.person(f"Fan{n}") for n in range(3)]
    outside = sync_engine(world.server.settings.db_url)

    def take_it_off(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO chat_messages") and not taken:
            taken.append(shelf[0]["id"])
            with outside.begin() as conn:
                conn.execute(delete(Listing).where(Listing.id == shelf[0]["id"]))

    taken: list[int] = []

    async def ask() -> list[Any]:
        async with worker_of_its_own(world, tmp_path, fans) as (ctx, actors):
            event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", take_it_off)
            return await asyncio.gather(
                *(chat.do_send_message(ctx, actor, sid, "#1 please") for actor in actors),
                return_exceptions=True,
            )

    try:
        results = asyncio.run(ask())
    finally:
        outside.dispose()
    assert taken
    assert [r["body"] if isinstance(r, dict) else r for r in results] == ["#1 please"] * 3
    stored = world.anonymous.get(f"/shows/{sid}/chat").json()
    assert [m["body"] for m in stored] == ["#1 please"] * 3
