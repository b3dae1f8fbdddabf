"""Faults in the middle of a show, seen from the viewers' side over real sockets.

- Redis restarted (two workers on PostgreSQL and a Redis of the test's own): every room
  resyncs within 5 seconds without a reload, and no state event is lost or applied twice.
- A worker killed (kill -9) or stopped (SIGTERM, which drains it): its viewers reconnect to
  the other worker and resync from a snapshot that agrees with everyone else's.
- PostgreSQL unreachable for a while (the server reaches it through a proxy the test cuts):
  chat keeps flowing, a buy is refused with 503 `service_unavailable`, and every message
  that was accepted is written once the database is back.

Each viewer is a `Page`: the same rules as the browser's room.js (web/static/js/room.js),
in a thread of its own so that it reads while the test breaks things.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from hawker.config import Settings
from hawker.services import rooms
from hawker.store.migrate import upgrade
from tests.harness import (
    ENV,
    Person,
    World,
    ctx_of,
    free_port,
    live_server,
    postgres_database,
    spread_ids,
    test_settings,
)
from tests.integration.test_checkout import ADDRESS, key, product_with_stock
from tests.processes import servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

EPHEMERAL = {"chat.message", "likes.burst", "sales.ticker"}
TARGETED = {"order.updated", "figures.updated"}
DIRECT = {"ack", "error", "pong"}
FATAL = {4403, 4404}


def wait_until(what: str, check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until `check()` holds; fails with `what` after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)
    return time.monotonic() - start


class Page(threading.Thread):
    """A viewer's page. Like room.js: a snapshot first, then state events strictly in seq
    order; a gap, a chat event from past the last state or a `room.resync` asks for a
    snapshot and nothing is applied until it comes; a resync the server could not answer is
    asked again; a closed socket is opened again (here: on the next worker in `urls`, as a
    load balancer would send it) and starts with a snapshot."""

    def __init__(self, urls: list[str], show_id: int, who: Person | None = None) -> None:
        super().__init__(daemon=True)
        self.urls = urls
        self.show_id = show_id
        self.headers = {"Authorization": f"Bearer {who.token}"} if who else {}
        self.lock = threading.Lock()
        self.ws: ClientConnection | None = None
        self.worker = 0  # index in urls of the worker the page talks to
        self.last_seq: int | None = None
        self.resyncing = True
        self.resync_ref: int | None = None
        self.ref = 0
        # What the page shows, and how it got there.
        self.pinned: int | None = None
        self.viewers: int | None = None
        self.chat: list[dict[str, Any]] = []  # (id, body) in the order shown
        self.applied: list[int] = []  # the seq of every state event applied, in order
        self.pin_seqs: dict[int, int] = {}  # listing -> the seq of the pin applied
        self.snapshots: list[tuple[float, int, int]] = []  # (when, worker, seq)
        self.replies: dict[int, dict[str, Any]] = {}  # ref -> ack or error
        self.closes: list[int | None] = []
        self._done = threading.Event()

    # -- the test's side -------------------------------------------------------------

    def send(self, frame: dict[str, Any]) -> int:
        with self.lock:
            self.ref += 1
            ref = self.ref
            ws = self.ws
        assert ws is not None, "not connected"
        ws.send(json.dumps({**frame, "ref": ref}))
        return ref

    def reply(self, ref: int, timeout: float = 5.0) -> dict[str, Any]:
        wait_until(f"a reply to frame {ref}", lambda: ref in self.replies, timeout)
        return self.replies[ref]

    def live(self) -> bool:
        """A snapshot came and nothing is being caught up."""
        return self.ws is not None and not self.resyncing and self.last_seq is not None

    def snapshots_since(self, moment: float) -> list[tuple[float, int, int]]:
        return [s for s in self.snapshots if s[0] >= moment]

    def stop(self) -> None:
        self._done.set()
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        self.join(timeout=5)

    # -- the page --------------------------------------------------------------------

    def run(self) -> None:
        while not self._done.is_set():
            url = f"{self.urls[self.worker]}/ws/shows/{self.show_id}"
            try:
                ws = connect(
                    url,
                    additional_headers=self.headers,
                    open_timeout=5,
                    max_size=None,
                    legacy=True,  # a plain connection object; closed below
                )
            except (OSError, InvalidHandshake, TimeoutError):
                self.worker = (self.worker + 1) % len(self.urls)
                time.sleep(0.2)
                continue
            with self.lock:
                self.ws, self.last_seq, self.resyncing, self.resync_ref = ws, None, True, None
            try:
                for raw in ws:
                    payload = json.loads(raw)
                    for event in payload if isinstance(payload, list) else [payload]:
                        self.receive(event)
            except ConnectionClosed:
                pass
            with self.lock:
                self.ws = None
            self.closes.append(ws.close_code)
            if ws.close_code in FATAL or self._done.is_set():
                return
            self.worker = (self.worker + 1) % len(self.urls)
            time.sleep(0.2)

    def receive(self, event: dict[str, Any]) -> None:
        kind, data = event["type"], event.get("data") or {}
        if kind == "room.snapshot":
            with self.lock:
                self.last_seq, self.resyncing, self.resync_ref = data["seq"], False, None
                self.pinned = data["pinned"]["id"] if data["pinned"] else None
                self.viewers = data["viewers"]
                self.chat = [{"id": m["id"], "body": m["body"]} for m in data["chat"]]
                self.snapshots.append((time.monotonic(), self.worker, data["seq"]))
            return
        if kind == "room.resync":
            self.resync(force=True)
            return
        if kind in DIRECT:
            ref = data.get("ref")
            if kind == "error" and ref is not None and ref == self.resync_ref:
                threading.Timer(0.3, self.resync, kwargs={"force": True}).start()
                return
            if ref is not None:
                self.replies[ref] = event
            return
        if kind in TARGETED or self.resyncing or self.last_seq is None:
            return
        seq = event["seq"]
        if kind in EPHEMERAL:
            if seq > self.last_seq:
                self.resync()
            elif kind == "chat.message" and all(m["id"] != data["id"] for m in self.chat):
                self.chat.append({"id": data["id"], "body": data["body"]})
            return
        if seq <= self.last_seq:
            return
        if seq != self.last_seq + 1:
            self.resync()
            return
        with self.lock:
            self.last_seq = seq
            self.applied.append(seq)
            if kind == "shelf.pinned":
                self.pinned = data["listing"]["id"]
                self.pin_seqs[data["listing"]["id"]] = seq
            elif kind == "shelf.unpinned":
                self.pinned = None
            elif kind == "viewers.count":
                self.viewers = data["count"]

    def resync(self, force: bool = False) -> None:
        if (self.resyncing and not force) or self.ws is None:
            return
        self.resyncing = True
        with contextlib.suppress(Exception):
            self.resync_ref = self.send({"type": "resync"})


def check_applied_once(page: Page) -> None:
    """No state event applied twice or out of order, across every resync."""
    seqs = page.applied
    assert seqs == sorted(set(seqs)), f"a state event was applied twice or out of order: {seqs}"


@contextlib.contextmanager
def pages(*made: Page) -> Iterator[tuple[Page, ...]]:
    for page in made:
        page.start()
    try:
        yield made
    finally:
        for page in made:
            page.stop()


# -- Redis restarted -------------------------------------------------------------------


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop and start again (never the
    machine's Redis, which other tests share)."""

    def __init__(self, work_dir: Path) -> None:
        self.port = free_port()
        self.work_dir = work_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.work_dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until("redis-server answers", self.answers, 10)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def own_redis(work_dir: Path) -> Iterator[OwnRedis]:
    try:
        subprocess.run(["redis-server", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"no redis-server to start: {exc}")
    redis = OwnRedis(work_dir)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def show_with_stock(world: World) -> tuple[Person, dict[str, Any], list[dict[str, Any]]]:
    """A live show with three listings; the first has 10 units of one variant."""
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    stocked = product_with_stock(world, merchant, 10)
    _, others = world.brand_with_products(merchant, products=2)
    show = host.post("/shows", json={"title": "Fault drill"}).json()
    shelf = [
        host.post(f"/shows/{show['id']}/shelf", json={"product_id": p["id"]}).json()
        for p in (stocked, *others)
    ]
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    return host, show, shelf


def test_redis_restarted_mid_show(tmp_path: Path) -> None:
    with (
        own_redis(tmp_path) as redis,
        postgres_database() as url,
        live_server(test_settings(url, tmp_path, redis_url=redis.url)) as a,
        live_server(test_settings(url, tmp_path, redis_url=redis.url)) as b,
    ):
        on_a, on_b = World(a), World(b)
        try:
            host, show, shelf = show_with_stock(on_a)
            sid = show["id"]
            pin = f"/shows/{sid}/pin"
            assert host.put(pin, json={"listing_id": shelf[0]["id"]}).status_code == 200
            buyer = on_a.person("Buyer")
            assert buyer.put("/me/address", json=ADDRESS).status_code == 200
            buy = {"listing_id": shelf[0]["id"], "idempotency_key": key()}
            assert buyer.post(f"/shows/{sid}/orders", json=buy).status_code == 201
            alice, bob = on_a.person("Alice"), on_b.person("Bob")
            with pages(Page([a.ws_url], sid, alice), Page([b.ws_url], sid, bob)) as (pa, pb):
                wait_until("both pages are live", lambda: pa.live() and pb.live())
                wait_until("both see both", lambda: pa.viewers == pb.viewers == 2)
                assert pa.pinned == pb.pinned == shelf[0]["id"]

                redis.stop()
                # While Redis is away: a clear refusal, at once, and nothing half done.
                started = time.monotonic()
                ref = pb.send({"type": "chat.send", "body": "anyone there?"})
                refused = pb.reply(ref, timeout=3)
                assert refused["type"] == "error", refused
                assert refused["data"]["code"] == "service_unavailable"
                assert time.monotonic() - started < 3
                # The host pins meanwhile: saved, but no event can go out. The answer says
                # so (503, not 500); the viewers learn the pin from their next snapshot.
                r = host.put(pin, json={"listing_id": shelf[1]["id"]})
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "service_unavailable"
                assert "Retry-After" in r.headers
                before = {p: len(p.snapshots) for p in (pa, pb)}

                redis.start()  # empty: no seq counters, no stock pools, no presence
                for page in (pa, pb):
                    took = wait_until(
                        "the room resynced after Redis came back",
                        lambda p=page: len(p.snapshots) > before[p] and p.live(),  # type: ignore[misc]
                        timeout=5,
                    )
                    assert took <= 5
                    assert page.pinned == shelf[1]["id"], "the pin made while Redis was away"

                # Live again: one pin, applied once by each viewer, with the same seq.
                r = on_b.anonymous.put(
                    pin,
                    json={"listing_id": shelf[2]["id"]},
                    headers={"Authorization": f"Bearer {host.token}"},
                )
                assert r.status_code == 200, r.text
                wait_until("both see the new pin", lambda: pa.pinned == pb.pinned == shelf[2]["id"])
                ref = pb.send({"type": "chat.send", "body": "back on air"})
                assert pb.reply(ref)["type"] == "ack"
                wait_until(
                    "Alice hears Bob again",
                    lambda: any(m["body"] == "back on air" for m in pa.chat),
                )
                wait_until("the count is whole again", lambda: pa.viewers == pb.viewers == 2)
                for page in (pa, pb):
                    check_applied_once(page)
                assert pa.pin_seqs[shelf[2]["id"]] == pb.pin_seqs[shelf[2]["id"]]

                # The stock gate came back from the ledger: the unit sold before is still sold.
                shown = on_a.anonymous.get(f"/shows/{sid}/shelf").json()[0]["in_stock"]
                assert shown == 9
                again = {"listing_id": shelf[0]["id"], "idempotency_key": key()}
                r = buyer.post(f"/shows/{sid}/orders", json=again)
                assert r.status_code == 201, r.text
                assert on_b.anonymous.get(f"/shows/{sid}/shelf").json()[0]["in_stock"] == 8
        finally:
            on_a.close()
            on_b.close()


# -- a worker killed, a worker drained ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Any]]:
    """Two `hawker serve` processes on one PostgreSQL and a Redis of the module's own."""
    tmp = tmp_path_factory.mktemp("cluster")
    with own_redis(tmp) as redis, postgres_database() as url:
        upgrade(url)
        spread_ids(url)
        env = {
            "HAWKER_DATABASE_URL": url,
            "HAWKER_REDIS_URL": redis.url,
            "HAWKER_DATA_DIR": str(tmp / "data"),
            "HAWKER_SECRET_KEY": uuid.uuid4().hex,
            "HAWKER_VIEWERS_FLUSH_S": "0.2",
            "HAWKER_RTMP_PORT": "0",
        }
        with servers(2, env, tmp) as workers:
            yield workers


def world_on(worker: Any) -> World:
    ws_url = worker.base_url.replace("http://", "ws://")
    return World(SimpleNamespace(base_url=worker.base_url, ws_url=ws_url))  # type: ignore[arg-type]


def test_a_killed_workers_viewers_resync_on_another(cluster: list[Any]) -> None:
    w0, w1 = cluster
    world = world_on(w0)
    urls = [w0.base_url.replace("http", "ws"), w1.base_url.replace("http", "ws")]
    try:
        host, show, shelf = show_with_stock(world)
        sid = show["id"]
        assert host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[0]["id"]}).status_code == 200
        alice, bob = world.person("Alice"), world.person("Bob")
        on_w1 = Page(urls[::-1], sid, alice)  # on the victim first, the other one next
        on_w0 = Page(urls, sid, bob)
        with pages(on_w1, on_w0) as (pa, pb):
            wait_until("both pages are live", lambda: pa.live() and pb.live())
            ref = pa.send({"type": "chat.send", "body": "from the doomed worker"})
            assert pa.reply(ref)["type"] == "ack"
            w1.kill()
            killed = time.monotonic()
            took = wait_until(
                "Alice is back, on the other worker",
                lambda: bool(pa.snapshots_since(killed)) and pa.live(),
                timeout=5,
            )
            assert pa.snapshots[-1][1] == 1, "her new snapshot came from the living worker"
            assert took <= 5
            assert pa.pinned == pb.pinned == shelf[0]["id"]
            assert any(m["body"] == "from the doomed worker" for m in pa.chat)
            # From here on both apply the same events.
            r = host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[1]["id"]})
            assert r.status_code == 200
            wait_until("both see the pin", lambda: pa.pinned == pb.pinned == shelf[1]["id"])
            assert pa.pin_seqs[shelf[1]["id"]] == pb.pin_seqs[shelf[1]["id"]]
            # The dead worker's viewers drop out of the count once its report goes stale.
            wait_until("the count forgets the dead worker", lambda: pa.viewers == 2, 15)
            for page in (pa, pb):
                check_applied_once(page)
    finally:
        world.close()
        if not w1.running:
            w1.start()


