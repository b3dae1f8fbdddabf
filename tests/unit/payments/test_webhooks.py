"""Webhook signatures, the event format and dedupe, without a provider."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from hawker.domain.errors import InvalidInput
from hawker.domain.money import Money
from hawker.payments.port import IntentStatus, PaymentIntent, Refund
from hawker.payments.webhooks import (
    SIGNATURE_HEADER,
    SeenEvents,
    WebhookSignatureError,
    construct_event,
    encode_event,
    parse_event,
    sign,
    verify,
)

SECRET = "whsec_test_one"
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
T = 1_760_000_000


def refused(code: str) -> pytest.RaisesExc[WebhookSignatureError]:
    return pytest.raises(WebhookSignatureError, check=lambda e: e.code == code)


def intent(amount: Money, **changes: object) -> PaymentIntent:
    fields: dict[str, object] = {
        "id": "pi_1",
        "status": IntentStatus.SUCCEEDED,
        "amount": amount,
        "amount_refunded": Money.from_minor(0, amount.currency),
        "client_secret": "pi_1_secret_x",
        "order_ref": "order-7",
        "created": T,
        "metadata": {"show_id": "12"},
        "card_brand": "visa",
        "card_last4": "4242",
    }
    fields.update(changes)
    return PaymentIntent(**fields)  # type: ignore[arg-type]


def test_a_signed_body_verifies_and_gives_its_timestamp() -> None:
    header = sign(SECRET, BODY, T)
    assert header.startswith(f"t={T},v1=")
    assert verify(SECRET, header, BODY, now=T + 5) == T
    # Header names are case-insensitive: ASGI servers hand them over lower-cased.
    assert verify(SECRET, {SIGNATURE_HEADER: header}, BODY, now=T) == T
    assert verify(SECRET, {"hawker-signature": header}, BODY, now=T) == T


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda h, b: (sign("whsec_guessed", b, T), b), id="another secret"),
        pytest.param(lambda h, b: (h, b.replace(b"succeeded", b"failed")), id="body changed"),
        pytest.param(lambda h, b: (h, b + b" "), id="body padded"),
        pytest.param(lambda h, b: (f"t={T},v1={'0' * 64}", b), id="made-up signature"),
        pytest.param(lambda h, b: (h.replace(f"t={T}", f"t={T + 60}"), b), id="timestamp moved"),
    ],
)
def test_a_forged_or_tampered_webhook_is_refused(tamper: object) -> None:
    header, body = tamper(sign(SECRET, BODY, T), BODY)  # type: ignore[operator]
    with refused("signature_mismatch"):
        verify(SECRET, header, body, now=T + 60)


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Content-Type": "application/json"},
        "",
        "   ",
        "t=123",
        "v1=abc",
        "nonsense",
        f"t=abc,v1={'0' * 64}",
        f"t=1,t=2,v1={'0' * 64}",
    ],
)
def test_a_missing_or_unreadable_signature_is_refused(headers: object) -> None:
    with refused("signature_missing"):
        verify(SECRET, headers, BODY, now=T)  # type: ignore[arg-type]


def test_an_old_webhook_replayed_later_is_refused() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, now=T + 300) == T
    with refused("timestamp_out_of_tolerance"):
        verify(SECRET, header, BODY, now=T + 301)
    with refused("timestamp_out_of_tolerance"):
        verify(SECRET, header, BODY, now=T + 86_400, tolerance=600)
    # Signed "in the future" by more than the tolerance: a sender's clock far off, refused too.
    with refused("timestamp_out_of_tolerance"):
        verify(SECRET, header, BODY, now=T - 301)


def test_several_signatures_let_a_secret_be_rotated() -> None:
    both = sign(["whsec_old", "whsec_new"], BODY, T)
    assert both.count("v1=") == 2
    # Receivers not yet updated and receivers already updated both accept it.
    assert verify("whsec_old", both, BODY, now=T) == T
    assert verify("whsec_new", both, BODY, now=T) == T
    # A receiver holding both secrets accepts an event signed with either.
    assert verify(["whsec_new", "whsec_old"], sign("whsec_old", BODY, T), BODY, now=T) == T
    with refused("signature_mismatch"):
        verify("whsec_other", both, BODY, now=T)


def test_an_empty_secret_is_refused_outright() -> None:
    with pytest.raises(ValueError):
        sign("", BODY, T)
    with pytest.raises(ValueError):
        verify([], sign(SECRET, BODY, T), BODY, now=T)


def test_seen_events_tell_a_repeat_from_a_new_event() -> None:
    seen = SeenEvents()
    assert seen.first_time("evt_1")
    assert not seen.first_time("evt_1")
    assert seen.first_time("evt_2")
    # Processing failed: forgetting the id lets the provider's retry through.
    seen.forget("evt_2")
    assert "evt_2" not in seen
    assert seen.first_time("evt_2")


def test_seen_events_stay_bounded_and_forget_the_oldest_first() -> None:
    seen = SeenEvents(maxsize=3)
    for n in range(3):
        seen.first_time(f"evt_{n}")
    assert not seen.first_time("evt_0")  # seen again: now the most recent
    seen.first_time("evt_3")
    assert len(seen) == 3
    assert "evt_1" not in seen  # the least recently seen went first
    assert "evt_0" in seen and "evt_2" in seen and "evt_3" in seen


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1980", "JPY", 1980),
        ("999999999", "JPY", 999_999_999),
        ("12.90", "USD", 1290),
        ("0.01", "USD", 1),
        ("999999999.99", "USD", 99_999_999_999),
        ("1.005", "KWD", 1005),
        ("999999999.999", "KWD", 999_999_999_999),
    ],
)
def test_amounts_travel_as_minor_units_and_come_back_exact(
    amount: str, currency: str, minor: int
) -> None:
    money = Money.of(amount, currency)
    body = encode_event("evt_1", "payment_intent.succeeded", T, intent(money))
    wire = json.loads(body)["data"]["object"]
    assert (wire["amount"], wire["currency"]) == (minor, currency)
    assert b"." not in body.split(b'"amount":')[1].split(b",")[0]
    event = parse_event(body)
    assert event.intent is not None
    assert event.intent.amount.amount == Decimal(amount)
    assert event.intent.amount == money
    assert event.intent.amount_refunded == Money.of("0", currency)


def test_an_event_round_trips_with_its_refund() -> None:
    charged = Money.of("10.000", "KWD")
    refund = Refund("re_1", "pi_1", Money.of("3.335", "KWD"), "succeeded", T + 9)
    sent = intent(charged, amount_refunded=refund.amount)
    body = encode_event("evt_9", "charge.refunded", T, sent, refund)
    headers = {SIGNATURE_HEADER: sign(SECRET, body, T)}
    event = construct_event(SECRET, headers, body, now=T)
    assert (event.id, event.type, event.created) == ("evt_9", "charge.refunded", T)
    assert event.intent == sent
    assert event.refund == refund
    assert event.intent.refundable == Money.of("6.665", "KWD")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"amount": 12.9}, id="float amount"),
        pytest.param({"amount": "1290"}, id="string amount"),
        pytest.param({"amount": True}, id="boolean amount"),
        pytest.param({"amount": -5}, id="negative amount"),
        pytest.param({"currency": "USDD"}, id="unknown currency"),
        pytest.param({"status": "paid"}, id="unknown status"),
        pytest.param({"metadata": {"n": 1}}, id="metadata not strings"),
    ],
)
def test_a_malformed_event_is_refused_not_guessed(change: dict[str, object]) -> None:
    raw = json.loads(
        encode_event("evt_1", "payment_intent.succeeded", T, intent(Money.of("12.90", "USD")))
    )
    raw["data"]["object"].update(change)
    with pytest.raises(InvalidInput, check=lambda e: e.code == "malformed_event"):
        parse_event(json.dumps(raw).encode())


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"id":"evt_1"}', b"\xff\xfe"])
def test_a_body_that_is_not_an_event_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidInput, check=lambda e: e.code == "malformed_event"):
        parse_event(body)


def test_an_event_of_an_unknown_type_parses_so_it_can_be_acknowledged() -> None:
    body = json.dumps(
        {
            "id": "evt_5",
            "type": "customer.created",
            "created": T,
            "data": {"object": {"object": "customer", "id": "cus_1"}},
        }
    ).encode()
    event = parse_event(body)
    assert (event.type, event.intent, event.refund) == ("customer.created", None, None)
