"""Schedules: calendars per host, agency and brand; the run of show; follows, reminders and
in-app notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints

from hawker.services import notifications, schedules
from hawker.web.api.schemas import ERRORS, Amount, Bool, HostRef, Id, In, Int, PathId, ShowOut
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS)

Title = Annotated[str, StringConstraints(max_length=300)]
# Text, not `datetime`: that would also take a number (seconds since 1970) for a moment.
MOMENT = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"
Period = Query(
    None,
    alias="from",
    pattern=MOMENT,
    max_length=40,
    description="ISO 8601 with a time zone; default: yesterday",
)
PeriodEnd = Query(
    None,
    alias="to",
    pattern=MOMENT,
    max_length=40,
    description="ISO 8601 with a time zone; default: 35 days after `from`",
)


# -- bodies -------------------------------------------------------------------------------


class CalendarShowOut(ShowOut):
    segments: int


class PartyOut(BaseModel):
    kind: str
    id: int
    name: str


class CalendarOut(BaseModel):
    party: PartyOut
    from_: str = Field(alias="from")
    to: str
    shows: list[CalendarShowOut]


class DealTermsIn(In):
    price: Amount
    quantity: Int = Field(ge=1)
    per_buyer_limit: Int = Field(1, ge=1)
    duration_seconds: Int = Field(300, ge=1)
    variant_id: Id | None = None


class SegmentIn(In):
    title: Title
    offset_seconds: Int | None = Field(
        None, description="Seconds after the show goes live (before that: its scheduled time)."
    )
    at: datetime | None = Field(None, description="A clock time instead of an offset.")
    listing_id: Id | None = None
    pin: Bool = False
    deal: DealTermsIn | None = None


class SegmentPatch(In):
    title: Title | None = None
    offset_seconds: Int | None = None
    at: datetime | None = None
    listing_id: Id | None = None
    pin: Bool | None = None
    deal: DealTermsIn | None = None


class ListingRef(BaseModel):
    id: int
    number: int
    title: str


class SegmentDealOut(BaseModel):
    price: dict[str, str]
    quantity: int
    per_buyer_limit: int
    duration_seconds: int
    variant_id: int | None


class SegmentOut(BaseModel):
    id: int
    title: str
    offset_seconds: int | None
    at: str | None
    starts_at: str
    listing: ListingRef | None
    pin: bool
    deal: SegmentDealOut | None
    applied_at: str | None


class RunOut(BaseModel):
    show_id: int
    status: str
    scheduled_at: str
    started_at: str | None
    server_time: str
    now_id: int | None
    next_id: int | None
    segments: list[SegmentOut]


class AppliedOut(BaseModel):
    run: RunOut
    pinned: dict[str, Any] | None
    deal: dict[str, Any] | None


class FollowOut(BaseModel):
    host: HostRef
    following: bool
    followers: int


class ReminderOut(BaseModel):
    show_id: int
    status: str
    reminder: bool


class NotificationOut(BaseModel):
    id: int
    kind: str
    show_id: int | None
    title: str
    body: str
    url: str
    created_at: str
    read_at: str | None


class NotificationsOut(BaseModel):
    unread: int
    items: list[NotificationOut]


class UnreadOut(BaseModel):
    unread: int


def _terms(deal: DealTermsIn | None) -> schedules.DealTerms | None:
    if deal is None:
        return None
    return schedules.DealTerms(
        price=deal.price,
        quantity=deal.quantity,
        per_buyer_limit=deal.per_buyer_limit,
        duration_seconds=deal.duration_seconds,
        variant_id=deal.variant_id,
    )


# -- calendars ----------------------------------------------------------------------------


@router.get("/hosts/{host_id}/calendar", response_model=CalendarOut, tags=["schedules"])
async def host_calendar(
    host_id: PathId,
    actor: ActorDep,
    ctx: CtxDep,
    start: str | None = Period,
    end: str | None = PeriodEnd,
) -> dict[str, Any]:
    """A host's shows that start in the period, in time order: for the host, its agency's
    staff and admins. Also as a page at `/hosts/{id}/calendar`."""
    return await schedules.calendar(
        ctx, actor, "host", host_id, start=schedules.moment(start), end=schedules.moment(end)
    )


@router.get("/agencies/{agency_id}/calendar", response_model=CalendarOut, tags=["schedules"])
async def agency_calendar(
    agency_id: PathId,
    actor: ActorDep,
    ctx: CtxDep,
    start: str | None = Period,
    end: str | None = PeriodEnd,
) -> dict[str, Any]:
    """The shows of the agency's hosts and those booked under its contracts: for its staff
    and admins."""
    return await schedules.calendar(
        ctx, actor, "agency", agency_id, start=schedules.moment(start), end=schedules.moment(end)
    )


@router.get("/brands/{brand_id}/calendar", response_model=CalendarOut, tags=["schedules"])
async def brand_calendar(
    brand_id: PathId,
    actor: ActorDep,
    ctx: CtxDep,
    start: str | None = Period,
    end: str | None = PeriodEnd,
) -> dict[str, Any]:
    """The shows booked under the brand's contracts or selling its products: for its staff
    and admins."""
    return await schedules.calendar(
        ctx, actor, "brand", brand_id, start=schedules.moment(start), end=schedules.moment(end)
    )


# -- the run of show ----------------------------------------------------------------------


@router.get("/shows/{show_id}/run", response_model=RunOut, tags=["schedules"])
async def get_run(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """The run of show in time order, with the segment that is on now and the next one.
    For the show's staff; they also get each change as a `run.updated` room event."""
    return await schedules.get_run(ctx, actor, show_id)


