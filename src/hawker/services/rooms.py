"""The room snapshot: everything a viewer needs to draw the show, with the seq it is at.

A crowd joins a room at once (a star host goes live, a worker restarts and its viewers
reconnect), so what every viewer sees alike (the show, shelf, deals, coupons) is read once
per room and shared by the viewers who join at the same seq within `SHARED_FOR_S`; the recent
chat is kept in memory from the messages this process hears (read from the database once);
only what is the viewer's own (name, mute, roles, staff figures) is read per viewer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from hawker.domain.roles import Actor, ShowFacts, is_staff, roles_in_show
from hawker.live.events import CHAT_HIDDEN, CHAT_MESSAGE, ROOM_RESYNC, Event, now_ms
from hawker.services import presence
from hawker.services.chat import recent_messages, remember_show, sanction_of
from hawker.services.coalesce import shared
from hawker.services.context import Context
from hawker.services.shelf import shelf_json
from hawker.services.shows import show_json, show_with_facts
from hawker.store.tables import Show, User

# How long viewers joining at the same seq share one reading of the room. State changes
# advance the seq, so they are never missed; the likes count and "N left" may be this much
# older in a snapshot, and their next update follows live.
SHARED_FOR_S = 1.0


async def access_room(ctx: Context, actor: Actor, show_id: int) -> tuple[ShowFacts, bool]:
    """The show's facts and whether `actor` is banned from it (banned viewers may not watch).
    For an anonymous viewer (never staff, never banned) the facts of a reading of the room
    made in the last `SHARED_FOR_S` serve, as they serve that reading's snapshots: a crowd
    joining at once costs no query per anonymous viewer."""
    if actor.user_id is None and (facts := _recent_facts(ctx, show_id)) is not None:
        return facts, False
    async with ctx.db.session() as s:
        _, facts = await show_with_facts(s, show_id)
        sanction = await sanction_of(s, show_id, actor.user_id)
    return facts, bool(sanction and sanction.banned)


def _recent_facts(ctx: Context, show_id: int) -> ShowFacts | None:
    """The facts of the last reading of the room, if it was made in the last `SHARED_FOR_S`
    (the next one may be under way)."""
    last: dict[int, _Room] = shared(ctx.db, "room last read", dict)
    room = last.get(show_id)
    return room.facts if room and time.monotonic() - room.read_at < SHARED_FOR_S else None


@dataclass(frozen=True, slots=True)
class _Room:
    """What every viewer of a room sees alike, as read at `seq`."""

    seq: int
    viewers: int | None  # the global count read with the seq
    read_at: float
    show: Show
    facts: ShowFacts
    numbers: dict[int, int]
    data: dict[str, Any]


class _ChatLog:
    """A room's recent chat, as this process hears it go out (and hidden), on top of what the
    database held when it started listening."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.messages: dict[int, dict[str, Any]] = {}
        self.hidden: set[int] = set()
        self.seeded = False

    def hear(self, event: Event) -> None:
        if event.type == CHAT_MESSAGE:
            self.messages[event.data["id"]] = event.data
            self._trim()
        elif event.type == CHAT_HIDDEN:
            self.messages.pop(event.data["id"], None)
            if not self.seeded:  # the reading under way may still hold it
                self.hidden.add(event.data["id"])
        elif event.type == ROOM_RESYNC:
            # The bus lost its connection: what was said or hidden meanwhile is not here.
            self.messages.clear()
            self.seeded = False

    def seed(self, recent: list[dict[str, Any]]) -> None:
        """What the database holds, merged with what was heard while it was read."""
        for message in recent:
            if message["id"] not in self.hidden:
                self.messages.setdefault(message["id"], message)
        self.messages = dict(sorted(self.messages.items(), key=lambda m: (m[1]["at"], m[0])))
        self._trim()
        self.hidden.clear()
        self.seeded = True

    def _trim(self) -> None:
        while len(self.messages) > self.size:
            del self.messages[next(iter(self.messages))]

    def recent(self) -> list[dict[str, Any]]:
        return list(self.messages.values())


