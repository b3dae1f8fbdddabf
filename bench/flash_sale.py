"""The lipstick run: 15,000 units of one shade, 100,000 buyers who each try to buy one, at once.

    .venv/bin/python bench/flash_sale.py [--embedded] [--buyers N] [--units N]
        [--connections N] [--workers N] [--peer-buyers N] [--peer-seconds S] [--no-peer]

Starts `hawker serve` itself on a fresh PostgreSQL database (made and dropped on
127.0.0.1:5432) and a free Redis database number (flushed afterwards), or with --embedded
on SQLite and the in-process bus and gate. Seeds a host, a live show and a lipstick whose
one shade is put up as a flash deal of all its units, one per buyer (what a star host's
flash sale is); the buyers (accounts, bearer sessions, addresses) go in by bulk insert.

The load: every buyer sends one `POST /api/v1/shows/{id}/orders` with their own bearer
token and idempotency key, over a pool of keep-alive connections (as requests reach an app
server behind a load balancer), as fast as the server answers. The load generator is a raw
HTTP/1.1 client on uvloop in this process, on the same machine: its CPU is part of the
picture. Then it checks the ledger and the gate: units sold (orders held or paid),
oversold, duplicate orders.

The peer, in the same run: the checkout one would otherwise write, one PostgreSQL
transaction per buy (`SELECT stock ... FOR UPDATE`, decrement, insert the order), driven
from this process by the same number of concurrent buyers over a pool of async psycopg
connections. It pays no HTTP and no sign-in, so the ratio is on the generous side for it.

The last line is JSON with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
import uvloop
from argon2 import PasswordHasher

from _services import free_port, postgres_database, redis_database
from hawker.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
HAWKER = ROOT / ".venv" / "bin" / "hawker"
NAMESPACE = f"hawker-bench-{uuid.uuid4().hex[:8]}"
ADDRESS = ("Ada Buyer", "1 Market St", "", "Austin", "TX", "78701", "US", "")


# -- setting up -------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(env: dict[str, str], port: int, workers: int, data_dir: Path) -> Server:
    log = data_dir / "server.log"
    args = [str(HAWKER), "serve", "--no-migrate", "--port", str(port), "--no-access-log"]
    if workers > 1:
        args += ["--workers", str(workers)]
    process = subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=data_dir,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped at start:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/api/v1/shows", timeout=2).status_code == 200:
                return Server(process, base, log)
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 60 s")


@dataclass
class Sale:
    show_id: int
    listing_id: int
    deal_id: int
    pool: str


def seed_show(base: str, units: int) -> Sale:
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
    http.headers["Authorization"] = f"Bearer {r.json()['token']}"
    brand = http.post("/brands", json={"name": f"Rouge {tag}", "currency": "USD"}).json()
    r = http.post(
        f"/brands/{brand['id']}/products",
        json={
            "title": "Velvet lipstick",
            "variants": [{"name": "#7 Ruby", "price": "29.00", "stock": units}],
        },
    )
    assert r.status_code == 201, r.text
    product = r.json()
    show = http.post("/shows", json={"title": "The lipstick run"}).json()
    listing = http.post(f"/shows/{show['id']}/shelf", json={"product_id": product["id"]}).json()
    assert http.post(f"/shows/{show['id']}/live").status_code == 200
    r = http.put(f"/shows/{show['id']}/pin", json={"listing_id": listing["id"]})
    assert r.status_code == 200, r.text
    r = http.post(
        f"/shows/{show['id']}/deals",
        json={
            "listing_id": listing["id"],
            "price": "9.90",
            "quantity": units,
            "per_buyer_limit": 1,
            "duration_seconds": 3600,
        },
    )
    assert r.status_code == 201, r.text
    deal = r.json()
    http.close()
    return Sale(show["id"], listing["id"], deal["id"], f"d:{deal['id']}")


def buyer_rows(count: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Tokens, and the users' rows. One password hash for all: nobody signs in with it, and
    argon2 a hundred thousand times would take the run's whole time budget."""
    password_hash = PasswordHasher().hash(secrets.token_urlsafe(12))
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:6]
    users = [
        (f"buyer{i}-{tag}@bench.test", f"Buyer {i}", password_hash, "Austin", False, False, now)
        for i in range(count)
    ]
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    return tokens, users


