from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hawker.domain.roles import check_signed_in
from hawker.payments.port import CardDetails
from hawker.services import checkout, coupons, deals
from hawker.web.api.schemas import (
    ERRORS,
    AddressIn,
    AddressOut,
    BuyIn,
    CouponIn,
    CouponOut,
    DealIn,
    DealOut,
    FiguresOut,
    OrderOut,
    PathId,
    PayIn,
    QuoteIn,
    QuoteOut,
)
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS)


@router.get("/me/address", response_model=AddressOut | None, tags=["checkout"])
async def get_address(actor: ActorDep, ctx: CtxDep) -> dict[str, str] | None:
    """Your shipping address, or null if you have not given one yet."""
    return await checkout.get_address(ctx, actor)


@router.put("/me/address", response_model=AddressOut, tags=["checkout"])
async def save_address(body: AddressIn, actor: ActorDep, ctx: CtxDep) -> dict[str, str]:
    """Asked once, kept for every order after."""
    return await checkout.do_save_address(ctx, actor, body.model_dump())


@router.post("/shows/{show_id}/quote", response_model=QuoteOut, tags=["checkout"])
async def quote(show_id: PathId, body: QuoteIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """What the buyer would pay now: listing or deal price, coupon, rounding. Pass its
    `fingerprint` to the order so that a price change is told, not charged."""
    return await checkout.quote(
        ctx,
        actor,
        show_id,
        listing_id=body.listing_id,
        variant_id=body.variant_id,
        quantity=body.quantity,
        coupon_code=body.coupon_code,
    )


# Bearer-signed calls with a plainly valid body are answered in front of FastAPI by
# web/fastbuy.py, with the same answers; this route describes the call in the OpenAPI
# document and answers the rest (cookie sign-in with CSRF, bodies to refuse).
@router.post(
    "/shows/{show_id}/orders",
    status_code=201,
    response_model=OrderOut,
    tags=["checkout"],
    responses={
        200: {"model": OrderOut, "description": "The same idempotency key again: the same order"}
    },
)
async def buy(show_id: PathId, body: BuyIn, actor: ActorDep, ctx: CtxDep) -> Any:
    """Buy a listing (the units are held for you while you pay). The same `idempotency_key`
    again returns the same order, never a second one."""
    order, created = await checkout.do_buy(
        ctx,
        actor,
        show_id,
        listing_id=body.listing_id,
        variant_id=body.variant_id,
        quantity=body.quantity,
        idempotency_key=body.idempotency_key,
        coupon_code=body.coupon_code,
        quote_fingerprint=body.quote_fingerprint,
    )
    return order if created else JSONResponse(order, status_code=200)


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["checkout"])
async def get_order(order_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await checkout.get_order(ctx, actor, order_id)


@router.get("/me/orders", response_model=list[OrderOut], tags=["checkout"])
async def my_orders(actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return await checkout.list_my_orders(ctx, actor)


@router.post("/orders/{order_id}/pay", response_model=OrderOut, status_code=202, tags=["checkout"])
async def pay(order_id: PathId, body: PayIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Pay with a card. Accepted for processing: the result reaches the order (and your
    page, over the room socket) when the provider confirms it."""
    card = CardDetails(body.card.number, body.card.expiry, body.card.cvc)
    return await checkout.do_pay(ctx, actor, order_id, card)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["checkout"])
async def cancel(order_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """The buyer cancels a pending order; the brand cancels any open one (refunding it)."""
    return await checkout.do_cancel(ctx, actor, order_id)


@router.post("/orders/{order_id}/refund", response_model=OrderOut, tags=["checkout"])
async def refund(order_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """The brand refunds a paid order; its units go back on sale."""
    return await checkout.do_refund(ctx, actor, order_id)


@router.get("/brands/{brand_id}/orders", response_model=list[OrderOut], tags=["checkout"])
async def brand_orders(brand_id: PathId, actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return await checkout.list_brand_orders(ctx, actor, brand_id)


@router.post("/payments/webhook", status_code=204, tags=["checkout"], include_in_schema=False)
async def webhook(request: Request, ctx: CtxDep) -> Response:
    """The payment provider's signed events (forged or replayed ones get 400)."""
    await checkout.handle_webhook(ctx, request.headers, await request.body())
    return Response(status_code=204)


@router.get("/shows/{show_id}/figures", response_model=FiguresOut, tags=["checkout"])
async def show_figures(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Units sold, orders, GMV and orders in the last minute, from the ledger."""
    from hawker.domain.roles import Action
    from hawker.services.shows import access_show_for

    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.SHOW_REQUESTS)
    return await checkout.figures(ctx, show_id)


# -- deals ---------------------------------------------------------------------------------


@router.get("/shows/{show_id}/deals", response_model=list[DealOut], tags=["deals"])
async def list_deals(show_id: PathId, ctx: CtxDep) -> list[dict[str, Any]]:
    """The deals of this show that are not over."""
    return await deals.list_deals(ctx, show_id)


@router.post("/shows/{show_id}/deals", status_code=201, response_model=DealOut, tags=["deals"])
async def start_deal(show_id: PathId, body: DealIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Start a flash deal: `quantity` units at `price`, `per_buyer_limit` each, for
    `duration_seconds`, after an optional `countdown_seconds`."""
    return await deals.do_start_deal(
        ctx,
        actor,
        show_id,
        listing_id=body.listing_id,
        variant_id=body.variant_id,
        price=body.price,
        quantity=body.quantity,
        per_buyer_limit=body.per_buyer_limit,
        duration_seconds=body.duration_seconds,
        countdown_seconds=body.countdown_seconds,
    )


@router.post("/shows/{show_id}/deals/{deal_id}/end", response_model=DealOut, tags=["deals"])
async def end_deal(
    show_id: PathId, deal_id: PathId, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return await deals.do_end_deal(ctx, actor, show_id, deal_id)


# -- coupons -------------------------------------------------------------------------------


@router.post("/coupons", status_code=201, response_model=CouponOut, tags=["coupons"])
async def create_coupon(body: CouponIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """A code for a show (its host) or a brand (its staff): percent or amount off, minimum
    spend, uses per buyer and in total; with `claim_limit` it is a drop for the first N."""
    return await coupons.do_create_coupon(ctx, actor, **body.model_dump())


@router.get("/shows/{show_id}/coupons", response_model=list[CouponOut], tags=["coupons"])
async def show_coupons(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return await coupons.list_show_coupons(ctx, actor, show_id)


@router.post(
    "/shows/{show_id}/coupons/{coupon_id}/drop", response_model=CouponOut, tags=["coupons"]
)
async def drop_coupon(
    show_id: PathId, coupon_id: PathId, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Drop a claimable coupon into the stream: every viewer sees it and may claim it."""
    return await coupons.do_drop(ctx, actor, show_id, coupon_id)


@router.post("/coupons/{coupon_id}/claim", response_model=CouponOut, tags=["coupons"])
async def claim_coupon(coupon_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    check_signed_in(actor)
    return await coupons.do_claim(ctx, actor, coupon_id)
