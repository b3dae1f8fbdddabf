"""Chat rules: what a message may hold, how fast a viewer may talk, which words are banned."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from hawker.domain.errors import Forbidden, InvalidInput, RateLimited

MAX_MESSAGE_LENGTH = 300
MAX_BANNED_WORDS = 500
MAX_BANNED_WORD_LENGTH = 64
MAX_SLOW_MODE_SECONDS = 3600

_CONTROL = {"Cc", "Cf", "Cs", "Co", "Cn"}


def clean_message(body: str, max_length: int = MAX_MESSAGE_LENGTH) -> str:
    """Normalise a chat message; refuse empty or too long ones.

    Control characters (bidi overrides, zero-width joiners used to dodge filters, NULs)
    are dropped; newlines become spaces: a chat line is one line.
    """
    text = unicodedata.normalize("NFC", body)
    text = "".join(
        " " if ch in "\r\n\t" else ch
        for ch in text
        if ch in "\r\n\t" or unicodedata.category(ch) not in _CONTROL
    )
    text = " ".join(text.split())
    if not text:
        raise InvalidInput("a message cannot be empty", code="empty_message")
    if len(text) > max_length:
        raise InvalidInput(
            f"a message holds at most {max_length} characters", code="message_too_long"
        )
    return text


def normalise_banned_words(words: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in words:
        word = " ".join(unicodedata.normalize("NFKC", raw).casefold().split())
        if not word:
            continue
        if len(word) > MAX_BANNED_WORD_LENGTH:
            raise InvalidInput(
                f"a banned word holds at most {MAX_BANNED_WORD_LENGTH} characters",
                code="invalid_banned_word",
            )
        if word not in out:
            out.append(word)
    if len(out) > MAX_BANNED_WORDS:
        raise InvalidInput(
            f"at most {MAX_BANNED_WORDS} banned words per show", code="too_many_banned_words"
        )
    return out


def find_banned_word(text: str, banned: Iterable[str]) -> str | None:
    """The first banned word that the message holds as a whole word, case-insensitively."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    for word in banned:
        if re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", folded):
            return word
    return None


def check_slow_mode(seconds: int) -> int:
    if not 0 <= seconds <= MAX_SLOW_MODE_SECONDS:
        raise InvalidInput(
            f"slow mode is 0 to {MAX_SLOW_MODE_SECONDS} seconds", code="invalid_slow_mode"
        )
    return seconds


@dataclass
class TokenBucket:
    """A viewer's chat allowance: `burst` messages at once, refilled at `rate` per second."""

    rate: float
    burst: int
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def take(self, now: float) -> float:
        """Spend one token; return 0, or the seconds to wait if there is none."""
        if self.tokens < 0:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class ChatGate:
    """Per-viewer pacing in one room: the rate limit for everyone, slow mode for viewers."""

    rate: float
    burst: int
    buckets: dict[int, TokenBucket] = field(default_factory=dict)
    last_sent: dict[int, float] = field(default_factory=dict)

    def check(self, user_id: int, now: float, *, slow_mode: int, exempt: bool) -> None:
        if not exempt and slow_mode > 0:
            last = self.last_sent.get(user_id)
            if last is not None and now - last < slow_mode:
                wait = slow_mode - (now - last)
                raise RateLimited(
                    f"slow mode is on: one message every {slow_mode} s; wait {wait:.0f} s",
                    retry_after=wait,
                    code="slow_mode",
                )
        bucket = self.buckets.setdefault(user_id, TokenBucket(self.rate, self.burst))
        wait = bucket.take(now)
        if wait > 0:
            raise RateLimited(
                f"you are sending messages too fast; wait {wait:.1f} s", retry_after=wait
            )
        self.last_sent[user_id] = now


def check_may_chat(*, muted_until: float | None, banned: bool, now: float) -> None:
    if banned:
        raise Forbidden("you are banned from this show", code="banned")
    if muted_until is not None and muted_until > now:
        raise Forbidden(f"you are muted for {muted_until - now:.0f} more seconds", code="muted")
