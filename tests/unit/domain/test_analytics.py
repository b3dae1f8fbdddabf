from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hawker.domain.analytics import (
    MAX_MINUTES,
    Sale,
    Stay,
    average,
    check_may_see_dashboard,
    check_may_see_show,
    check_period,
    minutes,
    percent,
    series,
    unique_viewers,
)
from hawker.domain.errors import Forbidden, InvalidInput, NotSignedIn
from hawker.domain.roles import ANONYMOUS, Actor, ShowFacts

START = datetime(2026, 11, 11, 20, 0, tzinfo=UTC)


def at(minute: int, second: int = 0) -> datetime:
    return START + timedelta(minutes=minute, seconds=second)


def test_percent_and_average_have_one_decimal_place_and_no_float() -> None:
    assert percent(1, 3) == "33.3"
    assert percent(2, 3) == "66.7"
    assert percent(0, 4) == "0.0"
    assert percent(1, 0) is None
    assert average([]) == "0.0"
    assert average([3, 4]) == "3.5"
    assert average([1, 1, 2]) == "1.3"


def test_a_show_is_charted_minute_by_minute() -> None:
    samples = [(at(0, 10), 2), (at(0, 50), 5), (at(2, 5), 3)]
    sales = [Sale(at(0, 30), 1, 1999), Sale(at(2, 1), 1, 500), Sale(at(2, 59), 2, 12000)]
    stays = [
        Stay(1, at(0, 1)),
        Stay(None, at(0, 2)),
        Stay(2, at(1)),
        Stay(1, at(2)),
        Stay(3, at(2)),
    ]
    points = series(START, at(2, 59), samples, sales, stays)
    assert [p.minute for p in points] == [0, 1, 2]
    assert [p.viewers for p in points] == [5, None, 3]  # the highest sample of each minute
    assert [p.orders for p in points] == [1, 0, 2]
    assert [p.gmv_minor for p in points] == [1999, 1999, 14499]
    # Buyers so far over viewers so far: 1/2, 1/3, 2/4 (viewer 1 came back: counted once).
    assert [p.conversion for p in points] == ["50.0", "33.3", "50.0"]
    assert unique_viewers(stays) == 4


def test_a_sale_after_the_last_minute_counts_in_it_and_long_shows_are_capped() -> None:
    points = series(START, at(0, 30), [], [Sale(at(3), 1, 100)], [])
    assert len(points) == 1 and points[0].orders == 1 and points[0].conversion is None
    assert minutes(START, START + timedelta(days=3)) == MAX_MINUTES


def test_who_sees_a_shows_figures() -> None:
    show = ShowFacts(host_id=1, moderator_ids=frozenset({2}), host_agency_ids=frozenset({7}))
    check_may_see_show(Actor(1, is_host=True), show, None)
    check_may_see_show(Actor(9, agency_ids=frozenset({7})), show, None)
    check_may_see_show(Actor(9, brand_ids=frozenset({3})), show, 3)
    check_may_see_show(Actor(9, is_admin=True), show, None)
    for actor, brand in ((Actor(2), None), (Actor(9, brand_ids=frozenset({3})), None),
                         (Actor(9, agency_ids=frozenset({8})), 3)):  # fmt: skip
        with pytest.raises(Forbidden):
            check_may_see_show(actor, show, brand)
    with pytest.raises(NotSignedIn):
        check_may_see_show(ANONYMOUS, show, None)


def test_who_sees_a_dashboard() -> None:
    check_may_see_dashboard(Actor(1), "host", 1)
    check_may_see_dashboard(Actor(5, agency_ids=frozenset({7})), "host", 1, frozenset({7}))
    check_may_see_dashboard(Actor(5, agency_ids=frozenset({7})), "agency", 7)
    check_may_see_dashboard(Actor(5, brand_ids=frozenset({3})), "brand", 3)
    check_may_see_dashboard(Actor(5, is_admin=True), "brand", 4)
    with pytest.raises(Forbidden):
        check_may_see_dashboard(Actor(2), "host", 1)
    with pytest.raises(Forbidden):
        check_may_see_dashboard(Actor(5, agency_ids=frozenset({7})), "host", 1, frozenset({8}))
    with pytest.raises(Forbidden):
        check_may_see_dashboard(Actor(5, brand_ids=frozenset({3})), "agency", 3)


def test_a_period_has_time_zones_and_ends_after_it_starts() -> None:
    check_period(None, None)
    check_period(START, at(1))
    for start, end in ((at(1), START), (START.replace(tzinfo=None), None)):
        with pytest.raises(InvalidInput) as raised:
            check_period(start, end)
        assert raised.value.code == "invalid_period"
