"""`/base digest subscribe|unsubscribe|list|now`: the listener callback called with a fake
respond, a Web API client on the stand-in and a committed database; and the words it reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.digest import DigestUsageError, parse_channel, parse_subscription
from bot.i18n import LANGUAGES, Speaker, speaker
from bot.listeners.digest import handle, is_digest_subcommand
from bot.listeners.replies import Asker
from bot.listeners.services import Services
from bot.settings import Settings
from queries.models import AuditEntry, DigestSubscription
from queries.subscriptions import claim, record_failed
from tests.slack.standin import NOT_IN_CHANNEL, SlackStandIn
from tests.test_languages import PSEUDO, untranslated


@dataclass
class _Response:
    status_code: int = 200


@dataclass
class FakeRespond:
    said: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> _Response:
        self.said.append(kwargs)
        return _Response()

    @property
    def last(self) -> str:
        return str(self.said[-1]["text"])


def _run(
    sessions: sessionmaker[Session],
    settings: Settings,
    text: str,
    channel: str = "C0HERE",
    lang: str | Speaker = "en",
) -> str:
    respond = FakeRespond()
    body = {"text": text, "user_id": "U0MANAGER", "channel_id": channel, "team_id": "T0001"}
    client = WebClient(token="xoxb-digest-test", base_url=settings.slack_api_url or "")
    handle(
        Services(settings=settings, sessions=sessions),
        body,
        respond,  # type: ignore[arg-type]
        client,
        Asker.from_command(body),
        lang if isinstance(lang, Speaker) else speaker(lang),
    )
    assert len(respond.said) == 1 and respond.said[0]["response_type"] == "ephemeral"
    return respond.last


def _subs(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, str, bool, str | None]]:
    with sessions() as session:
        return [
            (s.channel_id, s.local_time, s.tz, s.scope, s.active, s.created_by)
            for s in session.scalars(select(DigestSubscription).order_by(DigestSubscription.id))
        ]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("<#C0123ABC|sales>", ("C0123ABC", "sales")),
        ("<#C0123ABC>", ("C0123ABC", None)),
        ("C0123ABC", ("C0123ABC", None)),
        ("G0PRIVATE1", ("G0PRIVATE1", None)),
    ],
)
def test_channel_forms(word: str, expected: tuple[str, str | None]) -> None:
    channel = parse_channel(word)
    assert (channel.id, channel.name) == expected


def test_plain_channel_name_asks_for_the_autocomplete() -> None:
    with pytest.raises(DigestUsageError, match="pick it from the list"):
        parse_channel("#general")


def test_subscription_words() -> None:
    s = parse_subscription(
        ["<#C1|x>", "7:30", "Europe/Berlin", "printers", "in", "EMEA"], default_tz="UTC"
    )
    assert (s.channel, s.local_time, s.tz, s.scope) == (
        parse_channel("<#C1|x>"),
        "07:30",
        "Europe/Berlin",
        "printers in EMEA",
    )
    s = parse_subscription([], default_tz="America/New_York")
    assert (s.channel, s.local_time, s.tz, s.scope) == (None, "08:00", "America/New_York", "")
    with pytest.raises(DigestUsageError, match="24-hour"):
        parse_subscription(["<#C1>", "25:00"], default_tz="UTC")
    with pytest.raises(DigestUsageError, match="time zone"):
        parse_subscription(["<#C1>", "08:00", "Mars/Olympus"], default_tz="UTC")


def test_which_texts_are_subcommands() -> None:
    assert is_digest_subcommand("digest subscribe <#C1>")
    assert is_digest_subcommand("Digest LIST")
    assert is_digest_subcommand("digest now <#C1|x>")
    assert not is_digest_subcommand("digest now")  # the ordinary private answer
    assert not is_digest_subcommand("digest in EMEA")
    assert not is_digest_subcommand("installed printers")


def test_subscribe_list_unsubscribe(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    said = _run(sessions, settings, "digest subscribe <#C0SALES|sales> 07:30 Europe/Berlin")
    assert "<#C0SALES> will get the daily digest at 07:30 (Europe/Berlin)" in said
    said = _run(sessions, settings, "digest subscribe <#C0SALES|sales> 09:00 printers in emea")
    assert "for *printers in EMEA* at 09:00 (UTC)" in said
    said = _run(sessions, settings, "digest subscribe")  # this channel, the defaults
    assert "<#C0HERE> will get the daily digest at 08:00 (UTC)" in said
    assert _subs(sessions) == [
        ("C0SALES", "07:30", "Europe/Berlin", "", True, "U0MANAGER"),
        ("C0SALES", "09:00", "UTC", "printers in EMEA", True, "U0MANAGER"),
        ("C0HERE", "08:00", "UTC", "", True, "U0MANAGER"),
    ]
    # Subscribing again changes the time, it does not add a second subscription.
    said = _run(sessions, settings, "digest subscribe <#C0SALES> 06:45 Europe/Berlin")
    assert "now gets the daily digest at 06:45" in said
    assert len(_subs(sessions)) == 3

    listed = _run(sessions, settings, "digest list")
    assert listed.count("• ") == 3
    assert "<#C0SALES> at 09:00 UTC · *printers in EMEA* · lang:en · running" in listed

    said = _run(sessions, settings, "digest unsubscribe <#C0SALES> printers in EMEA")
    assert "will no longer get the daily digest for *printers in EMEA*" in said
    said = _run(sessions, settings, "digest unsubscribe")
    assert "<#C0HERE> will no longer get" in said
    assert [s[4] for s in _subs(sessions)] == [True, False, False]
    assert "has no digest subscription" in _run(sessions, settings, "digest unsubscribe")
    with sessions() as session:
        audit = session.scalars(select(AuditEntry.outcome).where(AuditEntry.verb == "digest"))
        assert set(audit) == {"answered"}


def test_list_shows_failures(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _run(sessions, settings, "digest subscribe <#C0GONE>")
    now = datetime(2026, 6, 30, 9, tzinfo=UTC)
    with sessions() as session, session.begin():
        sub = session.scalars(select(DigestSubscription)).one()
        row = claim(session, sub.id, now.date(), worker="w", now=now)
        assert row is not None
        record_failed(session, row.id, error="channel_not_found", now=now, pause=True)
    listed = _run(sessions, settings, "digest list")
    assert "· paused · last: Jun 30, 2026 failed · error: `channel_not_found`" in listed


def test_bad_subcommands_say_what_was_wrong(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    assert "pick it from the list" in _run(sessions, settings, "digest subscribe #general")
    assert "plotters" in _run(sessions, settings, "digest subscribe <#C1> plotters")
    assert "24-hour" in _run(sessions, settings, "digest subscribe <#C1> 8:75")
    assert _subs(sessions) == []
    assert "No digest subscriptions yet" in _run(sessions, settings, "digest list")


def test_now_posts_once_in_the_channel(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    before = len(slack.calls())
    said = _run(sessions, settings, "digest now <#C0NOW|now> in EMEA")
    assert "Posted the digest for" in said
    posts = [c for c in slack.calls()[before:] if c.method == "chat.postMessage"]
    assert [p.data["channel"] for p in posts] == ["C0NOW"]
    assert "EMEA" in str(posts[0].data["text"])
    said = _run(sessions, settings, "digest now <#CNOTIN>")
    assert "not_in_channel" in said and "/invite @basebot" in said


def test_escaped_links_read_as_typed(session: Session) -> None:
    from bot.ask import parse_command
    from bot.parsing import unescape_links
    from tests.queries.world import build_world

    assert unescape_links("customer <mailto:ops@acme.test|ops@acme.test>") == (
        "customer ops@acme.test"
    )
    assert unescape_links("digest subscribe <#C1|x>") == "digest subscribe <#C1|x>"
    build_world(session)
    request = parse_command(
        session, "customer <mailto:ops@acme.test|ops@acme.test>", as_of=None, settings=Settings()
    )
    assert request.lookup == "ops@acme.test"


def test_digests_only_go_to_channels_the_rules_allow(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    from bot.access import parse_rules
    from bot.listeners.guard import Guard
    from bot.parsing import VERBS

    rules = parse_rules({"public_channels": ["C0OPEN"]}, verbs=VERBS)
    services = Services(settings=settings, sessions=sessions, guard=Guard(rules=rules))
    for text in ("digest subscribe <#C0SECRET|board> 08:00", "digest now <#C0SECRET|board>"):
        respond = FakeRespond()
        body = {"text": text, "user_id": "U0MANAGER", "channel_id": "C0HERE", "team_id": "T1"}
        client = WebClient(token="xoxb-digest-test", base_url=settings.slack_api_url or "")
        before = len(slack.calls())
        handle(  # type: ignore[arg-type]
            services, body, respond, client, Asker.from_command(body), speaker()
        )
        assert "`public_channels` does not include it" in respond.last
        assert not [c for c in slack.calls()[before:] if c.method == "chat.postMessage"]
    assert _subs(sessions) == []


def test_a_subscription_keeps_its_language(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    said = _run(sessions, settings, "digest subscribe <#C0DE|de> 07:30 lang:de printers")
    assert "in German" in said
    said = _run(sessions, settings, "digest subscribe <#C0FR|fr> 07:30", lang="fr")  # the asker's
    assert "recevra le résumé quotidien" in said and "en français" in said
    with sessions() as session:
        langs = {
            s.channel_id: (s.lang, s.scope) for s in session.scalars(select(DigestSubscription))
        }
    assert langs["C0DE"] == ("de", "printers") and langs["C0FR"] == ("fr", "")
    listed = _run(sessions, settings, "digest list")
    assert "lang:de" in listed and "lang:fr" in listed
    said = _run(sessions, settings, "digest subscribe <#C0ES|es> lang:es")
    assert "“lang:es” is not a language I speak: lang:en, lang:de" in said


def test_every_digest_reply_comes_through_the_catalogs(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    commands = [
        "digest subscribe <#C0SALES|sales> 07:30 Europe/Berlin printers in EMEA",
        "digest subscribe <#C0SALES|sales> 07:45 Europe/Berlin printers in EMEA",
        "digest subscribe",
        "digest list",
        "digest unsubscribe <#C0SALES> printers in EMEA",
        "digest unsubscribe <#C0NONE>",
        "digest unsubscribe <#C0NONE> printers",
        "digest subscribe #sales",
        "digest subscribe nowhere",
        "digest subscribe <#C0X> 25:00",
        "digest subscribe <#C0X> Mars/Base",
        "digest subscribe <#C0X> lang:xx",
        "digest subscribe <#C0X> printrs",
        'digest subscribe "<#C0X>',
        f"digest now <#{NOT_IN_CHANNEL}>",
    ]
    data = {"Europe/Berlin", "printers in EMEA", "printers", "EMEA", "UTC", "Mars/Base"}
    data |= {"sales", "nowhere", "lang:xx", "printrs", "not_in_channel", "invite", "basebot"}
    data |= {f"lang:{lang}" for lang in LANGUAGES} | {"digest", "subscribe", "base"}
    for command in commands:
        said = _run(sessions, settings, command, lang=PSEUDO)
        assert not untranslated(said, data), (command, said)
