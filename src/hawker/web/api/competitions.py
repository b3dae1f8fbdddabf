"""Sales competitions (a leaderboard over a time window) and head-to-head battles between
two live shows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from hawker.services import battles, competitions
from hawker.web.api.schemas import (
    ERRORS,
    BattleIn,
    BattleOut,
    CompetitionIn,
    CompetitionOut,
    CompetitionSummaryOut,
    PathId,
)
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS)


@router.post("/competitions", status_code=201, response_model=CompetitionOut, tags=["competitions"])
async def create_competition(body: CompetitionIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Enter hosts or shows in a sales contest over `starts_at`..`ends_at`, ranked by net GMV
    or net units (orders paid in the window, in `currency`, less those refunded or cancelled
    before it closed). Refused: no entrants (422 `no_entrants`), an end before the start
    (422 `invalid_period`), ids that name no host or show (422 `entrant_not_found`,
    `not_a_host`), entrants outside the organizer's reach (409 `entrant_not_eligible`)."""
    return await competitions.do_create_competition(
        ctx,
        actor,
        title=body.title,
        agency_id=body.agency_id,
        brand_id=body.brand_id,
        entrant_kind=body.entrant_kind,
        entrant_ids=body.entrant_ids,
        metric=body.metric,
        currency=body.currency,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )


@router.get("/competitions", response_model=list[CompetitionSummaryOut], tags=["competitions"])
async def list_competitions(
    ctx: CtxDep, limit: int = Query(50, ge=1, le=200)
) -> list[dict[str, Any]]:
    """Competitions, the latest to end first."""
    return await competitions.list_competitions(ctx, limit=limit)


@router.get("/competitions/{competition_id}", response_model=CompetitionOut, tags=["competitions"])
async def get_competition(competition_id: PathId, ctx: CtxDep) -> dict[str, Any]:
    """The leaderboard: live from the ledger while the competition runs, fixed once it has
    ended (`status` "final"). `winners` are those in first place with a figure above zero:
    the leaders while it runs, the winners once final. As a page at `/competitions/{id}`."""
    return await competitions.get_competition(ctx, competition_id)


@router.post("/battles", status_code=201, response_model=BattleOut, tags=["battles"])
async def start_battle(body: BattleIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Start a head-to-head battle between two shows on air, for `duration_seconds`: both
    rooms see the units each show sells from now on, a countdown, and the result. The host of
    either show (its agency, an admin) may. Refused: a show not on air (409
    `show_not_live`), a show already in a battle (409 `battle_running`)."""
    return await battles.do_start_battle(
        ctx,
        actor,
        show_id=body.show_id,
        opponent_show_id=body.opponent_show_id,
        duration_seconds=body.duration_seconds,
    )


@router.get("/battles/{battle_id}", response_model=BattleOut, tags=["battles"])
async def get_battle(battle_id: PathId, ctx: CtxDep) -> dict[str, Any]:
    return await battles.get_battle(ctx, battle_id)


@router.post("/battles/{battle_id}/end", response_model=BattleOut, tags=["battles"])
async def end_battle(battle_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """End a running battle now; the result goes to both rooms."""
    return await battles.do_end_battle(ctx, actor, battle_id)
