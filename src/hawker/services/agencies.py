"""Agencies (MCNs): their staff and the hosts they sign (by invitation, which the host
accepts or declines)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from hawker.domain.roles import Actor, check_agency_staff, check_signed_in
from hawker.services.accounts import utcnow
from hawker.services.catalog import _text
from hawker.services.context import Context
from hawker.store.tables import Agency, AgencyHost, AgencyInvitation, AgencyMember, User


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


# -- signing hosts: the agency invites, the host accepts ------------------------------------

PENDING, ACCEPTED, DECLINED = "pending", "accepted", "declined"


async def do_invite_host(
    ctx: Context, actor: Actor, agency_id: int, email: str
) -> tuple[dict[str, Any], bool]:
    """Ask a host to sign with the agency. Returns (invitation, created): asking again while
    an invitation is pending returns that one. The host is signed only once it accepts."""
    user_id = check_signed_in(actor)
    check_agency_staff(actor, agency_id)
    host = await _user_by_email(ctx, email)
    if not host.is_host:
        raise InvalidInput(f"{host.display_name} is not a host", code="not_a_host")
    async with ctx.db.session() as s:
        agency = await access_agency(s, agency_id)
        if await s.get(AgencyHost, (agency_id, host.id)) is not None:
            raise Conflict(
                f"{host.display_name} is already signed with {agency.name}", code="already_signed"
            )
        invitation = await s.scalar(
            select(AgencyInvitation).where(
                AgencyInvitation.agency_id == agency_id,
                AgencyInvitation.host_id == host.id,
                AgencyInvitation.status == PENDING,
            )
        )
        created = invitation is None
        if invitation is None:
            invitation = AgencyInvitation(
                agency_id=agency_id,
                host_id=host.id,
                invited_by=user_id,
                status=PENDING,
                created_at=utcnow(),
            )
            s.add(invitation)
            await s.commit()
        return invitation_json(invitation, agency, host), created


async def do_answer_invitation(
    ctx: Context, actor: Actor, invitation_id: int, *, accept: bool
) -> dict[str, Any]:
    """The invited host accepts (and is signed) or declines. Only the host answers: signing
    binds the host, so neither the agency nor an admin may do it for them. Answering the
    same way twice is not an error."""
    user_id = check_signed_in(actor)
    answer = ACCEPTED if accept else DECLINED
    async with ctx.db.session() as s:
        invitation = await s.scalar(
            select(AgencyInvitation).where(AgencyInvitation.id == invitation_id).with_for_update()
        )
        if invitation is None:
            raise NotFound(f"no invitation {invitation_id}", code="invitation_not_found")
        if invitation.host_id != user_id:
            raise Forbidden("only the invited host may answer this invitation")
        if invitation.status != answer:
            if invitation.status != PENDING:
                raise Conflict(
                    f"this invitation was {invitation.status} already",
                    code="invitation_answered",
                )
            invitation.status = answer
            invitation.answered_at = utcnow()
            if accept and await s.get(AgencyHost, (invitation.agency_id, user_id)) is None:
                s.add(AgencyHost(agency_id=invitation.agency_id, host_id=user_id))
            await s.commit()
        agency = await access_agency(s, invitation.agency_id)
        host = await s.get(User, user_id)
        assert host is not None
        return invitation_json(invitation, agency, host)


async def list_invitations(ctx: Context, actor: Actor, agency_id: int) -> list[dict[str, Any]]:
    """An agency's invitations, newest first (its staff and admins)."""
    check_agency_staff(actor, agency_id)
    async with ctx.db.session() as s:
        agency = await access_agency(s, agency_id)
        rows = (
            await s.execute(
                select(AgencyInvitation, User)
                .join(User, User.id == AgencyInvitation.host_id)
                .where(AgencyInvitation.agency_id == agency_id)
                .order_by(AgencyInvitation.id.desc())
                .limit(500)
            )
        ).all()
        return [invitation_json(inv, agency, host) for inv, host in rows]


async def my_invitations(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """The invitations a host has been sent, newest first."""
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        host = await s.get(User, user_id)
        assert host is not None
        rows = (
            await s.execute(
                select(AgencyInvitation, Agency)
                .join(Agency, Agency.id == AgencyInvitation.agency_id)
                .where(AgencyInvitation.host_id == user_id)
                .order_by(AgencyInvitation.id.desc())
                .limit(500)
            )
        ).all()
        return [invitation_json(inv, agency, host) for inv, agency in rows]


async def list_hosts(ctx: Context, actor: Actor, agency_id: int) -> list[User]:
    """The hosts signed with an agency (its staff and admins)."""
    check_agency_staff(actor, agency_id)
    async with ctx.db.session() as s:
        await access_agency(s, agency_id)
        return list(
            (
                await s.scalars(
                    select(User)
                    .join(AgencyHost, AgencyHost.host_id == User.id)
                    .where(AgencyHost.agency_id == agency_id)
                    .order_by(User.display_name, User.id)
                )
            ).all()
        )


async def access_agency(s: AsyncSession, agency_id: int) -> Agency:
    agency = await s.get(Agency, agency_id)
    if agency is None:
        raise NotFound(f"no agency {agency_id}", code="agency_not_found")
    return agency


def invitation_json(invitation: AgencyInvitation, agency: Agency, host: User) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "agency": {"id": agency.id, "name": agency.name},
        "host": {"id": host.id, "display_name": host.display_name},
        "status": invitation.status,
        "created_at": invitation.created_at.isoformat(),
        "answered_at": invitation.answered_at.isoformat() if invitation.answered_at else None,
    }


async def list_agencies(ctx: Context, actor: Actor, *, mine: bool = False) -> list[Agency]:
    """Agencies by name: all of them (a brand picks one to offer a contract to), or with
    `mine` those the actor works for."""
    async with ctx.db.session() as s:
        query = select(Agency).order_by(Agency.name, Agency.id)
        if mine:
            query = query.where(Agency.id.in_(actor.agency_ids or {-1}))
        return list((await s.scalars(query.limit(500))).all())


async def get_agency(ctx: Context, actor: Actor, agency_id: int) -> dict[str, Any]:
    """An agency's name, for its staff and admins."""
    check_agency_staff(actor, agency_id)
    async with ctx.db.session() as s:
        agency = await access_agency(s, agency_id)
        return {"id": agency.id, "name": agency.name}
