"""An in-process sandbox provider that behaves like a real one in test mode, with no network.

Test cards (any future expiry "MM/YY", any CVC of the right length: 3 digits, 4 for Amex):

| number              | outcome (by webhook, after `delay`)                                 |
| ------------------- | ------------------------------------------------------------------- |
| 4242 4242 4242 4242 | succeeds                                                            |
| 5555 5555 5555 4444 | succeeds (Mastercard)                                               |
| 3782 822463 10005   | succeeds (Amex, 4-digit CVC)                                        |
| 4000 0000 0000 9995 | fails, decline code `insufficient_funds`                            |
| 4000 0000 0000 0069 | fails, decline code `expired_card`                                  |
| 4000 0000 0000 0002 | fails, decline code `card_declined`                                 |
| 4000 0000 0000 0259 | never completes: stays `processing`, no webhook, until canceled     |
| any other valid one | fails, `card_declined`: a real card number never pays in a sandbox  |

Refused at once by `confirm_intent` with a `CardError` (no charge, no webhook, the intent can
be confirmed again with another card): a number that is not 12-19 digits (`invalid_number`)
or fails the Luhn check (`incorrect_number`); an expiry that is not MM/YY (`invalid_expiry`)
or is in the past (`expired_card`); a CVC of the wrong length (`invalid_cvc`).

Webhooks go to one receiver registered with `register(sink)`: a callable taking the request
headers and the raw body, returning the HTTP status (None counts as 200), sync or async. An
app registers a function that calls its webhook handler exactly as its HTTP endpoint would;
`HttpSink(url)` posts to a URL instead. A receiver that raises, returns a status that is not
2xx, or takes longer than `delivery_timeout` gets the event again after a backoff, until
`backoff.attempts` attempts were made: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from hawker.domain.errors import Conflict, InvalidInput, NotFound
from hawker.domain.money import Money, check_currency, round_amount
from hawker.payments import webhooks
from hawker.payments.port import (
    CardDetails,
    CardError,
    EventType,
    IntentStatus,
    PaymentIntent,
    Refund,
    WebhookEvent,
)

log = logging.getLogger(__name__)

WebhookSink = Callable[[Mapping[str, str], bytes], Awaitable[int | None] | int | None]

SUCCEED = "succeed"
NEVER = "never"

# number -> SUCCEED, NEVER, or the decline code.
TEST_CARDS: dict[str, str] = {
    "4242424242424242": SUCCEED,
    "5555555555554444": SUCCEED,
    "378282246310005": SUCCEED,
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000002": "card_declined",
    "4000000000000259": NEVER,
}

DECLINE_MESSAGES: dict[str, str] = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "card_declined": "Your card was declined.",
}

MAX_METADATA_KEYS = 50


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry schedule for webhook deliveries: `first` seconds after the first failure, times
    `factor` after each further one, at most `cap`; `attempts` in all, the first included."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 60.0
    attempts: int = 10

    def pause(self, failures: int) -> float:
        return float(min(self.cap, self.first * self.factor ** (failures - 1)))


@dataclass(slots=True)
class Delivery:
    """How delivering one event went, for operators and tests."""

    event_id: str
    type: str
    attempts: int = 0
    delivered: bool = False
    last_error: str | None = None


class HttpSink:
    """Deliver webhooks by HTTP POST to `url`, for a sandbox in another process than the app."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        response = await self._client.post(self.url, content=body, headers=dict(headers))
        return response.status_code

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def check_card(card: CardDetails, now: float) -> None:
    """Refuse a card that cannot be charged at all. Raises `CardError`."""
    digits = card.digits
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise CardError("That is not a card number.", code="invalid_number")
    if not luhn_ok(digits):
        raise CardError("The card number is incorrect.", code="incorrect_number")
    month_text, sep, year_text = card.expiry.replace(" ", "").partition("/")
    if (
        not sep
        or not (month_text.isascii() and month_text.isdigit() and len(month_text) in (1, 2))
        or not (year_text.isascii() and year_text.isdigit() and len(year_text) == 2)
        or not 1 <= int(month_text) <= 12
    ):
        raise CardError("The expiry date must be MM/YY.", code="invalid_expiry")
    today = datetime.fromtimestamp(now, UTC)
    # A card is good until the end of its expiry month.
    if (2000 + int(year_text), int(month_text)) < (today.year, today.month):
        raise CardError("Your card has expired.", code="expired_card")
    cvc_length = 4 if card.brand == "amex" else 3
    if not (card.cvc.isascii() and card.cvc.isdigit() and len(card.cvc) == cvc_length):
        raise CardError(f"The security code must be {cvc_length} digits.", code="invalid_cvc")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class SandboxProvider:
    """A `PaymentProvider` that keeps everything in memory.

    `webhook_secret` signs every event (several secrets: one signature each, as while
    rotating). `delay` is the time between a confirm and its outcome, and between a cancel or
    refund and its webhook. `clock` gives unix time for timestamps, signatures and card expiry.
    Everything runs on the event loop that calls it.
    """

    def __init__(
        self,
        webhook_secret: webhooks.Secrets,
        *,
        delay: float = 0.1,
        backoff: Backoff | None = None,
        delivery_timeout: float = 10.0,
        tolerance: int = webhooks.DEFAULT_TOLERANCE,
        sink: WebhookSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        webhooks.sign(webhook_secret, b"", 0)  # refuses an empty secret now, not at first use
        self._secret = webhook_secret
        self._delay = delay
        self._backoff = backoff or Backoff()
        self._delivery_timeout = delivery_timeout
        self._tolerance = tolerance
        self._sink = sink
        self._clock = clock
        self._intents: dict[str, PaymentIntent] = {}
        self._refunds: dict[str, Refund] = {}
        # idempotency key -> (what the request asked for, the id of what it made)
        self._keys: dict[str, tuple[tuple[Any, ...], str]] = {}
        self._events: dict[str, bytes] = {}
        self._deliveries: dict[str, Delivery] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # The port ---------------------------------------------------------------------------------

    async def create_intent(
        self,
        amount: Money,
        *,
        order_ref: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntent:
        meta = self._check_metadata(metadata)
        self._check_amount(amount)
        if not order_ref:
            raise InvalidInput("an intent needs an order reference", code="invalid_order_ref")
        request = ("create", amount.minor, amount.currency, order_ref, tuple(sorted(meta.items())))
        existing = self._replay(idempotency_key, request)
        if existing is not None:
            return self._intents[existing]
        intent_id = _new_id("pi")
        intent = PaymentIntent(
            id=intent_id,
            status=IntentStatus.REQUIRES_PAYMENT_METHOD,
            amount=amount,
            amount_refunded=Money.from_minor(0, amount.currency),
            client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
            order_ref=order_ref,
            created=self._now(),
            metadata=meta,
        )
        self._intents[intent_id] = intent
        self._keys[idempotency_key] = (request, intent_id)
        return intent

    async def confirm_intent(self, intent_id: str, card: CardDetails) -> PaymentIntent:
        intent = self._get(intent_id)
        if intent.status in (IntentStatus.PROCESSING, IntentStatus.SUCCEEDED):
            return intent
        if intent.status is not IntentStatus.REQUIRES_PAYMENT_METHOD:
            raise _state_error(intent, "confirm")
        check_card(card, self._clock())
        outcome = TEST_CARDS.get(card.digits, "card_declined")
        intent = self._put(
            intent, status=IntentStatus.PROCESSING, card_brand=card.brand, card_last4=card.last4
        )
        if outcome != NEVER:
            self._spawn(self._settle(intent_id, outcome))
        return intent

    async def cancel_intent(self, intent_id: str) -> PaymentIntent:
        intent = self._get(intent_id)
        if intent.status is IntentStatus.CANCELED:
            return intent
        if intent.status not in (IntentStatus.REQUIRES_PAYMENT_METHOD, IntentStatus.PROCESSING):
            raise _state_error(intent, "cancel")
        # A charge still processing is settled by `_settle`, which sees the cancel and stops.
        intent = self._put(intent, status=IntentStatus.CANCELED)
        self._emit(EventType.INTENT_CANCELED, intent, wait=self._delay)
        return intent

    async def refund(
        self, intent_id: str, amount: Money | None = None, *, idempotency_key: str
    ) -> Refund:
        request = ("refund", intent_id, None if amount is None else (amount.minor, amount.currency))
        existing = self._replay(idempotency_key, request)
        if existing is not None:
            return self._refunds[existing]
        intent = self._get(intent_id)
        if intent.status is not IntentStatus.SUCCEEDED:
            raise _state_error(intent, "refund")
        left = intent.refundable
        if amount is None:
            if not left.minor:
                raise Conflict(
                    f"all of {intent.amount} was refunded already", code="refund_exceeds_charge"
                )
            amount = left
        elif amount.currency != intent.amount.currency:
            raise InvalidInput(
                f"the charge was in {intent.amount.currency}, not {amount.currency}",
                code="currency_mismatch",
            )
        self._check_amount(amount)
        if amount.minor > left.minor:
            raise Conflict(
                f"cannot refund {amount}: {left} of {intent.amount} is left to refund",
                code="refund_exceeds_charge",
            )
        refund = Refund(
            id=_new_id("re"),
            intent_id=intent_id,
            amount=amount,
            status="succeeded",
            created=self._now(),
        )
        self._refunds[refund.id] = refund
        self._keys[idempotency_key] = (request, refund.id)
        intent = self._put(intent, amount_refunded=intent.amount_refunded + amount)
        self._emit(EventType.CHARGE_REFUNDED, intent, refund, wait=self._delay)
        return refund

    async def get_intent(self, intent_id: str) -> PaymentIntent:
        return self._get(intent_id)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return webhooks.construct_event(self._secret, headers, body, self._clock(), self._tolerance)

    async def aclose(self) -> None:
        """Stop every pending outcome and delivery."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Sandbox only ----------------------------------------------------------------------------

    def register(self, sink: WebhookSink | None) -> None:
        """Send webhooks to `sink` from now on (None: nobody, so deliveries fail and retry)."""
        self._sink = sink

    def resend(self, event_id: str) -> None:
        """Deliver an event again, same id and body, freshly signed (the dashboard's
        "resend"): what a receiver sees when a provider retries after a lost reply."""
        body = self._events.get(event_id)
        if body is None:
            raise NotFound(f"no event {event_id}", code="event_not_found")
        self._spawn(self._deliver(event_id, body, 0.0))

    def delivery(self, event_id: str) -> Delivery:
        found = self._deliveries.get(event_id)
        if found is None:
            raise NotFound(f"no event {event_id}", code="event_not_found")
        return found

    async def drain(self) -> None:
        """Wait until no outcome or delivery is pending (retries included). Cards that never
        complete have nothing pending, so this returns while they stay `processing`."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # Inside -----------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock())

    def _get(self, intent_id: str) -> PaymentIntent:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise NotFound(f"no payment intent {intent_id}", code="intent_not_found")
        return intent

    def _put(self, intent: PaymentIntent, **changes: Any) -> PaymentIntent:
        intent = replace(intent, **changes)
        self._intents[intent.id] = intent
        return intent

    def _replay(self, key: str, request: tuple[Any, ...]) -> str | None:
        if not key:
            raise InvalidInput("an idempotency key is required", code="invalid_idempotency_key")
        found = self._keys.get(key)
        if found is None:
            return None
        if found[0] != request:
            raise Conflict(
                "this idempotency key was used with other parameters",
                code="idempotency_key_reused",
            )
        return found[1]

    @staticmethod
    def _check_amount(amount: Money) -> None:
        check_currency(amount.currency)
        # Money made by arithmetic may carry more places than the currency has; truncating them
        # into minor units would charge a different amount than the one asked for.
        if round_amount(amount.amount, amount.currency) != amount.amount:
            raise InvalidInput(
                f"{amount} has more decimals than {amount.currency} allows",
                code="invalid_amount",
            )
        if amount.minor <= 0:
            raise InvalidInput("the amount must be more than zero", code="invalid_amount")

    @staticmethod
    def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
        meta = dict(metadata or {})
        if len(meta) > MAX_METADATA_KEYS or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise InvalidInput(
                f"metadata is at most {MAX_METADATA_KEYS} strings keyed by strings",
                code="invalid_metadata",
            )
        return meta

    async def _settle(self, intent_id: str, outcome: str) -> None:
        await asyncio.sleep(self._delay)
        intent = self._intents[intent_id]
        if intent.status is not IntentStatus.PROCESSING:
            return  # canceled meanwhile: that event has gone out instead
        if outcome == SUCCEED:
            intent = self._put(intent, status=IntentStatus.SUCCEEDED)
            self._emit(EventType.INTENT_SUCCEEDED, intent, wait=0.0)
        else:
            intent = self._put(
                intent,
                status=IntentStatus.FAILED,
                decline_code=outcome,
                failure_message=DECLINE_MESSAGES[outcome],
            )
            self._emit(EventType.INTENT_FAILED, intent, wait=0.0)

    def _emit(
        self, type_: EventType, intent: PaymentIntent, refund: Refund | None = None, *, wait: float
    ) -> None:
        event_id = _new_id("evt")
        body = webhooks.encode_event(event_id, type_.value, self._now(), intent, refund)
        self._events[event_id] = body
        self._deliveries[event_id] = Delivery(event_id, type_.value)
        self._spawn(self._deliver(event_id, body, wait))

    async def _deliver(self, event_id: str, body: bytes, wait: float) -> None:
        state = self._deliveries[event_id]
        if wait:
            await asyncio.sleep(wait)
        failures = 0
        while True:
            state.attempts += 1
            error = await self._attempt(body)
            if error is None:
                state.delivered = True
                state.last_error = None
                return
            state.last_error = error
            failures += 1
            if failures >= self._backoff.attempts:
                log.warning("webhook %s given up after %d attempts: %s", event_id, failures, error)
                return
            log.info("webhook %s attempt %d failed: %s", event_id, failures, error)
            await asyncio.sleep(self._backoff.pause(failures))

    async def _attempt(self, body: bytes) -> str | None:
        """One delivery; None if the receiver took it, else why not."""
        sink = self._sink
        if sink is None:
            return "no receiver registered"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Hawker-Sandbox/1",
            webhooks.SIGNATURE_HEADER: webhooks.sign(self._secret, body, self._now()),
        }
        try:
            async with asyncio.timeout(self._delivery_timeout):
                result = sink(headers, body)
                status = await result if inspect.isawaitable(result) else result
        except TimeoutError:
            return f"no reply within {self._delivery_timeout} s"
        except Exception as exc:  # the receiver's failure must not stop the provider
            return f"{type(exc).__name__}: {exc}"
        if status is None or 200 <= status < 300:
            return None
        return f"status {status}"

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _state_error(intent: PaymentIntent, action: str) -> Conflict:
    return Conflict(
        f"cannot {action} a payment intent that is {intent.status.value}",
        code="intent_unexpected_state",
    )
