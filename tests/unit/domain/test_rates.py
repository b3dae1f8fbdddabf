from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.commissions import BrandTotal, reversal, sale_lines, totals
from hawker.domain.errors import Conflict, InvalidInput
from hawker.domain.money import Money
from hawker.domain.rates import check_pair, check_rate, convert, convert_back, no_rate

T0 = datetime(2026, 11, 11, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1380", "0.138"),
        ("150", "150"),
        ("7.2", "7.2"),
        ("0.0000012345", "0.0000012345"),
        ("100", "100"),
    ],
)
def test_a_rate_is_kept_as_given(text: str, expected: str) -> None:
    assert check_rate(text) == Decimal(expected)
    assert format(check_rate(text), "f") == format(Decimal(expected), "f")


@pytest.mark.parametrize(
    "bad", ["0", "-1.2", "abc", "NaN", "Infinity", "", "0.00000000001", "0.0000001", "1000000"]
)
def test_a_bad_rate_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_rate(bad)
    assert info.value.code == "invalid_rate"


def test_a_pair_is_two_known_different_currencies() -> None:
    assert check_pair("CNY", "USD") == ("CNY", "USD")
    with pytest.raises(InvalidInput) as info:
        check_pair("USD", "USD")
    assert info.value.code == "invalid_rate"
    for base, quote in (("usd", "CNY"), ("CNY", "XXX"), ("USDD", "EUR")):
        with pytest.raises(InvalidInput) as info:
            check_pair(base, quote)
        assert info.value.code == "invalid_currency"
    assert no_rate("CNY", "USD").code == "no_exchange_rate"
    assert isinstance(no_rate("CNY", "USD"), Conflict)


@pytest.mark.parametrize(
    ("amount", "base", "rate", "quote", "expected"),
    [
        ("99.00", "CNY", "0.138", "USD", "13.66"),  # 13.662
        ("0.25", "USD", "0.5", "EUR", "0.12"),  # 0.125: half even, down
        ("0.75", "USD", "0.5", "EUR", "0.38"),  # 0.375: half even, up
        ("12.99", "USD", "150.25", "JPY", "1952"),  # 1951.7475
        ("1000", "JPY", "0.0067", "USD", "6.70"),
        ("10.00", "USD", "0.307", "KWD", "3.070"),
    ],
)
def test_convert_rounds_half_even_to_the_minor_unit(
    amount: str, base: str, rate: str, quote: str, expected: str
) -> None:
    assert convert(Money.of(amount, base), Decimal(rate), quote) == Money.of(expected, quote)


def test_convert_back_undoes_convert_to_the_minor_unit_and_is_odd() -> None:
    # 1366 US cents at 0.138 -> 98.985... CNY -> 98.99
    assert convert_back(1366, "USD", Decimal("0.138"), "CNY") == 9899
    assert convert_back(-1366, "USD", Decimal("0.138"), "CNY") == -9899
    assert convert_back(1952, "JPY", Decimal("150.25"), "USD") == 1299
    assert convert_back(0, "USD", Decimal("7"), "CNY") == 0


PAIRS = [("CNY", "USD"), ("USD", "JPY"), ("JPY", "KWD"), ("EUR", "USD"), ("KWD", "EUR")]
rates = st.integers(min_value=10**4, max_value=10**16 - 1).map(lambda n: Decimal(n).scaleb(-10))


@st.composite
def share_pairs(draw: st.DrawFn) -> tuple[Decimal, Decimal]:
    host_bp = draw(st.integers(min_value=0, max_value=10_000))
    agency_bp = draw(st.integers(min_value=0, max_value=10_000 - host_bp))
    return Decimal(host_bp) / 100, Decimal(agency_bp) / 100


@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(PAIRS),
            rates,
            st.integers(min_value=0, max_value=10**11),
            share_pairs(),
            st.booleans(),  # with an agency
            st.booleans(),  # refunded
        ),
        max_size=25,
    )
)
def test_foreign_currency_lines_add_up_exactly_in_both_currencies(
    orders: list[tuple[tuple[str, str], Decimal, int, tuple[Decimal, Decimal], bool, bool]],
) -> None:
    """Orders charged in a show's currency for brands that price in another: per currency
    charged, the lines add up to what buyers paid; per brand currency, to what the brands
    are owed at each order's rate (each order's total converted once); refunds undo both."""
    lines = []
    paid: dict[str, int] = defaultdict(int)
    owed: dict[str, int] = defaultdict(int)
    for order_id, (
        (brand_currency, charged),
        rate,
        total,
        (host, agency),
        agent,
        refunded,
    ) in enumerate(orders, start=1):
        brand_minor = convert_back(total, charged, rate, brand_currency)
        sale = sale_lines(
            order_id=order_id,
            total_minor=total,
            currency=charged,
            host_share=host,
            agency_share=agency if agent else Decimal(0),
            with_agency=agent,
            at=T0,
            brand=BrandTotal(brand_minor, brand_currency, rate),
        )
        assert sum(line.amount_minor for line in sale) == total
        in_brand = [line.in_brand_currency() for line in sale]
        assert {line.currency for line in in_brand} == {brand_currency}
        assert sum(line.amount_minor for line in in_brand) == brand_minor
        assert all(line.amount_minor >= 0 for line in in_brand)
        assert all(line.rate == rate for line in sale)
        lines += sale
        paid[charged] += total
        owed[brand_currency] += brand_minor
        if refunded:
            back = reversal(sale, T0 + timedelta(days=1))
            assert [line.in_brand_currency().amount_minor for line in back] == [
                -line.amount_minor for line in in_brand
            ]
            lines += back
            paid[charged] -= total
            owed[brand_currency] -= brand_minor

    for t in totals(lines):
        assert t.host + t.agency + t.brand == t.sales == paid[t.currency]
    for t in totals(line.in_brand_currency() for line in lines):
        assert t.host + t.agency + t.brand == t.sales == owed[t.currency]
