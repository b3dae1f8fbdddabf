"""The demo world: a brand with wigs and lipsticks, staff accounts and a show on air.

`seed(settings)` goes through the services, never around them, so the demo only ever
holds what a real user could have made. It is idempotent: every step first looks for
what an earlier run made and reuses it, so `hawker demo` can run any number of times
on the same database and still ends with exactly one show on air, its shelf filled
and one item pinned. Pictures are SVG files drawn here into the media directory, so
the demo needs no network.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from hawker.config import Settings
from hawker.domain.errors import Conflict
from hawker.domain.roles import Actor
from hawker.services import accounts, catalog, context, rates, shelf, shows
from hawker.services.catalog import VariantInput
from hawker.services.context import Context

PASSWORD = "hawker-demo"
BRAND = "Silk & Crown"
CURRENCY = "USD"
MEDIA = "demo"  # a folder of the media directory, so uploads and demo art never mix
LIVE_TITLE = "Silk & Crown LIVE: wig try-on night + 36 lipstick shades"


@dataclass(frozen=True, slots=True)
class Login:
    role: str
    email: str
    password: str
    name: str


HOST = Login("host", "host@hawker.test", PASSWORD, "Mia Laurent")
MODERATOR = Login("moderator", "mod@hawker.test", PASSWORD, "Jordan (mod)")
MERCHANT = Login("merchant", "merchant@hawker.test", PASSWORD, "Ada Okafor")
ADMIN = Login("admin", "admin@hawker.test", PASSWORD, "Hawker Admin")
LOGINS = (HOST, MODERATOR, MERCHANT, ADMIN)


@dataclass(frozen=True, slots=True)
class Shade:
    name: str
    colour: str


@dataclass(frozen=True, slots=True)
class ProductSpec:
    key: str  # file names and SKUs
    title: str
    description: str
    variants: tuple[VariantInput, ...]
    colour: str  # the colour its picture is drawn in
    kind: str  # "wig" | "lipstick" | "gloss"
    shades: tuple[Shade, ...] = ()


@dataclass
class DemoWorld:
    show_id: int
    host_id: int
    brand_id: int
    scheduled_show_ids: list[int]
    logins: tuple[Login, ...] = LOGINS
    listings: int = 0
    created: list[str] = field(default_factory=list)  # what this run made (empty on a rerun)


# -- the catalog ------------------------------------------------------------------------

# (code, name, hex): wig colours by their trade codes.
_HAIR = {
    "1B": ("Natural Black", "#1f1a17"),
    "4": ("Dark Brown", "#4a3224"),
    "27": ("Honey Blonde", "#b7833f"),
    "350": ("Copper", "#a4492a"),
    "60": ("Platinum", "#e4dccb"),
    "99J": ("Burgundy", "#5e1a2b"),
    "T1B/30": ("Ombre Auburn", "#6e3b22"),
}

# title, description, colour codes, lengths in inches, base price (shortest length)
_WIGS: tuple[tuple[str, str, tuple[str, ...], tuple[int, ...], int], ...] = (
    (
        "Body Wave Lace Front Wig",
        "Soft S-waves, 13x4 HD lace, pre-plucked hairline.",
        ("1B", "4"),
        (16, 20, 24),
        169,
    ),
    (
        "Silky Straight Bob Wig",
        "Blunt-cut bob, glueless cap, ready to wear in a minute.",
        ("1B", "99J"),
        (10, 12, 14),
        119,
    ),
    (
        "Deep Wave Glueless Wig",
        "Defined deep waves with a wear-and-go elastic band.",
        ("1B", "T1B/30"),
        (18, 22, 26),
        189,
    ),
    (
        "Kinky Curly Wig",
        "4B-4C texture that blends with natural hair.",
        ("1B", "4"),
        (14, 18, 22),
        179,
    ),
    (
        "Loose Wave 13x4 Lace Wig",
        "Big loose waves, 180% density for a full look.",
        ("1B", "27"),
        (18, 22, 26),
        199,
    ),
    (
        "Honey Blonde Balayage Wig",
        "Hand-painted balayage over a dark root.",
        ("27", "T1B/30"),
        (16, 20, 24),
        229,
    ),
    (
        "Water Wave Wig",
        "Wet-look ripples that hold their pattern after washing.",
        ("1B", "4"),
        (18, 22, 26),
        175,
    ),
    (
        "Yaki Straight U-Part Wig",
        "Relaxed-texture straight hair; leave out your own.",
        ("1B", "4"),
        (14, 18, 22),
        139,
    ),
    (
        "Copper Red Curtain Bangs Wig",
        "Face-framing curtain bangs in a warm copper.",
        ("350", "99J"),
        (14, 18, 22),
        209,
    ),
    ("Pixie Cut Wig", "Short tapered pixie, breathable cap.", ("1B", "60"), (6, 8, 10), 99),
    (
        "Platinum Layered Wig",
        "Icy platinum with soft layers, toned in house.",
        ("60", "27"),
        (16, 20, 24),
        249,
    ),
    (
        "Jerry Curl HD Lace Wig",
        "Bouncy spiral curls, invisible HD lace.",
        ("1B", "350"),
        (16, 20, 24),
        189,
    ),
)

_LIPSTICK_SHADES = (
    Shade("#01 Bare Silk", "#d9a38f"),
    Shade("#02 Nude Crush", "#c98b77"),
    Shade("#03 Toasted Almond", "#b07058"),
    Shade("#04 Cashmere Rose", "#c7787a"),
    Shade("#05 Petal Pout", "#e08a9b"),
    Shade("#06 Mauve Mood", "#9e5e6f"),
    Shade("#07 Ruby Riot", "#a3122a"),
    Shade("#08 Cherry Bomb", "#b3122e"),
    Shade("#09 Lady Scarlet", "#c8102e"),
    Shade("#10 Fire Engine", "#d2171f"),
    Shade("#11 Coral Reef", "#f26b5b"),
    Shade("#12 Tangerine Dream", "#f2762e"),
    Shade("#13 Brick House", "#9c3b2a"),
    Shade("#14 Cinnamon Stick", "#8c4a32"),
    Shade("#15 Spice Route", "#a0522d"),
    Shade("#16 Chestnut", "#6b3a2a"),
    Shade("#17 Cocoa Velvet", "#5a3428"),
    Shade("#18 Espresso Shot", "#3e2320"),
    Shade("#19 Berry Jam", "#7a1f3d"),
    Shade("#20 Plum Wine", "#5e1f3a"),
    Shade("#21 Black Cherry", "#4a1020"),
    Shade("#22 Vampira", "#3b0a1a"),
    Shade("#23 Fuchsia Flash", "#d1246f"),
    Shade("#24 Hot Pink Heat", "#e6397f"),
    Shade("#25 Bubblegum", "#f48fb1"),
    Shade("#26 Orchid", "#b05fa8"),
    Shade("#27 Lilac Haze", "#a68bbf"),
    Shade("#28 Ultraviolet", "#5b2a86"),
    Shade("#29 Rosewood", "#8e4a4f"),
    Shade("#30 Dusty Rose", "#b5737a"),
    Shade("#31 Terracotta", "#b5562f"),
    Shade("#32 Caramel Kiss", "#a8694a"),
    Shade("#33 Mocha Latte", "#8a5a44"),
    Shade("#34 Burgundy Night", "#641c2c"),
    Shade("#35 Classic Red", "#be1e2d"),
    Shade("#36 Midnight Ink", "#2b1b2f"),
)

_GLOSS_SHADES = (
    Shade("Clear Glass", "#f1e4e4"),
    Shade("Pink Champagne", "#f0b7b9"),
    Shade("Peach Fizz", "#f5a98a"),
    Shade("Honey Glaze", "#d69c5e"),
    Shade("Rose Quartz", "#e39aa6"),
    Shade("Watermelon", "#f2637a"),
    Shade("Cherry Cola", "#8c2332"),
    Shade("Bronze Goddess", "#a66a3f"),
    Shade("Berry Shine", "#9c2c59"),
    Shade("Nude Glow", "#c99a86"),
    Shade("Lavender Ice", "#c7a9d9"),
    Shade("Gold Flake", "#d4b15a"),
)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def catalog_specs() -> list[ProductSpec]:
    """The 12 wigs (in shelf order) then the lipstick line. Stock is drawn from a fixed
    seed, so every fresh demo database looks the same."""
    rng = random.Random(7)
    specs: list[ProductSpec] = []
    for i, (title, description, colours, lengths, base) in enumerate(_WIGS, start=1):
        variants = []
        for code in colours:
            for step, inches in enumerate(lengths):
                variants.append(
                    VariantInput(
                        name=f'{_HAIR[code][0]}, {inches}"',
                        price=Decimal(base + 30 * step),
                        stock=rng.choice((0, 3, 8, 12, 20, 35, 60)),
                        sku=f"SC-W{i:02d}-{_slug(code)}-{inches}".upper(),
                    )
                )
        specs.append(
            ProductSpec(
                key=f"wig-{i:02d}",
                title=title,
                description=description,
                variants=tuple(variants),
                colour=_HAIR[colours[0]][1],
                kind="wig",
            )
        )
    specs.append(
        ProductSpec(
            key="lipstick-velvet",
            title="Velvet Matte Lipstick",
            description="Weightless matte that lasts 12 hours. 36 shades, from bare nudes to "
            "midnight berries.",
            variants=tuple(
                VariantInput(
                    name=shade.name,
                    price=Decimal("24.00"),
                    stock=0 if n in (7, 22) else rng.randrange(15, 400),
                    sku=f"SC-VM-{n:02d}",
                )
                for n, shade in enumerate(_LIPSTICK_SHADES, start=1)
            ),
            colour="#a3122a",
            kind="lipstick",
            shades=_LIPSTICK_SHADES,
        )
    )
    specs.append(
        ProductSpec(
            key="gloss-glass",
            title="Glass Shine Lip Gloss",
            description="Non-sticky high-shine gloss with a cooling mint finish.",
            variants=tuple(
                VariantInput(
                    name=shade.name,
                    price=Decimal("19.00"),
                    stock=rng.randrange(20, 300),
                    sku=f"SC-GL-{n:02d}",
                )
                for n, shade in enumerate(_GLOSS_SHADES, start=1)
            ),
            colour="#f0b7b9",
            kind="gloss",
            shades=_GLOSS_SHADES,
        )
    )
    return specs


# -- pictures ---------------------------------------------------------------------------


def _svg(body: str, *, width: int = 600, height: int = 600) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">{body}</svg>\n'
    )


def _label(text: str, y: int, *, size: int = 30, fill: str = "#2b2024", x: int = 300) -> str:
    return (
        f'<text x="{x}" y="{y}" font-family="Helvetica, Arial, sans-serif" font-size="{size}" '
        f'font-weight="600" text-anchor="middle" fill="{fill}">{escape(text)}</text>'
    )


def wig_svg(spec: ProductSpec) -> str:
    c = spec.colour
    return _svg(
        '<rect width="600" height="600" fill="#f6ece6"/>'
        '<circle cx="300" cy="250" r="190" fill="#efd9cc"/>'
        # the hair: a crown over the head, falling to the shoulders
        f'<path d="M150 480 C120 320 150 130 300 110 C450 130 480 320 450 480 '
        f'C420 400 410 300 380 230 C340 200 260 200 220 230 C190 300 180 400 150 480 Z" '
        f'fill="{c}"/>'
        '<ellipse cx="300" cy="290" rx="85" ry="105" fill="#c68d6e"/>'
        f'<path d="M215 250 C240 170 360 170 385 250 C360 205 240 205 215 250 Z" fill="{c}"/>'
        + _label(spec.title, 545, size=28)
        + _label(BRAND, 580, size=18, fill="#8a6f66")
    )


def lipstick_svg(spec: ProductSpec) -> str:
    c = spec.colour
    return _svg(
        '<rect width="600" height="600" fill="#fbf1f1"/>'
        '<rect x="240" y="300" width="120" height="190" rx="10" fill="#d4af37"/>'
        '<rect x="252" y="230" width="96" height="80" rx="6" fill="#b8932c"/>'
        f'<path d="M262 232 L262 120 L338 80 L338 232 Z" fill="{c}"/>'
        + _label(spec.title, 545, size=28)
        + _label(BRAND, 580, size=18, fill="#8a6f66")
    )


def palette_svg(spec: ProductSpec) -> str:
    """All shades of a product on one card, six to a row."""
    cols, cell = 6, 96
    rows = (len(spec.shades) + cols - 1) // cols
    height = 70 + rows * cell
    swatches = []
    for i, shade in enumerate(spec.shades):
        x, y = 12 + (i % cols) * cell, 60 + (i // cols) * cell
        swatches.append(
            f'<circle cx="{x + 42}" cy="{y + 36}" r="32" fill="{shade.colour}"/>'
            + _label(shade.name.split(" ", 1)[-1][:16], y + 86, size=11, x=x + 42)
        )
    return _svg(
        f'<rect width="600" height="{height}" fill="#fffafa"/>'
        + _label(f"{spec.title}: {len(spec.shades)} shades", 38, size=24)
        + "".join(swatches),
        height=height,
    )


def cover_svg(title: str, colours: tuple[str, str]) -> str:
    a, b = colours
    return _svg(
        '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">'
        f'<stop offset="0" stop-color="{a}"/><stop offset="1" stop-color="{b}"/>'
        "</linearGradient></defs>"
        '<rect width="960" height="540" fill="url(#g)"/>'
        + _label(BRAND, 220, size=64, fill="#ffffff", x=480)
        + _label(title, 300, size=30, fill="#fff4f0", x=480),
        width=960,
        height=540,
    )


def write_media(settings: Settings, specs: list[ProductSpec]) -> dict[str, list[str]]:
    """Draw every picture into <media>/demo and return product key -> image URLs."""
    folder = settings.media_dir / MEDIA
    folder.mkdir(parents=True, exist_ok=True)
    urls: dict[str, list[str]] = {}
    for spec in specs:
        files = {f"{spec.key}.svg": wig_svg(spec) if spec.kind == "wig" else lipstick_svg(spec)}
        if spec.shades:
            files[f"{spec.key}-shades.svg"] = palette_svg(spec)
        for name, text in files.items():
            _write(folder / name, text)
        urls[spec.key] = [f"/media/{MEDIA}/{name}" for name in files]
    for key, title, colours in _COVERS:
        _write(folder / f"{key}.svg", cover_svg(title, colours))
    return urls


def _write(path: Path, text: str) -> None:
    # Unchanged files are left alone, so a rerun does not touch what a browser cached.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_COVERS = (
    ("cover-live", "Wig try-on night + 36 lipstick shades", ("#5e1a2b", "#c8102e")),
    ("cover-swatch", "Lipstick swatch marathon", ("#b05fa8", "#f26b5b")),
    ("cover-restock", "Summer wig restock", ("#1f1a17", "#b7833f")),
)

# title, description, cover, hours from now, product kinds on its shelf
_SCHEDULED = (
    (
        "Lipstick swatch marathon: all 36 shades on three skin tones",
        "Every Velvet Matte shade swatched live, plus the new glosses.",
        "cover-swatch",
        26,
        ("lipstick", "gloss"),
    ),
    (
        "Summer wig restock: 12 styles, first look",
        "The restock drops live: lengths, colours and install tips.",
        "cover-restock",
        74,
        ("wig",),
    ),
)


# -- seeding ----------------------------------------------------------------------------


async def _account(ctx: Context, login: Login, *, host: bool = False, admin: bool = False) -> bool:
    """Make the account unless it exists; True if this run made it."""
    try:
        await accounts.do_signup(
            ctx,
            email=login.email,
            password=login.password,
            display_name=login.name,
            host=host,
            admin=admin,
        )
    except Conflict:
        return False
    return True


async def actor_of(ctx: Context, login: Login) -> Actor:
    """The account's current roles, read the way a request would (sign in, look up, sign out)."""
    signin = await accounts.do_signin(ctx, email=login.email, password=login.password, kind="token")
    try:
        found = await accounts.access_session(ctx, signin.token)
        assert found is not None
        return found.actor
    finally:
        await accounts.do_signout(ctx, signin.token)


