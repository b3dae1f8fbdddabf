from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.competitions import (
    CompetitionStatus,
    Entrant,
    EntrantKind,
    Metric,
    Organizer,
    Score,
    battle_winner,
    check_battle,
    check_eligible,
    check_entrant_kind,
    check_entrants,
    check_title,
    check_window,
    rank,
    status_of,
)
from hawker.domain.contracts import Period
from hawker.domain.errors import Conflict, Forbidden, InvalidInput, NotSignedIn
from hawker.domain.roles import (
    ANONYMOUS,
    Actor,
    ShowFacts,
    check_may_organise,
    check_may_run_battle,
)

NOW = datetime(2026, 11, 11, 12, tzinfo=UTC)


def code_of(exc: pytest.ExceptionInfo[Exception]) -> str:
    return getattr(exc.value, "code", "")


def test_ranks_by_the_metric_and_ties_share_a_place() -> None:
    scores = [Score(1, 5, 1000), Score(2, 9, 1000), Score(3, 2, 4000), Score(4, 0, 0)]
    by_gmv = rank(scores, Metric.GMV)
    # 3 leads on GMV; 1 and 2 tie at 10.00 and share second place, 2 first for its units.
    assert [(s.rank, s.score.entrant_id) for s in by_gmv] == [(1, 3), (2, 2), (2, 1), (4, 4)]
    assert [s.winner for s in by_gmv] == [True, False, False, False]
    by_units = rank(scores, Metric.UNITS)
    assert [(s.rank, s.score.entrant_id) for s in by_units] == [(1, 2), (2, 1), (3, 3), (4, 4)]


def test_a_tie_for_first_makes_two_winners_and_nothing_sold_makes_none() -> None:
    tied = rank([Score(1, 3, 300), Score(2, 3, 300), Score(3, 1, 100)], Metric.UNITS)
    assert [s.score.entrant_id for s in tied if s.winner] == [1, 2]
    nothing = rank([Score(1, 0, 0), Score(2, 0, 0)], Metric.GMV)
    assert [s.rank for s in nothing] == [1, 1] and not any(s.winner for s in nothing)


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 10_000)), min_size=1, max_size=30))
def test_ranking_is_ordered_and_ranks_follow_the_figures(rows: list[tuple[int, int]]) -> None:
    scores = [Score(i + 1, units, gmv) for i, (units, gmv) in enumerate(rows)]
    for metric in Metric:
        out = rank(scores, metric)
        assert sorted(s.score.entrant_id for s in out) == [s.entrant_id for s in scores]
        values = [s.score.value(metric) for s in out]
        assert values == sorted(values, reverse=True)
        for place, standing in enumerate(out, start=1):
            better = sum(1 for s in scores if s.value(metric) > standing.score.value(metric))
            assert standing.rank == better + 1 <= place
        best = max(values)
        assert [s.winner for s in out] == [best > 0 and s.score.value(metric) == best for s in out]


def test_the_window() -> None:
    period = check_window(NOW - timedelta(hours=1), NOW + timedelta(days=7), NOW)
    assert period.ends_at - period.starts_at == timedelta(days=7, hours=1)
    cases = [
        ((NOW + timedelta(days=2), NOW + timedelta(days=1)), "invalid_period"),
        ((NOW, NOW), "invalid_period"),
        ((NOW - timedelta(days=2), NOW - timedelta(days=1)), "competition_over"),
        ((NOW, NOW + timedelta(days=400)), "window_too_long"),
        ((NOW.replace(tzinfo=None), NOW + timedelta(days=1)), "invalid_time"),
    ]
    for (start, end), code in cases:
        with pytest.raises(InvalidInput) as exc:
            check_window(start, end, NOW)
        assert code_of(exc) == code


def test_entrants_title_and_kind() -> None:
    assert check_entrants([3, 1, 2]) == (3, 1, 2)
    for ids, code in (([], "no_entrants"), ([1, 2, 1], "duplicate_entrants")):
        with pytest.raises(InvalidInput) as exc:
            check_entrants(ids)
        assert code_of(exc) == code
    with pytest.raises(InvalidInput) as exc:
        check_entrants(list(range(1, 502)))
    assert code_of(exc) == "too_many_entrants"
    assert check_title("  Singles'   Day  ") == "Singles' Day"
    with pytest.raises(InvalidInput):
        check_title("   ")
    assert check_entrant_kind(Organizer.AGENCY, EntrantKind.HOST) is EntrantKind.HOST
    with pytest.raises(InvalidInput) as exc:
        check_entrant_kind(Organizer.BRAND, EntrantKind.HOST)
    assert code_of(exc) == "invalid_entrant_kind"


