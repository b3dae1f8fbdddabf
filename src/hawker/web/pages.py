"""Server-rendered pages: home, sign in / up / out, the viewer's room, my orders, error pages.

Other page modules build on three things exported here:

- `templates`: the Jinja2 environment (autoescape on) over `web/templates`;
- `page_context(request)`: what `base.html` needs (`request`, `user`, `actor`, `csrf_token`),
  and the page's language (web/i18n.py) for the rest of the request;
- `require_user(request)`: the signed-in `Profile`, or raises `SignInRequired`, an HTTP 303
  to `/signin?next=<this page>` that the app's error handlers turn into a redirect.

Every POST form carries a hidden `csrf` field. With a session it is the session's CSRF
token; before one exists (sign in, sign up) it is a double-submit token: a random value
in the `hawker_form` cookie that the form must echo, which a cross-site page can neither
read nor set.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.responses import Response

from hawker.domain.errors import DomainError, Forbidden
from hawker.domain.money import exponent
from hawker.domain.roles import ANONYMOUS
from hawker.services import accounts, checkout, shows, stream
from hawker.services.accounts import COOKIE, Profile, SignIn
from hawker.web import i18n
from hawker.web.auth import check_csrf, current, get_ctx
from hawker.web.i18n import N_

router = APIRouter(include_in_schema=False)

TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
)
i18n.install(templates.env)


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _day(value: str | None) -> str:
    moment = _moment(value)
    return i18n.moment(moment, "day") if moment else ""


def _clock(value: str | None) -> str:
    moment = _moment(value)
    return i18n.moment(moment, "clock") if moment else ""


def _when(value: str | None) -> str:
    moment = _moment(value)
    return i18n.moment(moment, "when") if moment else ""


# Start times render in UTC on the server; pages rewrite <time data-local> in the viewer's zone.
templates.env.filters.update(day=_day, clock=_clock, when=_when)

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "KRW": "₩", "INR": "₹"}


def money(value: dict[str, str] | None) -> str:
    """A price as people read it, in the page's language. Amounts stay strings end to end:
    no float on the way."""
    if not value:
        return ""
    amount, currency = value["amount"], value["currency"]
    quantum = Decimal(1).scaleb(-exponent(currency))
    exact = Decimal(amount).quantize(quantum)
    if i18n.current() != "en":
        return i18n.money(exact, currency)
    text = f"{exact:,}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


FORM_COOKIE = "hawker_form"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Paths whose errors stay machine-readable; everything else is a page for a person.
_NOT_PAGES = ("/api/", "/ws/", "/static/", "/media/", "/docs", "/hls/")
_NOT_PAGE_ENDS = ("/replay-chat",)  # JSON routes that live beside their page


class SignInRequired(HTTPException):
    """Raised by `require_user`: a 303 to the sign-in page that comes back here after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(303, "sign in first", {"Location": f"/signin?next={quote(next_path)}"})


