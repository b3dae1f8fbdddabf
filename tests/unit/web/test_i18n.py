"""Choosing a page's language, and money and dates in Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from hawker.web import i18n
from hawker.web.pages import money


@pytest.fixture
def chinese() -> Iterator[None]:
    i18n.use("zh")
    yield
    i18n.use("en")


@pytest.mark.parametrize(
    ("cookie", "accept", "lang"),
    [
        ("zh", "en-US", "zh"),
        ("en", "zh-CN", "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en;q=0.9,zh-Hans;q=0.8", "en"),
        (None, "fr, zh;q=0.5", "zh"),
        (None, "zh;q=0", "en"),
        ("xx", "de", "en"),
        (None, ";;,q=,zh;q=nope", "en"),
        (None, None, "en"),
    ],
)
def test_choose(cookie: str | None, accept: str | None, lang: str) -> None:
    assert i18n.choose(cookie, accept) == lang


@pytest.mark.usefixtures("chinese")
def test_money_in_chinese_keeps_every_minor_unit() -> None:
    assert money({"amount": "1234.5", "currency": "USD"}) == "US$1,234.50"
    assert money({"amount": "88", "currency": "CNY"}) == "¥88.00"
    assert money({"amount": "1200", "currency": "JPY"}) == "JP¥1,200"
    assert money({"amount": "1.005", "currency": "KWD"}) == "KWD1.005"


def test_money_in_english_is_unchanged() -> None:
    assert money({"amount": "1234.5", "currency": "USD"}) == "$1,234.50"


@pytest.mark.usefixtures("chinese")
def test_dates_and_messages_in_chinese() -> None:
    moment = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
    assert i18n.moment(moment, "when") == "3月4日周三 05:06 UTC"
    assert i18n.gettext("Sign in") == "登录"
    assert i18n.gettext("no such message") == "no such message"


def test_every_message_the_scripts_write_is_in_chinese_with_the_same_blanks() -> None:
    # A message without a translation would show English on a Chinese page; one whose
    # "{name}" blanks differ would lose a value or show the braces.
    messages = {
        message if context is None else f"{context}\x04{message}"
        for context, message in i18n._script_messages()
    }
    assert {"Sold out", "{n} left", "reveal\x04Show"} <= messages
    catalog = i18n._script_catalog("zh")
    assert sorted(messages - set(catalog)) == []
    for key, translated in catalog.items():
        assert sorted(re.findall(r"\{\w+\}", translated)) == sorted(re.findall(r"\{\w+\}", key)), (
            key
        )
    assert i18n._script_catalog("en") == {}


def test_a_chinese_page_carries_the_scripts_catalog(chinese: None) -> None:
    assert i18n.script_text()["Sold out"] == "已售罄"
    assert i18n.script_text()["{n} left"] == "剩 {n} 件"
    # One English word, two senses: a show, and showing the stream key.
    assert i18n.gettext("Show") == "直播"
    assert i18n.script_text()["reveal\x04Show"] == i18n.pgettext("reveal", "Show") == "显示"