def session_row(user_id: int, token: str, now: datetime) -> tuple[Any, ...]:
    # Hashed as services.accounts does: the database never holds a usable token.
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    return (token_hash, user_id, "token", secrets.token_urlsafe(8), now, now + timedelta(days=1))


USER_COLUMNS = "email, display_name, password_hash, city, is_host, is_admin, created_at"
SESSION_COLUMNS = "token_hash, user_id, kind, csrf_token, created_at, expires_at"
ADDRESS_COLUMNS = (
    "user_id, name, line1, line2, city, region, postal_code, country, phone, updated_at"
)


def seed_buyers_postgres(url: str, count: int) -> list[str]:
    tokens, users = buyer_rows(count)
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY users ({USER_COLUMNS}) FROM STDIN") as copy:
            for row in users:
                copy.write_row(row)
        ids = dict(
            cur.execute(
                "SELECT email, id FROM users WHERE email LIKE %s",
                (f"%{users[0][0].split('-')[1]}",),
            ).fetchall()
        )
        user_ids = [ids[row[0]] for row in users]
        with cur.copy(f"COPY sessions ({SESSION_COLUMNS}) FROM STDIN") as copy:
            for user_id, token in zip(user_ids, tokens, strict=True):
                copy.write_row(session_row(user_id, token, now))
        with cur.copy(f"COPY addresses ({ADDRESS_COLUMNS}) FROM STDIN") as copy:
            for user_id in user_ids:
                copy.write_row((user_id, *ADDRESS, now))
        conn.commit()
        cur.execute("ANALYZE")
    return tokens


def seed_buyers_sqlite(path: str, count: int) -> list[str]:
    tokens, users = buyer_rows(count)
    now = datetime.now(UTC)
    conn = sqlite3.connect(path, timeout=30)
    try:
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM users").fetchone()[0]
        rows = [(first + i, *row) for i, row in enumerate(users)]
        conn.executemany(f"INSERT INTO users (id, {USER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.executemany(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?,?,?,?,?,?)",
            [session_row(first + i, t, now) for i, t in enumerate(tokens)],
        )
        conn.executemany(
            f"INSERT INTO addresses ({ADDRESS_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [(first + i, *ADDRESS, now) for i in range(count)],
        )
        conn.commit()
    finally:
        conn.close()
    return tokens


# -- the load ---------------------------------------------------------------------------------


