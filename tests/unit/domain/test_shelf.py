from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.errors import InvalidInput
from hawker.domain.shelf import MAX_LISTINGS, check_room_for_listing, renumber, reorder

id_lists = st.lists(st.integers(min_value=1, max_value=10**9), unique=True, max_size=60)


@given(id_lists, st.randoms())
def test_any_permutation_is_accepted_as_given(ids: list[int], rnd: object) -> None:
    wanted = list(ids)
    rnd.shuffle(wanted)  # type: ignore[attr-defined]
    assert reorder(ids, wanted) == wanted


@pytest.mark.parametrize(
    "wanted",
    [
        [1, 2],  # one missing
        [1, 2, 3, 4],  # one extra
        [1, 2, 2],  # a duplicate instead of one
        [1, 1, 2, 3],  # all named but one twice
        [3, 2, 9],  # a stranger
        [],
    ],
)
def test_anything_but_a_permutation_is_refused(wanted: list[int]) -> None:
    with pytest.raises(InvalidInput) as info:
        reorder([1, 2, 3], wanted)
    assert info.value.code == "invalid_order"


@given(id_lists, st.lists(st.integers(min_value=1, max_value=10**9), max_size=60))
def test_reorder_accepts_exactly_the_permutations(current: list[int], wanted: list[int]) -> None:
    is_permutation = sorted(current) == sorted(wanted)
    try:
        result = reorder(current, wanted)
    except InvalidInput:
        assert not is_permutation
    else:
        assert is_permutation
        assert result == wanted


@given(id_lists)
def test_renumber_gives_1_to_n_in_order(ids: list[int]) -> None:
    numbers = renumber(ids)
    assert [numbers[i] for i in ids] == list(range(1, len(ids) + 1))


def test_removing_an_item_moves_the_later_ones_up() -> None:
    assert renumber([10, 11, 13]) == {10: 1, 11: 2, 13: 3}


def test_a_shelf_has_a_limit() -> None:
    check_room_for_listing(MAX_LISTINGS - 1)
    with pytest.raises(InvalidInput) as info:
        check_room_for_listing(MAX_LISTINGS)
    assert info.value.code == "shelf_full"
