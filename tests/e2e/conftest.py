"""A real Chromium against a real server on SQLite (one per module)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import LiveServer, Person, database, live_server, need_service, test_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Overrides the two-database `server`: what a browser sees does not depend on the database."""
    tmp: Path = tmp_path_factory.mktemp("hawker-e2e")
    with database("sqlite", tmp) as url, live_server(test_settings(url, tmp)) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        need_service("Chromium", f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(page: Any, base_url: str, person: Person, next_path: str) -> None:
    """Sign in through the sign-in form, as a person would, and land on `next_path`."""
    page.goto(f"{base_url}/signin?next={next_path}")
    page.fill("#email", person.email)
    page.fill("#password", person.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")