async def page_context(request: Request) -> dict[str, Any]:
    """What base.html needs; also makes the page's language the one this request renders in."""
    i18n.use(i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")))
    found = await current(request)
    return {
        "request": request,
        "user": found.user if found else None,
        "actor": found.actor if found else ANONYMOUS,
        "csrf_token": found.csrf_token if found else None,
    }


async def require_user(request: Request) -> Profile:
    """The signed-in user; raises `SignInRequired` (a redirect to /signin?next=...) if none."""
    found = await current(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return found.user


def safe_next(value: str | None) -> str:
    """Only a path on this site: `//evil.example`, `/\\evil` and absolute URLs fall back to /."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(c in value for c in "\r\n\t"):
        return "/"
    # Coming back to a sign-in form after signing in would only bounce to the home page.
    if parts.path in ("/signin", "/signup"):
        return "/"
    return value


# -- home -------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    ctx = get_ctx(request)
    live = await shows.list_shows(ctx, status=shows.LIVE, limit=24)
    upcoming = await shows.list_shows(ctx, status=shows.SCHEDULED, limit=24)
    page = await page_context(request)
    return templates.TemplateResponse(
        request, "home.html", {**page, "live": live, "upcoming": upcoming}
    )


@router.get("/lang/{lang}")
async def switch_language(request: Request, lang: str, next: str | None = None) -> Response:
    """The top bar's language switcher: remembers the choice in the `lang` cookie for a year
    and goes back to the page it was on."""
    if lang not in i18n.LANGS:
        raise HTTPException(404, "There is no such language here.")
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        lang,
        samesite="lax",
        path="/",
        secure=get_ctx(request).settings.secure_cookies,
        max_age=365 * 86400,
    )
    return response


# -- sign in, sign up, sign out -----------------------------------------------------------


def _form_token(request: Request) -> str:
    return request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(24)


def _form_page(
    request: Request,
    name: str,
    page: dict[str, Any],
    *,
    next_path: str,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = _form_token(request)
    response = templates.TemplateResponse(
        request,
        name,
        {**page, "form_token": token, "next": next_path, "values": values or {}, "error": error},
        status_code=status,
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/",
        secure=get_ctx(request).settings.secure_cookies,
        max_age=3600 * 12,
    )
    return response


def _form_token_ok(request: Request, given: object) -> bool:
    expected = request.cookies.get(FORM_COOKIE)
    return bool(expected and isinstance(given, str) and hmac.compare_digest(expected, given))


def _signed_in(request: Request, signin: SignIn, next_path: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE,
        signin.token,
        httponly=True,
        samesite="lax",
        path="/",
        secure=get_ctx(request).settings.secure_cookies,
        max_age=get_ctx(request).settings.session_days * 86400,
    )
    response.delete_cookie(FORM_COOKIE, path="/")
    return response


def _status(exc: DomainError) -> int:
    # A form error is the user's to fix: 400 unless a more precise status says more.
    return exc.status if exc.status in (401, 409, 429) else 400


_EXPIRED = N_("This form expired. Please try again.")


async def _blank_form(request: Request, template: str, next: str | None) -> Response:
    """A sign-in or sign-up form; someone already signed in goes on to where they were headed."""
    page = await page_context(request)
    if page["user"] is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _form_page(request, template, page, next_path=safe_next(next))


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request, next: str | None = None) -> Response:
    return await _blank_form(request, "signin.html", next)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    form = await request.form()
    next_path = safe_next(str(form.get("next") or ""))
    email = str(form.get("email") or "")
    page = await page_context(request)
    values = {"email": email}
    if not _form_token_ok(request, form.get("csrf")):
        return _form_page(
            request,
            "signin.html",
            page,
            next_path=next_path,
            values=values,
            error=_EXPIRED,
            status=400,
        )
    try:
        signin = await accounts.do_signin(
            get_ctx(request), email=email, password=str(form.get("password") or ""), kind="cookie"
        )
    except DomainError as exc:
        return _form_page(
            request,
            "signin.html",
            page,
            next_path=next_path,
            values=values,
            error=exc.message.capitalize() + ".",
            status=_status(exc),
        )
    return _signed_in(request, signin, next_path)


@router.get("/signup", response_class=HTMLResponse)
async def signup_form(request: Request, next: str | None = None) -> Response:
    return await _blank_form(request, "signup.html", next)


@router.post("/signup", response_class=HTMLResponse)
async def signup(request: Request) -> Response:
    form = await request.form()
    next_path = safe_next(str(form.get("next") or ""))
    email = str(form.get("email") or "")
    password = str(form.get("password") or "")
    display_name = str(form.get("display_name") or "")
    city = str(form.get("city") or "")
    host = form.get("host") is not None
    values = {"email": email, "display_name": display_name, "city": city, "host": host}
    page = await page_context(request)
    if not _form_token_ok(request, form.get("csrf")):
        return _form_page(
            request,
            "signup.html",
            page,
            next_path=next_path,
            values=values,
            error=_EXPIRED,
            status=400,
        )
    ctx = get_ctx(request)
    try:
        await accounts.do_signup(
            ctx,
            email=email,
            password=password,
            display_name=display_name,
            host=host,
            city=city or None,
        )
        signin = await accounts.do_signin(ctx, email=email, password=password, kind="cookie")
    except DomainError as exc:
        return _form_page(
            request,
            "signup.html",
            page,
            next_path=next_path,
            values=values,
            error=exc.message.capitalize() + ".",
            status=_status(exc),
        )
    return _signed_in(request, signin, next_path)


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await request.form()
    found = await current(request)
    token = request.cookies.get(COOKIE)
    if found is not None and found.kind == "cookie" and token:
        check_csrf(found, str(form.get("csrf") or ""))
        await accounts.do_signout(get_ctx(request), token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- the room -----------------------------------------------------------------------------


@router.get("/shows/{show_id}", response_class=HTMLResponse)
async def show_page(request: Request, show_id: int) -> Response:
    ctx = get_ctx(request)
    show = await shows.get_show(ctx, show_id)
    video = stream.playback(ctx, show_id, show["status"])
    page = await page_context(request)
    return templates.TemplateResponse(request, "show.html", {**page, "show": show, "video": video})


@router.get("/shows/{show_id}/replay-chat")
async def replay_chat(
    request: Request,
    show_id: int,
    after_id: int = Query(0, ge=0, le=2**53),
    limit: int = Query(stream.REPLAY_CHAT_PAGE, ge=1, le=stream.REPLAY_CHAT_PAGE),
) -> Response:
    """The chat of a show as it went by, with the replay second of each message (JSON, for
    the replay page's "replay chat"; paged with `after_id`)."""
    out = await stream.replay_chat(get_ctx(request), show_id, after_id=after_id, limit=limit)
    return JSONResponse(out)


# -- my orders ----------------------------------------------------------------------------

_STATUS_WORDS = {
    "pending": N_("Awaiting payment"),
    "paid": N_("Paid"),
    "fulfilled": N_("Shipped"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
    "refunded": N_("Refunded"),
}


@router.get("/orders", response_class=HTMLResponse)
async def my_orders(request: Request) -> Response:
    await require_user(request)
    page = await page_context(request)
    ctx = get_ctx(request)
    orders = await checkout.list_my_orders(ctx, page["actor"])
    titles: dict[int, str] = {}
    for show_id in {o["show_id"] for o in orders}:
        try:
            titles[show_id] = (await shows.get_show(ctx, show_id))["title"]
        except DomainError:
            titles[show_id] = f"Show {show_id}"
    return templates.TemplateResponse(
        request,
        "orders.html",
        {**page, "orders": orders, "titles": titles, "words": _STATUS_WORDS, "money": money},
    )


# -- error pages --------------------------------------------------------------------------

_TITLES = {
    400: N_("That did not work"),
    401: N_("Sign in first"),
    403: N_("Not for you"),
    404: N_("Nothing here"),
    405: N_("Not like that"),
    409: N_("That clashes"),
    422: N_("That did not work"),
    429: N_("Slow down"),
    500: N_("Something broke"),
}


def is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(_NOT_PAGES) and not path.endswith(_NOT_PAGE_ENDS)


async def error_page(request: Request, status: int, message: str) -> Response:
    try:
        page = await page_context(request)
    except Exception:  # the database may be what failed; the page must still render
        page = {"request": request, "user": None, "actor": ANONYMOUS, "csrf_token": None}
    title = _TITLES.get(status, N_("Something went wrong"))
    return templates.TemplateResponse(
        request,
        "error.html",
        {**page, "status": status, "title": title, "message": message},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    """Errors on pages render error.html; API paths keep the JSON handlers of web/errors.py.

    Call after `errors.install(app)`: it wraps the handlers installed there.
    """
    json_http: Any = app.exception_handlers[HTTPException]
    json_domain: Any = app.exception_handlers[DomainError]
    json_invalid: Any = app.exception_handlers[RequestValidationError]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code in _REDIRECTS and exc.headers and "Location" in exc.headers:
            return RedirectResponse(exc.headers["Location"], status_code=exc.status_code)
        if not is_page(request):
            response: Response = await json_http(request, exc)
            return response
        message = exc.detail if isinstance(exc.detail, str) else ""
        if exc.status_code == 404:
            message = N_(
                "There is no page at this address. It may have moved, or the link is wrong."
            )
        return await error_page(request, exc.status_code, message)

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        if not is_page(request):
            response: Response = await json_domain(request, exc)
            return response
        message = exc.message.capitalize() + "."
        if isinstance(exc, Forbidden) and exc.code == "csrf_failed":
            message = N_("This form expired. Go back, reload the page and try again.")
        return await error_page(request, exc.status, message)

    async def server_error(request: Request, _: Exception) -> Response:
        if not is_page(request):
            if request.url.path.startswith("/api/"):
                return JSONResponse(
                    {"error": {"code": "internal", "message": "the server failed; try again"}}, 500
                )
            return PlainTextResponse("Internal Server Error", 500)
        return await error_page(request, 500, N_("The server failed on this page. Try again soon."))

    async def invalid(request: Request, exc: Exception) -> Response:
        if not is_page(request):
            response: Response = await json_invalid(request, exc)
            return response
        # A page address with a malformed part (/shows/abc) names nothing that exists.
        return await error_page(request, 404, N_("There is no page at this address."))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(Exception, server_error)