async def _brand(ctx: Context, merchant: Actor) -> tuple[int, bool]:
    for brand in await catalog.list_brands(ctx, merchant):
        if brand.name == BRAND:
            return brand.id, False
    return (await catalog.do_create_brand(ctx, merchant, name=BRAND, currency=CURRENCY)).id, True


async def _products(
    ctx: Context,
    merchant: Actor,
    brand_id: int,
    specs: list[ProductSpec],
    urls: dict[str, list[str]],
) -> tuple[dict[str, int], int]:
    """Spec key -> product id, making what is missing; and how many were made."""
    existing = {p["title"]: p["id"] for p in await catalog.list_products(ctx, brand_id)}
    ids: dict[str, int] = {}
    made = 0
    for spec in specs:
        if spec.title in existing:
            ids[spec.key] = existing[spec.title]
            continue
        product = await catalog.do_create_product(
            ctx,
            merchant,
            brand_id,
            title=spec.title,
            description=spec.description,
            variants=spec.variants,
            image_urls=urls[spec.key],
        )
        ids[spec.key] = product.id
        made += 1
    return ids, made


def _live_price(spec: ProductSpec) -> Decimal:
    """The show price: about 15% off the cheapest variant, ending in .90 like a shop's."""
    cheapest = min(Decimal(str(v.price)) for v in spec.variants)
    return (cheapest * Decimal("0.85")).quantize(Decimal("1")) - Decimal("0.10")


