"""Pages of schedules: calendars per host, agency and brand (a week at a time, each day's
shows in time order), and the signed-in person's notifications."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from hawker.domain.errors import InvalidInput
from hawker.services import notifications, schedules
from hawker.web.api.schemas import MAX_ID
from hawker.web.auth import current, get_ctx
from hawker.web.i18n import N_
from hawker.web.pages import page_context, require_user, templates

router = APIRouter(include_in_schema=False)

WEEKS = 2
STATUS_WORDS = {"scheduled": N_("Scheduled"), "live": N_("Live"), "ended": N_("Ended")}


def _first_day(value: str | None) -> date:
    """The Monday of the week asked for (?week=2026-12-07), or of this week."""
    if value:
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise InvalidInput("week is a date like 2026-12-07", code="invalid_week") from exc
    else:
        day = datetime.now(UTC).date()
    return day - timedelta(days=day.weekday())


async def _calendar_page(request: Request, party: str, party_id: int) -> Response:
    await require_user(request)
    found = await current(request)
    assert found is not None
    first = _first_day(request.query_params.get("week"))
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    data = await schedules.calendar(
        get_ctx(request), found.actor, party, party_id,
        start=start, end=start + timedelta(weeks=WEEKS),
    )  # fmt: skip
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for show in data["shows"]:
        moment = datetime.fromisoformat(show["started_at"] or show["scheduled_at"])
        by_day[moment.astimezone(UTC).date()].append(show)
    days = [first + timedelta(days=n) for n in range(7 * WEEKS)]
    page = await page_context(request)
    return templates.TemplateResponse(
        request,
        "calendar.html",
        {
            **page,
            "cal": data,
            "days": [(day, by_day.get(day, [])) for day in days],
            "today": datetime.now(UTC).date(),
            "previous": (first - timedelta(weeks=WEEKS)).isoformat(),
            "next": (first + timedelta(weeks=WEEKS)).isoformat(),
            "words": STATUS_WORDS,
        },
    )


@router.get("/calendar", response_class=HTMLResponse)
async def my_calendars(request: Request) -> Response:
    await require_user(request)
    found = await current(request)
    assert found is not None
    page = await page_context(request)
    rows = await schedules.my_calendars(get_ctx(request), found.actor)
    return templates.TemplateResponse(request, "calendars.html", {**page, "calendars": rows})


@router.get("/hosts/{host_id}/calendar", response_class=HTMLResponse)
async def host_calendar(request: Request, host_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    return await _calendar_page(request, "host", host_id)


@router.get("/agencies/{agency_id}/calendar", response_class=HTMLResponse)
async def agency_calendar(request: Request, agency_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    return await _calendar_page(request, "agency", agency_id)


@router.get("/brands/{brand_id}/calendar", response_class=HTMLResponse)
async def brand_calendar(request: Request, brand_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    return await _calendar_page(request, "brand", brand_id)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request) -> Response:
    await require_user(request)
    found = await current(request)
    assert found is not None
    data = await notifications.list_notifications(
        get_ctx(request), found.actor, limit=notifications.MAX_LISTED
    )
    page = await page_context(request)
    return templates.TemplateResponse(request, "notifications.html", {**page, "notes": data})
