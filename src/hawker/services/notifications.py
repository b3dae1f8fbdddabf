"""Follows, show reminders and notifications: a viewer follows a host or asks to be
reminded about one scheduled show; when the show goes live, each of them gets one in-app
notification and one email (through the mail port, hawker/mail.py).

The notifications are written in one transaction after the show went live; a unique key
(user, kind, show) makes a second telling of the same show a no-op, so nobody hears twice.
Their emails go out from the table, not from the request that went live: a periodic job
(`send_emails`) sends those not sent yet and marks them, so a host with a hundred thousand
followers goes live at once, and a server stopped before its emails went out sends them
when it is back. Each email on its own: one bad address does not stop the rest.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from hawker.domain.errors import Conflict, InvalidInput, NotFound
from hawker.domain.roles import Actor, check_signed_in
from hawker.mail import Mailer, make_mailer
from hawker.services.accounts import utcnow
from hawker.services.coalesce import shared
from hawker.services.context import Context
from hawker.services.shows import ENDED, LIVE, access_show
from hawker.store.tables import Follow, Notification, Show, ShowReminder, User

log = logging.getLogger(__name__)

SHOW_LIVE = "show.live"
MAX_LISTED = 100
MAIL_BATCH = 200  # emails per transaction
MAIL_TICK_S = 1.0  # how often the emails still to go are looked for


def mailer(ctx: Context) -> Mailer:
    """The server's mail sender, made on first use from the settings."""
    return shared(ctx.db, "mailer", lambda: make_mailer(ctx.settings))


def _site(ctx: Context) -> str:
    s = ctx.settings
    return (s.public_url or f"http://{s.host}:{s.port}").rstrip("/")


# -- follows and reminders ----------------------------------------------------------------


async def _host(ctx: Context, host_id: int) -> User:
    async with ctx.db.session() as s:
        host = await s.get(User, host_id)
    if host is None:
        raise NotFound(f"no user {host_id}", code="user_not_found")
    if not host.is_host:
        raise InvalidInput(f"{host.display_name} is not a host", code="not_a_host")
    return host


async def follow_json(ctx: Context, actor: Actor, host_id: int) -> dict[str, Any]:
    host = await _host(ctx, host_id)
    async with ctx.db.session() as s:
        followers = await s.scalar(
            select(func.count()).select_from(Follow).where(Follow.host_id == host_id)
        )
        mine = (
            actor.user_id is not None and await s.get(Follow, (actor.user_id, host_id)) is not None
        )
    return {
        "host": {"id": host.id, "display_name": host.display_name},
        "following": mine,
        "followers": followers or 0,
    }


async def do_follow(ctx: Context, actor: Actor, host_id: int) -> dict[str, Any]:
    """Follow a host; following again changes nothing."""
    user_id = check_signed_in(actor)
    await _host(ctx, host_id)
    if user_id == host_id:
        raise InvalidInput("you cannot follow yourself", code="cannot_follow_self")
    async with ctx.db.session() as s:
        if await s.get(Follow, (user_id, host_id)) is None:
            s.add(Follow(user_id=user_id, host_id=host_id, created_at=utcnow()))
            try:
                await s.commit()
            except IntegrityError:  # the same follow from a second tab, just now
                await s.rollback()
    return await follow_json(ctx, actor, host_id)


async def do_unfollow(ctx: Context, actor: Actor, host_id: int) -> dict[str, Any]:
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        found = await s.get(Follow, (user_id, host_id))
        if found is not None:
            await s.delete(found)
            await s.commit()
    return await follow_json(ctx, actor, host_id)


