"""The pages in English and Chinese over real HTTP: the `lang` cookie of the top bar's
switcher, the browser's Accept-Language, money and dates per language, and English for
everything else."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.harness import LiveServer, Person, SignIn, World
from tests.integration.test_business import product
from tests.integration.test_pages_checkout import HOSTILE, _order, _selling

ESCAPED = "Ruby &lt;b&gt;Riot&lt;/b&gt;"
SCRIPT_CATALOG = re.compile(r'<script type="application/json" id="hawker-text">.*?</script>', re.S)
ZH_ACCEPT = "zh-CN,zh;q=0.9,en;q=0.8"
# A start a month ahead, at 05:06 UTC.
START = (datetime.now(UTC) + timedelta(days=30)).replace(hour=5, minute=6, second=0, microsecond=0)
WEEKDAYS_ZH = "一二三四五六日"


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=15, follow_redirects=False) as client:
        yield client


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


def test_money_dates_and_statuses_per_language(world: World, signed_in: SignIn) -> None:
    _, _, show, listing, _ = _selling(world)
    buyer, order = _order(world, show, listing, pay=False)
    b = signed_in(buyer)
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


# Agency, brand and product names a person typed: text in every page, never markup.
NAMED = "<b>Riot</b>"
NAMED_ESCAPED = "&lt;b&gt;Riot&lt;/b&gt;"


@dataclass
class Trade:
    """An agency with its host, a brand with one product, an active contract between them,
    a show booked under it and on air, a closed settlement and a running competition."""

    host: Person
    agent: Person
    merchant: Person
    paths: dict[str, str]


@pytest.fixture(scope="module")
def trade(server: LiveServer) -> Trade:
    world = World(server)
    agent = world.person("Agent")
    r = agent.post("/agencies", json={"name": f"MCN {NAMED} {uuid.uuid4().hex[:6]}"})
    assert r.status_code == 201, r.text
    agency = r.json()
    host = world.person("Host", host=True)
    invited = agent.post(f"/agencies/{agency['id']}/invitations", json={"email": host.email})
    assert host.post(f"/invitations/{invited.json()['id']}/accept").status_code == 200
    merchant = world.person("Merchant")
    brand = merchant.post("/brands", json={"name": f"Brand {NAMED} {uuid.uuid4().hex[:6]}"})
    assert brand.status_code == 201, brand.text
    brand_id = brand.json()["id"]
    lipstick = product(merchant, brand_id, f"Lipstick {NAMED}", "lips", "19.99")
    now = datetime.now(UTC)
    contract = merchant.post(
        "/contracts",
        json={
            "brand_id": brand_id,
            "agency_id": agency["id"],
            "product_ids": [lipstick],
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "rates": [{"host_share": "10", "agency_share": "5"}],
        },
    ).json()
    assert agent.post(f"/contracts/{contract['id']}/accept").status_code == 200
    r = agent.post(
        "/shows",
        json={
            "title": "Lipstick hour",
            "host_id": host.id,
            "contract_id": contract["id"],
            "scheduled_at": (now + timedelta(minutes=5)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    show = r.json()
    assert (
        agent.post(f"/shows/{show['id']}/shelf", json={"product_id": lipstick}).status_code == 201
    )
    assert host.post(f"/shows/{show['id']}/live").status_code == 200
    settled = merchant.post(f"/brands/{brand_id}/settlements", json={})
    assert settled.status_code == 201, settled.text
    contest = agent.post(
        "/competitions",
        json={
            "title": "Spring sprint",
            "agency_id": agency["id"],
            "entrant_kind": "host",
            "entrant_ids": [host.id],
            "metric": "gmv",
            "currency": "USD",
            "starts_at": (now - timedelta(minutes=1)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
    )
    assert contest.status_code == 201, contest.text
    a, b, s = agency["id"], brand_id, show["id"]
    paths = {
        "desk": "/business",
        "agency": f"/business/agencies/{a}",
        "brand": f"/business/brands/{b}",
        "contract": f"/business/contracts/{contract['id']}",
        "contests": "/business/competitions",
        "settlements": f"/business/agency/{a}/settlements",
        "settlement": f"/settlements/{settled.json()['id']}",
        "merchant": "/merchant",
        "merchant_brand": f"/merchant/brands/{b}",
        "merchant_orders": f"/merchant/brands/{b}/orders",
        "merchant_product": f"/merchant/products/{lipstick}",
        "calendars": "/calendar",
        "calendar": f"/agencies/{a}/calendar",
        "report": f"/shows/{s}/report",
        "dashboard": f"/dashboards/agency/{a}",
        "competitions": "/competitions",
        "competition": f"/competitions/{contest.json()['id']}",
        "studio": "/studio",
        "studio_show": f"/studio/shows/{s}",
        "console": f"/shows/{s}/console",
    }
    return Trade(host=host, agent=agent, merchant=merchant, paths=paths)


# Per page: who may see it, Chinese it shows, and English headings it no longer shows.
IN_CHINESE: dict[str, tuple[str, list[str], list[str]]] = {
    "desk": ("agent", ["商务", "创建机构", "比赛与 PK"], ["Start an agency", "Agencies"]),
    "agency": ("agent", ["邀请主播", "与品牌的合同"], ["Invite a host", "Invitations"]),
    "brand": ("merchant", ["发出合同", "全部商品"], ["Offer a contract", "All products"]),
    "contract": ("agent", ["佣金", "在此合同下安排直播", "生效中"], ["Commission", "Book show"]),
    "contests": ("agent", ["新建比赛", "发起 PK"], ["New competition", "Start a battle"]),
    "settlements": ("agent", ["待结算", "关闭结算"], ["Not yet settled", "Close a settlement"]),
    "settlement": (
        "merchant",
        ["结算 #", "此周期没有需要结算的内容。"],
        ["Totals", "Download CSV"],
    ),
    "merchant": ("merchant", ["创建品牌", "价格单位 USD"], ["Create a brand", "Prices in"]),
    "merchant_brand": ("merchant", ["添加商品", "初始规格"], ["Add product", "First variants"]),
    "merchant_orders": ("merchant", ["还没有订单。", "0 笔已付款"], ["No orders yet", " paid<"]),
    "merchant_product": ("merchant", ["添加规格", "保存详情"], ["Add a variant", "Save details"]),
    "calendars": ("agent", ["日历", "机构"], ["Calendars", ">agency<"]),
    "calendar": ("agent", ["更早", "时间为 UTC"], ["Earlier", "times in UTC"]),
    "report": ("host", ["观众峰值", "热销商品"], ["Peak viewers", "Top items"]),
    "dashboard": (
        "agent",
        ["各场直播对比", "下载 CSV", ">显示</button>", ">开播时间</th>"],
        ["Across shows", "Download CSV"],
    ),
    "competitions": ("agent", ["销售比赛", "排名依据"], ["Sales competitions", "Ranked by"]),
    "competition": ("agent", ["净成交额", "获胜者"], ["Net GMV", "Ranked by"]),
    "studio": ("host", ["直播中", "开始时间"], ["On air", "Starts at"]),
    "studio_show": ("host", ["添加商品", "打开控制台"], ["Add products", "Open console"]),
    "console": ("host", ["屏蔽词", "控制"], ["Banned words", "Use current frame as cover"]),
}


@pytest.mark.parametrize("name", sorted(IN_CHINESE))
def test_every_operator_page_reads_in_chinese(name: str, trade: Trade, signed_in: SignIn) -> None:
    who, chinese, english = IN_CHINESE[name]
    b = signed_in(getattr(trade, who))
    path = trade.paths[name]
    assert english[0] in b.get(path).text, "the English page says it"
    b.http.cookies.set("lang", "zh")
    page = b.get(path)
    assert page.status_code == 200, (name, page.text[:300])
    assert '<html lang="zh-CN">' in page.text
    for words in chinese:
        assert words in page.text, (name, words)
    # The scripts' catalog is keyed by their English messages; the rest of the page is not.
    shown = SCRIPT_CATALOG.sub("", page.text)
    assert SCRIPT_CATALOG.search(page.text), "the page carries its scripts' catalog"
    for words in english:
        assert words not in shown, (name, words)
    # What people typed (agency, brand and product names) stays text in Chinese.
    assert "<b>Riot</b>" not in page.text, name
    if name in ("desk", "agency", "brand", "contract", "merchant", "merchant_brand"):
        assert NAMED_ESCAPED in page.text, name
