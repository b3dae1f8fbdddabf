"""The `hawker` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import signal
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.logging import RichHandler
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hawker.config import Settings

if TYPE_CHECKING:
    import uvicorn

    from hawker.audience import Audience, Stats
    from hawker.demo import DemoWorld

app = typer.Typer(
    help="Hawker: self-hosted live shopping. "
    "Run [bold]hawker demo[/bold] for a show in full swing.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console(highlight=False)
DEMO_AUDIENCE = "demo-audience.json"  # the simulated viewers' tokens, kept between runs


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


def _logging(level: int = logging.INFO, *, quiet: bool = False) -> None:
    """Log through rich, on the console the command draws on, so the two never tangle."""
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        force=True,
        handlers=[RichHandler(console=console, show_path=False, rich_tracebacks=True)],
    )
    if quiet:
        # The command prints what matters itself; startup chatter and access lines would bury it.
        for name in ("uvicorn.error", "uvicorn.access", "alembic", "httpx", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _fail(message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/bold red] {message}")
    return typer.Exit(code)


def _migrate(settings: Settings) -> None:
    from hawker.store.migrate import upgrade

    with console.status(f"Upgrading the database ({_safe_url(settings.db_url)})…"):
        upgrade(settings.db_url)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- running the server --------------------------------------------------------------------


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # Windows: the default loop
        return None
    return uvloop.new_event_loop


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    except KeyboardInterrupt:  # before the command took over Ctrl-C (or a second one)
        console.print("stopped")
        raise typer.Exit(130) from None


class _Stopper:
    """Ctrl-C and SIGTERM ask for a clean stop; a second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.count = 0
        self.on_force: list[Callable[[], None]] = []

    def __enter__(self) -> _Stopper:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(sig, self.trigger)
        return self

    def __exit__(self, *_: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)

    def trigger(self) -> None:
        self.count += 1
        self.event.set()
        if self.count > 1:
            for force in self.on_force:
                force()


def _make_server(settings: Settings, **overrides: object) -> uvicorn.Server:
    import uvicorn

    from hawker.web.server import config

    class Server(uvicorn.Server):
        # The command owns Ctrl-C: it stops the audience before the server, and uvicorn's
        # habit of re-raising the signal afterwards would end in a KeyboardInterrupt traceback.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config(settings, **overrides))


async def _start(server: uvicorn.Server) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # uvicorn logged why; re-raise it
            raise typer.Exit(1)
        await asyncio.sleep(0.05)
    return task


def _bound_port(server: uvicorn.Server, default: int) -> int:
    for listener in getattr(server, "servers", []):
        for sock in listener.sockets or ():
            return int(sock.getsockname()[1])
    return default