class _Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time: only what the run needs,
    so that the load generator spends as little of the machine as it can."""

    def __init__(self) -> None:
        self.buffer = b""
        self.answer: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: Any = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[: end + 2].lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        body = self.buffer[end + 4 : end + 4 + length]
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[end + 4 + length :]
        answer, self.answer = self.answer, None
        if answer is not None and not answer.done():
            answer.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(exc or ConnectionError("the server closed the connection"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.answer


@dataclass
class Run:
    attempts: int = 0
    sold: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    sold_out_at: float | None = None
    elapsed: float = 0.0
    server_cpu_s: float = 0.0
    load_cpu_s: float = 0.0


async def progress(run: Run, total: int, label: str, stop: asyncio.Event) -> None:
    last, last_at = 0, time.perf_counter()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        now = time.perf_counter()
        rate = (run.attempts - last) / max(now - last_at, 1e-9)
        last, last_at = run.attempts, now
        print(
            f"  {label} {now - run.started:5.1f}s  {run.attempts:>7,}/{total:,} attempts"
            f"  {rate:>8,.0f}/s  sold {run.sold:>6,}",
            flush=True,
        )


async def stampede(base: str, sale: Sale, tokens: list[str], units: int, connections: int) -> Run:
    host, port = base.removeprefix("http://").split(":")
    path = f"/api/v1/shows/{sale.show_id}/orders".encode()
    loop = asyncio.get_running_loop()
    # Prepared before the clock starts: the generator should not spend the run formatting.
    requests: list[bytes] = []
    for i, token in enumerate(tokens):
        body = b'{"listing_id":%d,"quantity":1,"idempotency_key":"flash-%d"}' % (sale.listing_id, i)
        requests.append(
            b"POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (path, host.encode(), token.encode(), len(body), body)
        )
    conns: list[_Http] = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(_Http, host, int(port))
        conns.append(protocol)
    run = Run()
    queue = iter(requests)
    stop = asyncio.Event()

    async def buyer(conn: _Http) -> None:
        latencies = run.latencies
        clock = time.perf_counter
        for raw in queue:
            sent = clock()
            try:
                status, body = await conn.request(raw)
            except ConnectionError:
                # Counted, not hidden: the server dropped the connection (it does after a 500).
                run.attempts += 1
                run.codes["connection_lost"] = run.codes.get("connection_lost", 0) + 1
                _, conn = await loop.create_connection(_Http, host, int(port))
                continue
            done = clock()
            latencies.append(done - sent)
            run.attempts += 1
            run.statuses[status] = run.statuses.get(status, 0) + 1
            if status == 201:
                run.sold += 1
                if run.sold == units:
                    run.sold_out_at = done - run.started
            elif status != 409:
                code = json.loads(body).get("error", {}).get("code", str(status))
                run.codes[code] = run.codes.get(code, 0) + 1

    run.started = time.perf_counter()
    reporter = asyncio.create_task(progress(run, len(tokens), "ours", stop))
    await asyncio.gather(*(buyer(c) for c in conns))
    run.elapsed = time.perf_counter() - run.started
    stop.set()
    await reporter
    for conn in conns:
        assert conn.transport is not None
        conn.transport.close()
    return run


# -- the peer: one row-lock transaction per buy ------------------------------------------------


PEER_SCHEMA = """
CREATE TABLE peer_stock (id int PRIMARY KEY, stock int NOT NULL);
CREATE TABLE peer_orders (
    id bigserial PRIMARY KEY, buyer_id bigint NOT NULL, idempotency_key text NOT NULL,
    quantity int NOT NULL, total_minor bigint NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL, UNIQUE (buyer_id, idempotency_key));
