"""Tables. Money is stored as integer minor units beside its currency."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A moment in UTC. SQLite keeps no time zone and hands back naive datetimes; everything
    Hawker writes is UTC, so they are made aware here, once, for every read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


Stamp = UtcDateTime()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    password_hash: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(80))
    is_host: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class Session(Base):
    """A sign-in. `kind` is "cookie" (pages, with a CSRF token) or "token" (API bearer)."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    expires_at: Mapped[datetime] = mapped_column(Stamp)


class Brand(Base):
    __tablename__ = "brands"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class BrandMember(Base):
    __tablename__ = "brand_members"
    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Agency(Base):
    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class AgencyMember(Base):
    __tablename__ = "agency_members"
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AgencyHost(Base):
    """A host signed by an agency (the host accepted its invitation)."""

    __tablename__ = "agency_hosts"
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class AgencyInvitation(Base):
    """An agency asks a host to sign; the host accepts (then an `AgencyHost` row) or
    declines. `status`: pending, accepted, declined."""

    __tablename__ = "agency_invitations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    agency_id: Mapped[int] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    invited_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    answered_at: Mapped[datetime | None] = mapped_column(Stamp)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Lower case, spaces collapsed ("lip gloss"); "" for none. Contracts may rate by it.
    category: Mapped[str] = mapped_column(String(60), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ProductImage(Base):
    __tablename__ = "product_images"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer)


class Variant(Base):
    __tablename__ = "variants"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(64), unique=True)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer)


class Show(Base):
    __tablename__ = "shows"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(140))
    description: Mapped[str] = mapped_column(Text, default="")
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    scheduled_at: Mapped[datetime] = mapped_column(Stamp)
    started_at: Mapped[datetime | None] = mapped_column(Stamp)
    ended_at: Mapped[datetime | None] = mapped_column(Stamp)
    cover_url: Mapped[str | None] = mapped_column(String(500))
    stream_key: Mapped[str] = mapped_column(String(64), unique=True)
    pinned_listing_id: Mapped[int | None] = mapped_column(
        ForeignKey("listings.id", use_alter=True, ondelete="SET NULL")
    )
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)
    banned_words: Mapped[list[str]] = mapped_column(JSON, default=list)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    # The contract the show is booked under, if any: its shelf holds only the contract's
    # products and its paid orders earn commission lines.
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contracts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ShowModerator(Base):
    __tablename__ = "show_moderators"
    show_id: Mapped[int] = mapped_column(
        ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Listing(Base):
    __tablename__ = "listings"
    __table_args__ = (UniqueConstraint("show_id", "position"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    position: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # For a product priced in another currency than the show's: that currency and the rate
    # (1 brand_currency = fx_rate currency, decimal text) the price was set at. None: same.
    brand_currency: Mapped[str | None] = mapped_column(String(3))
    fx_rate: Mapped[str | None] = mapped_column(String(40))
    # The variants offered; empty means all of the product's variants.
    variant_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_show_id_id", "show_id", "id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(String(1200))
    request_listing_id: Mapped[int | None] = mapped_column(
        ForeignKey("listings.id", ondelete="SET NULL"), index=True
    )
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ShowSanction(Base):
    """A mute (with an end) or a ban (until lifted) of a viewer in one show."""

    __tablename__ = "show_sanctions"
    show_id: Mapped[int] = mapped_column(
        ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    muted_until: Mapped[datetime | None] = mapped_column(Stamp)
    by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)


# -- checkout ---------------------------------------------------------------------------


class Address(Base):
    """A buyer's shipping address: asked once, kept, used for every order."""

    __tablename__ = "addresses"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100))
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str] = mapped_column(String(100), default="")
    postal_code: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(Stamp)


class Deal(Base):
    """A flash deal: `quantity` units of one variant carved out of its stock, at `price`,
    at most `per_buyer_limit` each, between `starts_at` and `ends_at`."""

    __tablename__ = "deals"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)
    per_buyer_limit: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(Stamp)
    ends_at: Mapped[datetime] = mapped_column(Stamp)
    # The status last announced to the room; the workers race to announce each change once.
    status: Mapped[str] = mapped_column(String(12))
    # Set once the deal is over and its unsold units went back to the variant's stock.
    closed_at: Mapped[datetime | None] = mapped_column(Stamp)
    created_at: Mapped[datetime] = mapped_column(Stamp)


