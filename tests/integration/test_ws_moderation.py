"""Moderation as viewers live it: hide, mute, ban, slow mode, banned words, rate limits."""

from __future__ import annotations

from tests.harness import World


def test_a_hidden_message_is_gone_for_everyone_and_its_request_uncounted(world: World) -> None:
    host, mod, viewer = world.person("Host", host=True), world.person("Mod"), world.person("Viewer")
    show, shelf = world.live_show(host, listings=2)
    sid = show["id"]
    host.post(f"/shows/{sid}/moderators", json={"email": mod.email})
    with world.socket(sid, viewer) as room, world.socket(sid, mod) as desk:
        room.snapshot(), desk.snapshot()
        room.send({"type": "chat.send", "body": "#1 pls", "ref": 1})
        # Published while the frame is handled, so ahead of the ack.
        assert room.wait_for("requests.counted")["data"]["count"] == 1
        mid = room.wait_for("ack")["data"]["id"]
        room.send({"type": "chat.send", "body": "spam spam", "ref": 2})
        spam = room.wait_for("ack")["data"]["id"]
        assert host.post(f"/shows/{sid}/chat/{mid}/hide").status_code == 204
        assert room.wait_for("chat.hidden")["data"] == {"id": mid}
        assert room.wait_for("requests.counted")["data"] == {
            "listing_id": shelf[0]["id"],
            "number": 1,
            "count": 0,
        }
        desk.send({"type": "chat.hide", "message_id": spam, "ref": 7})
        assert desk.wait_for("ack")["data"]["ref"] == 7
        assert room.wait_for("chat.hidden")["data"] == {"id": spam}
        room.send({"type": "chat.hide", "message_id": spam, "ref": 8})
        assert room.wait_for("error")["data"]["code"] == "forbidden"
    with world.socket(sid, None) as late:
        snap = late.snapshot()
        assert [m["id"] for m in snap["chat"]] == []
        assert snap["shelf"][0]["requests"] == 0
    assert world.anonymous.get(f"/shows/{sid}/chat").json() == []


