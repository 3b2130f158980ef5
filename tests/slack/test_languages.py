"""Through Slack: each asker's reply in the language of their Slack account (users.info with
include_locale, asked once and cached), the default language when Slack cannot say."""

from __future__ import annotations

import uuid

import pytest

from queries.registry import QUERIES
from tests.slack.driver import AS_OF, Slack, answer_to, shown
from tests.slack.standin import SlackStandIn

# Written by hand from the catalogs: the header of one verb's reply, per language.
HEADERS = {
    "de": {
        "installed": "Installierte Basis · Stand 30.06.2026",
        "customers": "Kundenbasis · Stand 30.06.2026",
        "compare": "Kundenbasis vs. installierte Basis · Stand 30.06.2026",
        "upsell": "Upselling-Kandidaten · Stand 30.06.2026",
        "customer": "Kunde · Acme Logistics · Stand 30.06.2026",
        "top": "Top-Kunden · Stand 30.06.2026",
        "loyal": "Treue Kunden und Kunden mit wiederkehrendem Umsatz · Stand 30.06.2026",
        "concentration": "Umsatzkonzentration · Stand 30.06.2026",
        "digest": "Tagesübersicht · Stand 30.06.2026",
        "health": "Datenqualität · Stand 30.06.2026",
    },
    "fr": {
        "installed": "Parc installé · au 30 juin 2026",
        "customers": "Base clients · au 30 juin 2026",
        "compare": "Base clients vs parc installé · au 30 juin 2026",
        "upsell": "Candidats à la vente additionnelle · au 30 juin 2026",
        "customer": "Client · Acme Logistics · au 30 juin 2026",
        "top": "Principaux clients · au 30 juin 2026",
        "loyal": "Clients fidèles et récurrents · au 30 juin 2026",
        "concentration": "Concentration du chiffre d'affaires · au 30 juin 2026",
        "digest": "Résumé quotidien · au 30 juin 2026",
        "health": "Qualité des données · au 30 juin 2026",
    },
}
ENGLISH_WORDS = ("customers", "installed", "units", "revenue", "Share in channel", "as of")


def _asker(standin: SlackStandIn, locale: str | None) -> str:
    user = f"U{uuid.uuid4().hex[:10].upper()}"
    if locale is not None:
        standin.locales[user] = locale
    return user


@pytest.mark.parametrize(("lang", "locale"), [("de", "de-DE"), ("fr", "fr-FR")])
@pytest.mark.parametrize("verb", list(QUERIES))
def test_every_verb_answers_in_german_and_french(
    slack: Slack, standin: SlackStandIn, verb: str, lang: str, locale: str
) -> None:
    user = _asker(standin, locale)
    english = answer_to(slack, f"{QUERIES[verb].examples[0]} as of {AS_OF}", _asker(standin, None))
    answer = answer_to(slack, f"{QUERIES[verb].examples[0]} as of {AS_OF}", user)
    header = answer["blocks"][0]["text"]["text"]
    assert header != english["blocks"][0]["text"]["text"]
    if verb in HEADERS[lang]:
        title, *_subject, day = HEADERS[lang][verb].split(" · ")
        assert header.startswith(f"{title} · ") and header.endswith(f" · {day}"), header
    said = shown(answer)
    for word in ENGLISH_WORDS:
        assert word not in said.replace("`", ""), (verb, word)


def test_german_figures_and_buttons(slack: Slack, standin: SlackStandIn) -> None:
    answer = answer_to(slack, f"upsell printers service as of {AS_OF}", _asker(standin, "de-AT"))
    said = shown(answer)
    assert "Im Channel teilen" in said and "Weiter ▶" in said
    assert "Zeta Print 01" in said  # data stays as it is
    figures = [
        f["text"] for b in answer["blocks"] if b["type"] == "section" for f in b.get("fields", [])
    ]
    assert figures == ["*48*\nKandidaten", "*48*\nService"]


def test_users_info_is_asked_once_per_user(slack: Slack, standin: SlackStandIn) -> None:
    user = _asker(standin, "fr-FR")
    before = len(standin.api("users.info"))
    for _ in range(3):
        answer_to(slack, f"installed as of {AS_OF}", user)
    asked = standin.api("users.info")[before:]
    assert [c.data.get("user") for c in asked] == [user]
    assert asked[0].data.get("include_locale") in ("true", "1", True)


def test_a_users_info_failure_answers_in_the_default_language(
    slack: Slack, standin: SlackStandIn
) -> None:
    user = _asker(standin, "de-DE")
    standin.script("users.info", body={"ok": False, "error": "ratelimited"}, times=1)
    answer = answer_to(slack, f"installed as of {AS_OF}", user)
    assert answer["blocks"][0]["text"]["text"].startswith("Installed base · as of")


def test_an_error_is_explained_in_the_askers_language(slack: Slack, standin: SlackStandIn) -> None:
    answer = answer_to(slack, "instaled printers", _asker(standin, "ru-RU"))
    said = shown(answer)
    assert "/base installed" in said  # the command stays English
    assert "Например" in said or "например" in said
