from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import LiveServer, World, database, live_server, test_settings

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A real server (uvicorn, real sockets) on SQLite and on PostgreSQL, one per test module."""
    tmp: Path = tmp_path_factory.mktemp(f"hawker-{request.param}")
    with database(request.param, tmp) as url, live_server(test_settings(url, tmp)) as live:
        yield live


@pytest.fixture
def world(server: LiveServer) -> Iterator[World]:
    w = World(server)
    yield w
    w.close()
