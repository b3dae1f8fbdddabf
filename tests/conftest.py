from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import (
    Browser,
    LiveServer,
    Person,
    SignIn,
    World,
    database,
    live_server,
    test_settings,
)

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


@pytest.fixture
def signed_in(server: LiveServer) -> Iterator[SignIn]:
    """Page clients signed in with the /signin form, as a browser would be; closed after."""
    made: list[Browser] = []

    def make(who: Person) -> Browser:
        made.append(Browser(server))
        made[-1].sign_in(who)
        return made[-1]

    yield make
    for b in made:
        b.http.close()
