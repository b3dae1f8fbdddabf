"""Chat and moderation: messages, requests by number, likes, hide, mute, ban, slow mode,
banned words.

A message is written, committed and then published, like every change; while the database
is out of reach it is checked against what this worker remembers of the show, published,
and written behind (services/outbox.py), so that chat keeps flowing. While the bus is
reconnecting a message is refused (`service_unavailable`) before anything is written.

Chat is written by group commit. A busy room sends dozens of messages a second, and a
transaction each (some seven round trips) would keep the worker's event loop and its
connection pool busy with chat while a host's pin waits. So each worker has one writer per
show: the messages that arrive while it writes wait and go together in its next
transaction, which reads the show, its staff, the senders and their sanctions once for all
of them. A message that reaches an idle writer is written at once; nothing lingers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain import chat as rules
from hawker.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unavailable,
)
from hawker.domain.requests import parse_request
from hawker.domain.roles import Action, Actor, ShowFacts, check_in_show, is_staff
from hawker.live import events
from hawker.services.accounts import utcnow
from hawker.services.coalesce import one_of, shared
from hawker.services.context import Context
from hawker.services.outbox import CAPACITY, FORGET_AFTER_S, ShowMemory, Viewer
from hawker.services.shows import ENDED, LIVE, access_show_for, show_with_facts
from hawker.store.db import is_sqlite, unreachable
from hawker.store.tables import AgencyMember, ChatMessage, Listing, Show, ShowSanction, User

log = logging.getLogger(__name__)

MAX_LIKES_PER_FRAME = 100
# Messages of one show written in one transaction at most.
MAX_BATCH = 256


async def sanction_of(s: AsyncSession, show_id: int, user_id: int | None) -> ShowSanction | None:
    if user_id is None:
        return None
    return await s.get(ShowSanction, (show_id, user_id))


def message_json(
    message: ChatMessage, user: User, *, number: int | None, staff: bool
) -> dict[str, Any]:
    return {
        "id": message.id,
        "user": {"id": user.id, "display_name": user.display_name},
        "body": message.body,
        "request": None
        if message.request_listing_id is None
        else {"listing_id": message.request_listing_id, "number": number},
        "staff": staff,
        "at": message.created_at.isoformat(),
    }


async def remember_show(
    ctx: Context,
    show: Show,
    facts: ShowFacts,
    numbers: dict[int, int],
    user: User | None = None,
    sanction: ShowSanction | None = None,
) -> ShowMemory:
    """Keep what checking a message in `show` needs, as just read from the database, for
    sends while the database is away (services/outbox.py)."""
    shows = ctx.chat_outbox.shows
    memory = shows.get(show.id)
    if memory is None:
        memory = shows[show.id] = ShowMemory(
            show.id, show.status, facts, show.slow_mode_seconds, [], numbers
        )
        await ctx.bus.subscribe(show.id, memory.hear)
    memory.status, memory.facts, memory.numbers = show.status, facts, numbers
    memory.slow_mode_seconds = show.slow_mode_seconds
    memory.banned_words = list(show.banned_words or [])
    memory.used = time.monotonic()
    if user is not None:
        muted = sanction.muted_until if sanction else None
        memory.viewers[user.id] = Viewer(
            user.display_name,
            muted.timestamp() if muted else None,
            bool(sanction and sanction.banned),
        )
    return memory


# A message that passed the rules: its cleaned text, whether its sender is staff, and the
# shelf number and listing it asks for.
_Checked = tuple[str, bool, int | None, int | None]


@dataclass
class _Send:
    """How far a send got, for when the database goes away in the middle of it."""

    checked: _Checked | None = None
    message_id: int | None = None  # once flushed the row's id is final, committed or not
    created_at: datetime | None = None


def _check(
    ctx: Context, actor: Actor, memory: ShowMemory, body: str, *, pace: bool = True
) -> _Checked:
    """The chat rules, against what is known of the show. `pace`: the sender's pace too (a
    message checked again, to be written alone, has been counted once)."""
    check_in_show(actor, Action.CHAT_SEND, memory.facts)
    assert actor.user_id is not None
    if memory.status == ENDED:
        raise Conflict("the show has ended; chat is closed", code="show_ended")
    viewer = memory.viewers.get(actor.user_id, Viewer(None))
    rules.check_may_chat(muted_until=viewer.muted_until, banned=viewer.banned, now=time.time())
    text = rules.clean_message(body, ctx.settings.chat_max_length)
    staff = is_staff(actor, memory.facts)
    if not staff and rules.find_banned_word(text, memory.banned_words):
        raise InvalidInput(
            "your message holds a word this show does not allow", code="message_blocked"
        )
    if pace:
        ctx.chat_gate(memory.show_id).check(
            actor.user_id, ctx.clock(), slow_mode=memory.slow_mode_seconds, exempt=staff
        )
    number = parse_request(text, len(memory.numbers)) if not staff else None
    return text, staff, number, memory.numbers.get(number) if number else None


# What a sender gets back: the message as published, and the listing and shelf number it
# asks for (None when it was sent behind: the outbox counts those requests once written).
_Sent = tuple[dict[str, Any], int | None, int | None]


@dataclass(eq=False, slots=True)
class _Message:
    """A message waiting for its show's writer."""

    actor: Actor
    body: str
    sent: asyncio.Future[_Sent]
    send: _Send = field(default_factory=_Send)
    refused: bool = False  # by the rules: its sender has the error, it is not sent behind