async def list_following(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        hosts = (
            await s.scalars(
                select(User)
                .join(Follow, Follow.host_id == User.id)
                .where(Follow.user_id == user_id)
                .order_by(User.display_name, User.id)
            )
        ).all()
    return [{"id": h.id, "display_name": h.display_name} for h in hosts]


async def reminder_json(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        mine = (
            actor.user_id is not None
            and await s.get(ShowReminder, (show_id, actor.user_id)) is not None
        )
        return {"show_id": show.id, "status": show.status, "reminder": mine}


async def do_remind(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    """Ask to be told when a scheduled show goes live."""
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        show = await access_show(s, show_id)
        if show.status == ENDED:
            raise Conflict("the show has ended; watch its replay", code="show_ended")
        if show.status == LIVE:
            raise Conflict("the show is on air now; watch it", code="show_live")
        if await s.get(ShowReminder, (show_id, user_id)) is None:
            s.add(ShowReminder(show_id=show_id, user_id=user_id, created_at=utcnow()))
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
    return await reminder_json(ctx, actor, show_id)


async def do_cancel_reminder(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        await access_show(s, show_id)
        found = await s.get(ShowReminder, (show_id, user_id))
        if found is not None:
            await s.delete(found)
            await s.commit()
    return await reminder_json(ctx, actor, show_id)


# -- notifications ------------------------------------------------------------------------


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "show_id": n.show_id,
        "title": n.title,
        "body": n.body,
        "url": n.url,
        "created_at": n.created_at.isoformat(),
        "read_at": n.read_at.isoformat() if n.read_at else None,
    }


async def list_notifications(
    ctx: Context, actor: Actor, *, unread_only: bool = False, limit: int = 30
) -> dict[str, Any]:
    """The signed-in user's notifications, newest first, and how many are unread."""
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        query = select(Notification).where(Notification.user_id == user_id)
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        rows = (
            await s.scalars(query.order_by(Notification.id.desc()).limit(min(limit, MAX_LISTED)))
        ).all()
        unread = await _unread(s, user_id)
    return {"unread": unread, "items": [notification_json(n) for n in rows]}


async def _unread(s: Any, user_id: int) -> int:
    count = await s.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(count or 0)


async def do_mark_read(
    ctx: Context, actor: Actor, notification_id: int | None = None
) -> dict[str, Any]:
    """Mark one notification read (or, with no id, all of them)."""
    user_id = check_signed_in(actor)
    async with ctx.db.session() as s:
        query = update(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
        if notification_id is not None:
            found = await s.get(Notification, notification_id)
            if found is None or found.user_id != user_id:
                raise NotFound(f"no notification {notification_id}", code="notification_not_found")
            query = query.where(Notification.id == notification_id)
        await s.execute(query.values(read_at=utcnow()))
        await s.commit()
        unread = await _unread(s, user_id)
    return {"unread": unread}


async def notify_show_live(ctx: Context, show_id: int) -> int:
    """Tell the host's followers and those who asked for a reminder that the show is live:
    one notification each, whose emails `send_emails` sends. Returns how many were told.
    The show is live whatever happens here, so a failure is logged, not raised to whoever
    went live."""
    try:
        return await _notify_show_live(ctx, show_id)
    except Exception:
        log.exception("could not tell the followers of show %d that it is live", show_id)
        return 0


async def _notify_show_live(ctx: Context, show_id: int) -> int:
    async with ctx.db.session() as s:
        show = await s.get(Show, show_id)
        if show is None or show.status != LIVE:
            return 0
        host = await s.get(User, show.host_id)
        assert host is not None
        wanted = union(
            select(Follow.user_id.label("user_id")).where(Follow.host_id == show.host_id),
            select(ShowReminder.user_id.label("user_id")).where(ShowReminder.show_id == show_id),
        ).subquery()
        told = select(Notification.user_id).where(
            Notification.kind == SHOW_LIVE, Notification.show_id == show_id
        )
        people = (
            await s.scalars(
                select(User.id)
                .where(
                    User.id.in_(select(wanted.c.user_id)),
                    User.id != show.host_id,
                    User.id.not_in(told),
                )
                .order_by(User.id)
            )
        ).all()
        title = f"{host.display_name} is live: {show.title}"[:300]
        now = utcnow()
        s.add_all(
            Notification(
                user_id=user_id,
                kind=SHOW_LIVE,
                show_id=show_id,
                title=title,
                body="Tap to watch now.",
                url=f"/shows/{show_id}",
                created_at=now,
            )
            for user_id in people
        )
        try:
            await s.commit()
        except IntegrityError:  # told already, by another call that got there first
            await s.rollback()
            return 0
    return len(people)


async def send_emails(ctx: Context) -> int:
    """Send the emails of the notifications not emailed yet, oldest first, a batch per
    transaction until none is left; how many were sent. A batch's rows stay locked while it
    goes out (`SKIP LOCKED`: the processes share the work, none sends what another is
    sending) and are marked sent with it, so a process that dies mid-batch leaves the batch
    to be sent again: an email twice rather than none. One that fails is logged and not
    tried again, so a bad address does not hold up the rest."""
    sent = 0
    while True:
        batch = await _send_batch(ctx)
        sent += batch
        if batch < MAIL_BATCH:
            return sent


async def _send_batch(ctx: Context) -> int:
    host = aliased(User)
    async with ctx.db.session() as s:
        rows = (
            await s.execute(
                select(
                    Notification.id,
                    User.email,
                    Notification.title,
                    Notification.url,
                    host.display_name,
                    Show.title,
                )
                .join(User, User.id == Notification.user_id)
                .join(Show, Show.id == Notification.show_id)
                .join(host, host.id == Show.host_id)
                .where(Notification.mailed_at.is_(None))
                .order_by(Notification.id)
                .limit(MAIL_BATCH)
                .with_for_update(of=Notification, skip_locked=True)
            )
        ).all()
        if not rows:
            return 0
        sender = mailer(ctx)
        for notification_id, to, subject, url, host_name, show_title in rows:
            text = (
                f"{host_name} has just gone live with “{show_title}”.\n\n"
                f"Watch now: {_site(ctx)}{url}\n\n"
                "You get this email because you follow this host or asked to be reminded "
                "about this show."
            )
            try:
                await sender.send(to, subject, text)
            except Exception:
                log.exception("could not send the email of notification %d", notification_id)
        await s.execute(
            update(Notification)
            .where(Notification.id.in_([row[0] for row in rows]))
            .values(mailed_at=utcnow())
        )
        await s.commit()
    return len(rows)
