"""Who may do what, cell by cell, through the real API.

One server and one cast per database; every cell is one request by one role. Actions that
change state are chosen so that repeating them (by each allowed role) is harmless.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.harness import LiveServer, Person, World

ROLES = [
    "anonymous", "viewer", "host", "other_host", "moderator", "merchant", "other_merchant",
    "agency", "admin",
]  # fmt: skip


@dataclass
class Cast:
    world: World
    people: dict[str, Person]
    show: dict[str, Any]
    shelf: list[dict[str, Any]]
    brand: dict[str, Any]
    product: dict[str, Any]
    message_id: int
    victim: Person
    helper: Person
    agency_id: int
    invitation_id: int
    contract_id: int
    settlement_id: int
    rival: Person
    battle_id: int
    competition_id: int

    def client(self, role: str) -> httpx.Client:
        return self.world.anonymous if role == "anonymous" else self.people[role].http


@pytest.fixture(scope="module")
def cast(server: LiveServer) -> Iterator[Cast]:
    world = World(server)
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    people = {
        "viewer": world.person("Viewer"),
        "host": host,
        "other_host": world.person("Other host", host=True),
        "moderator": world.person("Moderator"),
        "merchant": merchant,
        "other_merchant": world.person("Other merchant"),
        "agency": world.person("Agency"),
        "admin": world.person("Admin", admin=True),
    }
    world.brand_with_products(people["other_merchant"], products=1)
    show, shelf = world.live_show(host, listings=2, merchant=merchant)
    brand = merchant.get("/brands", params={"mine": "true"}).json()[0]
    product = merchant.get(f"/brands/{brand['id']}/products").json()[0]
    agency = people["agency"].post("/agencies", json={"name": f"MCN {uuid.uuid4().hex[:8]}"})
    assert agency.status_code == 201, agency.text
    agency_id = agency.json()["id"]
    invited = people["agency"].post(
        f"/agencies/{agency_id}/invitations", json={"email": host.email}
    )
    assert invited.status_code == 201, invited.text
    signed = host.post(f"/invitations/{invited.json()['id']}/accept")
    assert signed.status_code == 200, signed.text
    contract = merchant.post("/contracts", json=_offer(brand["id"], agency_id, 0))
    assert contract.status_code == 201, contract.text
    accepted = people["agency"].post(f"/contracts/{contract.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    settlement = merchant.post(f"/brands/{brand['id']}/settlements")
    assert settlement.status_code == 201, settlement.text
    added = host.post(f"/shows/{show['id']}/moderators", json={"email": people["moderator"].email})
    assert added.status_code == 200, added.text
    victim, helper = world.person("Victim"), world.person("Helper")
    message = victim.post(f"/shows/{show['id']}/chat", json={"body": "hide me"})
    assert message.status_code == 201, message.text
    # A host none of the roles is: the other side of the battles.
    rival = world.person("Rival", host=True)
    battle = host.post(
        "/battles",
        json={
            "show_id": show["id"],
            "opponent_show_id": _live_show_of(rival),
            "duration_seconds": 3600,
        },
    )
    assert battle.status_code == 201, battle.text
    competition = people["admin"].post("/competitions", json=_contest(None, [host.id]))
    assert competition.status_code == 201, competition.text
    yield Cast(
        world,
        people,
        show,
        shelf,
        brand,
        product,
        message.json()["id"],
        victim,
        helper,
        agency_id,
        invited.json()["id"],
        contract.json()["id"],
        settlement.json()["id"],
        rival,
        battle.json()["id"],
        competition.json()["id"],
    )
    world.close()


_offers = itertools.count(1)


def _offer(brand_id: int, agency_id: int, n: int) -> dict[str, Any]:
    """A contract offer whose dates overlap no other offer of the run: the n-th ten-day
    window after the first, which starts an hour ago (so shows may be booked under it)."""
    start = datetime.now(UTC) - timedelta(hours=1) + timedelta(days=10 * n)
    return {
        "brand_id": brand_id,
        "agency_id": agency_id,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=5)).isoformat(),
        "rates": [{"host_share": "10", "agency_share": "5"}],
    }


def _live_show_of(host: Person) -> int:
    r = host.post("/shows", json={"title": "Battle ready"})
    assert r.status_code == 201, r.text
    assert host.post(f"/shows/{r.json()['id']}/live").status_code == 200
    return int(r.json()["id"])


def _contest(organizer: dict[str, int] | None, entrant_ids: list[int]) -> dict[str, Any]:
    """A week-long competition; `organizer` is {"agency_id": n}, {"brand_id": n} or None."""
    start = datetime.now(UTC) - timedelta(hours=1)
    return {
        "title": "Spring sales contest",
        **(organizer or {}),
        "entrant_kind": "show" if organizer and "brand_id" in organizer else "host",
        "entrant_ids": entrant_ids,
        "currency": "USD",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=7)).isoformat(),
    }


def _fresh_show(cast: Cast) -> int:
    r = cast.people["host"].post("/shows", json={"title": "Another day"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


Act = Callable[[Cast, httpx.Client], httpx.Response]

ACTIONS: dict[str, Act] = {
    "view show": lambda c, h: h.get(f"/shows/{c.show['id']}"),
    "chat": lambda c, h: h.post(f"/shows/{c.show['id']}/chat", json={"body": "hello"}),
    "like": lambda c, h: h.post(f"/shows/{c.show['id']}/likes", json={"count": 3}),
    "pin": lambda c, h: h.put(f"/shows/{c.show['id']}/pin", json={"listing_id": c.shelf[0]["id"]}),
    "edit shelf": lambda c, h: h.put(
        f"/shows/{c.show['id']}/shelf/order", json={"listing_ids": [i["id"] for i in c.shelf]}
    ),
    "go live": lambda c, h: h.post(f"/shows/{_fresh_show(c)}/live"),
    "end show": lambda c, h: h.post(f"/shows/{_fresh_show(c)}/end"),
    "read stream key": lambda c, h: h.get(f"/shows/{c.show['id']}/stream-key"),
    "hide message": lambda c, h: h.post(f"/shows/{c.show['id']}/chat/{c.message_id}/hide"),
    "ban": lambda c, h: h.put(f"/shows/{c.show['id']}/sanctions/{c.victim.id}", json={"ban": True}),
    "slow mode": lambda c, h: h.patch(
        f"/shows/{c.show['id']}/chat-settings", json={"slow_mode_seconds": 0}
    ),
    "add moderator": lambda c, h: h.post(
        f"/shows/{c.show['id']}/moderators", json={"email": c.helper.email}
    ),
    "create product": lambda c, h: h.post(
        f"/brands/{c.brand['id']}/products",
        json={"title": "New", "variants": [{"name": "One", "price": "1.00", "stock": 1}]},
    ),
    "edit variant": lambda c, h: h.patch(
        f"/variants/{c.product['variants'][0]['id']}", json={"stock": 7}
    ),
    "create show for host": lambda c, h: h.post(
        "/shows", json={"title": "Booked", "host_id": c.people["host"].id}
    ),
    "invite host": lambda c, h: h.post(
        f"/agencies/{c.agency_id}/invitations", json={"email": c.people["other_host"].email}
    ),
    "accept invitation": lambda c, h: h.post(f"/invitations/{c.invitation_id}/accept"),
    "see agency hosts": lambda c, h: h.get(f"/agencies/{c.agency_id}/hosts"),
    "offer contract": lambda c, h: h.post(
        "/contracts", json=_offer(c.brand["id"], c.agency_id, next(_offers))
    ),
    "see contract": lambda c, h: h.get(f"/contracts/{c.contract_id}"),
    "accept contract": lambda c, h: h.post(f"/contracts/{c.contract_id}/accept"),
    "book show under contract": lambda c, h: h.post(
        "/shows",
        json={"title": "Brand day", "host_id": c.people["host"].id, "contract_id": c.contract_id},
    ),
    "see brand lines": lambda c, h: h.get(f"/brands/{c.brand['id']}/commissions"),
    "close brand settlement": lambda c, h: h.post(f"/brands/{c.brand['id']}/settlements"),
    "see brand settlement": lambda c, h: h.get(f"/settlements/{c.settlement_id}"),
    "see agency settlements": lambda c, h: h.get(f"/agencies/{c.agency_id}/settlements"),
    "see host settlements": lambda c, h: h.get(f"/hosts/{c.people['host'].id}/settlements"),
    "create agency competition": lambda c, h: h.post(
        "/competitions", json=_contest({"agency_id": c.agency_id}, [c.people["host"].id])
    ),
    "create brand competition": lambda c, h: h.post(
        "/competitions", json=_contest({"brand_id": c.brand["id"]}, [c.show["id"]])
    ),
    "create open competition": lambda c, h: h.post(
        "/competitions", json=_contest(None, [c.people["other_host"].id])
    ),
    "see leaderboard": lambda c, h: h.get(f"/competitions/{c.competition_id}"),
    # Fresh shows each time: a show is in one battle at a time.
    "start battle": lambda c, h: h.post(
        "/battles",
        json={
            "show_id": _live_show_of(c.people["host"]),
            "opponent_show_id": _live_show_of(c.rival),
            "duration_seconds": 60,
        },
    ),
    "end battle": lambda c, h: h.post(f"/battles/{c.battle_id}/end"),
    "see show report": lambda c, h: h.get(f"/shows/{c.show['id']}/report"),
    "see host dashboard": lambda c, h: h.get(f"/hosts/{c.people['host'].id}/dashboard"),
    "see agency dashboard": lambda c, h: h.get(f"/agencies/{c.agency_id}/dashboard"),
    "see brand dashboard": lambda c, h: h.get(f"/brands/{c.brand['id']}/dashboard"),
    "see host calendar": lambda c, h: h.get(f"/hosts/{c.people['host'].id}/calendar"),
    "see agency calendar": lambda c, h: h.get(f"/agencies/{c.agency_id}/calendar"),
    "see brand calendar": lambda c, h: h.get(f"/brands/{c.brand['id']}/calendar"),
    "see run of show": lambda c, h: h.get(f"/shows/{c.show['id']}/run"),
    "add run segment": lambda c, h: h.post(
        f"/shows/{c.show['id']}/run", json={"title": "Q&A", "offset_seconds": 60}
    ),
    "follow host": lambda c, h: h.put(f"/hosts/{c.rival.id}/follow"),
    "ask for reminder": lambda c, h: h.put(f"/shows/{_fresh_show(c)}/reminder"),
    "see notifications": lambda c, h: h.get("/me/notifications"),
    "set exchange rate": lambda c, h: h.put("/rates/SGD/MYR", json={"rate": "3.3"}),
}

Y, N = True, False
# fmt: off
#                       anon viewer host other  mod  merch other agency admin
MATRIX: dict[str, tuple[bool, ...]] = {
    "view show":            (Y,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    "chat":                 (N,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    "like":                 (N,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    "pin":                  (N,  N,    Y,   N,     Y,   N,    N,    Y,     Y),
    "edit shelf":           (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "go live":              (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "end show":             (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "read stream key":      (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "hide message":         (N,  N,    Y,   N,     Y,   N,    N,    Y,     Y),
    "ban":                  (N,  N,    Y,   N,     Y,   N,    N,    Y,     Y),
    "slow mode":            (N,  N,    Y,   N,     Y,   N,    N,    Y,     Y),
    "add moderator":        (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "create product":       (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    "edit variant":         (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    "create show for host": (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    # The business side: agency staff see and act for their agency, its hosts and its
    # contracts; brand staff for their brand; a host for itself; an admin for all, except
    # answering an invitation, which binds the host and so is the host's alone.
    "invite host":          (N,  N,    N,   N,     N,   N,    N,    Y,     Y),
    "accept invitation":    (N,  N,    Y,   N,     N,   N,    N,    N,     N),
    "see agency hosts":     (N,  N,    N,   N,     N,   N,    N,    Y,     Y),
    "offer contract":       (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    "see contract":         (N,  N,    N,   N,     N,   Y,    N,    Y,     Y),
    "accept contract":      (N,  N,    N,   N,     N,   N,    N,    Y,     Y),
    "book show under contract": (N, N, N,   N,     N,   N,    N,    Y,     Y),
    "see brand lines":      (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    "close brand settlement": (N, N,   N,   N,     N,   Y,    N,    N,     Y),
    "see brand settlement": (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    "see agency settlements": (N, N,   N,   N,     N,   N,    N,    Y,     Y),
    "see host settlements": (N,  N,    Y,   N,     N,   N,    N,    N,     Y),
    # Competitions: an agency runs one for its hosts, a brand for the shows that sell its
    # products, an admin one open to all; everyone sees a leaderboard. A battle is started
    # or ended by the host of either show (or its agency, or an admin); not by a moderator.
    "create agency competition": (N, N, N,  N,     N,   N,    N,    Y,     Y),
    "create brand competition": (N, N,  N,  N,     N,   Y,    N,    N,     Y),
    "create open competition": (N, N,   N,  N,     N,   N,    N,    N,     Y),
    "see leaderboard":      (Y,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    "start battle":         (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "end battle":           (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    # Figures: a show's report is the host's (and its agency's; the show here is booked
    # under no contract, so no brand's); each dashboard its own party's, a host's also its
    # agency's.
    "see show report":      (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "see host dashboard":   (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "see agency dashboard": (N,  N,    N,   N,     N,   N,    N,    Y,     Y),
    "see brand dashboard":  (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    # Schedules: a calendar is its own party's (a host's also its agency's); the run of
    # show is read by the show's staff and changed by its producers (host, agency, admin);
    # anyone signed in follows a host, asks for a reminder and reads their notifications.
    "see host calendar":    (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "see agency calendar":  (N,  N,    N,   N,     N,   N,    N,    Y,     Y),
    "see brand calendar":   (N,  N,    N,   N,     N,   Y,    N,    N,     Y),
    "see run of show":      (N,  N,    Y,   N,     Y,   N,    N,    Y,     Y),
    "add run segment":      (N,  N,    Y,   N,     N,   N,    N,    Y,     Y),
    "follow host":          (N,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    "ask for reminder":     (N,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    "see notifications":    (N,  Y,    Y,   Y,     Y,   Y,    Y,    Y,     Y),
    # Exchange rates are the platform's: an admin sets them.
    "set exchange rate":    (N,  N,    N,   N,     N,   N,    N,    N,     Y),
}
# fmt: on

CELLS = [
    pytest.param(action, role, row[i], id=f"{action}-{role}")
    for action, row in MATRIX.items()
    for i, role in enumerate(ROLES)
]


def test_the_matrix_covers_every_action() -> None:
    assert set(MATRIX) == set(ACTIONS)
    assert all(len(row) == len(ROLES) for row in MATRIX.values())


@pytest.mark.parametrize(("action", "role", "allowed"), CELLS)
def test_cell(cast: Cast, action: str, role: str, allowed: bool) -> None:
    r = ACTIONS[action](cast, cast.client(role))
    if allowed:
        assert 200 <= r.status_code < 300, f"{role} should {action}: {r.status_code} {r.text}"
    else:
        expected = 401 if role == "anonymous" else 403
        assert r.status_code == expected, f"{role} must not {action}: {r.status_code} {r.text}"
        assert r.json()["error"]["code"] == ("not_signed_in" if expected == 401 else "forbidden")
