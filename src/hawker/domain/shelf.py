"""The shelf: a show's numbered listings. The number is what host and viewers say out loud.

Numbers are positions 1..N with no gaps; removing #3 makes #4 the new #3, the way a host
reads a shelf. A listing keeps its id, so a pin or a request survives renumbering.
"""

from __future__ import annotations

from collections.abc import Sequence

from hawker.domain.errors import InvalidInput

MAX_LISTINGS = 200


def check_room_for_listing(current: int) -> None:
    if current >= MAX_LISTINGS:
        raise InvalidInput(f"a shelf holds at most {MAX_LISTINGS} listings", code="shelf_full")


def reorder(current: Sequence[int], wanted: Sequence[int]) -> list[int]:
    """Check that `wanted` is a permutation of `current` (listing ids) and return it."""
    if (
        len(wanted) != len(current)
        or set(wanted) != set(current)
        or len(set(wanted)) != len(wanted)
    ):
        raise InvalidInput(
            "the new order must name every listing of the shelf exactly once",
            code="invalid_order",
        )
    return list(wanted)


def renumber(ids_in_order: Sequence[int]) -> dict[int, int]:
    """Listing id -> its number (1-based position)."""
    return {listing_id: number for number, listing_id in enumerate(ids_in_order, start=1)}
