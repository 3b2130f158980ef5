"""The App Home (SPEC §9) through Slack: a signed app_home_opened event, the view published
with views.publish (validated by slack_sdk, within 100 blocks), Refresh, and a claim picked
on the Home."""

from __future__ import annotations

import json
import time
from typing import Any

from slack_sdk.models.views import View

from bot.render.home import MAX_HOME_BLOCKS
from tests.slack.conftest import ANN
from tests.slack.driver import Slack, check_blocks
from tests.slack.standin import Call, SlackStandIn


def _published(standin: SlackStandIn, before: int, user: str) -> dict[str, Any]:
    def mine(call: Call) -> bool:
        return call.method == "views.publish" and call.data.get("user_id") == user

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [c for c in standin.calls()[before:] if mine(c)]
        if found:
            view = found[-1].data["view"]
            data = view if isinstance(view, dict) else json.loads(view)
            View(**data).validate_json()
            assert data["type"] == "home" and len(data["blocks"]) <= MAX_HOME_BLOCKS
            check_blocks(data["blocks"])
            return data
        time.sleep(0.02)
    raise AssertionError(f"no views.publish for {user}")


def _text(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def test_a_rep_sees_their_accounts_and_can_claim_there(slack: Slack, standin: SlackStandIn) -> None:
    standin.emails["U0HOMEANN"] = ANN
    before = len(standin.calls())
    sent = slack.event({"type": "app_home_opened", "user": "U0HOMEANN", "tab": "home"})
    assert sent.status == 200
    view = _published(standin, before, "U0HOMEANN")
    said = _text(view)
    assert "Your accounts" in said and "Your open claims" in said and "Refresh" in said
    assert "Acme Logistics" in said  # A is Ann's
    assert "Zeta Print" not in said  # not hers
    [menu] = [
        e
        for b in view["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith("basebot_home_choose")
    ][:1]
    claim = next(o for o in menu["options"] if o["value"].startswith("claim A "))
    before = len(standin.calls())
    picked = {
        "type": "static_select",
        "action_id": menu["action_id"],
        "block_id": "home",
        "selected_option": claim,
        "action_ts": "1700000002.000000",
    }
    assert slack.click(picked, user="U0HOMEANN").status == 200
    after = _published(standin, before, "U0HOMEANN")
    assert "claimed by U0HOMEANN" in _text(after) or "claimed until" in _text(after)
    before = len(standin.calls())
    refresh = {"action_id": "basebot_home_refresh", "text": {"type": "plain_text", "text": "R"}}
    assert slack.click({**refresh, "value": "refresh"}, user="U0HOMEANN").status == 200
    again = _published(standin, before, "U0HOMEANN")
    assert "Your open claims" in _text(again)
    # Leave the candidate as it was for the other tests.
    unclaim = claim["value"].replace("claim ", "unclaim ", 1).removesuffix(" contacted")
    before = len(standin.calls())
    slack.click({**picked, "selected_option": {**claim, "value": unclaim}}, user="U0HOMEANN")
    assert "claimed by" not in _text(_published(standin, before, "U0HOMEANN"))


def test_someone_who_owns_nothing_sees_everyones_best_and_how_to_get_accounts(
    slack: Slack, standin: SlackStandIn
) -> None:
    before = len(standin.calls())
    slack.event({"type": "app_home_opened", "user": "U0NOACCOUNTS", "tab": "home"})
    said = _text(_published(standin, before, "U0NOACCOUNTS"))
    assert "No account has you as its owner yet" in said and "owner column" in said
    assert "Top upsell candidates" in said and "Hydra Hospital" in said


def test_the_messages_tab_publishes_nothing(slack: Slack, standin: SlackStandIn) -> None:
    before = len(standin.calls())
    slack.event({"type": "app_home_opened", "user": "U0MSGTAB", "tab": "messages"})
    time.sleep(0.3)
    assert not [c for c in standin.calls()[before:] if c.method == "views.publish"]


def test_a_claim_that_is_no_longer_a_candidate_shows_as_resolved(
    slack: Slack, standin: SlackStandIn
) -> None:
    standin.emails["U0HOMEBEA"] = ANN
    sent = slack.command("claim A copiers service", user="U0HOMEBEA")  # A has no copiers
    [done] = standin.replies(sent.response_url)
    assert "is yours" in json.dumps(done)
    before = len(standin.calls())
    slack.event({"type": "app_home_opened", "user": "U0HOMEBEA", "tab": "home"})
    said = _text(_published(standin, before, "U0HOMEBEA"))
    assert "`A` · copiers · service" in said and "resolved: no longer a candidate" in said
    sent = slack.command("unclaim A copiers service", user="U0HOMEBEA")
    standin.replies(sent.response_url)