@dataclass(eq=False, slots=True)
class _Writer:
    waiting: list[_Message] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


def _writers(ctx: Context) -> dict[int, _Writer]:
    """The running writers of this worker by show; a show's is gone once it has nothing to
    write."""
    return shared(ctx.db, "chat writers", dict)


async def do_send_message(ctx: Context, actor: Actor, show_id: int, body: str) -> dict[str, Any]:
    if not ctx.bus.ready:
        raise Unavailable("live chat is reconnecting; send it again in a moment")
    message = _Message(actor, body, asyncio.get_running_loop().create_future())
    writers = _writers(ctx)
    writer = writers.get(show_id)
    if writer is None:
        writer = writers[show_id] = _Writer()
        writer.task = asyncio.create_task(_write_batches(ctx, show_id, writer))
    writer.waiting.append(message)
    # A sender who gives up (a socket closing) does not take its message back: the writer
    # holds it and writes it with the others.
    data, listing_id, number = await message.sent
    if listing_id:
        try:
            await notify_request_count(ctx, show_id, listing_id, number)
        except Exception as exc:
            if not unreachable(exc):
                raise
            # The message is out; the count follows with the next request for it.
            log.warning("request count for listing %s not sent: %s", listing_id, exc)
    return data


async def wait_for_writers(ctx: Context) -> None:
    """Until the messages accepted so far are written or sent behind (ten seconds at most,
    should the database hang): for a stopping worker, before it writes its outbox."""
    tasks = {w.task for w in _writers(ctx).values() if w.task is not None}
    if tasks:
        await asyncio.wait(tasks, timeout=10.0)


async def _write_batches(ctx: Context, show_id: int, writer: _Writer) -> None:
    """One show's writer: a batch at a time, each of the messages that came while the one
    before was written, until no one is waiting."""
    try:
        while writer.waiting:
            batch = writer.waiting[:MAX_BATCH]
            del writer.waiting[:MAX_BATCH]
            await _write_batch(ctx, show_id, batch)
    finally:
        # Nothing awaited since the loop found no one waiting: no message is left behind.
        del _writers(ctx)[show_id]
        for message in writer.waiting:  # only when the worker is stopping
            _answer(message, Unavailable("the server is restarting; send it again"))


def _answer(message: _Message, result: _Sent | BaseException) -> None:
    if message.sent.done():  # its sender gave up
        return
    if isinstance(result, BaseException):
        message.sent.set_exception(result)
    else:
        message.sent.set_result(result)


def _refuse(message: _Message, exc: DomainError) -> None:
    message.refused = True
    _answer(message, exc)


