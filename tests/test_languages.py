"""Replies in the reader's language (SPEC §11): nothing reaches a person untranslated, figures
follow each locale's CLDR conventions, and JSON and CSV never change with the language."""

from __future__ import annotations

import csv
import gettext
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from bot.__main__ import main
from bot.ask import ask
from bot.home import Home
from bot.i18n import LANGUAGES, Speaker, language_of, speaker
from bot.parsing import ParseError
from bot.render.blocks import csv_file, render_answer, render_apology, render_error, render_notice
from bot.render.home import home_view
from bot.render.text import render_text
from bot.settings import Settings
from queries.claims import Held, Hold
from queries.registry import QUERIES
from queries.request import DIRECT, OFFLINE, Me, Source
from queries.results import Answer
from queries.upsell import UpsellList, held_by
from queries.view import _, people
from tests.queries.world import D, build_world
from tests.slack.driver import shown
from tests.test_catalogs import EXTRACTED

SETTINGS = Settings()
ME = Me(user_id="U0ASKER", email="ann@acme.example")  # for `mine` and claims
# Beyond each verb's own examples: the shapes of reply a verb can take.
MORE = (
    "installed printers by month",
    "customers by category",
    "upsell",
    "customer Acme",
    "customer a",  # several match: pick one
    "customer nobody-has-this-name",
    "top 3 by units",
    "digest as of 2026-07-01",
    "help",
    "installed mine",
    "upsell printers unclaimed",
    "claim A printers service",
    "claim A printers service dismissed",
    "unclaim A printers service",
)
BAD = (
    "instaled printers",
    "installed scanners",
    "installed printers by colour",
    "installed in nowhere",
    "installed as of someday",
    "top 5 by colour",
    "installed top 5",
    "health printers",
    'customer "Acme',
    "customer",
)


class Pseudo(gettext.NullTranslations):
    """A pseudo-locale: every message the catalogs hold comes out ⟦bracketed⟧; anything else
    (a string never marked for translation) comes out as it is, and is caught."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧" if message in EXTRACTED else message

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        chosen = msgid1 if n == 1 else msgid2
        return f"⟦{chosen}⟧" if (msgid1, msgid2) in EXTRACTED else chosen


def _commands() -> Iterator[str]:
    for spec in QUERIES.values():
        yield from spec.examples
    yield from MORE


def _data(answer: Answer) -> set[str]:
    """The strings of an answer's JSON: data (names, refs, categories, keys) shown as it is."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(answer.to_json())
    return found


