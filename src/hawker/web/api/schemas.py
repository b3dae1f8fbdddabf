"""Request and response bodies of the REST API (they are its OpenAPI description)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

# Ids stay far inside a 64-bit column: a bigger number is refused up front (422) instead of
# reaching the database driver, which cannot bind it.
MAX_ID = 2**62
# JSON true is not the number 1 and 2.0 is not a count: bodies take integers and booleans
# as they are, without lax coercion.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Money goes over the wire as a decimal string ("12.90"), never a float.
Amount = Annotated[str, StringConstraints(pattern=r"^\d{1,10}(\.\d{1,4})?$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]
ShortText = Annotated[str, StringConstraints(max_length=300)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL and no database takes lone surrogates: refuse them
        # here as invalid input rather than fail in the driver.
        _check_text(data)
        return data


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text must be valid Unicode") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in {
        400: "Bad request",
        401: "Not signed in",
        403: "Not allowed",
        404: "Not found",
        409: "Conflicts with the current state",
        413: "Too large",
        422: "Invalid input",
        429: "Too many requests",
    }.items()
}


class MoneyOut(BaseModel):
    amount: str
    currency: str


# -- accounts -------------------------------------------------------------------------


class SignupIn(In):
    email: Email
    password: Annotated[str, StringConstraints(max_length=256)]
    display_name: Annotated[str, StringConstraints(max_length=60)]
    host: Bool = False
    city: Annotated[str, StringConstraints(max_length=80)] | None = None


class TokenIn(In):
    email: Email
    password: Annotated[str, StringConstraints(max_length=256)]


class UserOut(BaseModel):
    id: int
    display_name: str
    is_host: bool


class MeOut(UserOut):
    email: str
    is_admin: bool
    city: str | None
    brand_ids: list[int]
    agency_ids: list[int]


class TokenOut(BaseModel):
    token: str
    expires_at: datetime
    user: UserOut


class RolesIn(In):
    host: Bool | None = None
    admin: Bool | None = None


# -- catalog --------------------------------------------------------------------------


class BrandIn(In):
    name: Annotated[str, StringConstraints(max_length=100)]
    currency: Currency = "USD"


class BrandOut(BaseModel):
    id: int
    name: str
    currency: str


class MemberIn(In):
    email: Email


class VariantIn(In):
    name: Annotated[str, StringConstraints(max_length=100)]
    price: Amount
    stock: Annotated[Int, Field(ge=0, le=10_000_000)]
    sku: Annotated[str, StringConstraints(max_length=64)] | None = None


class VariantPatch(In):
    name: Annotated[str, StringConstraints(max_length=100)] | None = None
    price: Amount | None = None
    stock: Annotated[Int, Field(ge=0, le=10_000_000)] | None = None


class VariantOut(BaseModel):
    id: int
    name: str
    sku: str | None
    price: MoneyOut
    stock: int


Category = Annotated[str, StringConstraints(max_length=60)]


class ProductIn(In):
    title: Annotated[str, StringConstraints(max_length=200)]
    description: Annotated[str, StringConstraints(max_length=5000)] = ""
    category: Category = ""
    variants: Annotated[list[VariantIn], Field(max_length=200)] = []
    image_urls: Annotated[
        list[Annotated[str, StringConstraints(max_length=500)]], Field(max_length=12)
    ] = []


class ProductPatch(In):
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    category: Category | None = None


class ImageIn(In):
    url: Annotated[str, StringConstraints(max_length=500)]


class ImageOut(BaseModel):
    id: int
    url: str


class BrandRef(BaseModel):
    id: int
    name: str


class ProductOut(BaseModel):
    id: int
    brand: BrandRef
    title: str
    description: str
    category: str = ""
    images: list[ImageOut]
    variants: list[VariantOut]


class AgencyIn(In):
    name: Annotated[str, StringConstraints(max_length=100)]


class AgencyOut(BaseModel):
    id: int
    name: str


# -- shows ----------------------------------------------------------------------------


class ShowIn(In):
    title: Annotated[str, StringConstraints(max_length=140)]
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    host_id: Id | None = None
    scheduled_at: datetime | None = None
    cover_url: Annotated[str, StringConstraints(max_length=500)] | None = None
    currency: Currency = "USD"
    contract_id: Id | None = None


class ShowPatch(In):
    title: Annotated[str, StringConstraints(max_length=140)] | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    scheduled_at: datetime | None = None
    cover_url: Annotated[str, StringConstraints(max_length=500)] | None = None


class HostRef(BaseModel):
    id: int
    display_name: str


class ShowOut(BaseModel):
    id: int
    title: str
    description: str
    status: str
    host: HostRef
    currency: str
    scheduled_at: str | None
    started_at: str | None
    ended_at: str | None
    cover_url: str | None
    pinned_listing_id: int | None
    slow_mode_seconds: int
    likes: int
    viewers: int
    contract_id: int | None = None


class StreamKeyOut(BaseModel):
    stream_key: str


class ListingIn(In):
    product_id: Id
    price: Amount | None = None
    variant_ids: Annotated[list[Id], Field(max_length=200)] = []


class ListingPatch(In):
    price: Amount


class OrderIn(In):
    listing_ids: Annotated[list[Id], Field(max_length=200)]


class PinIn(In):
    listing_id: Id


class ListingProduct(BaseModel):
    id: int
    title: str
    description: str
    brand: BrandRef
    image: str | None


class ListingOut(BaseModel):
    id: int
    number: int
    price: MoneyOut
    rate: str | None = None
    product: ListingProduct
    variants: list[VariantOut]
    in_stock: int
    requests: int


class ChatIn(In):
    body: Annotated[str, StringConstraints(max_length=2000)]


class LikesIn(In):
    count: Annotated[Int, Field(ge=1, le=100)] = 1


class RequestRef(BaseModel):
    listing_id: int
    number: int | None


class ChatOut(BaseModel):
    id: int
    user: UserRef
    body: str
    request: RequestRef | None
    staff: bool
    at: str


class UserRef(BaseModel):
    id: int
    display_name: str


class SanctionIn(In):
    ban: Bool | None = None
    mute_seconds: Annotated[Int, Field(ge=0, le=30 * 86400)] | None = None


class SanctionOut(BaseModel):
    user_id: int
    banned: bool
    muted_until: str | None


class SanctionRow(BaseModel):
    user: UserRef
    banned: bool
    muted_until: str | None


class ChatSettingsIn(In):
    slow_mode_seconds: Annotated[Int, Field(ge=0, le=3600)] | None = None
    banned_words: (
        Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=500)]
        | None
    ) = None


class ChatSettingsOut(BaseModel):
    slow_mode_seconds: int
    banned_words: list[str]


class SnapshotOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq: int
    server_time: int
    show: ShowOut
    shelf: list[ListingOut]
    pinned: ListingOut | None
    viewers: int
    likes: int
    chat: list[ChatOut]


ChatOut.model_rebuild()


# -- checkout ---------------------------------------------------------------------------

IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]


class AddressIn(In):
    name: Annotated[str, StringConstraints(max_length=100)]
    line1: Annotated[str, StringConstraints(max_length=200)]
    line2: Annotated[str, StringConstraints(max_length=200)] = ""
    city: Annotated[str, StringConstraints(max_length=100)]
    region: Annotated[str, StringConstraints(max_length=100)] = ""
    postal_code: Annotated[str, StringConstraints(max_length=20)]
    country: Annotated[str, StringConstraints(min_length=2, max_length=2)]
    phone: Annotated[str, StringConstraints(max_length=40)] = ""


class AddressOut(BaseModel):
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postal_code: str
    country: str
    phone: str


class BuyIn(In):
    listing_id: Id
    variant_id: Id | None = None
    quantity: Annotated[int, Field(strict=True)] = 1
    idempotency_key: IdempotencyKey
    coupon_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    quote_fingerprint: Annotated[str, StringConstraints(max_length=80)] | None = None


class QuoteIn(In):
    listing_id: Id
    variant_id: Id | None = None
    quantity: Annotated[int, Field(strict=True)] = 1
    coupon_code: Annotated[str, StringConstraints(max_length=64)] | None = None


class QuoteLineOut(BaseModel):
    listing_id: int
    variant_id: int | None
    quantity: int
    list_price: MoneyOut
    unit_price: MoneyOut
    line_total: MoneyOut
    on_deal: bool
    coupon_applies: bool


class QuoteOut(BaseModel):
    show_id: int
    currency: str
    lines: list[QuoteLineOut]
    subtotal: MoneyOut
    discount: MoneyOut
    total: MoneyOut
    coupon_code: str | None
    fingerprint: str


class OrderOut(BaseModel):
    id: int
    status: str
    show_id: int
    listing_id: int | None
    number: int
    variant_id: int
    deal_id: int | None
    title: str
    quantity: int
    unit_price: MoneyOut
    subtotal: MoneyOut
    discount: MoneyOut
    total: MoneyOut
    # The total in the brand's currency and the rate it was converted at (None: the
    # order was charged in the brand's currency).
    brand_total: MoneyOut
    rate: str | None = None
    idempotency_key: str
    hold_expires_at: str
    decline_reason: str | None
    shipping: dict[str, str]
    created_at: str
    paid_at: str | None


class CardIn(In):
    number: Annotated[str, StringConstraints(max_length=30)]
    expiry: Annotated[str, StringConstraints(max_length=7)]
    cvc: Annotated[str, StringConstraints(max_length=4)]


class PayIn(In):
    card: CardIn


class DealIn(In):
    listing_id: Id
    variant_id: Id | None = None
    price: Amount
    quantity: Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
    per_buyer_limit: Annotated[int, Field(strict=True, ge=1, le=1_000_000)] = 1
    duration_seconds: Annotated[int, Field(strict=True, ge=1, le=86_400)] = 300
    countdown_seconds: Annotated[int, Field(strict=True, ge=0, le=600)] = 0


class DealVariant(BaseModel):
    id: int
    name: str


class DealOut(BaseModel):
    id: int
    listing_id: int
    number: int | None
    variant: DealVariant
    price: MoneyOut
    list_price: MoneyOut | None
    quantity: int
    left: int
    per_buyer_limit: int
    starts_at: str
    ends_at: str
    status: str
    server_time: str


class CouponIn(In):
    code: Annotated[str, StringConstraints(max_length=32)]
    percent_off: Annotated[int, Field(strict=True, ge=1, le=100)] | None = None
    amount_off: Amount | None = None
    min_spend: Amount | None = None
    uses_per_buyer: Annotated[int, Field(strict=True, ge=1, le=1000)] = 1
    total_uses: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] | None = None
    show_id: Id | None = None
    brand_id: Id | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    claim_limit: Annotated[int, Field(strict=True, ge=1, le=10_000_000)] | None = None


class CouponOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    code: str
    percent_off: int | None
    amount_off: MoneyOut | None
    min_spend: MoneyOut
    show_id: int | None
    brand_id: int | None
    claimable: bool
    dropped: bool


class FiguresOut(BaseModel):
    units: int
    orders: int
    gmv: MoneyOut
    orders_per_minute: int


class ChapterOut(BaseModel):
    number: int
    title: str
    listing_id: int | None
    pinned_at: str
    replay_offset_s: float | None


class CoverOut(BaseModel):
    cover_url: str


# -- the business: agencies, contracts, commissions, settlements -------------------------

# A share in percent with at most two decimals: "12.5" is 12.5% of what the buyer paid.
Share = Annotated[str, StringConstraints(pattern=r"^\d{1,3}(\.\d{1,2})?$")]


class InviteIn(In):
    email: Email


class AgencyRef(BaseModel):
    id: int
    name: str


class InvitationOut(BaseModel):
    id: int
    agency: AgencyRef
    host: UserRef
    status: str
    created_at: str
    answered_at: str | None


class RateIn(In):
    """A rate for one product, one category, or (neither) every product of the contract.
    Its dates default to the contract's."""

    product_id: Id | None = None
    category: Category | None = None
    host_share: Share
    agency_share: Share = "0"
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class ContractIn(In):
    """Offered by the brand to an agency or to a host (one of the two). `product_ids` left
    out: every product of the brand. `fixed_fee` is in the brand's currency."""

    brand_id: Id
    agency_id: Id | None = None
    host_id: Id | None = None
    product_ids: Annotated[list[Id], Field(max_length=1000)] | None = None
    starts_at: datetime
    ends_at: datetime
    rates: Annotated[list[RateIn], Field(min_length=1, max_length=200)]
    fixed_fee: Amount | None = None