async def _write_batch(ctx: Context, show_id: int, batch: list[_Message]) -> None:
    """Write, commit and publish `batch`, answering each sender; never raises but when
    cancelled, so that the writer goes on with the next batch."""
    try:
        try:
            written = await _write_messages(ctx, show_id, batch)
        except Exception as exc:
            if not unreachable(exc):
                if len(batch) == 1:
                    raise
                # One message's fault (its listing taken off the shelf as the batch was
                # written) is its own: each goes again alone, checked afresh.
                for message in batch:
                    if not message.refused:
                        await _write_batch(ctx, show_id, [message])
                return
            for message in batch:
                if not message.refused:
                    _answer(message, await _behind(ctx, show_id, message))
            return
        # In id order, the order every viewer and every later snapshot shows them in.
        for message, data, listing_id, number in sorted(written, key=lambda w: w[1]["id"]):
            try:
                await ctx.bus.publish(show_id, events.CHAT_MESSAGE, data)
            except Exception as exc:
                _answer(message, exc)
            else:
                _answer(message, (data, listing_id, number))
    except Exception as exc:
        for message in batch:
            _answer(message, exc)
    except BaseException:
        for message in batch:
            _answer(message, Unavailable("the server is restarting; send it again"))
        raise


async def _behind(ctx: Context, show_id: int, message: _Message) -> _Sent | Exception:
    try:
        data = await _send_behind(ctx, message.actor, show_id, message.body, message.send)
    except Exception as exc:
        return exc
    return data, None, None


async def _write_messages(
    ctx: Context, show_id: int, batch: list[_Message]
) -> list[tuple[_Message, dict[str, Any], int | None, int | None]]:
    """The transaction of one batch: what was read is shared by its messages, each is
    checked on its own in the order they came, and the accepted ones are written together;
    those, with their data, request listing and number, once committed."""
    async with ctx.db.session() as s:
        show, facts = await show_with_facts(s, show_id)
        # Who may chat here at all (`_check` asks again): the senders whose records to read.
        senders: dict[int, None] = {}
        for message in batch:
            try:
                check_in_show(message.actor, Action.CHAT_SEND, facts)
            except DomainError as exc:
                _refuse(message, exc)
                continue
            assert message.actor.user_id is not None
            senders[message.actor.user_id] = None
        if not senders:
            return []
        ids = list(senders)
        sanctions = {
            sanction.user_id: sanction
            for sanction in await s.scalars(
                select(ShowSanction).where(
                    ShowSanction.show_id == show_id,
                    one_of(ctx.db, ShowSanction.user_id.expression, ids),
                )
            )
        }
        users = {
            user.id: user
            for user in await s.scalars(select(User).where(one_of(ctx.db, User.id.expression, ids)))
        }
        listings = (
            await s.execute(select(Listing.position, Listing.id).where(Listing.show_id == show_id))
        ).all()
        numbers = dict(listings)
        for user_id in ids:
            user = users.get(user_id)
            assert user is not None
            memory = await remember_show(ctx, show, facts, numbers, user, sanctions.get(user_id))
        # One time for the batch: a snapshot, which sorts by time then id, shows its
        # messages in the order they went out live.
        now = utcnow()
        accepted: list[tuple[_Message, ChatMessage, bool, int | None]] = []
        for message in batch:
            if message.refused:
                continue
            try:
                text, staff, number, listing_id = message.send.checked = _check(
                    ctx, message.actor, memory, message.body, pace=message.send.checked is None
                )
            except DomainError as exc:
                _refuse(message, exc)
                continue
            row = ChatMessage(
                show_id=show_id,
                user_id=message.actor.user_id,
                body=text,
                request_listing_id=listing_id,
                hidden=False,
                created_at=now,
            )
            message.send.created_at = now
            accepted.append((message, row, staff, number))
        if not accepted:
            return []
        s.add_all([row for _, row, _, _ in accepted])
        await s.flush()
        for message, row, _, _ in accepted:
            message.send.message_id = row.id
        await s.commit()
    return [
        (
            message,
            message_json(row, users[row.user_id], number=number, staff=staff),
            row.request_listing_id,
            number,
        )
        for message, row, staff, number in accepted
    ]


