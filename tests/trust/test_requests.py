"""Access rules, the audit log and inert data, driven through signed requests."""

from __future__ import annotations

import json
import logging
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.slack.driver import Slack, buttons, check_blocks, mrkdwn, shown
from tests.slack.standin import Call
from tests.trust.conftest import (
    INERT_EMAIL,
    PUBLIC_CHANNEL,
    SALES_REP,
    SUPPORT_AGENT,
    QueryCounter,
    TrustStandIn,
    audit_of,
)


def _reply(slack: Slack, url: str) -> dict[str, object]:
    reply = slack.standin.replies(url)[0]
    check_blocks(reply["blocks"])
    return reply


def test_a_user_outside_the_group_is_refused_before_any_query(
    slack: Slack, queries_run: QueryCounter, trust_sessions: sessionmaker[Session]
) -> None:
    before = queries_run.count()
    sent = slack.command("customer Acme", user="U0OUTSIDER")
    reply = _reply(slack, sent.response_url)
    assert reply["response_type"] == "ephemeral"
    assert "verbs.customer" in shown(reply)
    assert queries_run.count() == before
    [entry] = audit_of(trust_sessions, "U0OUTSIDER")
    assert (entry.outcome, entry.verb, entry.rule) == ("refused", "customer", "verbs.customer")
    assert (entry.team_id, entry.channel_id, entry.command) == (
        "T0001",
        "C0GENERAL",
        "customer Acme",
    )


def test_a_group_member_is_answered_and_audited(
    slack: Slack, standin: TrustStandIn, trust_sessions: sessionmaker[Session]
) -> None:
    lookups = len(standin.api("usergroups.users.list"))
    sent = slack.command("customer INERT", user=SUPPORT_AGENT)
    reply = _reply(slack, sent.response_url)
    assert reply["response_type"] == "ephemeral"
    assert "refused" not in shown(reply)
    slack.command("customer INERT", user=SUPPORT_AGENT)
    assert len(standin.api("usergroups.users.list")) <= lookups + 1  # cached
    entries = audit_of(trust_sessions, SUPPORT_AGENT)
    assert entries[0].outcome == "answered"
    assert entries[0].verb == "customer"
    assert entries[0].ms is not None and entries[0].ms >= 0


def test_the_channel_rule_refuses_elsewhere(slack: Slack) -> None:
    sent = slack.command("health", user="U0DATAOWNER", channel="C0GENERAL")
    assert "verbs.health" in shown(_reply(slack, sent.response_url))
    sent = slack.command("health", user="U0DATAOWNER", channel="C0DATA")
    assert "refused" not in shown(_reply(slack, sent.response_url))


def test_public_only_in_allowed_channels(
    slack: Slack, queries_run: QueryCounter, trust_sessions: sessionmaker[Session]
) -> None:
    sent = slack.command("installed printers public", user="U0LOUD", channel="C0RANDOM")
    reply = _reply(slack, sent.response_url)
    assert reply["response_type"] == "ephemeral"
    assert "public_channels" in shown(reply)
    [entry] = audit_of(trust_sessions, "U0LOUD")
    assert (entry.outcome, entry.rule) == ("refused", "public_channels")
    sent = slack.command("installed printers public", user="U0LOUD", channel=PUBLIC_CHANNEL)
    assert _reply(slack, sent.response_url)["response_type"] == "in_channel"


def test_the_share_button_obeys_the_public_rule(slack: Slack) -> None:
    sent = slack.command("installed printers", user="U0SHARER", channel="C0RANDOM")
    share = buttons(_reply(slack, sent.response_url)["blocks"])["basebot_share"]  # type: ignore[arg-type]
    clicked = slack.click(share, user="U0SHARER", channel="C0RANDOM")
    reply = _reply(slack, clicked.response_url)
    assert reply["response_type"] == "ephemeral"
    assert "public_channels" in shown(reply)
    assert not slack.standin.api("chat.postMessage") or all(
        c.data.get("channel") != "C0RANDOM" for c in slack.standin.api("chat.postMessage")
    )


