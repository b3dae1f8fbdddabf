"""The crowd: one room full of viewers over real WebSockets, and a show for a minute.

    .venv/bin/python bench/fanout.py [--viewers N] [--seconds S] [--workers N]
        [--no-peers] [--quick] [--join-timeout S] [--systems NAMES] [--logs DIR]

Starts `hawker serve --workers 2` itself on a fresh PostgreSQL database (made and dropped on
127.0.0.1:5432) and an empty Redis database number (flushed afterwards). Seeds a host, a
live show with six items on the shelf, 100 signed-in chatters and the buyers (bulk insert,
bearer sessions). Then fills the one room with N viewers (default 20,000), anonymous as most
of an audience is, from load-generator processes on this same machine: raw WebSocket
clients on uvloop that count frames and events without decoding them; 100 of them parse
every frame to time chat and pins. A viewer has joined when the server has taken it in (its
snapshot, Socket.IO's connect); whoever is not in by --join-timeout stays out, so the run's
length is bounded and "viewers held" says how many the server took in. Then the show, for
S seconds:

- chat: 50 messages a second from the chatters' sockets (each under the per-viewer limit),
  the sender's clock (monotonic, the machine's) in the body;
- likes: 10 like frames a second from the chatters;
- a pin every second from the host's socket (`shelf.pin`), going round the shelf, half a
  second into each second: a host does one thing at a time, and the first pin would
  otherwise come in the same millisecond as the deal and wait for its fan-out;
- a flash deal started at the top of the show, and 20 buys a second over the REST API, so
  that "N left" (stock.left) and the sales ticker flow.

It prints viewers held, server memory per idle viewer (VmRSS of the worker processes with
the viewers in, less before they came, over the viewers), frames and event deliveries per
second (counted at the clients: every event in every frame of every viewer, in the show's
window), p50/p99 from sending to receipt for chat and for pins (a pin a sampled viewer never
got counts as never) and for pins back to the host's own socket (the server's handling of a
pin, apart from the crowd's share of the fan-out), and where the CPU went (server, crowd,
driver, Redis, PostgreSQL and the rest of the machine, which is shared).

The peers, in the same run, on the same load: as many viewers as Hawker held, the same
chat, likes and pins from the same sockets; the host sends the deal and "N left" (4 a
second) as messages, since the peers have no checkout. Each relays what it gets to the room:
- fastapi_loop: the broadcast loop of FastAPI's WebSocket docs (bench/peers/fastapi_loop.py)
  on ONE uvicorn worker: its in-memory list cannot span processes, as its docs say;
- socketio: python-socketio, AsyncServer + AsyncRedisManager, a room per show, under uvicorn
  with --workers (bench/peers/socketio_room.py); the crowd speaks Engine.IO 4 over a raw
  WebSocket, so a viewer costs the load generator the same in all three.
Both peers send every chat message to every viewer; Hawker shows a busy room a sample of
its chat (20 a second per worker), so its deliveries per second come from a smaller offer.
All three run under uvicorn with uvloop, httptools and the same WebSocket implementation.

The last line is JSON with the figures; the ratios are Hawker's deliveries per second to
each peer's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import math
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import redis
import uvloop

from _crowd import Samples, Stats, Viewer, open_viewer, run_crowd, upgrade_request
from _services import PG_ADMIN, free_port, postgres_database, redis_database

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
HAWKER = ROOT / ".venv" / "bin" / "hawker"
PEERS = ROOT / "bench" / "peers"
HOST = "127.0.0.1"
ADDRESS = ("Ada Buyer", "1 Market St", "", "Austin", "TX", "78701", "US", "")

CHAT_PER_S = 50
LIKES_PER_S = 10
PINS_PER_S = 1
BUYS_PER_S = 20
STOCK_PER_S = 4  # what Hawker's "N left" flush sends at most (every 0.25 s); the peers' rate
CHATTERS = 100  # 0.5 messages a second each: under the 1 a second (burst 5) a viewer may send
SAMPLED = 100
PER_PROCESS = 5000  # viewers per load-generator process (the fd limit is 20,000)
DRAIN_S = 2.0  # after the show, how long late chat and pins may still arrive
SETTLE_S = 2.0  # after the joins, before the memory is read
OVERHEAD_S = 10.0  # per system besides the join and the show: start, warm-up, settle, stop
# The peers take a crowd in at 1,100 to 1,150 a second on this machine (README): the
# time kept for their joins, so that Hawker's, which comes first, can have the rest.
PEER_JOINS_PER_S = 1000
LINES = (
    "omg that shade is gorgeous",
    "is it long lasting?",
    "just ordered!!",
    "how does it look on darker skin",
    "love this host",
    "what's the price again",
    "does it come in matte",
    "waiting for the deal",
    "so pretty on you",
    "hello from Lagos",
)


# -- services: the database, Redis, processes ----------------------------------------------


# What the run made and must undo, last made first: crowds, servers, the Redis database,
# the PostgreSQL database, the scratch directory. Closed at the end of main(), or at once
# on Ctrl-C or SIGTERM.
CLEANUP = contextlib.ExitStack()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    return out


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) each process has used; gone ones are left out."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        except OSError:
            pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_times(pids).values())


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def postgres_pids(db_url: str) -> list[int]:
    """The PostgreSQL backends serving our database (the servers' pools)."""
    name = db_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def redis_cpu(url: str) -> float:
    client = redis.Redis.from_url(url)
    try:
        info = client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    finally:
        client.close()


@dataclass
class Backends:
    database: str
    redis: str


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def workers(self) -> list[int]:
        """The processes that serve: uvicorn's spawned workers, or the process itself."""
        spawned = [c for c in _children(self.process.pid) if b"spawn_main" in _cmdline(c)]
        return spawned or [self.process.pid]

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.workers())

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        # The workers too, whatever became of their supervisor.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_server(
    name: str, args: list[str], env: dict[str, str], port: int, ready: str, log_dir: Path
) -> Server:
    log = log_dir / f"{name}.log"
    process = subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=log_dir,
        start_new_session=True,  # its own process group: stopped as one, after the crowd
    )
    server = Server(name, process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} stopped at start:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{HOST}:{port}{ready}", timeout=2).status_code == 200:
                return server
        time.sleep(0.2)
    server.stop()
    raise SystemExit(f"{name} did not start within 60 s:\n{log.read_text()[-3000:]}")


