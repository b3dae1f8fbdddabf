from __future__ import annotations

from typing import Any

from fastapi import APIRouter, UploadFile

from hawker.domain.errors import InvalidInput
from hawker.services import accounts, catalog
from hawker.services.catalog import VariantInput
from hawker.web.api.schemas import (
    ERRORS,
    BrandIn,
    BrandOut,
    ImageIn,
    ImageOut,
    MemberIn,
    PathId,
    ProductIn,
    ProductOut,
    ProductPatch,
    UserOut,
    VariantIn,
    VariantOut,
    VariantPatch,
)
from hawker.web.auth import ActorDep, CtxDep

router = APIRouter(responses=ERRORS, tags=["catalog"])


@router.get("/brands", response_model=list[BrandOut])
async def list_brands(actor: ActorDep, ctx: CtxDep, mine: bool = False) -> list[dict[str, Any]]:
    """All brands, or with `mine=true` the brands you work for."""
    return [catalog.brand_json(b) for b in await catalog.list_brands(ctx, actor, mine=mine)]


@router.post("/brands", status_code=201, response_model=BrandOut)
async def create_brand(body: BrandIn, actor: ActorDep, ctx: CtxDep) -> dict[str, Any]:
    return catalog.brand_json(
        await catalog.do_create_brand(ctx, actor, name=body.name, currency=body.currency)
    )


@router.get("/brands/{brand_id}", response_model=BrandOut)
async def get_brand(brand_id: PathId, ctx: CtxDep) -> dict[str, Any]:
    return catalog.brand_json(await catalog.get_brand(ctx, brand_id))


@router.post("/brands/{brand_id}/members", response_model=UserOut)
async def add_brand_member(
    brand_id: PathId, body: MemberIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return accounts.user_json(await catalog.do_add_brand_member(ctx, actor, brand_id, body.email))


@router.get("/brands/{brand_id}/products", response_model=list[ProductOut])
async def list_products(brand_id: PathId, ctx: CtxDep) -> list[dict[str, Any]]:
    return await catalog.list_products(ctx, brand_id)


@router.post("/brands/{brand_id}/products", status_code=201, response_model=ProductOut)
async def create_product(
    brand_id: PathId, body: ProductIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    product = await catalog.do_create_product(
        ctx,
        actor,
        brand_id,
        title=body.title,
        description=body.description,
        category=body.category,
        variants=[VariantInput(v.name, v.price, v.stock, v.sku) for v in body.variants],
        image_urls=body.image_urls,
    )
    return await catalog.get_product(ctx, product.id)


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(product_id: PathId, ctx: CtxDep) -> dict[str, Any]:
    return await catalog.get_product(ctx, product_id)


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(
    product_id: PathId, body: ProductPatch, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    await catalog.do_update_product(
        ctx,
        actor,
        product_id,
        title=body.title,
        description=body.description,
        category=body.category,
    )
    return await catalog.get_product(ctx, product_id)


@router.post("/products/{product_id}/variants", status_code=201, response_model=VariantOut)
async def add_variant(
    product_id: PathId, body: VariantIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    variant = await catalog.do_add_variant(
        ctx, actor, product_id, VariantInput(body.name, body.price, body.stock, body.sku)
    )
    return catalog.variant_json(variant)


@router.patch("/variants/{variant_id}", response_model=VariantOut)
async def update_variant(
    variant_id: PathId, body: VariantPatch, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    return await catalog.do_update_variant(
        ctx, actor, variant_id, name=body.name, price=body.price, stock=body.stock
    )


@router.post("/products/{product_id}/images", status_code=201, response_model=ImageOut)
async def add_image(
    product_id: PathId, body: ImageIn, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Attach an image by URL."""
    image = await catalog.do_add_image(ctx, actor, product_id, body.url)
    return {"id": image.id, "url": image.url}


@router.post("/products/{product_id}/images/upload", status_code=201, response_model=ImageOut)
async def upload_image(
    product_id: PathId, file: UploadFile, actor: ActorDep, ctx: CtxDep
) -> dict[str, Any]:
    """Upload a PNG, JPEG, GIF or WebP picture (multipart field `file`)."""
    content = await file.read(ctx.settings.max_upload_bytes + 1)
    if not content:
        raise InvalidInput("the file is empty", code="invalid_image")
    image = await catalog.do_upload_image(ctx, actor, product_id, content)
    return {"id": image.id, "url": image.url}