class RateOut(BaseModel):
    product_id: int | None
    category: str | None
    host_share: str
    agency_share: str
    starts_at: str
    ends_at: str


class ContractOut(BaseModel):
    id: int
    status: str
    brand: BrandRef
    agency: AgencyRef | None
    host: UserRef | None
    product_ids: list[int] | None
    starts_at: str
    ends_at: str
    fixed_fee: MoneyOut | None
    rates: list[RateOut]
    created_at: str
    answered_at: str | None


class CloseIn(In):
    period_end: datetime | None = None


class TotalsOut(BaseModel):
    currency: str
    orders: int
    sales: MoneyOut
    host: MoneyOut
    agency: MoneyOut
    brand: MoneyOut
    fees: MoneyOut


class CommissionLineOut(BaseModel):
    id: int
    at: str
    kind: str
    party: str
    payee: str
    order_id: int | None
    show_id: int | None
    contract_id: int
    title: str
    base: MoneyOut
    share: str
    amount: MoneyOut
    # For an order charged in another currency than the brand's: its rate, and the amount
    # in the brand's currency (otherwise the amount itself).
    rate: str | None = None
    brand_amount: MoneyOut


class OpenLinesOut(BaseModel):
    party: str
    party_id: int
    party_name: str
    totals: list[TotalsOut]
    brand_totals: list[TotalsOut]
    lines: list[CommissionLineOut]


