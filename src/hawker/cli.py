"""The `hawker` command."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from hawker.config import Settings

app = typer.Typer(
    help="Hawker: self-hosted live shopping. Run `hawker demo` for a show in full swing.",
    no_args_is_help=True,
    add_completion=False,
)


def _settings(**overrides: object) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


@app.command()
def migrate(
    database_url: Annotated[str | None, typer.Option(help="Defaults to HAWKER_DATABASE_URL or SQLite.")] = None,
) -> None:
    """Create or upgrade the database schema to the latest version."""
    from hawker.store.migrate import upgrade

    settings = _settings(database_url=database_url)
    upgrade(settings.db_url)
    typer.echo(f"database is up to date: {settings.db_url}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (HAWKER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HAWKER_PORT).")] = None,
    migrate_first: Annotated[bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema first.")] = True,
) -> None:
    """Run the server."""
    from hawker.web.server import run

    settings = _settings(host=host, port=port)
    if migrate_first:
        from hawker.store.migrate import upgrade

        upgrade(settings.db_url)
    run(settings)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()