def untranslated(text: str, data: set[str]) -> list[str]:
    """Words left once translated messages, data and figures are taken out."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    while True:
        inner = re.sub(r"⟦[^⟦⟧]*⟧", " ", text)
        if inner == text:
            break
        text = inner
    for value in sorted(data, key=len, reverse=True):
        if len(value) > 1:
            text = text.replace(value, " ")
    text = re.sub(r":[a-z_]+:", " ", text)  # emoji
    text = re.sub(r"<@[A-Z0-9]+>|&[a-z]+;", " ", text)  # mentions, Slack escapes
    words = re.findall(r"[^\W\d_]{2,}", text)
    return [w for w in words if w not in ("CSV", "UTC")]


PSEUDO = Speaker("de", "EUR", Pseudo())


@pytest.fixture()
def world(session: Session) -> Session:
    build_world(session)
    return session


def test_pseudo_locale_every_verb_every_surface(world: Session) -> None:
    leftovers: dict[str, list[str]] = {}
    for command in _commands():
        answer = ask(world, command, as_of=D, settings=SETTINGS, me=ME)
        data = _data(answer) | {command, f"/base {command}", "/base"}
        data |= {f"/base {s.usage}" for s in QUERIES.values()}
        surfaces = {
            "text": render_text(answer, speak=PSEUDO),
            "blocks": shown(render_answer(answer, speak=PSEUDO, contacts=True).__dict__),
            "page 2": shown(render_answer(answer, speak=PSEUDO, page=1).__dict__),
            "shared": shown(render_answer(answer, speak=PSEUDO, shared_by="U0AB").__dict__),
        }
        for surface, said in surfaces.items():
            words = untranslated(said, data)
            if words:
                leftovers[f"{command} ({surface})"] = words
    assert not leftovers, json.dumps(leftovers, indent=1, ensure_ascii=False)


def test_pseudo_locale_errors_notices_and_notes(world: Session) -> None:
    leftovers: dict[str, list[str]] = {}
    for command in BAD:
        with pytest.raises(ParseError) as caught:
            ask(world, command, as_of=D, settings=SETTINGS, me=ME)
        error = caught.value
        data = {error.example, *error.suggestions, command, "/base help"}
        data |= {w for w in re.findall(r"“([^”]*)”", error.text(speaker()))}
        for said in (error.text(PSEUDO), shown(render_error(error, speak=PSEUDO).__dict__)):
            words = untranslated(said, data)
            if words:
                leftovers[command] = words
    others = {
        "apology": render_apology("AB12", speak=PSEUDO),
        "unreachable": render_apology("AB12", unreachable=True, speak=PSEUDO),
        "notice": render_notice(_("That button is out of date: ask again."), speak=PSEUDO),
    }
    for name, message in others.items():
        words = untranslated(shown(message.__dict__), {"AB12"})
        if words:
            leftovers[name] = words
    for source in (Source(DIRECT), Source(OFFLINE, datetime(2026, 12, 3, 14, 5))):
        answer = ask(world, "installed", as_of=D, settings=SETTINGS)
        answer = type(answer)(**{**answer.__dict__, "request": _with_source(answer, source)})
        words = untranslated(render_text(answer, speak=PSEUDO), _data(answer))
        if words:
            leftovers[source.kind] = words
    assert not leftovers, json.dumps(leftovers, indent=1, ensure_ascii=False)


def _with_source(answer: Answer, source: Source) -> Any:
    return replace(answer.request, source=source)


def test_the_pseudo_check_catches_a_word_left_in_english(world: Session) -> None:
    answer = ask(world, "installed", as_of=D, settings=SETTINGS)
    said = render_text(answer, speak=PSEUDO) + "\nShare in channel"
    assert untranslated(said, _data(answer)) == ["Share", "in", "channel"]


@pytest.mark.parametrize(
    ("lang", "count", "money", "percent", "day"),
    [
        ("en", "1,936", "$1,234.50", "45.3%", "Jun 30, 2026"),
        ("de", "1.936", "1.234,50\xa0$", "45,3\xa0%", "30.06.2026"),
        ("fr", "1\u202f936", "1\u202f234,50\xa0$US", "45,3\xa0%", "30 juin 2026"),
        ("it", "1.936", "1.234,50\xa0USD", "45,3%", "30 giu 2026"),
        ("ro", "1.936", "1.234,50\xa0USD", "45,3\xa0%", "30 iun. 2026"),
        ("ru", "1\xa0936", "1\xa0234,50\xa0$", "45,3\xa0%", "30 июн. 2026\u202fг."),
    ],
)
def test_numbers_money_percentages_and_dates_per_locale(
    lang: str, count: str, money: str, percent: str, day: str
) -> None:
    speak = speaker(lang, "USD")
    assert speak.count(1936) == count
    assert speak.money(1234.5) == money
    assert speak.percent(45.3) == percent
    assert speak.day(date(2026, 6, 30)) == day


def test_a_german_reply_uses_german_figures(world: Session) -> None:
    answer = ask(world, "customers", as_of=D, settings=SETTINGS)
    text = render_text(answer, speak=speaker("de", "EUR"))
    assert text.startswith("Kundenbasis · Stand 30.06.2026")
    revenue = answer.to_json()["revenue"]
    assert f"{revenue:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") in text


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_json_and_csv_are_the_same_in_every_language(
    lang: str, world_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in _commands():
        if command.split()[0] == "unclaim":
            continue  # the English run above it released the claim: its answer is another
        asked = ["ask", command, "--json", "--as-of", D.isoformat(), "--user", "U0ASKER"]
        assert main(asked) == 0
        english = capsys.readouterr().out
        assert main([*asked, "--lang", lang]) == 0
        assert capsys.readouterr().out == english, command


def test_csv_files_do_not_depend_on_the_language(world: Session) -> None:
    for command in _commands():
        answer = ask(world, command, as_of=D, settings=SETTINGS, me=ME)
        _name, content = csv_file(answer)
        rows = list(csv.reader(io.StringIO(content)))
        if rows:
            # Column keys, `.` decimals and ISO dates: nothing a locale would write.
            assert all(re.fullmatch(r"[a-z_0-9]+", key) for key in rows[0]), rows[0]
            assert not any(re.search(r"\d,\d{2}$", cell) for row in rows[1:] for cell in row)


def test_the_cli_speaks_the_asked_language(
    world_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "installed printers", "--as-of", D.isoformat(), "--lang", "fr"]) == 0
    assert capsys.readouterr().out.startswith("Parc installé · printers · au 30 juin 2026")
    assert main(["ask", "instaled", "--lang", "de"]) == 2
    assert "Meinten Sie" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tag", "lang"),
    [("de-DE", "de"), ("fr-CA", "fr"), ("ru_RU", "ru"), ("pt-BR", "en"), (None, "en"), ("", "en")],
)
def test_a_slack_locale_picks_a_language(tag: str | None, lang: str) -> None:
    assert language_of(tag) == lang
    assert language_of("es-ES", "de") == "de"


@pytest.mark.parametrize("owns", [True, False])
def test_pseudo_locale_the_app_home(world: Session, owns: bool) -> None:
    candidates = ask(world, "upsell", as_of=D, settings=SETTINGS, me=ME)
    assert isinstance(candidates, UpsellList)
    held = Held(1, "A", "printers", "service", Hold("claimed", "U0ASKER", "2026-07-30"))
    home = Home(
        me=ME,
        as_of=D,
        accounts=3 if owns else 0,
        units=4,
        without_service=2,
        candidates=candidates,
        renewals=candidates.by_rule()["renewal"],
        claims=[held],
        resolved=frozenset({("A", "printers", "service")}),
    )
    said = shown({"blocks": home_view(home, PSEUDO)["blocks"]})
    data = _data(candidates) | {"U0ASKER", "owner", "customers.csv"}
    assert not untranslated(said, data)


def test_people_are_named_where_the_reader_knows_them() -> None:
    held = Hold("claimed", "U0ANN", "2026-12-31")
    label = render_label(held)
    assert people(label) == {"U0ANN"}
    named = speaker("de").knowing({"U0ANN": "Ann Rep"})
    assert named(label.msg) == "reserviert von @Ann Rep bis 31.12.2026"
    # Unknown to the reader (the CLI, a failed users.info): the id as written; an email too.
    assert speaker("en")(label.msg) == "claimed by U0ANN until Dec 31, 2026"
    by_email = render_label(replace(held, user="ann@acme.example"))
    assert named(by_email.msg) == "reserviert von ann@acme.example bis 31.12.2026"


def render_label(hold: Hold) -> Any:
    label = held_by(hold)
    assert label is not None
    return label
