"""`mine` through Slack: the asker's accounts found by their Slack user id or by the email on
their Slack profile (users.info), and a word on how to be mapped when Slack shows no email."""

from __future__ import annotations

from typing import Any

from tests.slack.conftest import ANN, OWNED_BY_ZED, ZED
from tests.slack.driver import AS_OF, Slack, answer_to, shown
from tests.slack.standin import SlackStandIn


def _figures(answer: dict[str, Any]) -> list[str]:
    return [
        f["text"].split("\n")[0]
        for b in answer["blocks"]
        if b["type"] == "section"
        for f in b.get("fields", [])
    ]


def test_mine_by_the_email_on_the_slack_profile(slack: Slack, standin: SlackStandIn) -> None:
    standin.emails["U0ANN"] = ANN.upper()
    answer = answer_to(slack, f"installed mine as of {AS_OF}", "U0ANN")
    assert answer["blocks"][0]["text"]["text"] == "Installed base · mine · as of Jun 30, 2026"
    assert _figures(answer) == ["*1*", "*1*"]  # A: one unit in use at D
    assert "No email is known" not in shown(answer)


def test_mine_by_slack_user_id_says_how_to_be_mapped(slack: Slack, standin: SlackStandIn) -> None:
    answer = answer_to(slack, f"installed printers mine as of {AS_OF}", ZED)
    assert _figures(answer) == [f"*{OWNED_BY_ZED}*", f"*{OWNED_BY_ZED}*"]
    said = shown(answer)
    assert "No email is known for you" in said and f"`{ZED}`" in said


def test_someone_who_owns_nothing_gets_an_empty_answer(slack: Slack) -> None:
    answer = answer_to(slack, f"upsell printers mine as of {AS_OF}", "U0NOBODY")
    assert _figures(answer)[0] == "*0*"
