"""The back-office pages over real HTTP: studio, shelf builder, host console, merchant."""

from __future__ import annotations

import re
import struct
import zlib

import httpx
import pytest

from tests.harness import LiveServer, SignIn, World


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x2d\x55")
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_signed_out_visitors_are_sent_to_sign_in(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base_url, follow_redirects=False) as http:
        for path in (
            "/studio",
            "/studio/shows/1",
            "/shows/1/console",
            "/merchant",
            "/merchant/brands/1",
            "/merchant/products/1",
        ):
            r = http.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/signin?next="), path


def test_studio_explains_itself_to_non_hosts(world: World, signed_in: SignIn) -> None:
    page = signed_in(world.person("Viewer")).get("/studio")
    assert page.status_code == 200
    assert 'data-testid="studio-not-host"' in page.text
    assert 'data-testid="schedule-form"' not in page.text


def test_host_schedules_a_show_and_stocks_its_shelf(world: World, signed_in: SignIn) -> None:
    host = world.person("Host", host=True)
    merchant = world.person("Merchant")
    brand, products = world.brand_with_products(merchant, products=3)
    b = signed_in(host)
    csrf = b.csrf()

    # Without the CSRF field nothing is created.
    r = b.post("/studio/shows", {"title": "Sneaky show"})
    assert r.status_code == 403
    assert "Sneaky show" not in b.get("/studio").text

    # A broken rule re-renders the form with the message, not a 500.
    r = b.post("/studio/shows", {"csrf_token": csrf, "title": "x" * 141})
    assert r.status_code == 422
    assert 'data-testid="form-error"' in r.text
    assert "title has 1 to 140 characters" in r.text

    r = b.post(
        "/studio/shows",
        {
            "csrf_token": csrf,
            "title": "Lipstick <b>night</b>",
            "description": "New shades",
            "scheduled_at": "2099-01-01T20:00",
            "tz_offset": "480",
        },
    )
    assert r.status_code == 422  # more than a year ahead
    r = b.post(
        "/studio/shows",
        {
            "csrf_token": csrf,
            "title": "Lipstick <b>night</b>",
            "description": "New shades",
            "tz_offset": "480",
        },
    )
    assert r.status_code == 303
    show_id = int(r.headers["location"].rsplit("/", 1)[1])
    studio = b.get("/studio").text
    assert f'data-testid="studio-show-{show_id}"' in studio
    assert "Lipstick &lt;b&gt;night&lt;/b&gt;" in studio
    assert f'href="/shows/{show_id}/console"' in studio

    builder = f"/studio/shows/{show_id}"
    found = b.get(f"{builder}?q={brand['name'][-4:]}").text
    for p in products:
        assert f'data-testid="add-product-{p["id"]}"' in found
    assert 'data-testid="no-results"' in b.get(f"{builder}?q=no-such-thing").text

    for p in products:
        r = b.post(f"{builder}/shelf", {"csrf_token": csrf, "product_id": str(p["id"])})
        assert r.status_code == 303
    r = b.post(
        f"{builder}/shelf",
        {"csrf_token": csrf, "product_id": str(products[0]["id"]), "price": "12,90"},
    )
    assert r.status_code == 422
    assert "not an amount" in r.text

    shelf = host.get(f"/shows/{show_id}/shelf").json()
    assert [i["product"]["id"] for i in shelf] == [p["id"] for p in products]
    first, second, third = (item["id"] for item in shelf)

    r = b.post(f"{builder}/shelf/{third}/move", {"csrf_token": csrf, "direction": "up"})
    assert r.status_code == 303
    r = b.post(f"{builder}/shelf/{first}/price", {"csrf_token": csrf, "price": "7.50"})
    assert r.status_code == 303
    r = b.post(f"{builder}/shelf/{second}/remove", {"csrf_token": csrf})
    assert r.status_code == 303
    shelf = host.get(f"/shows/{show_id}/shelf").json()
    assert [(i["id"], i["number"]) for i in shelf] == [(first, 1), (third, 2)]
    assert shelf[0]["price"] == {"amount": "7.50", "currency": "USD"}
    page = b.get(builder).text
    assert 'data-testid="shelf-row-2"' in page and 'data-testid="shelf-row-3"' not in page

    # Someone else's shelf is not theirs to see.
    other = signed_in(world.person("Other host", host=True))
    assert other.get(builder).status_code == 403
    r = other.post(f"{builder}/shelf/{first}/remove", {"csrf_token": other.csrf()})
    assert r.status_code == 403
    assert len(host.get(f"/shows/{show_id}/shelf").json()) == 2


