"""Pages of the business side: a settlement as a page and as CSV (the same figures: both
render the one answer of `services.settlements.get_settlement`)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from hawker.services import settlements
from hawker.web.api.schemas import MAX_ID
from hawker.web.auth import get_ctx
from hawker.web.pages import money, page_context, require_user, templates
from hawker.web.studio import when

router = APIRouter(include_in_schema=False)

CSV_COLUMNS = (
    "line",
    "date",
    "kind",
    "party",
    "payee",
    "order",
    "show",
    "contract",
    "item",
    "currency",
    "paid",
    "share_percent",
    "amount",
    "rate",
    "brand_currency",
    "brand_amount",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def signed_money(value: dict[str, str]) -> str:
    """Money with a minus sign in front of the symbol: −$12.50, not $-12.50."""
    if value["amount"].startswith("-"):
        return "−" + money({**value, "amount": value["amount"][1:]})
    return money(value)


def _text(value: object) -> str:
    """Untrusted text (an item's title, a name) stays text in a spreadsheet."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def settlement_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in data["lines"]:
        writer.writerow(
            (
                line["id"],
                line["at"],
                line["kind"],
                line["party"],
                _text(line["payee"]),
                line["order_id"] or "",
                line["show_id"] or "",
                line["contract_id"],
                _text(line["title"]),
                line["amount"]["currency"],
                line["base"]["amount"],
                line["share"],
                line["amount"]["amount"],
                line["rate"] or "",
                line["brand_amount"]["currency"],
                line["brand_amount"]["amount"],
            )
        )
    return out.getvalue()


async def _settlement(request: Request, settlement_id: int) -> tuple[dict[str, Any], Any]:
    await require_user(request)
    page = await page_context(request)
    data = await settlements.get_settlement(get_ctx(request), page["actor"], settlement_id)
    return data, page


# Before the page's route: "/settlements/7.csv" would match "/settlements/{settlement_id}".
@router.get("/settlements/{settlement_id}.csv")
async def settlement_csv_file(
    request: Request, settlement_id: int = Path(ge=1, le=MAX_ID)
) -> Response:
    data, _ = await _settlement(request, settlement_id)
    return Response(
        settlement_csv(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="settlement-{settlement_id}.csv"'},
    )


@router.get("/settlements/{settlement_id}", response_class=HTMLResponse)
async def settlement_page(request: Request, settlement_id: int = Path(ge=1, le=MAX_ID)) -> Response:
    data, page = await _settlement(request, settlement_id)
    return templates.TemplateResponse(
        request,
        "settlement.html",
        {
            **page,
            "settlement": data,
            "money": signed_money,
            "when": when,
            "negative": lambda value: Decimal(value["amount"]) < 0,
        },
    )
