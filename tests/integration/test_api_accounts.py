from __future__ import annotations

import uuid

from tests.harness import World

PASSWORD = "correct horse battery"


def _email() -> str:
    return f"someone.{uuid.uuid4().hex[:10]}@example.com"


def test_signup_gives_a_token_that_signs_in(world: World) -> None:
    email = _email()
    r = world.anonymous.post(
        "/auth/signup", json={"email": email, "password": PASSWORD, "display_name": " Ana  Lee "}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["user"]["display_name"] == "Ana Lee"
    me = world.anonymous.get("/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["email"] == email
    assert me.json()["is_admin"] is False


def test_an_email_signs_up_once(world: World) -> None:
    email = _email()
    first = {"email": email, "password": PASSWORD, "display_name": "First"}
    assert world.anonymous.post("/auth/signup", json=first).status_code == 201
    again = {"email": email.upper(), "password": PASSWORD, "display_name": "Second"}
    r = world.anonymous.post("/auth/signup", json=again)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


def test_bad_signups_are_refused_with_a_reason(world: World) -> None:
    cases = [
        ({"password": "short"}, "weak_password"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"display_name": "   "}, "invalid_name"),
        ({"display_name": "nul\x00name"}, "invalid_input"),  # PostgreSQL cannot store NUL
    ]
    for change, code in cases:
        body = {"email": _email(), "password": PASSWORD, "display_name": "Ok", **change}
        r = world.anonymous.post("/auth/signup", json=body)
        assert r.status_code == 422, (change, r.text)
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["message"]


def test_sign_in_with_the_wrong_password_is_401(world: World) -> None:
    person = world.person("Sam")
    r = world.anonymous.post(
        "/auth/token", json={"email": person.email, "password": "wrong password"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "bad_credentials"
    r = world.anonymous.post("/auth/token", json={"email": _email(), "password": PASSWORD})
    assert r.status_code == 401
    r = world.anonymous.post("/auth/token", json={"email": person.email, "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["token"] != person.token


def test_without_a_token_or_with_a_bad_one_you_are_anonymous(world: World) -> None:
    assert world.anonymous.get("/me").status_code == 401
    r = world.anonymous.get("/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_signed_in"


def test_signout_revokes_the_token(world: World) -> None:
    person = world.person("Leaving")
    assert person.get("/me").status_code == 200
    assert person.post("/auth/signout").status_code == 204
    assert person.get("/me").status_code == 401
    # Other sessions of the same person are not affected.
    r = world.anonymous.post("/auth/token", json={"email": person.email, "password": PASSWORD})
    assert (
        world.anonymous.get(
            "/me", headers={"Authorization": f"Bearer {r.json()['token']}"}
        ).status_code
        == 200
    )


def test_only_an_admin_grants_roles(world: World) -> None:
    admin = world.person("Admin", admin=True)
    person = world.person("Future host")
    assert person.patch(f"/users/{person.id}/roles", json={"host": True}).status_code == 403
    r = admin.patch(f"/users/{person.id}/roles", json={"host": True})
    assert r.status_code == 200, r.text
    assert r.json()["is_host"] is True
    assert person.post("/shows", json={"title": "My first show"}).status_code == 201
    assert (
        admin.patch("/users/999999999/roles", json={"host": True}).json()["error"]["code"]
        == "user_not_found"
    )
