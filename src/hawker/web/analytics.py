"""Pages of the figures: a show's report (and its charts alone, which the host console
reloads during the show), dashboards per host, agency and brand, each as a page and as CSV
(the same figures: both render the one answer of `services.analytics`)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from hawker.domain.errors import InvalidInput
from hawker.services import analytics
from hawker.web import charts
from hawker.web.api.schemas import MAX_ID
from hawker.web.auth import get_ctx
from hawker.web.business import _text as cell
from hawker.web.pages import money, page_context, require_user, templates
from hawker.web.studio import when

router = APIRouter(include_in_schema=False)

ITEM_COLUMNS = ("number", "item", "requests", "orders", "units", "currency", "gmv")
SHOW_COLUMNS = (
    "show",
    "title",
    "host",
    "started",
    "status",
    "peak_viewers",
    "viewers",
    "watch_minutes",
    "orders",
    "units",
    "buyers",
    "conversion_percent",
    "currency",
    "gmv",
    "refunds",
)


def duration(seconds: int) -> str:
    """Watch time as people read it: 45s, 12m 05s, 3h 07m."""
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def watch_minutes(seconds: int) -> str:
    return format((Decimal(seconds) / 60).quantize(Decimal("0.1")), "f")


def _money_fmt(currency: str) -> Callable[[Any], str]:
    return lambda value: money({"amount": str(value), "currency": currency})


def show_charts(report: dict[str, Any]) -> list[Markup]:
    """Viewers, orders per minute, GMV so far and conversion so far, minute by minute."""
    points = report["series"]

    def label(p: dict[str, Any]) -> str:
        return f"minute {p['minute'] + 1}"

    percent = lambda value: f"{value}%"  # noqa: E731
    return [
        charts.line_chart("chart-viewers", "Viewers", [(label(p), p["viewers"]) for p in points]),
        charts.line_chart(
            "chart-orders", "Orders per minute", [(label(p), p["orders"]) for p in points]
        ),
        charts.line_chart(
            "chart-gmv",
            "GMV so far",
            [(label(p), Decimal(p["gmv"]["amount"])) for p in points],
            fmt=_money_fmt(report["show"]["currency"]),
        ),
        charts.line_chart(
            "chart-conversion",
            "Conversion so far",
            [
                (label(p), Decimal(p["conversion"]) if p["conversion"] is not None else None)
                for p in points
            ],
            fmt=percent,
        ),
    ]


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ITEM_COLUMNS)
    for item in report["items"]:
        writer.writerow(
            (
                item["number"],
                cell(item["title"]),
                item["requests"],
                item["orders"],
                item["units"],
                item["gmv"]["currency"],
                item["gmv"]["amount"],
            )
        )
    return out.getvalue()


def dashboard_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SHOW_COLUMNS)
    for row in data["shows"]:
        writer.writerow(
            (
                row["show_id"],
                cell(row["title"]),
                cell(row["host_name"]),
                row["started_at"] or "",
                row["status"],
                row["peak_viewers"],
                row["unique_viewers"],
                watch_minutes(row["watch_seconds"]),
                row["orders"],
                row["units"],
                row["buyers"],
                row["conversion"] or "",
                row["gmv"]["currency"],
                row["gmv"]["amount"],
                row["refunds"]["amount"],
            )
        )
    return out.getvalue()


def dashboard_charts(data: dict[str, Any]) -> list[Markup]:
    """Across the shows, oldest first. GMV is charted in the currency most shows sold in."""
    rows = list(reversed(data["shows"]))
    if not rows:
        return [charts.bar_chart("chart-gmv", "GMV per show", [])]
    currency = Counter(r["gmv"]["currency"] for r in rows).most_common(1)[0][0]
    priced = [r for r in rows if r["gmv"]["currency"] == currency]
    return [
        charts.bar_chart(
            "chart-gmv",
            f"GMV per show ({currency})",
            [(r["title"], Decimal(r["gmv"]["amount"])) for r in priced],
            fmt=_money_fmt(currency),
        ),
        charts.bar_chart("chart-units", "Units per show", [(r["title"], r["units"]) for r in rows]),
        charts.bar_chart(
            "chart-peak", "Peak viewers per show", [(r["title"], r["peak_viewers"]) for r in rows]
        ),
    ]


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _report(request: Request, show_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    await require_user(request)
    page = await page_context(request)
    return await analytics.show_report(get_ctx(request), page["actor"], show_id), page


# Before the page's route: "/shows/7/report.csv" would not match "/shows/{id}/report", but
# keep the CSV routes first everywhere for the same reading order.
@router.get("/shows/{show_id}/report.csv")
async def show_report_csv(request: Request, show_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    report, _ = await _report(request, show_id)
    return _csv(report_csv(report), f"show-{show_id}-report.csv")


@router.get("/shows/{show_id}/report", response_class=HTMLResponse)
async def show_report_page(request: Request, show_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    report, page = await _report(request, show_id)
    return templates.TemplateResponse(
        request,
        "report.html",
        {
            **page,
            "report": report,
            "charts": show_charts(report),
            "money": money,
            "duration": duration,
            "when": when,
        },
    )


@router.get("/shows/{show_id}/charts", response_class=HTMLResponse)
async def show_charts_fragment(request: Request, show_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    """The report's charts alone, for the host console to reload during the show."""
    report, _ = await _report(request, show_id)
    return HTMLResponse(Markup("").join(show_charts(report)), headers={"Cache-Control": "no-store"})


def _day(value: str | None, which: str) -> date | None:
    """A day of the period form (YYYY-MM-DD); left empty, no bound."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"give the {which} day as year-month-day (2026-11-29)", code="invalid_period"
        ) from None


def _period(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole days in UTC: from the start of `start` to the end of `end`."""
    return (
        datetime.combine(start, time(), UTC) if start else None,
        datetime.combine(end, time(), UTC) + timedelta(days=1) if end else None,
    )


async def _dashboard(
    request: Request, party: str, party_id: int, start: date | None, end: date | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    await require_user(request)
    page = await page_context(request)
    if start and end and end < start:
        raise InvalidInput("the period ends after it starts", code="invalid_period")
    since, until = _period(start, end)
    data = await analytics.dashboard(
        get_ctx(request), page["actor"], party, party_id, start=since, end=until
    )
    return data, page


@router.get("/dashboards/{party}/{party_id}.csv")
async def dashboard_csv_file(
    request: Request,
    party: str,
    party_id: int = Path(ge=1, le=MAX_ID),
    start: str | None = Query(None, alias="from", max_length=40),
    end: str | None = Query(None, alias="to", max_length=40),
) -> Response:
    data, _ = await _dashboard(request, party, party_id, _day(start, "first"), _day(end, "last"))
    return _csv(dashboard_csv(data), f"{party}-{party_id}-dashboard.csv")


@router.get("/dashboards/{party}/{party_id}", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    party: str,
    party_id: int = Path(ge=1, le=MAX_ID),
    start: str | None = Query(None, alias="from", max_length=40),
    end: str | None = Query(None, alias="to", max_length=40),
) -> Response:
    first, last = _day(start, "first"), _day(end, "last")
    data, page = await _dashboard(request, party, party_id, first, last)
    query = request.url.query
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            **page,
            "data": data,
            "charts": dashboard_charts(data),
            "money": money,
            "duration": duration,
            "when": when,
            "from_day": first.isoformat() if first else "",
            "to_day": last.isoformat() if last else "",
            "csv_url": f"/dashboards/{party}/{party_id}.csv" + (f"?{query}" if query else ""),
        },
    )