def _port_free(host: str, port: int) -> bool:
    if port == 0:
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _local_host(host: str) -> str:
    """Where a browser on this machine reaches a server listening on `host`."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


# -- migrate, serve, create-admin -------------------------------------------------------------


@app.command()
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="Defaults to HAWKER_DATABASE_URL, or SQLite in the data dir.")
    ] = None,
) -> None:
    """Create or upgrade the database schema to the latest version."""
    _logging(quiet=True)
    settings = _settings(database_url=database_url)
    _migrate(settings)
    console.print(f"database is up to date: {_safe_url(settings.db_url)}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (HAWKER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HAWKER_PORT).")] = None,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema first.")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port; more than one needs HAWKER_REDIS_URL "
            "(the bus and the stock gate are then shared through Redis).",
        ),
    ] = 1,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Run the server until Ctrl-C. Settings come from HAWKER_* variables (or .env)."""
    settings = _settings(host=host, port=port)
    if workers > 1 and not settings.redis_url:
        raise _fail("several workers share stock and events through Redis: set HAWKER_REDIS_URL")
    if migrate_first:
        _logging(quiet=True)
        _migrate(settings)
    _logging()
    if not access_log:
        # A line per request costs more than a buy itself in a flash sale.
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    if not _port_free(settings.host, settings.port):
        raise _fail(f"{settings.host}:{settings.port} is in use; pick another with --port")
    if workers > 1:
        from hawker.web.server import run_workers

        run_workers(settings, workers, access_log=access_log)
        return

    async def main() -> None:
        server = _make_server(settings, access_log=access_log)
        with _Stopper() as stopper:
            stopper.on_force.append(lambda: setattr(server, "force_exit", True))
            task = await _start(server)
            await asyncio.wait(
                [task, asyncio.create_task(stopper.event.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            server.should_exit = True
            await task

    _run(main)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True, help="The admin's email; used to sign in.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="At least 8 characters. Asked for when left out, "
            "so it stays out of shell history.",
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "Admin",
) -> None:
    """Create an admin account, the first one included (no API can make an admin).

    If an account with that email exists, it becomes an admin, provided the password is its own.
    """
    from hawker.domain.errors import DomainError

    _logging(quiet=True)
    settings = _settings()
    _migrate(settings)

    async def main() -> str:
        from hawker.domain.errors import Conflict
        from hawker.domain.roles import Actor
        from hawker.services import accounts, context

        ctx = context.build_context(settings)
        try:
            try:
                user = await accounts.do_signup(
                    ctx, email=email, password=password, display_name=name, admin=True
                )
                return f"created admin {user.email} (user {user.id})"
            except Conflict:
                signin = await accounts.do_signin(ctx, email=email, password=password, kind="token")
                await accounts.do_signout(ctx, signin.token)
                # The person at this shell runs the server: they stand in for an admin here.
                operator = Actor(user_id=signin.user.id, is_admin=True)
                user = await accounts.do_grant_roles(
                    ctx, operator, signin.user.id, host=None, admin=True
                )
                return f"{user.email} (user {user.id}) is now an admin"
        finally:
            await context.stop(ctx)

    try:
        message = asyncio.run(main())
    except DomainError as exc:
        hint = (
            " (the account exists; give its own password)" if exc.code == "bad_credentials" else ""
        )
        raise _fail(exc.message + hint) from None
    console.print(f"[green]✓[/green] {message}")


# -- rates ----------------------------------------------------------------------------------

rates_app = typer.Typer(help="Exchange rates between currencies.", no_args_is_help=True)
app.add_typer(rates_app, name="rates")


@rates_app.command("set")
def set_rate(
    base: Annotated[str, typer.Argument(help="The currency converted from, e.g. CNY.")],
    quote: Annotated[str, typer.Argument(help="The currency converted to, e.g. USD.")],
    rate: Annotated[str, typer.Argument(help="What 1 BASE is worth in QUOTE, e.g. 0.1380.")],
) -> None:
    """Set the rate from BASE to QUOTE, in force from now on. Listings priced before keep
    the rate they were priced at."""
    from hawker.domain.errors import DomainError

    _logging(quiet=True)
    settings = _settings()
    _migrate(settings)

    async def main() -> dict[str, object]:
        from hawker.services import context, rates

        ctx = context.build_context(settings)
        try:
            return await rates.do_set_rate(ctx, None, base, quote, rate)
        finally:
            await context.stop(ctx)

    try:
        row = asyncio.run(main())
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(f"[green]✓[/green] 1 {row['base']} = {row['rate']} {row['quote']} from now on")


# -- demo -----------------------------------------------------------------------------------


def _reset(settings: Settings) -> None:
    from sqlalchemy.engine import make_url

    from hawker import demo
    from hawker.store.db import is_sqlite

    if not is_sqlite(settings.db_url):
        raise _fail(
            f"--reset only wipes the embedded SQLite database; {_safe_url(settings.db_url)} "
            "is yours to drop"
        )
    database = make_url(settings.db_url).database
    if database and database != ":memory:":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(database + suffix).unlink(missing_ok=True)
    shutil.rmtree(settings.media_dir / demo.MEDIA, ignore_errors=True)
    (settings.data_dir / DEMO_AUDIENCE).unlink(missing_ok=True)  # sessions of the old database
    console.print(f"[yellow]wiped[/yellow] {database}")


def _welcome(world: DemoWorld, base: str, *, audience: str) -> Panel:
    links = Table.grid(padding=(0, 2))
    links.add_column(style="bold")
    links.add_column()
    for label, path in (
        ("Watch the show", f"/shows/{world.show_id}"),
        ("Host console", f"/shows/{world.show_id}/console"),
        ("Studio", "/studio"),
        ("Merchant", "/merchant"),
        ("Home", "/"),
        ("API docs", "/docs"),
    ):
        links.add_row(label, f"[link={base}{path}]{base}{path}[/link]")
    logins = Table(box=None, padding=(0, 2), show_edge=False)
    for column in ("who", "email", "password", "sees"):
        logins.add_column(column, style="bold" if column == "email" else None)
    sees = {
        "host": "console, studio",
        "moderator": "chat moderation",
        "merchant": "the catalog",
        "admin": "everything",
    }
    for login in world.logins:
        logins.add_row(login.role, login.email, login.password, sees.get(login.role, ""))
    made = ", ".join(world.created) if world.created else "reused the existing demo data"
    return Panel(
        Group(
            Text.from_markup(
                f"[bold]Silk & Crown is on air[/bold]: {world.listings} items on the shelf "
                f"(12 wigs as #1–#12, then lipsticks), "
                f"{len(world.scheduled_show_ids)} shows coming up."
            ),
            Text(""),
            links,
            Text(""),
            logins,
            Text(""),
            Text.from_markup(f"[dim]{made}[/dim]"),
            Text.from_markup(f"{audience}  [bold]Ctrl-C[/bold] stops the demo."),
        ),
        title="[bold magenta]hawker demo[/bold magenta]",
        border_style="magenta",
        expand=False,
    )


def _status_line(stats: Stats | None) -> Text:
    if stats is None:
        return Text.from_markup("[bold red]●[/bold red] on air · no simulated audience")
    pinned = f"#{stats.pinned_number}" if stats.pinned_number else "nothing"
    errors = f" · [yellow]{stats.error_total} refused[/yellow]" if stats.error_total else ""
    return Text.from_markup(
        f"[bold red]●[/bold red] on air · [bold]{stats.server_viewers}[/bold] watching · "
        f"{stats.messages_sent} chat lines ({stats.requests_sent} asking by number) · "
        f"{stats.likes_sent} likes · {stats.orders} orders · pinned {pinned} · "
        f"{stats.pins} {'pin' if stats.pins == 1 else 'pins'}{errors}"
    )


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Address to listen on (HAWKER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HAWKER_PORT, default 8000).")] = None,
    viewers: Annotated[
        int, typer.Option(min=1, max=500, help="Most simulated viewers at once; they come and go.")
    ] = 40,
    chat_rate: Annotated[
        float, typer.Option(min=0.0, max=50.0, help="Chat lines per second, across the audience.")
    ] = 1.0,
    no_audience: Annotated[
        bool, typer.Option("--no-audience", help="No simulated viewers or host: a quiet room.")
    ] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Wipe the demo database (SQLite) and start afresh.")
    ] = False,
) -> None:
    """A live shop in full swing, on this machine, in one command.

    Upgrades the database (SQLite in ./var unless HAWKER_DATABASE_URL says otherwise), fills
    it with a demo brand (12 wigs, a 36-shade lipstick line), staff accounts and a show on air,
    starts the server, and brings in a simulated audience that joins over WebSockets, chats,
    asks for items by number and likes, while a simulated host pins a new item every half
    minute. Safe to run again: it reuses what it made. Ctrl-C stops it.
    """
    from hawker import demo as demo_data
    from hawker.domain.errors import DomainError

    _logging(quiet=True)
    settings = _settings(host=host, port=port)
    if not _port_free(settings.host, settings.port):
        raise _fail(
            f"{settings.host}:{settings.port} is in use; "
            f"try [bold]hawker demo --port {settings.port + 1}[/bold]"
        )
    if reset:
        _reset(settings)
    _migrate(settings)

    async def main() -> None:
        from hawker.audience import AccountPool, Audience, AudienceError

        with _Stopper() as stopper:
            try:
                with console.status("Setting up the shop: brand, 14 products, accounts, shows…"):
                    world = await demo_data.seed(settings)
            except DomainError as exc:
                # e.g. a demo account whose password was changed: the data is not ours to fix.
                raise _fail(
                    f"could not set up the demo: {exc.message}. "
                    "[bold]hawker demo --reset[/bold] starts afresh."
                ) from None
            if stopper.event.is_set():
                return
            server = _make_server(settings, log_config=None, log_level="warning", access_log=False)
            stopper.on_force.append(lambda: setattr(server, "force_exit", True))
            with console.status("Starting the server…"):
                served = await _start(server)
            port_now = _bound_port(server, settings.port)
            local = f"http://{_local_host(settings.host)}:{port_now}"
            base = (settings.public_url or local).rstrip("/")
            audience: Audience | None = None
            if no_audience:
                note = "No simulated audience (--no-audience)."
            else:
                audience = Audience(
                    local,
                    world.show_id,
                    viewers=viewers,
                    chat_rate=chat_rate,
                    churn=True,
                    ramp_s=min(30.0, viewers * 0.75),
                    accounts=AccountPool.stable(
                        random.Random(), store=settings.data_dir / DEMO_AUDIENCE
                    ),
                    host=(demo_data.HOST.email, demo_data.HOST.password),
                    # A sale now and then: the ticker moves and the host's figures grow.
                    buy_rate=0.05,
                )
                lines = "chat line" if chat_rate == 1 else "chat lines"
                note = f"Up to {viewers} simulated viewers, about {chat_rate:g} {lines} a second."
            console.print(_welcome(world, base, audience=note))
            crowd = asyncio.create_task(audience.run()) if audience else None
            await _show_progress(stopper, served, crowd, audience)
            console.print("[dim]stopping…[/dim]")
            if audience is not None and crowd is not None:
                audience.request_stop()
                with contextlib.suppress(AudienceError):
                    await crowd
            server.should_exit = True
            await served
        if audience is not None:
            stats = audience.stats
            console.print(
                f"Stopped. The audience sent {stats.messages_sent} chat lines "
                f"({stats.requests_sent} asking by number) and {stats.likes_sent} likes; "
                f"the host pinned {stats.pins} {'item' if stats.pins == 1 else 'items'}."
            )
        else:
            console.print("Stopped.")

    _run(main)


