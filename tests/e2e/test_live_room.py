"""A host and a viewer in two browsers: pin, ask by number, and hostile chat shown as text."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import PHONE, open_page, sign_in
from tests.harness import World

pytestmark = pytest.mark.browser

HOSTILE = "<script>window.__pwned=1</script><b>bold</b>"


def test_pin_request_and_escaping_between_console_and_viewer(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=4)
    viewer = world.person("Viewer")
    base = world.server.base_url
    show_path = f"/shows/{show['id']}"

    host_ctx, console, console_errors = open_page(browser, viewport={"width": 1280, "height": 860})
    viewer_ctx, room, room_errors = open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True
    )
    try:
        sign_in(console, base, host, f"{show_path}/console")
        sign_in(room, base, viewer, show_path)
        expect(room.locator('[data-testid="shelf-item-3"]')).to_contain_text(
            shelf[2]["product"]["title"]
        )
        expect(room.locator('[data-testid="pinned"]')).to_be_hidden()

        console.click('[data-testid="pin-3"]')
        pinned = room.locator('[data-testid="pinned"]')
        expect(pinned).to_be_visible()
        expect(pinned).to_contain_text("#3")
        expect(pinned).to_contain_text(shelf[2]["product"]["title"])

        room.fill('[data-testid="chat-input"]', "#3 please")
        room.click('[data-testid="chat-send"]')
        expect(console.locator('[data-testid="requests-3"]')).to_contain_text("1")
        asked = console.locator('[data-testid="chat-message"].request', has_text="#3 please")
        expect(asked).to_have_count(1)
        # The viewer sees the request too, with a link to #3 on the shelf.
        mine = room.locator('[data-testid="chat-message"].request', has_text="#3 please")
        expect(mine).to_have_count(1)
        expect(room.locator('[data-testid="requests-3"]')).to_have_text("1 asked")
        mine.locator('[data-testid="request-link"]').click()
        expect(room.locator('[data-testid="shelf-item-3"]')).to_be_in_viewport()
        room.click("#sheet-close")

        room.fill('[data-testid="chat-input"]', HOSTILE)
        room.click('[data-testid="chat-send"]')
        for page in (room, console):
            shown = page.locator('[data-testid="chat-message"]', has_text="window.__pwned")
            expect(shown).to_have_count(1)
            expect(shown).to_contain_text(HOSTILE)
            assert shown.locator("b, script").count() == 0
            assert page.evaluate("typeof window.__pwned") == "undefined"
        assert room_errors == []
        assert console_errors == []
    finally:
        host_ctx.close()
        viewer_ctx.close()


def test_anonymous_viewer_watches_but_must_sign_in_to_chat(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=3)
    r = host.put(f"/shows/{show['id']}/pin", json={"listing_id": shelf[0]["id"]})
    assert r.status_code == 200, r.text
    context, page, errors = open_page(browser, viewport=PHONE)
    try:
        page.goto(f"{world.server.base_url}/shows/{show['id']}")
        expect(page.locator('[data-testid="pinned"]')).to_contain_text("#1")
        expect(page.locator('[data-testid="viewer-count"]')).to_have_text("1")
        expect(page.locator('[data-testid="chat-input"]')).to_have_count(0)
        page.click('[data-testid="signin-to-chat"]')
        page.wait_for_url(f"**/signin?next=/shows/{show['id']}")

        page.goto(f"{world.server.base_url}/shows/987654")
        expect(page.locator('[data-testid="error-page"]')).to_contain_text("404")
        assert errors == []
    finally:
        context.close()
