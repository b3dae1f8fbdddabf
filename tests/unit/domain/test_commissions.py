from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.commissions import (
    LineKind,
    Party,
    check_period_end,
    reversal,
    sale_lines,
    split,
    totals,
)
from hawker.domain.errors import Conflict, InvalidInput
from hawker.domain.money import exponent

T0 = datetime(2026, 11, 11, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("total", "host", "agency", "expected"),
    [
        (10_000, "10", "5", (1000, 500, 8500)),
        (1999, "12.5", "7.5", (250, 150, 1599)),  # 249.875 -> 250; 399.8 -> 400
        (3, "50", "50", (2, 1, 0)),  # 1.5 and 1.5 would both round to 2: the agency gets 1
        (1, "50", "50", (0, 1, 0)),  # 0.5 -> 0 (half even); all of it is commission
        (5, "10", "0", (0, 0, 5)),  # 0.5 -> 0
        (15, "10", "0", (2, 0, 13)),  # 1.5 -> 2
        (0, "30", "20", (0, 0, 0)),
        (12345, "0", "0", (0, 0, 12345)),
        (12345, "100", "0", (12345, 0, 0)),
    ],
)
def test_split_examples(total: int, host: str, agency: str, expected: tuple[int, int, int]) -> None:
    cut = split(total, Decimal(host), Decimal(agency))
    assert (cut.host, cut.agency, cut.brand) == expected
    assert cut.total == total


shares = st.integers(min_value=0, max_value=10_000).map(lambda bp: Decimal(bp) / 100)


@st.composite
def share_pairs(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    host_bp = draw(st.integers(min_value=0, max_value=10_000))
    agency_bp = draw(st.integers(min_value=0, max_value=10_000 - host_bp))
    return Decimal(host_bp) / 100, Decimal(agency_bp) / 100


@given(total=st.integers(min_value=0, max_value=10**14), pair=share_pairs())
def test_a_split_adds_up_and_each_share_is_within_one_minor_unit(
    total: int, pair: tuple[Decimal, Decimal]
) -> None:
    host, agency = pair
    cut = split(total, host, agency)
    assert cut.host + cut.agency + cut.brand == total
    assert min(cut.host, cut.agency, cut.brand) >= 0
    assert abs(cut.host - Decimal(total) * host / 100) <= Decimal("0.5")
    assert abs(cut.agency - Decimal(total) * agency / 100) < 1
    assert abs(cut.host + cut.agency - Decimal(total) * (host + agency) / 100) <= Decimal("0.5")


CURRENCIES = ["USD", "JPY", "KWD", "EUR"]


@dataclass(frozen=True)
class Sold:
    order_id: int
    currency: str
    total: int
    host: Decimal
    agency: Decimal
    with_agency: bool
    refunded: bool
    paid_at: datetime


@st.composite
def ledgers(draw: st.DrawFn) -> list[Sold]:
    """Orders of any totals and currencies, each paid under any rate, some refunded."""
    orders = []
    for order_id in range(1, draw(st.integers(min_value=0, max_value=30)) + 1):
        host, agency = draw(share_pairs())
        with_agency = draw(st.booleans())
        orders.append(
            Sold(
                order_id=order_id,
                currency=draw(st.sampled_from(CURRENCIES)),
                total=draw(st.integers(min_value=0, max_value=10**11)),
                host=host,
                agency=agency if with_agency else Decimal(0),
                with_agency=with_agency,
                refunded=draw(st.booleans()),
                paid_at=T0 + timedelta(minutes=draw(st.integers(0, 10_000))),
            )
        )
    return orders


@given(ledgers())
def test_commission_lines_plus_the_brand_share_equal_what_buyers_paid(orders: list[Sold]) -> None:
    lines = []
    paid: dict[str, int] = defaultdict(int)
    for o in orders:
        sale = sale_lines(
            order_id=o.order_id,
            total_minor=o.total,
            currency=o.currency,
            host_share=o.host,
            agency_share=o.agency,
            with_agency=o.with_agency,
            at=o.paid_at,
        )
        assert sum(line.amount_minor for line in sale) == o.total
        assert all(line.amount_minor >= 0 for line in sale)
        parties = (
            {Party.HOST, Party.AGENCY, Party.BRAND} if o.with_agency else {Party.HOST, Party.BRAND}
        )
        assert {line.party for line in sale} == parties
        lines += sale
        paid[o.currency] += o.total
        if o.refunded:
            back = reversal(sale, o.paid_at + timedelta(days=1))
            assert [line.amount_minor for line in back] == [-line.amount_minor for line in sale]
            assert all(line.kind is LineKind.REFUND for line in back)
            lines += back
            paid[o.currency] -= o.total

    # Per currency, to the minor unit: the parties' lines and the brand's add up to what was
    # paid and not refunded, and the totals a settlement shows say the same.
    by_currency: dict[str, int] = defaultdict(int)
    for line in lines:
        by_currency[line.currency] += line.amount_minor
    assert {c: n for c, n in by_currency.items() if n} == {c: n for c, n in paid.items() if n}
    for t in totals(lines):
        assert t.host + t.agency + t.brand == t.sales == paid[t.currency]
        assert t.fees == 0
        # The JSON form keeps the currency's decimals exactly.
        shown = t.to_json()["sales"]
        assert isinstance(shown, dict)
        assert Decimal(shown["amount"]).as_tuple().exponent == -exponent(t.currency)


def test_totals_count_each_order_once_and_keep_fees_apart() -> None:
    sale = sale_lines(
        order_id=7,
        total_minor=2000,
        currency="USD",
        host_share=Decimal("10"),
        agency_share=Decimal("5"),
        with_agency=True,
        at=T0,
    )
    from hawker.domain.commissions import fee_line
    from hawker.domain.money import Money

    fee = fee_line(Money.of("500", "USD"), Party.AGENCY, T0)
    (usd,) = totals([*sale, fee, *reversal(sale, T0 + timedelta(hours=1))])
    assert (usd.sales, usd.host, usd.agency, usd.brand, usd.fees) == (0, 0, 0, 0, 50000)
    assert usd.orders == {7}
    (only_sale,) = totals(sale)
    assert (only_sale.sales, only_sale.host, only_sale.agency, only_sale.brand) == (
        2000,
        200,
        100,
        1700,
    )


def test_a_period_closes_once_it_is_over_and_after_the_last_one() -> None:
    assert check_period_end(T0, now=T0, last_end=None) == T0
    with pytest.raises(InvalidInput) as err:
        check_period_end(T0 + timedelta(seconds=1), now=T0, last_end=None)
    assert err.value.code == "period_not_over"
    with pytest.raises(Conflict) as conflict:
        check_period_end(T0, now=T0, last_end=T0)
    assert conflict.value.code == "period_already_settled"


def test_no_agency_means_no_agency_share() -> None:
    with pytest.raises(ValueError):
        sale_lines(
            order_id=1,
            total_minor=100,
            currency="USD",
            host_share=Decimal(10),
            agency_share=Decimal(5),
            with_agency=False,
            at=T0,
        )
    with pytest.raises(ValueError):
        split(100, Decimal(60), Decimal(41))
