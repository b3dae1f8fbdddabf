"""Pages of sales competitions: the list, and each competition's leaderboard, which keeps
itself current by polling the competition's JSON (static/js/leaderboard.js)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from hawker.services import competitions
from hawker.web.api.schemas import MAX_ID
from hawker.web.auth import get_ctx
from hawker.web.i18n import N_
from hawker.web.pages import money, page_context, templates
from hawker.web.studio import when

router = APIRouter(include_in_schema=False)

STATUS_WORDS = {
    "upcoming": N_("Starts soon"),
    "running": N_("Live"),
    "closing": N_("Counting"),
    "final": N_("Final"),
}
METRIC_WORDS = {"gmv": N_("Net GMV"), "units": N_("Units sold")}


@router.get("/competitions", response_class=HTMLResponse)
async def competitions_page(request: Request) -> Response:
    page = await page_context(request)
    rows = await competitions.list_competitions(get_ctx(request), limit=100)
    return templates.TemplateResponse(
        request,
        "competitions.html",
        {
            **page,
            "competitions": rows,
            "words": STATUS_WORDS,
            "metrics": METRIC_WORDS,
            "when": when,
        },
    )


@router.get("/competitions/{competition_id}", response_class=HTMLResponse)
async def leaderboard_page(
    request: Request, competition_id: int = Path(ge=1, le=MAX_ID)
) -> Response:
    page = await page_context(request)
    data = await competitions.get_competition(get_ctx(request), competition_id)
    return templates.TemplateResponse(
        request,
        "competition.html",
        {
            **page,
            "c": data,
            "words": STATUS_WORDS,
            "metrics": METRIC_WORDS,
            "money": money,
            "when": when,
        },
    )
