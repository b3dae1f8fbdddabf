"""The language switcher in a real browser: a visitor switches the pages to Chinese from the
top bar, the choice follows them to a show and back, and English returns with one click."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import PHONE, open_page, sign_in
from tests.harness import World

pytestmark = pytest.mark.browser

HOSTILE = "<img src=x onerror=window.__pwned=1>"


def test_switching_to_chinese_and_back(browser: Any, world: World) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    host = world.person("Host", host=True)
    show = host.post("/shows", json={"title": HOSTILE}).json()
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    buyer = world.person("Buyer")
    base = world.server.base_url

    context, page, errors = open_page(
        browser, viewport=PHONE, is_mobile=True, has_touch=True, locale="en-US"
    )
    try:
        page.goto(f"{base}/")
        expect(page.locator("#on-air")).to_have_text("On air now")
        page.click('[data-testid="lang-zh"]')
        page.wait_for_url(f"{base}/")
        expect(page.locator("#on-air")).to_have_text("正在直播")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(page.locator(".topnav")).to_contain_text("注册")

        # The choice stays with the visitor: the show page is Chinese too, title still text.
        page.click('[data-testid="live-show"]')
        page.wait_for_url(f"{base}/shows/{show['id']}")
        expect(page.locator("#sheet h2")).to_contain_text("货架")
        expect(page.locator('[data-testid="signin-to-chat"]')).to_contain_text("登录后聊天")
        expect(page.locator("#show-title")).to_have_text(HOSTILE)
        # What the page's script writes after loading is Chinese too.
        expect(page.locator("#shelf .empty")).to_have_text("货架上还没有商品。")

        # Signing in keeps it; "My orders" is Chinese in the top bar.
        sign_in(page, base, buyer, "/orders")
        expect(page.locator("h1")).to_have_text("我的订单")

        # Back to English with one click, on the same page.
        page.click('[data-testid="lang-en"]')
        page.wait_for_url(f"{base}/orders")
        expect(page.locator("h1")).to_have_text("My orders")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        assert page.evaluate("window.__pwned") is None
        assert errors == []
    finally:
        context.close()
