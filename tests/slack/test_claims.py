"""Claims through Slack (SPEC §9): the acts offered on the candidates of a page, two clicks at
most (open the menu, pick), the page redrawn in place with who holds what, and a refusal
saying who holds the candidate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from queries.models import AuditEntry
from tests.slack.driver import AS_OF, Slack, answer_to, check_blocks, shown
from tests.slack.standin import SlackStandIn

LIST = f"upsell printers service as of {AS_OF}"


def _menu(message: dict[str, Any]) -> dict[str, Any]:
    [block] = [
        b
        for b in message["blocks"]
        if b["type"] == "actions" and b["elements"][0]["action_id"] == "basebot_choose"
    ]
    return block


def _pick(slack: Slack, block: dict[str, Any], value: str, user: str, count: int) -> list[Any]:
    sent = slack.choose(block, value, user=user)
    assert (sent.status, sent.body) == (200, b"")
    return slack.standin.replies(sent.response_url, count=count)


def test_claim_from_the_list_then_another_rep_is_told_who_holds_it(
    slack: Slack, standin: SlackStandIn, slack_sessions: sessionmaker[Session]
) -> None:
    standin.names["U0REPA"] = "Ann Rep"  # Slack shows claims by the holder's name
    first = answer_to(slack, LIST, "U0REPA")
    menu = _menu(first)
    values = [o["value"] for o in menu["elements"][0]["options"]]
    assert "claim Z01 printers service" in values and len(values) <= 100
    [held] = _pick(slack, menu, "claim Z01 printers service", "U0REPA", 1)
    assert held["replace_original"] is True
    check_blocks(held["blocks"])
    assert "claimed by @Ann Rep until" in shown(held)
    # The holder's menu now offers to move it on; the others' no longer offer to claim it.
    mine = [o["value"] for o in _menu(held)["elements"][0]["options"]]
    assert "claim Z01 printers service contacted" in mine
    assert "claim Z01 printers service" not in mine
    other = answer_to(slack, LIST, "U0REPB")
    assert "claimed by @Ann Rep until" in shown(other)
    theirs = [o["value"] for o in _menu(other)["elements"][0]["options"]]
    assert "claim Z01 printers service" not in theirs
    assert "unclaim Z01 printers service" in theirs
    # A stale menu (or a crafted pick) cannot take it over: the rep is told who holds it.
    page, refused = _pick(slack, menu, "claim Z01 printers service", "U0REPB", 2)
    assert "@Ann Rep holds Z01 · printers · service (claimed)" in shown(refused)
    _pick(slack, _menu(page), "unclaim Z01 printers service", "U0REPB", 2)  # refused too
    [freed] = _pick(slack, _menu(held), "unclaim Z01 printers service", "U0REPA", 1)
    assert "claimed by" not in shown(freed)
    with slack_sessions() as session:
        acts = session.scalars(
            select(AuditEntry.command).where(
                AuditEntry.verb.in_(("claim", "unclaim")),
                AuditEntry.user_id.in_(("U0REPA", "U0REPB")),
            )
        ).all()
    assert sorted(acts) == sorted(
        [
            "claim Z01 printers service",
            "claim Z01 printers service",
            "unclaim Z01 printers service",
            "unclaim Z01 printers service",
        ]
    )


def test_no_menu_in_a_public_answer(slack: Slack) -> None:
    answer = answer_to(slack, f"{LIST} public", "U0REPC")
    assert not any(
        e["action_id"] == "basebot_choose"
        for b in answer["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
