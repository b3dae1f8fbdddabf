"""The sandbox provider end to end: intents, test cards, signed webhooks, retries, refunds.

The receiver below does what an app's webhook endpoint does (verify with the shared secret and
the real clock, dedupe by event id, answer with a status), so each test sees what an app would.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn

from hawker.domain.errors import DomainError
from hawker.domain.money import Money
from hawker.payments import webhooks
from hawker.payments.port import (
    CardDetails,
    CardError,
    EventType,
    IntentStatus,
    PaymentIntent,
    PaymentProvider,
    WebhookEvent,
)
from hawker.payments.sandbox import Backoff, HttpSink, SandboxProvider, check_card

SECRET = "whsec_sandbox_test"
# Generous: these only stop a broken provider from hanging the run; nothing here measures time.
PATIENCE = 5.0
FAST = Backoff(first=0.01, factor=2.0, cap=0.05, attempts=4)


def future_expiry() -> str:
    return f"12/{(datetime.now(UTC).year + 3) % 100:02d}"


def card(number: str, *, expiry: str | None = None, cvc: str = "123") -> CardDetails:
    return CardDetails(number, expiry or future_expiry(), cvc)


VISA_OK = "4242 4242 4242 4242"
NEVER = "4000 0000 0000 0259"


class Receiver:
    """A webhook endpoint: verify, dedupe, handle, reply. `failures` lists how the next
    deliveries fail before it starts taking them: an int is a status, an exception is raised."""

    def __init__(self, *failures: int | Exception) -> None:
        self.failures = list(failures)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.refused: list[str] = []
        self.processed: list[WebhookEvent] = []
        self.seen = webhooks.SeenEvents()

    async def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        self.requests.append((dict(headers), body))
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        try:
            event = webhooks.construct_event(SECRET, headers, body)
        except webhooks.WebhookSignatureError as exc:
            self.refused.append(exc.code)
            return 400
        if self.seen.first_time(event.id):
            self.processed.append(event)
        return 200

    def events_for(self, intent_id: str) -> list[WebhookEvent]:
        return [e for e in self.processed if e.intent is not None and e.intent.id == intent_id]

    async def next_event(self, intent_id: str, after: int = 0) -> WebhookEvent:
        async def poll() -> WebhookEvent:
            while len(found := self.events_for(intent_id)) <= after:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            return found[after]

        return await asyncio.wait_for(poll(), PATIENCE)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def provider(receiver: Receiver) -> AsyncIterator[SandboxProvider]:
    sandbox = SandboxProvider(SECRET, delay=0.01, backoff=FAST, sink=receiver)
    yield sandbox
    await sandbox.aclose()


_keys = itertools.count()


async def new_intent(
    provider: PaymentProvider, amount: str = "12.90", currency: str = "USD"
) -> PaymentIntent:
    n = next(_keys)
    return await provider.create_intent(
        Money.of(amount, currency), order_ref=f"order-{n}", idempotency_key=f"key-{n}"
    )


async def paid(
    provider: SandboxProvider, receiver: Receiver, amount: str = "12.90", currency: str = "USD"
) -> PaymentIntent:
    intent = await new_intent(provider, amount, currency)
    await provider.confirm_intent(intent.id, card(VISA_OK))
    event = await receiver.next_event(intent.id)
    assert event.type == EventType.INTENT_SUCCEEDED
    return await provider.get_intent(intent.id)


def fails(code: str, kind: type[DomainError] = DomainError) -> Any:
    return pytest.raises(kind, check=lambda e: e.code == code)


# Test cards ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "cvc", "event_type", "decline_code"),
    [
        (VISA_OK, "123", EventType.INTENT_SUCCEEDED, None),
        ("5555 5555 5555 4444", "123", EventType.INTENT_SUCCEEDED, None),
        ("3782 822463 10005", "1234", EventType.INTENT_SUCCEEDED, None),
        ("4000 0000 0000 9995", "123", EventType.INTENT_FAILED, "insufficient_funds"),
        ("4000 0000 0000 0069", "123", EventType.INTENT_FAILED, "expired_card"),
        ("4000 0000 0000 0002", "123", EventType.INTENT_FAILED, "card_declined"),
        # A real card number (valid, not a test card) never pays in a sandbox.
        ("4111 1111 1111 1111", "123", EventType.INTENT_FAILED, "card_declined"),
    ],
)
async def test_each_test_card_outcome_arrives_by_signed_webhook(
    provider: SandboxProvider,
    receiver: Receiver,
    number: str,
    cvc: str,
    event_type: EventType,
    decline_code: str | None,
) -> None:
    intent = await new_intent(provider)
    assert intent.status is IntentStatus.REQUIRES_PAYMENT_METHOD
    confirmed = await provider.confirm_intent(intent.id, card(number, cvc=cvc))
    # Never "paid" in the reply: only the webhook says how it went.
    assert confirmed.status is IntentStatus.PROCESSING

    event = await receiver.next_event(intent.id)
    assert event.type == event_type
    assert event.intent is not None
    assert event.intent.amount == Money.of("12.90", "USD")
    assert event.intent.order_ref == intent.order_ref
    assert event.intent.decline_code == decline_code
    assert event.intent.card_last4 == number[-4:]
    if decline_code:
        assert event.intent.status is IntentStatus.FAILED
        assert event.intent.failure_message
    else:
        assert event.intent.status is IntentStatus.SUCCEEDED
    assert (await provider.get_intent(intent.id)).status is event.intent.status
    headers, _ = receiver.requests[-1]
    assert headers[webhooks.SIGNATURE_HEADER].startswith("t=")
    assert receiver.refused == []


@pytest.mark.parametrize(
    ("number", "expiry", "cvc", "code"),
    [
        ("4242 4242 4242 4241", None, "123", "incorrect_number"),  # a typo: Luhn fails
        ("4242 4242 4242 4224", None, "123", "incorrect_number"),  # two digits swapped
        ("4242 4242 abcd 4242", None, "123", "invalid_number"),
        ("42", None, "123", "invalid_number"),
        ("", None, "123", "invalid_number"),
        (VISA_OK, "01/20", "123", "expired_card"),
        (VISA_OK, "13/30", "123", "invalid_expiry"),
        (VISA_OK, "1230", "123", "invalid_expiry"),
        (VISA_OK, "12/2030", "123", "invalid_expiry"),
        (VISA_OK, None, "12", "invalid_cvc"),
        (VISA_OK, None, "12a", "invalid_cvc"),
        ("3782 822463 10005", None, "123", "invalid_cvc"),  # Amex has four digits
    ],
)
async def test_a_card_that_cannot_be_charged_is_refused_at_once_and_another_may_follow(
    provider: SandboxProvider,
    receiver: Receiver,
    number: str,
    expiry: str | None,
    cvc: str,
    code: str,
) -> None:
    intent = await new_intent(provider)
    with fails(code, CardError) as refused:
        await provider.confirm_intent(intent.id, card(number, expiry=expiry, cvc=cvc))
    assert refused.value.status == 402 and refused.value.message
    await provider.drain()
    assert receiver.requests == []  # nothing was charged, so there is nothing to tell
    assert (await provider.get_intent(intent.id)).status is IntentStatus.REQUIRES_PAYMENT_METHOD

    await provider.confirm_intent(intent.id, card(VISA_OK))
    assert (await receiver.next_event(intent.id)).type == EventType.INTENT_SUCCEEDED


def test_a_card_is_good_until_the_end_of_its_expiry_month() -> None:
    last_day = datetime(2031, 6, 30, 23, 59, tzinfo=UTC).timestamp()
    next_month = datetime(2031, 7, 1, tzinfo=UTC).timestamp()
    check_card(card(VISA_OK, expiry="06/31"), last_day)
    with fails("expired_card", CardError):
        check_card(card(VISA_OK, expiry="06/31"), next_month)


def test_a_card_number_never_shows_in_logs() -> None:
    text = repr(card(VISA_OK, cvc="987"))
    assert "4242" in text and "4242 4242" not in text and "987" not in text


async def test_the_card_that_never_completes_sends_no_webhook_until_canceled(
    provider: SandboxProvider, receiver: Receiver
) -> None:
    stuck = await new_intent(provider)
    assert (await provider.confirm_intent(stuck.id, card(NEVER))).status is IntentStatus.PROCESSING
    # Confirmed after it, a good card is answered, and then nothing is left to send.
    other = await new_intent(provider)
    await provider.confirm_intent(other.id, card(VISA_OK))
    await receiver.next_event(other.id)
    await provider.drain()
    assert receiver.events_for(stuck.id) == []
    assert len(receiver.requests) == 1
    assert (await provider.get_intent(stuck.id)).status is IntentStatus.PROCESSING

    # The stock hold expires: checkout cancels, and that one is told.
    canceled = await provider.cancel_intent(stuck.id)
    assert canceled.status is IntentStatus.CANCELED
    event = await receiver.next_event(stuck.id)
    assert event.type == EventType.INTENT_CANCELED
    with fails("intent_unexpected_state"):
        await provider.refund(stuck.id, idempotency_key="refund-stuck")


async def test_a_cancel_while_processing_wins_over_the_outcome(
    receiver: Receiver,
) -> None:
    # The charge settles a while after the confirm; the cancel comes first.
    slow = SandboxProvider(SECRET, delay=0.05, backoff=FAST, sink=receiver)
    try:
        intent = await new_intent(slow)
        await slow.confirm_intent(intent.id, card(VISA_OK))
        await slow.cancel_intent(intent.id)
        await slow.drain()
    finally:
        await slow.aclose()
    assert [e.type for e in receiver.events_for(intent.id)] == [EventType.INTENT_CANCELED]
    assert (await slow.get_intent(intent.id)).status is IntentStatus.CANCELED


async def test_intents_only_move_forward(provider: SandboxProvider, receiver: Receiver) -> None:
    intent = await paid(provider, receiver)
    with fails("intent_unexpected_state"):
        await provider.cancel_intent(intent.id)
    declined = await new_intent(provider)
    await provider.confirm_intent(declined.id, card("4000 0000 0000 9995"))
    await receiver.next_event(declined.id)
    with fails("intent_unexpected_state"):
        await provider.confirm_intent(declined.id, card(VISA_OK))
    with fails("intent_unexpected_state"):
        await provider.refund(declined.id, idempotency_key="refund-declined")
    canceled = await new_intent(provider)
    await provider.cancel_intent(canceled.id)
    assert (await provider.cancel_intent(canceled.id)).status is IntentStatus.CANCELED
    with fails("intent_unexpected_state"):
        await provider.confirm_intent(canceled.id, card(VISA_OK))
    with fails("intent_not_found"):
        await provider.get_intent("pi_nope")


# Signatures, replays, dedupe, retries ------------------------------------------------------


async def test_a_forged_webhook_is_refused(provider: SandboxProvider, receiver: Receiver) -> None:
    intent = await paid(provider, receiver)
    _, body = receiver.requests[-1]
    # The same "payment succeeded" an attacker would send, signed with a guessed secret.
    forged = body.replace(b'"id":"evt_', b'"id":"evt_forged')
    headers = {webhooks.SIGNATURE_HEADER: webhooks.sign("whsec_guess", forged, int(time.time()))}
    assert await receiver(headers, forged) == 400
    assert receiver.refused == ["signature_mismatch"]
    with fails("signature_mismatch"):
        provider.verify_webhook(headers, forged)
    with fails("signature_missing"):
        provider.verify_webhook({}, body)
    assert len(receiver.events_for(intent.id)) == 1


async def test_an_old_webhook_replayed_later_is_refused(
    provider: SandboxProvider, receiver: Receiver
) -> None:
    await paid(provider, receiver)
    headers, body = receiver.requests[-1]
    signed_at = webhooks.verify(SECRET, headers, body)
    # Six minutes later, an attacker who captured the request sends it again.
    later = SandboxProvider(SECRET, clock=lambda: signed_at + 6 * 60)
    with fails("timestamp_out_of_tolerance"):
        later.verify_webhook(headers, body)


async def test_the_same_event_delivered_twice_is_processed_once(
    provider: SandboxProvider, receiver: Receiver
) -> None:
    intent = await paid(provider, receiver)
    (event,) = receiver.events_for(intent.id)
    provider.resend(event.id)  # the provider retries after a reply it did not get
    await provider.drain()
    headers, body = receiver.requests[-1]
    assert await receiver(headers, body) == 200  # replayed within the tolerance
    delivered = [json.loads(b)["id"] for _, b in receiver.requests]
    assert delivered == [event.id] * 3
    assert receiver.events_for(intent.id) == [event]


async def test_a_failing_receiver_gets_the_event_again_until_it_takes_it() -> None:
    receiver = Receiver(503, ConnectionResetError("receiver restarting"), 500)
    provider = SandboxProvider(SECRET, delay=0.01, backoff=FAST, sink=receiver)
    try:
        intent = await new_intent(provider)
        await provider.confirm_intent(intent.id, card(VISA_OK))
        event = await receiver.next_event(intent.id)
        await provider.drain()
    finally:
        await provider.aclose()
    assert event.type == EventType.INTENT_SUCCEEDED
    assert {json.loads(b)["id"] for _, b in receiver.requests} == {event.id}
    assert len(receiver.requests) == 4
    assert receiver.events_for(intent.id) == [event]
    delivery = provider.delivery(event.id)
    assert (delivery.attempts, delivery.delivered) == (4, True)


async def test_a_receiver_that_never_takes_an_event_is_given_up_on() -> None:
    receiver = Receiver(*[500] * 10)
    provider = SandboxProvider(SECRET, delay=0.01, backoff=FAST, sink=receiver)
    try:
        intent = await new_intent(provider)
        await provider.confirm_intent(intent.id, card(VISA_OK))
        await provider.drain()
    finally:
        await provider.aclose()
    assert len(receiver.requests) == FAST.attempts
    event_id = json.loads(receiver.requests[0][1])["id"]
    delivery = provider.delivery(event_id)
    assert (delivery.attempts, delivery.delivered, delivery.last_error) == (
        FAST.attempts,
        False,
        "status 500",
    )
    assert receiver.processed == []


async def test_a_webhook_can_travel_over_http() -> None:
    """`HttpSink` against a real HTTP server, as when the provider runs in another process."""
    receiver = Receiver(503)

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = await receiver(headers, body)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    sink: HttpSink | None = None
    provider: SandboxProvider | None = None
    try:
        await asyncio.wait_for(_started(server), PATIENCE)
        port = server.servers[0].sockets[0].getsockname()[1]
        sink = HttpSink(f"http://127.0.0.1:{port}/webhooks/payments")
        provider = SandboxProvider(SECRET, delay=0.01, backoff=FAST, sink=sink)
        intent = await new_intent(provider, "1980", "JPY")
        await provider.confirm_intent(intent.id, card(VISA_OK))
        event = await receiver.next_event(intent.id)
    finally:
        if provider is not None:
            await provider.aclose()
        if sink is not None:
            await sink.aclose()
        server.should_exit = True
        await serving
    assert event.type == EventType.INTENT_SUCCEEDED
    assert event.intent is not None and event.intent.amount == Money.of("1980", "JPY")
    assert len(receiver.requests) == 2  # refused once with 503, taken on the retry


async def _started(server: uvicorn.Server) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.005)


# Idempotency ---------------------------------------------------------------------------------


async def test_the_same_idempotency_key_gives_the_same_intent_and_one_charge(
    provider: SandboxProvider, receiver: Receiver
) -> None:
    price = Money.of("12.90", "USD")
    first, again = await asyncio.gather(
        provider.create_intent(price, order_ref="order-1", idempotency_key="buy-1"),
        provider.create_intent(price, order_ref="order-1", idempotency_key="buy-1"),
    )
    assert again == first
    # The buyer taps "pay" twice.
    await provider.confirm_intent(first.id, card(VISA_OK))
    assert (await provider.confirm_intent(again.id, card(VISA_OK))).id == first.id
    await receiver.next_event(first.id)
    await provider.drain()
    assert [e.type for e in receiver.processed] == [EventType.INTENT_SUCCEEDED]
    assert len(receiver.requests) == 1

    with fails("idempotency_key_reused"):
        await provider.create_intent(
            Money.of("13.90", "USD"), order_ref="order-1", idempotency_key="buy-1"
        )
    other = await provider.create_intent(price, order_ref="order-1", idempotency_key="buy-2")
    assert other.id != first.id


async def test_amounts_that_are_not_chargeable_are_refused(provider: SandboxProvider) -> None:
    with fails("invalid_amount"):
        await provider.create_intent(Money.of("0", "USD"), order_ref="o", idempotency_key="k1")
    # More places than the currency has (arithmetic gone unrounded): never truncated silently.
    with fails("invalid_amount"):
        await provider.create_intent(
            Money(Money.of("1.00", "USD").amount / 3, "USD"), order_ref="o", idempotency_key="k2"
        )
    with fails("invalid_amount"):
        await provider.create_intent(
            Money(Money.of("100", "JPY").amount + Money.of("0.5", "USD").amount, "JPY"),
            order_ref="o",
            idempotency_key="k3",
        )


# Refunds -------------------------------------------------------------------------------------


async def test_a_refund_is_made_once_per_key_and_told_by_webhook(
    provider: SandboxProvider, receiver: Receiver
) -> None:
    intent = await paid(provider, receiver)
    refund = await provider.refund(intent.id, idempotency_key="refund-1")
    again = await provider.refund(intent.id, idempotency_key="refund-1")
    assert again == refund
    assert refund.amount == intent.amount and refund.status == "succeeded"

    event = await receiver.next_event(intent.id, after=1)
    await provider.drain()
    assert event.type == EventType.CHARGE_REFUNDED
    assert event.refund == refund
    assert event.intent is not None and event.intent.amount_refunded == intent.amount
    assert [e.type for e in receiver.events_for(intent.id)] == [
        EventType.INTENT_SUCCEEDED,
        EventType.CHARGE_REFUNDED,
    ]
    with fails("refund_exceeds_charge"):
        await provider.refund(intent.id, idempotency_key="refund-2")
    with fails("idempotency_key_reused"):
        await provider.refund(intent.id, Money.of("1", "USD"), idempotency_key="refund-1")


async def test_refunds_never_exceed_what_was_charged(
    provider: SandboxProvider, receiver: Receiver
) -> None:
    intent = await paid(provider, receiver, "1000", "JPY")
    with fails("refund_exceeds_charge"):
        await provider.refund(intent.id, Money.of("1001", "JPY"), idempotency_key="r0")
    await provider.refund(intent.id, Money.of("300", "JPY"), idempotency_key="r1")
    with fails("refund_exceeds_charge"):
        await provider.refund(intent.id, Money.of("701", "JPY"), idempotency_key="r2")
    with fails("currency_mismatch"):
        await provider.refund(intent.id, Money.of("7", "USD"), idempotency_key="r3")
    with fails("invalid_amount"):
        await provider.refund(intent.id, Money.of("0", "JPY"), idempotency_key="r4")
    rest = await provider.refund(intent.id, idempotency_key="r5")
    assert rest.amount == Money.of("700", "JPY")
    after = await provider.get_intent(intent.id)
    assert after.amount_refunded == Money.of("1000", "JPY")
    assert after.refundable == Money.of("0", "JPY")
    assert after.status is IntentStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("currency", "charged", "refunded", "minor"),
    [("JPY", "1980", "980", 1980), ("USD", "12.90", "0.01", 1290), ("KWD", "1.005", "0.335", 1005)],
)
async def test_amounts_are_exact_through_charge_and_refund(
    provider: SandboxProvider,
    receiver: Receiver,
    currency: str,
    charged: str,
    refunded: str,
    minor: int,
) -> None:
    intent = await paid(provider, receiver, charged, currency)
    _, body = receiver.requests[-1]
    assert json.loads(body)["data"]["object"]["amount"] == minor
    assert intent.amount == Money.of(charged, currency)

    await provider.refund(intent.id, Money.of(refunded, currency), idempotency_key=f"r-{currency}")
    event = await receiver.next_event(intent.id, after=1)
    assert event.refund is not None and event.refund.amount == Money.of(refunded, currency)
    assert event.intent is not None
    assert event.intent.refundable == Money.of(charged, currency) - Money.of(refunded, currency)
    assert str(event.intent.amount) == str(Money.of(charged, currency))