async def _read_room(
    ctx: Context, show_id: int, seq: int, viewers: int | None, chat: _ChatLog
) -> _Room:
    async with ctx.db.session() as s:
        show, facts = await show_with_facts(s, show_id)
        host = await s.get(User, show.host_id)
        assert host is not None
        shelf = await shelf_json(s, show_id)
        if not chat.seeded:
            chat.seed(await recent_messages(s, show_id, ctx.settings.recent_chat, facts))
    from hawker.services import battles, coupons, deals

    data = {
        "show": show_json(ctx, show, host),
        "shelf": shelf,
        "pinned": next((item for item in shelf if item["id"] == show.pinned_listing_id), None),
        "likes": show.likes,
        "slow_mode_seconds": show.slow_mode_seconds,
        "deals": await deals.list_deals(ctx, show_id),
        "coupons": await coupons.dropped_coupons(ctx, show_id),
        "battle": await battles.current(ctx, show_id),
    }
    numbers = {item["number"]: item["id"] for item in shelf}
    room = _Room(seq, viewers, time.monotonic(), show, facts, numbers, data)
    last: dict[int, _Room] = shared(ctx.db, "room last read", dict)
    last[show_id] = room
    return room


async def _room(
    ctx: Context, show_id: int, seq: int, viewers: int | None
) -> tuple[_Room, _ChatLog]:
    """The room as read at `seq` or later (with the viewer count read with that seq): a
    reading shared with the viewers joining meanwhile (one reading at a time per room; the
    others wait for it); and its chat.

    A reading at a later seq serves a viewer too: its seq was read after this viewer's
    (the counter only grows), so after this viewer joined the room and began to hear its
    events, and the snapshot then carries the later seq. Waiting viewers look again once
    the reading they waited for is done, so a crowd that waited for a reading made just
    before the seq moved starts one new reading, not one each."""
    readings: dict[int, asyncio.Future[_Room]] = shared(ctx.db, "room readings", dict)
    chats: dict[int, _ChatLog] = shared(ctx.db, "room chat", dict)
    chat = chats.get(show_id)
    if chat is None:
        # Listening starts before the first reading, so no message falls between the two.
        chat = chats[show_id] = _ChatLog(ctx.settings.recent_chat)
        await ctx.bus.subscribe(show_id, chat.hear)
    while True:
        found = readings.get(show_id)
        if found is None or (found.done() and not _serves(found, seq, chat)):
            found = readings[show_id] = asyncio.ensure_future(
                _read_room(ctx, show_id, seq, viewers, chat)
            )
            mine = True
        else:
            mine = False
        try:
            room = await asyncio.shield(found)
        except BaseException:
            if found.done() and readings.get(show_id) is found:
                del readings[show_id]
            if mine or not found.done():  # our own reading failed, or this join was cancelled
                raise
            continue  # someone else's reading failed: try one of our own
        if room.seq >= seq and chat.seeded:
            return room, chat


def _serves(reading: asyncio.Future[_Room], seq: int, chat: _ChatLog) -> bool:
    """Whether a finished reading can serve a viewer who joined at `seq`."""
    if reading.cancelled() or reading.exception() is not None or not chat.seeded:
        return False
    room = reading.result()
    return room.seq >= seq and time.monotonic() - room.read_at < SHARED_FOR_S


async def build_snapshot(ctx: Context, actor: Actor, show_id: int) -> dict[str, Any]:
    # Read seq before the state: events after it are applied on top, and state events
    # carry whole values, so one that is already in the snapshot is harmless. The viewer
    # count comes with the seq: the one this process last heard may be older than the seq,
    # and the event that changed it would then be skipped as already in the snapshot.
    seq, viewers = await ctx.bus.snapshot_position(show_id)
    room, chat = await _room(ctx, show_id, seq, viewers)
    async with ctx.db.session() as s:
        sanction = await sanction_of(s, show_id, actor.user_id)
        me = await s.get(User, actor.user_id) if actor.user_id else None
    # What this viewer's chat is checked against should the database go away.
    await remember_show(ctx, room.show, room.facts, room.numbers, me, sanction)
    staff = is_staff(actor, room.facts)
    from hawker.services import checkout

    figures = await checkout.figures(ctx, show_id) if staff else None
    muted = sanction.muted_until if sanction else None
    return {
        "seq": room.seq,
        "server_time": now_ms(),
        **room.data,
        "chat": chat.recent(),
        "viewers": presence.viewers(ctx, show_id)
        if room.viewers is None
        else max(room.viewers, ctx.hub.count(show_id)),
        "figures": figures,
        "you": {
            "user_id": actor.user_id,
            "display_name": me.display_name if me else None,
            "roles": sorted(r.value for r in roles_in_show(actor, room.facts)),
            "staff": staff,
            "muted_until": muted.isoformat() if muted else None,
        },
    }
