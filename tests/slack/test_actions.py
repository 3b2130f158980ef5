"""Buttons, clicked the way Slack posts them: signed block_actions payloads over HTTP."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.slack.conftest import HYDRA_UNITS, ZETAS
from tests.slack.driver import AS_OF, Slack, buttons, shown
from tests.slack.standin import SlackStandIn


def ask(slack: Slack, command: str) -> dict[str, Any]:
    sent = slack.command(command)
    assert sent.status == 200
    [answer] = slack.standin.replies(sent.response_url)
    return answer


def click(
    slack: Slack, button: dict[str, Any], *, count: int = 1, **kw: Any
) -> list[dict[str, Any]]:
    sent = slack.click(button, **kw)
    assert (sent.status, sent.body) == (200, b"")
    return slack.standin.replies(sent.response_url, count=count)


def table_rows(message: dict[str, Any]) -> list[list[str]]:
    [table] = [b for b in message["blocks"] if b["type"] == "table"]
    return [[c["text"] for c in row] for row in table["rows"][1:]]


def test_upsell_candidates_page_forward_and_back(slack: Slack) -> None:
    first = ask(slack, f"upsell printers service as of {AS_OF}")
    total = ZETAS + 3  # the Zetas, Acme, Cobalt and Hydra
    assert f"Rows 1–20 of {total}" in shown(first)
    assert set(buttons(first["blocks"])) == {
        "basebot_page_next",
        "basebot_csv",
        "basebot_share",
        "basebot_choose",
    }
    [second] = click(slack, buttons(first["blocks"])["basebot_page_next"])
    assert second["replace_original"] is True and second["response_type"] == "ephemeral"
    assert f"Rows 21–40 of {total}" in shown(second)
    assert {"basebot_page_prev", "basebot_page_next"} <= set(buttons(second["blocks"]))
    [third] = click(slack, buttons(second["blocks"])["basebot_page_next"])
    assert f"Rows 41–{total} of {total}" in shown(third)
    assert "basebot_page_next" not in buttons(third["blocks"])
    [back] = click(slack, buttons(third["blocks"])["basebot_page_prev"])
    assert table_rows(back) == table_rows(second)
    pages = table_rows(first) + table_rows(second) + table_rows(third)
    assert len(pages) == total and len({r[1] for r in pages}) == total


def test_a_page_keeps_the_date_it_was_asked_for(slack: Slack) -> None:
    first = ask(slack, f"upsell printers service as of {AS_OF}")
    state = json.loads(buttons(first["blocks"])["basebot_page_next"]["value"])
    assert state == {"c": f"upsell printers service as of {AS_OF}", "d": AS_OF, "p": 1}


def test_a_customers_installations_page(slack: Slack) -> None:
    card = ask(slack, f"customer Hydra as of {AS_OF}")
    assert card["blocks"][0]["text"]["text"] == "Customer · Hydra Hospital · as of Jun 30, 2026"
    assert f"Rows 1–20 of {HYDRA_UNITS}" in shown(card)
    [more] = click(slack, buttons(card["blocks"])["basebot_page_next"])
    assert f"Rows 21–{HYDRA_UNITS} of {HYDRA_UNITS}" in shown(more)
    assert len(table_rows(more)) == HYDRA_UNITS - 20


def test_several_matches_offer_buttons_to_pick_one(slack: Slack) -> None:
    matches = ask(slack, f"customer zeta as of {AS_OF}")
    found = buttons(matches["blocks"])
    picks = [b for a, b in found.items() if a.startswith("basebot_pick_")]
    assert len(picks) == 20 and "basebot_page_next" in found  # 25 matches: a second page
    assert picks[0]["text"]["text"] == "Zeta Print 01 (Z01)"
    [card] = click(slack, picks[0])
    assert card["replace_original"] is True
    assert card["blocks"][0]["text"]["text"] == "Customer · Zeta Print 01 · as of Jun 30, 2026"
    [rest] = click(slack, found["basebot_page_next"])
    rest_picks = [a for a in buttons(rest["blocks"]) if a.startswith("basebot_pick_")]
    assert len(rest_picks) == 5


def test_the_csv_button_uploads_every_row_to_the_clickers_dm(
    slack: Slack, standin: SlackStandIn
) -> None:
    first = ask(slack, f"upsell printers service as of {AS_OF}")
    user = f"U{uuid.uuid4().hex[:10].upper()}"
    [notice] = click(slack, buttons(first["blocks"])["basebot_csv"], user=user)
    assert notice["replace_original"] is False and notice["response_type"] == "ephemeral"
    assert f"({ZETAS + 3} rows)" in notice["text"]
    assert standin.wait(lambda c: c.method == "conversations.open" and c.data["users"] == user)
    [complete] = standin.wait(
        lambda c: c.method == "files.completeUploadExternal" and c.data["channel_id"] == f"D{user}"
    )
    file_id = json.loads(complete.data["files"])[0]["id"]
    [upload] = standin.calls(lambda c: c.path == f"/upload/{file_id}")
    assert len(upload.raw.decode().splitlines()) == 1 + ZETAS + 3  # header + every candidate


def test_share_in_channel_reposts_publicly_and_removes_the_private_copy(slack: Slack) -> None:
    first = ask(slack, f"installed printers as of {AS_OF}")
    public, deleted = click(
        slack, buttons(first["blocks"])["basebot_share"], count=2, user="U0SHARER"
    )
    assert public["response_type"] == "in_channel" and public["replace_original"] is False
    assert "Shared by <@U0SHARER>" in shown(public)
    assert "basebot_share" not in buttons(public["blocks"])
    assert [b for b in public["blocks"] if b["type"] == "table"] == [
        b for b in first["blocks"] if b["type"] == "table"
    ]
    assert deleted["delete_original"] is True and "blocks" not in deleted


def test_paging_a_public_message_keeps_it_public(slack: Slack) -> None:
    first = ask(slack, f"upsell printers service public as of {AS_OF}")
    assert first["response_type"] == "in_channel"
    [second] = click(slack, buttons(first["blocks"])["basebot_page_next"], ephemeral=False)
    assert second["response_type"] == "in_channel" and second["replace_original"] is True
    assert "basebot_share" not in buttons(second["blocks"])


def test_a_forged_button_value_is_only_ever_a_command(slack: Slack) -> None:
    button = {"action_id": "basebot_page_next", "text": {"type": "plain_text", "text": "x"}}
    [stale] = click(slack, {**button, "value": "'; DROP TABLE customers; --"})
    assert "out of date" in stale["text"]
    value = json.dumps({"c": "installed printers; DROP TABLE customers", "d": AS_OF, "p": 1})
    [refused] = click(slack, {**button, "value": value})
    assert "I don't know a category or product" in shown(refused)
    after = ask(slack, f"installed printers as of {AS_OF}")
    assert after["blocks"][0]["type"] == "header"
