"""Domain errors: each has a stable code, mapped once to HTTP and WebSocket replies."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for an annotation: pricing imports this module
    from hawker.domain.pricing import Quote


class DomainError(Exception):
    """A rule was broken. `code` is stable and machine-readable; `status` is the HTTP fit."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def details(self) -> dict[str, object]:
        """Facts a client shows beside the message ("only 2 left", the new quote)."""
        return {}


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422


class NotFound(DomainError):
    code = "not_found"
    status = 404


class NotSignedIn(DomainError):
    code = "not_signed_in"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class Conflict(DomainError):
    code = "conflict"
    status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A backend the request needs (the database, Redis) cannot be reached just now. Nothing
    was done; the same request may be sent again shortly."""

    code = "service_unavailable"
    status = 503

    def __init__(self, message: str, *, retry_after: float = 1.0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


# Checkout. Each error below may carry facts a client shows ("only 2 left", the new quote);
# `details()` returns them as JSON-ready values so that the web layer can add them to the
# error body next to code and message.


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"
    status = 422


class SoldOut(Conflict):
    code = "sold_out"
    status = 409

    def __init__(self, message: str, *, left: int = 0, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.left = left

    def details(self) -> dict[str, object]:
        return {"left": self.left}


class LimitReached(Conflict):
    code = "limit_reached"
    status = 409

    def __init__(self, message: str, *, limit: int, already: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.limit = limit
        self.already = already

    def details(self) -> dict[str, object]:
        return {"limit": self.limit, "already": self.already}


class DealNotRunning(Conflict):
    code = "deal_not_running"
    status = 409


class PriceChanged(Conflict):
    """The price moved between the quote a buyer saw and the checkout; nobody was charged."""

    code = "price_changed"
    status = 409

    def __init__(self, message: str, *, quote: Quote, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.quote = quote

    def details(self) -> dict[str, object]:
        return {"quote": self.quote.to_json()}


class CouponInvalid(Conflict):
    """A well-formed coupon code that does not apply now: `coupon_expired`, `coupon_used_up`,
    `coupon_min_spend`, `coupon_not_applicable` ... A malformed code is `InvalidInput` (422,
    `invalid_coupon_code`): that one is wrong whatever the cart holds."""

    code = "coupon_invalid"
    status = 409


class PaymentDeclined(DomainError):
    code = "payment_declined"
    status = 402

    def __init__(self, message: str, *, reason: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        # What the provider said, e.g. "insufficient_funds", "expired_card".
        self.reason = reason

    def details(self) -> dict[str, object]:
        return {"reason": self.reason}


class InvalidTransition(Conflict):
    code = "invalid_state"
    status = 409

    def __init__(self, message: str, *, state: str, event: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.state = state
        self.event = event

    def details(self) -> dict[str, object]:
        return {"state": self.state, "event": self.event}
