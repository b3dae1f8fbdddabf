"""Webhook signatures, the event wire format, and dedupe for receivers.

Signature scheme (Stripe's): the header

    Hawker-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}." + body)>

The timestamp is signed with the body, so an old event cannot be sent again with a fresh
timestamp; a receiver refuses timestamps further than `tolerance` seconds from its clock. While
a secret is being rotated the sender signs with both secrets, one `v1=` entry each, and a
receiver accepts any entry that matches any secret it holds.

Within the tolerance a captured request still verifies, and providers deliver at least once
anyway: receivers dedupe by event id (`SeenEvents`).

Event body (JSON, amounts in minor units, never a float):

    {"id": "evt_...", "type": "payment_intent.succeeded", "created": <unix>, "livemode": false,
     "data": {"object": {<intent>}, "refund": {<refund>, only for charge.refunded}}}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from hawker.domain.errors import DomainError, InvalidInput
from hawker.domain.money import MAX_AMOUNT, Money, check_currency, exponent
from hawker.payments.port import IntentStatus, PaymentIntent, Refund, WebhookEvent

SIGNATURE_HEADER = "Hawker-Signature"
DEFAULT_TOLERANCE = 300

Secrets = str | Sequence[str]


class WebhookSignatureError(DomainError):
    """Codes: `signature_missing` (no header, or no `t=` / `v1=` in it), `signature_mismatch`
    (forged, tampered with, or signed with another secret), `timestamp_out_of_tolerance`
    (replayed later, or a clock far off)."""

    code = "signature_mismatch"
    status = 400


def _secrets(secret: Secrets) -> list[bytes]:
    items = [secret] if isinstance(secret, str) else list(secret)
    if not items or not all(items):
        raise ValueError("a webhook secret must not be empty")
    return [s.encode() for s in items]


def _digest(secret: bytes, body: bytes, t: int) -> str:
    return hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()


def sign(secret: Secrets, body: bytes, t: int) -> str:
    """The `Hawker-Signature` header value for `body` sent at unix time `t`: one `v1=` entry
    per secret (several while rotating)."""
    return ",".join([f"t={t}", *(f"v1={_digest(s, body, t)}" for s in _secrets(secret))])


def _header(headers: Mapping[str, str] | str | None) -> str | None:
    if headers is None or isinstance(headers, str):
        return headers
    value = headers.get(SIGNATURE_HEADER)
    if value is not None:
        return value
    # HTTP header names are case-insensitive; a plain dict (or ASGI's lower-cased names) is not.
    wanted = SIGNATURE_HEADER.lower()
    for name, found in headers.items():
        if name.lower() == wanted:
            return found
    return None


def verify(
    secret: Secrets,
    headers: Mapping[str, str] | str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> int:
    """Check a webhook's signature; return its signed timestamp.

    `headers` is the request's headers (any case) or the header value itself. `secret` may be
    several secrets (during a rotation). Raises `WebhookSignatureError`.
    """
    value = _header(headers)
    if not value or not value.strip():
        raise WebhookSignatureError(f"no {SIGNATURE_HEADER} header", code="signature_missing")
    stamps: list[str] = []
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            stamps.append(val.strip())
        elif key == "v1":
            signatures.append(val.strip())
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit() or not signatures:
        raise WebhookSignatureError(
            f"{SIGNATURE_HEADER} needs one t= and at least one v1= entry",
            code="signature_missing",
        )
    t = int(stamps[0])
    expected = [_digest(s, body, t) for s in _secrets(secret)]
    # Compare every pair in constant time, without stopping early, so the time taken tells
    # nothing about which entry or how much of it matched.
    matched = False
    for given in signatures:
        for want in expected:
            matched |= hmac.compare_digest(given.encode(), want.encode())
    if not matched:
        raise WebhookSignatureError(
            "the webhook signature does not match its body", code="signature_mismatch"
        )
    clock = time.time() if now is None else now
    if abs(clock - t) > tolerance:
        raise WebhookSignatureError(
            f"the webhook was signed {int(clock - t)} s ago; more than {tolerance} s is refused",
            code="timestamp_out_of_tolerance",
        )
    return t


class SeenEvents:
    """The ids of recent events, the oldest forgotten first once `maxsize` is reached.

    At-least-once delivery means the same event may come twice (a retry after a lost reply, a
    resend, a replay within the signature tolerance). Process an event only if it is new, and
    forget it if processing fails so that the provider's retry gets another chance:

        if not seen.first_time(event.id):
            return 200
        try:
            await handle(event)
        except Exception:
            seen.forget(event.id)
            raise

    This dedupes within one process. Several processes behind one webhook URL each keep their
    own, so the handler must also be idempotent where it writes (a state transition that is
    already done is a no-op).
    """

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """Record `event_id`; True if it was not seen before. Checking and recording is one
        step, so two concurrent deliveries of one event cannot both get True."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self._maxsize:
            self._ids.popitem(last=False)
        return True

    def forget(self, event_id: str) -> None:
        self._ids.pop(event_id, None)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


