"""The migrations build, from an empty database, exactly the schema the models describe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hawker.store.db import sync_engine
from hawker.store.migrate import upgrade
from hawker.store.tables import Base
from tests.harness import database

KINDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=KINDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def test_migrations_match_the_models(empty_db: str) -> None:
    upgrade(empty_db)
    engine = sync_engine(empty_db)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= set(Base.metadata.tables)
            context = MigrationContext.configure(
                conn,
                opts={"compare_type": True, "render_as_batch": conn.dialect.name == "sqlite"},
            )
            assert context.get_current_revision() is not None
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(empty_db: str) -> None:
    upgrade(empty_db)
    upgrade(empty_db)
    engine = sync_engine(empty_db)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
