"""The payment provider port: what checkout needs from a card processor, and nothing more.

The flow follows the card processors people already know (Stripe's payment intents):

1. `create_intent` when the buyer commits to a price: an intent `requires_payment_method`.
2. `confirm_intent` with the card: it returns `processing` at once. The outcome comes later,
   as a signed webhook event (`payment_intent.succeeded` or `payment_intent.payment_failed`
   with a decline code). Checkout must never treat the reply of `confirm_intent` as paid.
3. `cancel_intent` when the stock hold expires or the buyer gives up (`payment_intent.canceled`).
4. `refund` a succeeded intent, in full or in parts (`charge.refunded`).

Webhooks are delivered at least once and in no guaranteed order: a receiver dedupes by event
id (`hawker.payments.webhooks.SeenEvents`) and treats each event as "the intent is now in
this state", not as a step.

An idempotency key makes a retried create or refund return what the first call made, never a
second intent, charge or refund. Reusing a key with different parameters is refused.

Money crosses this boundary as `Money` (Decimal). On the wire it is minor units (an integer)
and a currency code, like the providers do, so it round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from hawker.domain.errors import DomainError
from hawker.domain.money import Money


class IntentStatus(StrEnum):
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        """No further status change can happen (refunds do not change the status)."""
        return self in (IntentStatus.SUCCEEDED, IntentStatus.FAILED, IntentStatus.CANCELED)


class EventType(StrEnum):
    INTENT_SUCCEEDED = "payment_intent.succeeded"
    INTENT_FAILED = "payment_intent.payment_failed"
    INTENT_CANCELED = "payment_intent.canceled"
    CHARGE_REFUNDED = "charge.refunded"


RefundStatus = Literal["pending", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What the buyer typed. `expiry` is "MM/YY"; spaces and dashes in the number are fine.

    The number and the CVC never show up in a repr, so they cannot leak into logs.
    """

    number: str = field(repr=False)
    expiry: str
    cvc: str = field(repr=False)

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.number if ch not in " -")

    @property
    def last4(self) -> str:
        return self.digits[-4:]

    @property
    def brand(self) -> str:
        d = self.digits
        if d.startswith("4"):
            return "visa"
        if d[:2] in ("34", "37"):
            return "amex"
        if d[:2] in ("51", "52", "53", "54", "55") or "2221" <= d[:4] <= "2720":
            return "mastercard"
        return "unknown"

    def __repr__(self) -> str:
        return f"CardDetails(last4={self.last4!r}, expiry={self.expiry!r})"


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    """A snapshot of an intent. Providers hand out new snapshots; they never mutate one."""

    id: str
    status: IntentStatus
    amount: Money
    client_secret: str
    order_ref: str
    created: int
    amount_refunded: Money
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Set when status is FAILED: e.g. "insufficient_funds", "expired_card", "card_declined".
    decline_code: str | None = None
    # A sentence to show the buyer as it is ("Your card has insufficient funds.").
    failure_message: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None

    @property
    def refundable(self) -> Money:
        """What may still be refunded: nothing unless the charge succeeded."""
        if self.status is not IntentStatus.SUCCEEDED:
            return Money.from_minor(0, self.amount.currency)
        return self.amount - self.amount_refunded


@dataclass(frozen=True, slots=True)
class Refund:
    id: str
    intent_id: str
    amount: Money
    status: RefundStatus
    created: int


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified, parsed webhook event.

    `intent` is the intent as it was when the event was sent; it is None only for event types
    this code does not know (a receiver acknowledges those and ignores them). `refund` is set
    for `charge.refunded`.
    """

    id: str
    type: str
    created: int
    intent: PaymentIntent | None
    refund: Refund | None = None


class CardError(DomainError):
    """The card was refused before any charge was attempted; the intent stays
    `requires_payment_method`, so the buyer may try again with another card.

    Codes: `invalid_number` (not a card number), `incorrect_number` (fails the Luhn check),
    `invalid_expiry`, `expired_card`, `invalid_cvc`.
    """

    code = "card_error"
    status = 402


class PaymentProvider(Protocol):
    """A card processor. Every method may raise `DomainError`s with these codes:

    - `intent_not_found` (404): no intent with that id;
    - `intent_unexpected_state` (409): e.g. confirming a canceled intent, refunding one that
      has not succeeded, canceling one that has;
    - `idempotency_key_reused` (409): the key was used before with other parameters;
    - `invalid_amount` (422), `currency_mismatch` (422);
    - `refund_exceeds_charge` (409): more than what is left to refund;
    - card errors (`CardError`, 402) from `confirm_intent`.
    """

    async def create_intent(
        self,
        amount: Money,
        *,
        order_ref: str,
        idempotency_key: str,
        metadata: Mapping[str, str] | None = None,
    ) -> PaymentIntent:
        """Create an intent to charge `amount` (more than zero) for the order `order_ref`.

        The same `idempotency_key` with the same parameters returns the same intent.
        """
        ...

    async def confirm_intent(self, intent_id: str, card: CardDetails) -> PaymentIntent:
        """Charge the card. Returns the intent `processing`; the outcome arrives by webhook.

        Confirming an intent that is already processing or succeeded returns it as it is:
        a retried confirm never charges twice.
        """
        ...

    async def cancel_intent(self, intent_id: str) -> PaymentIntent:
        """Cancel an intent that has not succeeded yet (canceling twice is harmless)."""
        ...

    async def refund(
        self, intent_id: str, amount: Money | None = None, *, idempotency_key: str
    ) -> Refund:
        """Refund `amount` (default: all that is left) of a succeeded intent.

        The same `idempotency_key` returns the same refund, never a second one.
        """
        ...

    async def get_intent(self, intent_id: str) -> PaymentIntent: ...

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Check the signature of a webhook request (headers as received, body as raw bytes)
        and parse it. Raises `WebhookSignatureError` for a forged or replayed one and
        `InvalidInput` (`malformed_event`) for a body that is not an event."""
        ...

    async def aclose(self) -> None: ...