def test_mute_then_unmute(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        room.snapshot()
        r = host.put(f"/shows/{sid}/sanctions/{viewer.id}", json={"mute_seconds": 600})
        assert r.status_code == 200 and r.json()["muted_until"]
        sanctioned = room.wait_for("user.sanctioned")["data"]
        assert sanctioned["user_id"] == viewer.id and sanctioned["banned"] is False
        room.send({"type": "chat.send", "body": "let me talk", "ref": 1})
        error = room.wait_for("error")["data"]
        assert error["code"] == "muted" and error["ref"] == 1
        assert viewer.post(f"/shows/{sid}/chat", json={"body": "still me"}).status_code == 403
        room.send({"type": "ping", "ref": 2})
        room.wait_for("pong")
        rows = host.get(f"/shows/{sid}/sanctions").json()
        assert [row["user"]["id"] for row in rows] == [viewer.id]
        host.put(f"/shows/{sid}/sanctions/{viewer.id}", json={"mute_seconds": 0})
        assert room.wait_for("user.sanctioned")["data"]["muted_until"] is None
        room.send({"type": "chat.send", "body": "thanks", "ref": 3})
        assert room.wait_for("ack")["data"]["ref"] == 3
    assert host.get(f"/shows/{sid}/sanctions").json() == []


def test_a_ban_closes_the_socket_and_holds_across_reconnects(world: World) -> None:
    host, viewer, bystander = (
        world.person("Host", host=True),
        world.person("Troll"),
        world.person("Nice"),
    )
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    with world.socket(sid, viewer) as room, world.socket(sid, bystander) as other:
        room.snapshot(), other.snapshot()
        room.send({"type": "chat.send", "body": "before the ban", "ref": 1})
        room.wait_for("ack")
        assert (
            host.put(f"/shows/{sid}/sanctions/{viewer.id}", json={"ban": True}).status_code == 200
        )
        assert room.wait_closed() == 4403
        other.wait_for("user.sanctioned", lambda e: e["data"]["banned"])
        other.send({"type": "ping", "ref": 1})
        other.wait_for("pong")
    with world.socket(sid, viewer) as again:
        assert again.wait_closed() == 4403
        assert again.events[0]["data"]["code"] == "banned"
    assert viewer.post(f"/shows/{sid}/chat", json={"body": "over REST"}).status_code == 403
    # What was accepted before the ban stays in the record.
    assert "before the ban" in [m["body"] for m in world.anonymous.get(f"/shows/{sid}/chat").json()]
    host.put(f"/shows/{sid}/sanctions/{viewer.id}", json={"ban": False})
    with world.socket(sid, viewer) as back:
        assert back.snapshot()["you"]["user_id"] == viewer.id
        back.send({"type": "chat.send", "body": "sorry", "ref": 2})
        assert back.wait_for("ack")["data"]["ref"] == 2


def test_staff_cannot_be_sanctioned_and_viewers_cannot_sanction(world: World) -> None:
    host, mod, viewer = world.person("Host", host=True), world.person("Mod"), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    host.post(f"/shows/{sid}/moderators", json={"email": mod.email})
    r = mod.put(f"/shows/{sid}/sanctions/{host.id}", json={"ban": True})
    assert r.status_code == 403 and r.json()["error"]["code"] == "protected_user"
    assert viewer.put(f"/shows/{sid}/sanctions/{mod.id}", json={"ban": True}).status_code == 403
    assert (
        mod.put(f"/shows/{sid}/sanctions/{viewer.id}", json={"mute_seconds": 60}).status_code == 200
    )


def test_slow_mode_paces_viewers_not_staff(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    with world.socket(sid, viewer) as room, world.socket(sid, host) as console:
        room.snapshot(), console.snapshot()
        r = host.patch(f"/shows/{sid}/chat-settings", json={"slow_mode_seconds": 60})
        assert r.status_code == 200 and r.json()["slow_mode_seconds"] == 60
        assert room.wait_for("chat.settings")["data"] == {"slow_mode_seconds": 60}
        room.send({"type": "chat.send", "body": "first", "ref": 1})
        assert room.wait_for("ack")["data"]["ref"] == 1
        room.send({"type": "chat.send", "body": "second", "ref": 2})
        error = room.wait_for("error")["data"]
        assert error["code"] == "slow_mode" and error["ref"] == 2
        assert 0 < error["retry_after"] <= 60
        for n in range(3):
            console.send({"type": "chat.send", "body": f"host says {n}", "ref": n})
            assert console.wait_for("ack")["data"]["ref"] == n
    with world.socket(sid, viewer) as later:
        assert later.snapshot()["slow_mode_seconds"] == 60


def test_banned_words_block_the_message_for_viewers(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    r = host.patch(f"/shows/{sid}/chat-settings", json={"banned_words": ["Scam", "fake  stuff"]})
    assert r.json()["banned_words"] == ["scam", "fake stuff"]
    assert viewer.get(f"/shows/{sid}/chat-settings").status_code == 403  # the list is for staff
    with world.socket(sid, viewer) as room:
        room.snapshot()
        room.send({"type": "chat.send", "body": "this is a SCAM!", "ref": 1})
        assert room.wait_for("error")["data"]["code"] == "message_blocked"
        room.send({"type": "chat.send", "body": "scampi looks tasty", "ref": 2})
        assert room.wait_for("ack")["data"]["ref"] == 2
    bodies = [m["body"] for m in world.anonymous.get(f"/shows/{sid}/chat").json()]
    assert bodies == ["scampi looks tasty"]


def test_chat_rate_limit_answers_with_an_error_and_keeps_the_socket(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Chatty")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        room.snapshot()
        for n in range(20):
            room.send({"type": "chat.send", "body": f"message {n}", "ref": n})
        limited = room.wait_for("error", lambda e: e["data"]["code"] == "rate_limited")
        assert limited["data"]["retry_after"] > 0
        room.send({"type": "ping", "ref": "still-there"})
        assert room.wait_for("pong")["data"]["ref"] == "still-there"
        acked = [e["data"]["ref"] for e in room.events if e["type"] == "ack"]
    accepted = [m["body"] for m in world.anonymous.get(f"/shows/{sid}/chat").json()]
    assert accepted == [f"message {n}" for n in acked]
    assert 5 <= len(accepted) < 20


def test_messages_accepted_before_a_moderation_change_are_kept(world: World) -> None:
    host, ann, bob = world.person("Host", host=True), world.person("Ann"), world.person("Bob")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    for who, body in [(ann, "hello from ann"), (bob, "hello from bob"), (ann, "ann again")]:
        assert who.post(f"/shows/{sid}/chat", json={"body": body}).status_code == 201
    host.patch(
        f"/shows/{sid}/chat-settings", json={"slow_mode_seconds": 120, "banned_words": ["hello"]}
    )
    host.put(f"/shows/{sid}/sanctions/{bob.id}", json={"ban": True, "mute_seconds": 60})
    bodies = [m["body"] for m in world.anonymous.get(f"/shows/{sid}/chat").json()]
    assert bodies == ["hello from ann", "hello from bob", "ann again"]


def test_chat_closes_when_the_show_ends(world: World) -> None:
    host, viewer = world.person("Host", host=True), world.person("Viewer")
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    with world.socket(sid, viewer) as room:
        room.snapshot()
        host.post(f"/shows/{sid}/end")
        assert room.wait_for("show.state")["data"]["status"] == "ended"
        room.send({"type": "chat.send", "body": "bye", "ref": 1})
        assert room.wait_for("error")["data"]["code"] == "show_ended"
        room.send({"type": "like", "ref": 2})
        assert room.wait_for("error")["data"]["code"] == "show_not_live"
