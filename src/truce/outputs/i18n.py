"""The interface's languages: English (the messages as written), Ukrainian and Russian.

Translations are gettext catalogs (``data/locale/<lang>/LC_MESSAGES/truce.po``) read with
Babel and compiled in memory when first used, so the installed package needs no build
step and the ``.po`` files stay the one source. Dates and numbers are formatted per locale
by Babel (CLDR). Used by the web app and the static report (``truce report --lang``).
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

LANGUAGES = ("en", "uk", "ru")
LANGUAGE_NAMES = {"en": "English", "uk": "Українська", "ru": "Русский"}
# words of the data shown translated (statuses, verdicts, grades, asset types, roles, kinds): the
# catalogs must hold each (tests/test_web_i18n.py)
VOCABULARY = (
    "not covered", "consistent with violation", "alleged", "contested", "indeterminate", "confirmed", "fair", "weak",
    "discounted", "proposed", "under negotiation", "agreed", "in force", "suspended", "expired", "collapsed",
    "violated alleged", "viewer", "analyst", "lead", "claim", "counter-claim", "corroboration", "pass", "fail",
    "unknown", "strike", "interception", "negotiation", "accusation", "review", "signoff", "publish", "stated",
    "inferred", "damage", "attribution", "facility", "settlement", "region", "day", "month", "week", "year", "wire",
    "news_outlet", "party_official", "operator", "regional_authority", "monitor", "dataset", "mediator",
    "nuclear plant", "thermal plant", "chp", "hydro plant", "solar wind", "substation", "transmission line",
    "distribution", "gas production", "gas storage", "gas pipeline station", "gas processing", "refinery",
    "oil depot", "oil pumping station", "oil terminal", "other energy",
)
DOMAIN = "truce"


def locale_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "data" / "locale"


def catalog_path(lang: str) -> Path:
    return locale_dir() / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def translations(lang: str) -> Any:
    """Babel ``Translations`` for ``lang`` (``NullTranslations`` for English or an unknown language)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    path = catalog_path(lang)
    if lang == "en" or not path.is_file():
        return NullTranslations()
    with open(path, "rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def gettext_for(lang: str) -> Callable[..., str]:
    """``_(message, **values)``: the translation of ``message`` in ``lang``, with ``{name}``
    placeholders filled from ``values``."""
    t = translations(lang)

    def _(message: str, **values: Any) -> str:
        text: str = t.gettext(message)
        return text.format(**values) if values else text

    return _


def ngettext_for(lang: str) -> Callable[..., str]:
    t = translations(lang)

    def n_(singular: str, plural: str, n: int, **values: Any) -> str:
        text: str = t.ngettext(singular, plural, n)
        return text.format(n=format_number(n, lang), **values)

    return n_


def negotiate(query: str | None, accept_language: str | None, default: str = "en") -> str:
    """The language to answer in: ``?lang=`` when it is one of :data:`LANGUAGES`, else the best
    of the Accept-Language header, else ``default``."""
    if query and query.lower()[:2] in LANGUAGES:
        return query.lower()[:2]
    best: tuple[float, int, str] | None = None
    for n, part in enumerate((accept_language or "").split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()[:2]
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        if tag in LANGUAGES and q > 0 and (best is None or (q, -n) > (best[0], best[1])):
            best = (q, -n, tag)
    return best[2] if best else default


def format_date(value: str | dt.date | None, lang: str, fmt: str = "medium") -> str:
    """A day as the locale writes it ("5 Mar 2025", "5 бер. 2025 р.", "5 мар. 2025 г.");
    "–" for none; a value that is not a day is returned as given."""
    from babel.dates import format_date as fd

    if value is None or value == "":
        return "–"
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return str(fd(day, format=fmt, locale=lang))


def format_datetime(value: str | None, lang: str) -> str:
    from babel.dates import format_datetime as fdt

    if not value:
        return "–"
    try:
        stamp = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return str(fdt(stamp, format="medium", locale=lang))


def format_number(value: float | int | None, lang: str) -> str:
    from babel.numbers import format_decimal

    if value is None:
        return "–"
    return str(format_decimal(value, locale=lang))
