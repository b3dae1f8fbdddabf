"""The pages in English and Chinese over real HTTP: the `lang` cookie of the top bar's
switcher, the browser's Accept-Language, money and dates per language, and English for
everything else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.harness import LiveServer, World
from tests.integration.test_pages_checkout import HOSTILE, _order, _selling
from tests.integration.test_pages_studio import Browser, SignIn

ESCAPED = "Ruby &lt;b&gt;Riot&lt;/b&gt;"
ZH_ACCEPT = "zh-CN,zh;q=0.9,en;q=0.8"
# A start a month ahead, at 05:06 UTC.
START = (datetime.now(UTC) + timedelta(days=30)).replace(hour=5, minute=6, second=0, microsecond=0)
WEEKDAYS_ZH = "一二三四五六日"


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=15, follow_redirects=False) as client:
        yield client


@pytest.fixture
def page_as(server: LiveServer) -> Iterator[SignIn]:
    made: list[Browser] = []

    def make(who: Any) -> Browser:
        made.append(Browser(server))
        made[-1].sign_in(who)
        return made[-1]

    yield make
    for b in made:
        b.http.close()


def _scheduled(world: World) -> dict[str, Any]:
    host = world.person("Host", host=True)
    r = host.post("/shows", json={"title": HOSTILE, "scheduled_at": START.isoformat()})
    assert r.status_code == 201, r.text
    show: dict[str, Any] = r.json()
    return show


def test_home_and_show_page_in_chinese_with_the_cookie(world: World, http: httpx.Client) -> None:
    show = _scheduled(world)
    home = http.get("/", headers={"Cookie": "lang=zh"})
    assert home.status_code == 200
    assert '<html lang="zh-CN">' in home.text
    assert "正在直播" in home.text and "即将开播" in home.text and "登录" in home.text
    assert "On air now" not in home.text
    # Dates in Chinese: month, day, then the weekday.
    assert f"{START.month}月{START.day}日周{WEEKDAYS_ZH[START.weekday()]}" in home.text
    assert "05:06 UTC" in home.text
    # The title is still text, never markup, in a Chinese page.
    assert ESCAPED in home.text and "<b>Riot</b>" not in home.text
    # The switcher offers English and marks Chinese as the current one.
    assert 'href="/lang/en?next=/"' in home.text and 'aria-current="true">中文</span>' in home.text

    room = http.get(f"/shows/{show['id']}", headers={"Cookie": "lang=zh"})
    assert room.status_code == 200
    assert "即将开始" in room.text and "预告" in room.text and "登录后聊天" in room.text
    assert ESCAPED in room.text and "<b>Riot</b>" not in room.text


def test_accept_language_picks_chinese_and_the_cookie_wins(
    world: World, http: httpx.Client
) -> None:
    show = _scheduled(world)
    for path in ("/", f"/shows/{show['id']}"):
        page = http.get(path, headers={"Accept-Language": ZH_ACCEPT})
        assert '<html lang="zh-CN">' in page.text and "登录" in page.text, path
    # A browser that prefers English but reads some Chinese gets English.
    page = http.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in page.text and "On air now" in page.text
    # The switcher's choice outranks the browser's.
    page = http.get("/", headers={"Accept-Language": ZH_ACCEPT, "Cookie": "lang=en"})
    assert '<html lang="en">' in page.text and "On air now" in page.text
    assert START.strftime("%a %d %b, 05:06 UTC") in page.text


def test_unknown_languages_fall_back_to_english(world: World, http: httpx.Client) -> None:
    _scheduled(world)
    for headers in (
        {"Cookie": "lang=fr"},
        {"Cookie": "lang=<script>", "Accept-Language": "fr-FR,de;q=0.8"},
        {"Accept-Language": "zh;q=0, *;q=0.5"},
        {"Accept-Language": "garbage;q=abc,,;"},
        {},
    ):
        page = http.get("/", headers=headers)
        assert page.status_code == 200, headers
        assert '<html lang="en">' in page.text and "On air now" in page.text, headers
        assert "<script>" not in page.text.split("<body", 1)[1].split("<script", 1)[0]
    # Asking the switcher for a language there is none of is a page that says so.
    r = http.get("/lang/fr?next=/")
    assert r.status_code == 404 and "set-cookie" not in r.headers
    assert 'data-testid="error-page"' in r.text


def test_the_switcher_sets_the_cookie_and_goes_back(http: httpx.Client) -> None:
    r = http.get("/lang/zh?next=/orders%3Fx%3D1")
    assert r.status_code == 303 and r.headers["location"] == "/orders?x=1"
    assert "lang=zh" in r.headers["set-cookie"] and "Max-Age=31536000" in r.headers["set-cookie"]
    # Only a path on this site: anywhere else goes home.
    r = http.get("/lang/en?next=//evil.example/")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "lang=en" in r.headers["set-cookie"]


def test_money_dates_and_statuses_per_language(world: World, page_as: SignIn) -> None:
    _, _, show, listing, _ = _selling(world)
    buyer, order = _order(world, show, listing, pay=False)
    b = page_as(buyer)
    english = b.get("/orders")
    assert "$20.00" in english.text and "US$" not in english.text
    assert "Awaiting payment" in english.text

    b.http.cookies.set("lang", "zh")
    chinese = b.get("/orders")
    assert chinese.status_code == 200
    # Babel's Chinese writes US dollars as US$ (¥ is the yuan).
    assert "US$20.00" in chinese.text and "待付款" in chinese.text and "我的订单" in chinese.text
    assert f"订单 {order['id']}" in chinese.text
    assert ESCAPED in chinese.text and "<b>Riot</b>" not in chinese.text
    # An error page speaks the reader's language too.
    missing = b.get("/no-such-page")
    assert missing.status_code == 404 and "页面不存在" in missing.text
