from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.requests import parse_request


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#7", 7),
        ("# 7", 7),
        ("7 please", 7),
        ("7 pls!!", 7),
        ("can I see 7 please", 7),
        ("number 7", 7),
        ("Number 7 looks nice", 7),
        ("show me 7", 7),
        ("Show me the 7", 7),
        ("no. 7", 7),
        ("No.7", 7),
        ("item #7", 7),
        ("7号", 7),
        ("我要7号", 7),
        ("7", 7),
        (" 7 ", 7),
        ("7!", 7),
        ("12", 12),
        ("#1 or #2?", 1),
        ("love it! #3", 3),
    ],
)
def test_requests_by_number(text: str, expected: int) -> None:
    assert parse_request(text, shelf_size=12) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I'm 25",
        "2 kids at home",
        "I have 2 kids",
        "#0",
        "#13",
        "13",
        "show me 99",
        "number 0",
        "hello",
        "",
        "it was 7 years ago",
        "call 555 1234",
        "7 years",
        "v7 is out",
        "1000 please",
    ],
)
def test_not_requests(text: str) -> None:
    assert parse_request(text, shelf_size=12) is None


def test_a_number_off_the_shelf_does_not_hide_a_later_one() -> None:
    assert parse_request("#99 no wait, #4", shelf_size=12) == 4


def test_an_empty_shelf_has_no_requests() -> None:
    assert parse_request("#1", shelf_size=0) is None


@given(st.text(max_size=80), st.integers(min_value=-3, max_value=200))
def test_the_result_is_none_or_on_the_shelf(text: str, shelf_size: int) -> None:
    number = parse_request(text, shelf_size)
    assert number is None or 1 <= number <= shelf_size


@given(
    st.integers(min_value=1, max_value=200),
    st.sampled_from(["#{}", "{} please", "number {}", "show me {}", "no. {}", "{}号", "{}"]),
)
def test_every_item_on_the_shelf_can_be_asked_for(number: int, template: str) -> None:
    text = template.format(number)
    assert parse_request(text, shelf_size=200) == number
    assert parse_request(text, shelf_size=number - 1) is None