async def _send_behind(
    ctx: Context, actor: Actor, show_id: int, body: str, send: _Send
) -> dict[str, Any]:
    """The database went away: check against what is remembered, publish, write later."""
    box = ctx.chat_outbox
    memory = box.shows.get(show_id)
    assert actor.user_id is not None
    viewer = memory.viewers.get(actor.user_id) if memory else None
    if (
        memory is None
        or viewer is None
        or viewer.name is None
        or box.full
        or (send.message_id is None and not box.ids)  # no id to give it (SQLite: never)
        or is_sqlite(ctx.db.url)
    ):
        raise Unavailable("chat is paused: the database cannot be reached just now")
    text, staff, number, listing_id = send.checked or _check(ctx, actor, memory, body)
    message_id = send.message_id if send.message_id is not None else box.ids.popleft()
    created_at = send.created_at or utcnow()
    data = {
        "id": message_id,
        "user": {"id": actor.user_id, "display_name": viewer.name},
        "body": text,
        "request": None if listing_id is None else {"listing_id": listing_id, "number": number},
        "staff": staff,
        "at": created_at.isoformat(),
    }
    await ctx.bus.publish(show_id, events.CHAT_MESSAGE, data)
    # Written with the id it went out with: a row whose commit did get through before the
    # connection broke is not written twice.
    box.pending.append(
        {
            "id": message_id,
            "show_id": show_id,
            "user_id": actor.user_id,
            "body": text,
            "request_listing_id": listing_id,
            "hidden": False,
            "created_at": created_at,
        }
    )
    return data


async def flush_outbox(ctx: Context) -> None:
    """Periodic: write the messages sent while the database was away, take a fresh block
    of ids when it is due, and forget shows this worker no longer serves."""
    box = ctx.chat_outbox
    now = time.monotonic()
    for show_id, memory in list(box.shows.items()):
        if show_id not in ctx.hub.rooms and now - memory.used > FORGET_AFTER_S:
            del box.shows[show_id]
            await ctx.bus.unsubscribe(show_id, memory.hear)
    await write_outbox(ctx)
    if box.ids_due() and not is_sqlite(ctx.db.url):
        async with ctx.db.session() as s:
            ids = await s.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('chat_messages', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": CAPACITY},
            )
            box.take_ids(list(ids))


async def write_outbox(ctx: Context) -> None:
    """Write the messages sent while the database was away; then count the requests by
    number among them again."""
    box = ctx.chat_outbox
    if not box.pending:
        return
    rows = box.pending[:]
    requests = await _write_rows(ctx, rows)
    del box.pending[: len(rows)]
    log.info("wrote %d chat messages sent while the database was away", len(rows))
    for show_id, listing_id in requests:
        await notify_request_count(ctx, show_id, listing_id)