def test_a_stopping_worker_drains_its_viewers_to_another(cluster: list[Any]) -> None:
    w0, w1 = cluster
    world = world_on(w0)
    urls = [w0.base_url.replace("http", "ws"), w1.base_url.replace("http", "ws")]
    try:
        host, show, shelf = show_with_stock(world)
        sid = show["id"]
        alice, bob = world.person("Alice"), world.person("Bob")
        with pages(Page(urls[::-1], sid, alice), Page(urls, sid, bob)) as (pa, pb):
            wait_until("both pages are live", lambda: pa.live() and pb.live())
            assert pa.worker == 0 and pa.urls[0] == urls[1]
            stopping = threading.Thread(target=w1.stop)  # SIGTERM, as an orchestrator does
            stopped = time.monotonic()
            stopping.start()
            took = wait_until(
                "Alice is back, on the other worker",
                lambda: bool(pa.snapshots_since(stopped)) and pa.live(),
                timeout=5,
            )
            assert took <= 5
            assert pa.closes[-1] in (1012, 1013), f"told to reconnect, got {pa.closes}"
            stopping.join(timeout=20)
            r = host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[2]["id"]})
            assert r.status_code == 200
            wait_until("both see the pin", lambda: pa.pinned == pb.pinned == shelf[2]["id"])
            for page in (pa, pb):
                check_applied_once(page)
    finally:
        world.close()
        if not w1.running:
            w1.start()


