"""The catalog: brands and their staff, products, variants with price and stock, images."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hawker.domain.contracts import normalise_category
from hawker.domain.errors import Conflict, InvalidInput, NotFound
from hawker.domain.money import Money, check_currency
from hawker.domain.roles import Actor, check_brand_staff, check_signed_in
from hawker.services.accounts import utcnow
from hawker.services.context import Context
from hawker.store.tables import Brand, BrandMember, Order, Product, ProductImage, User, Variant

MAX_STOCK = 10_000_000
MAX_IMAGES = 12
MAX_VARIANTS = 200
IMAGE_TYPES = {
    b"\x89PNG\r\n\x1a\n": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"GIF87a": ".gif",
    b"GIF89a": ".gif",
}


@dataclass(frozen=True, slots=True)
class VariantInput:
    name: str
    price: Decimal | str | int
    stock: int
    sku: str | None = None


def _text(value: str, field: str, lo: int, hi: int) -> str:
    cleaned = " ".join(value.split()) if field != "description" else value.strip()
    if not lo <= len(cleaned) <= hi:
        raise InvalidInput(f"{field} has {lo} to {hi} characters", code=f"invalid_{field}")
    return cleaned


def check_stock(stock: int) -> int:
    if not 0 <= stock <= MAX_STOCK:
        raise InvalidInput(f"stock is 0 to {MAX_STOCK}", code="invalid_stock")
    return stock


def check_image_url(url: str) -> str:
    url = url.strip()
    parsed = urlparse(url)
    if url.startswith("/media/") and ".." not in url:
        return url
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 500:
        raise InvalidInput(
            "an image URL is http(s)://... or an uploaded /media/ path", code="invalid_url"
        )
    return url


# -- brands ---------------------------------------------------------------------------


async def do_create_brand(ctx: Context, actor: Actor, *, name: str, currency: str) -> Brand:
    """Anyone signed in may open a brand; they become its first staff member."""
    user_id = check_signed_in(actor)
    name = _text(name, "name", 1, 100)
    check_currency(currency)
    async with ctx.db.session() as s:
        if await s.scalar(select(Brand.id).where(Brand.name == name)) is not None:
            raise Conflict(f"a brand named {name!r} exists", code="brand_exists")
        brand = Brand(name=name, currency=currency, created_at=utcnow())
        s.add(brand)
        await s.flush()
        s.add(BrandMember(brand_id=brand.id, user_id=user_id))
        await s.commit()
        return brand


async def access_brand(s: AsyncSession, brand_id: int) -> Brand:
    brand = await s.get(Brand, brand_id)
    if brand is None:
        raise NotFound(f"no brand {brand_id}", code="brand_not_found")
    return brand


async def list_brands(ctx: Context, actor: Actor, *, mine: bool = False) -> list[Brand]:
    async with ctx.db.session() as s:
        query = select(Brand).order_by(Brand.name)
        if mine:
            query = query.where(Brand.id.in_(actor.brand_ids or {-1}))
        return list((await s.scalars(query)).all())


async def get_brand(ctx: Context, brand_id: int) -> Brand:
    async with ctx.db.session() as s:
        return await access_brand(s, brand_id)


async def do_add_brand_member(ctx: Context, actor: Actor, brand_id: int, email: str) -> User:
    check_brand_staff(actor, brand_id)
    async with ctx.db.session() as s:
        await access_brand(s, brand_id)
        user = await s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no account with email {email!r}", code="user_not_found")
        if await s.get(BrandMember, (brand_id, user.id)) is None:
            s.add(BrandMember(brand_id=brand_id, user_id=user.id))
            await s.commit()
        return user


# -- products -------------------------------------------------------------------------


async def access_product(s: AsyncSession, product_id: int) -> Product:
    product = await s.get(Product, product_id)
    if product is None:
        raise NotFound(f"no product {product_id}", code="product_not_found")
    return product


def _variant(brand: Brand, product_id: int, spec: VariantInput) -> Variant:
    price = Money.of(spec.price, brand.currency)
    sku = spec.sku.strip() if spec.sku else None
    if sku is not None and not 1 <= len(sku) <= 64:
        raise InvalidInput("a SKU has 1 to 64 characters", code="invalid_sku")
    return Variant(
        product_id=product_id,
        name=_text(spec.name, "name", 1, 100),
        sku=sku,
        price_minor=price.minor,
        currency=price.currency,
        stock=check_stock(spec.stock),
    )


async def _check_skus_free(
    s: AsyncSession, skus: Sequence[str | None], *, except_id: int = 0
) -> None:
    wanted = [sku for sku in skus if sku]
    if len(set(wanted)) != len(wanted):
        raise Conflict("two variants share a SKU", code="sku_taken")
    if wanted:
        taken = await s.scalar(
            select(Variant.sku).where(Variant.sku.in_(wanted), Variant.id != except_id).limit(1)
        )
        if taken is not None:
            raise Conflict(f"SKU {taken!r} is taken", code="sku_taken")


async def do_create_product(
    ctx: Context,
    actor: Actor,
    brand_id: int,
    *,
    title: str,
    description: str = "",
    variants: Sequence[VariantInput] = (),
    image_urls: Sequence[str] = (),
    category: str = "",
) -> Product:
    check_brand_staff(actor, brand_id)
    title = _text(title, "title", 1, 200)
    description = _text(description, "description", 0, 5000)
    category = normalise_category(category)
    if len(variants) > MAX_VARIANTS:
        raise InvalidInput(f"at most {MAX_VARIANTS} variants", code="too_many_variants")
    if len(image_urls) > MAX_IMAGES:
        raise InvalidInput(f"at most {MAX_IMAGES} images", code="too_many_images")
    urls = [check_image_url(u) for u in image_urls]
    async with ctx.db.session() as s:
        brand = await access_brand(s, brand_id)
        product = Product(
            brand_id=brand_id,
            title=title,
            description=description,
            category=category,
            created_at=utcnow(),
        )
        s.add(product)
        await s.flush()
        rows = [_variant(brand, product.id, spec) for spec in variants]
        await _check_skus_free(s, [r.sku for r in rows])
        s.add_all(rows)
        s.add_all(
            ProductImage(product_id=product.id, url=u, position=i) for i, u in enumerate(urls)
        )
        await s.commit()
        return product


async def do_update_product(
    ctx: Context,
    actor: Actor,
    product_id: int,
    *,
    title: str | None,
    description: str | None,
    category: str | None = None,
) -> Product:
    async with ctx.db.session() as s:
        product = await access_product(s, product_id)
        check_brand_staff(actor, product.brand_id)
        if title is not None:
            product.title = _text(title, "title", 1, 200)
        if description is not None:
            product.description = _text(description, "description", 0, 5000)
        if category is not None:
            product.category = normalise_category(category)
        await s.commit()
        return product


async def do_add_variant(
    ctx: Context, actor: Actor, product_id: int, spec: VariantInput
) -> Variant:
    async with ctx.db.session() as s:
        product = await access_product(s, product_id)
        check_brand_staff(actor, product.brand_id)
        count = await s.scalar(select(func.count()).where(Variant.product_id == product_id))
        if (count or 0) >= MAX_VARIANTS:
            raise InvalidInput(f"at most {MAX_VARIANTS} variants", code="too_many_variants")
        brand = await access_brand(s, product.brand_id)
        variant = _variant(brand, product_id, spec)
        await _check_skus_free(s, [variant.sku])
        s.add(variant)
        await s.commit()
        return variant


async def do_update_variant(
    ctx: Context,
    actor: Actor,
    variant_id: int,
    *,
    name: str | None = None,
    price: Decimal | str | int | None = None,
    stock: int | None = None,
) -> dict[str, Any]:
    async with ctx.db.session() as s:
        variant = await s.get(Variant, variant_id)
        if variant is None:
            raise NotFound(f"no variant {variant_id}", code="variant_not_found")
        product = await access_product(s, variant.product_id)
        check_brand_staff(actor, product.brand_id)
        if name is not None:
            variant.name = _text(name, "name", 1, 100)
        if price is not None:
            variant.price_minor = Money.of(price, variant.currency).minor
        delta = 0
        if stock is not None:
            # The merchant says how many are left to sell; held and sold units stay counted.
            committed = (await committed_units(s, [variant.id])).get(variant.id, 0)
            new_total = check_stock(stock) + committed
            delta = new_total - variant.stock
            variant.stock = new_total
        await s.commit()
    if delta:
        from hawker.services import stock as stock_service

        await stock_service.adjust(
            ctx, stock_service.variant_pool(variant_id), delta, ledger_written=True
        )
    async with ctx.db.session() as s:
        return variant_json(variant, (await committed_units(s, [variant_id])).get(variant_id, 0))


async def committed_units(s: AsyncSession, variant_ids: Sequence[int]) -> dict[int, int]:
    """Variant id -> units held or sold through its own stock (the ledger's open orders)."""
    if not variant_ids:
        return {}
    from hawker.services.stock import OPEN_STATUSES, variant_pool

    pools = {variant_pool(v): v for v in variant_ids}
    rows = await s.execute(
        select(Order.pool, func.sum(Order.quantity))
        .where(Order.pool.in_(pools), Order.status.in_(OPEN_STATUSES))
        .group_by(Order.pool)
    )
    return {pools[pool]: int(n) for pool, n in rows.all()}


async def do_add_image(ctx: Context, actor: Actor, product_id: int, url: str) -> ProductImage:
    url = check_image_url(url)
    async with ctx.db.session() as s:
        product = await access_product(s, product_id)
        check_brand_staff(actor, product.brand_id)
        count = (
            await s.scalar(select(func.count()).where(ProductImage.product_id == product_id)) or 0
        )
        if count >= MAX_IMAGES:
            raise InvalidInput(f"at most {MAX_IMAGES} images", code="too_many_images")
        image = ProductImage(product_id=product_id, url=url, position=count)
        s.add(image)
        await s.commit()
        return image


async def do_upload_image(
    ctx: Context, actor: Actor, product_id: int, content: bytes
) -> ProductImage:
    """Store an uploaded picture under media/ and attach it. Only real PNG, JPEG, GIF or
    WebP bytes are kept, whatever the file claims to be."""
    async with ctx.db.session() as s:
        product = await access_product(s, product_id)
        check_brand_staff(actor, product.brand_id)
    if len(content) > ctx.settings.max_upload_bytes:
        raise InvalidInput("the image is too large", code="image_too_large")
    suffix = next((ext for magic, ext in IMAGE_TYPES.items() if content.startswith(magic)), None)
    if suffix is None and content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        suffix = ".webp"
    if suffix is None:
        raise InvalidInput("only PNG, JPEG, GIF or WebP images", code="invalid_image")
    name = secrets.token_hex(12) + suffix
    ctx.settings.media_dir.mkdir(parents=True, exist_ok=True)
    (ctx.settings.media_dir / name).write_bytes(content)
    return await do_add_image(ctx, actor, product_id, f"/media/{name}")


async def list_products(ctx: Context, brand_id: int) -> list[dict[str, Any]]:
    async with ctx.db.session() as s:
        await access_brand(s, brand_id)
        ids = (
            await s.scalars(
                select(Product.id).where(Product.brand_id == brand_id).order_by(Product.id)
            )
        ).all()
        return await products_json(s, list(ids))


async def get_product(ctx: Context, product_id: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        await access_product(s, product_id)
        return (await products_json(s, [product_id]))[0]


async def products_json(s: AsyncSession, product_ids: list[int]) -> list[dict[str, Any]]:
    if not product_ids:
        return []
    found = await s.execute(
        select(Product, Brand.name).join(Brand).where(Product.id.in_(product_ids))
    )
    products, brands = {}, {}
    for product, brand in found:
        products[product.id], brands[product.id] = product, brand
    images: dict[int, list[dict[str, Any]]] = {pid: [] for pid in product_ids}
    for image in (
        await s.scalars(
            select(ProductImage)
            .where(ProductImage.product_id.in_(product_ids))
            .order_by(ProductImage.position, ProductImage.id)
        )
    ).all():
        images[image.product_id].append({"id": image.id, "url": image.url})
    variants: dict[int, list[dict[str, Any]]] = {pid: [] for pid in product_ids}
    rows = (
        await s.scalars(
            select(Variant).where(Variant.product_id.in_(product_ids)).order_by(Variant.id)
        )
    ).all()
    committed = await committed_units(s, [v.id for v in rows])
    for v in rows:
        variants[v.product_id].append(variant_json(v, committed.get(v.id, 0)))
    out = []
    for pid in product_ids:
        p = products[pid]
        out.append(
            {
                "id": p.id,
                "brand": {"id": p.brand_id, "name": brands[pid]},
                "title": p.title,
                "description": p.description,
                "category": p.category,
                "images": images[pid],
                "variants": variants[pid],
            }
        )
    return out


def variant_json(v: Variant, committed: int = 0) -> dict[str, Any]:
    """`stock` is what is left to sell: put up for sale, less what is held or sold."""
    return {
        "id": v.id,
        "name": v.name,
        "sku": v.sku,
        "price": Money.from_minor(v.price_minor, v.currency).to_json(),
        "stock": v.stock - committed,
    }


def brand_json(b: Brand) -> dict[str, Any]:
    return {"id": b.id, "name": b.name, "currency": b.currency}
