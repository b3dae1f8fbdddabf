"""Accounts: sign up, sign in, sessions (cookie + CSRF for pages, bearer tokens for the API)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from hawker.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from hawker.domain.roles import Actor, check_admin
from hawker.services.coalesce import Coalescer, one_of, shared
from hawker.services.context import Context
from hawker.store.tables import AgencyMember, BrandMember, Session, User

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
COOKIE = "hawker_session"


class BadCredentials(DomainError):
    code = "bad_credentials"
    status = 401


@dataclass(frozen=True, slots=True)
class SignIn:
    token: str
    csrf_token: str
    user: User
    expires_at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_signup(email: str, password: str, display_name: str) -> tuple[str, str]:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidInput("that is not an email address", code="invalid_email")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", code="weak_password"
        )
    name = " ".join(display_name.split())
    if not 1 <= len(name) <= 60:
        raise InvalidInput("a display name has 1 to 60 characters", code="invalid_name")
    return email, name


async def do_signup(
    ctx: Context,
    *,
    email: str,
    password: str,
    display_name: str,
    host: bool = False,
    city: str | None = None,
    admin: bool = False,
) -> User:
    email, name = check_signup(email, password, display_name)
    async with ctx.db.session() as s:
        if await s.scalar(select(User.id).where(User.email == email)) is not None:
            raise Conflict("an account with that email exists; sign in instead", code="email_taken")
        user = User(
            email=email,
            display_name=name,
            password_hash=_hasher.hash(password),
            city=(city or "").strip()[:80] or None,
            is_host=host,
            is_admin=admin,
            created_at=utcnow(),
        )
        s.add(user)
        await s.commit()
        return user


async def do_signin(ctx: Context, *, email: str, password: str, kind: str) -> SignIn:
    async with ctx.db.session() as s:
        user = await s.scalar(select(User).where(User.email == email.strip().lower()))
        try:
            if user is None:
                raise VerificationError
            _hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError) as exc:
            raise BadCredentials("wrong email or password") from exc
        return await _open_session(ctx, s, user, kind)


async def _open_session(ctx: Context, s: AsyncSession, user: User, kind: str) -> SignIn:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    now = utcnow()
    expires = now + timedelta(days=ctx.settings.session_days)
    s.add(
        Session(
            token_hash=_hash_token(token),
            user_id=user.id,
            kind=kind,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
        )
    )
    await s.commit()
    return SignIn(token, csrf, user, expires)


async def do_signout(ctx: Context, token: str) -> None:
    async with ctx.db.session() as s:
        await s.execute(delete(Session).where(Session.token_hash == _hash_token(token)))
        await s.commit()


@dataclass(frozen=True, slots=True)
class Profile:
    """Who is signed in, as pages and `/me` show them: read with the session, no ORM object."""

    id: int
    email: str
    display_name: str
    city: str | None
    is_host: bool
    is_admin: bool


@dataclass(frozen=True, slots=True)
class Authenticated:
    actor: Actor
    user: Profile
    kind: str
    csrf_token: str


async def access_session(ctx: Context, token: str) -> Authenticated | None:
    """The signed-in user behind a cookie or bearer token, with its roles, or None.

    Looked up fresh every time (a sign-out anywhere counts at once), but concurrent look-ups
    share one query: in a flash sale every buyer's first request asks at the same moment."""
    lookups = shared(ctx.db, "sessions", lambda: Coalescer(lambda h: _sessions(ctx, h)))
    found = await lookups.get(_hash_token(token))
    if found is None or found[1] <= utcnow():
        return None
    return found[0]


_SESSIONS = cast(Table, Session.__table__)
_USERS = cast(Table, User.__table__)
_PROFILE = tuple(Profile.__slots__)


async def _sessions(ctx: Context, hashes: list[str]) -> dict[str, tuple[Authenticated, datetime]]:
    # Plain SQL: in a flash sale every buyer's token is a new key, and building two ORM
    # objects per sign-in cost more than the query.
    query = (
        select(
            _SESSIONS.c.token_hash,
            _SESSIONS.c.kind,
            _SESSIONS.c.csrf_token,
            _SESSIONS.c.expires_at,
            *(_USERS.c[name] for name in _PROFILE),
        )
        .join(_USERS, _USERS.c.id == _SESSIONS.c.user_id)
        .where(one_of(ctx.db, _SESSIONS.c.token_hash, hashes))
    )
    async with ctx.db.reads() as conn:
        rows = (await conn.execute(query)).all()
        user_ids = list({row.id for row in rows})
        brands = await _memberships(ctx, conn, BrandMember.user_id, BrandMember.brand_id, user_ids)
        agencies = await _memberships(
            ctx, conn, AgencyMember.user_id, AgencyMember.agency_id, user_ids
        )
    out: dict[str, tuple[Authenticated, datetime]] = {}
    for row in rows:
        user = Profile(*row[4:])
        actor = Actor(
            user_id=user.id,
            is_admin=user.is_admin,
            is_host=user.is_host,
            brand_ids=frozenset(brands.get(user.id, ())),
            agency_ids=frozenset(agencies.get(user.id, ())),
        )
        out[row.token_hash] = (
            Authenticated(actor, user, row.kind, row.csrf_token),
            row.expires_at,
        )
    return out


async def _memberships(
    ctx: Context, conn: AsyncConnection, who: Any, what: Any, user_ids: list[int]
) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if user_ids:
        rows = (await conn.execute(select(who, what).where(one_of(ctx.db, who, user_ids)))).all()
        for user_id, group_id in rows:
            out.setdefault(user_id, []).append(group_id)
    return out


async def load_actor(s: AsyncSession, user: User) -> Actor:
    brand_ids = (
        await s.scalars(select(BrandMember.brand_id).where(BrandMember.user_id == user.id))
    ).all()
    agency_ids = (
        await s.scalars(select(AgencyMember.agency_id).where(AgencyMember.user_id == user.id))
    ).all()
    return Actor(
        user_id=user.id,
        is_admin=user.is_admin,
        is_host=user.is_host,
        brand_ids=frozenset(brand_ids),
        agency_ids=frozenset(agency_ids),
    )


async def do_grant_roles(
    ctx: Context, actor: Actor, user_id: int, *, host: bool | None, admin: bool | None
) -> User:
    check_admin(actor)
    async with ctx.db.session() as s:
        user = await s.get(User, user_id)
        if user is None:
            raise NotFound(f"no user {user_id}", code="user_not_found")
        if host is not None:
            user.is_host = host
        if admin is not None:
            user.is_admin = admin
        await s.commit()
        return user


def user_json(user: User | Profile, *, private: bool = False) -> dict[str, object]:
    out: dict[str, object] = {
        "id": user.id,
        "display_name": user.display_name,
        "is_host": user.is_host,
    }
    if private:
        out.update(email=user.email, is_admin=user.is_admin, city=user.city)
    return out