async def _fill_shelf(
    ctx: Context, host: Actor, show_id: int, wanted: list[tuple[ProductSpec, int]]
) -> int:
    """Put the products that are missing on the shelf, in order; how many were added."""
    on_shelf = {item["product"]["id"] for item in await shelf.get_shelf(ctx, show_id)}
    added = 0
    for spec, product_id in wanted:
        if product_id in on_shelf:
            continue
        await shelf.do_add_listing(
            ctx, host, show_id, product_id=product_id, price=_live_price(spec)
        )
        added += 1
    return added


async def _live_show(
    ctx: Context, host: Actor, host_id: int, products: list[tuple[ProductSpec, int]]
) -> tuple[dict[str, Any], bool]:
    for found in await shows.list_shows(ctx, status=shows.LIVE, host_id=host_id):
        if found["title"] == LIVE_TITLE:
            return found, False
    # None on air (the last one was ended from the console): a fresh one goes live.
    show = await shows.do_create_show(
        ctx,
        host,
        title=LIVE_TITLE,
        currency=CURRENCY,
        description="Twelve wigs on the shelf as #1 to #12, then the lipstick line. "
        "Ask for anything by number!",
        cover_url=f"/media/{MEDIA}/cover-live.svg",
    )
    await _fill_shelf(ctx, host, show.id, products)
    await shows.do_go_live(ctx, host, show.id)
    return await shows.get_show(ctx, show.id), True


