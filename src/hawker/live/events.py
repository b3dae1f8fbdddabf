"""Room events: typed and versioned, `{"v": 1, "type", "seq", "at", "data"}`.

`seq` counts the **state** events of a show (pin, shelf, show state, viewer count,
moderation, deals, stock, battles). Ephemeral events (chat, like bursts, the sales ticker) may
be sampled or dropped for a slow viewer, so they do not advance `seq`; they carry the seq of
the last state event, which still lets a client see that it missed state and ask for a snapshot.
Targeted events go to some viewers only (a buyer's own order, the live figures for staff),
so they do not advance `seq` either, but they are never dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

VERSION = 1

# State: never dropped for a viewer who keeps up; a gap means resync.
SHOW_STATE = "show.state"
SHELF_UPDATED = "shelf.updated"
SHELF_PINNED = "shelf.pinned"
SHELF_UNPINNED = "shelf.unpinned"
VIEWERS_COUNT = "viewers.count"
CHAT_HIDDEN = "chat.hidden"
CHAT_SETTINGS = "chat.settings"
REQUESTS_COUNTED = "requests.counted"
USER_SANCTIONED = "user.sanctioned"
DEAL_UPDATED = "deal.updated"
STOCK_LEFT = "stock.left"
COUPON_DROPPED = "coupon.dropped"
# A head-to-head battle started or ended (its result), and its score moved (once per tick).
BATTLE_UPDATED = "battle.updated"
BATTLE_SCORE = "battle.score"
# Ephemeral: a slow viewer loses these first.
CHAT_MESSAGE = "chat.message"
LIKES_BURST = "likes.burst"
SALES_TICKER = "sales.ticker"
# Targeted: only the buyer named in data["buyer_id"] / only host and moderators.
ORDER_UPDATED = "order.updated"
FIGURES_UPDATED = "figures.updated"
RUN_UPDATED = "run.updated"  # the run of show (services/schedules.py)
# Only ever sent to one connection, never published.
ROOM_SNAPSHOT = "room.snapshot"
# Never published: a worker whose bus connection came back tells its own viewers that events
# may have passed them by meanwhile, and they ask for a snapshot (seq 0: an older client
# takes it for a stale state event and ignores it).
ROOM_RESYNC = "room.resync"
ERROR = "error"
ACK = "ack"
PONG = "pong"

EPHEMERAL: frozenset[str] = frozenset({CHAT_MESSAGE, LIKES_BURST, SALES_TICKER})
STATE: frozenset[str] = frozenset(
    {
        SHOW_STATE,
        SHELF_UPDATED,
        SHELF_PINNED,
        SHELF_UNPINNED,
        VIEWERS_COUNT,
        CHAT_HIDDEN,
        CHAT_SETTINGS,
        REQUESTS_COUNTED,
        USER_SANCTIONED,
        DEAL_UPDATED,
        STOCK_LEFT,
        COUPON_DROPPED,
        BATTLE_UPDATED,
        BATTLE_SCORE,
    }
)
PRIVATE: frozenset[str] = frozenset({ORDER_UPDATED})
STAFF: frozenset[str] = frozenset({FIGURES_UPDATED, RUN_UPDATED})
TARGETED: frozenset[str] = PRIVATE | STAFF


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Event:
    type: str
    seq: int
    at: int
    data: dict[str, Any]
    show_id: int = 0
    _text: str | None = field(default=None, repr=False)

    @property
    def ephemeral(self) -> bool:
        return self.type in EPHEMERAL

    def for_connection(self, user_id: int | None, staff: bool) -> bool:
        if self.type in PRIVATE:
            return user_id is not None and self.data.get("buyer_id") == user_id
        if self.type in STAFF:
            return staff
        return True

    @property
    def text(self) -> str:
        """The wire form, encoded once however many viewers receive it."""
        if self._text is None:
            self._text = encode(self.type, self.data, seq=self.seq, at=self.at)
        return self._text

    def to_wire(self) -> dict[str, Any]:
        return {"v": VERSION, "type": self.type, "seq": self.seq, "at": self.at, "data": self.data}

    @classmethod
    def from_wire(cls, show_id: int, raw: bytes | str) -> Event:
        payload = orjson.loads(raw)
        text = raw.decode() if isinstance(raw, bytes) else raw
        return cls(payload["type"], payload["seq"], payload["at"], payload["data"], show_id, text)


def encode(
    type_: str, data: dict[str, Any], *, seq: int | None = None, at: int | None = None
) -> str:
    return orjson.dumps(
        {
            "v": VERSION,
            "type": type_,
            "seq": seq,
            "at": now_ms() if at is None else at,
            "data": data,
        }
    ).decode()


def error_frame(code: str, message: str, *, ref: Any = None, **extra: Any) -> str:
    data: dict[str, Any] = {"code": code, "message": message}
    if ref is not None:
        data["ref"] = ref
    data.update(extra)
    return encode(ERROR, data)
