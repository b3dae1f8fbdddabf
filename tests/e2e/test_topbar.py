"""The top bar on a phone: signed in as a host (the most links there are), everything in the
bar fits the screen, and the links, who is signed in and "Sign out" are behind the menu
button; on a wide screen they are in the bar itself."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import PHONE, open_page, sign_in
from tests.harness import World

pytestmark = pytest.mark.browser


def _inside(page: Any, selector: str) -> None:
    """Every element `selector` finds lies within the width of the screen."""
    width = page.evaluate("window.innerWidth")
    for element in page.locator(selector).all():
        box = element.bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box, width)


def test_the_top_bar_fits_a_phone_and_its_menu_holds_the_links(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    host = world.person("Evangeline Montgomery-Whitfield", host=True)
    base = world.server.base_url
    context, page, errors = open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True, locale="en-US"
    )
    try:
        sign_in(page, base, host, "/orders")
        sign_out = page.locator('[data-testid="sign-out"]')
        menu = page.locator('[data-testid="menu"]')
        # One line, nothing off the side: the brand, the bell, the language and the menu.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        _inside(page, ".topbar .brand, [data-testid=notifications-link], .lang-switch, #navtoggle")
        expect(sign_out).to_be_hidden()
        expect(menu).to_have_attribute("aria-expanded", "false")

        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        expect(sign_out).to_be_visible()
        expect(page.locator("#navlinks .me")).to_contain_text("Evangeline Montgomery-Whitfield")
        for name in ("Studio", "Merchant", "Business", "My orders", "Calendar"):
            expect(page.locator("#navlinks").get_by_role("link", name=name)).to_be_visible()
        _inside(page, "#navlinks a, #navlinks .me, #navlinks button")
        page.keyboard.press("Escape")
        expect(sign_out).to_be_hidden()

        # Elsewhere the menu closes; from it, signing out works.
        menu.click()
        page.locator("main").click(position={"x": 10, "y": 200})
        expect(sign_out).to_be_hidden()
        menu.click()
        sign_out.click()
        expect(page.locator(".topnav")).to_contain_text("Sign in")

        # A wide screen shows the links in the bar and no menu button.
        sign_in(page, base, host, "/orders")
        page.set_viewport_size({"width": 1280, "height": 800})
        expect(menu).to_be_hidden()
        expect(sign_out).to_be_visible()
        expect(page.locator(".topnav").get_by_role("link", name="My orders")).to_be_visible()
        assert errors == []
    finally:
        context.close()
