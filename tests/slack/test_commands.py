"""/base over HTTP, as Slack sends it: every verb answered through response_url."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.ask import ask_json
from bot.help import HelpAnswer
from bot.i18n import speaker
from bot.render.text import render_text
from bot.settings import Settings
from queries.registry import QUERIES
from queries.request import Request
from queries.results import Answer
from tests.slack.driver import AS_OF, Slack, buttons, shown
from tests.slack.standin import NOT_IN_CHANNEL, SlackStandIn


def reply(slack: Slack, command: str, **kwargs: Any) -> dict[str, Any]:
    sent = slack.command(command, **kwargs)
    assert (sent.status, sent.body) == (200, b"")
    [answer] = slack.standin.replies(sent.response_url)
    return answer


def test_installed_printers(
    slack: Slack, slack_sessions: sessionmaker[Session], settings: Settings
) -> None:
    answer = reply(slack, f"installed printers as of {AS_OF}")
    with slack_sessions() as session:
        expected = ask_json(
            session, f"installed printers as of {AS_OF}", as_of=None, settings=settings
        )
    blocks = answer["blocks"]
    assert answer["response_type"] == "ephemeral"
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "Installed base · printers · as of Jun 30, 2026",
            "emoji": True,
        },
    }
    # The key figures come first, then the breakdown table, then what counts.
    assert blocks[1]["type"] == "section"
    figures = [f["text"] for f in blocks[1]["fields"]]
    assert figures == [
        f"*{expected['customers']:,}*\ncustomers",
        f"*{expected['units']:,}*\nunits installed",
    ]
    table = blocks[2]
    assert table["type"] == "table"
    header, *rows = [[c["text"] for c in row] for row in table["rows"]]
    assert header == ["segment", "customers", "units"]
    assert rows == [
        [r["key"], f"{r['customers']:,}", f"{r['units']:,}"] for r in expected["breakdown"]["rows"]
    ]
    assert blocks[3]["type"] == "context"
    assert blocks[3]["elements"][0]["text"] == (
        "Counts units installed on or before the date and not removed by it; a customer counts"
        " once however many units."
    )
    assert set(buttons(blocks)) == {"basebot_csv", "basebot_share"}
    assert answer["text"].startswith("Installed base · printers · as of Jun 30, 2026: ")


@pytest.mark.parametrize(
    ("command", "header"),
    [
        ("", "Help · /base commands"),
        ("help", "Help · /base commands"),
        (f"installed as of {AS_OF}", "Installed base · as of Jun 30, 2026"),
        (
            f"customers printers by channel as of {AS_OF}",
            "Customer base · printers · as of Jun 30, 2026",
        ),
        (f"compare as of {AS_OF}", "Customer base vs installed base · as of Jun 30, 2026"),
        (
            f"upsell printers service as of {AS_OF}",
            "Upsell candidates · printers · as of Jun 30, 2026",
        ),
        (f"customer Acme as of {AS_OF}", "Customer · Acme Logistics · as of Jun 30, 2026"),
        (
            f"top 5 printers by units as of {AS_OF}",
            "Top customers · printers · as of Jun 30, 2026",
        ),
        (
            f"loyal printers by region as of {AS_OF}",
            "Loyal and recurring customers · printers · as of Jun 30, 2026",
        ),
        (
            f"concentration in EMEA as of {AS_OF}",
            "Revenue concentration · EMEA · as of Jun 30, 2026",
        ),
        (f"digest as of {AS_OF}", "Daily digest · as of Jun 30, 2026"),
        (f"health as of {AS_OF}", "Data quality · as of Jun 30, 2026"),
        (f"customers by month as of {AS_OF}", "Customer base · as of Jun 30, 2026"),
    ],
)
def test_every_verb_is_answered(slack: Slack, command: str, header: str) -> None:
    answer = reply(slack, command)
    assert answer["response_type"] == "ephemeral"
    assert answer["blocks"][0]["type"] == "header"
    assert answer["blocks"][0]["text"]["text"] == header


@pytest.mark.parametrize("verb", list(QUERIES))
def test_every_registered_verb_answers_its_examples(slack: Slack, verb: str) -> None:
    for example in QUERIES[verb].examples:
        answer = reply(slack, f"{example} as of {AS_OF}")
        assert answer["blocks"][0]["type"] == "header", example
        assert not shown(answer).startswith(":warning:"), example


def test_help_shows_the_registry_examples_and_the_cli_text(slack: Slack) -> None:
    answer = reply(slack, "")
    help_answer = HelpAnswer(request=Request(verb="help", as_of=date(2026, 6, 30), text="help"))
    cli = render_text(help_answer)
    everything = shown(answer).replace("&lt;", "<").replace("&gt;", ">")
    for spec in QUERIES.values():
        for said in (everything, cli):
            assert f"/base {spec.usage}" in said
            assert speaker()(spec.summary) in said
            for example in spec.examples:
                assert f"`/base {example}`" in said


def test_public_posts_in_the_channel_without_a_share_button(slack: Slack) -> None:
    answer = reply(slack, f"installed printers public as of {AS_OF}")
    assert answer["response_type"] == "in_channel"
    assert "basebot_share" not in buttons(answer["blocks"])


def test_an_expired_response_url_falls_back_to_post_ephemeral(
    slack: Slack, standin: SlackStandIn
) -> None:
    user = f"U{uuid.uuid4().hex[:10].upper()}"
    sent = slack.command(f"installed printers as of {AS_OF}", user=user, expired=True)
    [posted] = standin.wait(lambda c: c.method == "chat.postEphemeral" and c.data["user"] == user)
    assert standin.at(sent.response_url)  # tried first, refused with 404
    assert posted.data["channel"] == "C0GENERAL"
    assert posted.headers["authorization"] == "Bearer xoxb-test-token"
    assert (
        posted.data["blocks"][0]["text"]["text"] == "Installed base · printers · as of Jun 30, 2026"
    )


def test_a_public_answer_whose_response_url_expired_is_posted_to_the_channel(
    slack: Slack, standin: SlackStandIn
) -> None:
    channel = f"C{uuid.uuid4().hex[:10].upper()}"
    slack.command(f"installed printers public as of {AS_OF}", channel=channel, expired=True)
    [posted] = standin.wait(
        lambda c: c.method == "chat.postMessage" and c.data["channel"] == channel
    )
    assert (
        posted.data["blocks"][0]["text"]["text"] == "Installed base · printers · as of Jun 30, 2026"
    )
    assert posted.data["text"].startswith("Installed base · printers · as of Jun 30, 2026: ")


def test_csv_word_uploads_the_full_result_to_the_askers_dm(
    slack: Slack, standin: SlackStandIn
) -> None:
    before = len(standin.calls())
    user = f"U{uuid.uuid4().hex[:10].upper()}"
    sent = slack.command(f"upsell printers csv as of {AS_OF}", user=user)
    answer, notice = standin.replies(sent.response_url, count=2)
    assert (
        answer["blocks"][0]["text"]["text"] == "Upsell candidates · printers · as of Jun 30, 2026"
    )
    assert "is in your DM with basebot" in notice["text"]
    calls = standin.calls()[before:]
    paths = [c.method or c.path.split("/")[1] for c in calls if not c.path.startswith("/response/")]
    assert [p for p in paths if p != "users.info"] == [
        "conversations.open",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    upload = next(c for c in calls if c.path.startswith("/upload/"))
    lines = upload.raw.decode().splitlines()
    assert lines[0] == "rule,customer_ref,name,category,score,detail"
    assert len(lines) - 1 == int(notice["text"].split("(")[1].split()[0])
    complete = next(c for c in calls if c.method == "files.completeUploadExternal")
    assert complete.data["channel_id"] == f"D{user}"


def test_csv_public_uploads_in_the_channel_and_explains_a_refusal(
    slack: Slack, standin: SlackStandIn
) -> None:
    sent = slack.command(f"installed printers csv public as of {AS_OF}", channel="C0PUBLIC")
    _, notice = standin.replies(sent.response_url, count=2)
    assert "is in this channel" in notice["text"]
    sent = slack.command(f"installed printers csv public as of {AS_OF}", channel=NOT_IN_CHANNEL)
    _, notice = standin.replies(sent.response_url, count=2)
    assert "not_in_channel" in notice["text"] and notice["response_type"] == "ephemeral"


def test_a_database_error_is_an_apology_with_an_incident_id(
    slack: Slack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(session: Session, request: Request) -> Answer:
        session.execute(text("SELECT * FROM no_such_table"))
        raise AssertionError("unreachable")

    monkeypatch.setitem(QUERIES, "installed", replace(QUERIES["installed"], run=broken))
    with caplog.at_level(logging.ERROR, logger="bot"):
        answer = reply(slack, "installed printers")
    assert answer["response_type"] == "ephemeral"
    said = shown(answer)
    assert "Sorry" in said and "no_such_table" not in said and "Traceback" not in said
    incident = said.split("Incident id `")[1].split("`")[0]
    [record] = [r for r in caplog.records if incident in r.getMessage()]
    assert record.exc_info is not None and "no_such_table" in caplog.text