"""


async def peer(
    url: str, buyers: int, units: int, concurrency: int, pool_size: int, seconds: float
) -> Run:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS peer_orders, peer_stock")
        conn.execute(PEER_SCHEMA)
        conn.execute("INSERT INTO peer_stock VALUES (1, %s)", (units,))
    pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    for _ in range(pool_size):
        pool.put_nowait(await psycopg.AsyncConnection.connect(url))
    run = Run()
    queue = iter(range(buyers))
    stop = asyncio.Event()

    async def one(conn: psycopg.AsyncConnection[Any], buyer_id: int) -> bool:
        async with conn.transaction():
            cur = await conn.execute("SELECT stock FROM peer_stock WHERE id = 1 FOR UPDATE")
            row = await cur.fetchone()
            assert row is not None
            if row[0] < 1:
                return False
            await conn.execute("UPDATE peer_stock SET stock = stock - 1 WHERE id = 1")
            await conn.execute(
                "INSERT INTO peer_orders (buyer_id, idempotency_key, quantity, total_minor,"
                " status, created_at) VALUES (%s, %s, 1, 990, 'pending', now())",
                (buyer_id, f"flash-{buyer_id}"),
            )
            return True

    async def buyer() -> None:
        for buyer_id in queue:
            if time.perf_counter() - run.started > seconds:
                return  # time's up: its rate is measured by then, and the run stays short
            sent = time.perf_counter()
            conn = await pool.get()
            try:
                ok = await one(conn, buyer_id)
            finally:
                pool.put_nowait(conn)
            done = time.perf_counter()
            run.latencies.append(done - sent)
            run.attempts += 1
            if ok:
                run.sold += 1
                if run.sold == units:
                    run.sold_out_at = done - run.started

    run.started = time.perf_counter()
    reporter = asyncio.create_task(progress(run, buyers, "peer", stop))
    await asyncio.gather(*(buyer() for _ in range(concurrency)))
    run.elapsed = time.perf_counter() - run.started
    stop.set()
    await reporter
    while not pool.empty():
        await pool.get_nowait().close()
    with psycopg.connect(url) as conn:
        left = conn.execute("SELECT stock FROM peer_stock").fetchone()
        orders = conn.execute("SELECT count(*) FROM peer_orders").fetchone()
    assert left is not None and orders is not None
    assert orders[0] == run.sold and left[0] == units - run.sold, "the peer sold right"
    return run


# -- checking the books -------------------------------------------------------------------------


def ledger_figures(db_url: str, sale: Sale, embedded: bool) -> dict[str, int]:
    queries = {
        "sold": "SELECT coalesce(sum(quantity), 0) FROM orders WHERE pool = {p}"
        " AND status IN ('pending', 'paid', 'fulfilled')",
        "orders": "SELECT count(*) FROM orders WHERE pool = {p}",
        "duplicate_buyers": "SELECT count(*) FROM (SELECT buyer_id FROM orders WHERE pool = {p}"
        " GROUP BY buyer_id HAVING count(*) > 1) AS d",
        "duplicate_keys": "SELECT count(*) FROM (SELECT buyer_id, idempotency_key FROM orders"
        " GROUP BY buyer_id, idempotency_key HAVING count(*) > 1) AS d",
    }
    out: dict[str, int] = {}
    if embedded:
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        try:
            for name, sql in queries.items():
                args = (sale.pool,) if "{p}" in sql else ()
                out[name] = conn.execute(sql.format(p="?"), args).fetchone()[0]
        finally:
            conn.close()
    else:
        with psycopg.connect(db_url) as pg:
            for name, sql in queries.items():
                args = (sale.pool,) if "{p}" in sql else ()
                row = pg.execute(sql.format(p="%s"), args).fetchone()  # type: ignore[arg-type]
                assert row is not None
                out[name] = int(row[0])
    return out


def gate_figures(redis_url: str | None, base: str, sale: Sale, units: int) -> dict[str, int]:
    """What the gate says: from its Redis keys, or (in-process gate) from the deal's "left"."""
    if redis_url:
        client = redis.Redis.from_url(redis_url)
        meta = client.hgetall(f"{NAMESPACE}:gate:{{{sale.pool}}}:meta")
        client.close()
        levels = {
            k.decode(): int(v)
            for k, v in meta.items()
            if k.decode() in ("initial", "sold", "held", "left")
        }
        return levels
    deals = httpx.get(f"{base}/api/v1/shows/{sale.show_id}/deals", timeout=10).json()
    left = next(d["left"] for d in deals if d["id"] == sale.deal_id)
    return {"initial": units, "left": int(left), "sold_and_held": units - int(left)}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid` and its children: the
    server's cost, whatever else the machine is doing meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
    return total


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


# -- the run ---------------------------------------------------------------------------------


async def drive(
    args: argparse.Namespace, server: Server, sale: Sale, tokens: list[str], peer_url: str | None
) -> tuple[Run, Run | None]:
    base = server.base
    # A few quiet requests first, as a show's page would make, so that the first second of the
    # sale does not also pay for the server's warm-up (imports, pools, the gate's pool load).
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(3):
            await http.get(f"/api/v1/shows/{sale.show_id}/deals")
    print(
        f"stampede: {len(tokens):,} buyers over {args.connections} keep-alive connections",
        flush=True,
    )
    server_cpu, own_cpu = tree_cpu_s(server.process.pid), time.process_time()
    ours = await stampede(base, sale, tokens, args.units, args.connections)
    ours.server_cpu_s = tree_cpu_s(server.process.pid) - server_cpu
    ours.load_cpu_s = time.process_time() - own_cpu
    theirs = None
    if peer_url is not None:
        print(
            f"peer (row lock): {args.peer_buyers:,} buyers, {args.connections} at once, "
            f"{args.peer_pool} PostgreSQL connections, at most {args.peer_seconds:.0f} s",
            flush=True,
        )
        theirs = await peer(
            peer_url,
            args.peer_buyers,
            args.units,
            args.connections,
            args.peer_pool,
            args.peer_seconds,
        )
    return ours, theirs


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="SQLite and the in-process gate instead of PostgreSQL + Redis",
    )
    parser.add_argument("--buyers", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=15_000)
    parser.add_argument(
        "--connections",
        type=int,
        default=1000,
        help="keep-alive connections, i.e. buys in flight at once",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes (default: 2, one per core; 1 with --embedded,"
        " whose gate lives in its one process)",
    )
    parser.add_argument(
        "--peer-buyers",
        type=int,
        default=None,
        help="buyers for the row-lock peer (default: the same as --buyers)",
    )
    parser.add_argument(
        "--peer-seconds",
        type=float,
        default=30.0,
        help="the peer stops taking new buyers after this long",
    )
    parser.add_argument(
        "--peer-pool", type=int, default=16, help="PostgreSQL connections of the peer"
    )
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    args.peer_buyers = args.peer_buyers or args.buyers
    if args.workers is None:
        args.workers = 1 if args.embedded else 2
    if args.embedded and args.workers > 1:
        parser.error("--embedded runs one process: the in-process gate is not shared")

    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hawker-bench-")))
        env = {
            "HAWKER_DATA_DIR": str(data_dir),
            "HAWKER_SECRET_KEY": secrets.token_urlsafe(16),
            "HAWKER_HOLD_SECONDS": "3600",
        }
        if args.embedded:
            db_url = f"sqlite:///{data_dir / 'hawker.db'}"
            redis_url = None
        else:
            db_url = stack.enter_context(postgres_database())
            redis_url = stack.enter_context(redis_database())
            env["HAWKER_REDIS_URL"] = redis_url
            # Pub/sub channels are server-wide: a namespace of its own keeps this run's rooms
            # apart from anything else on the same Redis server.
            env["HAWKER_REDIS_NAMESPACE"] = NAMESPACE
        env["HAWKER_DATABASE_URL"] = db_url
        peer_url = None
        if not args.no_peer:
            peer_url = db_url if not args.embedded else stack.enter_context(postgres_database())
        print(
            f"database: {'SQLite' if args.embedded else 'PostgreSQL'}, gate: "
            f"{'in-process' if args.embedded else 'Redis'}, workers: {args.workers}",
            flush=True,
        )
        upgrade(db_url)
        server = start_server(env, free_port(), args.workers, data_dir)
        stack.callback(server.stop)
        sale = seed_show(server.base, args.units)
        started = time.perf_counter()
        tokens = (
            seed_buyers_sqlite(db_url.removeprefix("sqlite:///"), args.buyers)
            if args.embedded
            else seed_buyers_postgres(db_url, args.buyers)
        )
        print(
            f"seeded {args.buyers:,} buyers in {time.perf_counter() - started:.1f}s; "
            f"show {sale.show_id}, deal {sale.deal_id} of {args.units:,} units, "
            f"1 per buyer",
            flush=True,
        )
        try:
            ours, theirs = uvloop.run(drive(args, server, sale, tokens, peer_url))
        except BaseException:
            print(f"the server's log ends:\n{server.log.read_text()[-4000:]}", file=sys.stderr)
            raise
        time.sleep(0.5)  # the last "N left" tick
        ledger = ledger_figures(db_url, sale, args.embedded)
        gate = gate_figures(redis_url, server.base, sale, args.units)

    gate_taken = gate.get("sold_and_held", gate.get("sold", 0) + gate.get("held", 0))
    figures: dict[str, Any] = {
        "backend": "sqlite+memory" if args.embedded else "postgresql+redis",
        "workers": args.workers,
        "buyers": args.buyers,
        "units": args.units,
        "connections": args.connections,
        "attempts": ours.attempts,
        "attempts_per_s": round(ours.attempts / ours.elapsed),
        "p50_ms": round(percentile(ours.latencies, 0.50), 1),
        "p99_ms": round(percentile(ours.latencies, 0.99), 1),
        "sellout_s": round(ours.sold_out_at, 2) if ours.sold_out_at is not None else None,
        "run_s": round(ours.elapsed, 2),
        # CPU per attempt, of the server's processes and of the load generator: the figure
        # that does not depend on what else the machine was doing.
        "server_cpu_us_per_attempt": round(ours.server_cpu_s / max(ours.attempts, 1) * 1e6),
        "load_cpu_us_per_attempt": round(ours.load_cpu_s / max(ours.attempts, 1) * 1e6),
        "sold": ledger["sold"],
        "answered_201": ours.sold,
        "oversold": max(0, ledger["sold"] - args.units, gate_taken - args.units),
        "duplicates": ledger["duplicate_buyers"] + ledger["duplicate_keys"],
        "ledger_matches_gate": ledger["sold"] == gate_taken
        and gate.get("left", 0) == args.units - gate_taken,
        "statuses": {str(k): v for k, v in sorted(ours.statuses.items())},
        "errors": ours.codes,
    }
    if theirs is not None:
        figures.update(
            peer_attempts=theirs.attempts,
            peer_sold=theirs.sold,
            peer_attempts_per_s=round(theirs.attempts / theirs.elapsed),
            peer_p50_ms=round(percentile(theirs.latencies, 0.50), 1),
            peer_p99_ms=round(percentile(theirs.latencies, 0.99), 1),
            peer_sellout_s=round(theirs.sold_out_at, 2) if theirs.sold_out_at else None,
            ratio_vs_row_lock=round(
                (ours.attempts / ours.elapsed) / (theirs.attempts / theirs.elapsed), 1
            ),
        )
    else:
        figures["ratio_vs_row_lock"] = None
    return figures


def report(f: dict[str, Any]) -> None:
    print()
    print(
        f"The lipstick run ({f['backend']}, {f['workers']} worker(s), "
        f"{f['connections']} connections)"
    )
    print(f"  buy attempts per second   {f['attempts_per_s']:>10,}")
    print(f"  latency p50 / p99         {f['p50_ms']:>7} ms / {f['p99_ms']} ms")
    print(f"  seconds to sell out       {f['sellout_s']!s:>10}")
    print(
        f"  CPU per attempt           {f['server_cpu_us_per_attempt']:>7} µs server,"
        f" {f['load_cpu_us_per_attempt']} µs load generator"
    )
    print(f"  units sold                {f['sold']:>10,} of {f['units']:,}")
    print(f"  oversold                  {f['oversold']:>10}")
    print(f"  duplicate orders          {f['duplicates']:>10}")
    print(f"  ledger and gate agree     {f['ledger_matches_gate']!s:>10}")
    if f.get("peer_attempts_per_s"):
        print(
            f"  row-lock peer             {f['peer_attempts_per_s']:>10,} attempts/s"
            f" (p99 {f['peer_p99_ms']} ms, sold out in {f['peer_sellout_s']} s)"
        )
        print(f"  ratio to the peer         {f['ratio_vs_row_lock']:>10}x")


if __name__ == "__main__":
    result = main()
    report(result)
    print(json.dumps(result))
    sys.exit(0 if result["oversold"] == 0 and result["duplicates"] == 0 else 1)
