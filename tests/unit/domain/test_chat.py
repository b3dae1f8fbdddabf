from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hawker.domain.chat import (
    MAX_BANNED_WORDS,
    ChatGate,
    TokenBucket,
    check_may_chat,
    check_slow_mode,
    clean_message,
    find_banned_word,
    normalise_banned_words,
)
from hawker.domain.errors import Forbidden, InvalidInput, RateLimited


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", "hello"),
        ("  hello   there  ", "hello there"),
        ("line one\nline two\r\nthree\tfour", "line one line two three four"),
        ("nul\x00byte", "nulbyte"),
        ("bidi \u202egnp.exe", "bidi gnp.exe"),
        ("zero\u200bwidth", "zerowidth"),
        ("bell\x07", "bell"),
        ("cafe\u0301", "café"),  # NFC
        ("口红 #7 please", "口红 #7 please"),
    ],
)
def test_clean_message(raw: str, expected: str) -> None:
    assert clean_message(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\n\n", "\x00\u200b"])
def test_an_empty_message_is_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as info:
        clean_message(raw)
    assert info.value.code == "empty_message"


def test_length_limit() -> None:
    assert clean_message("a" * 300) == "a" * 300
    with pytest.raises(InvalidInput) as info:
        clean_message("a" * 301)
    assert info.value.code == "message_too_long"
    # The limit counts what is left after cleaning.
    assert clean_message("a" * 150 + "\u200b" * 400 + "b" * 150) == "a" * 150 + "b" * 150


@given(st.text(max_size=400))
def test_a_cleaned_message_is_one_short_printable_line(raw: str) -> None:
    try:
        text = clean_message(raw)
    except InvalidInput:
        return
    assert 1 <= len(text) <= 300
    assert "\n" not in text and "\r" not in text and "\x00" not in text
    assert text == text.strip()
    assert clean_message(text) == text  # cleaning twice changes nothing


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("this is a SCAM", "scam"),
        ("Scam!", "scam"),
        ("scammer here", None),  # whole words only
        ("no scams", None),
        ("buy cheap pills", "cheap pills"),
        ("buy cheap   pills", None),
        ("ＳＣＡＭ", "scam"),  # full-width letters fold to the same word
    ],
)
def test_banned_words_are_whole_words_case_insensitive(text: str, hit: str | None) -> None:
    banned = normalise_banned_words(["Scam", "cheap pills"])
    assert find_banned_word(text, banned) == hit


def test_banned_word_lists_are_normalised() -> None:
    assert normalise_banned_words(["  Scam ", "SCAM", "", "cheap   pills"]) == [
        "scam",
        "cheap pills",
    ]
    with pytest.raises(InvalidInput):
        normalise_banned_words(["x" * 65])
    with pytest.raises(InvalidInput):
        normalise_banned_words([f"w{i}" for i in range(MAX_BANNED_WORDS + 1)])


def test_a_banned_word_with_regex_characters_is_literal() -> None:
    banned = normalise_banned_words(["a.b", "c++"])
    assert find_banned_word("axb", banned) is None
    assert find_banned_word("I said a.b", banned) == "a.b"
    assert find_banned_word("c++ rocks", banned) == "c++"


def test_slow_mode_bounds() -> None:
    assert check_slow_mode(0) == 0
    assert check_slow_mode(3600) == 3600
    for bad in (-1, 3601):
        with pytest.raises(InvalidInput):
            check_slow_mode(bad)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, burst=3)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(1.0)
    assert bucket.take(100.5) == pytest.approx(0.5)
    assert bucket.take(101.0) == 0.0
    # A long silence refills only up to the burst.
    assert [bucket.take(1000.0) for _ in range(4)][-1] > 0


@given(st.lists(st.floats(min_value=0, max_value=5), max_size=60))
def test_token_bucket_never_allows_more_than_burst_plus_rate(gaps: list[float]) -> None:
    bucket = TokenBucket(rate=2.0, burst=5)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        if bucket.take(now) == 0:
            allowed += 1
    assert allowed <= 5 + 2.0 * now + 1e-9


def test_gate_rate_limits_everyone() -> None:
    gate = ChatGate(rate=1.0, burst=2)
    gate.check(1, 0.0, slow_mode=0, exempt=True)
    gate.check(1, 0.0, slow_mode=0, exempt=True)
    with pytest.raises(RateLimited) as info:
        gate.check(1, 0.0, slow_mode=0, exempt=True)
    assert info.value.code == "rate_limited"
    assert info.value.retry_after > 0
    gate.check(2, 0.0, slow_mode=0, exempt=False)  # another viewer has their own allowance


def test_slow_mode_paces_viewers_but_not_staff() -> None:
    gate = ChatGate(rate=10.0, burst=10)
    gate.check(1, 0.0, slow_mode=30, exempt=False)
    with pytest.raises(RateLimited) as info:
        gate.check(1, 10.0, slow_mode=30, exempt=False)
    assert info.value.code == "slow_mode"
    assert info.value.retry_after == pytest.approx(20.0)
    gate.check(1, 30.0, slow_mode=30, exempt=False)
    for t in (0.0, 0.1, 0.2):
        gate.check(99, t, slow_mode=30, exempt=True)


def test_a_refused_message_does_not_restart_the_slow_mode_clock() -> None:
    gate = ChatGate(rate=10.0, burst=10)
    gate.check(1, 0.0, slow_mode=30, exempt=False)
    with pytest.raises(RateLimited):
        gate.check(1, 29.0, slow_mode=30, exempt=False)
    gate.check(1, 30.0, slow_mode=30, exempt=False)


def test_muted_and_banned_viewers_may_not_chat() -> None:
    check_may_chat(muted_until=None, banned=False, now=100.0)
    check_may_chat(muted_until=99.0, banned=False, now=100.0)  # the mute is over
    with pytest.raises(Forbidden) as info:
        check_may_chat(muted_until=160.0, banned=False, now=100.0)
    assert info.value.code == "muted"
    with pytest.raises(Forbidden) as info:
        check_may_chat(muted_until=None, banned=True, now=100.0)
    assert info.value.code == "banned"
