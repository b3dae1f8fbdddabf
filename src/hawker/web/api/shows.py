from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from hawker.services import accounts, chat, rooms, shelf, shows, stream
from hawker.web.api.schemas import (
    ERRORS,
    MAX_ID,
    ChapterOut,
    ChatIn,
    ChatOut,
    ChatSettingsIn,
    ChatSettingsOut,
    CoverOut,
    LikesIn,
    ListingIn,
    ListingOut,
    ListingPatch,
    MemberIn,
    OrderIn,
    PathId,
    PinIn,
    SanctionIn,
    SanctionOut,
    SanctionRow,
    ShowIn,
    ShowOut,
    ShowPatch,
    SnapshotOut,
    StreamKeyOut,
    UserOut,
)
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS)


@router.get("/shows", response_model=list[ShowOut], tags=["shows"])
async def list_shows(
    ctx: CtxDep,
    status: Literal["scheduled", "live", "ended"] | None = None,
    host_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: int = Query(50, ge=1, le=200),
) -> list[dict[str, Any]]:
    """Shows, newest first; `status=live` lists the shows on air."""
    return await shows.list_shows(ctx, status=status, host_id=host_id, limit=limit)


@router.post("/shows", status_code=201, response_model=ShowOut, tags=["shows"])
async def create_show(body: ShowIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Schedule a show. A host schedules its own; its agency or an admin may name `host_id`.
    With `contract_id` the show is booked under that accepted contract: it must fall within
    the contract's dates, and its shelf may hold only the contract's products."""
    show = await shows.do_create_show(
        ctx,
        actor,
        title=body.title,
        host_id=body.host_id,
        scheduled_at=body.scheduled_at,
        description=body.description,
        cover_url=body.cover_url,
        currency=body.currency,
        contract_id=body.contract_id,
    )
    return await shows.get_show(ctx, show.id)


@router.get("/shows/{show_id}", response_model=ShowOut, tags=["shows"])
async def get_show(show_id: PathId, ctx: CtxDep) -> dict[str, Any]:
    return await shows.get_show(ctx, show_id)


@router.patch("/shows/{show_id}", response_model=ShowOut, tags=["shows"])
async def update_show(
    show_id: PathId, body: ShowPatch, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    await shows.do_update_show(
        ctx,
        actor,
        show_id,
        title=body.title,
        description=body.description,
        scheduled_at=body.scheduled_at,
        cover_url=body.cover_url,
    )
    return await shows.get_show(ctx, show_id)


@router.post("/shows/{show_id}/live", response_model=ShowOut, tags=["shows"])
async def go_live(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    await shows.do_go_live(ctx, actor, show_id)
    return await shows.get_show(ctx, show_id)


@router.post("/shows/{show_id}/end", response_model=ShowOut, tags=["shows"])
async def end_show(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    await shows.do_end_show(ctx, actor, show_id)
    return await shows.get_show(ctx, show_id)


@router.get("/shows/{show_id}/stream-key", response_model=StreamKeyOut, tags=["shows"])
async def stream_key(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, str]:
    """The secret key the host's encoder streams with. Host, agency and admin only."""
    return {"stream_key": await shows.get_stream_key(ctx, actor, show_id)}


@router.post("/shows/{show_id}/stream-key", response_model=StreamKeyOut, tags=["shows"])
async def rotate_stream_key(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, str]:
    """Make a new key; the old one stops working at once."""
    return {"stream_key": await shows.do_rotate_stream_key(ctx, actor, show_id)}


@router.get("/shows/{show_id}/moderators", response_model=list[UserOut], tags=["moderation"])
async def moderators(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    return [accounts.user_json(u) for u in await shows.list_moderators(ctx, actor, show_id)]


@router.post("/shows/{show_id}/moderators", response_model=UserOut, tags=["moderation"])
async def add_moderator(
    show_id: PathId, body: MemberIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return accounts.user_json(await shows.do_add_moderator(ctx, actor, show_id, body.email))


@router.delete("/shows/{show_id}/moderators/{user_id}", status_code=204, tags=["moderation"])
async def remove_moderator(
    show_id: PathId, user_id: PathId, actor: ActorDep, ctx: CtxDep
) -> Response:
    await shows.do_remove_moderator(ctx, actor, show_id, user_id)
    return Response(status_code=204)


@router.get("/shows/{show_id}/snapshot", response_model=SnapshotOut, tags=["shows"])
async def snapshot(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """What a viewer connecting now would be sent first over the WebSocket."""
    return await rooms.build_snapshot(ctx, actor, show_id)


# -- shelf ----------------------------------------------------------------------------


@router.get("/shows/{show_id}/shelf", response_model=list[ListingOut], tags=["shelf"])
async def get_shelf(show_id: PathId, ctx: CtxDep) -> list[dict[str, Any]]:
    """The numbered listings, #1 first."""
    return await shelf.get_shelf(ctx, show_id)


@router.post("/shows/{show_id}/shelf", status_code=201, response_model=ListingOut, tags=["shelf"])
async def add_listing(
    show_id: PathId, body: ListingIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Put a product (or some of its variants) on the shelf at a live price; it gets the next
    number."""
    return await shelf.do_add_listing(
        ctx,
        actor,
        show_id,
        product_id=body.product_id,
        price=body.price,
        variant_ids=body.variant_ids,
    )


@router.put("/shows/{show_id}/shelf/order", response_model=list[ListingOut], tags=["shelf"])
async def reorder(
    show_id: PathId, body: OrderIn, actor: ActorDep, ctx: CtxDep
) -> list[dict[str, Any]]:
    """Renumber the shelf: name every listing id once, in the new order."""
    return await shelf.do_reorder(ctx, actor, show_id, body.listing_ids)


@router.patch("/shows/{show_id}/shelf/{listing_id:int}", response_model=ListingOut, tags=["shelf"])
async def update_listing(
    show_id: PathId, listing_id: PathId, body: ListingPatch, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return await shelf.do_update_listing(ctx, actor, show_id, listing_id, price=body.price)


@router.delete(
    "/shows/{show_id}/shelf/{listing_id:int}", response_model=list[ListingOut], tags=["shelf"]
)
async def remove_listing(
    show_id: PathId, listing_id: PathId, actor: ActorDep, ctx: CtxDep
) -> list[dict[str, Any]]:
    """Take a listing off; the ones after it move up a number."""
    return await shelf.do_remove_listing(ctx, actor, show_id, listing_id)


@router.put("/shows/{show_id}/pin", response_model=ListingOut, tags=["shelf"])
async def pin(show_id: PathId, body: PinIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Pin a listing: "now showing" for every viewer."""
    return await shelf.do_pin(ctx, actor, show_id, body.listing_id)


@router.delete("/shows/{show_id}/pin", status_code=204, tags=["shelf"])
async def unpin(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> Response:
    await shelf.do_unpin(ctx, actor, show_id)
    return Response(status_code=204)


# -- chat and moderation ----------------------------------------------------------------


@router.get("/shows/{show_id}/chat", response_model=list[ChatOut], tags=["chat"])
async def recent_chat(
    show_id: PathId, ctx: CtxDep, limit: int = Query(50, ge=1, le=200)
) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        _, facts = await shows.show_with_facts(s, show_id)
        return await chat.recent_messages(s, show_id, limit, facts)


@router.post("/shows/{show_id}/chat", status_code=201, response_model=ChatOut, tags=["chat"])
async def send_chat(show_id: PathId, body: ChatIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Say something. "#7", "7 please" or "show me 7" counts as a request for item 7."""
    return await chat.do_send_message(ctx, actor, show_id, body.body)


@router.post("/shows/{show_id}/likes", status_code=202, tags=["chat"])
async def like(show_id: PathId, body: LikesIn, actor: ActorDep, ctx: CtxDep) -> dict[str, int]:
    """Taps are combined into one burst per second."""
    await chat.do_like(ctx, actor, show_id, body.count)
    return {"accepted": body.count}


@router.post("/shows/{show_id}/chat/{message_id}/hide", status_code=204, tags=["moderation"])
async def hide(show_id: PathId, message_id: PathId, actor: ActorDep, ctx: CtxDep) -> Response:
    """Hide a message for everyone; it stays in the record."""
    await chat.do_hide_message(ctx, actor, show_id, message_id)
    return Response(status_code=204)


@router.get("/shows/{show_id}/sanctions", response_model=list[SanctionRow], tags=["moderation"])
async def sanctions(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    """Viewers muted or banned in this show now."""
    return await chat.list_sanctions(ctx, actor, show_id)


@router.put("/shows/{show_id}/sanctions/{user_id}", response_model=SanctionOut, tags=["moderation"])
async def sanction(
    show_id: PathId, user_id: PathId, body: SanctionIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Mute a viewer for `mute_seconds` (0 lifts it) and/or ban (`ban: true`) or unban."""
    return await chat.do_sanction(
        ctx, actor, show_id, user_id, ban=body.ban, mute_seconds=body.mute_seconds
    )


@router.get("/shows/{show_id}/chat-settings", response_model=ChatSettingsOut, tags=["moderation"])
async def chat_settings(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await chat.get_chat_settings(ctx, actor, show_id)


@router.patch("/shows/{show_id}/chat-settings", response_model=ChatSettingsOut, tags=["moderation"])
async def update_chat_settings(
    show_id: PathId, body: ChatSettingsIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Slow mode (seconds between a viewer's messages, 0 = off) and the banned words."""
    return await chat.do_chat_settings(
        ctx,
        actor,
        show_id,
        slow_mode_seconds=body.slow_mode_seconds,
        banned_words=body.banned_words,
    )


# -- video ---------------------------------------------------------------------------------


@router.get("/shows/{show_id}/stream", tags=["video"])
async def stream_status(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Where the host's encoder sends the show (the RTMP URL; the key is at /stream-key),
    and the stream's state (offline, streaming, reconnecting, ended) and health."""
    return await stream.status(ctx, actor, show_id)


@router.get("/shows/{show_id}/chapters", response_model=list[ChapterOut], tags=["video"])
async def chapters(show_id: PathId, ctx: CtxDep) -> list[dict[str, Any]]:
    """One chapter per pinned item, in order, with where it starts in the replay."""
    return await stream.chapters(ctx, show_id)


@router.post("/shows/{show_id}/cover-from-stream", response_model=CoverOut, tags=["video"])
async def cover_from_stream(show_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, str]:
    """Make the newest picture of the stream the show's cover image."""
    return {"cover_url": await stream.do_cover_from_stream(ctx, actor, show_id)}
