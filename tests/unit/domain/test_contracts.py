from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.contracts import (
    Period,
    Rate,
    Terms,
    check_moment,
    check_no_overlap,
    check_period,
    check_product,
    check_show_date,
    check_terms,
    from_basis_points,
    normalise_category,
    overlap,
    parse_share,
    rate_for,
    to_basis_points,
)
from hawker.domain.errors import Conflict, DomainError, InvalidInput
from hawker.domain.money import Money

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
Q1 = Period(JAN, datetime(2026, 4, 1, tzinfo=UTC))
BRAND, AGENCY, HOST = 1, 10, 100
PRODUCTS = {1: "lipstick", 2: "lipstick", 3: "wig", 4: ""}


def rate(host: str = "10", agency: str = "5", **kw: object) -> Rate:
    period = kw.pop("period", Q1)
    return Rate(period, Decimal(host), Decimal(agency), **kw)  # type: ignore[arg-type]


def terms(**kw: object) -> Terms:
    values: dict[str, object] = {
        "brand_id": BRAND,
        "agency_id": AGENCY,
        "host_id": None,
        "product_ids": None,
        "period": Q1,
        "rates": (rate(),),
        "fixed_fee": None,
    }
    values.update(kw)
    return Terms(**values)  # type: ignore[arg-type]


def refused(t: Terms) -> str:
    with pytest.raises(DomainError) as err:
        check_terms(t, PRODUCTS)
    return err.value.code


def test_good_terms_pass() -> None:
    t = terms(
        product_ids=frozenset({1, 2, 3}),
        rates=(
            rate("10", "5"),
            rate("20", "10", category="lipstick", period=Period(JAN, FEB)),
            rate("25", "0", category="lipstick", period=Period(FEB, MAR)),
            rate("30", "10", product_id=3),
        ),
        fixed_fee=Money.of("500", "USD"),
    )
    assert check_terms(t, PRODUCTS) is t
    direct = terms(agency_id=None, host_id=HOST, rates=(rate("15", "0"),))
    assert check_terms(direct, PRODUCTS) is direct


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"agency_id": None}, "contract_party_required"),
        ({"host_id": HOST}, "contract_party_required"),
        ({"product_ids": frozenset()}, "no_products"),
        ({"product_ids": frozenset({1, 99})}, "products_not_of_brand"),
        ({"rates": ()}, "rates_required"),
        ({"rates": (rate("60", "40.01"),)}, "shares_over_100"),
        ({"rates": (rate("100", "0.5"),)}, "shares_over_100"),
        ({"agency_id": None, "host_id": HOST}, "agency_share_without_agency"),
        (
            {"rates": (rate(period=Period(JAN - timedelta(days=1), FEB)),)},
            "rate_outside_contract",
        ),
        ({"rates": (rate(), rate("1", "1", period=Period(FEB, MAR)))}, "rates_overlap"),
        (
            {"rates": (rate(category="wig"), rate(category="wig", period=Period(FEB, MAR)))},
            "rates_overlap",
        ),
        ({"rates": (rate(product_id=1, category="wig"),)}, "invalid_rate_scope"),
        (
            {"product_ids": frozenset({1}), "rates": (rate(product_id=3),)},
            "rate_product_not_in_contract",
        ),
    ],
)
def test_bad_terms_are_refused_with_a_stable_code(changes: dict[str, object], code: str) -> None:
    assert refused(terms(**changes)) == code


def test_shares_of_exactly_100_are_fine_and_rates_may_follow_each_other() -> None:
    t = terms(
        rates=(rate("60", "40", period=Period(JAN, FEB)), rate("1", "1", period=Period(FEB, MAR)))
    )
    assert check_terms(t, PRODUCTS) is t


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (terms(), terms(), True),
        (terms(), terms(period=Period(Q1.ends_at, Q1.ends_at + timedelta(days=30))), False),
        (terms(), terms(brand_id=2), False),
        (terms(), terms(agency_id=11), False),
        (terms(), terms(agency_id=None, host_id=HOST), False),
        (terms(product_ids=frozenset({1})), terms(product_ids=frozenset({2})), False),
        (terms(product_ids=frozenset({1, 2})), terms(product_ids=frozenset({2, 3})), True),
        (terms(product_ids=frozenset({1})), terms(), True),
    ],
)
def test_overlap(a: Terms, b: Terms, expected: bool) -> None:
    assert overlap(a, b) is expected
    assert overlap(b, a) is expected


