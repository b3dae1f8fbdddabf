from __future__ import annotations

import pytest

from hawker.domain.errors import Forbidden, NotSignedIn
from hawker.domain.roles import (
    ANONYMOUS,
    Action,
    Actor,
    Role,
    ShowFacts,
    check_agency_staff,
    check_brand_staff,
    check_contract_party,
    check_in_show,
    check_may_create_show,
    check_party,
    is_staff,
    may_in_show,
    may_see_contract,
    roles_in_show,
)

HOST, MOD, AGENT, ADMIN, VIEWER, OTHER_HOST = 1, 2, 3, 4, 5, 6
AGENCY = 50
SHOW = ShowFacts(host_id=HOST, moderator_ids=frozenset({MOD}), host_agency_ids=frozenset({AGENCY}))

ACTORS: dict[str, Actor] = {
    "anonymous": ANONYMOUS,
    "viewer": Actor(VIEWER),
    "host": Actor(HOST, is_host=True),
    "other host": Actor(OTHER_HOST, is_host=True),
    "moderator": Actor(MOD),
    "agency": Actor(AGENT, agency_ids=frozenset({AGENCY})),
    "other agency": Actor(AGENT + 100, agency_ids=frozenset({AGENCY + 1})),
    "merchant": Actor(7, brand_ids=frozenset({9})),
    "admin": Actor(ADMIN, is_admin=True),
}

Y, N = True, False
# action: anonymous, viewer, host, other host, moderator, agency, other agency, merchant, admin
TABLE: dict[Action, tuple[bool, ...]] = {
    Action.SHOW_WATCH: (Y, Y, Y, Y, Y, Y, Y, Y, Y),
    Action.CHAT_SEND: (N, Y, Y, Y, Y, Y, Y, Y, Y),
    Action.LIKE: (N, Y, Y, Y, Y, Y, Y, Y, Y),
    Action.SHOW_MANAGE: (N, N, Y, N, N, Y, N, N, Y),
    Action.SHELF_PIN: (N, N, Y, N, Y, Y, N, N, Y),
    Action.CHAT_MODERATE: (N, N, Y, N, Y, Y, N, N, Y),
    Action.SHOW_REQUESTS: (N, N, Y, N, Y, Y, N, N, Y),
    Action.BATTLE_RUN: (N, N, Y, N, N, Y, N, N, Y),
}
CASES = [
    pytest.param(who, action, row[i], id=f"{action.value}-{who}")
    for action, row in TABLE.items()
    for i, who in enumerate(ACTORS)
]


@pytest.mark.parametrize(("who", "action", "allowed"), CASES)
def test_may_in_show(who: str, action: Action, allowed: bool) -> None:
    assert may_in_show(ACTORS[who], action, SHOW) is allowed


@pytest.mark.parametrize(("who", "action", "allowed"), CASES)
def test_check_in_show_says_why(who: str, action: Action, allowed: bool) -> None:
    actor = ACTORS[who]
    if allowed:
        check_in_show(actor, action, SHOW)
        return
    expected = NotSignedIn if not actor.signed_in else Forbidden
    with pytest.raises(expected):
        check_in_show(actor, action, SHOW)


def test_actions_outside_a_show_are_not_show_actions() -> None:
    with pytest.raises(ValueError):
        may_in_show(ACTORS["admin"], Action.BRAND_CREATE, SHOW)


def test_roles_in_show() -> None:
    assert roles_in_show(ANONYMOUS, SHOW) == set()
    assert roles_in_show(ACTORS["viewer"], SHOW) == {Role.VIEWER}
    assert roles_in_show(ACTORS["host"], SHOW) == {Role.VIEWER, Role.HOST}
    assert roles_in_show(ACTORS["moderator"], SHOW) == {Role.VIEWER, Role.MODERATOR}
    assert roles_in_show(ACTORS["agency"], SHOW) == {Role.VIEWER, Role.AGENCY}
    assert roles_in_show(ACTORS["admin"], SHOW) == {Role.VIEWER, Role.ADMIN}
    assert is_staff(ACTORS["moderator"], SHOW)
    assert not is_staff(ACTORS["other host"], SHOW)


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("anonymous", N), ("viewer", N), ("host", Y), ("other host", N), ("moderator", N),
        ("agency", Y), ("other agency", N), ("merchant", N), ("admin", Y),
    ],
)  # fmt: skip
def test_who_may_schedule_a_show_for_the_host(who: str, allowed: bool) -> None:
    actor = ACTORS[who]
    if allowed:
        check_may_create_show(actor, HOST, frozenset({AGENCY}))
    else:
        with pytest.raises((Forbidden, NotSignedIn)):
            check_may_create_show(actor, HOST, frozenset({AGENCY}))


def test_a_user_who_is_not_a_host_cannot_schedule_for_themself() -> None:
    with pytest.raises(Forbidden):
        check_may_create_show(Actor(VIEWER), VIEWER, frozenset())


def test_brand_and_agency_staff() -> None:
    check_brand_staff(ACTORS["merchant"], 9)
    check_brand_staff(ACTORS["admin"], 9)
    with pytest.raises(Forbidden):
        check_brand_staff(ACTORS["merchant"], 10)
    with pytest.raises(NotSignedIn):
        check_brand_staff(ANONYMOUS, 9)
    check_agency_staff(ACTORS["agency"], AGENCY)
    with pytest.raises(Forbidden):
        check_agency_staff(ACTORS["other agency"], AGENCY)


# Who sees a party's figures, and who may see and answer a contract: brand 9 with agency
# AGENCY, and a direct contract of brand 9 with HOST.
FIGURES = {
    # party, id: the actors who may see (and settle) its figures
    ("brand", 9): {"merchant", "admin"},
    ("agency", AGENCY): {"agency", "admin"},
    ("host", HOST): {"host", "admin"},
}


@pytest.mark.parametrize(("party", "party_id"), list(FIGURES))
def test_each_party_sees_only_its_own_figures(party: str, party_id: int) -> None:
    for name, actor in ACTORS.items():
        if name in FIGURES[(party, party_id)]:
            check_party(actor, party, party_id)
        else:
            with pytest.raises(NotSignedIn if name == "anonymous" else Forbidden):
                check_party(actor, party, party_id)


def test_a_contract_is_seen_by_both_sides_and_answered_by_the_other_side() -> None:
    with_agency = {"brand_id": 9, "agency_id": AGENCY, "host_id": None}
    direct = {"brand_id": 9, "agency_id": None, "host_id": HOST}
    seen = {n for n, a in ACTORS.items() if may_see_contract(a, **with_agency)}  # type: ignore[arg-type]
    assert seen == {"merchant", "agency", "admin"}
    seen = {n for n, a in ACTORS.items() if may_see_contract(a, **direct)}  # type: ignore[arg-type]
    assert seen == {"merchant", "host", "admin"}
    check_contract_party(ACTORS["agency"], agency_id=AGENCY, host_id=None)
    check_contract_party(ACTORS["host"], agency_id=None, host_id=HOST)
    check_contract_party(ACTORS["admin"], agency_id=AGENCY, host_id=None)
    for name in ("merchant", "other agency", "host", "viewer"):
        with pytest.raises(Forbidden):
            check_contract_party(ACTORS[name], agency_id=AGENCY, host_id=None)
    with pytest.raises(NotSignedIn):
        check_contract_party(ANONYMOUS, agency_id=None, host_id=HOST)