def test_console_shows_chat_requests_and_shelf_to_staff(world: World, signed_in: SignIn) -> None:
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=3)
    sid = show["id"]
    fan, shy = world.person("Fan"), world.person("Shy")
    assert fan.post(f"/shows/{sid}/chat", json={"body": "#2 please"}).status_code == 201
    assert shy.post(f"/shows/{sid}/chat", json={"body": "2 please"}).status_code == 201
    r = fan.post(f"/shows/{sid}/chat", json={"body": "<script>alert(1)</script>"})
    assert r.status_code == 201
    assert host.put(f"/shows/{sid}/pin", json={"listing_id": shelf[2]["id"]}).status_code == 200

    page = signed_in(host).get(f"/shows/{sid}/console")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="viewer-count"' in html
    assert re.search(r'data-testid="requests-2">\s*2 asked for #2<', html)
    assert re.search(r'data-testid="requests-1">\s*0 asked for #1<', html)
    assert re.search(r'data-testid="pin-3"[^>]*>Unpin<', html)
    assert re.search(r'data-testid="pin-1"[^>]*>Pin<', html)
    assert re.search(r'class="cx-item cx-pinned[^"]*" data-testid="shelf-item-3"', html)
    assert 'data-testid="most-asked-2"' in html
    assert html.count('data-testid="chat-message"') == 3
    assert html.count('class="cx-msg request"') == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert 'data-testid="rotate-stream-key"' in html
    # The key itself is fetched only when the host asks to see it.
    key = host.get(f"/shows/{sid}/stream-key").json()["stream_key"]
    assert key not in html


def test_console_access(world: World, signed_in: SignIn) -> None:
    host = world.person("Host", host=True)
    show, _ = world.live_show(host, listings=1)
    sid = show["id"]
    viewer = world.person("Viewer")
    page = signed_in(viewer).get(f"/shows/{sid}/console")
    assert page.status_code == 403
    assert 'data-testid="error-page"' in page.text
    assert signed_in(host).get("/shows/999999/console").status_code == 404

    moderator = world.person("Mod")
    assert host.post(f"/shows/{sid}/moderators", json={"email": moderator.email}).status_code == 200
    mod_page = signed_in(moderator).get(f"/shows/{sid}/console")
    assert mod_page.status_code == 200
    # A moderator moderates, but the stream key and going live stay with the host.
    assert 'data-testid="slow-mode"' in mod_page.text
    assert 'data-testid="show-stream-key"' not in mod_page.text
    assert 'data-testid="end-show"' not in mod_page.text

    admin = world.person("Admin", admin=True)
    assert signed_in(admin).get(f"/shows/{sid}/console").status_code == 200