# -- PostgreSQL unreachable --------------------------------------------------------------


class CutProxy:
    """A TCP proxy between the server and PostgreSQL that the test can cut (every
    connection dropped, new ones refused) and restore, on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.links: set[socket.socket] = set()
        self.lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self.lock:
            links, self.links = self.links, set()
        for sock in links:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self.lock:
                self.links.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def test_postgres_unreachable_chat_keeps_flowing(tmp_path: Path) -> None:
    admin = conninfo_to_dict(ENV.test_postgres_url)
    with postgres_database() as direct:
        proxy = CutProxy((str(admin.get("host", "127.0.0.1")), int(admin.get("port", 5432))))
        proxy.restore()
        name = direct.rpartition("/")[2]
        user = admin.get("user", "postgres")
        password = f":{admin['password']}" if admin.get("password") else ""
        via_proxy = f"postgresql://{user}{password}@127.0.0.1:{proxy.port}/{name}"
        # Bob sends six messages in a few seconds or less: more than the default chat pace
        # (a burst of 5, then one a second) allows, which is not what this test is about.
        settings: Settings = test_settings(via_proxy, tmp_path, chat_burst=20)
        try:
            with live_server(settings) as server:
                world = World(server)
                try:
                    _chat_through_an_outage(world, server, proxy, direct)
                finally:
                    world.close()
        finally:
            proxy.cut()


def _chat_through_an_outage(world: World, server: Any, proxy: CutProxy, direct: str) -> None:
    _, show, shelf = show_with_stock(world)
    sid = show["id"]
    buyer = world.person("Buyer")
    assert buyer.put("/me/address", json=ADDRESS).status_code == 200
    alice, bob = world.person("Alice"), world.person("Bob")
    ctx = ctx_of(server)
    with pages(Page([server.ws_url], sid, alice), Page([server.ws_url], sid, bob)) as (pa, pb):
        wait_until("both pages are live", lambda: pa.live() and pb.live())
        wait_until("the worker holds ids for chat", lambda: len(ctx.chat_outbox.ids) > 0)
        ref = pb.send({"type": "chat.send", "body": "before"})
        assert pb.reply(ref)["type"] == "ack"

        proxy.cut()
        cut_at = time.monotonic()
        sent: dict[int, str] = {}
        for n in range(4):
            body = f"during {n}" if n != 3 else "during #2 please"
            ref = pb.send({"type": "chat.send", "body": body})
            answer = pb.reply(ref, timeout=10)
            assert answer["type"] == "ack", answer
            sent[answer["data"]["id"]] = body
        # Everyone in the room heard each of them, live.
        wait_until(
            "Alice heard every message",
            lambda: {m["id"] for m in pa.chat} >= set(sent),
        )
        # A buy needs the database: refused, clearly, not a 500.
        r = buyer.post(
            f"/shows/{sid}/orders", json={"listing_id": shelf[0]["id"], "idempotency_key": key()}
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_unavailable"
        assert r.headers["Retry-After"]
        r = world.anonymous.get(f"/shows/{sid}")
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_unavailable"
        # A viewer who opens the room now, once the last reading of the room is too old to
        # share (services/rooms.py), cannot get a snapshot: told to try again (1013), which
        # the page answers by reconnecting a little later.
        time.sleep(max(0.0, rooms.SHARED_FOR_S - (time.monotonic() - cut_at)))
        with (
            connect(f"{server.ws_url}/ws/shows/{sid}", open_timeout=10) as joining,
            pytest.raises(ConnectionClosed) as closed,
        ):
            joining.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

        proxy.restore()

        # Written once the database answers: each message once, with the id it went out with.
        def written() -> dict[int, str]:
            with psycopg.connect(direct) as conn:
                rows = conn.execute(
                    "SELECT id, body FROM chat_messages WHERE show_id = %s", (sid,)
                ).fetchall()
            return {int(i): str(b) for i, b in rows}

        wait_until("the outbox is written", lambda: set(sent) <= set(written()), 15)
        rows = written()
        assert sorted(rows.values()) == sorted(["before", *sent.values()])
        assert not ctx.chat_outbox.pending
        # A new viewer's snapshot shows the messages in the order they were sent, and the
        # request by number sent meanwhile as a request for item 2.
        late = world.socket(sid, world.person("Late"))
        with late:
            chat = late.snapshot()["chat"]
        assert [m["body"] for m in chat] == [
            "before",
            "during 0",
            "during 1",
            "during 2",
            "during #2 please",
        ]
        assert chat[-1]["request"] == {"listing_id": shelf[1]["id"], "number": 2}
        ref = pb.send({"type": "chat.send", "body": "after"})
        answer = pb.reply(ref, timeout=10)
        assert answer["type"] == "ack", answer
        wait_until("Alice hears the next one", lambda: any(m["body"] == "after" for m in pa.chat))