async def _show_progress(
    stopper: _Stopper,
    served: asyncio.Task[None],
    crowd: asyncio.Task[Any] | None,
    audience: Audience | None,
) -> None:
    """Keep a one-line status under the welcome until Ctrl-C (or the server stops)."""
    from rich.live import Live

    stop = asyncio.create_task(stopper.event.wait())
    waiting: set[asyncio.Future[Any]] = {stop, served}
    if crowd is not None:
        waiting.add(crowd)
    every = 1.0 if console.is_terminal else 30.0
    with Live(
        _status_line(audience.stats if audience else None),
        console=console,
        refresh_per_second=1,
        transient=True,
        auto_refresh=console.is_terminal,
    ) as live:
        while True:
            done, _ = await asyncio.wait(
                waiting, timeout=every, return_when=asyncio.FIRST_COMPLETED
            )
            line = _status_line(audience.stats if audience else None)
            if console.is_terminal:
                live.update(line)
            elif not done:
                console.print(line)
            if crowd is not None and crowd in done:
                waiting.discard(crowd)
                reason = (audience.fatal or audience.ended) if audience else None
                console.print(
                    f"[yellow]The audience went home[/yellow]: {reason or 'it stopped'}. "
                    "Run [bold]hawker demo[/bold] again for a new show."
                )
                crowd = None
            if stop in done or served in done:
                break
    stop.cancel()