# Wire format -------------------------------------------------------------------------------


def money_to_json(money: Money) -> dict[str, Any]:
    return {"amount": money.minor, "currency": money.currency}


def _money(minor: object, currency: object) -> Money:
    # bool is an int in Python; `true` is not an amount.
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise _malformed(f"amount must be a whole number of minor units, not {minor!r}")
    if not isinstance(currency, str):
        raise _malformed("currency must be a string")
    try:
        check_currency(currency)
    except InvalidInput as exc:
        raise _malformed(exc.message) from exc
    if minor >= MAX_AMOUNT.scaleb(exponent(currency)):
        raise _malformed("amount is too large")
    return Money.from_minor(minor, currency)


def intent_to_json(intent: PaymentIntent) -> dict[str, Any]:
    card = {"brand": intent.card_brand, "last4": intent.card_last4} if intent.card_last4 else None
    return {
        "id": intent.id,
        "object": "payment_intent",
        "status": intent.status.value,
        **money_to_json(intent.amount),
        "amount_refunded": intent.amount_refunded.minor,
        "client_secret": intent.client_secret,
        "order_ref": intent.order_ref,
        "metadata": dict(intent.metadata),
        "created": intent.created,
        "decline_code": intent.decline_code,
        "failure_message": intent.failure_message,
        "card": card,
    }


def refund_to_json(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "payment_intent": refund.intent_id,
        **money_to_json(refund.amount),
        "status": refund.status,
        "created": refund.created,
    }


def encode_event(
    event_id: str,
    type_: str,
    created: int,
    intent: PaymentIntent,
    refund: Refund | None = None,
) -> bytes:
    data: dict[str, Any] = {"object": intent_to_json(intent)}
    if refund is not None:
        data["refund"] = refund_to_json(refund)
    event = {"id": event_id, "type": type_, "created": created, "livemode": False, "data": data}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _malformed(message: str) -> InvalidInput:
    return InvalidInput(f"malformed webhook event: {message}", code="malformed_event")


def _refuse_float(text: str) -> Any:
    raise _malformed(f"{text} is not a whole number")


def _field(obj: Mapping[str, Any], key: str, kind: type, *, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(f"{key!r} must be {kind.__name__}")
    return value


def intent_from_json(obj: Mapping[str, Any]) -> PaymentIntent:
    currency = obj.get("currency")
    try:
        status = IntentStatus(str(obj.get("status")))
    except ValueError as exc:
        raise _malformed(f"unknown status {obj.get('status')!r}") from exc
    metadata = _field(obj, "metadata", dict, optional=True) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _malformed("metadata must map strings to strings")
    card = _field(obj, "card", dict, optional=True)
    return PaymentIntent(
        id=_field(obj, "id", str),
        status=status,
        amount=_money(obj.get("amount"), currency),
        amount_refunded=_money(obj.get("amount_refunded"), currency),
        client_secret=_field(obj, "client_secret", str),
        order_ref=_field(obj, "order_ref", str),
        created=_field(obj, "created", int),
        metadata=metadata,
        decline_code=_field(obj, "decline_code", str, optional=True),
        failure_message=_field(obj, "failure_message", str, optional=True),
        card_brand=_field(card, "brand", str, optional=True) if card else None,
        card_last4=_field(card, "last4", str, optional=True) if card else None,
    )


def refund_from_json(obj: Mapping[str, Any]) -> Refund:
    status = obj.get("status")
    if status not in ("pending", "succeeded", "failed"):
        raise _malformed(f"unknown refund status {status!r}")
    return Refund(
        id=_field(obj, "id", str),
        intent_id=_field(obj, "payment_intent", str),
        amount=_money(obj.get("amount"), obj.get("currency")),
        status=status,
        created=_field(obj, "created", int),
    )


def parse_event(body: bytes) -> WebhookEvent:
    """Parse an event body (after `verify`). Raises `InvalidInput` (`malformed_event`).

    Floats are refused rather than read: an amount must never pass through binary floating
    point on its way to a ledger.
    """
    try:
        raw = json.loads(body, parse_float=_refuse_float, parse_constant=_refuse_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _malformed("not JSON") from exc
    if not isinstance(raw, dict):
        raise _malformed("not an object")
    data = _field(raw, "data", dict)
    obj = _field(data, "object", dict)
    refund = _field(data, "refund", dict, optional=True)
    # Unknown event types are parsed, not refused: a receiver acknowledges and ignores them,
    # or the provider would retry them for days.
    intent = intent_from_json(obj) if obj.get("object") == "payment_intent" else None
    return WebhookEvent(
        id=_field(raw, "id", str),
        type=_field(raw, "type", str),
        created=_field(raw, "created", int),
        intent=intent,
        refund=refund_from_json(refund) if refund is not None else None,
    )


def construct_event(
    secret: Secrets,
    headers: Mapping[str, str] | str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> WebhookEvent:
    """`verify`, then `parse_event`: what a webhook endpoint calls first."""
    verify(secret, headers, body, now, tolerance)
    return parse_event(body)
