"""Pages for the people who run shows and sell: the host console, the studio (shows and
their shelves), the merchant catalog and the brand's orders.

Forms post to page routes here and carry the session's CSRF token in a hidden field;
the console talks to the REST API and the room socket from the browser. A broken rule
(a DomainError) re-renders the page with the message and the error's 4xx status.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from hawker.domain.errors import DomainError, InvalidInput, NotFound
from hawker.domain.money import CURRENCIES
from hawker.domain.roles import Action, Actor, check_brand_staff, may_in_show
from hawker.services import catalog, chat, checkout, rooms, shelf, shows, stream
from hawker.services.accounts import Authenticated
from hawker.services.catalog import VariantInput
from hawker.web import i18n
from hawker.web.auth import check_csrf, current, get_ctx
from hawker.web.i18n import N_
from hawker.web.pages import money, page_context, require_user, templates

router = APIRouter(include_in_schema=False)

SLOW_MODES = (0, 5, 10, 30, 60)
FIRST_VARIANT_ROWS = 3
SEARCH_LIMIT = 40


def when(iso: str | None) -> str:
    """A moment for people, in UTC; studio.js rewrites it into the reader's own time zone."""
    if not iso:
        return ""
    return i18n.moment(datetime.fromisoformat(iso).astimezone(UTC), "when_year")


# -- plumbing -------------------------------------------------------------------------


async def _signed_in(request: Request) -> Authenticated:
    """The signed-in session; signed-out visitors are sent to /signin by `require_user`."""
    await require_user(request)
    found = await current(request)
    assert found is not None  # require_user has just seen it
    return found


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _upload(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


def _int(text: str, what: str, *, default: int | None = None) -> int:
    if not text and default is not None:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{what} is a whole number", code="invalid_input") from None


def _check_csrf(found: Authenticated, form: FormData) -> None:
    check_csrf(found, _field(form, "csrf_token"))


async def _render(
    request: Request, name: str, values: dict[str, Any], status: int = 200
) -> HTMLResponse:
    context = await page_context(request)
    context.update(money=money, when=when, **values)
    return templates.TemplateResponse(request, name, context, status_code=status)


def _see(url: str) -> RedirectResponse:
    # 303 makes the browser follow a POST with a GET (no "resubmit the form?" on reload).
    return RedirectResponse(url, status_code=303)


def _when(text: str, offset: str) -> datetime | None:
    """A start time from <input type=datetime-local> plus the browser's UTC offset (minutes
    east of UTC, set by studio.js); without it the time is read as UTC."""
    if not text:
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput("the start time is YYYY-MM-DD HH:MM", code="invalid_time") from None
    minutes = _int(offset, "the time zone offset", default=0)
    if not -16 * 60 <= minutes <= 16 * 60:
        raise InvalidInput("the time zone offset is out of range", code="invalid_time")
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=timezone(timedelta(minutes=minutes)))


# -- studio: shows --------------------------------------------------------------------


def _may_book_others(actor: Actor) -> bool:
    return actor.is_admin or bool(actor.agency_ids)


