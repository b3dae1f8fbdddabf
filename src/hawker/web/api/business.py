"""The business behind the show: agencies sign hosts, brands contract them, sales earn
commission lines, and each party settles its lines period by period."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response

from hawker.services import accounts, agencies, contracts, settlements
from hawker.services.contracts import RateInput
from hawker.web.api.schemas import (
    ERRORS,
    MAX_ID,
    CloseIn,
    ContractIn,
    ContractOut,
    InvitationOut,
    InviteIn,
    OpenLinesOut,
    PathId,
    SettlementOut,
    SettlementSummaryOut,
    UserOut,
)
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS)
OptionalId = Query(None, ge=1, le=MAX_ID)


# -- agencies sign hosts ----------------------------------------------------------------------


@router.post(
    "/agencies/{agency_id}/invitations",
    status_code=201,
    response_model=InvitationOut,
    responses={200: {"model": InvitationOut, "description": "Already invited"}},
    tags=["agencies"],
)
async def invite_host(
    agency_id: PathId, body: InviteIn, response: Response, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Invite a host (by email) to sign with the agency; the host accepts or declines. While
    an invitation is pending, inviting again returns it (200)."""
    invitation, created = await agencies.do_invite_host(ctx, actor, agency_id, body.email)
    if not created:
        response.status_code = 200
    return invitation


@router.get(
    "/agencies/{agency_id}/invitations", response_model=list[InvitationOut], tags=["agencies"]
)
async def agency_invitations(
    agency_id: PathId, actor: ActorDep, ctx: CtxDep
) -> list[dict[str, Any]]:
    return await agencies.list_invitations(ctx, actor, agency_id)


@router.get("/agencies/{agency_id}/hosts", response_model=list[UserOut], tags=["agencies"])
async def agency_hosts(agency_id: PathId, actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    """The hosts signed with the agency: its staff may schedule and produce their shows."""
    return [accounts.user_json(u) for u in await agencies.list_hosts(ctx, actor, agency_id)]


@router.get("/me/invitations", response_model=list[InvitationOut], tags=["agencies"])
async def my_invitations(actor: ActorDep, ctx: CtxDep) -> list[dict[str, Any]]:
    """The agencies that asked you, a host, to sign with them."""
    return await agencies.my_invitations(ctx, actor)


@router.post("/invitations/{invitation_id}/accept", response_model=InvitationOut, tags=["agencies"])
async def accept_invitation(invitation_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """Sign with the agency. Only the invited host may."""
    return await agencies.do_answer_invitation(ctx, actor, invitation_id, accept=True)


@router.post(
    "/invitations/{invitation_id}/decline", response_model=InvitationOut, tags=["agencies"]
)
async def decline_invitation(invitation_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await agencies.do_answer_invitation(ctx, actor, invitation_id, accept=False)


# -- contracts --------------------------------------------------------------------------------


@router.post("/contracts", status_code=201, response_model=ContractOut, tags=["contracts"])
async def offer_contract(body: ContractIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """The brand's staff offer a contract to an agency or a host. Refused: dates or products
    that overlap another offered or active contract with the same party (409
    `contracts_overlap`), a rate whose shares come to more than 100% (422
    `shares_over_100`)."""
    return await contracts.do_offer_contract(
        ctx,
        actor,
        brand_id=body.brand_id,
        agency_id=body.agency_id,
        host_id=body.host_id,
        product_ids=body.product_ids,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        rates=[
            RateInput(
                host_share=r.host_share,
                agency_share=r.agency_share,
                product_id=r.product_id,
                category=r.category,
                starts_at=r.starts_at,
                ends_at=r.ends_at,
            )
            for r in body.rates
        ],
        fixed_fee=body.fixed_fee,
    )


@router.get("/contracts", response_model=list[ContractOut], tags=["contracts"])
async def list_contracts(
    actor: ActorDep,
    ctx: CtxDep,
    brand_id: int | None = OptionalId,
    agency_id: int | None = OptionalId,
    host_id: int | None = OptionalId,
    status: Literal["offered", "active", "declined"] | None = None,
) -> list[dict[str, Any]]:
    """The contracts you may see: your brands', your agencies', your own."""
    return await contracts.list_contracts(
        ctx, actor, brand_id=brand_id, agency_id=agency_id, host_id=host_id, status=status
    )


@router.get("/contracts/{contract_id}", response_model=ContractOut, tags=["contracts"])
async def get_contract(contract_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await contracts.get_contract(ctx, actor, contract_id)


@router.post("/contracts/{contract_id}/accept", response_model=ContractOut, tags=["contracts"])
async def accept_contract(contract_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """The agency (or the host of a direct contract) accepts: shows may then be booked under
    it (`contract_id` on `POST /shows`)."""
    return await contracts.do_answer_contract(ctx, actor, contract_id, accept=True)


@router.post("/contracts/{contract_id}/decline", response_model=ContractOut, tags=["contracts"])
async def decline_contract(contract_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return await contracts.do_answer_contract(ctx, actor, contract_id, accept=False)


# -- commissions and settlements, per brand, agency and host ---------------------------------


def _party_routes(party: str, prefix: str) -> None:
    async def open_lines(party_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
        return await settlements.open_lines(ctx, actor, party, party_id)

    async def list_settlements(
        party_id: PathId, actor: ActorDep, ctx: CtxDep
    ) -> list[dict[str, Any]]:
        return await settlements.list_settlements(ctx, actor, party, party_id)

    async def close_settlement(
        party_id: PathId, actor: ActorDep, ctx: CtxDep, body: CloseIn | None = None
    ) -> dict[str, Any]:
        end = body.period_end if body is not None else None
        return await settlements.do_close(ctx, actor, party, party_id, period_end=end)

    path = f"/{prefix}/{{party_id}}"
    router.add_api_route(
        f"{path}/commissions",
        open_lines,
        methods=["GET"],
        response_model=OpenLinesOut,
        name=f"{party}_open_lines",
        tags=["settlements"],
        summary=f"A {party}'s commission lines not yet settled",
    )
    router.add_api_route(
        f"{path}/settlements",
        list_settlements,
        methods=["GET"],
        response_model=list[SettlementSummaryOut],
        name=f"{party}_settlements",
        tags=["settlements"],
        summary=f"A {party}'s closed settlements, latest first",
    )
    router.add_api_route(
        f"{path}/settlements",
        close_settlement,
        methods=["POST"],
        status_code=201,
        response_model=SettlementOut,
        name=f"close_{party}_settlement",
        tags=["settlements"],
        summary=f"Close a {party}'s settlement up to `period_end` (default: now)",
        description=(
            "Takes every line not yet settled and dated before the end, and freezes it. "
            "A later refund goes into the next settlement."
        ),
    )


for _party, _prefix in (("brand", "brands"), ("agency", "agencies"), ("host", "hosts")):
    _party_routes(_party, _prefix)


@router.get("/settlements/{settlement_id}", response_model=SettlementOut, tags=["settlements"])
async def get_settlement(settlement_id: PathId, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    """A closed settlement: its lines and sums per currency. As a page at
    `/settlements/{id}`, as CSV at `/settlements/{id}.csv`."""
    return await settlements.get_settlement(ctx, actor, settlement_id)