UVICORN_OPTIONS = [
    # The options `hawker serve` runs with (hawker.web.server.options), so that the three
    # differ in how they fan out, not in their event loop, parser or WebSocket library.
    "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
    "--ws-max-size", "16384", "--ws-ping-interval", "20", "--ws-ping-timeout", "20",
    "--log-level", "warning", "--no-access-log", "--host", HOST,
]  # fmt: skip


# -- seeding ---------------------------------------------------------------------------------


@dataclass
class Show:
    id: int
    host_token: str
    listings: list[dict[str, Any]]
    chatters: list[tuple[int, str, str]]  # (user id, name, token)
    buyers: list[str] = field(default_factory=list)
    deal: dict[str, Any] | None = None


def seed_show(base: str) -> tuple[Show, httpx.Client]:
    """The host's side, through the API as the host would do it."""
    http = httpx.Client(base_url=f"{base}/api/v1", timeout=30)
    tag = uuid.uuid4().hex[:8]
    r = http.post(
        "/auth/signup",
        json={
            "email": f"host-{tag}@bench.test",
            "password": "lipstick-king",
            "display_name": "Li Jiaqi",
            "host": True,
            "city": "Shanghai",
        },
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    brand = http.post("/brands", json={"name": f"Rouge {tag}", "currency": "USD"}).json()
    show = http.post("/shows", json={"title": "The crowd"}).json()
    for i, shade in enumerate(
        ("#7 Ruby", "#12 Coral", "#3 Nude", "#21 Plum", "#5 Rose", "#9 Wine")
    ):
        r = http.post(
            f"/brands/{brand['id']}/products",
            json={
                "title": f"Velvet lipstick {shade}",
                "description": "Long-wear velvet matte, eight hours without a touch-up.",
                "variants": [{"name": shade, "price": f"{19 + i}.00", "stock": 100_000}],
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(f"/shows/{show['id']}/shelf", json={"product_id": r.json()["id"]})
        assert r.status_code == 201, r.text
    assert http.post(f"/shows/{show['id']}/live").status_code == 200
    listings = http.get(f"/shows/{show['id']}/shelf").json()
    return Show(show["id"], token, listings, []), http


USER_COLUMNS = "email, display_name, password_hash, city, is_host, is_admin, created_at"
SESSION_COLUMNS = "token_hash, user_id, kind, csrf_token, created_at, expires_at"
ADDRESS_COLUMNS = (
    "user_id, name, line1, line2, city, region, postal_code, country, phone, updated_at"
)


def seed_people(
    url: str, chatters: int, buyers: int
) -> tuple[list[tuple[int, str, str]], list[str]]:
    """Chatters and buyers by bulk insert: users, bearer sessions (hashed as
    services.accounts does), and an address for the buyers. One password hash for all:
    nobody signs in with it."""
    from argon2 import PasswordHasher

    password_hash = PasswordHasher().hash(secrets.token_urlsafe(12))
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    names = [f"Viewer {i}" for i in range(chatters)] + [f"Buyer {i}" for i in range(buyers)]
    emails = [f"p{i}-{tag}@bench.test" for i in range(len(names))]
    tokens = [secrets.token_urlsafe(32) for _ in names]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY users ({USER_COLUMNS}) FROM STDIN") as copy:
            for email, name in zip(emails, names, strict=True):
                copy.write_row((email, name, password_hash, "Austin", False, False, now))
        ids = dict(
            cur.execute(
                "SELECT email, id FROM users WHERE email LIKE %s", (f"%-{tag}@%",)
            ).fetchall()
        )
        user_ids = [ids[e] for e in emails]
        with cur.copy(f"COPY sessions ({SESSION_COLUMNS}) FROM STDIN") as copy:
            for user_id, token in zip(user_ids, tokens, strict=True):
                copy.write_row(
                    (
                        hashlib.sha256(token.encode()).hexdigest(),
                        user_id,
                        "token",
                        secrets.token_urlsafe(8),
                        now,
                        now + timedelta(days=1),
                    )
                )
        with cur.copy(f"COPY addresses ({ADDRESS_COLUMNS}) FROM STDIN") as copy:
            for user_id in user_ids[chatters:]:
                copy.write_row((user_id, *ADDRESS, now))
        conn.commit()
        cur.execute("ANALYZE")
    people = list(zip(user_ids, names, tokens, strict=True))
    return people[:chatters], [t for _, _, t in people[chatters:]]


# -- the systems -------------------------------------------------------------------------------


@dataclass
class System:
    """One of the three servers, and how the show's actions look on its wire."""

    name: str
    label: str
    mode: str  # how the crowd counts events: hawker | plain | sio
    path: str
    start: Callable[[], Server]
    note: str = ""
    viewers: int = 0  # 0: --viewers
    join_s: float = 60.0  # how long the crowd may take to come in

    def wire(self, event: str, data: dict[str, Any], seq: int) -> bytes:
        """A peer's message: the event as Hawker would deliver it, sent by the client."""
        body = orjson.dumps(
            {"v": 1, "type": event, "seq": seq, "at": int(time.time() * 1000), "data": data}
        )
        if self.mode == "sio":
            return b'42["' + SIO_EVENTS[event].encode() + b'",' + body + b"]"
        return body


SIO_EVENTS = {
    "chat.message": "chat",
    "likes.burst": "like",
    "shelf.pinned": "pin",
    "deal.updated": "deal",
    "stock.left": "stock",
}


# -- the load generators -------------------------------------------------------------------------


class Crowd:
    """The load-generator processes and their pipes."""

    def __init__(
        self, system: System, port: int, viewers: int, sampled: int, join_timeout: float
    ) -> None:
        self.system = system
        self.count = viewers
        procs = max(1, math.ceil(viewers / PER_PROCESS))
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.progress: dict[int, dict[str, int]] = {}
        self.joined: dict[int, float] = {}  # seconds each process took to fill its share
        self.replies: list[asyncio.Queue[Any]] = [asyncio.Queue() for _ in range(procs)]
        loop = asyncio.get_running_loop()
        for i in range(procs):
            share = viewers // procs + (1 if i < viewers % procs else 0)
            spec = {
                "index": i,
                "host": HOST,
                "port": port,
                "path": system.path,
                "mode": system.mode,
                "count": share,
                "sampled": min(share, sampled // procs + (1 if i < sampled % procs else 0)),
                "concurrency": 64,
                "join_timeout": join_timeout,
            }
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=run_crowd, args=(theirs, spec), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)
            threading.Thread(target=self._listen, args=(loop, i), daemon=True).start()

    def _listen(self, loop: asyncio.AbstractEventLoop, i: int) -> None:
        """Blocking reads in a thread, one per pipe (see _crowd's listener)."""
        while True:
            try:
                message = self.pipes[i].recv()
            except (EOFError, OSError):
                with contextlib.suppress(RuntimeError):  # the loop may be gone
                    loop.call_soon_threadsafe(self.replies[i].put_nowait, ("gone", i))
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._got, i, message)

    def _got(self, i: int, message: Any) -> None:
        if message[0] == "progress":
            self.progress[i] = message[2]
        elif message[0] == "joined":
            self.progress[i] = message[2]
            self.joined[i] = message[3]
        else:
            self.replies[i].put_nowait(message)

    def total(self, key: str) -> int:
        return sum(p.get(key, 0) for p in self.progress.values())

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    async def ask(self, command: str) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((command,))
        replies = []
        for queue in self.replies:
            while True:
                reply = await asyncio.wait_for(queue.get(), 30)
                if reply[0] == "gone":
                    raise SystemExit("a load-generator process died")
                if reply[0] == command:
                    break
                # else: the answer to an ask that gave up waiting
            replies.append(reply)
        return replies

    async def mark(self) -> list[tuple[float, dict[str, int]]]:
        return [(r[2], r[3]) for r in await self.ask("mark")]

    async def wait_joined(self) -> float:
        started = time.monotonic()
        last_print = 0.0
        last_opened = 0
        while len(self.joined) < len(self.processes):
            if any(not p.is_alive() for p in self.processes):
                raise SystemExit("a load-generator process died while joining")
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if now - last_print >= 2.0:
                opened = self.total("opened")
                rate = (opened - last_opened) / (now - last_print) if last_print else 0
                print(
                    f"  joining {now - started:5.1f}s  {opened:>7,}/{self.count:,} viewers"
                    f"  {rate:>6,.0f}/s  failed {self.total('failed'):,}"
                    f"  closed {self.total('closed'):,}",
                    flush=True,
                )
                last_print, last_opened = now, opened
        return max(self.joined.values())

    def close(self) -> None:
        """Stop the processes (their sockets close with them). Safe to call again."""
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                pipe.send(("quit",))
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()
        self.pipes, self.processes = [], []


# -- the show ---------------------------------------------------------------------------------


@dataclass
class Run:
    system: str
    label: str
    viewers: int
    opened: int = 0
    failed: int = 0
    late: int = 0
    held: int = 0
    idle: int = 0  # viewers in the room when its memory was read
    join_s: float = 0.0
    join_cpu: float = 0.0  # the server's, in cores, while the crowd joined
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    workers: int = 0
    window_s: float = 0.0
    frames: int = 0
    events: int = 0
    bytes: int = 0
    chat_sent: int = 0
    chat_refused: int = 0
    likes_sent: int = 0
    pins_sent: int = 0
    buys: dict[str, int] = field(default_factory=dict)
    chat_latencies: list[float] = field(default_factory=list)
    chat_shown: int = 0
    pin_latencies: list[float] = field(default_factory=list)
    host_pin_latencies: list[float] = field(default_factory=list)  # back to the host's socket
    pins_missed: int = 0
    sampled: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def kib_per_viewer(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) / max(self.idle, 1)

    @property
    def deliveries_per_s(self) -> float:
        return self.events / self.window_s if self.window_s else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.window_s if self.window_s else 0.0


def percentile(values: list[float], p: float) -> float:
    """In ms; inf when the value at p is a message that never arrived."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def every(
    rate: float,
    seconds: float,
    act: Callable[[int], Awaitable[None] | None],
    *,
    phase: float = 0.0,
) -> None:
    """Call `act(i)` `rate` times a second for `seconds`, on an absolute schedule, the first
    `phase` of a period in."""
    start = time.monotonic()
    for i in itertools.count():
        due = start + (i + phase) / rate
        if due - start >= seconds:
            return
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        result = act(i)
        if result is not None:
            await result


async def run_system(
    system: System, show: Show, args: argparse.Namespace, backends: Backends
) -> Run:
    print(f"\n== {system.label} ==", flush=True)
    server = system.start()
    try:
        return await _run_system(system, server, show, args, backends)
    except BaseException:
        print(f"{system.name}'s log ends:\n{server.log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()


async def _run_system(
    system: System, server: Server, show: Show, args: argparse.Namespace, backends: Backends
) -> Run:
    viewers = system.viewers or args.viewers
    run = Run(system.name, system.label, viewers, note=system.note)
    hawker = system.mode == "hawker"
    driver = Stats()
    # The host and the chatters first, and a few viewers that come and go, so that the
    # workers have run every path before their memory is read. The host's socket notes the
    # seq of each pin as it goes out (see _latencies).
    host_pins = Samples()
    host_socket = await open_viewer(
        HOST,
        server.port,
        upgrade_request(HOST, server.port, system.path, show.host_token if hawker else None),
        system.mode,
        driver,
        host_pins,
    )
    host_socket.watch_errors = True

    async def chatter(user_id: int, name: str, token: str) -> tuple[Viewer, int, str]:
        request = upgrade_request(HOST, server.port, system.path, token if hawker else None)
        viewer = await open_viewer(HOST, server.port, request, system.mode, driver)
        viewer.watch_errors = True
        return viewer, user_id, name

    chatters = list(await asyncio.gather(*(chatter(*c) for c in show.chatters)))
    for _ in range(8):
        (
            await open_viewer(
                HOST,
                server.port,
                upgrade_request(HOST, server.port, system.path),
                system.mode,
                Stats(),
            )
        ).close()
    await asyncio.sleep(1.0)
    run.workers = len(server.workers())
    run.rss_before_kib = server.rss_kib()
    print(
        f"server up: {run.workers} worker process(es), {run.rss_before_kib / 1024:,.0f} MiB;"
        f" host and {len(chatters)} chatters in the room; {viewers:,} viewers joining"
        f" (for at most {system.join_s:.0f}s) from {math.ceil(viewers / PER_PROCESS)}"
        " load-generator process(es)",
        flush=True,
    )
    join_cpu = cpu_seconds(server.workers())
    crowd = Crowd(system, server.port, viewers, SAMPLED, system.join_s)
    CLEANUP.callback(crowd.close)
    try:
        run.join_s = await crowd.wait_joined()
        run.join_cpu = (cpu_seconds(server.workers()) - join_cpu) / max(run.join_s, 1e-9)
        run.opened, run.failed = crowd.total("opened"), crowd.total("failed")
        run.late = crowd.total("late")
        print(
            f"  joined: {run.opened:,} viewers in {run.join_s:.1f}s"
            f" ({run.opened / max(run.join_s, 1e-9):,.0f}/s, server CPU {run.join_cpu:.2f} cores),"
            f" failed {run.failed:,}"
            + (f", not in by the {system.join_s:.0f}s deadline {run.late:,}" if run.late else ""),
            flush=True,
        )
        await asyncio.sleep(SETTLE_S)  # the count goes round, the joins' garbage settles
        run.rss_after_kib = server.rss_kib()
        run.idle = sum(c["opened"] - c["closed"] for _, c in await crowd.mark())
        print(
            f"  server memory {run.rss_before_kib / 1024:,.0f} -> {run.rss_after_kib / 1024:,.0f}"
            f" MiB: {run.kib_per_viewer:.1f} KiB per idle viewer",
            flush=True,
        )
        window = await _show(
            system, server, show, args, backends, crowd, run, host_socket, chatters
        )
        _latencies(run, await crowd.ask("report"), host_pins, *window)
    finally:
        crowd.close()
        host_socket.close()
        for viewer, _, _ in chatters:
            viewer.close()
    run.chat_refused = driver.errors
    return run


async def _show(
    system: System,
    server: Server,
    show: Show,
    args: argparse.Namespace,
    backends: Backends,
    crowd: Crowd,
    run: Run,
    host_socket: Viewer,
    chatters: list[tuple[Viewer, int, str]],
) -> tuple[float, float, list[tuple[int, float]]]:
    """The show; returns its start, its end and when each pin was sent."""
    hawker = system.mode == "hawker"
    seconds = args.seconds
    rng = random.Random(7)
    pin_sends: list[tuple[int, float]] = []
    deal = show.deal or {}
    left = [int(deal.get("left", deal.get("quantity", 50_000)))]
    http: httpx.AsyncClient | None = None

    def chat(i: int) -> None:
        viewer, user_id, name = chatters[i % len(chatters)]
        body = f"{rng.choice(LINES)} t={time.monotonic():.6f}"
        if hawker:
            viewer.send_text(orjson.dumps({"type": "chat.send", "body": body}))
        else:
            data = {
                "id": i + 1,
                "user": {"id": user_id, "display_name": name},
                "body": body,
                "request": None,
                "staff": False,
                "at": datetime.now(UTC).isoformat(),
            }
            viewer.send_text(system.wire("chat.message", data, 0))
        run.chat_sent += 1

    def like(i: int) -> None:
        viewer = chatters[rng.randrange(len(chatters))][0]
        count = rng.randint(1, 5)
        if hawker:
            viewer.send_text(orjson.dumps({"type": "like", "count": count}))
        else:
            viewer.send_text(system.wire("likes.burst", {"count": count, "total": i}, 0))
        run.likes_sent += 1

    def pin(i: int) -> None:
        listing = show.listings[i % len(show.listings)]
        pin_sends.append((listing["id"], time.monotonic()))
        if hawker:
            host_socket.send_text(
                orjson.dumps({"type": "shelf.pin", "listing_id": listing["id"], "ref": i})
            )
        else:
            data = {"listing": listing, "stream_at": None}
            host_socket.send_text(system.wire("shelf.pinned", data, i + 1))
        run.pins_sent += 1

    async def buy(i: int) -> None:
        assert http is not None
        if i >= len(show.buyers):
            return
        token = show.buyers[i]

        async def one() -> None:
            assert http is not None
            try:
                r = await http.post(
                    f"/api/v1/shows/{show.id}/orders",
                    json={
                        "listing_id": deal["listing_id"],
                        "quantity": 1,
                        "idempotency_key": f"crowd-{i}",
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                key = str(r.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            run.buys[key] = run.buys.get(key, 0) + 1

        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def stock(i: int) -> None:
        left[0] = max(0, left[0] - BUYS_PER_S // STOCK_PER_S)
        data = {"pool": f"d:{deal.get('id', 1)}", "left": left[0], "deal_id": deal.get("id", 1)}
        host_socket.send_text(system.wire("stock.left", data, 0))

    tasks: set[asyncio.Task[None]] = set()
    worker_pids = server.workers()
    pg0 = cpu_times(postgres_pids(backends.database))

    def cpu() -> dict[str, float]:
        return {
            "machine": machine_busy(),
            "server": cpu_seconds(worker_pids),
            "crowd": cpu_seconds(crowd.pids()),
            "driver": time.process_time(),
            "redis": redis_cpu(backends.redis),
        }

    cpu0 = cpu()
    marks0 = await crowd.mark()
    started = time.monotonic()
    if hawker:
        http = httpx.AsyncClient(base_url=f"http://{HOST}:{server.port}", timeout=30)
        r = await http.post(
            f"/api/v1/shows/{show.id}/deals",
            json={
                "listing_id": show.listings[0]["id"],
                "price": "9.90",
                "quantity": 50_000,
                "per_buyer_limit": 1,
                "duration_seconds": 3600,
            },
            headers={"Authorization": f"Bearer {show.host_token}"},
        )
        assert r.status_code == 201, r.text
        show.deal = deal = r.json()
        actions = [
            every(CHAT_PER_S, seconds, chat),
            every(LIKES_PER_S, seconds, like),
            every(PINS_PER_S, seconds, pin, phase=0.5),
            every(BUYS_PER_S, seconds, buy),
        ]
    else:
        host_socket.send_text(system.wire("deal.updated", {"deal": deal, "stream_at": None}, 0))
        actions = [
            every(CHAT_PER_S, seconds, chat),
            every(LIKES_PER_S, seconds, like),
            every(PINS_PER_S, seconds, pin, phase=0.5),
            every(STOCK_PER_S, seconds, stock),
        ]

    done = asyncio.Event()

    async def progress() -> None:
        # Stopped by an event, not cancelled: a cancel that lands as a mark's answer comes in
        # is swallowed by wait_for on Python 3.11, and the reporter would run on for ever.
        last = marks0
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 5.0)
            if done.is_set():
                return
            marks = await crowd.mark()
            events = sum(m[1]["events"] - p[1]["events"] for m, p in zip(marks, last, strict=True))
            span = sum(m[0] - p[0] for m, p in zip(marks, last, strict=True)) / len(marks)
            closed = sum(m[1]["closed"] for m in marks)
            last = marks
            print(
                f"  show {time.monotonic() - started:5.1f}s  {events / span:>10,.0f} deliveries/s"
                f"  chat sent {run.chat_sent:,}  pins {run.pins_sent}"
                f"  viewers lost {closed:,}",
                flush=True,
            )

    reporter = asyncio.create_task(progress())
    await asyncio.gather(*actions)
    done.set()
    await reporter
    marks1 = await crowd.mark()
    cpu_window = time.monotonic() - started
    cpu1 = cpu()
    run.cpu = {k: (cpu1[k] - cpu0[k]) / cpu_window for k in cpu0}
    # The database's backends come and go with the pools: those that ended are not counted.
    pg1 = cpu_times(postgres_pids(backends.database))
    run.cpu["postgres"] = sum(t - pg0.get(pid, 0.0) for pid, t in pg1.items()) / cpu_window
    # What the rest of the machine took meanwhile (other work on a shared machine).
    run.cpu["others"] = max(
        0.0, run.cpu["machine"] - sum(v for k, v in run.cpu.items() if k != "machine")
    )
    # Summed per process over its own clock, so a slow reply to a mark does not skew it.
    run.window_s = sum(m1[0] - m0[0] for m0, m1 in zip(marks0, marks1, strict=True)) / len(marks0)
    for key in ("frames", "events", "bytes"):
        setattr(
            run, key, sum(m1[1][key] - m0[1][key] for m0, m1 in zip(marks0, marks1, strict=True))
        )
    run.held = sum(c["opened"] - c["closed"] for _, c in marks1)
    run.sampled = sum(c["sampled"] for _, c in marks1)
    await asyncio.sleep(DRAIN_S)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    if http is not None:
        await http.aclose()
    return started, started + seconds, pin_sends


def _latencies(
    run: Run,
    samples: list[Any],
    host: Samples,
    started: float,
    ended: float,
    pin_sends: list[tuple[int, float]],
) -> None:
    for _, _, got in samples:
        for received, sent in got["chat"]:
            run.chat_latencies.append(received - sent)
            if started <= received <= ended:
                run.chat_shown += 1
    # Which seq each pin went out with: the host's socket saw them in the order they were
    # sent (its frames are handled one after another), one per pin that did not fail.
    sent_at: dict[int, float] = {}
    seen = iter(host.pins)
    upcoming = next(seen, None)
    for listing_id, sent in pin_sends:
        if upcoming is not None and upcoming[1] == listing_id:
            sent_at[upcoming[0]] = sent
            run.host_pin_latencies.append(upcoming[2] - sent)
            upcoming = next(seen, None)
    for _, _, got in samples:
        for seq, _, received in got["pins"]:
            if seq in sent_at:
                run.pin_latencies.append(received - sent_at[seq])
    run.pins_missed = max(0, run.sampled * len(pin_sends) - len(run.pin_latencies))


# -- the whole run -------------------------------------------------------------------------------


def _ms(values: list[float], p: float, missed: int = 0) -> float | None:
    """The percentile in ms, None if it falls on a message that never arrived."""
    v = percentile(values + [math.inf] * missed, p)
    return None if math.isinf(v) or math.isnan(v) else round(v, 1)


def describe(run: Run, args: argparse.Namespace) -> None:
    def row(label: str, value: str) -> None:
        print(f"  {label:<26}{value}")

    def pair(values: list[float], missed: int = 0) -> str:
        p50, p99 = _ms(values, 0.5, missed), _ms(values, 0.99, missed)
        return " / ".join("never" if v is None else f"{v:,.0f} ms" for v in (p50, p99))

    shown = run.chat_shown / max(run.sampled, 1) / max(args.seconds, 1e-9)
    pins_got = len(run.pin_latencies) / max(run.sampled * run.pins_sent, 1) * 100
    cpu = run.cpu
    print(f"\n{run.label}")
    if run.note:
        print(f"  ({run.note})")
    row(
        "viewers held",
        f"{run.held:,} of {run.viewers:,} (failed {run.failed:,}, not in by the deadline"
        f" {run.late:,}, cut off later {run.opened - run.held:,})",
    )
    row(
        "joined in",
        f"{run.join_s:.1f}s ({run.opened / max(run.join_s, 1e-9):,.0f}/s,"
        f" server CPU {run.join_cpu:.2f} cores)",
    )
    row("memory per idle viewer", f"{run.kib_per_viewer:.1f} KiB ({run.workers} worker(s))")
    row(
        "sent",
        f"chat {run.chat_sent:,}, likes {run.likes_sent:,}, pins {run.pins_sent:,}"
        f" in {args.seconds:.0f}s",
    )
    row(
        "frames per second",
        f"{run.frames_per_s:,.0f} ({run.bytes / max(run.window_s, 1e-9) / 2**20:,.1f} MiB/s)",
    )
    row(
        "deliveries per second",
        f"{run.deliveries_per_s:,.0f} ({run.deliveries_per_s / max(run.held, 1):.1f}"
        " per viewer held)",
    )
    row(
        "chat p50 / p99",
        f"{pair(run.chat_latencies)}  (a sampled viewer saw {shown:.1f} of the"
        f" {CHAT_PER_S} a second)",
    )
    row(
        "pin p50 / p99",
        f"{pair(run.pin_latencies, run.pins_missed)}  ({pins_got:.0f}% of pins arrived,"
        f" by {DRAIN_S:.0f}s after the show)",
    )
    row("pin p50 / p99 to the host", pair(run.host_pin_latencies))
    row(
        "CPU, in cores",
        ", ".join(
            f"{k} {cpu.get(k, 0):.2f}"
            for k in ("server", "crowd", "driver", "redis", "postgres", "others")
        )
        + f" (machine {cpu.get('machine', 0):.2f} of {os.cpu_count()})",
    )
    if run.buys:
        row("buys over the API", ", ".join(f"{k}: {v:,}" for k, v in sorted(run.buys.items())))
    if run.chat_refused:
        row("error frames", f"{run.chat_refused:,} to the chatters and the host")


def figures(run: Run) -> dict[str, Any]:
    return {
        "viewers": run.held,
        "failed": run.failed,
        "late": run.late,
        "workers": run.workers,
        "join_s": round(run.join_s, 1),
        "kib_per_viewer": round(run.kib_per_viewer, 1),
        "frames_per_s": round(run.frames_per_s),
        "mib_per_s": round(run.bytes / max(run.window_s, 1e-9) / 2**20, 1),
        "deliveries_per_s": round(run.deliveries_per_s),
        "chat_p50_ms": _ms(run.chat_latencies, 0.5),
        "chat_p99_ms": _ms(run.chat_latencies, 0.99),
        "pin_p50_ms": _ms(run.pin_latencies, 0.5, run.pins_missed),
        "pin_p99_ms": _ms(run.pin_latencies, 0.99, run.pins_missed),
        "pins_missed": run.pins_missed,
        "host_pin_p99_ms": _ms(run.host_pin_latencies, 0.99),
        "cpu": {k: round(v, 2) for k, v in run.cpu.items()},
    }


def load_average() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from hawker.store.migrate import upgrade

    began = time.monotonic()
    budget_end = began + args.budget
    load_before = load_average()

    stack = CLEANUP  # undone in main(), also on Ctrl-C
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hawker-crowd-")))
    if args.logs:
        # Registered before the servers, so it runs after they stop and their logs end.
        stack.callback(_keep_logs, work, Path(args.logs))
    db_url = stack.enter_context(postgres_database())
    redis_url = stack.enter_context(redis_database())
    print(
        f"the crowd: {args.viewers:,} viewers, a {args.seconds:.0f}s show, {args.workers}"
        f" workers; PostgreSQL + Redis (db {redis_url.rsplit('/', 1)[1]})",
        flush=True,
    )
    upgrade(db_url)
    port = free_port()
    env = {
        "HAWKER_DATA_DIR": str(work),
        "HAWKER_SECRET_KEY": secrets.token_urlsafe(16),
        "HAWKER_DATABASE_URL": db_url,
        "HAWKER_REDIS_URL": redis_url,
        # Pub/sub channels are server-wide: this run's rooms keep to a namespace of their own.
        "HAWKER_REDIS_NAMESPACE": f"hawker-bench-{uuid.uuid4().hex[:8]}",
        "HAWKER_HOLD_SECONDS": "3600",
        "HAWKER_RTMP_PORT": "0",  # no video in this benchmark
    }
    serve = [
        str(HAWKER), "serve", "--no-migrate", "--no-access-log",
        "--host", HOST, "--port", str(port), "--workers", str(args.workers),
    ]  # fmt: skip
    hawker_server = start_server("hawker", serve, env, port, "/api/v1/shows", work)
    stack.callback(hawker_server.stop)
    # The show is Hawker's; the peers reuse its listings, deal and people on their wire.
    show, http = seed_show(f"http://{HOST}:{port}")
    http.close()
    buyers = int(BUYS_PER_S * args.seconds * 1.1) + 10
    show.chatters, show.buyers = seed_people(db_url, CHATTERS, buyers)
    print(
        f"seeded show {show.id}: {len(show.listings)} items on the shelf,"
        f" {CHATTERS} chatters, {buyers:,} buyers",
        flush=True,
    )

    def peer(name: str, module: str, workers: int, ready: str) -> Callable[[], Server]:
        def start() -> Server:
            port = free_port()
            server = start_server(
                name,
                [str(PYTHON), "-m", "uvicorn", "--app-dir", str(PEERS), f"{module}:app",
                 "--port", str(port), "--workers", str(workers), *UVICORN_OPTIONS],
                # Its own pub/sub channel: channels are server-wide, as for Hawker above.
                {"SOCKETIO_REDIS_URL": redis_url, "SOCKETIO_CHANNEL": f"sio-{uuid.uuid4().hex}"},
                port,
                ready,
                work,
            )  # fmt: skip
            stack.callback(server.stop)
            return server

        return start

    systems = [
        System(
            "hawker",
            f"Hawker ({args.workers} workers, Redis bus)",
            "hawker",
            f"/ws/shows/{show.id}",
            lambda: hawker_server,
        )
    ]
    if not args.no_peers:
        systems += [
            System(
                "fastapi_loop",
                "FastAPI docs broadcast loop (1 uvicorn worker)",
                "plain",
                f"/ws/shows/{show.id}",
                peer("fastapi_loop", "fastapi_loop", 1, "/health"),
                note="its in-memory list holds one process's sockets: one worker,"
                " as FastAPI's docs say",
            ),
            System(
                "socketio",
                f"python-socketio + AsyncRedisManager ({args.workers} uvicorn workers)",
                "sio",
                f"/socket.io/?EIO=4&transport=websocket&show={show.id}",
                peer(
                    "socketio",
                    "socketio_room",
                    args.workers,
                    "/socket.io/?EIO=4&transport=polling",
                ),
            ),
        ]
    if args.systems:
        wanted = set(args.systems.split(","))
        systems = [s for s in systems if s.name in wanted]
    backends = Backends(db_url, redis_url)
    runs: list[Run] = []
    for k, system in enumerate(systems):
        # The run keeps to its budget: what is left after every remaining show (and its
        # start and stop) goes to this join, less what each later one is kept (time for the
        # whole crowd at PEER_JOINS_PER_S); what one leaves, the next gets.
        left = len(systems) - k
        spare = budget_end - time.monotonic() - left * (args.seconds + OVERHEAD_S)
        kept = (left - 1) * min(args.join_timeout, args.viewers / PEER_JOINS_PER_S)
        system.join_s = (
            args.join_timeout
            if not args.budget
            else max(10.0, min(args.join_timeout, spare - kept))
        )
        if runs and runs[0].system == "hawker" and runs[0].idle < args.viewers:
            # The same load for the peers: as many viewers as Hawker took in.
            system.viewers = runs[0].idle
            system.note = "; ".join(
                filter(None, [system.note, f"{system.viewers:,} viewers, as Hawker held"])
            )
        runs.append(await run_system(system, show, args, backends))
    for run in runs:
        describe(run, args)
    by_name = {run.system: figures(run) for run in runs}
    ours = next((run for run in runs if run.system == "hawker"), None)
    mine = by_name.get("hawker", {})
    result: dict[str, Any] = {
        "viewers": mine.get("viewers"),
        "kib_per_viewer": mine.get("kib_per_viewer"),
        "deliveries_per_s": mine.get("deliveries_per_s"),
        "frames_per_s": mine.get("frames_per_s"),
        "pin_p99_ms": mine.get("pin_p99_ms"),
        "chat_p99_ms": mine.get("chat_p99_ms"),
        "ratio_vs_fastapi_loop": None,
        "ratio_vs_socketio": None,
        "seconds": args.seconds,
        "workers": args.workers,
        "run_s": round(time.monotonic() - began),
        # The machine is shared: its load says how much of it the run had.
        "load_average": [load_before, load_average()],
        **by_name,
    }
    print()
    for run in runs:
        if ours is None or run is ours or not run.deliveries_per_s:
            continue
        ratio = round(ours.deliveries_per_s / run.deliveries_per_s, 2)
        result[f"ratio_vs_{run.system}"] = ratio
        print(f"deliveries per second, Hawker to {run.label}: {ratio}x")
    print(
        f"the run took {result['run_s']}s; load average {load_before:.1f} before,"
        f" {result['load_average'][1]:.1f} after (2 cores)"
    )
    return result


def _keep_logs(work: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for log in work.glob("*.log"):
        shutil.copy(log, into / log.name)
    print(f"server logs kept in {into}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--no-peers", action="store_true", help="measure Hawker only")
    parser.add_argument("--logs", metavar="DIR", help="keep the servers' logs in DIR")
    parser.add_argument(
        "--systems",
        metavar="NAMES",
        help="only these, comma-separated: hawker, fastapi_loop, socketio (for a quick look;"
        " the ratios need hawker first)",
    )
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=60.0,
        help="at most this long for a crowd to come in; who is not in by then stays out"
        " (default 60; less when the budget needs it)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=290.0,
        help="seconds the whole run may take; the joins get what the shows leave"
        " (default 290; 0: no budget, every join gets --join-timeout)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 1,000 viewers, a 10 s show"
    )
    args = parser.parse_args()
    if args.quick:
        args.viewers = min(args.viewers, 1000)
        args.seconds = min(args.seconds, 10.0)

    def interrupted(signum: int, frame: Any) -> None:
        # Not through asyncio's cancellation: a cancel can be swallowed on the way (wait_for
        # on Python 3.11), and Ctrl-C must always stop the servers and drop what was made.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\ninterrupted: stopping the servers and the crowd, dropping the data", flush=True)
        try:
            CLEANUP.close()
        finally:
            os._exit(130)

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        result = uvloop.run(main_async(args))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        CLEANUP.close()
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
