from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.deals import (
    MAX_COUNTDOWN_SECONDS,
    MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS,
    Deal,
    DealStatus,
    check_deal_running,
    deal_price,
    deal_status,
    end_deal,
    new_deal,
)
from hawker.domain.errors import DealNotRunning, InvalidInput, SoldOut
from hawker.domain.money import Money

NOW = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
LIST = Money.of("12.90", "USD")


def make(**overrides: Any) -> Deal:
    args: dict[str, Any] = {
        "listing_id": 7,
        "listing_price": LIST,
        "price": Money.of("9.90", "USD"),
        "quantity": 500,
        "per_buyer_limit": 2,
        "duration_seconds": 300,
        "countdown_seconds": 0,
        "now": NOW,
    }
    args.update(overrides)
    return new_deal(**args)


def test_a_deal_opens_after_its_countdown_and_lasts_its_duration() -> None:
    deal = make(countdown_seconds=60, duration_seconds=300)
    assert deal.starts_at == NOW + timedelta(seconds=60)
    assert deal.ends_at == NOW + timedelta(seconds=360)
    assert (deal.listing_id, deal.quantity, deal.per_buyer_limit) == (7, 500, 2)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"price": Money.of("0", "USD")}, "invalid_deal_price"),
        ({"price": LIST}, "invalid_deal_price"),  # not a deal
        ({"price": Money.of("13", "USD")}, "invalid_deal_price"),
        ({"price": Money.of("9", "EUR")}, "invalid_deal_price"),
        ({"quantity": 0}, "invalid_deal_quantity"),
        ({"quantity": -5}, "invalid_deal_quantity"),
        ({"quantity": 10**7}, "invalid_deal_quantity"),
        ({"quantity": True}, "invalid_deal_quantity"),
        ({"per_buyer_limit": 0}, "invalid_deal_limit"),
        ({"per_buyer_limit": 501}, "invalid_deal_limit"),
        ({"duration_seconds": MIN_DURATION_SECONDS - 1}, "invalid_deal_duration"),
        ({"duration_seconds": MAX_DURATION_SECONDS + 1}, "invalid_deal_duration"),
        ({"countdown_seconds": -1}, "invalid_deal_countdown"),
        ({"countdown_seconds": MAX_COUNTDOWN_SECONDS + 1}, "invalid_deal_countdown"),
    ],
)
def test_a_host_cannot_start_a_deal_that_makes_no_sense(
    overrides: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        make(**overrides)
    assert (info.value.code, info.value.status) == (code, 422)


def test_the_bounds_themselves_are_allowed() -> None:
    make(duration_seconds=MIN_DURATION_SECONDS, countdown_seconds=MAX_COUNTDOWN_SECONDS)
    make(duration_seconds=MAX_DURATION_SECONDS, per_buyer_limit=500, price=Money.of("0.01", "USD"))
    make(price=Money.of("12.89", "USD"), quantity=1, per_buyer_limit=1)


def test_the_life_of_a_deal() -> None:
    deal = make(countdown_seconds=30, duration_seconds=60)
    start, end = deal.starts_at, deal.ends_at
    assert deal.status(NOW, 500) is DealStatus.SCHEDULED
    assert deal.status(start - timedelta(microseconds=1), 500) is DealStatus.SCHEDULED
    assert deal.status(start, 500) is DealStatus.RUNNING
    assert deal.status(end - timedelta(microseconds=1), 1) is DealStatus.RUNNING
    assert deal.status(start + timedelta(seconds=5), 0) is DealStatus.SOLD_OUT
    assert deal.status(end, 3) is DealStatus.ENDED
    # Sold out before the end stays "sold out" afterwards.
    assert deal.status(end + timedelta(hours=1), 0) is DealStatus.SOLD_OUT


def test_a_sold_out_deal_runs_again_when_units_come_back() -> None:
    deal = make()
    assert deal.status(NOW, 0) is DealStatus.SOLD_OUT
    assert deal.status(NOW, 1) is DealStatus.RUNNING


def test_buying_is_refused_with_the_reason() -> None:
    deal = make(countdown_seconds=90)
    with pytest.raises(DealNotRunning) as early:
        check_deal_running(deal, NOW, 500)
    assert (early.value.code, early.value.status) == ("deal_not_running", 409)
    assert "90 s" in early.value.message
    check_deal_running(deal, deal.starts_at, 500)
    with pytest.raises(SoldOut) as gone:
        check_deal_running(deal, deal.starts_at, 0)
    assert (gone.value.code, gone.value.status) == ("sold_out", 409)
    with pytest.raises(DealNotRunning) as late:
        check_deal_running(deal, deal.ends_at, 10)
    assert "ended" in late.value.message


def test_the_deal_price_applies_only_while_the_deal_runs() -> None:
    deal = make(countdown_seconds=10)
    assert deal_price(None, NOW, 5) is None
    assert deal_price(deal, NOW, 5) is None
    assert deal_price(deal, deal.starts_at, 5) == Money.of("9.90", "USD")
    assert deal_price(deal, deal.starts_at, 0) is None
    assert deal_price(deal, deal.ends_at, 5) is None


def test_countdowns_round_up_to_whole_seconds() -> None:
    deal = make(countdown_seconds=10, duration_seconds=20)
    assert deal.seconds_to_start(NOW) == 10
    assert deal.seconds_to_start(NOW + timedelta(seconds=9, milliseconds=1)) == 1
    assert deal.seconds_to_start(deal.starts_at) == 0
    assert deal.seconds_to_end(deal.starts_at) == 20
    assert deal.seconds_to_end(deal.ends_at + timedelta(seconds=5)) == 0


def test_the_host_ends_a_running_deal_early() -> None:
    deal = make()
    stop = NOW + timedelta(seconds=40)
    ended = end_deal(deal, stop)
    assert ended.status(stop, 100) is DealStatus.ENDED
    assert ended.status(stop - timedelta(seconds=1), 100) is DealStatus.RUNNING
    assert end_deal(ended, stop + timedelta(seconds=5)) == ended


def test_a_deal_stopped_during_its_countdown_never_opens() -> None:
    deal = make(countdown_seconds=60)
    stopped = end_deal(deal, NOW + timedelta(seconds=10))
    for seconds in (10, 60, 61, 400):
        assert stopped.status(NOW + timedelta(seconds=seconds), 500) is not DealStatus.RUNNING


offsets = st.integers(min_value=-10_000, max_value=100_000)


@given(
    countdown=st.integers(0, MAX_COUNTDOWN_SECONDS),
    duration=st.integers(MIN_DURATION_SECONDS, MAX_DURATION_SECONDS),
    first=offsets,
    later=st.integers(0, 100_000),
    left=st.integers(0, 500),
)
def test_status_only_moves_forward_in_time(
    countdown: int, duration: int, first: int, later: int, left: int
) -> None:
    deal = make(countdown_seconds=countdown, duration_seconds=duration)
    order = [DealStatus.SCHEDULED, DealStatus.RUNNING, DealStatus.ENDED]
    a = deal_status(deal, NOW + timedelta(seconds=first), left)
    b = deal_status(deal, NOW + timedelta(seconds=first + later), left)
    if DealStatus.SOLD_OUT in (a, b):
        # With the same units left, sold out is reached at the start and kept.
        assert left == 0 and b is DealStatus.SOLD_OUT
    else:
        assert order.index(a) <= order.index(b)
    running = a is DealStatus.RUNNING
    assert running == (countdown <= first < countdown + duration and left > 0)