class SettlementSummaryOut(BaseModel):
    id: int
    party: str
    party_id: int
    party_name: str
    period_start: str | None
    period_end: str
    closed_at: str
    line_count: int
    totals: list[TotalsOut]
    # The same sums in the brands' currencies: what a brand settles in.
    brand_totals: list[TotalsOut]


class SettlementOut(SettlementSummaryOut):
    lines: list[CommissionLineOut]


# -- sales competitions and head-to-head battles -------------------------------------------


class CompetitionIn(In):
    """An agency's competition (`agency_id`: its hosts or their shows), a brand's
    (`brand_id`: shows that sell its products, counting only its products' orders) or, with
    neither, the platform's (admins only). Only orders in `currency` count."""

    title: Annotated[str, StringConstraints(max_length=120)]
    agency_id: Id | None = None
    brand_id: Id | None = None
    entrant_kind: Literal["host", "show"]
    entrant_ids: Annotated[list[Id], Field(max_length=500)]
    metric: Literal["gmv", "units"] = "gmv"
    currency: Currency
    starts_at: datetime
    ends_at: datetime


class OrganizerOut(BaseModel):
    kind: str
    id: int | None
    name: str


class EntrantOut(BaseModel):
    kind: str
    id: int
    name: str
    host: UserRef | None