async def _write_rows(ctx: Context, rows: list[dict[str, Any]]) -> set[tuple[int, int]]:
    """Insert `rows`, each once whatever got through before; the requests they hold."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    async with ctx.db.session() as s:
        try:
            await s.execute(pg_insert(ChatMessage).on_conflict_do_nothing(), rows)
            await s.commit()
        except IntegrityError:
            # A listing or a show deleted meanwhile: each row on its own, a request for a
            # listing that is gone kept as a plain message, a message for a show gone dropped.
            await s.rollback()
            for row in rows:
                for attempt in (row, {**row, "request_listing_id": None}):
                    try:
                        await s.execute(pg_insert(ChatMessage).on_conflict_do_nothing(), [attempt])
                        await s.commit()
                        break
                    except IntegrityError:
                        await s.rollback()
                else:
                    log.warning("chat message %s could not be written: its show is gone", row["id"])
    return {(r["show_id"], r["request_listing_id"]) for r in rows if r["request_listing_id"]}


async def notify_request_count(
    ctx: Context, show_id: int, listing_id: int, number: int | None = None
) -> None:
    async with ctx.db.session() as s:
        count = await _request_count(s, show_id, listing_id)
        if number is None:
            number = await s.scalar(select(Listing.position).where(Listing.id == listing_id))
    await ctx.bus.publish(
        show_id,
        events.REQUESTS_COUNTED,
        {"listing_id": listing_id, "number": number, "count": count},
    )


async def _request_count(s: AsyncSession, show_id: int, listing_id: int) -> int:
    return int(
        await s.scalar(
            select(func.count(func.distinct(ChatMessage.user_id))).where(
                ChatMessage.show_id == show_id,
                ChatMessage.request_listing_id == listing_id,
                ChatMessage.hidden.is_(False),
            )
        )
        or 0
    )


async def recent_messages(
    s: AsyncSession, show_id: int, limit: int, facts: ShowFacts
) -> list[dict[str, Any]]:
    rows = (
        await s.execute(
            select(ChatMessage, User, Listing.position)
            .join(User, User.id == ChatMessage.user_id)
            .outerjoin(Listing, Listing.id == ChatMessage.request_listing_id)
            .where(ChatMessage.show_id == show_id, ChatMessage.hidden.is_(False))
            .order_by(ChatMessage.id.desc())
            .limit(limit)
        )
    ).all()
    # The same staff rule as when the message went out live (is_staff), so a badge does not
    # vanish on reload: host, moderators, the host's agency staff and admins.
    staff_ids = {facts.host_id, *facts.moderator_ids}
    if facts.host_agency_ids:
        staff_ids.update(
            (
                await s.scalars(
                    select(AgencyMember.user_id).where(
                        AgencyMember.agency_id.in_(facts.host_agency_ids)
                    )
                )
            ).all()
        )
    # In the order they were sent: a message written late (services/outbox.py) has an id
    # from a block its worker took a little earlier.
    return [
        message_json(m, u, number=pos, staff=u.id in staff_ids or u.is_admin)
        for m, u, pos in sorted(rows, key=lambda row: (row[0].created_at, row[0].id))
    ]


async def do_like(ctx: Context, actor: Actor, show_id: int, count: int) -> None:
    """Taps are added up here and go out as one burst per show per second."""
    if not 1 <= count <= MAX_LIKES_PER_FRAME:
        raise InvalidInput(
            f"a like frame holds 1 to {MAX_LIKES_PER_FRAME} taps", code="invalid_likes"
        )
    try:
        async with ctx.db.session() as s:
            show, facts = await show_with_facts(s, show_id)
            status = show.status
    except Exception as exc:
        # The database away: what this worker remembers of the show will do for a like.
        memory = ctx.chat_outbox.shows.get(show_id)
        if not unreachable(exc) or memory is None:
            raise
        status, facts = memory.status, memory.facts
    check_in_show(actor, Action.LIKE, facts)
    if status != LIVE:
        raise Conflict("likes are for a show on air", code="show_not_live")
    ctx.pending_likes[show_id] += count


async def flush_likes(ctx: Context) -> None:
    # Taken off only once written: taps counted while the database is away go out later.
    for show_id, count in [(k, v) for k, v in ctx.pending_likes.items() if v]:
        async with ctx.db.session() as s:
            await s.execute(update(Show).where(Show.id == show_id).values(likes=Show.likes + count))
            await s.commit()
            total = await s.scalar(select(Show.likes).where(Show.id == show_id))
        ctx.pending_likes[show_id] -= count
        if not ctx.pending_likes[show_id]:
            del ctx.pending_likes[show_id]
        await ctx.bus.publish(show_id, events.LIKES_BURST, {"count": count, "total": total})


# -- moderation ------------------------------------------------------------------------


async def do_hide_message(ctx: Context, actor: Actor, show_id: int, message_id: int) -> None:
    """Gone for everyone; kept in the record with who hid it."""
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        message = await s.get(ChatMessage, message_id)
        if message is None or message.show_id != show_id:
            raise NotFound(f"no message {message_id} in show {show_id}", code="message_not_found")
        if message.hidden:
            return
        message.hidden = True
        message.hidden_by = actor.user_id
        await s.commit()
        listing_id = message.request_listing_id
        count = await _request_count(s, show_id, listing_id) if listing_id else 0
        number = (await s.get(Listing, listing_id)).position if listing_id else None  # type: ignore[union-attr]
    await ctx.bus.publish(show_id, events.CHAT_HIDDEN, {"id": message_id})
    if listing_id:
        await ctx.bus.publish(
            show_id,
            events.REQUESTS_COUNTED,
            {"listing_id": listing_id, "number": number, "count": count},
        )


async def do_sanction(
    ctx: Context,
    actor: Actor,
    show_id: int,
    user_id: int,
    *,
    ban: bool | None = None,
    mute_seconds: int | None = None,
) -> dict[str, Any]:
    """Mute (for a while, 0 lifts it) or ban (True) / unban (False) a viewer in one show."""
    if mute_seconds is not None and not 0 <= mute_seconds <= 30 * 86400:
        raise InvalidInput("a mute lasts 0 seconds to 30 days", code="invalid_mute")
    async with ctx.db.session() as s:
        _, facts = await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        target = await s.get(User, user_id)
        if target is None:
            raise NotFound(f"no user {user_id}", code="user_not_found")
        if user_id == facts.host_id or user_id in facts.moderator_ids:
            raise Forbidden(
                "the host and moderators cannot be muted or banned", code="protected_user"
            )
        assert actor.user_id is not None
        sanction = await sanction_of(s, show_id, user_id)
        if sanction is None:
            sanction = ShowSanction(
                show_id=show_id,
                user_id=user_id,
                banned=False,
                by_user_id=actor.user_id,
                created_at=utcnow(),
            )
            s.add(sanction)
        if ban is not None:
            sanction.banned = ban
        if mute_seconds is not None:
            sanction.muted_until = (
                utcnow() + timedelta(seconds=mute_seconds) if mute_seconds else None
            )
        sanction.by_user_id = actor.user_id
        await s.commit()
        muted = sanction.muted_until
        data = {
            "user_id": user_id,
            "banned": sanction.banned,
            "muted_until": muted.isoformat() if muted and muted > utcnow() else None,
        }
    await ctx.bus.publish(show_id, events.USER_SANCTIONED, data)
    return data


async def do_chat_settings(
    ctx: Context,
    actor: Actor,
    show_id: int,
    *,
    slow_mode_seconds: int | None = None,
    banned_words: Sequence[str] | None = None,
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.CHAT_MODERATE, lock=True)
        if slow_mode_seconds is not None:
            show.slow_mode_seconds = rules.check_slow_mode(slow_mode_seconds)
        if banned_words is not None:
            show.banned_words = rules.normalise_banned_words(banned_words)
        await s.commit()
        settings = {
            "slow_mode_seconds": show.slow_mode_seconds,
            "banned_words": list(show.banned_words),
        }
    # Viewers learn the pace; the word list itself is for staff only (it would teach evasion).
    await ctx.bus.publish(
        show_id, events.CHAT_SETTINGS, {"slow_mode_seconds": settings["slow_mode_seconds"]}
    )
    return settings


async def get_chat_settings(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        show, _ = await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        return {
            "slow_mode_seconds": show.slow_mode_seconds,
            "banned_words": list(show.banned_words),
        }


async def list_sanctions(ctx: Context, actor: Actor, show_id: int) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        await access_show_for(s, actor, show_id, Action.CHAT_MODERATE)
        rows = (
            await s.execute(
                select(ShowSanction, User)
                .join(User, User.id == ShowSanction.user_id)
                .where(ShowSanction.show_id == show_id)
            )
        ).all()
        now = utcnow()
        out = []
        for sanction, user in rows:
            muted = sanction.muted_until
            if sanction.banned or (muted and muted > now):
                out.append(
                    {
                        "user": {"id": user.id, "display_name": user.display_name},
                        "banned": sanction.banned,
                        "muted_until": muted.isoformat() if muted and muted > now else None,
                    }
                )
        return out