async def _scheduled_shows(
    ctx: Context, host: Actor, host_id: int, products: list[tuple[ProductSpec, int]]
) -> tuple[list[int], int]:
    existing = {
        s["title"]: s for s in await shows.list_shows(ctx, status=shows.SCHEDULED, host_id=host_id)
    }
    now = accounts.utcnow()
    ids: list[int] = []
    made = 0
    for title, description, cover, hours, kinds in _SCHEDULED:
        when = (now + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
        found = existing.get(title)
        if found is None:
            show = await shows.do_create_show(
                ctx,
                host,
                title=title,
                description=description,
                scheduled_at=when,
                cover_url=f"/media/{MEDIA}/{cover}.svg",
                currency=CURRENCY,
            )
            show_id = show.id
            made += 1
        else:
            show_id = found["id"]
            # "Coming up" must not show a time that has passed: move a stale one ahead.
            if found["scheduled_at"] and datetime.fromisoformat(found["scheduled_at"]) < now:
                await shows.do_update_show(ctx, host, show_id, scheduled_at=when)
        await _fill_shelf(ctx, host, show_id, [(s, pid) for s, pid in products if s.kind in kinds])
        ids.append(show_id)
    return ids, made


# A few rates so that a brand pricing in yuan, euros or yen can sell in a dollar show.
DEMO_RATES = (("CNY", "USD", "0.1380"), ("EUR", "USD", "1.0850"), ("JPY", "USD", "0.0067"))


async def _rates(ctx: Context) -> bool:
    """Seed the demo's rates once (an admin's later rates are left alone)."""
    if await rates.list_rates(ctx):
        return False
    for base, quote, rate in DEMO_RATES:
        await rates.do_set_rate(ctx, None, base, quote, rate)
    return True


async def seed_with(ctx: Context) -> DemoWorld:
    """Seed through an open context (see `seed`)."""
    created: list[str] = []
    for login, is_host, is_admin in (
        (HOST, True, False),
        (MODERATOR, False, False),
        (MERCHANT, False, False),
        (ADMIN, False, True),
    ):
        if await _account(ctx, login, host=is_host, admin=is_admin):
            created.append(f"account {login.email}")

    if await _rates(ctx):
        created.append("exchange rates")

    merchant = await actor_of(ctx, MERCHANT)
    brand_id, made_brand = await _brand(ctx, merchant)
    if made_brand:
        created.append(f"brand {BRAND}")
        merchant = await actor_of(ctx, MERCHANT)  # now on the brand's staff

    specs = catalog_specs()
    urls = write_media(ctx.settings, specs)
    ids, made = await _products(ctx, merchant, brand_id, specs, urls)
    if made:
        created.append(f"{made} products")
    products = [(spec, ids[spec.key]) for spec in specs]

    host = await actor_of(ctx, HOST)
    assert host.user_id is not None
    show, made_show = await _live_show(ctx, host, host.user_id, products)
    if made_show:
        created.append(f"show {show['id']} on air")
    show_id = show["id"]
    if await _fill_shelf(ctx, host, show_id, products):  # an earlier run stopped half way
        created.append("shelf listings")
    await shows.do_add_moderator(ctx, host, show_id, MODERATOR.email)
    listing_ids = [item["id"] for item in await shelf.get_shelf(ctx, show_id)]
    if show["pinned_listing_id"] is None and listing_ids:
        await shelf.do_pin(ctx, host, show_id, listing_ids[0])
        created.append("pin #1")

    scheduled, made_scheduled = await _scheduled_shows(ctx, host, host.user_id, products)
    if made_scheduled:
        created.append(f"{made_scheduled} scheduled shows")
    return DemoWorld(
        show_id=show_id,
        host_id=host.user_id,
        brand_id=brand_id,
        scheduled_show_ids=scheduled,
        listings=len(listing_ids),
        created=created,
    )


async def seed(settings: Settings) -> DemoWorld:
    """Fill the (migrated) database of `settings` with the demo, or reuse what is there."""
    ctx = context.build_context(settings)
    # Events published while seeding go nowhere: no server is watching this context.
    await ctx.bus.start()
    try:
        return await seed_with(ctx)
    finally:
        await context.stop(ctx)
