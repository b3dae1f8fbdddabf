"""Chat that keeps flowing while the database is out of reach: what a worker keeps for it.

A worker remembers, for each show its viewers are in, what checking a chat message needs
(the show's status, its staff, slow mode, banned words, the shelf numbers, each viewer's
name and sanction). Every snapshot and every message written refreshes it from the
database, and the room's own events keep it current in between (a mute, a ban, slow mode,
the show ending, a new shelf).

When a send cannot reach the database, services/chat.py checks the message against that
memory, publishes it live and leaves it here, in a bounded outbox that is written, with the
id the message went out with, as soon as the database answers again. Those ids come from a
block this worker takes ahead from the table's id sequence (PostgreSQL only), renewed now
and then so that a message written late still sorts among its neighbours. Without a block
(SQLite, or a block used up) or with a full outbox, a send is refused, and nothing is sent.

A worker killed while its outbox holds messages loses them from the history; they did go
out live.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hawker.domain.roles import ShowFacts
from hawker.live import events

# Messages a worker takes while the database is away; also the size of its block of ids.
CAPACITY = 1000
# A block older than this is renewed (while the database answers), so that the ids of
# messages sent during an outage are close to those of the messages around them.
IDS_MAX_AGE_S = 60.0
# A show whose room this worker no longer serves is forgotten after this long.
FORGET_AFTER_S = 60.0


@dataclass(slots=True)
class Viewer:
    name: str | None  # None: only a sanction is known, from an event
    muted_until: float | None = None  # epoch seconds
    banned: bool = False


@dataclass(slots=True)
class ShowMemory:
    show_id: int
    status: str
    facts: ShowFacts
    slow_mode_seconds: int
    banned_words: list[str]
    numbers: dict[int, int]  # shelf number -> listing id
    viewers: dict[int, Viewer] = field(default_factory=dict)
    used: float = field(default_factory=time.monotonic)

    def hear(self, event: events.Event) -> None:
        """A bus handler: the room's events that change what a message is checked against."""
        data = event.data
        if event.type == events.USER_SANCTIONED:
            muted = data.get("muted_until")
            until = datetime.fromisoformat(muted).timestamp() if muted else None
            viewer = self.viewers.setdefault(int(data["user_id"]), Viewer(None))
            viewer.banned, viewer.muted_until = bool(data.get("banned")), until
        elif event.type == events.CHAT_SETTINGS:
            self.slow_mode_seconds = int(data.get("slow_mode_seconds") or 0)
        elif event.type == events.SHOW_STATE:
            self.status = str(data.get("status", self.status))
        elif event.type == events.SHELF_UPDATED:
            self.numbers = {int(i["number"]): int(i["id"]) for i in data.get("shelf", [])}


@dataclass(slots=True)
class ChatOutbox:
    shows: dict[int, ShowMemory] = field(default_factory=dict)
    # Ids held back from the chat_messages sequence, and when they were taken.
    ids: deque[int] = field(default_factory=deque)
    ids_taken_at: float = 0.0
    # Rows of chat_messages to insert, oldest first.
    pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.pending) >= CAPACITY

    def ids_due(self) -> bool:
        """Whether the block of ids should be taken again (on PostgreSQL)."""
        if len(self.ids) < CAPACITY // 2:
            return True
        return bool(self.shows) and time.monotonic() - self.ids_taken_at > IDS_MAX_AGE_S

    def take_ids(self, ids: list[int]) -> None:
        self.ids = deque(ids)
        self.ids_taken_at = time.monotonic()
