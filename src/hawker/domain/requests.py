"""Requests by number: "#7", "7 please", "number 7", "show me 7", "no. 7", "7号".

A viewer who asks for an item by its shelf number is linked to that listing and counted.
Numbers that do not name an item on the shelf are not requests ("I'm 25", "2 kids"),
so parsing takes the shelf size and only believes phrases shaped like a request.
"""

from __future__ import annotations

import re

_NUM = r"(\d{1,3})"
_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"#\s*" + _NUM + r"\b",
        r"(?:^|\b)(?:number|num|no\.?|nr\.?|item|link)\s*#?\s*" + _NUM + r"\b",
        r"(?:^|\b)(?:show|try|see|want|need|pin|buy|get)\s+(?:me\s+|us\s+|on\s+)?(?:the\s+)?"
        + _NUM
        + r"\b",
        r"(?:^|\s)" + _NUM + r"\s*(?:please|pls|plz|pl[sz]e?|next|again)\b",
        r"^\s*" + _NUM + r"\s*[!?.]*\s*$",
        _NUM + r"\s*号",
    )
)


def parse_request(text: str, shelf_size: int) -> int | None:
    """The shelf number a chat message asks for, or None.

    The first phrase that names an existing number wins; "#0" or "#99" on a shelf of 12
    is not a request.
    """
    if shelf_size <= 0:
        return None
    best: tuple[int, int] | None = None  # (position in text, number)
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            number = int(match.group(1))
            if 1 <= number <= shelf_size and (best is None or match.start() < best[0]):
                best = (match.start(), number)
                break
    return None if best is None else best[1]
