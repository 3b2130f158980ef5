"""The reader's language: gettext catalogs (bot/locales, managed with Babel) and CLDR formats.

A `Speaker` turns the presentation model's words (`Msg`) and typed figures into one
language's text. The catalogs are the `.po` files themselves, compiled in memory when first
used, so no compiled file can go stale beside its source.
"""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from queries.view import Label, Money, Msg, Percent, Person, Signed, _

LANGUAGES = ("en", "de", "fr", "it", "ro", "ru")
DEFAULT_LANGUAGE = "en"
DOMAIN = "basebot"
LOCALES = Path(__file__).parent / "locales"
# What `pybabel extract` looks for (-k _ -k _n:1,2): queries.view's two markers.
KEYWORDS = {"_": None, "_n": (1, 2)}
MISSING = "–"


def language_of(tag: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """A Slack locale (de-DE, fr-FR, pt-BR…) → one of LANGUAGES, else `default`."""
    if not tag:
        return default
    lang = tag.replace("_", "-").split("-")[0].lower()
    return lang if lang in LANGUAGES else default


@cache
def catalog(lang: str) -> gettext.NullTranslations:
    """The language's messages; English is the message ids themselves."""
    path = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == DEFAULT_LANGUAGE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        messages = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@cache
def format_pattern(lang: str) -> str:
    # The locale's medium date with its short time: "Dec 3, 2026, 2:05 PM", "03.12.2026, 14:05".
    locale = Locale.parse(lang)
    glue = str(locale.datetime_formats["medium"])
    return glue.replace("{1}", locale.date_formats["medium"].pattern).replace(
        "{0}", locale.time_formats["short"].pattern
    )


@cache
def _percent_pattern(lang: str) -> str:
    # The locale's own percent pattern (45,3 % in German, 45.3% in English), one decimal.
    pattern = Locale.parse(lang).percent_formats[None].pattern
    return re.sub(r"0(?=[^0-9#]*$)", "0.0", pattern, count=1)


@dataclass(frozen=True)
class Speaker:
    """Words and figures in one language; `currency` names the money (BASEBOT_CURRENCY)."""

    lang: str = DEFAULT_LANGUAGE
    currency: str = "USD"
    messages: gettext.NullTranslations = field(default=None, repr=False)  # type: ignore[assignment]
    # People's names by Slack user id, where the reader knows them (Slack: users.info).
    names: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.messages is None:
            object.__setattr__(self, "messages", catalog(self.lang))

    def __call__(self, msg: Msg | str) -> str:
        """A message in this language, its parameters formatted; a str is data, as it is."""
        if isinstance(msg, str):
            return msg
        if msg.plural is not None:
            template = self.messages.ngettext(msg.id, msg.plural, msg.n or 0)
        else:
            template = self.messages.gettext(msg.id)
        values = {"currency": self.currency}
        values.update((name, self.param(value)) for name, value in msg.params)
        return template.format_map(values)

    def knowing(self, names: Mapping[str, str]) -> Speaker:
        """The same speaker, naming these people (user id → name) as "@name"."""
        return replace(self, names={**self.names, **names}) if names else self

    def param(self, value: Any) -> str:
        if isinstance(value, Person):
            name = self.names.get(value.id)
            return f"@{name}" if name else value.id
        if isinstance(value, Msg | Label):
            return self(value if isinstance(value, Msg) else value.msg)
        if isinstance(value, Money):
            return self.money(value.amount)
        if isinstance(value, Percent):
            return self.percent(value.value)
        if isinstance(value, Signed):
            return self.signed(value.value)
        if isinstance(value, bool):
            return self.yes_no(value)
        if isinstance(value, int):
            return self.count(value)
        if isinstance(value, float):
            return self.decimal(value)
        if isinstance(value, datetime):
            return self.moment(value)
        if isinstance(value, date):
            return self.day(value)
        return MISSING if value is None else str(value)

    def cell(self, value: Any, kind: str) -> str:
        """A table cell or a figure of the given kind (queries.view.Kind)."""
        if value is None or value == "":
            return MISSING
        if kind in ("money", "decimal"):
            return self.decimal(float(value))
        if kind == "percent":
            return self.percent(float(value))
        if kind == "signed":
            return self.signed(int(value))
        return self.param(value)

    def figure(self, value: Any, kind: str) -> str:
        """A headline figure: as a cell, but money with its currency."""
        if kind == "money" and value is not None:
            return self.money(float(value))
        return self.cell(value, kind)

    def count(self, n: int | None) -> str:
        return MISSING if n is None else format_decimal(n, locale=self.lang)

    def decimal(self, x: float | None) -> str:
        return MISSING if x is None else format_decimal(x, format="#,##0.00", locale=self.lang)

    def money(self, x: float | None) -> str:
        if x is None:
            return MISSING
        return format_currency(x, self.currency, locale=self.lang)

    def percent(self, p: float | None) -> str:
        if p is None:
            return MISSING
        return format_percent(p / 100, format=_percent_pattern(self.lang), locale=self.lang)

    def signed(self, n: int) -> str:
        return format_decimal(n, format="+#,##0;−#,##0", locale=self.lang) if n else "±0"

    def day(self, d: date | None) -> str:
        return MISSING if d is None else format_date(d, "medium", locale=self.lang)

    def moment(self, t: datetime) -> str:
        """A date and time to the minute (naive: as given)."""
        return format_datetime(t, format_pattern(self.lang), locale=self.lang)

    def yes_no(self, value: bool) -> str:
        return self(_("yes") if value else _("no"))


@cache
def speaker(lang: str = DEFAULT_LANGUAGE, currency: str = "USD") -> Speaker:
    return Speaker(language_of(lang), currency)


__all__ = [
    "DEFAULT_LANGUAGE",
    "KEYWORDS",
    "LANGUAGES",
    "LOCALES",
    "Speaker",
    "catalog",
    "language_of",
    "speaker",
]