class Coupon(Base):
    __tablename__ = "coupons"
    __table_args__ = (UniqueConstraint("code", "show_id", "brand_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    percent_off: Mapped[int | None] = mapped_column(Integer)
    amount_off_minor: Mapped[int | None] = mapped_column(BigInteger)
    min_spend_minor: Mapped[int | None] = mapped_column(BigInteger)
    uses_per_buyer: Mapped[int] = mapped_column(Integer)
    total_uses: Mapped[int | None] = mapped_column(Integer)
    show_id: Mapped[int | None] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime | None] = mapped_column(Stamp)
    ends_at: Mapped[datetime | None] = mapped_column(Stamp)
    claim_limit: Mapped[int | None] = mapped_column(Integer)
    dropped_at: Mapped[datetime | None] = mapped_column(Stamp)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class CouponClaim(Base):
    __tablename__ = "coupon_claims"
    coupon_id: Mapped[int] = mapped_column(
        ForeignKey("coupons.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    claimed_at: Mapped[datetime] = mapped_column(Stamp)


class Order(Base):
    """The durable ledger. A pending order *is* the reservation: its units are held in
    `pool` under `reservation_id` until it is paid or its hold expires."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("buyer_id", "idempotency_key"),
        UniqueConstraint("pool", "reservation_id"),
        Index("ix_orders_show_id_status", "show_id", "status"),
        Index("ix_orders_status_hold_expires_at", "status", "hold_expires_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id"))
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"))
    listing_number: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"))
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"))
    title: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # Charged in another currency than the brand's: the listing's rate and the total in the
    # brand's currency. None: charged in the brand's currency.
    brand_currency: Mapped[str | None] = mapped_column(String(3))
    fx_rate: Mapped[str | None] = mapped_column(String(40))
    brand_total_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))
    pool: Mapped[str] = mapped_column(String(64))
    reservation_id: Mapped[int] = mapped_column(BigInteger)
    coupon_reservation_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    hold_expires_at: Mapped[datetime] = mapped_column(Stamp)
    payment_intent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    decline_reason: Mapped[str | None] = mapped_column(String(200))
    shipping: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(Stamp)
    paid_at: Mapped[datetime | None] = mapped_column(Stamp)
    closed_at: Mapped[datetime | None] = mapped_column(Stamp)


class Pin(Base):
    """Every time an item was pinned: the replay's chapters ("jump to when #7 was shown")."""

    __tablename__ = "pins"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    pinned_at: Mapped[datetime] = mapped_column(Stamp)
    # The program date-time of the picture on screen when it was pinned, if streaming.
    stream_at: Mapped[datetime | None] = mapped_column(Stamp)


# -- the business: contracts, commissions, settlements ------------------------------------


class Contract(Base):
    """What a brand agreed with an agency or a host (exactly one of the two): the products
    (None: all of the brand's), the dates, a fixed fee in the brand's currency. `status`:
    offered, active, declined (domain/contracts.py)."""

    __tablename__ = "contracts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    product_ids: Mapped[list[int] | None] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(Stamp)
    ends_at: Mapped[datetime] = mapped_column(Stamp)
    fixed_fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    answered_at: Mapped[datetime | None] = mapped_column(Stamp)


class ContractRate(Base):
    """A commission rate: for one product, one category or (neither) every product of the
    contract, in force from `starts_at` to `ends_at`. Shares are basis points (1% = 100)."""

    __tablename__ = "contract_rates"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    category: Mapped[str | None] = mapped_column(String(60))
    host_bp: Mapped[int] = mapped_column(Integer)
    agency_bp: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(Stamp)
    ends_at: Mapped[datetime] = mapped_column(Stamp)


class Settlement(Base):
    """A closed period of one party's lines (`party`: brand, agency or host). Once written
    it never changes: its lines point at it and later lines go into the next one."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("party", "party_id", "period_end"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    party: Mapped[str] = mapped_column(String(10))
    party_id: Mapped[int] = mapped_column(BigInteger)
    period_start: Mapped[datetime | None] = mapped_column(Stamp)
    period_end: Mapped[datetime] = mapped_column(Stamp)
    line_count: Mapped[int] = mapped_column(Integer)
    # Sums per currency as they were closed (minor units): the page checks its lines add up.
    totals: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    # The same sums in the brands' currencies (lines of orders charged in another currency
    # converted at their orders' rates). None for settlements closed before rates existed.
    brand_totals: Mapped[list[dict[str, object]] | None] = mapped_column(JSON)
    closed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime] = mapped_column(Stamp)


class CommissionLine(Base):
    """One party's amount of one paid order (or refund, or contract fee), in minor units of
    the order's currency. A line belongs to up to three settlements: the brand's, the
    agency's and the host's, each closed on its own."""

    __tablename__ = "commission_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "party", "kind"),
        Index(
            "ix_commission_lines_brand_id_brand_settlement_id", "brand_id", "brand_settlement_id"
        ),
        Index(
            "ix_commission_lines_agency_id_agency_settlement_id",
            "agency_id",
            "agency_settlement_id",
        ),
        Index("ix_commission_lines_host_id_host_settlement_id", "host_id", "host_settlement_id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    show_id: Mapped[int | None] = mapped_column(ForeignKey("shows.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    title: Mapped[str] = mapped_column(String(300))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    host_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    party: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    base_minor: Mapped[int] = mapped_column(BigInteger)
    share_bp: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The line in the brand's currency, for an order charged in another one (at its rate).
    brand_currency: Mapped[str | None] = mapped_column(String(3))
    fx_rate: Mapped[str | None] = mapped_column(String(40))
    brand_base_minor: Mapped[int | None] = mapped_column(BigInteger)
    brand_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(Stamp)
    brand_settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlements.id"))
    agency_settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlements.id"))
    host_settlement_id: Mapped[int | None] = mapped_column(ForeignKey("settlements.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)


# -- sales competitions and head-to-head battles ------------------------------------------


class Competition(Base):
    """A sales contest over [starts_at, ends_at) in one currency (domain/competitions.py).
    Its organizer is an agency, a brand (exactly one of the two ids) or, with neither, the
    platform's admins. `final_at` is set when the winners are fixed, together with the
    entries' figures and ranks, and nothing changes after it."""

    __tablename__ = "competitions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True)
    entrant_kind: Mapped[str] = mapped_column(String(10))
    metric: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str] = mapped_column(String(3))
    starts_at: Mapped[datetime] = mapped_column(Stamp)
    ends_at: Mapped[datetime] = mapped_column(Stamp, index=True)
    final_at: Mapped[datetime | None] = mapped_column(Stamp)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class CompetitionEntry(Base):
    """One entrant: a host or a show (as the competition's `entrant_kind` says). The
    figures and rank are written once, when the winners are fixed."""

    __tablename__ = "competition_entries"
    __table_args__ = (
        UniqueConstraint("competition_id", "host_id", name="uq_competition_entries_host"),
        UniqueConstraint("competition_id", "show_id", name="uq_competition_entries_show"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    host_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    show_id: Mapped[int | None] = mapped_column(ForeignKey("shows.id"))
    units: Mapped[int | None] = mapped_column(Integer)
    gmv_minor: Mapped[int | None] = mapped_column(BigInteger)
    rank: Mapped[int | None] = mapped_column(Integer)


class Battle(Base):
    """Two live shows, head to head for a few minutes: the units each sold since the start.
    `units_a` and `units_b` are the score last announced to the rooms (the workers race to
    announce each change once); final once `status` is "ended"."""

    __tablename__ = "battles"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_a_id: Mapped[int] = mapped_column(ForeignKey("shows.id"), index=True)
    show_b_id: Mapped[int] = mapped_column(ForeignKey("shows.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), index=True)
    started_at: Mapped[datetime] = mapped_column(Stamp)
    ends_at: Mapped[datetime] = mapped_column(Stamp)
    units_a: Mapped[int] = mapped_column(Integer, default=0)
    units_b: Mapped[int] = mapped_column(Integer, default=0)
    # None with status "ended": a draw.
    winner_show_id: Mapped[int | None] = mapped_column(ForeignKey("shows.id"))
    ended_at: Mapped[datetime | None] = mapped_column(Stamp)
    started_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


# -- schedules: run of show, follows, reminders, notifications ----------------------------


class RunSegment(Base):
    """One step of a show's run of show: at `offset_seconds` after the show goes live (or,
    before it does, after its scheduled time) or at the clock time `at` (exactly one of the
    two), pin `listing_id` and/or start a flash deal on it with the `deal_*` terms.
    `applied_at` is when its step was last carried out."""

    __tablename__ = "run_segments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    offset_seconds: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime | None] = mapped_column(Stamp)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"))
    pin: Mapped[bool] = mapped_column(Boolean, default=False)
    deal_variant_id: Mapped[int | None] = mapped_column(ForeignKey("variants.id"))
    deal_price_minor: Mapped[int | None] = mapped_column(BigInteger)
    deal_quantity: Mapped[int | None] = mapped_column(Integer)
    deal_per_buyer_limit: Mapped[int | None] = mapped_column(Integer)
    deal_duration_seconds: Mapped[int | None] = mapped_column(Integer)
    applied_at: Mapped[datetime | None] = mapped_column(Stamp)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Stamp)


class Follow(Base):
    """A viewer follows a host: told when any of the host's shows goes live."""

    __tablename__ = "follows"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(Stamp)


class ShowReminder(Base):
    """A viewer asked to be told when one scheduled show goes live."""

    __tablename__ = "show_reminders"
    show_id: Mapped[int] = mapped_column(
        ForeignKey("shows.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(Stamp)


class Notification(Base):
    """An in-app notification. One per user, kind and show at most: a show that is told
    live twice (two workers, a retry) tells each viewer once. `mailed_at` is None while
    its email is still to go (services/notifications.py sends them)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", "show_id"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index(
            "ix_notifications_to_mail",
            "id",
            postgresql_where=text("mailed_at IS NULL"),
            sqlite_where=text("mailed_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    show_id: Mapped[int | None] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(String(500), default="")
    url: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(Stamp)
    read_at: Mapped[datetime | None] = mapped_column(Stamp)
    mailed_at: Mapped[datetime | None] = mapped_column(Stamp)


# -- analytics: viewers over time and watch time --------------------------------------------


class ViewerSample(Base):
    """How many watched a live show at one moment (the count the room shows): one row per
    show per sampling interval, written by whichever process has the turn."""

    __tablename__ = "viewer_samples"
    __table_args__ = (Index("ix_viewer_samples_show_id_at", "show_id", "at"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(Stamp)
    viewers: Mapped[int] = mapped_column(Integer)


class WatchSession(Base):
    """One viewer's stay in a show's room, as the process serving its socket saw it: written
    when first seen, closed (`left_at`, `seconds`) when gone. `user_id` is None for a viewer
    who is not signed in (each such stay counts as one viewer)."""

    __tablename__ = "watch_sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    show_id: Mapped[int] = mapped_column(ForeignKey("shows.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    joined_at: Mapped[datetime] = mapped_column(Stamp)
    left_at: Mapped[datetime | None] = mapped_column(Stamp)
    seconds: Mapped[int | None] = mapped_column(Integer)


class ExchangeRate(Base):
    """1 `base` is worth `rate` `quote` from `valid_from` on, until a later rate of the pair
    (domain/rates.py). Rows are never changed: a new rate is a new row."""

    __tablename__ = "exchange_rates"
    __table_args__ = (UniqueConstraint("base", "quote", "valid_from"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    rate: Mapped[str] = mapped_column(String(40))
    valid_from: Mapped[datetime] = mapped_column(Stamp)
    set_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(Stamp)