@router.post("/shows/{show_id}/run", status_code=201, response_model=RunOut, tags=["schedules"])
async def add_segment(
    show_id: PathId, body: SegmentIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Add a segment at `offset_seconds` from the start or at the clock time `at` (one of
    the two) that pins `listing_id` and/or starts a `deal` on it. Refused: a listing not on
    this show's shelf (422 `listing_not_on_shelf`), deal terms a deal would refuse (422
    `invalid_deal_price` ...), an ended show (409 `show_ended`)."""
    fields = body.model_dump(exclude={"deal"})
    fields["deal"] = _terms(body.deal)
    return await schedules.do_add_segment(ctx, actor, show_id, fields)


@router.patch("/shows/{show_id}/run/{segment_id}", response_model=RunOut, tags=["schedules"])
async def edit_segment(
    show_id: PathId, segment_id: PathId, body: SegmentPatch, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Move a segment (a new `offset_seconds` or `at`), retitle it or change its step;
    `"deal": null` takes its deal off. Allowed while on air."""
    changes = body.model_dump(exclude_unset=True, exclude={"deal"})
    if "deal" in body.model_fields_set:
        changes["deal"] = _terms(body.deal)
    return await schedules.do_edit_segment(ctx, actor, show_id, segment_id, changes)


@router.delete("/shows/{show_id}/run/{segment_id}", response_model=RunOut, tags=["schedules"])
async def remove_segment(
    show_id: PathId, segment_id: PathId, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return await schedules.do_remove_segment(ctx, actor, show_id, segment_id)


@router.post(
    "/shows/{show_id}/run/{segment_id}/apply", response_model=AppliedOut, tags=["schedules"]
)
async def apply_segment(
    show_id: PathId, segment_id: PathId, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Carry out the segment's step now: pin its listing, start its deal (409
    `show_not_live` before the show is on air, `deal_exists` if one runs on the item)."""
    return await schedules.do_apply_segment(ctx, actor, show_id, segment_id)


# -- follows, reminders, notifications ----------------------------------------------------


@router.get("/hosts/{host_id}/follow", response_model=FollowOut, tags=["follows"])
async def follow_state(host_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await notifications.follow_json(ctx, actor, host_id)


@router.put("/hosts/{host_id}/follow", response_model=FollowOut, tags=["follows"])
async def follow(host_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Follow a host: hear (in the app and by email) when any of its shows goes live."""
    return await notifications.do_follow(ctx, actor, host_id)


@router.delete("/hosts/{host_id}/follow", response_model=FollowOut, tags=["follows"])
async def unfollow(host_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await notifications.do_unfollow(ctx, actor, host_id)


@router.get("/me/following", response_model=list[HostRef], tags=["follows"])
async def following(actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return await notifications.list_following(ctx, actor)


@router.get("/shows/{show_id}/reminder", response_model=ReminderOut, tags=["follows"])
async def reminder_state(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await notifications.reminder_json(ctx, actor, show_id)


@router.put("/shows/{show_id}/reminder", response_model=ReminderOut, tags=["follows"])
async def remind(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Be told when this scheduled show goes live. Refused for a show on air (409
    `show_live`) or over (409 `show_ended`)."""
    return await notifications.do_remind(ctx, actor, show_id)


@router.delete("/shows/{show_id}/reminder", response_model=ReminderOut, tags=["follows"])
async def cancel_reminder(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await notifications.do_cancel_reminder(ctx, actor, show_id)


@router.get("/me/notifications", response_model=NotificationsOut, tags=["notifications"])
async def my_notifications(
    actor: ActorDep,
    ctx: CtxDep,
    unread: bool = False,
    limit: int = Query(30, ge=1, le=notifications.MAX_LISTED),
) -> dict[str, Any]:
    """Your notifications, newest first, and how many are unread."""
    return await notifications.list_notifications(ctx, actor, unread_only=unread, limit=limit)


@router.post(
    "/me/notifications/{notification_id}/read", response_model=UnreadOut, tags=["notifications"]
)
async def mark_read(notification_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await notifications.do_mark_read(ctx, actor, notification_id)


@router.post("/me/notifications/read", response_model=UnreadOut, tags=["notifications"])
async def mark_all_read(actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await notifications.do_mark_read(ctx, actor)
