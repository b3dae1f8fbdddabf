"""Pages for running the business, from signing a host to closing a settlement: the
business desk (`/business`), an agency's hosts and invitations, a brand's contracts, one
contract (answer it, book a show under it), a party's settlements, and the forms that
start a competition or a battle.

Forms post to page routes here with the session's CSRF token in a hidden field, as in the
studio (web/studio.py); a broken rule (a DomainError) re-renders the page with the
service's message, the values typed so far and the error's 4xx status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from hawker.domain.errors import DomainError, Forbidden, InvalidInput
from hawker.domain.money import CURRENCIES
from hawker.services import agencies, battles, catalog, competitions, contracts, settlements
from hawker.services import shows as show_service
from hawker.services.accounts import Authenticated, user_json
from hawker.services.contracts import RateInput
from hawker.web.api.schemas import MAX_ID, PathId
from hawker.web.auth import get_ctx
from hawker.web.competitions import METRIC_WORDS
from hawker.web.i18n import N_
from hawker.web.studio import _check_csrf, _field, _int, _render, _see, _signed_in, _when

router = APIRouter(include_in_schema=False)

RATE_ROWS = 3
Party = Literal["brand", "agency", "host"]
PARTY_WORDS = {"brand": N_("Brand"), "agency": N_("Agency"), "host": N_("Host")}


def _optional_moment(form: FormData, name: str) -> datetime | None:
    """A datetime-local field read in the browser's time zone (its `tz_offset` field)."""
    return _when(_field(form, name), _field(form, "tz_offset"))


def _moment(form: FormData, name: str, what: str) -> datetime:
    moment = _optional_moment(form, name)
    if moment is None:
        raise InvalidInput(f"give {what}", code="invalid_time")
    return moment


def _id(text: str, what: str) -> int:
    """An id typed or chosen in a form; out of range, it names nothing (and must not reach
    the database as a number it cannot hold)."""
    number = _int(text, what)
    if not 1 <= number <= MAX_ID:
        raise InvalidInput(f"{what} is not a valid id", code="invalid_input")
    return number


def _values(form: FormData) -> dict[str, str]:
    """What was typed, to fill the form again after an error (never the CSRF token)."""
    return {k: _field(form, k) for k in form if k != "csrf_token"}


def _error(exc: DomainError) -> str:
    return exc.message[:1].upper() + exc.message[1:] + ("" if exc.message.endswith(".") else ".")


# -- the business desk ------------------------------------------------------------------------