def test_who_an_organizer_may_enter() -> None:
    signed = Entrant(1, "Ada", frozenset({7}), frozenset({9}))
    stranger = Entrant(2, "Bob <b>", frozenset(), frozenset())
    check_eligible(Organizer.ADMIN, None, [signed, stranger])
    check_eligible(Organizer.AGENCY, 7, [signed])
    check_eligible(Organizer.BRAND, 9, [signed])
    for organizer, organizer_id in ((Organizer.AGENCY, 7), (Organizer.BRAND, 9)):
        with pytest.raises(Conflict) as exc:
            check_eligible(organizer, organizer_id, [signed, stranger])
        assert code_of(exc) == "entrant_not_eligible" and "Bob" in str(exc.value)


def test_status_moves_with_the_clock_and_final_is_final() -> None:
    period = Period(NOW, NOW + timedelta(hours=1))
    assert status_of(period, False, NOW - timedelta(seconds=1)) is CompetitionStatus.UPCOMING
    assert status_of(period, False, NOW) is CompetitionStatus.RUNNING
    assert status_of(period, False, period.ends_at) is CompetitionStatus.CLOSING
    assert status_of(period, True, NOW) is CompetitionStatus.FINAL


def test_battle_rules() -> None:
    check_battle(1, 2, 300)
    for args, code in (
        ((1, 1, 300), "same_show"),
        ((1, 2, 5), "invalid_duration"),
        ((1, 2, 3601), "invalid_duration"),
    ):
        with pytest.raises(InvalidInput) as exc:
            check_battle(*args)
        assert code_of(exc) == code
    assert battle_winner(((1, 5), (2, 3))) == 1
    assert battle_winner(((1, 0), (2, 1))) == 2
    assert battle_winner(((1, 4), (2, 4))) is None


HOST, RIVAL, AGENT, ADMIN = 1, 2, 3, 4
SHOWS = (
    ShowFacts(host_id=HOST, moderator_ids=frozenset({10}), host_agency_ids=frozenset({50})),
    ShowFacts(host_id=RIVAL),
)


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (Actor(HOST, is_host=True), True),
        (Actor(RIVAL, is_host=True), True),
        (Actor(AGENT, agency_ids=frozenset({50})), True),
        (Actor(ADMIN, is_admin=True), True),
        (Actor(10), False),  # a moderator helps with chat; battles are the host's call
        (Actor(11, is_host=True), False),
        (Actor(12, brand_ids=frozenset({9})), False),
    ],
)
def test_who_may_start_or_end_a_battle(actor: Actor, allowed: bool) -> None:
    if allowed:
        check_may_run_battle(actor, SHOWS)
    else:
        with pytest.raises(Forbidden):
            check_may_run_battle(actor, SHOWS)


def test_anonymous_is_asked_to_sign_in() -> None:
    with pytest.raises(NotSignedIn):
        check_may_run_battle(ANONYMOUS, SHOWS)
    with pytest.raises(NotSignedIn):
        check_may_organise(ANONYMOUS, "admin", None)


def test_who_may_organise() -> None:
    agent = Actor(AGENT, agency_ids=frozenset({50}))
    merchant = Actor(12, brand_ids=frozenset({9}))
    admin = Actor(ADMIN, is_admin=True)
    check_may_organise(agent, "agency", 50)
    check_may_organise(merchant, "brand", 9)
    for organizer, organizer_id in (("admin", None), ("agency", 50), ("brand", 9)):
        check_may_organise(admin, organizer, organizer_id)
    refused = [
        (agent, "agency", 51),
        (agent, "admin", None),
        (merchant, "brand", 8),
        (merchant, "agency", 50),
        (Actor(HOST, is_host=True), "admin", None),
    ]
    for actor, organizer, organizer_id in refused:
        with pytest.raises(Forbidden):
            check_may_organise(actor, organizer, organizer_id)