def test_an_overlapping_contract_is_a_conflict_naming_the_other() -> None:
    with pytest.raises(Conflict) as err:
        check_no_overlap(terms(), [(41, terms(agency_id=11)), (42, terms())])
    assert err.value.code == "contracts_overlap" and "42" in err.value.message
    check_no_overlap(terms(), [(41, terms(agency_id=11))])


def test_the_most_specific_rate_in_force_counts() -> None:
    t = terms(
        product_ids=frozenset({1, 2, 3, 4}),
        rates=(
            rate("10", "5"),
            rate("20", "10", category="lipstick", period=Period(JAN, FEB)),
            rate("30", "10", product_id=1, period=Period(FEB, MAR)),
        ),
    )
    mid_jan = JAN + timedelta(days=14)
    mid_feb = FEB + timedelta(days=14)
    assert rate_for(t, 1, "lipstick", mid_jan).host_share == 20  # type: ignore[union-attr]
    assert rate_for(t, 1, "lipstick", mid_feb).host_share == 30  # type: ignore[union-attr]
    assert rate_for(t, 2, "lipstick", mid_feb).host_share == 10  # type: ignore[union-attr]
    assert rate_for(t, 4, "", mid_jan).host_share == 10  # type: ignore[union-attr]
    # Outside every rate's dates, or a product the contract does not cover: no rate.
    assert rate_for(t, 1, "lipstick", Q1.ends_at) is None
    assert rate_for(terms(product_ids=frozenset({1})), 2, "lipstick", mid_jan) is None
    gap = terms(rates=(rate(period=Period(JAN, FEB)), rate(period=Period(MAR, Q1.ends_at))))
    assert rate_for(gap, 1, "lipstick", FEB) is None


def test_a_show_must_fall_within_the_contract() -> None:
    check_show_date(terms(), JAN)
    for moment in (JAN - timedelta(seconds=1), Q1.ends_at):
        with pytest.raises(InvalidInput) as err:
            check_show_date(terms(), moment)
        assert err.value.code == "show_outside_contract"


def test_a_shelf_under_contract_holds_only_its_products() -> None:
    t = terms(product_ids=frozenset({1, 2}))
    check_product(t, 1, BRAND)
    for product_id, brand_id in ((3, BRAND), (1, 2)):
        with pytest.raises(Conflict) as err:
            check_product(t, product_id, brand_id)
        assert err.value.code == "product_not_in_contract" and err.value.status == 409
    check_product(terms(), 3, BRAND)


@pytest.mark.parametrize("raw", ["-1", "100.01", "1.234", "NaN", "Infinity", "abc", 1.5, True])
def test_bad_shares(raw: object) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_share(raw, "the host's share")  # type: ignore[arg-type]
    assert err.value.code == "invalid_share"


@given(st.integers(min_value=0, max_value=10_000))
def test_shares_round_trip_through_basis_points(bp: int) -> None:
    share = parse_share(format(Decimal(bp) / 100, "f"), "a share")
    assert to_basis_points(share) == bp
    assert from_basis_points(bp) == share


def test_moments_and_periods() -> None:
    assert check_moment(datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))), "x") == JAN
    for bad in (
        datetime(2026, 1, 1),
        datetime(1999, 12, 31, tzinfo=UTC),
        datetime(9999, 1, 1, tzinfo=UTC),
    ):
        with pytest.raises(InvalidInput) as err:
            check_moment(bad, "the start")
        assert err.value.code == "invalid_time"
    with pytest.raises(InvalidInput) as err:
        check_period(FEB, JAN)
    assert err.value.code == "invalid_period"
    with pytest.raises(InvalidInput):
        check_period(JAN, JAN)


def test_categories_match_whatever_their_case_and_spacing() -> None:
    assert normalise_category("  Lip   Gloss ") == "lip gloss"
    assert normalise_category("") == ""
    with pytest.raises(InvalidInput):
        normalise_category("x" * 61)
    assert replace(rate(category="wig")).scope.value == "category"
