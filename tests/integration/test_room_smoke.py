from __future__ import annotations

from tests.harness import World


def test_host_pins_and_viewer_sees_it(world: World) -> None:
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=3)
    viewer = world.person("Viewer")
    with world.socket(show["id"], viewer) as room:
        snap = room.snapshot()
        assert [item["number"] for item in snap["shelf"]] == [1, 2, 3]
        assert snap["pinned"] is None
        r = host.put(f"/shows/{show['id']}/pin", json={"listing_id": shelf[2]["id"]})
        assert r.status_code == 200, r.text
        pinned = room.wait_for("shelf.pinned")
        assert pinned["data"]["listing"]["number"] == 3
        assert pinned["seq"] > snap["seq"]
        room.send({"type": "chat.send", "body": "#3 please", "ref": 1})
        message = room.wait_for("chat.message")
        assert message["data"]["request"] == {"listing_id": shelf[2]["id"], "number": 3}
        counted = room.wait_for("requests.counted")
        assert counted["data"]["count"] == 1