def test_bad_input_is_audited(slack: Slack, trust_sessions: sessionmaker[Session]) -> None:
    sent = slack.command("frobnicate the printers", user="U0TYPO")
    assert "frobnicate" in shown(_reply(slack, sent.response_url))
    sent = slack.command("installed\x00 \tprinters  in\x00", user="U0TYPO")
    _reply(slack, sent.response_url)
    entries = audit_of(trust_sessions, "U0TYPO")
    assert [e.outcome for e in entries] == ["bad_input", "bad_input"]
    assert entries[1].command == "installed printers in"


def test_a_hostile_customer_name_is_inert(slack: Slack) -> None:
    for text_ in ("customer INERT", "top 50 copiers", "customer channel", "customer INERT public"):
        sent = slack.command(text_, user=SUPPORT_AGENT, channel=PUBLIC_CHANNEL)
        reply = _reply(slack, sent.response_url)
        live = mrkdwn(reply)
        assert "<!channel>" not in live and "<@U123>" not in live, text_


def test_email_only_in_private_answers_to_the_contact_rule(slack: Slack) -> None:
    def email_in(text_: str, user: str) -> bool:
        sent = slack.command(text_, user=user, channel=PUBLIC_CHANNEL)
        return INERT_EMAIL in json.dumps(_reply(slack, sent.response_url))

    assert email_in("customer INERT", SUPPORT_AGENT)
    assert not email_in("customer INERT public", SUPPORT_AGENT)
    assert not email_in("customer INERT", SALES_REP)
    sent = slack.command("customer INERT", user=SUPPORT_AGENT, channel=PUBLIC_CHANNEL)
    share = buttons(_reply(slack, sent.response_url)["blocks"])["basebot_share"]  # type: ignore[arg-type]
    clicked = slack.click(share, user=SUPPORT_AGENT, channel=PUBLIC_CHANNEL)
    posted = slack.standin.replies(clicked.response_url)
    assert posted[0]["response_type"] == "in_channel"
    assert all(INERT_EMAIL not in json.dumps(p) for p in posted)


def test_another_workspace_or_app_is_refused_before_anything_runs(
    slack: Slack, queries_run: QueryCounter, trust_sessions: sessionmaker[Session]
) -> None:
    before = queries_run.count()
    for team, app in (("T0EVIL", "A0BASEBOT"), ("T0001", "A0EVIL")):
        url = slack.standin.response_url()
        body = slack.command_body("installed printers", response_url=url, user="U0FOREIGN")
        body = body.replace("T0001", team).replace("A0BASEBOT", app)
        status, _, answer = slack.post(body, slack.headers(body))
        assert status == 200 and b"workspace" in answer
    time.sleep(0.3)
    assert queries_run.count() == before
    assert not audit_of(trust_sessions, "U0FOREIGN")


def test_a_slack_retry_does_not_run_the_query_twice(slack: Slack) -> None:
    url = slack.standin.response_url()
    body = slack.command_body("installed printers", response_url=url, user="U0RETRY")
    assert slack.post(body, slack.headers(body))[0] == 200
    retry = {**slack.headers(body), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"}
    assert slack.post(body, retry)[0] == 200
    slack.standin.replies(url)
    time.sleep(0.5)
    assert len(slack.standin.at(url)) == 1


def test_an_expired_response_url_is_detected_and_the_reply_posted(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    def late(c: Call) -> bool:
        return c.method == "chat.postEphemeral" and c.data.get("user") == "U0LATE"

    before = len(slack.standin.calls(late))
    with caplog.at_level(logging.WARNING):
        sent = slack.command("installed printers", user="U0LATE", expired=True)
        assert len(slack.standin.wait(late, count=before + 1)) == before + 1
    assert slack.standin.at(sent.response_url)
    assert "response_url refused the reply (HTTP 404)" in caplog.text


def test_digest_subscriptions_obey_the_verb_rule_and_are_audited(
    slack: Slack, trust_sessions: sessionmaker[Session]
) -> None:
    sent = slack.command("digest list", user="U0DIGESTER")
    assert "refused" not in shown(_reply(slack, sent.response_url))
    entries = audit_of(trust_sessions, "U0DIGESTER")
    assert [(e.outcome, e.verb) for e in entries] == [("answered", "digest")]