async def _desk_page(
    request: Request,
    found: Authenticated,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    actor = found.actor
    return await _render(
        request,
        "business_desk.html",
        {
            "agencies": await agencies.list_agencies(ctx, actor, mine=not actor.is_admin),
            "brands": await catalog.list_brands(ctx, actor, mine=not actor.is_admin),
            "invitations": await agencies.my_invitations(ctx, actor),
            "contracts": await contracts.list_contracts(ctx, actor, host_id=actor.user_id),
            "error": error,
            "form": form or {},
        },
        status,
    )


@router.get("/business")
async def desk(request: Request) -> Response:
    found = await _signed_in(request)
    return await _desk_page(request, found)


@router.post("/business/agencies")
async def create_agency(request: Request) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        agency = await agencies.do_create_agency(
            get_ctx(request), found.actor, name=_field(form, "name")
        )
    except DomainError as exc:
        return await _desk_page(
            request, found, error=_error(exc), form=_values(form), status=exc.status
        )
    return _see(f"/business/agencies/{agency.id}")


async def _answer_invitation(request: Request, invitation_id: int, accept: bool) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        await agencies.do_answer_invitation(
            get_ctx(request), found.actor, invitation_id, accept=accept
        )
    except DomainError as exc:
        return await _desk_page(request, found, error=_error(exc), status=exc.status)
    return _see("/business")


@router.post("/business/invitations/{invitation_id}/accept")
async def accept_invitation(request: Request, invitation_id: PathId) -> Response:
    return await _answer_invitation(request, invitation_id, True)


@router.post("/business/invitations/{invitation_id}/decline")
async def decline_invitation(request: Request, invitation_id: PathId) -> Response:
    return await _answer_invitation(request, invitation_id, False)


# -- an agency: its hosts, its invitations, its contracts -------------------------------------


async def _agency_page(
    request: Request,
    found: Authenticated,
    agency_id: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    actor = found.actor
    return await _render(
        request,
        "business_agency.html",
        {
            "agency": await agencies.get_agency(ctx, actor, agency_id),
            "hosts": [user_json(u) for u in await agencies.list_hosts(ctx, actor, agency_id)],
            "invitations": await agencies.list_invitations(ctx, actor, agency_id),
            "contracts": await contracts.list_contracts(ctx, actor, agency_id=agency_id),
            "error": error,
            "form": form or {},
        },
        status,
    )


@router.get("/business/agencies/{agency_id}")
async def agency_page(request: Request, agency_id: PathId) -> Response:
    found = await _signed_in(request)
    return await _agency_page(request, found, agency_id)


@router.post("/business/agencies/{agency_id}/invitations")
async def invite_host(request: Request, agency_id: PathId) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        await agencies.do_invite_host(
            get_ctx(request), found.actor, agency_id, _field(form, "email")
        )
    except DomainError as exc:
        return await _agency_page(
            request, found, agency_id, error=_error(exc), form=_values(form), status=exc.status
        )
    return _see(f"/business/agencies/{agency_id}")


# -- a brand's contracts ----------------------------------------------------------------------


async def _brand_page(
    request: Request,
    found: Authenticated,
    brand_id: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    actor = found.actor
    brand = await catalog.get_brand(ctx, brand_id)
    if not (actor.is_admin or brand_id in actor.brand_ids):
        raise Forbidden("only this brand's staff may see its contracts")
    return await _render(
        request,
        "business_brand.html",
        {
            "brand": brand,
            "products": await catalog.list_products(ctx, brand_id),
            "agencies": await agencies.list_agencies(ctx, actor),
            "contracts": await contracts.list_contracts(ctx, actor, brand_id=brand_id),
            "rate_rows": range(RATE_ROWS),
            "error": error,
            "form": form or {},
        },
        status,
    )


@router.get("/business/brands/{brand_id}")
async def brand_page(request: Request, brand_id: PathId) -> Response:
    found = await _signed_in(request)
    return await _brand_page(request, found, brand_id)


def _rates(form: FormData) -> list[RateInput]:
    """The filled rate rows; a row with neither share is left out."""
    rates = []
    for i in range(RATE_ROWS):
        host, agency = _field(form, f"rate_host_{i}"), _field(form, f"rate_agency_{i}")
        product, category = _field(form, f"rate_product_{i}"), _field(form, f"rate_category_{i}")
        if not (host or agency):
            if product or category:
                raise InvalidInput(f"give rate {i + 1} a share", code="invalid_share")
            continue
        rates.append(
            RateInput(
                host_share=host or "0",
                agency_share=agency or "0",
                product_id=_id(product, "the product") if product else None,
                category=category or None,
                starts_at=_optional_moment(form, f"rate_starts_{i}"),
                ends_at=_optional_moment(form, f"rate_ends_{i}"),
            )
        )
    return rates


@router.post("/business/brands/{brand_id}/contracts")
async def offer_contract(request: Request, brand_id: PathId) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        agency, host = _field(form, "agency_id"), _field(form, "host_id")
        product_ids = [_id(str(p), "a product") for p in form.getlist("product_ids") if p]
        contract = await contracts.do_offer_contract(
            get_ctx(request),
            found.actor,
            brand_id=brand_id,
            agency_id=_id(agency, "the agency") if agency else None,
            host_id=_id(host, "the host's user id") if host else None,
            product_ids=product_ids or None,
            starts_at=_moment(form, "starts_at", "the contract's start"),
            ends_at=_moment(form, "ends_at", "the contract's end"),
            rates=_rates(form),
            fixed_fee=_field(form, "fixed_fee") or None,
        )
    except DomainError as exc:
        values = _values(form)
        values["product_ids"] = ",".join(str(p) for p in form.getlist("product_ids"))
        return await _brand_page(
            request, found, brand_id, error=_error(exc), form=values, status=exc.status
        )
    return _see(f"/business/contracts/{contract['id']}")


# -- one contract: answer it, book shows under it ---------------------------------------------


async def _contract_page(
    request: Request,
    found: Authenticated,
    contract_id: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    actor = found.actor
    contract = await contracts.get_contract(ctx, actor, contract_id)
    agency, host = contract["agency"], contract["host"]
    is_party = actor.is_admin or (
        agency["id"] in actor.agency_ids if agency else host["id"] == actor.user_id
    )
    hosts = [host] if host else []
    if agency and is_party:
        hosts = [user_json(u) for u in await agencies.list_hosts(ctx, actor, agency["id"])]
    products = {p["id"]: p for p in await catalog.list_products(ctx, contract["brand"]["id"])}
    return await _render(
        request,
        "business_contract.html",
        {
            "contract": contract,
            "products": products,
            "is_party": is_party,
            "hosts": hosts,
            "currencies": sorted(CURRENCIES),
            "error": error,
            "form": form or {},
        },
        status,
    )


@router.get("/business/contracts/{contract_id}")
async def contract_page(request: Request, contract_id: PathId) -> Response:
    found = await _signed_in(request)
    return await _contract_page(request, found, contract_id)


async def _answer_contract(request: Request, contract_id: int, accept: bool) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        await contracts.do_answer_contract(
            get_ctx(request), found.actor, contract_id, accept=accept
        )
    except DomainError as exc:
        return await _contract_page(
            request, found, contract_id, error=_error(exc), status=exc.status
        )
    return _see(f"/business/contracts/{contract_id}")


@router.post("/business/contracts/{contract_id}/accept")
async def accept_contract(request: Request, contract_id: PathId) -> Response:
    return await _answer_contract(request, contract_id, True)


@router.post("/business/contracts/{contract_id}/decline")
async def decline_contract(request: Request, contract_id: PathId) -> Response:
    return await _answer_contract(request, contract_id, False)


@router.post("/business/contracts/{contract_id}/shows")
async def book_show(request: Request, contract_id: PathId) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        show = await show_service.do_create_show(
            get_ctx(request),
            found.actor,
            title=_field(form, "title"),
            description=_field(form, "description"),
            host_id=_id(_field(form, "host_id"), "the host"),
            scheduled_at=_moment(form, "scheduled_at", "the show's start"),
            currency=_field(form, "currency") or "USD",
            contract_id=contract_id,
        )
    except DomainError as exc:
        return await _contract_page(
            request, found, contract_id, error=_error(exc), form=_values(form), status=exc.status
        )
    return _see(f"/studio/shows/{show.id}")


# -- settlements of a brand, an agency or a host ----------------------------------------------


async def _settlements_page(
    request: Request,
    found: Authenticated,
    party: str,
    party_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    open_lines = await settlements.open_lines(ctx, found.actor, party, party_id)
    return await _render(
        request,
        "business_settlements.html",
        {
            "party": party,
            "party_word": PARTY_WORDS[party],
            "party_id": party_id,
            "open": open_lines,
            "closed": await settlements.list_settlements(ctx, found.actor, party, party_id),
            "error": error,
        },
        status,
    )


@router.get("/business/{party}/{party_id}/settlements")
async def settlements_page(request: Request, party: Party, party_id: PathId) -> Response:
    found = await _signed_in(request)
    return await _settlements_page(request, found, party, party_id)


@router.post("/business/{party}/{party_id}/settlements")
async def close_settlement(request: Request, party: Party, party_id: PathId) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        closed = await settlements.do_close(
            get_ctx(request),
            found.actor,
            party,
            party_id,
            period_end=_optional_moment(form, "period_end"),
        )
    except DomainError as exc:
        return await _settlements_page(
            request, found, party, party_id, error=_error(exc), status=exc.status
        )
    return _see(f"/settlements/{closed['id']}")


# -- competitions and battles -----------------------------------------------------------------


async def _contests_page(
    request: Request,
    found: Authenticated,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    actor = found.actor
    my_agencies = await agencies.list_agencies(ctx, actor, mine=not actor.is_admin)
    hosts = {
        a.id: [user_json(u) for u in await agencies.list_hosts(ctx, actor, a.id)]
        for a in my_agencies
    }
    return await _render(
        request,
        "business_contests.html",
        {
            "agencies": my_agencies,
            "agency_hosts": hosts,
            "brands": await catalog.list_brands(ctx, actor, mine=not actor.is_admin),
            "live": await show_service.list_shows(ctx, status=show_service.LIVE, limit=200),
            "metrics": METRIC_WORDS,
            "currencies": sorted(CURRENCIES),
            "error": error,
            "form": form or {},
        },
        status,
    )


@router.get("/business/competitions")
async def contests_page(request: Request) -> Response:
    found = await _signed_in(request)
    return await _contests_page(request, found)


def _ids(text: str) -> list[int]:
    """Entrant ids typed as "3, 7 12"."""
    return [_id(part, "an entrant id") for part in text.replace(",", " ").split()]


@router.post("/business/competitions")
async def create_competition(request: Request) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        organizer = _field(form, "organizer")  # "agency:3", "brand:5" or "" (the platform)
        kind, _, number = organizer.partition(":")
        organizer_id = _id(number, "the organizer") if number else None
        competition = await competitions.do_create_competition(
            get_ctx(request),
            found.actor,
            title=_field(form, "title"),
            agency_id=organizer_id if kind == "agency" else None,
            brand_id=organizer_id if kind == "brand" else None,
            entrant_kind=_field(form, "entrant_kind"),
            entrant_ids=_ids(_field(form, "entrant_ids")),
            metric=_field(form, "metric") or "gmv",
            currency=_field(form, "currency") or "USD",
            starts_at=_moment(form, "starts_at", "the start"),
            ends_at=_moment(form, "ends_at", "the end"),
        )
    except DomainError as exc:
        return await _contests_page(
            request, found, error=_error(exc), form=_values(form), status=exc.status
        )
    return _see(f"/competitions/{competition['id']}")


@router.post("/business/battles")
async def start_battle(request: Request) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        show_id = _id(_field(form, "show_id"), "your show")
        minutes = _int(_field(form, "minutes"), "the minutes", default=5)
        if not 1 <= minutes <= 60:
            raise InvalidInput("a battle lasts 1 to 60 minutes", code="invalid_duration")
        await battles.do_start_battle(
            get_ctx(request),
            found.actor,
            show_id=show_id,
            opponent_show_id=_id(_field(form, "opponent_show_id"), "the other show"),
            duration_seconds=minutes * 60,
        )
    except DomainError as exc:
        return await _contests_page(
            request, found, error=_error(exc), form=_values(form), status=exc.status
        )
    return _see(f"/shows/{show_id}/console")
