"""Concurrent look-ups that share one query: how the buy path stays cheap in a stampede.

In a flash sale thousands of requests a second ask the database the same kind of question
(whose token is this? what is listing 7 now? does this buyer have an address?). One query
per request would spend the time in round trips and driver overhead, not in the database.
A `Coalescer` gathers the keys asked for while its previous query runs and answers them all
with the next query.

It is not a cache: every answer comes from a query that started after the request was
made, so a change committed before the request (a price edit, a sign-out, a deal that just
started) is always seen, in every process, with no invalidation to get wrong. Requests that
arrive while a query is in flight wait for the next one; with `lanes` > 1 that many queries
may run at once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects import postgresql

from hawker.store.db import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[list[K]], Awaitable[Mapping[K, V]]]


class Coalescer(Generic[K, V]):
    def __init__(self, fetch: Fetch[K, V], *, max_batch: int = 256, lanes: int = 4) -> None:
        self._fetch = fetch
        self.max_batch = max_batch
        self.lanes = lanes
        self._waiting: dict[K, list[asyncio.Future[V | None]]] = {}
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def ask(self, key: K) -> asyncio.Future[V | None]:
        """The value for `key` (None if the fetch had none), from a fetch started now or later,
        as a future: several asks are awaited together (`asyncio.gather`) without a task each."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[V | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(answer)
        if self._running < self.lanes:
            self._running += 1
            task = loop.create_task(self._lane())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return answer

    async def get(self, key: K) -> V | None:
        return await self.ask(key)

    async def _lane(self) -> None:
        try:
            await asyncio.sleep(0)  # let the requests of this loop tick join
            while self._waiting:
                keys = list(self._waiting)[: self.max_batch]
                batch = {key: self._waiting.pop(key) for key in keys}
                try:
                    found = await self._fetch(keys)
                except Exception as exc:
                    for answers in batch.values():
                        for answer in answers:
                            if not answer.done():
                                answer.set_exception(exc)
                    continue
                for key, answers in batch.items():
                    value = found.get(key)
                    for answer in answers:
                        if not answer.done():  # its caller may have given up
                            answer.set_result(value)
        finally:
            self._running -= 1


T = TypeVar("T")


def padded(values: list[T]) -> list[T]:
    """`values` repeated up to the next power of two: an `IN (...)` of a few set lengths,
    so that the driver and the database reuse the parsed statement instead of seeing a new
    one for every batch size."""
    size = 1
    while size < len(values):
        size *= 2
    return values + values[:1] * (size - len(values))


def one_of(db: Database, column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    """`column IN values` for a batch of keys: one array parameter on PostgreSQL, so that the
    statement text is the same for any number of values and the driver and the server parse
    it once; on SQLite an IN list of a few set lengths (`padded`)."""
    if db.sqlite:
        return column.in_(padded(values))
    return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))


_SHARED: weakref.WeakKeyDictionary[object, dict[str, Any]] = weakref.WeakKeyDictionary()


def shared(owner: object, name: str, make: Callable[[], T]) -> T:
    """The coalescers `name` of one owner (a context's database): one set per server, made
    on first use, gone with their owner."""
    mine = _SHARED.get(owner)
    if mine is None:
        mine = _SHARED[owner] = {}
    found = mine.get(name)
    if found is None:
        found = mine[name] = make()
    return found
