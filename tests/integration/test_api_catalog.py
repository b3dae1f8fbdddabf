from __future__ import annotations

import struct
import zlib

from tests.harness import World


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_a_brand_lists_products_with_variants_and_string_prices(world: World) -> None:
    merchant = world.person("Merchant")
    r = merchant.post("/brands", json={"name": "Glow Lab", "currency": "USD"})
    assert r.status_code == 201, r.text
    brand = r.json()
    assert world.anonymous.get(f"/brands/{brand['id']}").json() == brand
    r = merchant.post(
        f"/brands/{brand['id']}/products",
        json={
            "title": "Velvet lipstick",
            "description": "Matte, long wearing",
            "variants": [
                {"name": "Shade 7", "price": "12.905", "stock": 40, "sku": "VL-7"},
                {"name": "Shade 9", "price": "12", "stock": 0},
            ],
            "image_urls": ["https://cdn.example.com/v.jpg"],
        },
    )
    assert r.status_code == 201, r.text
    product = r.json()
    assert [v["price"] for v in product["variants"]] == [
        {"amount": "12.91", "currency": "USD"},  # half up
        {"amount": "12.00", "currency": "USD"},
    ]
    assert product["brand"] == {"id": brand["id"], "name": "Glow Lab"}
    assert product["images"][0]["url"] == "https://cdn.example.com/v.jpg"
    listed = world.anonymous.get(f"/brands/{brand['id']}/products").json()
    assert [p["id"] for p in listed] == [product["id"]]
    mine = merchant.get("/brands", params={"mine": "true"}).json()
    assert [b["id"] for b in mine] == [brand["id"]]
    dup = merchant.post("/brands", json={"name": "Glow Lab"})
    assert dup.status_code == 409


def test_prices_round_per_currency(world: World) -> None:
    merchant = world.person("Merchant")
    for currency, raw, shown in [
        ("JPY", "1234.5", "1235"),
        ("KWD", "1.2345", "1.235"),
        ("EUR", "0.125", "0.13"),
    ]:
        brand = merchant.post(
            "/brands", json={"name": f"Shop {currency} {merchant.id}", "currency": currency}
        ).json()
        r = merchant.post(
            f"/brands/{brand['id']}/products",
            json={"title": "Thing", "variants": [{"name": "One", "price": raw, "stock": 1}]},
        )
        assert r.status_code == 201, r.text
        assert r.json()["variants"][0]["price"] == {"amount": shown, "currency": currency}


def test_variants_are_edited_by_brand_staff(world: World) -> None:
    merchant, stranger = world.person("Merchant"), world.person("Stranger")
    _, products = world.brand_with_products(merchant, products=1)
    variant = products[0]["variants"][0]
    r = merchant.patch(
        f"/variants/{variant['id']}", json={"price": "9.999", "stock": 3, "name": "Rose"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["price"]["amount"] == "10.00"
    assert (r.json()["stock"], r.json()["name"]) == (3, "Rose")
    assert stranger.patch(f"/variants/{variant['id']}", json={"stock": 0}).status_code == 403
    assert world.anonymous.get(f"/products/{products[0]['id']}").json()["variants"][0]["stock"] == 3
    added = merchant.post(
        f"/products/{products[0]['id']}/variants", json={"name": "Nude", "price": "1", "stock": 1}
    )
    assert added.status_code == 201, added.text


def test_bad_catalog_input_is_422(world: World) -> None:
    merchant = world.person("Merchant")
    brand, products = world.brand_with_products(merchant, products=1)
    cases = [
        (
            f"/brands/{brand['id']}/products",
            {"title": "X", "variants": [{"name": "a", "price": "12.9.9", "stock": 1}]},
        ),
        (
            f"/brands/{brand['id']}/products",
            {"title": "X", "variants": [{"name": "a", "price": 12.9, "stock": 1}]},
        ),
        (
            f"/brands/{brand['id']}/products",
            {"title": "X", "variants": [{"name": "a", "price": "-1", "stock": 1}]},
        ),
        (
            f"/brands/{brand['id']}/products",
            {"title": "X", "variants": [{"name": "a", "price": "1", "stock": -1}]},
        ),
        (f"/brands/{brand['id']}/products", {"title": "   "}),
        (f"/brands/{brand['id']}/products", {"title": "X", "image_urls": ["javascript:alert(1)"]}),
        ("/brands", {"name": "Odd money", "currency": "XYZ"}),
        (f"/products/{products[0]['id']}/images", {"url": "/media/../../etc/passwd"}),
    ]
    for path, body in cases:
        r = merchant.post(path, json=body)
        assert r.status_code == 422, (body, r.text)
        assert set(r.json()["error"]) >= {"code", "message"}


def test_images_by_url_and_by_upload(world: World) -> None:
    merchant, stranger = world.person("Merchant"), world.person("Stranger")
    _, products = world.brand_with_products(merchant, products=1)
    pid = products[0]["id"]
    r = merchant.post(f"/products/{pid}/images", json={"url": "https://img.example.com/a.png"})
    assert r.status_code == 201, r.text
    png = _png()
    r = merchant.post(
        f"/products/{pid}/images/upload", files={"file": ("shade.png", png, "image/png")}
    )
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("/media/") and url.endswith(".png")
    served = world.anonymous.get(world.server.base_url + url)
    assert served.status_code == 200
    assert served.content == png
    text = merchant.post(
        f"/products/{pid}/images/upload",
        files={"file": ("evil.png", b"<script>alert(1)</script>", "image/png")},
    )
    assert text.status_code == 422
    assert text.json()["error"]["code"] == "invalid_image"
    assert (
        stranger.post(
            f"/products/{pid}/images/upload", files={"file": ("a.png", png, "image/png")}
        ).status_code
        == 403
    )
    urls = [i["url"] for i in world.anonymous.get(f"/products/{pid}").json()["images"]]
    assert urls == ["https://img.example.com/a.png", url]


def test_unknown_catalog_ids_are_404_with_stable_codes(world: World) -> None:
    merchant = world.person("Merchant")
    assert world.anonymous.get("/brands/987654321").json()["error"]["code"] == "brand_not_found"
    assert world.anonymous.get("/products/987654321").status_code == 404
    assert world.anonymous.get("/products/987654321").json()["error"]["code"] == "product_not_found"
    assert (
        merchant.patch("/variants/987654321", json={"stock": 1}).json()["error"]["code"]
        == "variant_not_found"
    )
    assert (
        world.anonymous.get("/brands/987654321/products").json()["error"]["code"]
        == "brand_not_found"
    )