def test_merchant_builds_a_catalog(world: World, signed_in: SignIn) -> None:
    owner = world.person("Owner")
    b = signed_in(owner)
    csrf = b.csrf("/merchant")
    assert 'data-testid="no-brands"' in b.get("/merchant").text

    r = b.post("/merchant/brands", {"csrf_token": csrf, "name": "", "currency": "USD"})
    assert r.status_code == 422 and 'data-testid="form-error"' in r.text
    name = f"Glow {world.person('x').id}"
    r = b.post("/merchant/brands", {"csrf_token": csrf, "name": name, "currency": "EUR"})
    assert r.status_code == 303
    brand_path = r.headers["location"]
    brand_id = int(brand_path.rsplit("/", 1)[1])
    assert f'data-testid="brand-{brand_id}"' in b.get("/merchant").text

    r = b.post(
        f"{brand_path}/products",
        {
            "csrf_token": csrf,
            "title": "Velvet <i>matte</i>",
            "description": "Soft",
            "variant_name_0": "Rose",
            "variant_price_0": "12.90",
            "variant_stock_0": "40",
            "variant_name_1": "Plum",
            "variant_price_1": "14",
            "variant_stock_1": "0",
            "variant_sku_1": f"PLUM-{brand_id}",
        },
        files={"image_file": ("rose.png", tiny_png(), "image/png")},
    )
    assert r.status_code == 303, r.text
    product_path = r.headers["location"]
    product_id = int(product_path.rsplit("/", 1)[1])
    product = owner.get(f"/products/{product_id}").json()
    assert [(v["name"], v["price"]["amount"], v["stock"]) for v in product["variants"]] == [
        ("Rose", "12.90", 40),
        ("Plum", "14.00", 0),
    ]
    assert len(product["images"]) == 1 and product["images"][0]["url"].startswith("/media/")
    assert b.get(product["images"][0]["url"]).content == tiny_png()

    listing = b.get(brand_path).text
    assert "Velvet &lt;i&gt;matte&lt;/i&gt;" in listing
    assert "€12.90" in listing

    rose = product["variants"][0]["id"]
    r = b.post(
        f"{product_path}/variants/{rose}",
        {"csrf_token": csrf, "name": "Rose", "price": "11.50", "stock": "35"},
    )
    assert r.status_code == 303
    r = b.post(
        f"{product_path}/variants",
        {"csrf_token": csrf, "name": "Coral", "price": "-1", "stock": "3"},
    )
    assert r.status_code == 422 and "must not be negative" in r.text
    r = b.post(
        f"{product_path}/variants",
        {"csrf_token": csrf, "name": "Coral", "price": "13.00", "stock": "3"},
    )
    assert r.status_code == 303
    r = b.post(product_path, {"csrf_token": csrf, "title": "Velvet matte", "description": "Softer"})
    assert r.status_code == 303
    r = b.post(
        f"{product_path}/images",
        {"csrf_token": csrf},
        files={"image_file": ("fake.png", b"not a picture", "image/png")},
    )
    assert r.status_code == 422 and "only PNG, JPEG, GIF or WebP" in r.text

    product = owner.get(f"/products/{product_id}").json()
    assert product["title"] == "Velvet matte" and product["description"] == "Softer"
    assert [(v["name"], v["price"]["amount"], v["stock"]) for v in product["variants"]] == [
        ("Rose", "11.50", 35),
        ("Plum", "14.00", 0),
        ("Coral", "13.00", 3),
    ]

    stranger = signed_in(world.person("Stranger"))
    assert stranger.get(brand_path).status_code == 403
    assert stranger.get(product_path).status_code == 403
    r = stranger.post(
        f"{product_path}/variants",
        {"csrf_token": stranger.csrf("/merchant"), "name": "X", "price": "1", "stock": "1"},
    )
    assert r.status_code == 403
    assert len(owner.get(f"/products/{product_id}").json()["variants"]) == 3


@pytest.mark.browser
def test_console_runs_the_show_in_a_real_browser(server: LiveServer, world: World) -> None:
    """Chromium on the console: live requests, pin over the socket, hide, slow mode, end."""
    if not server.settings.db_url.startswith("sqlite"):
        pytest.skip("the page code is the same on both databases; one browser run is enough")
    sync_api = pytest.importorskip("playwright.sync_api")
    host = world.person("Host", host=True)
    show, shelf = world.live_show(host, listings=3)
    sid = show["id"]
    fan = world.person("Fan")
    with sync_api.sync_playwright() as pw:
        try:
            chromium = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
        except Exception as exc:  # no browser on this machine
            pytest.skip(f"chromium did not start: {exc}")
        page = chromium.new_page(viewport={"width": 1280, "height": 800})
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{server.base_url}/signin?next=/shows/{sid}/console")
        page.fill("#email", host.email)
        page.fill("#password", host.password)
        page.click("button[type=submit]")
        page.wait_for_selector("#cx-conn.ok")
        expect = sync_api.expect

        fan.post(f"/shows/{sid}/chat", json={"body": "#2 please"})
        expect(page.get_by_test_id("requests-2")).to_have_text("1 asked for #2")
        request = page.get_by_test_id("chat-message").filter(has_text="#2 please")
        expect(request).to_have_class("cx-msg request")

        page.get_by_test_id("pin-2").click()
        expect(page.get_by_test_id("pin-2")).to_have_text("Unpin")
        assert host.get(f"/shows/{sid}").json()["pinned_listing_id"] == shelf[1]["id"]

        request.hover()
        request.get_by_test_id("msg-hide").click()
        expect(page.get_by_test_id("requests-2")).to_have_text("0 asked for #2")

        page.get_by_test_id("slow-30").click()
        expect(page.get_by_test_id("slow-30")).to_have_attribute("aria-pressed", "true")
        assert host.get(f"/shows/{sid}/chat-settings").json()["slow_mode_seconds"] == 30

        page.get_by_test_id("chat-input").fill("<i>thanks all</i>")
        page.get_by_test_id("chat-input").press("Enter")
        mine = page.get_by_test_id("chat-message").filter(has_text="<i>thanks all</i>")
        expect(mine).to_be_visible()

        page.get_by_test_id("end-show").click()
        expect(page.get_by_test_id("show-status")).to_have_text("ended")
        assert host.get(f"/shows/{sid}").json()["status"] == "ended"
        chromium.close()
