"""Figures: a show's report (live: so far; ended: final) and dashboards per host, agency and
brand across shows. Sales come from the ledger, so GMV agrees with the settlements."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from hawker.domain.errors import InvalidInput
from hawker.services import analytics
from hawker.web.api.schemas import ERRORS, MoneyOut, PathId
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS)


class ReportShowOut(BaseModel):
    id: int
    title: str
    status: str
    host_id: int
    host_name: str
    currency: str
    started_at: datetime | None
    ended_at: datetime | None


class ItemFiguresOut(BaseModel):
    number: int
    listing_id: int | None
    title: str
    requests: int
    orders: int
    units: int
    gmv: MoneyOut


class PinFiguresOut(BaseModel):
    number: int
    title: str
    pinned_at: datetime
    show_second: int
    orders: int
    units: int
    gmv: MoneyOut
    replay_offset_s: float | None
    replay_url: str | None


class MinuteOut(BaseModel):
    minute: int
    at: datetime
    viewers: int | None
    orders: int
    gmv: MoneyOut
    conversion: str | None


class ReportOut(BaseModel):
    show: ReportShowOut
    peak_viewers: int
    average_viewers: str
    unique_viewers: int
    watch_seconds: int
    average_watch_seconds: int
    orders: int
    units: int
    buyers: int
    gmv: MoneyOut
    refunded_orders: int
    refunds: MoneyOut
    conversion: str | None
    items: list[ItemFiguresOut]
    top_items: list[ItemFiguresOut]
    pins: list[PinFiguresOut]
    series: list[MinuteOut]


class ShowFiguresOut(BaseModel):
    show_id: int
    title: str
    host_id: int
    host_name: str
    status: str
    started_at: datetime | None
    peak_viewers: int
    unique_viewers: int
    watch_seconds: int
    orders: int
    units: int
    buyers: int
    gmv: MoneyOut
    refunds: MoneyOut
    conversion: str | None


class DashboardTotalOut(BaseModel):
    currency: str
    shows: int
    orders: int
    units: int
    gmv: MoneyOut
    refunds: MoneyOut


class DashboardOut(BaseModel):
    party: Literal["host", "agency", "brand"]
    party_id: int
    party_name: str
    start: datetime | None
    end: datetime | None
    shows: list[ShowFiguresOut]
    totals: list[DashboardTotalOut]


# A moment with its time zone, as text: a bare number is not a date here.
MOMENT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$"
Since = Query(
    None,
    alias="from",
    pattern=MOMENT,
    description="Shows that went on air at or after this moment (2026-11-01T00:00:00Z).",
)
Until = Query(
    None, alias="to", pattern=MOMENT, description="Shows that went on air before this moment."
)


def moment(value: str | None, which: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{which} is not a date and time", code="invalid_period") from None


@router.get("/shows/{show_id}/report", response_model=ReportOut, tags=["analytics"])
async def show_report(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Peak and average viewers (sampled once per `viewers_sample_s`), viewers in all and
    watch time, GMV, units, buyers and conversion (buyers over viewers), refunds, each
    item's requests and sales, what each pin sold in the five minutes after it (with the
    replay second to watch it from), and the show minute by minute. For the host, its
    agency's staff, the staff of the brand it was booked for, and admins."""
    return await analytics.show_report(ctx, actor, show_id)


@router.get("/hosts/{host_id}/dashboard", response_model=DashboardOut, tags=["analytics"])
async def host_dashboard(
    host_id: PathId,
    actor: ActorDep,
    ctx: CtxDep,
    start: str | None = Since,
    end: str | None = Until,
) -> dict[str, Any]:
    """The host's shows and totals. For the host, its agencies' staff and admins."""
    return await analytics.dashboard(
        ctx, actor, "host", host_id, start=moment(start, "from"), end=moment(end, "to")
    )


@router.get("/agencies/{agency_id}/dashboard", response_model=DashboardOut, tags=["analytics"])
async def agency_dashboard(
    agency_id: PathId,
    actor: ActorDep,
    ctx: CtxDep,
    start: str | None = Since,
    end: str | None = Until,
) -> dict[str, Any]:
    """The shows of the agency's hosts and totals. For the agency's staff and admins."""
    return await analytics.dashboard(
        ctx, actor, "agency", agency_id, start=moment(start, "from"), end=moment(end, "to")
    )


@router.get("/brands/{brand_id}/dashboard", response_model=DashboardOut, tags=["analytics"])
async def brand_dashboard(
    brand_id: PathId,
    actor: ActorDep,
    ctx: CtxDep,
    start: str | None = Since,
    end: str | None = Until,
) -> dict[str, Any]:
    """The shows that listed or sold the brand's products, with the brand's sales in each.
    For the brand's staff and admins."""
    return await analytics.dashboard(
        ctx, actor, "brand", brand_id, start=moment(start, "from"), end=moment(end, "to")
    )
