"""Whatever is typed: an ephemeral reply that says what was wrong, never a 500 or a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from queries.models import Customer
from tests.slack.driver import AS_OF, Slack, mrkdwn, shown


def reply(slack: Slack, command: str) -> dict[str, Any]:
    sent = slack.command(command)
    assert (sent.status, sent.body) == (200, b""), sent
    [answer] = slack.standin.replies(sent.response_url)
    assert answer["response_type"] == "ephemeral"
    return answer


def test_an_unknown_category_names_the_closest_ones(slack: Slack) -> None:
    answer = reply(slack, "installed printrs")
    said = shown(answer)
    assert "I don't know a category or product called “printrs”" in said
    assert "Did you mean: `printers`, `copiers`?" in said
    assert "For example: `/base installed printers`" in said
    assert answer["text"].startswith("I don't know a category or product called “printrs”")


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("instaled printers", "Did you mean: `/base installed`"),
        ("installed printers as of 2026-02-30", "“2026-02-30” is not a date I can read"),
        ("installed printers as of tomorrow", "is not a date I can read"),
        ("installed by colour", "I can't break installed down by “colour”"),
        ("installed in Atlantis", "No customer group is called “Atlantis”"),
        ("top 0", "“top” needs a whole number"),
        ('customer "Acme', "A quote is not closed."),
        ("customer", "Tell me which customer"),
    ],
)
def test_a_bad_command_says_what_was_wrong(slack: Slack, command: str, says: str) -> None:
    said = shown(reply(slack, command))
    assert says in said
    assert "For example: `/base " in said


NASTY = [
    "x" * 4096,
    "installed " + "printers " * 455,
    "installed printers' OR 1=1 --",
    "customer '; DROP TABLE customers; --",
    'customer " OR ""="',
    "customer %_%",
    "customer \\",
    "installed in region:'); DELETE FROM purchases; --",
    "installed 🖨️ printers 🚀",
    "customer 👩‍💻",
    "installed\x00printers\x1b[31m\x07",
    "\u202einstalled printers",
    "customer <!channel> <@U999> &amp;",
    "   ",
    "\t\n",
]


@pytest.mark.parametrize("command", NASTY, ids=range(len(NASTY)))
def test_hostile_text_never_gives_a_500_or_a_traceback(
    slack: Slack, slack_sessions: sessionmaker[Session], command: str
) -> None:
    answer = reply(slack, command)
    said = shown(answer)
    assert "Traceback" not in said and "Error" not in said.replace("Errors", "")
    assert "<!channel>" not in mrkdwn(answer) and "<@U999>" not in mrkdwn(answer)
    with slack_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Customer))


def test_four_kilobytes_is_refused_with_the_limit(slack: Slack) -> None:
    said = shown(reply(slack, "installed " + "x" * 4086))
    assert "That command is 4,096 characters long; the limit is 1,000." in said


def test_a_customer_name_never_becomes_a_mention(slack: Slack) -> None:
    answer = reply(slack, f"customer ESC as of {AS_OF}")
    assert answer["blocks"][0]["text"] == {
        "type": "plain_text",  # shown as typed, never parsed
        "text": "Customer · <!channel> & <@U999> Sons · as of Jun 30, 2026",
        "emoji": True,
    }
    parsed = mrkdwn(answer)
    assert "<!channel>" not in parsed and "&lt;!channel&gt; &amp; &lt;@U999&gt; Sons" in parsed
