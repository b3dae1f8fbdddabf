"""The public pages over HTTP: forms, cookies, CSRF, redirects and error pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hawker.store.migrate import upgrade
from hawker.web.app import create_app
from hawker.web.pages import FORM_COOKIE, safe_next
from tests.harness import test_settings

PASSWORD = "correct horse battery"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = test_settings(f"sqlite:///{tmp_path / 'hawker.db'}", tmp_path)
    upgrade(settings.db_url)
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def form_token(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, "the form has no CSRF field"
    assert client.cookies.get(FORM_COOKIE) == match.group(1)
    return match.group(1)


def sign_up(
    client: TestClient, name: str = "Ann", email: str = "ann@example.com", **extra: str
) -> httpx.Response:
    token = form_token(client, "/signup")
    data = {"csrf": token, "display_name": name, "email": email, "password": PASSWORD, **extra}
    return client.post("/signup", data=data)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/shows/3?x=1", "/shows/3?x=1"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/signin?next=/x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_stays_on_this_site(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_sign_up_sets_a_session_cookie_and_goes_back(client: TestClient) -> None:
    r = sign_up(client, name="<b>Ann</b>", next="/shows/1", host="1")
    assert r.status_code == 303
    assert r.headers["location"] == "/shows/1"
    cookie = r.headers["set-cookie"].lower()
    assert "hawker_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    home = client.get("/")
    assert "&lt;b&gt;Ann&lt;/b&gt;" in home.text and "<b>Ann</b>" not in home.text
    assert 'name="csrf-token"' in home.text
    assert 'href="/studio"' in home.text  # signed up as a host


def test_sign_in_refuses_a_form_without_its_token(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    r = client.post("/signin", data={"email": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 400
    assert "expired" in r.text
    assert "hawker_session" not in r.headers.get("set-cookie", "")


def test_sign_in_errors_re_render_the_form(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    token = form_token(client, "/signin")
    r = client.post(
        "/signin", data={"csrf": token, "email": "ann@example.com", "password": "wrong one!"}
    )
    assert r.status_code == 401
    assert "Wrong email or password" in r.text
    assert 'value="ann@example.com"' in r.text
    evil = "//evil.example"
    data = {"csrf": token, "email": "ann@example.com", "password": PASSWORD, "next": evil}
    r = client.post("/signin", data=data)
    assert r.status_code == 303
    assert r.headers["location"] == "/"


def test_sign_up_twice_with_one_email_is_a_conflict(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    r = sign_up(client, name="Other")
    assert r.status_code == 409
    assert "sign in instead" in r.text


def test_sign_up_with_a_short_password_says_why(client: TestClient) -> None:
    token = form_token(client, "/signup")
    data = {"csrf": token, "display_name": "Bo", "email": "bo@example.com", "password": "short"}
    r = client.post("/signup", data=data)
    assert r.status_code == 400
    assert "8 to 256 characters" in r.text


def test_sign_out_needs_the_session_csrf_token(client: TestClient) -> None:
    sign_up(client)
    r = client.post("/signout", data={"csrf": "forged"})
    assert r.status_code == 403
    assert "text/html" in r.headers["content-type"]
    assert client.get("/api/v1/me").status_code == 200
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert token
    r = client.post("/signout", data={"csrf": token.group(1)})
    assert r.status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_unknown_pages_are_html_and_api_errors_stay_json(client: TestClient) -> None:
    for path in ("/shows/424242", "/shows/not-a-number", "/no/such/page"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"]
        assert 'data-testid="error-page"' in r.text
    r = client.get("/api/v1/shows/424242")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "show_not_found"


def test_home_lists_no_shows_with_empty_states(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "Nobody is live right now" in r.text
    assert "No shows scheduled yet" in r.text


def test_home_shows_what_is_on_air_and_what_is_coming(client: TestClient) -> None:
    me = {"email": "host@example.com", "password": PASSWORD, "display_name": "Mia", "host": True}
    r = client.post("/api/v1/auth/signup", json=me)
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    live = client.post("/api/v1/shows", json={"title": "<i>Lipstick</i> night"}, headers=auth)
    show_id = live.json()["id"]
    assert client.post(f"/api/v1/shows/{show_id}/live", headers=auth).status_code == 200
    start = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    later = client.post(
        "/api/v1/shows", json={"title": "Skincare Sunday", "scheduled_at": start}, headers=auth
    )
    assert later.status_code == 201, later.text
    client.cookies.clear()
    home = client.get("/").text
    assert f'href="/shows/{show_id}"' in home
    assert "&lt;i&gt;Lipstick&lt;/i&gt; night" in home
    assert "Skincare Sunday" in home
    assert "Nobody is live right now" not in home
