"""Agencies (MCNs): their staff and the hosts they sign."""

from __future__ import annotations

from sqlalchemy import select

from hawker.domain.errors import Conflict, InvalidInput, NotFound
from hawker.domain.roles import Actor, check_agency_staff, check_signed_in
from hawker.services.accounts import utcnow
from hawker.services.catalog import _text
from hawker.services.context import Context
from hawker.store.tables import Agency, AgencyHost, AgencyMember, User


async def do_create_agency(ctx: Context, actor: Actor, *, name: str) -> Agency:
    user_id = check_signed_in(actor)
    name = _text(name, "name", 1, 100)
    async with ctx.db.session() as s:
        if await s.scalar(select(Agency.id).where(Agency.name == name)) is not None:
            raise Conflict(f"an agency named {name!r} exists", code="agency_exists")
        agency = Agency(name=name, created_at=utcnow())
        s.add(agency)
        await s.flush()
        s.add(AgencyMember(agency_id=agency.id, user_id=user_id))
        await s.commit()
        return agency


async def _user_by_email(ctx: Context, email: str) -> User:
    async with ctx.db.session() as s:
        user = await s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no account with email {email!r}", code="user_not_found")
        return user


async def do_add_member(ctx: Context, actor: Actor, agency_id: int, email: str) -> User:
    check_agency_staff(actor, agency_id)
    user = await _user_by_email(ctx, email)
    async with ctx.db.session() as s:
        if await s.get(Agency, agency_id) is None:
            raise NotFound(f"no agency {agency_id}", code="agency_not_found")
        if await s.get(AgencyMember, (agency_id, user.id)) is None:
            s.add(AgencyMember(agency_id=agency_id, user_id=user.id))
            await s.commit()
    return user


async def do_sign_host(ctx: Context, actor: Actor, agency_id: int, email: str) -> User:
    check_agency_staff(actor, agency_id)
    user = await _user_by_email(ctx, email)
    if not user.is_host:
        raise InvalidInput(f"{user.display_name} is not a host", code="not_a_host")
    async with ctx.db.session() as s:
        if await s.get(Agency, agency_id) is None:
            raise NotFound(f"no agency {agency_id}", code="agency_not_found")
        if await s.get(AgencyHost, (agency_id, user.id)) is None:
            s.add(AgencyHost(agency_id=agency_id, host_id=user.id))
            await s.commit()
    return user
