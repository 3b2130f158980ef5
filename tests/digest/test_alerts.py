"""Alerts (SPEC §10): `/base alert …` subscribes a channel or the asker's DM to one upsell
rule's new candidates; the scheduler posts, once a day, only what is new since its previous
post, says on the first post how many there are, and posts nothing on a day with none.

What is new is checked against plain `upsell … as of` answers of the two days (themselves
held to the pandas oracle), not against `since`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.__main__ import main
from bot.alerts import parse_alert
from bot.ask import ask_json
from bot.digest import DigestUsageError, delivery_client
from bot.i18n import speaker
from bot.listeners.alerts import handle, is_alert_command
from bot.listeners.replies import Asker
from bot.listeners.services import Services
from bot.render.blocks import ACTION_CSV, ButtonState
from bot.scheduler import tick
from bot.settings import Settings
from queries.models import AuditEntry, Customer, DigestDelivery, DigestSubscription
from queries.subscriptions import ALERT
from tests.digest.test_subcommands import FakeRespond
from tests.slack.driver import buttons, check_blocks
from tests.slack.standin import NOT_IN_CHANNEL, SlackStandIn

SUBSCRIBER = "U0SELLER"


def _say(sessions: sessionmaker[Session], settings: Settings, text: str) -> str:
    respond = FakeRespond()
    body = {"text": text, "user_id": SUBSCRIBER, "channel_id": "C0HERE", "team_id": "T0001"}
    client = WebClient(token="xoxb-digest-test", base_url=settings.slack_api_url or "")
    services = Services(settings=settings, sessions=sessions)
    handle(services, body, respond, client, Asker.from_command(body), speaker("en"))  # type: ignore[arg-type]
    assert len(respond.said) == 1 and respond.said[0]["response_type"] == "ephemeral"
    return respond.last


def _subscribed_long_ago(sessions: sessionmaker[Session]) -> None:
    """As if every subscription was made well before the days the tests post."""
    with sessions() as session, session.begin():
        for sub in session.scalars(select(DigestSubscription)):
            sub.created_at = datetime(2026, 6, 1, tzinfo=UTC)


def _alerts(sessions: sessionmaker[Session]) -> list[tuple[str, str, str, str, str, bool]]:
    with sessions() as session:
        subs = session.scalars(
            select(DigestSubscription)
            .where(DigestSubscription.kind == ALERT)
            .order_by(DigestSubscription.id)
        )
        return [(s.channel_id, s.rule, s.scope, s.local_time, s.tz, s.active) for s in subs]


def _at_0805_berlin(day: str) -> datetime:
    # 08:05 in Berlin (CEST, UTC+2).
    return datetime.fromisoformat(f"{day}T06:05:00+00:00")


def _candidates(sessions: sessionmaker[Session], settings: Settings, day: str) -> set[str]:
    with sessions() as session:
        answer = ask_json(
            session, f"upsell printers service as of {day}", as_of=None, settings=settings
        )
    return {c["customer_ref"] for c in answer["candidates"]}


def _posts(slack: SlackStandIn, before: int, channel: str) -> list[dict[str, Any]]:
    return [
        c.data
        for c in slack.calls()[before:]
        if c.method == "chat.postMessage" and c.data.get("channel") == channel
    ]


def test_alert_words() -> None:
    wanted = parse_alert(
        ["<#C0SALES|sales>", "printers", "service", "in", "EMEA", "07:30", "Europe/Berlin"],
        default_tz="UTC",
    )
    assert wanted.channel is not None and wanted.channel.id == "C0SALES"
    assert (wanted.rule, wanted.scope, wanted.local_time, wanted.tz, wanted.lang) == (
        "service",
        "printers in EMEA",
        "07:30",
        "Europe/Berlin",
        None,
    )
    mine = parse_alert(["me", "renewal", "mine", "lang:de"], default_tz="UTC")
    assert (mine.channel, mine.rule, mine.scope, mine.local_time, mine.lang) == (
        None,
        "renewal",
        "mine",
        "08:00",
        "de",
    )
    assert is_alert_command("alert list") and not is_alert_command("alerts")


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ([], "Say where the alert goes"),
        (["printers", "service"], "Say where the alert goes"),
        (["me", "printers"], "An alert follows one upsell rule"),
        (["me", "service", "aging"], "An alert follows one upsell rule"),
        (["me", "service", "25:00"], "24-hour clock"),
        (["me", "service", "Mars/Olympus"], "not a time zone I know"),
        (["me", "service", "lang:xx"], "not a language I speak"),
        (["#sales", "service"], "pick it from the list"),
    ],
)
def test_bad_alert_words_say_what_is_wrong_with_an_example(words: list[str], says: str) -> None:
    with pytest.raises(DigestUsageError) as raised:
        parse_alert(words, default_tz="UTC")
    text = speaker("en")(raised.value.problem)
    assert says in text and ("/base alert" in text or "Europe/Berlin" in text)


def test_subscribe_list_and_unsubscribe(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    said = _say(sessions, settings, "alert <#C0SALES|sales> service printers in EMEA 07:30 UTC")
    assert said.startswith(":white_check_mark: <#C0SALES> will get the new service candidates")
    assert "*printers in EMEA*" in said and "at 07:30 (UTC)" in said
    said = _say(sessions, settings, "alert me renewal mine")
    assert said.startswith(":white_check_mark: your direct messages will get the new renewal")
    assert _alerts(sessions) == [
        ("C0SALES", "service", "printers in EMEA", "07:30", "UTC", True),
        (SUBSCRIBER, "renewal", "mine", "08:00", settings.tz, True),
    ]
    listed = _say(sessions, settings, "alert list")
    assert listed.startswith("*Alerts*")
    assert "<#C0SALES> · service · *printers in EMEA* · 07:30 UTC · lang:en · running" in listed
    assert "your direct messages · renewal · *mine*" in listed
    # Subscribing again changes the time of the same alert.
    _say(sessions, settings, "alert <#C0SALES> service printers in EMEA 09:00 UTC")
    assert [a[3] for a in _alerts(sessions)] == ["09:00", "08:00"]
    assert _say(sessions, settings, "alert unsubscribe me") == (
        "Stopped 1 alert for your direct messages."
    )
    assert _say(sessions, settings, "alert unsubscribe <#C0SALES> aging") == (
        "<#C0SALES> has no alerts to stop."
    )
    assert _say(sessions, settings, "alert unsubscribe <#C0SALES> service") == (
        "Stopped 1 alert for <#C0SALES>."
    )
    assert [a[5] for a in _alerts(sessions)] == [False, False]
    with sessions() as session:
        audited = session.scalars(
            select(AuditEntry.outcome).where(AuditEntry.verb == "alert")
        ).all()
    assert audited.count("answered") == 7


def test_bad_alerts_are_refused_with_an_example(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    said = _say(sessions, settings, "alert me service flowers")
    assert "I don't know a category or product called “flowers”" in said
    said = _say(sessions, settings, "alert me")
    assert said.startswith(":warning: An alert follows one upsell rule") and "/base alert" in said
    assert _alerts(sessions) == []


def test_an_alert_posts_the_count_then_only_what_is_new_then_nothing(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _say(sessions, settings, "alert <#C0ALERT|alerts> service printers 08:00 Europe/Berlin")
    _subscribed_long_ago(sessions)
    client = delivery_client(settings)
    before = len(slack.calls())
    first, second, third = "2026-06-29", "2026-06-30", "2026-07-01"

    # The first post: how many there are now, and that only new ones follow.
    assert [o.status for o in tick(sessions, client, settings, now=_at_0805_berlin(first))] == [
        "posted"
    ]
    [post] = _posts(slack, before, "C0ALERT")
    check_blocks(post["blocks"])
    now = _candidates(sessions, settings, first)
    assert now == {"A", "N"}  # A's printers have no plan; N's laser, installed on the 29th
    assert post["text"].startswith(
        "There are 2 service candidates now. From tomorrow I'll post only the new ones, at"
        " 08:00 (Europe/Berlin)."
    )

    # The next day: only the candidates that were not candidates the day before.
    new = _candidates(sessions, settings, second) - now
    assert new == {"C"}
    mark = len(slack.calls())
    assert [o.status for o in tick(sessions, client, settings, now=_at_0805_berlin(second))] == [
        "posted"
    ]
    [post] = _posts(slack, mark, "C0ALERT")
    check_blocks(post["blocks"])
    text = str(post["blocks"])
    assert "1 new candidate since Jun 29, 2026" in post["text"]
    # The list pages in the channel, and its CSV button asks the same question again.
    csv = ButtonState.decode(buttons(post["blocks"])[ACTION_CSV]["value"])
    assert csv.command == "upsell printers service since 2026-06-29"
    assert ref_shown(text, "C") and not ref_shown(text, "A") and not ref_shown(text, "N")

    # A day with nothing new posts nothing, and is recorded as such.
    assert _candidates(sessions, settings, third) - _candidates(sessions, settings, second) == set()
    mark = len(slack.calls())
    assert [o.status for o in tick(sessions, client, settings, now=_at_0805_berlin(third))] == [
        "quiet"
    ]
    assert _posts(slack, mark, "C0ALERT") == []
    # Once a day: a second tick the same day finds the day taken.
    assert tick(sessions, client, settings, now=_at_0805_berlin(third)) == []
    with sessions() as session:
        days = session.execute(
            select(DigestDelivery.day, DigestDelivery.status).order_by(DigestDelivery.day)
        ).all()
    assert [(d.isoformat(), s) for d, s in days] == [
        (first, "posted"),
        (second, "posted"),
        (third, "quiet"),
    ]
    listed = _say(sessions, settings, "alert list")
    assert "last post: Jun 30, 2026" in listed and "last: Jul 1, 2026 nothing new" in listed


def ref_shown(text: str, ref: str) -> bool:
    return f"'{ref}'" in text or f'"{ref}"' in text


def test_an_alert_in_a_channel_it_cannot_reach_is_paused_and_its_subscriber_told(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _say(sessions, settings, f"alert <#{NOT_IN_CHANNEL}> install 08:00 Europe/Berlin")
    _subscribed_long_ago(sessions)
    before = len(slack.calls())
    client = delivery_client(settings)
    outcomes = tick(sessions, client, settings, now=_at_0805_berlin("2026-06-30"))
    assert [(o.status, o.error) for o in outcomes] == [("failed", "not_in_channel")]
    [told] = _posts(slack, before, SUBSCRIBER)
    assert "paused" in told["text"] and "/base alert" in told["text"]
    assert [a[5] for a in _alerts(sessions)] == [False]
    assert tick(sessions, client, settings, now=_at_0805_berlin("2026-07-01")) == []
    assert "error: `not_in_channel`" in _say(sessions, settings, "alert list")


def test_an_alert_to_me_goes_to_the_subscribers_direct_messages(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    _say(sessions, settings, "alert me service printers 08:00 Europe/Berlin")
    _subscribed_long_ago(sessions)
    before = len(slack.calls())
    tick(sessions, delivery_client(settings), settings, now=_at_0805_berlin("2026-06-30"))
    [post] = _posts(slack, before, SUBSCRIBER)
    count = len(_candidates(sessions, settings, "2026-06-30"))
    assert post["text"].startswith(f"There are {count} service candidates now.")


def test_a_mine_alert_follows_the_subscribers_accounts_by_their_profile_email(
    sessions: sessionmaker[Session], settings: Settings, slack: SlackStandIn
) -> None:
    slack.emails[SUBSCRIBER] = "Seller@Acme.example"
    with sessions() as session, session.begin():
        # C (a printers service candidate from the 30th on) is the subscriber's; A is not.
        session.execute(
            update(Customer).where(Customer.customer_ref == "C").values(owner="seller@acme.example")
        )
        session.execute(
            update(Customer).where(Customer.customer_ref == "A").values(owner="U0SOMEONE")
        )
    _say(sessions, settings, "alert me service printers mine 08:00 Europe/Berlin")
    _subscribed_long_ago(sessions)
    client = delivery_client(settings)
    before = len(slack.calls())
    tick(sessions, client, settings, now=_at_0805_berlin("2026-06-29"))
    [first] = _posts(slack, before, SUBSCRIBER)
    assert first["text"].startswith("There are 0 service candidates now.")
    mark = len(slack.calls())
    tick(sessions, client, settings, now=_at_0805_berlin("2026-06-30"))
    [post] = _posts(slack, mark, SUBSCRIBER)
    assert "1 new candidate since Jun 29, 2026" in post["text"]
    text = str(post["blocks"])
    assert ref_shown(text, "C") and not ref_shown(text, "A") and not ref_shown(text, "N")
    slack.emails.pop(SUBSCRIBER)


def test_alert_list_on_the_command_line_is_json_kind_alert(
    sessions: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    _say(sessions, settings, "alert <#C0SALES|sales> service printers in EMEA 07:30 UTC")
    _say(sessions, settings, "alert me renewal")
    bind = sessions.kw["bind"]
    monkeypatch.setenv("DATABASE_URL", bind.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BASEBOT_REPLICA", "off")
    monkeypatch.chdir(tmp_path)  # no stray .env
    assert main(["ask", "--json", "alert list"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "alert"
    assert [
        (a["channel"], a["dm"], a["rule"], a["scope"], a["local_time"], a["tz"], a["active"])
        for a in data["alerts"]
    ] == [
        ("C0SALES", False, "service", "printers in EMEA", "07:30", "UTC", True),
        (SUBSCRIBER, True, "renewal", "", "08:00", settings.tz, True),
    ]
    assert data["alerts"][0]["last_post"] is None
    # Someone else's direct-message alert is theirs alone.
    assert main(["ask", "--json", "alert list", "--user", "U0OTHER"]) == 0
    assert [a["channel"] for a in json.loads(capsys.readouterr().out)["alerts"]] == ["C0SALES"]
    assert main(["ask", "alert", "--lang", "de"]) == 0
    assert "Benachrichtigungen" in capsys.readouterr().out
    assert main(["ask", "alert me service"]) == 2
    said = capsys.readouterr().err
    assert "Alerts are made in Slack" in said and "/base alert" in said
