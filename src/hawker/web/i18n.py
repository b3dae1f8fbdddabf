"""The language of a page: English (the default) or Chinese.

A page's language comes from the `lang` cookie the top bar's switcher sets, else from the
browser's Accept-Language header, else English. `page_context` (web/pages.py) picks it for
each page and `use` makes it the current one for the rest of that request, so the template
calls `_()`, `money()` and `when()` need no argument for it.

Messages are gettext: `{{ _("Sign in") }}` and `{% trans %}` in templates (Jinja's i18n
extension, newstyle), and `t("Sold out")` in the pages' scripts (static/js/text.js), whose
translations each page carries. The values filled into a message are escaped; the
translation itself is trusted as markup, so a catalog holds no HTML and writes "&" as
"&amp;". The Chinese catalog is `locale/zh/LC_MESSAGES/messages.po`, compiled in memory
when this module loads.
"""

from __future__ import annotations

import functools
import gettext as gnu
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.extract import extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from jinja2 import Environment

LANGS = ("en", "zh")
DEFAULT = "en"
COOKIE = "lang"
LOCALE_DIR = Path(__file__).parent / "locale"
SCRIPTS = Path(__file__).parent / "static" / "js"
# t(message, values) and tc(context, message, values) in static/js/text.js.
SCRIPT_KEYWORDS = {"t": None, "tc": ((1, "c"), 2)}
# Chinese pages format numbers and dates the way mainland China reads them.
LOCALES = {"en": Locale.parse("en_US"), "zh": Locale.parse("zh_Hans_CN")}
HTML_LANG = {"en": "en", "zh": "zh-CN"}

_current: ContextVar[str] = ContextVar("hawker_lang", default=DEFAULT)


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; it is translated where shown."""
    return message


def _catalog(lang: str) -> gnu.NullTranslations:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang)
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gnu.GNUTranslations(mo)


TRANSLATIONS: dict[str, gnu.NullTranslations] = {"en": gnu.NullTranslations(), "zh": _catalog("zh")}


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The `lang` cookie if it names a language we have, else the browser's first choice
    we have (by q-value), else English."""
    if cookie in LANGS:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else DEFAULT


def use(lang: str) -> None:
    """Makes `lang` the language of what this request renders from here on."""
    _current.set(lang if lang in LANGS else DEFAULT)


def current() -> str:
    return _current.get()


def gettext(message: str) -> str:
    return TRANSLATIONS[current()].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return TRANSLATIONS[current()].ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """A message whose English serves in more than one sense ("Show": a show, or show it)."""
    return TRANSLATIONS[current()].pgettext(context, message)


@functools.cache
def _script_messages() -> tuple[tuple[str | None, str], ...]:
    """The messages the pages' scripts write, with their context: the strings they pass to
    `t()` and `tc()`, read from their source the way `pybabel extract` reads them."""
    found: dict[tuple[str | None, str], None] = {}
    for path in sorted(SCRIPTS.glob("*.js")):
        with path.open("rb") as source:
            for _, message, _, context in extract("javascript", source, keywords=SCRIPT_KEYWORDS):
                found[(context, str(message))] = None
    return tuple(found)


@functools.cache
def _script_catalog(lang: str) -> dict[str, str]:
    """Message (or context, U+0004, message, as gettext keys them) -> its translation."""
    translations = TRANSLATIONS[lang]
    out = {}
    for context, message in _script_messages():
        if context is None:
            key, translated = message, translations.gettext(message)
        else:
            key, translated = f"{context}\x04{message}", translations.pgettext(context, message)
        if translated != message:
            out[key] = translated
    return out


def script_text() -> dict[str, str]:
    """The catalog of the pages' scripts in the current language (static/js/text.js): only
    the messages it translates, so an English page carries none."""
    return _script_catalog(current())


def install(env: Environment) -> None:
    """Gives `env` the i18n extension with the current request's catalog."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True, pgettext=pgettext
    )
    env.globals["html_lang"] = lambda: HTML_LANG[current()]
    env.globals["current_lang"] = current
    env.globals["script_text"] = script_text


def money(amount: Decimal, currency: str) -> str:
    """An amount, already rounded to its currency, as a reader of the current language writes
    it: ¥1,234.50 and US$12.50 in Chinese. English keeps the site's own symbols (web/pages.py)."""
    return format_currency(amount, currency, locale=LOCALES[current()], decimal_quantization=False)


# Babel date patterns; times on the server are UTC (pages rewrite them to the viewer's zone).
_PATTERNS = {
    "en": {
        "day": "EEE dd MMM",
        "clock": "HH:mm",
        "when": "EEE dd MMM, HH:mm 'UTC'",
        "when_year": "EEE dd MMM y, HH:mm 'UTC'",
    },
    "zh": {
        "day": "MMMd日EEE",
        "clock": "HH:mm",
        "when": "MMMd日EEE HH:mm 'UTC'",
        "when_year": "y年MMMd日EEE HH:mm 'UTC'",
    },
}


def moment(value: datetime, kind: str) -> str:
    """`value` in UTC as the current language writes a `kind` of moment (see `_PATTERNS`)."""
    lang = current()
    return format_datetime(value, _PATTERNS[lang][kind], tzinfo=UTC, locale=LOCALES[lang])
