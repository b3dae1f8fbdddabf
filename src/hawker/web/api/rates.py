"""Exchange rates between currencies, set by an admin: a listing of a product priced in
another currency than its show's is converted at the rate in force."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from hawker.services import rates
from hawker.web.api.schemas import ERRORS, ExchangeRateIn, ExchangeRateOut
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS, tags=["rates"])
Code = Annotated[str, Path(min_length=1, max_length=8)]


@router.get("/rates", response_model=list[ExchangeRateOut])
async def list_rates(ctx: CtxDep) -> list[dict[str, Any]]:
    """Each pair's rate in force, and any set to start later."""
    return await rates.list_rates(ctx)


@router.put("/rates/{base}/{quote}", status_code=201, response_model=ExchangeRateOut)
async def set_rate(
    base: Code, quote: Code, body: ExchangeRateIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Set the rate from `base` to `quote` (admins only). A rate is never changed in place:
    a new one starts at its `valid_from`, and listings priced before keep theirs."""
    return await rates.do_set_rate(ctx, actor, base, quote, body.rate, valid_from=body.valid_from)