# -- rehearse ----------------------------------------------------------------------------------


def _figures(stats: Stats, *, duration: float | None = None) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows: list[tuple[str, object]] = [
        ("viewers connected", f"{stats.connected} (peak {stats.peak})"),
        ("viewers the room counts", stats.server_viewers),
        ("signed up", stats.signed_up),
        ("chat lines sent", f"{stats.messages_sent} ({stats.requests_sent} asking by number)"),
        ("likes sent", stats.likes_sent),
        ("orders", f"{stats.orders} ({stats.paid} paid, {stats.refused} refused)"),
        ("events received", f"{stats.events_received} ({stats.chat_received} chat)"),
        ("pinned now", f"#{stats.pinned_number}" if stats.pinned_number else "nothing"),
        ("errors", stats.error_total),
    ]
    if duration is not None:
        rows.insert(0, ("ran for", f"{duration:.0f} s"))
    for label, value in rows:
        table.add_row(label, str(value))
    for code, count in stats.errors.most_common():
        table.add_row(f"  {code}", f"[yellow]{count}[/yellow]")
    return table


@app.command()
def rehearse(
    show: Annotated[int, typer.Option("--show", help="The show's id (see /api/v1/shows).")],
    url: Annotated[str, typer.Option(help="The server to rehearse on.")] = "http://127.0.0.1:8000",
    viewers: Annotated[int, typer.Option(min=1, max=2000, help="Viewers at once.")] = 20,
    chat_rate: Annotated[
        float, typer.Option(min=0.0, max=200.0, help="Chat lines per second, across the audience.")
    ] = 1.0,
    duration: Annotated[float, typer.Option(min=1.0, help="Seconds to run.")] = 60.0,
    churn: Annotated[
        bool, typer.Option("--churn/--no-churn", help="Let viewers come and go instead of staying.")
    ] = False,
    buy_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=100.0,
            help="Purchases per second, across the audience (paid with the sandbox test card).",
        ),
    ] = 0.0,
) -> None:
    """Bring a simulated audience to a show on any running Hawker server.

    Signs up throwaway viewers through the API, connects them to the show's room over
    WebSockets, and has them chat, ask for items by number and like, so a host can practise
    with a busy chat. Shows live figures while it runs and a report at the end; Ctrl-C ends
    it early.

    Example: [bold]hawker rehearse --url http://127.0.0.1:8000 --show 1 --viewers 30[/bold]
    """
    import httpx

    from hawker.audience import AccountPool, Audience, AudienceError

    _logging(logging.WARNING)
    base = url.rstrip("/")
    try:
        r = httpx.get(f"{base}/api/v1/shows/{show}", timeout=10, trust_env=False)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {base}: {exc}") from None
    if r.status_code == 404:
        raise _fail(f"there is no show {show} at {base}")
    if r.status_code != 200:
        raise _fail(f"{base} answered {r.status_code} for show {show}")
    info = r.json()
    if info.get("status") == "ended":
        raise _fail(f"show {show} has ended; its chat is closed")
    if info.get("status") != "live":
        console.print(
            f"[yellow]note:[/yellow] show {show} is {info.get('status')}, not live: "
            "likes will be refused"
        )
    console.print(
        f"Rehearsing [bold]{info.get('title', show)}[/bold] at {base}: {viewers} viewers, "
        f"{chat_rate:g} chat lines a second, {duration:g} s."
    )
    audience = Audience(
        base,
        show,
        viewers=viewers,
        chat_rate=chat_rate,
        churn=churn,
        ramp_s=min(30.0, viewers * 0.2),
        accounts=AccountPool.throwaway(random.Random()),
        buy_rate=buy_rate,
    )
    outcome: dict[str, Any] = {}

    async def main() -> None:
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        progress = Progress(
            TextColumn("[bold]rehearsal[/bold]"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=console,
        )
        bar = progress.add_task("rehearsal", total=duration)
        started = time.monotonic()
        with _Stopper() as stopper:
            stopper.on_force.append(audience.request_stop)
            crowd = asyncio.create_task(audience.run(duration))
            stop = asyncio.create_task(stopper.event.wait())
            with Live(
                Group(progress, _figures(audience.stats)),
                console=console,
                refresh_per_second=4,
                transient=True,
            ) as live:
                while not crowd.done():
                    done, _ = await asyncio.wait(
                        {crowd, stop}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED
                    )
                    if stop in done:
                        audience.request_stop()
                    progress.update(bar, completed=min(duration, time.monotonic() - started))
                    live.update(Group(progress, _figures(audience.stats)))
            stop.cancel()
            try:
                await crowd
            except AudienceError as exc:
                outcome["fatal"] = str(exc)
            outcome["elapsed"] = time.monotonic() - started

    _run(main)
    console.print(
        Panel(
            _figures(audience.stats, duration=outcome.get("elapsed")),
            title="rehearsal report",
            expand=False,
        )
    )
    if "fatal" in outcome:
        raise _fail(outcome["fatal"])


def main() -> None:
    app()