class StandingOut(BaseModel):
    rank: int
    entrant: EntrantOut
    units: int
    gmv: MoneyOut
    winner: bool


class CompetitionSummaryOut(BaseModel):
    id: int
    title: str
    organizer: OrganizerOut
    entrant_kind: str
    metric: str
    currency: str
    starts_at: str
    ends_at: str
    status: str
    final_at: str | None
    entrants: int
    server_time: str


class CompetitionOut(CompetitionSummaryOut):
    standings: list[StandingOut]
    winners: list[EntrantOut]


class BattleIn(In):
    show_id: Id
    opponent_show_id: Id
    duration_seconds: Annotated[int, Field(strict=True, ge=10, le=3600)] = 300


class BattleSideOut(BaseModel):
    show_id: int
    title: str
    host: UserRef
    units: int


class BattleOut(BaseModel):
    id: int
    status: str
    started_at: str
    ends_at: str
    ended_at: str | None
    sides: list[BattleSideOut]
    winner_show_id: int | None
    draw: bool
    server_time: str


class ExchangeRateIn(In):
    """1 `base` is worth `rate` `quote`, as decimal text ("0.1380"), from `valid_from` (now
    if not given) on."""

    rate: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    valid_from: datetime | None = None


class ExchangeRateOut(BaseModel):
    base: str
    quote: str
    rate: str
    valid_from: str
