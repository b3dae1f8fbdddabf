from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from hawker.domain.roles import check_signed_in
from hawker.services import accounts, agencies
from hawker.web.api.schemas import (
    ERRORS,
    AgencyIn,
    AgencyOut,
    MemberIn,
    MeOut,
    PathId,
    RolesIn,
    SignupIn,
    TokenIn,
    TokenOut,
    UserOut,
)
from hawker.web.auth import ActorDep, CtxDep, bearer_token

router = APIRouter(responses=ERRORS)


@router.post("/auth/signup", status_code=201, response_model=TokenOut, tags=["accounts"])
async def signup(body: SignupIn, ctx: CtxDep) -> dict[str, Any]:
    """Create an account and get an API token for it."""
    await accounts.do_signup(
        ctx,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        host=body.host,
        city=body.city,
    )
    signin = await accounts.do_signin(ctx, email=body.email, password=body.password, kind="token")
    return {
        "token": signin.token,
        "expires_at": signin.expires_at,
        "user": accounts.user_json(signin.user),
    }


@router.post("/auth/token", response_model=TokenOut, tags=["accounts"])
async def token(body: TokenIn, ctx: CtxDep) -> dict[str, Any]:
    """Sign in: trade email and password for a bearer token."""
    signin = await accounts.do_signin(ctx, email=body.email, password=body.password, kind="token")
    return {
        "token": signin.token,
        "expires_at": signin.expires_at,
        "user": accounts.user_json(signin.user),
    }


@router.post("/auth/signout", status_code=204, tags=["accounts"])
async def signout(request: Request, actor: ActorDep, ctx: CtxDep) -> Response:
    """Revoke the bearer token this call carries."""
    check_signed_in(actor)
    token = bearer_token(request.headers.get("authorization"))
    if token:
        await accounts.do_signout(ctx, token)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut, tags=["accounts"])
async def me(request: Request, actor: ActorDep) -> dict[str, Any]:
    check_signed_in(actor)
    user = request.state.auth.user
    return {
        **accounts.user_json(user, private=True),
        "brand_ids": sorted(actor.brand_ids),
        "agency_ids": sorted(actor.agency_ids),
    }


@router.patch("/users/{user_id}/roles", response_model=UserOut, tags=["accounts"])
async def grant_roles(
    user_id: PathId, body: RolesIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Make a user a host (or an admin). Admins only."""
    user = await accounts.do_grant_roles(ctx, actor, user_id, host=body.host, admin=body.admin)
    return accounts.user_json(user)


@router.post("/agencies", status_code=201, response_model=AgencyOut, tags=["agencies"])
async def create_agency(body: AgencyIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    agency = await agencies.do_create_agency(ctx, actor, name=body.name)
    return {"id": agency.id, "name": agency.name}


@router.post("/agencies/{agency_id}/members", response_model=UserOut, tags=["agencies"])
async def add_agency_member(
    agency_id: PathId, body: MemberIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return accounts.user_json(await agencies.do_add_member(ctx, actor, agency_id, body.email))
