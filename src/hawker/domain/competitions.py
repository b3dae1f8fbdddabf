"""Sales competitions and head-to-head battles: the rules, no I/O.

A **competition** ranks its entrants (hosts, or shows: one kind per competition) by what
they sold in a time window [starts_at, ends_at): net GMV or units. Net means after refunds:
an order counts if it was paid within the window and not refunded or cancelled before the
window closed (a refund after the end changes nothing: the winners are fixed at the end).
A competition has **one currency** and only orders charged in it count, for either metric,
so that a ranking never adds yen to dollars; a show selling in another currency simply
scores nothing there.

Ranks are "1224" style: entrants with the same figure share a rank and the next rank skips.
Ties on the metric are ordered by the other figure (units for GMV, GMV for units), but keep
their shared rank. The winners are the entrants ranked first with a figure above zero:
nobody wins a contest in which nothing sold.

A **battle** pits two live shows against each other for a few minutes: the score of each is
the units sold in that show since the battle started, net of refunds and cancellations; the
one with more units when time is up wins, the same number is a draw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hawker.domain.contracts import Period, check_period
from hawker.domain.errors import Conflict, InvalidInput

MAX_ENTRANTS = 500
MAX_WINDOW = timedelta(days=366)
TITLE_LENGTH = 120
MIN_BATTLE_SECONDS = 10
MAX_BATTLE_SECONDS = 3600


class Metric(StrEnum):
    GMV = "gmv"  # net paid total, in the competition's currency
    UNITS = "units"  # net units


class EntrantKind(StrEnum):
    HOST = "host"
    SHOW = "show"


class Organizer(StrEnum):
    """Who runs a competition, and so whom it may enter (domain/roles.py checks the actor):
    an admin any host or show; an agency its own hosts or their shows; a brand the shows
    that sell its products, counting only its products' orders."""

    ADMIN = "admin"
    AGENCY = "agency"
    BRAND = "brand"


class CompetitionStatus(StrEnum):
    UPCOMING = "upcoming"  # before the window
    RUNNING = "running"  # within it: the leaderboard moves
    CLOSING = "closing"  # the window is over; the winners are about to be fixed
    FINAL = "final"  # the winners are fixed and never change


def check_title(raw: str) -> str:
    title = " ".join(raw.split())
    if not 1 <= len(title) <= TITLE_LENGTH:
        raise InvalidInput(
            f"a competition's title has 1 to {TITLE_LENGTH} characters", code="invalid_title"
        )
    return title


def check_window(starts_at: datetime, ends_at: datetime, now: datetime) -> Period:
    """The window of a new competition: it ends after it starts, within a year of its
    start, and not already in the past (it may have started already)."""
    period = check_period(starts_at, ends_at, "the competition")
    if period.ends_at - period.starts_at > MAX_WINDOW:
        raise InvalidInput("a competition lasts at most a year", code="window_too_long")
    if period.ends_at <= now:
        raise InvalidInput("this competition would be over already", code="competition_over")
    return period


def check_entrants(ids: Sequence[int]) -> tuple[int, ...]:
    if not ids:
        raise InvalidInput("a competition needs at least one entrant", code="no_entrants")
    if len(ids) > MAX_ENTRANTS:
        raise InvalidInput(f"at most {MAX_ENTRANTS} entrants", code="too_many_entrants")
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    if twice:
        raise InvalidInput(
            f"entrants {', '.join(map(str, twice))} are listed more than once",
            code="duplicate_entrants",
        )
    return tuple(ids)


def check_entrant_kind(organizer: Organizer, kind: EntrantKind) -> EntrantKind:
    if organizer is Organizer.BRAND and kind is not EntrantKind.SHOW:
        raise InvalidInput(
            "a brand's competition ranks the shows that sell its products: enter shows",
            code="invalid_entrant_kind",
        )
    return kind


@dataclass(frozen=True, slots=True)
class Entrant:
    """What the rules need to know of an entrant: its host's agencies and, for a show, the
    brands whose products it sells (on its shelf, or under its contract)."""

    id: int
    name: str
    host_agency_ids: frozenset[int]
    brand_ids: frozenset[int] = frozenset()


def check_eligible(
    organizer: Organizer, organizer_id: int | None, entrants: Iterable[Entrant]
) -> None:
    """An agency enters only the hosts it signed (or their shows); a brand only the shows
    that sell its products. An admin enters anyone."""
    if organizer is Organizer.ADMIN:
        return
    if organizer is Organizer.AGENCY:
        outside = [e for e in entrants if organizer_id not in e.host_agency_ids]
        why = "not signed with this agency"
    else:
        outside = [e for e in entrants if organizer_id not in e.brand_ids]
        why = "not selling this brand's products"
    if outside:
        names = ", ".join(e.name for e in outside[:5]) + (" …" if len(outside) > 5 else "")
        raise Conflict(f"{names}: {why}", code="entrant_not_eligible")


def status_of(period: Period, final: bool, now: datetime) -> CompetitionStatus:
    if final:
        return CompetitionStatus.FINAL
    if now < period.starts_at:
        return CompetitionStatus.UPCOMING
    if now < period.ends_at:
        return CompetitionStatus.RUNNING
    return CompetitionStatus.CLOSING


@dataclass(frozen=True, slots=True)
class Score:
    """What one entrant sold in the window, net of refunds."""

    entrant_id: int
    units: int
    gmv_minor: int

    def value(self, metric: Metric) -> int:
        return self.gmv_minor if metric is Metric.GMV else self.units

    def tiebreak(self, metric: Metric) -> int:
        return self.units if metric is Metric.GMV else self.gmv_minor


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    score: Score
    winner: bool


def rank(scores: Iterable[Score], metric: Metric) -> list[Standing]:
    """Best first. Entrants with equal figures share a rank; the order among them is by the
    other figure, then as they were entered (the order of `scores`)."""
    listed = list(scores)
    order = sorted(
        range(len(listed)),
        key=lambda i: (-listed[i].value(metric), -listed[i].tiebreak(metric), i),
    )
    out: list[Standing] = []
    for place, i in enumerate(order, start=1):
        score = listed[i]
        previous = out[-1] if out else None
        same = previous is not None and previous.score.value(metric) == score.value(metric)
        position = previous.rank if same and previous is not None else place
        out.append(Standing(position, score, position == 1 and score.value(metric) > 0))
    return out


# -- battles -----------------------------------------------------------------------------


class BattleStatus(StrEnum):
    RUNNING = "running"
    ENDED = "ended"


def check_battle(show_id: int, opponent_id: int, seconds: int) -> None:
    if show_id == opponent_id:
        raise InvalidInput("a show cannot battle itself; pick another show", code="same_show")
    if isinstance(seconds, bool) or not MIN_BATTLE_SECONDS <= seconds <= MAX_BATTLE_SECONDS:
        raise InvalidInput(
            f"a battle lasts {MIN_BATTLE_SECONDS} seconds to {MAX_BATTLE_SECONDS // 60} minutes",
            code="invalid_duration",
        )


def battle_winner(units: Sequence[tuple[int, int]]) -> int | None:
    """The show with more units of the two `(show_id, units)`, or None for a draw."""
    (a, units_a), (b, units_b) = units
    if units_a == units_b:
        return None
    return a if units_a > units_b else b
