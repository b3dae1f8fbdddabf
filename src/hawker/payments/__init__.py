"""Payments: the provider port, a sandbox provider, and webhook signatures.

See `port.py` for the flow, `sandbox.py` for the test cards, `webhooks.py` for the signature
scheme and the event format.
"""

from __future__ import annotations

from hawker.payments.port import (
    CardDetails,
    CardError,
    EventType,
    IntentStatus,
    PaymentIntent,
    PaymentProvider,
    Refund,
    WebhookEvent,
)
from hawker.payments.sandbox import Backoff, HttpSink, SandboxProvider, WebhookSink
from hawker.payments.webhooks import SIGNATURE_HEADER, SeenEvents, WebhookSignatureError

__all__ = [
    "SIGNATURE_HEADER",
    "Backoff",
    "CardDetails",
    "CardError",
    "EventType",
    "HttpSink",
    "IntentStatus",
    "PaymentIntent",
    "PaymentProvider",
    "Refund",
    "SandboxProvider",
    "SeenEvents",
    "WebhookEvent",
    "WebhookSignatureError",
    "WebhookSink",
]