async def _studio_page(
    request: Request,
    found: Authenticated,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    actor = found.actor
    lists: dict[str, list[dict[str, Any]]] = {}
    if actor.is_host or actor.is_admin:
        # A host sees its own shows; an admin sees every show on the server.
        host_id = None if actor.is_admin and not actor.is_host else actor.user_id
        for status_name in shows.STATUSES:
            lists[status_name] = await shows.list_shows(ctx, status=status_name, host_id=host_id)
    return await _render(
        request,
        "studio.html",
        {
            "may_schedule": actor.is_host or _may_book_others(actor),
            "may_book_others": _may_book_others(actor),
            "all_shows": actor.is_admin and not actor.is_host,
            "shows_by_status": lists,
            "error": error,
            "form": form or {},
            "currencies": sorted(CURRENCIES),
        },
        status,
    )


@router.get("/studio")
async def studio(request: Request) -> Response:
    found = await _signed_in(request)
    return await _studio_page(request, found)


@router.post("/studio/shows")
async def schedule_show(request: Request) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    values = {
        k: _field(form, k)
        for k in (
            "title",
            "description",
            "scheduled_at",
            "cover_url",
            "currency",
            "host_id",
            "tz_offset",
        )
    }
    try:
        _check_csrf(found, form)
        host_id = _int(values["host_id"], "the host's user id") if values["host_id"] else None
        show = await shows.do_create_show(
            get_ctx(request),
            found.actor,
            title=values["title"],
            description=values["description"],
            scheduled_at=_when(values["scheduled_at"], values["tz_offset"]),
            cover_url=values["cover_url"] or None,
            currency=values["currency"] or "USD",
            host_id=host_id,
        )
    except DomainError as exc:
        return await _studio_page(request, found, error=exc.message, form=values, status=exc.status)
    return _see(f"/studio/shows/{show.id}")


# -- studio: the shelf builder ----------------------------------------------------------


async def _find_products(
    request: Request, actor: Actor, query: str, brand_id: int | None
) -> list[dict[str, Any]]:
    """Products whose title or brand name holds `query`, from one brand or all of them."""
    ctx = get_ctx(request)
    needle = query.casefold()
    brands = await catalog.list_brands(ctx, actor)
    if brand_id is not None:
        brands = [b for b in brands if b.id == brand_id]
    elif not needle:
        return []
    found: list[dict[str, Any]] = []
    for brand in brands:
        brand_hit = needle in brand.name.casefold()
        for product in await catalog.list_products(ctx, brand.id):
            if not needle or brand_hit or needle in product["title"].casefold():
                found.append(product)
                if len(found) >= SEARCH_LIMIT:
                    return found
    return found


async def _shelf_page(
    request: Request,
    found: Authenticated,
    show_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    async with ctx.db.session() as s:
        await shows.access_show_for(s, found.actor, show_id, Action.SHOW_MANAGE)
    show = await shows.get_show(ctx, show_id)
    query = request.query_params.get("q", "").strip()[:100]
    brand_text = request.query_params.get("brand", "")
    brand_id = int(brand_text) if brand_text.isdigit() else None
    results = await _find_products(request, found.actor, query, brand_id)
    items = await shelf.get_shelf(ctx, show_id)
    return await _render(
        request,
        "studio_show.html",
        {
            "show": show,
            "shelf": items,
            "on_shelf": {item["product"]["id"] for item in items},
            "brands": await catalog.list_brands(ctx, found.actor),
            "query": query,
            "brand_id": brand_id,
            "results": results,
            "cheapest": {
                p["id"]: min(p["variants"], key=lambda v: Decimal(v["price"]["amount"]))["price"]
                for p in results
                if p["variants"]
            },
            "searched": bool(query or brand_id),
            "editable": show["status"] != shows.ENDED,
            "error": error,
        },
        status,
    )


@router.get("/studio/shows/{show_id}")
async def shelf_builder(request: Request, show_id: int) -> Response:
    found = await _signed_in(request)
    return await _shelf_page(request, found, show_id)


async def _shelf_action(
    request: Request, show_id: int, action: str, listing_id: int = 0
) -> Response:
    found = await _signed_in(request)
    ctx = get_ctx(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        if action == "add":
            await shelf.do_add_listing(
                ctx,
                found.actor,
                show_id,
                product_id=_int(_field(form, "product_id"), "the product"),
                price=_field(form, "price") or None,
            )
        elif action == "price":
            await shelf.do_update_listing(
                ctx, found.actor, show_id, listing_id, price=_field(form, "price")
            )
        elif action == "remove":
            await shelf.do_remove_listing(ctx, found.actor, show_id, listing_id)
        elif action == "move":
            ids = [item["id"] for item in await shelf.get_shelf(ctx, show_id)]
            if listing_id not in ids:
                raise NotFound(
                    f"no listing {listing_id} in show {show_id}", code="listing_not_found"
                )
            at = ids.index(listing_id)
            to = at - 1 if _field(form, "direction") == "up" else at + 1
            if 0 <= to < len(ids):
                ids[at], ids[to] = ids[to], ids[at]
                await shelf.do_reorder(ctx, found.actor, show_id, ids)
    except DomainError as exc:
        return await _shelf_page(request, found, show_id, error=exc.message, status=exc.status)
    back = _field(form, "back")
    # Only a path on this site: a form field must not become an open redirect.
    if not back.startswith(f"/studio/shows/{show_id}"):
        back = f"/studio/shows/{show_id}"
    return _see(back)


@router.post("/studio/shows/{show_id}/shelf")
async def add_listing(request: Request, show_id: int) -> Response:
    return await _shelf_action(request, show_id, "add")


@router.post("/studio/shows/{show_id}/shelf/{listing_id}/price")
async def reprice_listing(request: Request, show_id: int, listing_id: int) -> Response:
    return await _shelf_action(request, show_id, "price", listing_id)


@router.post("/studio/shows/{show_id}/shelf/{listing_id}/remove")
async def remove_listing(request: Request, show_id: int, listing_id: int) -> Response:
    return await _shelf_action(request, show_id, "remove", listing_id)


@router.post("/studio/shows/{show_id}/shelf/{listing_id}/move")
async def move_listing(request: Request, show_id: int, listing_id: int) -> Response:
    return await _shelf_action(request, show_id, "move", listing_id)


# -- the host console -------------------------------------------------------------------


@router.get("/shows/{show_id}/console")
async def console(request: Request, show_id: int) -> Response:
    found = await _signed_in(request)
    ctx = get_ctx(request)
    actor = found.actor
    # A DomainError here (no such show, not staff) becomes the app's 404 / 403 page.
    async with ctx.db.session() as s:
        _, facts = await shows.access_show_for(s, actor, show_id, Action.SHOW_REQUESTS)
    snapshot = await rooms.build_snapshot(ctx, actor, show_id)
    moderators = await shows.list_moderators(ctx, actor, show_id)
    sanctions = await chat.list_sanctions(ctx, actor, show_id)
    settings = await chat.get_chat_settings(ctx, actor, show_id)
    items = snapshot["shelf"]
    most_asked = sorted(
        (i for i in items if i["requests"]), key=lambda i: (-i["requests"], i["number"])
    )
    return await _render(
        request,
        "console.html",
        {
            "snap": snapshot,
            "show": snapshot["show"],
            "shelf": items,
            "most_asked": most_asked,
            "pinned_id": snapshot["show"]["pinned_listing_id"],
            "manage": may_in_show(actor, Action.SHOW_MANAGE, facts),
            "moderators": moderators,
            "sanctions": sanctions,
            "chat_settings": settings,
            "slow_modes": SLOW_MODES,
            "staff_ids": sorted({facts.host_id, *facts.moderator_ids}),
            "rtmp_url": stream.ingest_url(ctx),
            "ingest_enabled": bool(ctx.settings.rtmp_port),
            "video": stream.playback(ctx, show_id, snapshot["show"]["status"]),
        },
    )


# -- merchant: brands, products, variants, images ------------------------------------


async def _merchant_page(
    request: Request,
    found: Authenticated,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    # Admins look after every brand; everyone else sees the brands they work for.
    brands = await catalog.list_brands(ctx, found.actor, mine=not found.actor.is_admin)
    return await _render(
        request,
        "merchant.html",
        {"brands": brands, "error": error, "form": form or {}, "currencies": sorted(CURRENCIES)},
        status,
    )


@router.get("/merchant")
async def merchant(request: Request) -> Response:
    found = await _signed_in(request)
    return await _merchant_page(request, found)


@router.post("/merchant/brands")
async def create_brand(request: Request) -> Response:
    found = await _signed_in(request)
    form = await request.form()
    values = {"name": _field(form, "name"), "currency": _field(form, "currency") or "USD"}
    try:
        _check_csrf(found, form)
        brand = await catalog.do_create_brand(
            get_ctx(request), found.actor, name=values["name"], currency=values["currency"]
        )
    except DomainError as exc:
        return await _merchant_page(
            request, found, error=exc.message, form=values, status=exc.status
        )
    return _see(f"/merchant/brands/{brand.id}")


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
    brand = await catalog.get_brand(ctx, brand_id)
    check_brand_staff(found.actor, brand_id)
    products = await catalog.list_products(ctx, brand_id)
    return await _render(
        request,
        "merchant_brand.html",
        {
            "brand": brand,
            "products": products,
            "error": error,
            "form": form or {},
            "variant_rows": range(FIRST_VARIANT_ROWS),
        },
        status,
    )


@router.get("/merchant/brands/{brand_id}")
async def brand_page(request: Request, brand_id: int) -> Response:
    found = await _signed_in(request)
    return await _brand_page(request, found, brand_id)


def _variant_rows(form: FormData) -> list[VariantInput]:
    rows = []
    for i in range(FIRST_VARIANT_ROWS):
        name, price, stock, sku = (
            _field(form, f"variant_{key}_{i}") for key in ("name", "price", "stock", "sku")
        )
        if not (name or price or stock or sku):
            continue
        if not price:
            raise InvalidInput(f"give variant {name or i + 1} a price", code="invalid_amount")
        rows.append(VariantInput(name, price, _int(stock, "stock", default=0), sku or None))
    return rows


@router.post("/merchant/brands/{brand_id}/products")
async def create_product(request: Request, brand_id: int) -> Response:
    found = await _signed_in(request)
    ctx = get_ctx(request)
    form = await request.form()
    values = {k: _field(form, k) for k in form if k != "csrf_token" and k != "image_file"}
    try:
        _check_csrf(found, form)
        image_url = _field(form, "image_url")
        product = await catalog.do_create_product(
            ctx,
            found.actor,
            brand_id,
            title=_field(form, "title"),
            description=_field(form, "description"),
            variants=_variant_rows(form),
            image_urls=[image_url] if image_url else [],
        )
        upload = _upload(form, "image_file")
        if upload is not None:
            content = await upload.read(ctx.settings.max_upload_bytes + 1)
            await catalog.do_upload_image(ctx, found.actor, product.id, content)
    except DomainError as exc:
        return await _brand_page(
            request, found, brand_id, error=exc.message, form=values, status=exc.status
        )
    return _see(f"/merchant/products/{product.id}")


async def _product_page(
    request: Request,
    found: Authenticated,
    product_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    product = await catalog.get_product(ctx, product_id)
    check_brand_staff(found.actor, product["brand"]["id"])
    brand = await catalog.get_brand(ctx, product["brand"]["id"])
    return await _render(
        request,
        "merchant_product.html",
        {"product": product, "brand": brand, "error": error},
        status,
    )


@router.get("/merchant/products/{product_id}")
async def product_page(request: Request, product_id: int) -> Response:
    found = await _signed_in(request)
    return await _product_page(request, found, product_id)


async def _product_action(
    request: Request, product_id: int, action: str, variant_id: int = 0
) -> Response:
    found = await _signed_in(request)
    ctx = get_ctx(request)
    form = await request.form()
    actor = found.actor
    try:
        _check_csrf(found, form)
        if action == "edit":
            await catalog.do_update_product(
                ctx,
                actor,
                product_id,
                title=_field(form, "title"),
                description=_field(form, "description"),
            )
        elif action == "add_variant":
            await catalog.do_add_variant(
                ctx,
                actor,
                product_id,
                VariantInput(
                    _field(form, "name"),
                    _field(form, "price"),
                    _int(_field(form, "stock"), "stock", default=0),
                    _field(form, "sku") or None,
                ),
            )
        elif action == "edit_variant":
            # The variant must be this product's: the form's URL names both.
            product = await catalog.get_product(ctx, product_id)
            if variant_id not in {v["id"] for v in product["variants"]}:
                raise NotFound(
                    f"no variant {variant_id} in product {product_id}", code="variant_not_found"
                )
            await catalog.do_update_variant(
                ctx,
                actor,
                variant_id,
                name=_field(form, "name"),
                price=_field(form, "price"),
                stock=_int(_field(form, "stock"), "stock"),
            )
        elif action == "image":
            upload = _upload(form, "image_file")
            if upload is not None:
                content = await upload.read(ctx.settings.max_upload_bytes + 1)
                if not content:
                    raise InvalidInput("the file is empty", code="invalid_image")
                await catalog.do_upload_image(ctx, actor, product_id, content)
            elif _field(form, "image_url"):
                await catalog.do_add_image(ctx, actor, product_id, _field(form, "image_url"))
            else:
                raise InvalidInput("choose a picture or give its URL", code="invalid_image")
    except DomainError as exc:
        return await _product_page(request, found, product_id, error=exc.message, status=exc.status)
    return _see(f"/merchant/products/{product_id}")


@router.post("/merchant/products/{product_id}")
async def edit_product(request: Request, product_id: int) -> Response:
    return await _product_action(request, product_id, "edit")


@router.post("/merchant/products/{product_id}/variants")
async def add_variant(request: Request, product_id: int) -> Response:
    return await _product_action(request, product_id, "add_variant")


@router.post("/merchant/products/{product_id}/variants/{variant_id}")
async def edit_variant(request: Request, product_id: int, variant_id: int) -> Response:
    return await _product_action(request, product_id, "edit_variant", variant_id)


@router.post("/merchant/products/{product_id}/images")
async def add_image(request: Request, product_id: int) -> Response:
    return await _product_action(request, product_id, "image")


# -- merchant: the brand's orders ------------------------------------------------------------

ORDER_WORDS = {
    "pending": N_("awaiting payment"),
    "paid": N_("paid"),
    "fulfilled": N_("shipped"),
    "cancelled": N_("cancelled"),
    "expired": N_("expired"),
    "refunded": N_("refunded"),
}


async def _orders_page(
    request: Request,
    found: Authenticated,
    brand_id: int,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    ctx = get_ctx(request)
    brand = await catalog.get_brand(ctx, brand_id)
    orders = await checkout.list_brand_orders(ctx, found.actor, brand_id)
    return await _render(
        request,
        "merchant_orders.html",
        {"brand": brand, "orders": orders, "words": ORDER_WORDS, "error": error, "notice": notice},
        status,
    )


@router.get("/merchant/brands/{brand_id}/orders")
async def brand_orders(request: Request, brand_id: int) -> Response:
    found = await _signed_in(request)
    done = request.query_params.get("done", "")
    notice = {
        "cancelled": "Order cancelled; its units are back on sale.",
        "refunded": "Order refunded; its units are back on sale.",
    }.get(done)
    return await _orders_page(request, found, brand_id, notice=notice)


async def _order_action(request: Request, brand_id: int, order_id: int, action: str) -> Response:
    found = await _signed_in(request)
    ctx = get_ctx(request)
    form = await request.form()
    try:
        _check_csrf(found, form)
        # The page is for the brand's staff; the services check the order itself.
        check_brand_staff(found.actor, brand_id)
        if action == "refund":
            out = await checkout.do_refund(ctx, found.actor, order_id)
        else:
            out = await checkout.do_cancel(ctx, found.actor, order_id)
    except DomainError as exc:
        return await _orders_page(request, found, brand_id, error=exc.message, status=exc.status)
    return _see(f"/merchant/brands/{brand_id}/orders?done={out['status']}")


@router.post("/merchant/brands/{brand_id}/orders/{order_id}/cancel")
async def cancel_order(request: Request, brand_id: int, order_id: int) -> Response:
    return await _order_action(request, brand_id, order_id, "cancel")


@router.post("/merchant/brands/{brand_id}/orders/{order_id}/refund")
async def refund_order(request: Request, brand_id: int, order_id: int) -> Response:
    return await _order_action(request, brand_id, order_id, "refund")
